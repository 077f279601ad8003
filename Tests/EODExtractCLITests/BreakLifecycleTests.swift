import Foundation
import Testing

/// `reconcile --state` over three consecutive business dates, and `eod-extract breaks`: a break's
/// id and first-seen date are kept, its age grows, a break that goes is closed with the date, a
/// re-run of a date replaces that date's result.
@Suite(.serialized) struct BreakLifecycleTests {
  static let profile = """
    extract: positions
    columns:
      account_id: account_id
      instrument_id: instrument_id
      quantity: quantity
      market_value: market_value
      account_currency: account_currency
    keys: [account_id, instrument_id]
    """

  /// One break per row: id, type, key, field, first_seen, age.
  struct Row: Equatable {
    var id: String
    var type: String
    var key: [String]
    var firstSeen: String
    var age: String
  }

  @Test func breaksAgeCloseAndARerunReplacesItsDate() throws {
    let dir = try Binary.scratch("breaks-life")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let generated = try Binary.run([
      "generate", dir + "/snap", "--days", "3", "--accounts", "30", "--firms", "1",
    ])
    #expect(generated.status == 0, "\(generated.stderr)")
    let state = dir + "/state.sqlite"
    let backfill = try Binary.run([
      "backfill", "--init-state", "--snapshots", dir + "/snap", "--state", state, "--out", dir + "/out",
    ])
    #expect(backfill.status == 0, "\(backfill.stderr)")
    let dates = try FileManager.default.contentsOfDirectory(atPath: dir + "/out/FIRM001").sorted()
    try #require(dates == ["2026-10-01", "2026-10-02", "2026-10-05"])
    let rows = try dates.map {
      try ReconcileTests.ourRows(folder: dir + "/out/FIRM001/" + $0, "positions", date: $0)
    }
    func key(_ row: [String: String]) -> [String] {
      [row["account_id", default: ""], row["instrument_id", default: ""]]
    }
    // Three keys held on all three dates: A is missing from theirs every day, B differs from day 2
    // on, C is missing on days 1 and 2 and back on day 3.
    let common = rows.dropFirst().reduce(Swift.Set(rows[0].map(key))) { $0.intersection($1.map(key)) }.sorted
    {
      $0.lexicographicallyPrecedes($1)
    }
    try #require(common.count >= 3)
    let (a, b, c) = (common[0], common[1], common[2])
    try ReconcileTests.write(dir + "/profile.yaml", Self.profile)

    func reconcile(_ day: Int, drop: [[String]], change: [[String]], extra: [String] = []) throws -> [Row] {
      var lines = ["account_id,instrument_id,quantity,market_value,account_currency"]
      for row in rows[day] where !drop.contains(key(row)) {
        let quantity = row["quantity", default: ""]
        let changed = change.contains(key(row)) ? "1" + quantity : quantity
        lines.append(
          (key(row) + [changed, row["market_value", default: ""], row["account_currency", default: ""]])
            .joined(separator: ","))
      }
      let theirs = dir + "/theirs-\(day).csv"
      try ReconcileTests.write(theirs, lines.joined(separator: "\n") + "\n")
      let result = try Binary.run(
        [
          "reconcile", "--ours", dir + "/out/FIRM001/" + dates[day], "--extract", "positions", "--theirs",
          theirs,
          "--profile", dir + "/profile.yaml", "--out", dir + "/recon", "--state", state,
        ] + extra)
      #expect(result.status == 1, "\(result.stderr)")
      let csv = try ReconcileTests.csvRows(
        dir + "/recon/FIRM001_breaks_positions_\(dates[day].filter { $0 != "-" }).csv")
      #expect(Array(csv[0].suffix(2)) == ["first_seen", "age_business_days"])
      return csv.dropFirst().map {
        Row(id: $0[0], type: $0[1], key: [$0[2], $0[3]], firstSeen: $0[10], age: $0[11])
      }
      .sorted { $0.key.lexicographicallyPrecedes($1.key) }
    }

    let day1 = try reconcile(0, drop: [a, c], change: [])
    // Control totals per account currency, each side, exact: theirs lacks A's and C's rows.
    let recon = try #require(
      JSONSerialization.jsonObject(
        with: Data(contentsOf: URL(fileURLWithPath: dir + "/recon/FIRM001_recon_positions_20261001.json")))
        as? [String: Any])
    let totals = try #require(recon["control_totals"] as? [String: Any])
    #expect(totals["field"] as? String == "market_value" && totals["by"] as? String == "account_currency")
    func expected(_ rows: [[String: String]]) -> [String: String] {
      var sums: [String: Decimal] = [:]
      for row in rows {
        sums[row["account_currency", default: ""], default: 0] +=
          Decimal(
            string: row["market_value", default: ""].isEmpty ? "0" : row["market_value", default: ""]) ?? 0
      }
      return sums.mapValues { "\($0)" }
    }
    func shown(_ side: Any?) -> [String: String] {
      ((side as? [String: [String: Any]]) ?? [:]).mapValues { entry in
        (entry["total"] as? String).flatMap { Decimal(string: $0) }.map { "\($0)" } ?? "?"
      }
    }
    #expect(shown(totals["ours"]) == expected(rows[0]))
    #expect(shown(totals["theirs"]) == expected(rows[0].filter { ![a, c].contains(key($0)) }))
    #expect(shown(totals["ours"]) != shown(totals["theirs"]))
    #expect(day1.map(\.type) == ["MISSING_THEIRS", "MISSING_THEIRS"])
    #expect(day1.map(\.firstSeen) == ["2026-10-01", "2026-10-01"])
    #expect(day1.map(\.age) == ["0", "0"])
    let day2 = try reconcile(1, drop: [a, c], change: [b])
    #expect(day2.map(\.key) == [a, b, c])
    #expect(day2.map(\.type) == ["MISSING_THEIRS", "FIELD_MISMATCH", "MISSING_THEIRS"])
    #expect(day2.map(\.firstSeen) == ["2026-10-01", "2026-10-02", "2026-10-01"])
    #expect(day2.map(\.age) == ["1", "0", "1"])
    let day3 = try reconcile(2, drop: [a], change: [b])
    #expect(day3.map(\.key) == [a, b])
    #expect(day3.map(\.firstSeen) == ["2026-10-01", "2026-10-02"])
    // Friday 2 October to Monday 5 October is one business day: A is 2 business days old.
    #expect(day3.map(\.age) == ["2", "1"])
    #expect(day1[0].id == day2[0].id && day2[0].id == day3[0].id)
    #expect(day2[1].id == day3[1].id)

