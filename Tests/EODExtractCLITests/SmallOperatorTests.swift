import Foundation
import Testing

/// Small things an operator meets: commands that did nothing and said nothing, a stale warning
/// with nothing stale, the example configuration.
@Suite(.serialized) struct SmallOperatorTests {
  /// backfill on an empty folder, or a range with no snapshot, does nothing and says why (exit 2:
  /// nothing done, no snapshot); --from after --to is a usage error (64). The state store is not
  /// created.
  @Test func backfillWithNothingToDoSaysWhy() throws {
    let dir = try Binary.scratch("small-backfill")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try FileManager.default.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: true)
    let empty = try Binary.run([
      "backfill", "--init-state", "--snapshots", dir + "/empty", "--state", dir + "/s1.sqlite",
    ])
    #expect(empty.status == 2, "\(empty.stdout) \(empty.stderr)")
    #expect(empty.stderr.contains("no snapshot files (*.sqlite) in \(dir)/empty"), "\(empty.stderr)")
    #expect(!FileManager.default.fileExists(atPath: dir + "/s1.sqlite"))
    let generated = try Binary.run([
      "generate", dir + "/snap", "--days", "2", "--accounts", "3", "--firms", "1", "--instruments", "4",
    ])
    try #require(generated.status == 0)
    let reversed = try Binary.run([
      "backfill", "--init-state", "--snapshots", dir + "/snap", "--state", dir + "/s2.sqlite", "--from",
      "2026-10-02", "--to",
      "2026-10-01",
    ])
    #expect(reversed.status == 64, "\(reversed.stdout) \(reversed.stderr)")
    #expect(reversed.stderr.contains("--from 2026-10-02 is after --to 2026-10-01"), "\(reversed.stderr)")
    let outside = try Binary.run([
      "backfill", "--init-state", "--snapshots", dir + "/snap", "--state", dir + "/s3.sqlite", "--from",
      "2027-01-01",
    ])
    #expect(outside.status == 2, "\(outside.stdout) \(outside.stderr)")
    #expect(outside.stderr.contains("(the folder has 2026-10-01 to 2026-10-02)"), "\(outside.stderr)")
    for name in ["s2.sqlite", "s3.sqlite"] {
      #expect(!FileManager.default.fileExists(atPath: dir + "/" + name))
    }
  }

  /// `run --destination` with a passphrase that cannot be read stops before anything is read or
  /// written (exit 2), naming where it looked: an unset variable, a missing file.
  @Test func anUnreadablePassphraseStopsTheRunBeforeAnything() throws {
    let dir = try Binary.scratch("small-passphrase")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let generated = try Binary.run([
      "generate", dir + "/snap", "--days", "1", "--accounts", "3", "--firms", "1", "--instruments", "4",
    ])
    try #require(generated.status == 0)
    for (option, value) in [
      ("--passphrase-env", "EOD_TEST_NO_SUCH_PASSPHRASE"), ("--passphrase-file", dir + "/no-passphrase"),
    ] {
      let run = try Binary.run([
        "run", "--snapshot", dir + "/snap/ledger-2026-10-01.sqlite", "--state", dir + "/state.sqlite",
        "--init-state", "--out", dir + "/out", "--destination", "sftp://eod@127.0.0.1:1/inbound",
        "--identity", dir + "/id_ed25519", "--known-hosts", dir + "/known_hosts", option, value,
      ])
      #expect(run.status == 2, "\(option): \(run.stdout) \(run.stderr)")
      #expect(run.stderr.contains("the key's passphrase"), "\(run.stderr)")
      #expect(
        run.stderr.contains(value.split(separator: "/").last.map(String.init) ?? value), "\(run.stderr)")
      #expect(!FileManager.default.fileExists(atPath: dir + "/state.sqlite"))
      #expect(!FileManager.default.fileExists(atPath: dir + "/out"))
    }
  }

  /// check-config --date and run --date take only the documented forms (usage error, 64).
  @Test func aBogusDateIsAUsageError() throws {
    let job = try OpsJob.make("small-date", accounts: 3, firms: 1)
    defer { job.remove() }
    try job.writeConfig(firms: ["FIRM001"])
    let check = try Binary.run(["check-config", job.config, "--date", "bogus"])
    #expect(check.status == 64, "\(check.stdout)")
    #expect(check.stderr.contains("--date 'bogus' is not YYYY-MM-DD"), "\(check.stderr)")
    let run = try job.run(date: "bogus")
    #expect(run.status == 64, "\(run.stderr)")
    #expect(run.stderr.contains("--date 'bogus' is not YYYY-MM-DD"), "\(run.stderr)")
  }

  /// Re-running an older date with the same snapshot changes no later figure: no stale warning.
  @Test func reRunningAnOlderDateUnchangedReportsNothingStale() throws {
    let job = try OpsJob.make("small-rerun", accounts: 12, firms: 1, days: 3)
    defer { job.remove() }
    try job.writeConfig(firms: ["FIRM001"])
    for date in ["2026-10-01", "2026-10-02", "2026-10-05"] {
      let night = try job.run(date: date)
      try #require(night.status == 0, "\(date): \(night.stderr)")
    }
    let again = try job.run(date: "2026-10-01")
    #expect(again.status == 0, "\(again.stderr)")
    #expect(!again.stdout.contains("are now stale"), "\(again.stdout)")
  }

  /// The example configuration's local_dir: files land in <local_dir>/<firm>/<date>/, the firm
  /// id once. The example is run as shipped, its paths moved into a temporary folder and the
  /// SFTP firm and the webhook left out.
  @Test func theExampleConfigurationPutsFilesUnderTheFirmOnce() throws {
    let dir = try Binary.scratch("small-example")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    var text = try String(
      contentsOf: root.appendingPathComponent("cron/eod-extract.example.yaml"), encoding: .utf8)
    if let webhooks = text.range(of: "\nwebhooks:"), let metrics = text.range(of: "\n# Prometheus") {
      text.removeSubrange(webhooks.lowerBound..<metrics.lowerBound)
    }
    if let second = text.range(of: "\n  - firm_id: F002") { text.removeSubrange(second.lowerBound...) }
    let moves = [
      "/data/snapshots": dir + "/snap", "/var/lib/eod-extract": dir + "/var",
      "/usr/local/share/eod-extract/templates": root.appendingPathComponent("templates").path,
      "/etc/eod-extract/holidays-england-wales.txt": root.appendingPathComponent(
        "cron/holidays-england-wales.txt"
      ).path,
      "/srv/extracts": dir + "/srv", "/var/lib/node_exporter/textfile": dir + "/metrics", "F001": "FIRM001",
    ]
    for (from, to) in moves { text = text.replacingOccurrences(of: from, with: to) }
    for sub in ["var", "srv", "metrics"] {
      try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true)
    }
    try text.write(toFile: dir + "/config.yaml", atomically: true, encoding: .utf8)
    let generated = try Binary.run([
      "generate", dir + "/snap", "--days", "1", "--accounts", "3", "--firms", "1", "--instruments", "4",
    ])
    try #require(generated.status == 0)
    let run = try Binary.run([
      "run", "--init-state", "--config", dir + "/config.yaml", "--date", "2026-10-01",
    ])
    #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
    #expect(
      FileManager.default.fileExists(atPath: dir + "/srv/FIRM001/2026-10-01/FIRM001_manifest_20261001.json"),
      "\(run.stdout)")
    #expect(!FileManager.default.fileExists(atPath: dir + "/srv/FIRM001/FIRM001"))
  }
}
