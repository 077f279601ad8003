import Foundation
import Testing

/// `eod-extract reconcile` on a generated set against counterparty files made from it.
@Suite(.serialized) struct ReconcileTests {
  struct Set {
    var dir: String
    var folder: String { dir + "/out/FIRM001/2026-10-01" }
  }

  static func makeSet(_ name: String) throws -> Set {
    let dir = try Binary.scratch(name)
    let generated = try Binary.run([
      "generate", dir + "/snap", "--days", "1", "--accounts", "50", "--firms", "1",
    ])
    #expect(generated.status == 0, "\(generated.stderr)")
    let run = try Binary.run([
      "run", "--init-state", "--snapshot", dir + "/snap/ledger-2026-10-01.sqlite", "--state",
      dir + "/state.sqlite", "--out", dir + "/out",
    ])
    #expect(run.status == 0, "\(run.stderr)")
    return Set(dir: dir)
  }

  /// Our extract's rows as dictionaries (the generated data holds no quoted fields).
  static func ourRows(_ set: Set, _ extract: String) throws -> [[String: String]] {
    try ourRows(folder: set.folder, extract, date: "2026-10-01")
  }

  /// Our extract's rows in a set's folder for a business date (YYYY-MM-DD).
  static func ourRows(folder: String, _ extract: String, date: String) throws -> [[String: String]] {
    let compact = date.filter { $0 != "-" }
    let text = try Binary.run(
      program: "/bin/gzip", ["-dc", folder + "/FIRM001_\(extract)_\(compact).csv.gz"]
    ).stdout
    try #require(!text.contains("\""))
    let lines = text.split(separator: "\r\n").map {
      $0.split(separator: ",", omittingEmptySubsequences: false)
    }
    let header = lines[0].map(String.init)
    return lines.dropFirst().map { cells in
      Dictionary(uniqueKeysWithValues: zip(header, cells.map(String.init)))
    }
  }

  static func write(_ path: String, _ text: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
  }

