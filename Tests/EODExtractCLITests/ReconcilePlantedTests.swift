import Foundation
import Testing

/// Issue 14's "Done when" for `reconcile`: on generated files read through several profiles,
/// exactly the planted breaks of every type are found, and tolerances hold at, just inside and just
/// outside their bounds (absolute and relative).
@Suite(.serialized) struct ReconcilePlantedTests {
  /// A counterparty layout: the profile, their header, how a row's values are written (account,
  /// ISIN, quantity, price, market value, price date, currency, all as in our file) and the
  /// encoding of the file's bytes.
  struct Layout: Sendable {
    var name: String
    var profile: String
    var header: String
    var line: @Sendable ([String]) -> String
    var bytes: @Sendable (String) -> [UInt8] = { Array($0.utf8) }
  }

  static let fields =
    "account_external_ref, isin, quantity, price, market_value, price_date, account_currency"

  static func dayFirst(_ date: String) -> String {
    let parts = date.split(separator: "-")
    return parts.count == 3 ? "\(parts[2])/\(parts[1])/\(parts[0])" : date
  }

  static let layouts: [Layout] = [
    Layout(
      name: "other column names",
      profile: """
        extract: positions
        columns: {"Client Account": account_external_ref, "Security ISIN": isin, Units: quantity, "Unit Price": price, Valuation: market_value, "Priced On": price_date, Ccy: account_currency}
        """,
      header: "Client Account,Security ISIN,Units,Unit Price,Valuation,Priced On,Ccy",
      line: { $0.joined(separator: ",") }),
    Layout(
      name: "semicolons, decimal commas, DD/MM/YYYY",
      profile: """
        extract: positions
        delimiter: ";"
        decimal_separator: ","
        date_format: DD/MM/YYYY
        columns: {Konto: account_external_ref, ISIN: isin, Menge: quantity, Kurs: price, Wert: market_value, Kursdatum: price_date, CCY: account_currency}
        """,
      header: "Konto;ISIN;Menge;Kurs;Wert;Kursdatum;CCY",
      line: { cells in
        var cells = cells
        for index in 2...4 { cells[index] = cells[index].replacing(".", with: ",") }
        cells[5] = dayFirst(cells[5])
        return cells.joined(separator: ";")
      }),
    Layout(
      name: "Latin-1, tab separated",
      profile: """
        extract: positions
        delimiter: tab
        encoding: latin-1
        columns: {Konto: account_external_ref, ISIN: isin, Stückzahl: quantity, Kurs: price, Marktwert: market_value, Datum: price_date, Währung: account_currency}
        """,
      header: "Konto\tISIN\tStückzahl\tKurs\tMarktwert\tDatum\tWährung",
      line: { $0.joined(separator: "\t") },
      bytes: { text in text.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) } }),
    Layout(
      name: "UTF-8 with a byte-order mark",
      profile: """
        extract: positions
        encoding: utf-8-bom
        columns: {Compte: account_external_ref, ISIN: isin, Quantité: quantity, Cours: price, Valeur: market_value, Date: price_date, Devise: account_currency}
        """,
      header: "\u{FEFF}Compte,ISIN,Quantité,Cours,Valeur,Date,Devise",
      line: { $0.joined(separator: ",") }),
    Layout(
      name: "GBX prices",
      profile: """
        extract: positions
        columns: {Acct: account_external_ref, ISIN: isin, Qty: quantity, "Price (GBX)": price, MV: market_value, PxDate: price_date, Ccy: account_currency}
        transforms:
          price: [gbx_to_gbp]
        """,
      header: "Acct,ISIN,Qty,Price (GBX),MV,PxDate,Ccy",
      line: { cells in
        var cells = cells
        cells[3] = ReconcileProfileTests.pence(cells[3])
        return cells.joined(separator: ",")
      }),
  ]

  static func cells(_ row: [String: String]) -> [String] {
    fields.components(separatedBy: ", ").map { row[$0, default: ""] }
  }

  static func breaks(_ path: String) throws -> [[String]] {
    Array(try ReconcileTests.csvRows(path).dropFirst())
  }

  @Test func everyPlantedBreakAndNothingElseThroughEachProfile() throws {
    let set = try ReconcileTests.makeSet("recon-planted")
    defer { try? FileManager.default.removeItem(atPath: set.dir) }
    let rows = try ReconcileProfileTests.prepare(set).filter {
      !$0["isin", default: ""].isEmpty && !$0["price", default: ""].isEmpty
        && !$0["price_date", default: ""].isEmpty
    }
    try #require(rows.count >= 10)
    try ReconcileProfileTests.writeOurs(set, rows + [rows[3]])  // DUPLICATE_KEY_OURS
    func key(_ row: [String: String]) -> [String] {
      [row["account_external_ref", default: ""], row["isin", default: ""]]
    }
    let expected: Set<[String]> = [
      ["MISSING_THEIRS"] + key(rows[0]) + [""],
      ["DUPLICATE_KEY_THEIRS"] + key(rows[1]) + [""],
      ["FIELD_MISMATCH"] + key(rows[2]) + ["market_value"],
      ["DUPLICATE_KEY_OURS"] + key(rows[3]) + [""],
      ["MISSING_OURS", "ZZ-NOT-OURS", "XS0000000000", ""],
      ["UNPARSEABLE_THEIRS", "", "", ""],
    ]
    for layout in Self.layouts {
      var lines: [String] = []
      for (index, row) in rows.enumerated() {
        var cells = Self.cells(row)
        switch index {
        case 0: continue
        case 1: lines.append(layout.line(cells))
        case 2:
          cells[4] = ReconcileProfileTests.decimal(
            thousandths: ReconcileProfileTests.thousandths(cells[4]) + 1000)
        default: break
        }
        lines.append(layout.line(cells))
      }
      lines.append(layout.line(["ZZ-NOT-OURS", "XS0000000000", "1", "1", "1", "2026-10-01", "GBP"]))
      lines.reverse()
      lines.insert("not a row", at: 3)
      let theirs = set.dir + "/theirs.txt"
      try Data(layout.bytes(([layout.header] + lines).joined(separator: "\r\n") + "\r\n")).write(
        to: URL(fileURLWithPath: theirs))
      let profile = set.dir + "/profile.yaml"
      try ReconcileTests.write(profile, layout.profile + "\n")
      let out = set.dir + "/recon"
      let result = try Binary.run([
        "reconcile", "--ours", set.folder, "--extract", "positions", "--theirs", theirs, "--profile", profile,
        "--out", out, "--run-rows", "16",
      ])
      #expect(result.status == 1, "\(layout.name): \(result.stdout)\(result.stderr)")
      let found = try Self.breaks(out + "/FIRM001_breaks_positions_20261001.csv")
      let seen = Set(found.map { [$0[1], $0[2], $0[3], $0[4]] })
      #expect(found.count == expected.count, "\(layout.name): \(found)")
      #expect(seen == expected, "\(layout.name): \(seen.symmetricDifference(expected))")
      let mismatch = found.first { $0[1] == "FIELD_MISMATCH" }
      #expect(mismatch?[5] == rows[2]["market_value"], "\(layout.name)")
      #expect(mismatch?[7] == "-1", "\(layout.name): \(mismatch ?? [])")
      #expect(found.first { $0[1] == "UNPARSEABLE_THEIRS" }?[8] == "5", "\(layout.name)")
      let summary = try ReconcileProfileTests.summary(out + "/FIRM001_recon_positions_20261001.json")
      #expect(summary["matched_exactly"] as? Int == rows.count - 4, "\(layout.name): \(summary)")
      #expect(summary["matched_within_tolerance"] as? Int == 0)
      #expect(summary["breaks"] as? Int == 6)
    }
  }

  /// A decimal string times `factor` (exact: Foundation's base-10 Decimal, no binary floating point).
  static func times(_ text: String, _ factor: String, plus: String = "0") throws -> String {
    let value = try #require(Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")))
    let by = try #require(Decimal(string: factor, locale: Locale(identifier: "en_US_POSIX")))
    let add = try #require(Decimal(string: plus, locale: Locale(identifier: "en_US_POSIX")))
    return (value * by + add).description
  }

  /// `|ours − theirs| ≤ absolute + relative × |theirs|`: market_value with an absolute 0.05 and
  /// quantity with a relative 0.25 (their quantity 0.8 of ours is exactly at the bound), each at,
  /// just inside and just outside.
  @Test func tolerancesAtJustInsideAndJustOutsideTheirBounds() throws {
    let set = try ReconcileTests.makeSet("recon-tolerance")
    defer { try? FileManager.default.removeItem(atPath: set.dir) }
    let rows = try ReconcileProfileTests.prepare(set).filter {
      !$0["isin", default: ""].isEmpty && ($0["quantity"].flatMap { Decimal(string: $0) } ?? 0) > 1
    }
    try #require(rows.count >= 8)
    try ReconcileProfileTests.writeOurs(set, rows)
    var lines = ["Acct,ISIN,Qty,MV"]
    for (index, row) in rows.enumerated() {
      var quantity = row["quantity", default: ""]
      var value = row["market_value", default: ""]
      switch index {
      case 0: value = try Self.times(value, "1", plus: "0.05")  // at: within
      case 1: value = try Self.times(value, "1", plus: "-0.049")  // just inside: within
      case 2: value = try Self.times(value, "1", plus: "0.051")  // just outside: FIELD_MISMATCH
      case 3: quantity = try Self.times(quantity, "0.8")  // at: within
      case 4: quantity = try Self.times(quantity, "0.8", plus: "0.0001")  // just inside: within
      case 5: quantity = try Self.times(quantity, "0.8", plus: "-0.0001")  // just outside: FIELD_MISMATCH
      default: break
      }
      lines.append(
        [row["account_external_ref", default: ""], row["isin", default: ""], quantity, value].joined(
          separator: ","))
    }
    let theirs = set.dir + "/theirs.csv"
    try ReconcileTests.write(theirs, lines.joined(separator: "\n") + "\n")
    let profile = set.dir + "/profile.yaml"
    try ReconcileTests.write(
      profile,
      """
      extract: positions
      columns: {Acct: account_external_ref, ISIN: isin, Qty: quantity, MV: market_value}
      tolerances:
        market_value: {absolute: "0.05"}
        quantity: {relative: "0.25"}

      """)
    let out = set.dir + "/recon"
    let result = try Binary.run([
      "reconcile", "--ours", set.folder, "--extract", "positions", "--theirs", theirs, "--profile", profile,
      "--out", out,
    ])
    #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
    let found = try Self.breaks(out + "/FIRM001_breaks_positions_20261001.csv")
    func key(_ row: [String: String]) -> [String] {
      [row["account_external_ref", default: ""], row["isin", default: ""]]
    }
    #expect(
      Set(found.map { [$0[1], $0[2], $0[3], $0[4]] }) == [
        ["FIELD_MISMATCH"] + key(rows[2]) + ["market_value"],
        ["FIELD_MISMATCH"] + key(rows[5]) + ["quantity"],
      ], "\(found)")
    #expect(found.first { $0[4] == "market_value" }?[7] == "-0.051")
    let summary = try ReconcileProfileTests.summary(out + "/FIRM001_recon_positions_20261001.json")
    #expect(summary["matched_within_tolerance"] as? Int == 4, "\(summary)")
    #expect(summary["matched_exactly"] as? Int == rows.count - 6, "\(summary)")
  }
}
