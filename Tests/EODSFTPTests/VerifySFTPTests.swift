import EODSFTP
import Foundation
import Testing

/// `eod-extract verify sftp://…`: a set delivered to a real sshd, verified where it landed.
@Suite(.serialized)
struct VerifySFTPTests {
  func eod(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let directory = try makeTemporaryDirectory("eod-verify")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let pid = try spawn(BinarySFTPTests.binary, arguments, outputPath: directory + "/output")
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let output = (try? String(contentsOfFile: directory + "/output", encoding: .utf8)) ?? ""
    return ((status >> 8) & 0xff, output)
  }

  @Test func aDeliveredSetVerifiesOnTheServerAndATamperedOneFails() throws {
    let server = try TestSSHServer()
    let work = try makeTemporaryDirectory("verify-sftp")
    let remote = try makeTemporaryDirectory("verify-sftp-remote")
    defer {
      try? FileManager.default.removeItem(atPath: work)
      try? FileManager.default.removeItem(atPath: remote)
    }
    let generated = try eod([
      "generate", work + "/snap", "--days", "1", "--accounts", "24", "--firms", "1", "--edge",
    ])
    try #require(generated.status == 0, "\(generated.output)")
    let base = "sftp://\(TestSSHServer.userName)@127.0.0.1:\(server.port)\(remote)"
    let delivered = try eod([
      "run", "--init-state", "--snapshot", work + "/snap/ledger-2026-10-01.sqlite", "--state",
      work + "/state.sqlite",
      "--out",
      work + "/out", "--destination", base, "--identity", server.userKeyPath, "--known-hosts",
      server.knownHostsPath, "--create-dirs",
    ])
    try #require(delivered.status == 0, "\(delivered.output)")
    let set = base + "/FIRM001/2026-10-01"
    let keys = ["--identity", server.userKeyPath, "--known-hosts", server.knownHostsPath]

    var result = try eod(["verify", set] + keys)
    #expect(result.status == 0, "\(result.output)")
    #expect(result.output.contains("set \(set): manifest FIRM001_manifest_20261001.json (schema 1.1"))
    #expect(result.output.contains("verified: every file the manifest lists holds"))

    // Tampered where it landed: a flipped byte, a link in place of a file, a leftover temporary.
    let folder = remote + "/FIRM001/2026-10-01"
    let positions = folder + "/FIRM001_positions_20261001.csv.gz"
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: positions)))
    bytes[bytes.count / 2] ^= 0x20
    try Data(bytes).write(to: URL(fileURLWithPath: positions))
    let cash = folder + "/FIRM001_cash_20261001.csv.gz"
    try FileManager.default.moveItem(atPath: cash, toPath: work + "/cash.csv.gz")
    try FileManager.default.createSymbolicLink(atPath: cash, withDestinationPath: work + "/cash.csv.gz")
    _ = FileManager.default.createFile(
      atPath: folder + "/.FIRM001_cash_20261001.csv.gz.part-x", contents: Data())
    result = try eod(["verify", set, "--json"] + keys)
    #expect(result.status == 1, "\(result.output)")
    let start = try #require(result.output.firstIndex(of: "{"))
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(result.output[start...].utf8)) as? [String: Any])
    let failures = (object["failures"] as? [[String: String]] ?? []).map {
      "\($0["file"] ?? "") \($0["check"] ?? "")"
    }
    #expect(failures.contains("FIRM001_positions_20261001.csv.gz sha256"), "\(failures)")
    #expect(failures.contains("FIRM001_cash_20261001.csv.gz present"), "\(failures)")
    #expect(failures.contains(".FIRM001_cash_20261001.csv.gz.part-x unlisted"), "\(failures)")

    // Cannot verify: no such folder (2), a host key not in known_hosts (2), no key given (64).
    result = try eod(["verify", base + "/FIRM001/2026-10-02"] + keys)
    #expect(result.status == 2, "\(result.output)")
    #expect(result.output.contains("cannot list the folder"), "\(result.output)")
    let emptyKnownHosts = work + "/known_hosts_empty"
    _ = FileManager.default.createFile(atPath: emptyKnownHosts, contents: Data())
    result = try eod(["verify", set, "--identity", server.userKeyPath, "--known-hosts", emptyKnownHosts])
    #expect(result.status == 2, "\(result.output)")
    result = try eod(["verify", set])
    #expect(result.status == 64, "\(result.output)")
  }

  /// `SFTPConnection.list`: every entry but `.` and `..`, hidden ones included, with the entry's
  /// own type (a link is not followed) and size.
  @Test func listingShowsEntriesWithTheirOwnType() throws {
    let server = try TestSSHServer()
    let folder = try makeTemporaryDirectory("verify-list")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try Data("12345".utf8).write(to: URL(fileURLWithPath: folder + "/a.csv"))
    try Data().write(to: URL(fileURLWithPath: folder + "/.hidden.part"))
    try FileManager.default.createSymbolicLink(
      atPath: folder + "/link.csv", withDestinationPath: folder + "/a.csv")
    try FileManager.default.createDirectory(atPath: folder + "/sub", withIntermediateDirectories: false)
    let connection = try SFTPConnection.connect(
      to: server.endpoint, identity: SFTPIdentity(privateKeyPath: server.userKeyPath),
      hostKeys: SFTPHostKeyPolicy(knownHostsPath: server.knownHostsPath), logger: testLogger)
    defer { connection.disconnect() }
    let entries = Dictionary(uniqueKeysWithValues: try connection.list(folder).map { ($0.name, $0) })
    #expect(entries.keys.sorted() == [".hidden.part", "a.csv", "link.csv", "sub"])
    #expect(entries["a.csv"]?.isRegularFile == true)
    #expect(entries["a.csv"]?.attributes.size == 5)
    #expect(entries[".hidden.part"]?.isRegularFile == true)
    #expect(entries["link.csv"]?.isRegularFile == false)
    #expect(entries["sub"]?.isRegularFile == false)
    #expect(throws: SFTPError.self) { try connection.list(folder + "/missing") }
  }
}
