import Foundation
import Testing

/// A snapshot of many firms goes through a spooled pass (one scan; each firm's rows spooled, then
/// its files opened, written and closed before the next firm's), under a low limit of open files,
/// whatever the order of the accounts in the file, and gives the same files as the merged pass
/// over the same firms.
@Suite(.serialized) struct ManyFirmsTests {
  static let firms = 300

  /// Runs `arguments` under `ulimit -n limit` (through /bin/sh, as cron would start it).
  static func runLimited(_ arguments: [String], openFiles limit: Int) throws -> Binary.Result {
    let quoted = ([Binary.path] + arguments).map {
      "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
    return try Binary.run(
      program: "/bin/sh", ["-c", "ulimit -n \(limit) && exec " + quoted.joined(separator: " ")])
  }

  static func generate(_ dir: String) throws -> String {
    let generated = try Binary.run([
      "generate", dir + "/snap", "--days", "1", "--accounts", "900", "--firms", "\(firms)", "--instruments",
      "60",
      "--positions", "3", "--edge",
    ])
    #expect(generated.status == 0, "\(generated.stderr)")
    return dir + "/snap/ledger-2026-10-01.sqlite"
  }

  /// Every file under `root` (relative path to bytes); manifests without their run id and time.
  static func files(_ root: String) throws -> [String: Data] {
    var out: [String: Data] = [:]
    let names = try FileManager.default.subpathsOfDirectory(atPath: root)
    for name in names where name.contains(".") {
      var data = try Data(contentsOf: URL(fileURLWithPath: root + "/" + name))
      if name.contains("_manifest_") {
        let text = String(decoding: data, as: UTF8.self).split(separator: "\n").filter {
          !$0.contains("\"run_id\"") && !$0.contains("\"generated_at\"") && !$0.contains("\"snapshot")
        }
        data = Data(text.joined(separator: "\n").utf8)
      }
      out[name] = data
    }
    return out
  }

  /// The spooled run: exit 0 under `ulimit -n 64`, and its log says how it read.
  static func runSpooled(snapshot: String, dir: String, name: String) throws -> String {
    let out = dir + "/" + name
    let run = try runLimited(
      [
        "run", "--init-state", "--snapshot", snapshot, "--state", dir + "/\(name).sqlite", "--out", out,
        "--log-level", "info",
      ], openFiles: 64)
    #expect(run.status == 0, "\(run.stderr.suffix(2000))")
    #expect(
      run.stderr.contains("\"pass\":\"spooled\""), "the log does not say the pass spooled the rows")
    return out
  }

  @Test func manyFirmsAreSpooledUnderALowOpenFileLimitWithTheMergedPassFiles() async throws {
    try await offPool {
      let dir = try Binary.scratch("many-firms")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let snapshot = try ManyFirmsTests.generate(dir)
      let spooled = try ManyFirmsTests.runSpooled(snapshot: snapshot, dir: dir, name: "spooled")
      // The same firms in runs of 30 (a merged pass each: 150 files fit its budget).
      let merged = dir + "/merged"
      for start in stride(from: 1, through: ManyFirmsTests.firms, by: 30) {
        var arguments = [
          "run", "--init-state", "--snapshot", snapshot, "--state", dir + "/merged.sqlite", "--out", merged,
          "--log-level", "info",
        ]
        for firm in start..<min(start + 30, ManyFirmsTests.firms + 1) {
          arguments += [
            "--firm", "FIRM" + String(repeating: "0", count: max(0, 3 - String(firm).count)) + "\(firm)",
          ]
        }
        let run = try Binary.run(arguments)
        #expect(run.status == 0, "\(run.stderr.suffix(2000))")
        #expect(run.stderr.contains("\"pass\":\"merged\""))
      }
      let expected = try ManyFirmsTests.files(merged)
      let found = try ManyFirmsTests.files(spooled)
      #expect(expected.count == ManyFirmsTests.firms * 6, "\(expected.count) files from the merged runs")
      #expect(Set(found.keys) == Set(expected.keys))
      let differing = expected.keys.sorted().filter { found[$0] != expected[$0] }
      #expect(differing.isEmpty, "differ: \(differing.prefix(5))")
    }
  }

  @Test func accountsInAShuffledOrderGiveTheSameFiles() async throws {
    try await offPool {
      let dir = try Binary.scratch("many-firms-shuffled")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let snapshot = try ManyFirmsTests.generate(dir)
      let shuffled = dir + "/reordered-ledger.sqlite"
      try FileManager.default.copyItem(atPath: snapshot, toPath: shuffled)
      // The accounts, positions and cash rows inserted again, firm-interleaved in another order:
      // row order no longer follows account_id (nor firm).
      let script = """
        import sqlite3, sys
        db = sqlite3.connect(sys.argv[1])
        for table in ("accounts", "positions", "cash_balances"):
            db.execute(f"CREATE TEMP TABLE t AS SELECT * FROM {table}")
            db.execute(f"DELETE FROM {table}")
            db.execute(f"INSERT INTO {table} SELECT * FROM t ORDER BY substr(account_id, -1), account_id DESC")
            db.execute("DROP TABLE t")
        db.commit()
        first = db.execute("SELECT account_id FROM accounts ORDER BY rowid LIMIT 1").fetchone()[0]
        print(first)
        """
      let shuffle = try Binary.run(program: "/usr/bin/env", ["python3", "-c", script, shuffled])
      #expect(shuffle.status == 0, "\(shuffle.stderr)")
      #expect(shuffle.stdout.hasPrefix("AC") && !shuffle.stdout.hasPrefix("AC00000001"), "\(shuffle.stdout)")
      let plain = try ManyFirmsTests.files(
        ManyFirmsTests.runSpooled(snapshot: snapshot, dir: dir, name: "plain"))
      let reordered = try ManyFirmsTests.files(
        ManyFirmsTests.runSpooled(snapshot: shuffled, dir: dir, name: "shuffled"))
      #expect(plain.count == ManyFirmsTests.firms * 6)
      #expect(Set(plain.keys) == Set(reordered.keys))
      let differing = plain.keys.sorted().filter { plain[$0] != reordered[$0] }
      #expect(differing.isEmpty, "differ: \(differing.prefix(5))")
    }
  }
}