    func listed(_ extra: [String] = []) throws -> [[String: Any]] {
      let result = try Binary.run(["breaks", "--state", state, "--firm", "FIRM001", "--json"] + extra)
      #expect(result.status == 0, "\(result.stderr)")
      let object = try #require(
        JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
      return try #require(object["breaks"] as? [[String: Any]])
    }
    func summary(_ entry: [String: Any]) -> String {
      let closed = entry["closed"] as? String ?? "open"
      return "\(entry["key"] as? [String] ?? []) \(entry["break_type"] as? String ?? "") "
        + "\(entry["first_seen"] as? String ?? "")..\(entry["last_seen"] as? String ?? "") \(closed) "
        + "\(entry["age_business_days"] as? Int ?? -1)"
    }
    #expect(
      try listed().map(summary) == [
        "\(a) MISSING_THEIRS 2026-10-01..2026-10-05 open 2",
        "\(b) FIELD_MISMATCH 2026-10-02..2026-10-05 open 1",
        "\(c) MISSING_THEIRS 2026-10-01..2026-10-02 2026-10-05 1",
      ])
    #expect(try listed(["--open"]).count == 2)
    #expect(try listed(["--extract", "cash"]).isEmpty)
    let table = try Binary.run(["breaks", "--state", state, "--firm", "FIRM001", "--open"])
    #expect(table.status == 0)
    #expect(table.stdout.contains(day3[0].id) && !table.stdout.contains(day2[2].id))

    // Day 2 again, now with only A missing: day 2's result is replaced. C was last seen on day 1
    // and closed on day 2; B is first seen on day 3.
    let rerun = try reconcile(1, drop: [a], change: [])
    #expect(rerun.map(\.key) == [a])
    #expect(rerun.map(\.age) == ["1"])
    #expect(
      try listed().map(summary) == [
        "\(a) MISSING_THEIRS 2026-10-01..2026-10-05 open 2",
        "\(b) FIELD_MISMATCH 2026-10-05..2026-10-05 open 0",
        "\(c) MISSING_THEIRS 2026-10-01..2026-10-01 2026-10-02 0",
      ])
  }

  @Test func aMissingStoreIsCreatedOnlyWithInitState() throws {
    let set = try ReconcileTests.makeSet("breaks-init")
    defer { try? FileManager.default.removeItem(atPath: set.dir) }
    let rows = try ReconcileTests.ourRows(set, "positions")
    let lines =
      ["account_id,instrument_id,quantity,market_value,account_currency"]
      + rows.dropFirst().map { row in
        ["account_id", "instrument_id", "quantity", "market_value", "account_currency"].map {
          row[$0, default: ""]
        }.joined(separator: ",")
      }
    try ReconcileTests.write(set.dir + "/theirs.csv", lines.joined(separator: "\n") + "\n")
    try ReconcileTests.write(set.dir + "/profile.yaml", Self.profile)
    let arguments = [
      "reconcile", "--ours", set.folder, "--extract", "positions", "--theirs", set.dir + "/theirs.csv",
      "--profile", set.dir + "/profile.yaml", "--out", set.dir + "/recon", "--state",
      set.dir + "/recon.sqlite",
    ]
    let refused = try Binary.run(arguments)
    #expect(refused.status == 2)
    #expect(refused.stderr.contains("no state store at \(set.dir)/recon.sqlite"))
    #expect(!FileManager.default.fileExists(atPath: set.dir + "/recon.sqlite"))
    let created = try Binary.run(arguments + ["--init-state"])
    #expect(created.status == 1, "\(created.stderr)")
    let listed = try Binary.run(["breaks", "--state", set.dir + "/recon.sqlite", "--firm", "FIRM001"])
    #expect(listed.status == 0)
    #expect(listed.stdout.contains("MISSING_THEIRS"))
    // A file that is not a state store is refused, untouched.
    let notAStore = try Binary.run(
      ["breaks", "--state", set.dir + "/profile.yaml", "--firm", "FIRM001"])
    #expect(notAStore.status == 2)
  }
}
