import Foundation
import Testing

/// The built `eod-extract`, delivering over SFTP to a real sshd, as an operator would run it.
@Suite(.serialized)
struct BinarySFTPTests {
  static var binary: String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent(".build/debug/eod-extract").path
  }

  /// Runs the binary to completion: exit status and output (stdout and stderr together).
  func eod(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let directory = try makeTemporaryDirectory("eod")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let pid = try spawn(Self.binary, arguments, outputPath: directory + "/output")
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let output = (try? String(contentsOfFile: directory + "/output", encoding: .utf8)) ?? ""
    return ((status >> 8) & 0xff, output)
  }

  @Test func runDeliversEachFirmReRunSendsNothingAndResendSendsAgain() throws {
    let server = try TestSSHServer()
    let work = try makeTemporaryDirectory("binary")
    let remote = try makeTemporaryDirectory("binary-remote")
    defer {
      try? FileManager.default.removeItem(atPath: work)
      try? FileManager.default.removeItem(atPath: remote)
    }
    let generated = try eod([
      "generate", work + "/snap", "--days", "1", "--accounts", "24", "--firms", "2", "--edge",
    ])
    #expect(generated.status == 0, "\(generated.output)")
    let arguments = [
      "run", "--init-state", "--snapshot", work + "/snap/ledger-2026-10-01.sqlite", "--state",
      work + "/state.sqlite",
      "--out",
      work + "/out", "--destination", "sftp://\(TestSSHServer.userName)@127.0.0.1:\(server.port)\(remote)",
      "--identity", server.userKeyPath, "--known-hosts", server.knownHostsPath, "--create-dirs",
    ]
    let first = try eod(arguments)
    #expect(first.status == 0, "\(first.output)")
    #expect(first.output.contains("FIRM001: delivered to sftp://"))
    for firm in ["FIRM001", "FIRM002"] {
      let local = "\(work)/out/\(firm)/2026-10-01"
      let delivered = "\(remote)/\(firm)/2026-10-01"
      let names = try FileManager.default.contentsOfDirectory(atPath: local).filter { !$0.hasPrefix(".") }
        .sorted()
      #expect(names.count == 6)
      #expect(try FileManager.default.contentsOfDirectory(atPath: delivered).sorted() == names)
      for name in names {
        #expect(
          FileManager.default.contents(atPath: "\(local)/\(name)")
            == FileManager.default.contents(atPath: "\(delivered)/\(name)"))
      }
      // The manifest's hashes are those of the delivered files.
      let manifestData = try #require(
        FileManager.default.contents(atPath: "\(delivered)/\(firm)_manifest_20261001.json"))
      let manifest = try #require(try JSONSerialization.jsonObject(with: manifestData) as? [String: Any])
      let files = try #require(manifest["files"] as? [[String: Any]])
      #expect(files.count == 5)
      for file in files {
        let name = try #require(file["name"] as? String)
        let sha = try #require(file["sha256"] as? String)
        let out = try run("/usr/bin/sha256sum", ["\(delivered)/\(name)"])
        #expect(out.hasPrefix(sha), "\(name)")
      }
    }
    let again = try eod(arguments)
    #expect(again.status == 0, "\(again.output)")
    #expect(again.output.contains("already delivered"))
    let journal = try eod(["deliveries", "--state", work + "/state.sqlite", "--firm", "FIRM002"])
    #expect(journal.status == 0)
    #expect(journal.output.split(separator: "\n").filter { $0.hasPrefix("FIRM002,") }.count == 6)
    let resent = try eod(arguments + ["--resend"])
    #expect(resent.status == 0, "\(resent.output)")
    #expect(resent.output.contains("FIRM002: delivered to sftp://"))
    // An unknown host key: the firm fails (exit 1), nothing is sent.
    let emptyKnownHosts = work + "/empty_known_hosts"
    FileManager.default.createFile(atPath: emptyKnownHosts, contents: Data())
    var strict = arguments
    strict[strict.firstIndex(of: server.knownHostsPath).map { $0 } ?? 0] = emptyKnownHosts
    let other = try makeTemporaryDirectory("binary-other")
    defer { try? FileManager.default.removeItem(atPath: other) }
    strict[strict.firstIndex { $0.hasPrefix("sftp://") } ?? 0] =
      "sftp://\(TestSSHServer.userName)@127.0.0.1:\(server.port)\(other)"
    let refused = try eod(strict)
    #expect(refused.status == 1, "\(refused.output)")
    #expect(refused.output.contains("host-key-rejected") || refused.output.contains("UNKNOWN HOST KEY"))
    #expect((try? FileManager.default.contentsOfDirectory(atPath: other))?.isEmpty ?? true)
  }

  /// A run killed after the server held a firm's set and before the journal recorded it (the
  /// journal's lines deleted here): the next run recognises the set on the server, records it and
  /// replaces nothing. A manifest of another set on the server fails that firm, naming the file
  /// and the destination, and is left as it is.
  @Test func aSetOnTheServerButNotInTheJournalIsRecognisedAndAnotherManifestRefused() throws {
    let server = try TestSSHServer()
    let work = try makeTemporaryDirectory("binary-recognise")
    let remote = try makeTemporaryDirectory("binary-recognise-remote")
    defer {
      try? FileManager.default.removeItem(atPath: work)
      try? FileManager.default.removeItem(atPath: remote)
    }
    let generated = try eod(["generate", work + "/snap", "--days", "1", "--accounts", "24", "--firms", "2"])
    #expect(generated.status == 0, "\(generated.output)")
    let arguments = [
      "run", "--init-state", "--snapshot", work + "/snap/ledger-2026-10-01.sqlite", "--state",
      work + "/state.sqlite", "--out", work + "/out", "--destination",
      "sftp://\(TestSSHServer.userName)@127.0.0.1:\(server.port)\(remote)", "--identity", server.userKeyPath,
      "--known-hosts", server.knownHostsPath, "--create-dirs",
    ]
    let first = try eod(arguments)
    #expect(first.status == 0, "\(first.output)")
    let manifests = ["FIRM001", "FIRM002"].map { "\(remote)/\($0)/2026-10-01/\($0)_manifest_20261001.json" }
    let seen = manifests.map { FileManager.default.contents(atPath: $0) }
    _ = try run("/usr/bin/sqlite3", [work + "/state.sqlite", "DELETE FROM deliveries"])

    let again = try eod(arguments)
    #expect(again.status == 0, "\(again.output)")
    #expect(again.output.contains("FIRM001: delivered to sftp://"), "\(again.output)")
    #expect(again.output.contains("nothing sent, now recorded"), "\(again.output)")
    #expect(manifests.map { FileManager.default.contents(atPath: $0) } == seen, "a manifest was replaced")
    let journal = try eod(["deliveries", "--state", work + "/state.sqlite"])
    #expect(journal.output.split(separator: "\n").filter { $0.contains(",recognized,") }.count == 2)

    _ = try run(
      "/usr/bin/sqlite3", [work + "/state.sqlite", "DELETE FROM deliveries WHERE firm_id = 'FIRM002'"])
    let planted = Data("{\"firm_id\": \"FIRM002\"}\n".utf8)
    try planted.write(to: URL(fileURLWithPath: manifests[1]))
    let refused = try eod(arguments)
    #expect(refused.status == 1, "\(refused.output)")
    #expect(refused.output.contains("conflicting-file"), "\(refused.output)")
    #expect(refused.output.contains(manifests[1]) && refused.output.contains("sftp://"), "\(refused.output)")
    #expect(FileManager.default.contents(atPath: manifests[1]) == planted)
  }

  /// A missing remote directory without --create-dirs: the firm fails with a message naming the
  /// flag and the configuration key that allow creating it.
  @Test func aMissingRemoteDirectoryNamesTheFlagAndTheKey() throws {
    let server = try TestSSHServer()
    let work = try makeTemporaryDirectory("binary-mkdir")
    let remote = try makeTemporaryDirectory("binary-mkdir-remote")
    defer {
      try? FileManager.default.removeItem(atPath: work)
      try? FileManager.default.removeItem(atPath: remote)
    }
    let generated = try eod([
      "generate", work + "/snap", "--days", "1", "--accounts", "3", "--firms", "1", "--instruments", "4",
    ])
    #expect(generated.status == 0, "\(generated.output)")
    let result = try eod([
      "run", "--init-state", "--snapshot", work + "/snap/ledger-2026-10-01.sqlite", "--state",
      work + "/state.sqlite",
      "--out",
      work + "/out", "--destination",
      "sftp://\(TestSSHServer.userName)@127.0.0.1:\(server.port)\(remote)/missing",
      "--identity", server.userKeyPath, "--known-hosts", server.knownHostsPath,
    ])
    #expect(result.status == 1, "\(result.output)")
    #expect(result.output.contains("does not exist"), "\(result.output)")
    #expect(result.output.contains("--create-dirs"), "\(result.output)")
    #expect(result.output.contains("allow_create_dirs: true"), "\(result.output)")
  }
}
