import Foundation
import Testing

/// `eod-extract backfill`: from an empty state and continuing a partial one, in business-date
/// order whatever the file names.
@Suite(.serialized) struct BackfillTests {
  func history(_ state: String, _ account: String) throws -> String {
    let result = try Binary.run(["history", "--state", state, "--account", account])
    #expect(result.status == 0, "\(result.stderr)")
    return result.stdout
  }

  @Test func aPartialBackfillContinuedEqualsOneFromEmpty() throws {
    let dir = try Binary.scratch("backfill")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let generated = try Binary.run([
      "generate", dir + "/snap", "--days", "4", "--accounts", "30", "--firms", "2", "--edge",
    ])
    try #require(generated.status == 0, "\(generated.stderr)")
    // File names must not decide the order: rename them so that name order is not date order.
    let manager = FileManager.default
    for (index, name) in try manager.contentsOfDirectory(atPath: dir + "/snap").sorted().enumerated() {
      try manager.moveItem(atPath: "\(dir)/snap/\(name)", toPath: "\(dir)/snap/\(9 - index)-snapshot.sqlite")
    }
    let full = try Binary.run([
      "backfill", "--init-state", "--snapshots", dir + "/snap", "--state", dir + "/full.sqlite",
    ])
    #expect(full.status == 0, "\(full.stderr)")
    #expect(full.stdout.contains("backfill 4/4 2026-10-06"))
    let first = try Binary.run([
      "backfill", "--init-state", "--snapshots", dir + "/snap", "--state", dir + "/part.sqlite", "--to",
      "2026-10-02",
    ])
    #expect(first.status == 0, "\(first.stderr)")
    #expect(first.stdout.contains("backfill 2/2 2026-10-02"))
    let rest = try Binary.run([
      "backfill", "--init-state", "--snapshots", dir + "/snap", "--state", dir + "/part.sqlite", "--from",
      "2026-10-05",
      "--out", dir + "/out",
    ])
    #expect(rest.status == 0, "\(rest.stderr)")
    #expect(manager.fileExists(atPath: dir + "/out/FIRM001/2026-10-06/FIRM001_manifest_20261006.json"))
    for account in ["AC00000001", "AC00000002", "AC00000009"] {
      let clean = try history(dir + "/full.sqlite", account)
      #expect(clean.split(separator: "\n").count == 5, "\(clean)")
      #expect(try history(dir + "/part.sqlite", account) == clean)
    }
    // Skipping a date is a gap: refused, naming it, unless allowed.
    let day1 = try Binary.run([
      "backfill", "--init-state", "--snapshots", dir + "/snap", "--state", dir + "/gap.sqlite", "--to",
      "2026-10-01",
    ])
    #expect(day1.status == 0)
    let skipping = [
      "backfill", "--init-state", "--snapshots", dir + "/snap", "--state", dir + "/gap.sqlite", "--from",
      "2026-10-05",
    ]
    let refused = try Binary.run(skipping)
    #expect(refused.status == 2)
    #expect(refused.stderr.contains("2026-10-02"), "\(refused.stderr)")
    let allowed = try Binary.run(skipping + ["--allow-gap"])
    #expect(allowed.status == 0, "\(allowed.stderr)")
    #expect(try history(dir + "/gap.sqlite", "AC00000001").split(separator: "\n").count == 4)
  }
}