  static func csvRows(_ path: String) throws -> [[String]] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return text.split(separator: "\r\n").map {
      $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    }
  }

  static let positionsProfile = """
    version: 1
    extract: positions
    delimiter: ";"
    decimal_separator: ","
    date_format: DD/MM/YYYY
    columns:
      Account: account_id
      Security: instrument_id
      Nominal: quantity
      Value: market_value
      PriceDate: price_date
      Ccy: price_currency
    keys: [account_id, instrument_id]
    transforms:
      price_currency: [strip, upper]
    tolerances:
      quantity: {absolute: "0.001"}
    """

  @Test func plantedBreaksAreFoundExactly() throws {
    let set = try Self.makeSet("recon-pos")
    defer { try? FileManager.default.removeItem(atPath: set.dir) }
    let rows = try Self.ourRows(set, "positions")
    try #require(rows.count > 20)
    func line(_ row: [String: String], quantity: String? = nil) -> String {
      let date = row["price_date", default: ""].split(separator: "-")
      let dayFirst = date.count == 3 ? "\(date[2])/\(date[1])/\(date[0])" : ""
      return [
        row["account_id", default: ""], row["instrument_id", default: ""],
        (quantity ?? row["quantity", default: ""]).replacing(".", with: ","),
        row["market_value", default: ""].replacing(".", with: ","), dayFirst,
        " " + row["price_currency", default: ""].lowercased(),
      ].joined(separator: ";")
    }
    var lines: [String] = []
    for (index, row) in rows.enumerated() {
      switch index {
      case 0: continue  // dropped: MISSING_THEIRS
      case 1: lines += [line(row), line(row)]  // DUPLICATE_KEY_THEIRS
      case 2: lines.append(line(row, quantity: "1" + row["quantity", default: ""]))  // beyond tolerance
      case 3:  // within tolerance: 0.0005 more
        let quantity = row["quantity", default: ""]
        lines.append(line(row, quantity: quantity.contains(".") ? quantity + "0005" : quantity + ".0005"))
      default: lines.append(line(row))
      }
    }
    lines.append("AC99999999;INS999999;10;100,00;01/10/2026;GBP")  // MISSING_OURS
    // A fixed shuffle (a linear congruential sequence), then the unparseable line at line 7.
    var state: UInt64 = 42
    for index in stride(from: lines.count - 1, to: 0, by: -1) {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      lines.swapAt(index, Int(state >> 33) % (index + 1))
    }
    lines.insert("this line;is not a row", at: 5)
    let theirs = set.dir + "/custodian.csv"
    try Self.write(
      theirs, "Account;Security;Nominal;Value;PriceDate;Ccy\n" + lines.joined(separator: "\n") + "\n")
    let profile = set.dir + "/positions.yaml"
    try Self.write(profile, Self.positionsProfile)

    let arguments = [
      "reconcile", "--ours", set.folder, "--extract", "positions", "--theirs", theirs, "--profile", profile,
      "--out", set.dir + "/recon", "--run-rows", "50",
    ]
    let result = try Binary.run(arguments)
    #expect(result.status == 1, "\(result.stderr)")
    let breaksPath = set.dir + "/recon/FIRM001_breaks_positions_20261001.csv"
    let breaks = try Self.csvRows(breaksPath)
    #expect(
      breaks[0] == [
        "break_id", "break_type", "account_id", "instrument_id", "field", "ours", "theirs", "difference",
        "their_lines", "detail", "first_seen", "age_business_days",
      ])
    // Without --state every break is first seen on the set's date, age 0.
    #expect(breaks.dropFirst().allSatisfy { $0[10] == "2026-10-01" && $0[11] == "0" })
    let byType = Dictionary(grouping: breaks.dropFirst(), by: { $0[1] })
    #expect(
      byType.keys.sorted() == [
        "DUPLICATE_KEY_THEIRS", "FIELD_MISMATCH", "MISSING_OURS", "MISSING_THEIRS", "UNPARSEABLE_THEIRS",
      ])
    #expect(byType.values.allSatisfy { $0.count == 1 })
    let key = { (row: [String: String]) in
      [row["account_id", default: ""], row["instrument_id", default: ""]]
    }
    #expect(Array(byType["MISSING_THEIRS"]?.first?[2...3] ?? []) == key(rows[0]))
    #expect(Array(byType["DUPLICATE_KEY_THEIRS"]?.first?[2...3] ?? []) == key(rows[1]))
    #expect(Array(byType["MISSING_OURS"]?.first?[2...3] ?? []) == ["AC99999999", "INS999999"])
    let mismatch = try #require(byType["FIELD_MISMATCH"]?.first)
    #expect(Array(mismatch[2...3]) == key(rows[2]))
    #expect(mismatch[4] == "quantity")
    #expect(mismatch[5] == rows[2]["quantity"])
    let unparseable = try #require(byType["UNPARSEABLE_THEIRS"]?.first)
    #expect(unparseable[8] == "7")
    #expect(unparseable[9].contains("2 fields where the header has 6"))

    let summaryPath = set.dir + "/recon/FIRM001_recon_positions_20261001.json"
    let summary = try #require(
      JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: summaryPath)))
        as? [String: Any])
    #expect(summary["matched_exactly"] as? Int == rows.count - 4)
    #expect(summary["matched_within_tolerance"] as? Int == 1)
    #expect(summary["rows_ours"] as? Int == rows.count)
    #expect(summary["rows_theirs"] as? Int == rows.count + 1)
    #expect(summary["breaks"] as? Int == 5)
    #expect(
      summary["ours_manifest_sha256"] as? String == sha256(set.folder + "/FIRM001_manifest_20261001.json"))
    #expect(summary["profile_sha256"] as? String == sha256(profile))

    // Deterministic: the same inputs give the same bytes, break ids included; no temporary files left.
    let first = try Data(contentsOf: URL(fileURLWithPath: breaksPath))
    let again = try Binary.run(arguments.dropLast(2) + ["--run-rows", "100000"])
    #expect(again.status == 1)
    #expect(try Data(contentsOf: URL(fileURLWithPath: breaksPath)) == first)
    #expect(try FileManager.default.contentsOfDirectory(atPath: set.dir + "/recon").count == 2)
  }

  @Test func cleanFileExitsZeroAndLatin1HeaderWithBOMProfile() throws {
    let set = try Self.makeSet("recon-cash")
    defer { try? FileManager.default.removeItem(atPath: set.dir) }
    let rows = try Self.ourRows(set, "cash")
    // Latin-1: the currency column's name holds 'ä' as the single byte 0xE4.
    var latin1 = Array("Konto\tW".utf8) + [0xE4] + Array("hrung\tSaldo\n".utf8)
    for row in rows.reversed() {
      latin1 += Array(
        "\(row["account_id", default: ""])\t\(row["currency", default: ""])\t\(row["balance", default: ""])\n"
          .utf8)
    }
    let theirs = set.dir + "/cash.tsv"
    try Data(latin1).write(to: URL(fileURLWithPath: theirs))
    let profile = set.dir + "/cash.yaml"
    let profileText = """
      extract: cash
      delimiter: tab
      encoding: latin-1
      columns:
        Konto: account_id
        Währung: currency
        Saldo: balance
      keys: [account_id, currency]
      """
    try Self.write(profile, profileText)
    let base = [
      "reconcile", "--ours", set.folder + "/FIRM001_manifest_20261001.json", "--extract", "cash", "--theirs",
      theirs, "--profile", profile, "--out", set.dir + "/recon",
    ]
    let clean = try Binary.run(base)
    #expect(clean.status == 0, "\(clean.stdout)\(clean.stderr)")
    #expect(clean.stdout.contains("matched exactly \(rows.count)"))

    // Read as UTF-8, the header is not valid: the file cannot be reconciled.
    try Self.write(profile, profileText.replacing("latin-1", with: "utf-8"))
    let wrong = try Binary.run(base)
    #expect(wrong.status == 2)
    #expect(wrong.stderr.contains("header"))

    // UTF-8 with a byte-order mark: the first column's name is still found.
    var bom: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("Konto\tWährung\tSaldo\n".utf8)
    for row in rows {
      bom += Array(
        "\(row["account_id", default: ""])\t\(row["currency", default: ""])\t\(row["balance", default: ""])\n"
          .utf8)
    }
    try Data(bom).write(to: URL(fileURLWithPath: theirs))
    try Self.write(profile, profileText.replacing("latin-1", with: "utf-8-bom"))
    let withBOM = try Binary.run(base)
    #expect(withBOM.status == 0, "\(withBOM.stdout)\(withBOM.stderr)")
  }

  /// The repository's example transactions profile on a file made from our extract: UTF-8 with a
  /// byte-order mark, amounts in thousands. Our rows without an external reference cannot be
  /// matched and are reported under the empty key.
  @Test func exampleTransactionsProfileMatchesAScaledFile() throws {
    let set = try Self.makeSet("recon-tx")
    defer { try? FileManager.default.removeItem(atPath: set.dir) }
    let rows = try Self.ourRows(set, "transactions")
    let referenced = rows.filter { !$0["transaction_external_ref", default: ""].isEmpty }
    try #require(!referenced.isEmpty)
    var text = "\u{FEFF}Reference,Trade Date,Settlement Date,Amount (000s),Currency\r\n"
    for row in referenced.reversed() {
      let amount = Self.thousandths(row["amount", default: ""])
      text +=
        [
          row["transaction_external_ref", default: ""], row["trade_date", default: ""],
          row["settle_date", default: ""], amount, row["currency", default: ""],
        ].joined(separator: ",") + "\r\n"
    }
    let theirs = set.dir + "/tx.csv"
    try Self.write(theirs, text)
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let result = try Binary.run([
      "reconcile", "--ours", set.folder, "--extract", "transactions", "--theirs", theirs, "--profile",
      root.appendingPathComponent("examples/reconcile/transactions.yaml").path, "--out", set.dir + "/recon",
    ])
    let unreferenced = rows.count - referenced.count
    #expect(result.status == (unreferenced == 0 ? 0 : 1), "\(result.stdout)\(result.stderr)")
    let summary = try #require(
      JSONSerialization.jsonObject(
        with: Data(
          contentsOf: URL(fileURLWithPath: set.dir + "/recon/FIRM001_recon_transactions_20261001.json")))
        as? [String: Any])
    #expect(summary["matched_exactly"] as? Int == referenced.count)
    let byType = try #require(summary["breaks_by_type"] as? [String: Int])
    #expect(byType["MISSING_THEIRS"] == (unreferenced == 0 ? 0 : 1))
    #expect(byType["DUPLICATE_KEY_OURS"] == (unreferenced > 1 ? 1 : 0))
    #expect(summary["breaks"] as? Int == byType.values.reduce(0, +))
  }

  /// A decimal divided by 1000, by moving its point (no floating point).
  static func thousandths(_ text: String) -> String {
    let negative = text.hasPrefix("-")
    let parts = (negative ? String(text.dropFirst()) : text).split(
      separator: ".", omittingEmptySubsequences: false)
    let whole = String(repeating: "0", count: max(0, 4 - parts[0].count)) + parts[0]
    let fraction = parts.count > 1 ? String(parts[1]) : ""
    return (negative ? "-" : "") + whole.dropLast(3) + "." + whole.suffix(3) + fraction
  }

  @Test func cannotReconcileExitsTwoAndUsageSixtyFour() throws {
    let set = try Self.makeSet("recon-bad")
    defer { try? FileManager.default.removeItem(atPath: set.dir) }
    let profile = set.dir + "/p.yaml"
    try Self.write(
      profile,
      "extract: positions\ncolumns: {A: account_id, B: instrument_id}\nkeys: [account_id, instrument_id]\ntolerance: {}\n"
    )
    let theirs = set.dir + "/t.csv"
    try Self.write(theirs, "A,B\n")
    let base = [
      "reconcile", "--ours", set.folder, "--extract", "positions", "--theirs", theirs, "--out",
      set.dir + "/r",
    ]
    let badProfile = try Binary.run(base + ["--profile", profile])
    #expect(badProfile.status == 2)
    #expect(badProfile.stderr.contains("line 4: tolerance"))
    #expect(badProfile.stderr.contains("unknown key 'tolerance'"))

    try Self.write(
      profile,
      "extract: positions\ncolumns: {A: account_id, B: instrument_id}\nkeys: [account_id, instrument_id]\n")
    let missing = try Binary.run(base.map { $0 == theirs ? theirs + ".nope" : $0 } + ["--profile", profile])
    #expect(missing.status == 2)
    #expect(missing.stderr.contains("t.csv.nope"))

    let noSet = try Binary.run(base.map { $0 == set.folder ? set.dir : $0 } + ["--profile", profile])
    #expect(noSet.status == 2)
    #expect(noSet.stderr.contains("manifest"))

    let usage = try Binary.run(base + ["--profile", profile, "--extract", "valuations"])
    #expect(usage.status == 64)
  }
}
