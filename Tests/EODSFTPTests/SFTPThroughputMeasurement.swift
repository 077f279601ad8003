import EODDelivery
import EODSFTP
import Foundation
import Testing

/// A by-hand measurement, not a timed test: runs only with `EOD_SFTP_MEASURE=1`.
///
///     EOD_SFTP_MEASURE=1 swift test --filter SFTPThroughputMeasurement
///
/// Uploads a 200 MB file over loopback to a fresh sshd with `SFTPConnection.upload`, with the full
/// `SFTPDestination` protocol, and with OpenSSH's `sftp -b`, and prints MB/s for each.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["EOD_SFTP_MEASURE"] != nil))
struct SFTPThroughputMeasurement {
  @Test func uploadTwoHundredMegabytesOverLoopback() async throws {
    let server = try TestSSHServer()
    let local = try makeTemporaryDirectory("measure-local")
    let remote = try makeTemporaryDirectory("measure-remote")
    defer {
      try? FileManager.default.removeItem(atPath: local)
      try? FileManager.default.removeItem(atPath: remote)
    }
    let size = 200_000_000
    let set = try makeSet(in: local, firm: "F", files: [("big.bin", bytes(size, seed: 42))])
    let source = set.files[0].localPath

    func report(_ label: String, _ elapsed: Duration) {
      let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
      print(
        "MEASURE \(label): \(size) bytes in \(String(format: "%.2f", seconds)) s = "
          + "\(String(format: "%.1f", Double(size) / seconds / 1_000_000)) MB/s")
    }

    // 1. The wrapper alone.
    let clock = ContinuousClock()
    let connection = try SFTPConnection.connect(
      to: server.endpoint, identity: SFTPIdentity(privateKeyPath: server.userKeyPath),
      hostKeys: SFTPHostKeyPolicy(knownHostsPath: server.knownHostsPath), logger: testLogger)
    let wrapper = try clock.measure {
      _ = try connection.upload(from: source, to: remote + "/wrapper.bin")
    }
    connection.disconnect()
    report("SFTPConnection.upload", wrapper)
    #expect(fileBytes(remote + "/wrapper.bin") == fileBytes(source))

    // 2. The whole destination protocol (local SHA-256, temp name, fsync, stat, rename).
    let destination = SFTPDestination(configuration: configuration(for: server, base: remote))
    let started = clock.now
    _ = try await destination.deliver(set, resend: false, logger: testLogger)
    report("SFTPDestination.deliver", clock.now - started)

    // 3. OpenSSH's sftp client in batch mode.
    let batch = local + "/batch"
    try "put \(source) \(remote)/openssh.bin\n".write(toFile: batch, atomically: true, encoding: .utf8)
    let openssh = try clock.measure {
      try run(
        "/usr/bin/sftp",
        [
          "-q", "-b", batch, "-i", server.userKeyPath, "-P", String(server.port),
          "-o", "UserKnownHostsFile=\(server.knownHostsPath)", "-o", "StrictHostKeyChecking=yes",
          "-o", "BatchMode=yes", "\(TestSSHServer.userName)@127.0.0.1",
        ])
    }
    report("sftp -b", openssh)
    #expect(fileBytes(remote + "/openssh.bin") == fileBytes(source))
  }
}
