import EODCompression
import Foundation
import Testing

/// `eod-extract reconcile --ours sftp://…`: a set delivered to a real sshd, reconciled where it
/// landed, read only.
@Suite(.serialized)
struct ReconcileSFTPTests {
  func eod(_ arguments: [String]) throws -> (status: Int32, output: String) {
    try BinarySFTPTests().eod(arguments)
  }

  /// Every name in a folder with its bytes.
  func contents(_ folder: String) throws -> [String: Data] {
    var result: [String: Data] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
      result[name] = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))
    }
    return result
  }

  @Test func aSetOnTheServerReconcilesAsItsLocalCopyAndIsLeftAsItWas() throws {
    let server = try TestSSHServer()
    let work = try makeTemporaryDirectory("reconcile-sftp")
    let remote = try makeTemporaryDirectory("reconcile-sftp-remote")
    defer {
      try? FileManager.default.removeItem(atPath: work)
      try? FileManager.default.removeItem(atPath: remote)
    }
    let generated = try eod(["generate", work + "/snap", "--days", "1", "--accounts", "24", "--firms", "1"])
    try #require(generated.status == 0, "\(generated.output)")
    let base = "sftp://\(TestSSHServer.userName)@127.0.0.1:\(server.port)\(remote)"
    let delivered = try eod([
      "run", "--init-state", "--snapshot", work + "/snap/ledger-2026-10-01.sqlite", "--state",
      work + "/state.sqlite", "--out", work + "/out", "--destination", base, "--identity", server.userKeyPath,
      "--known-hosts", server.knownHostsPath, "--create-dirs",
    ])
    try #require(delivered.status == 0, "\(delivered.output)")
    let local = work + "/out/FIRM001/2026-10-01"
    let set = base + "/FIRM001/2026-10-01"
    let keys = ["--identity", server.userKeyPath, "--known-hosts", server.knownHostsPath]

    // Their file: our positions without the first row (one MISSING_THEIRS).
    var ours: [UInt8] = []
    _ = try Gunzip.decompressFile(atPath: local + "/FIRM001_positions_20261001.csv.gz") {
      ours.append(contentsOf: $0)
    }
    var lines = String(decoding: ours, as: UTF8.self).components(separatedBy: "\r\n")
    try #require(lines.count > 3)
    lines.remove(at: 1)
    let theirs = work + "/theirs.csv"
    try Data(lines.joined(separator: "\r\n").utf8).write(to: URL(fileURLWithPath: theirs))
    let profile = work + "/positions.yaml"
    try Data(
      """
      extract: positions
      columns: {account_id: account_id, instrument_id: instrument_id, quantity: quantity, market_value: market_value, account_currency: account_currency}
      keys: [account_id, instrument_id]

      """.utf8
    ).write(to: URL(fileURLWithPath: profile))
    let common = ["reconcile", "--extract", "positions", "--theirs", theirs, "--profile", profile]
    let before = try contents(remote + "/FIRM001/2026-10-01")

    let fromCopy = try eod(common + ["--ours", local, "--out", work + "/recon-local"])
    #expect(fromCopy.status == 1, "\(fromCopy.output)")
    let fromServer = try eod(
      common + [
        "--ours", set, "--out", work + "/recon-remote", "--state", work + "/recon.sqlite", "--init-state",
      ] + keys)
    #expect(fromServer.status == 1, "\(fromServer.output)")
    #expect(fromServer.output.contains("MISSING_THEIRS 1"), "\(fromServer.output)")
    // The same outputs, byte for byte (the same manifest, file and hashes); nothing left behind in
    // --out; the server's folder as it was.
    let outputs = try contents(work + "/recon-remote")
    #expect(
      outputs.keys.sorted() == [
        "FIRM001_breaks_positions_20261001.csv", "FIRM001_recon_positions_20261001.json",
      ])
    #expect(outputs == (try contents(work + "/recon-local")))
    #expect(try contents(remote + "/FIRM001/2026-10-01") == before)
    let breaks = try eod(["breaks", "--state", work + "/recon.sqlite", "--firm", "FIRM001"])
    #expect(breaks.status == 0, "\(breaks.output)")
    #expect(breaks.output.contains("MISSING_THEIRS"), "\(breaks.output)")

    // Cannot reconcile: no such folder, a host key not in known_hosts (2); no key given, or a key
    // with a local set (64).
    var result = try eod(common + ["--ours", base + "/FIRM001/2026-10-02", "--out", work + "/r"] + keys)
    #expect(result.status == 2, "\(result.output)")
    #expect(result.output.contains("cannot list the folder"), "\(result.output)")
    #expect(result.output.contains(base + "/FIRM001/2026-10-02"), "\(result.output)")
    #expect((try? FileManager.default.contentsOfDirectory(atPath: work + "/r")) ?? [] == [])
    let emptyKnownHosts = work + "/known_hosts_empty"
    _ = FileManager.default.createFile(atPath: emptyKnownHosts, contents: Data())
    result = try eod(
      common + [
        "--ours", set, "--out", work + "/r", "--identity", server.userKeyPath, "--known-hosts",
        emptyKnownHosts,
      ])
    #expect(result.status == 2, "\(result.output)")
    result = try eod(common + ["--ours", set, "--out", work + "/r"])
    #expect(result.status == 64, "\(result.output)")
    #expect(result.output.contains("an sftp:// --ours needs --identity"), "\(result.output)")
    result = try eod(common + ["--ours", local, "--out", work + "/r"] + keys)
    #expect(result.status == 64, "\(result.output)")
  }
}
