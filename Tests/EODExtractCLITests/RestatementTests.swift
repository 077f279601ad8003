import Foundation
import Testing

/// A corrected snapshot for an earlier date, run with the configuration: later dates are
/// reported stale, and `--resend` re-issues and re-delivers them.
@Suite(.serialized) struct RestatementTests {
  @Test func aRestatementWithResendReissuesTheLaterDates() throws {
    let job = try OpsJob.make("restate", accounts: 30, firms: 1, days: 3)
    defer { job.remove() }
    try job.writeConfig(firms: ["FIRM001"])
    for date in ["2026-10-01", "2026-10-02", "2026-10-05"] {
      let result = try job.run(date: date)
      try #require(result.status == 0, "\(date): \(result.stderr)")
    }
    let laterManifest =
      job.delivered("FIRM001", "2026-10-05") + "/" + OpsJob.manifestName("FIRM001", "2026-10-05")
    let before = try #require(FileManager.default.contents(atPath: laterManifest))
    let valuations = job.delivered("FIRM001", "2026-10-05") + "/FIRM001_valuations_20261005.csv.gz"
    let valuationsBefore = try #require(FileManager.default.contents(atPath: valuations))
    // Correct 2026-10-02: one account's cash doubles.
    let sqlite = Process()
    sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    sqlite.arguments = [
      job.dir + "/snap/ledger-2026-10-02.sqlite",
      "UPDATE cash_balances SET balance = CAST(balance * 2 AS TEXT) || '' WHERE account_id = 'AC00000001' AND balance NOT LIKE '%.%'; UPDATE cash_balances SET balance = printf('%.2f', CAST(balance AS REAL) * 2) WHERE account_id = 'AC00000001'",
    ]
    try sqlite.run()
    sqlite.waitUntilExit()
    // Without --resend: the later date is reported stale, and the corrected date's changed
    // files are refused for delivery (they differ from what was delivered).
    let plain = try job.run(date: "2026-10-02")
    #expect(plain.stdout.contains("2026-10-05"), "\(plain.stdout)")
    #expect(plain.stdout.contains("stale"))
    #expect(FileManager.default.contents(atPath: laterManifest) == before)
    // With --resend: the corrected date and the stale later one are re-issued.
    let resent = try job.run(["--resend"], date: "2026-10-02")
    #expect(resent.status == 0, "\(resent.stdout)\n\(resent.stderr)")
    #expect(resent.stdout.contains("2026-10-05 FIRM001: re-issued: delivered"), "\(resent.stdout)")
    let after = try #require(FileManager.default.contents(atPath: laterManifest))
    #expect(after != before)
    // The later date's returns depend on the corrected value: its valuations changed.
    #expect(FileManager.default.contents(atPath: valuations) != valuationsBefore)
    let staged = job.staged("FIRM001", "2026-10-05") + "/FIRM001_valuations_20261005.csv.gz"
    #expect(FileManager.default.contents(atPath: valuations) == FileManager.default.contents(atPath: staged))
  }
}
