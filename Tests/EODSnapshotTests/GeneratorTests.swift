import EODCore
import EODSQLite
import EODSnapshot
import Foundation
import Testing

@testable import EODSnapshotGen

/// The tables and columns of snapshot schema version 1, from its one description (which
/// SchemaDocumentationTests checks against docs/snapshot-format.md column by column).
private let expectedColumns: [(table: String, columns: [String])] = SnapshotSchema.tables.map {
  ($0.name, $0.columns.map(\.name))
}

// MARK: Helpers

/// A fresh, empty directory under the system temporary directory.
private func scratchDirectory(_ label: String) throws -> String {
  let path = FileManager.default.temporaryDirectory
    .appendingPathComponent("eod-gen-\(label)-\(UUID().uuidString)").path
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

private func removeDirectory(_ path: String) {
  try? FileManager.default.removeItem(atPath: path)
}

/// Every row of `table` (all columns as text, NULL as nil), in storage order.
private func rows(_ db: SQLiteConnection, _ table: String, where condition: String = "") throws -> [[String?]]
{
  let statement = try db.prepare("SELECT * FROM \(table) \(condition) ORDER BY rowid")
  var result: [[String?]] = []
  while try statement.step() {
    result.append((0..<statement.columnCount).map { statement.text($0) })
  }
  return result
}

/// All tables of a snapshot file, in schema order.
private func dump(_ path: String) throws -> [String: [[String?]]] {
  let db = try SQLiteConnection(path: path, mode: .readOnly)
  var tables: [String: [[String?]]] = [:]
  for (table, _) in expectedColumns { tables[table] = try rows(db, table) }
  return tables
}

private func column(_ table: String, _ name: String) -> Int {
  expectedColumns.first { $0.table == table }?.columns.firstIndex(of: name) ?? -1
}

/// Parses plain decimal text into an integer scaled by 10^scale; nil when malformed or too precise.
private func scaled(_ text: String?, _ scale: Int) -> Int64? {
  guard let text, text.wholeMatch(of: /-?[0-9]+(\.[0-9]+)?/) != nil else { return nil }
  let negative = text.hasPrefix("-")
  let body = negative ? String(text.dropFirst()) : text
  let parts = body.split(separator: ".", omittingEmptySubsequences: false)
  let fraction = parts.count > 1 ? String(parts[1]) : ""
  guard fraction.count <= scale, let whole = Int64(parts[0]),
    let digits = Int64(fraction + String(repeating: "0", count: scale - fraction.count))
  else { return nil }
  var multiplier: Int64 = 1
  for _ in 0..<scale { multiplier *= 10 }
  let value = whole * multiplier + digits
  return negative ? -value : value
}

private func isISODate(_ text: String?) -> Bool {
  guard let text, let date = CivilDate(text) else { return false }
  return date.description == text
}

private let edgeOptions = GeneratorOptions(
  days: 6, firms: 3, accounts: 260, instruments: 120, positions: 5, activity: 0.3, seed: 42, edge: true)

// MARK: Tests

@Suite("Snapshot generator")
struct GeneratorTests {
  @Test("The same options give the same rows; another seed gives other rows")
  func deterministic() throws {
    let first = try scratchDirectory("det-a")
    let second = try scratchDirectory("det-b")
    let third = try scratchDirectory("det-c")
    defer {
      removeDirectory(first)
      removeDirectory(second)
      removeDirectory(third)
    }
    let pathsA = try SnapshotGenerator.generate(into: first, options: edgeOptions)
    let pathsB = try SnapshotGenerator.generate(into: second, options: edgeOptions)
    var other = edgeOptions
    other.seed = 43
    let pathsC = try SnapshotGenerator.generate(into: third, options: other)
    #expect(pathsA.count == edgeOptions.days)
    #expect(
      pathsA.map { ($0 as NSString).lastPathComponent } == pathsB.map { ($0 as NSString).lastPathComponent })
    for (a, b) in zip(pathsA, pathsB) {
      let dumpA = try dump(a)
      let dumpB = try dump(b)
      for (table, _) in expectedColumns {
        #expect(dumpA[table] == dumpB[table], "table \(table) differs in \(a)")
      }
    }
    let lastA = try dump(try #require(pathsA.last))
    let lastC = try dump(try #require(pathsC.last))
    #expect(lastA["positions"] != lastC["positions"])
    #expect(lastA["transactions"] != lastC["transactions"])
  }

  @Test("Every table and column of schema version 1 exists, with the indexes and snapshot_info")
  func schema() throws {
    let directory = try scratchDirectory("schema")
    defer { removeDirectory(directory) }
    let options = GeneratorOptions(days: 3, start: "2026-10-02", accounts: 40, instruments: 30)
    let paths = try SnapshotGenerator.generate(into: directory, options: options)
    // 2026-10-02 is a Friday: the next business days are Monday 5th and Tuesday 6th.
    #expect(
      paths.map { ($0 as NSString).lastPathComponent } == [
        "ledger-2026-10-02.sqlite", "ledger-2026-10-05.sqlite", "ledger-2026-10-06.sqlite",
      ])
    #expect(try SnapshotGenerator.businessDates(options) == ["2026-10-02", "2026-10-05", "2026-10-06"])
    #expect(!FileManager.default.fileExists(atPath: (paths[0] as String) + ".partial"))
    for path in paths {
      let db = try SQLiteConnection(path: path, mode: .readOnly)
      for (table, columns) in expectedColumns {
        let info = try db.prepare("PRAGMA table_info(\(table))")
        var names: [String] = []
        while try info.step() {
          let name = info.text(1) ?? ""
          names.append(name)
          // Type, NOT NULL and key as the schema declares them (a one-column TEXT PRIMARY KEY is
          // not NOT NULL in SQLite: the reader refuses its NULLs).
          let column = SnapshotSchema.table(table)?.column(name)
          let isKey = SnapshotSchema.table(table)?.key.contains(name) ?? false
          #expect(info.text(2) == column?.sqlType, "type of \(table).\(name)")
          #expect(
            (info.int64(3) == 1 || isKey) == (column?.nullable == false), "NULL rule of \(table).\(name)")
          #expect((info.int64(5) > 0) == isKey, "key of \(table).\(name)")
        }
        #expect(names == columns, "columns of \(table) in \(path)")
      }
      for index in SnapshotSchema.indexes.map(\.name) {
        let found = try db.scalarInt(
          "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?", [.text(index)])
        #expect(found == 1, "index \(index) in \(path)")
      }
      #expect(try db.scalarText("SELECT value FROM snapshot_info WHERE key = 'schema_version'") == "1")
      let date = try #require(
        try db.scalarText("SELECT value FROM snapshot_info WHERE key = 'business_date'"))
      #expect((path as NSString).lastPathComponent == "ledger-\(date).sqlite")
      let generatedAt = try db.scalarText("SELECT value FROM snapshot_info WHERE key = 'generated_at'")
      #expect(generatedAt == "\(date)T22:15:00Z")
    }
    // The embedded DDL names every table and index.
    for (table, _) in expectedColumns {
      #expect(SnapshotGenerator.schemaSQL.contains("CREATE TABLE \(table) ("))
    }
    #expect(SnapshotWriter.indexesSQL.components(separatedBy: "CREATE INDEX").count == 4)
    #expect(!SnapshotWriter.tablesSQL.contains("CREATE INDEX"))
  }

  @Test("Decimals are plain text with the stated precision; dates are YYYY-MM-DD")
  func syntax() throws {
    let directory = try scratchDirectory("syntax")
    defer { removeDirectory(directory) }
    let paths = try SnapshotGenerator.generate(into: directory, options: edgeOptions)
    for path in paths {
      let tables = try dump(path)
      // (table, column, decimals allowed, exact decimals required)
      let decimals: [(String, String, Int, Bool)] = [
        ("prices", "price", 4, false), ("fx_rates", "rate", 6, false), ("positions", "quantity", 3, false),
        ("positions", "book_cost", 2, true), ("cash_balances", "balance", 2, true),
        ("transactions", "quantity", 3, false), ("transactions", "amount", 2, true),
        ("instruments", "quote_factor", 2, false),
      ]
      for (table, name, places, exact) in decimals {
        let index = column(table, name)
        for row in tables[table] ?? [] {
          guard let text = row[index] else { continue }
          #expect(scaled(text, places) != nil, "\(table).\(name) = \(text) in \(path)")
          if exact {
            #expect(text.split(separator: ".").last?.count == 2, "\(table).\(name) = \(text)")
          }
          if scaled(text, places) == 0 { #expect(!text.hasPrefix("-"), "negative zero \(table).\(name)") }
        }
      }
      let dates: [(String, String)] = [
        ("accounts", "opened_on"), ("accounts", "closed_on"), ("prices", "price_date"),
        ("fx_rates", "rate_date"), ("transactions", "trade_date"), ("transactions", "settle_date"),
      ]
      for (table, name) in dates {
        let index = column(table, name)
        for row in tables[table] ?? [] where row[index] != nil {
          #expect(isISODate(row[index]), "\(table).\(name) = \(row[index] ?? "")")
        }
      }
    }
  }

  @Test("--edge puts every awkward case in the series")
  func edgeCases() throws {
    let directory = try scratchDirectory("edge")
    defer { removeDirectory(directory) }
    let paths = try SnapshotGenerator.generate(into: directory, options: edgeOptions)
    let first = try dump(try #require(paths.first))
    let last = try dump(try #require(paths.last))
    let instruments = last["instruments"] ?? []
    func instrument(_ id: String) -> [String?]? { instruments.first { $0[0] == id } }

    // GBX prices and per-100 bonds.
    #expect(instruments.contains { $0[5] == "GBX" })
    #expect(instruments.contains { $0[4] == "BOND" && $0[6] == "0.01" })
    // A CHF instrument, and no FX rate touches CHF.
    #expect(instrument("INSCHF01")?[5] == "CHF")
    #expect(!(last["fx_rates"] ?? []).contains { $0[1] == "CHF" || $0[2] == "CHF" })
    // A never-priced instrument.
    #expect(instrument("INSNOPX1") != nil)
    #expect(!(last["prices"] ?? []).contains { $0[0] == "INSNOPX1" })
    // A suspended instrument priced only on the first day, more than 5 calendar days before the last.
    let stalePrices = (last["prices"] ?? []).filter { $0[0] == "INSSTALE" }
    #expect(stalePrices.map { $0[1] } == ["2026-10-01"])
    #expect(try SnapshotGenerator.businessDates(edgeOptions).last == "2026-10-08")
    // Each awkward instrument is held somewhere.
    for id in ["INSCHF01", "INSNOPX1", "INSSTALE"] {
      #expect((first["positions"] ?? []).contains { $0[1] == id }, "a position in \(id)")
    }

    // Every invalid external reference appears in some external_ref column.
    var references = Set<String>()
    for snapshot in [first, last] {
      for (table, name) in [
        ("clients", "external_ref"), ("accounts", "external_ref"), ("positions", "external_ref"),
        ("transactions", "external_ref"),
      ] {
        let index = column(table, name)
        for row in snapshot[table] ?? [] { if let value = row[index] { references.insert(value) } }
      }
    }
    for bad in [
      "REF,WITH,COMMAS", "quote\"inside", "=HYPERLINK(\"x\")", String(repeating: "x", count: 257), "",
      "caf\u{e9}-ref", "tab\there", "line\nbreak", "semi;colon",
    ] {
      #expect(references.contains(bad), "external ref \(bad.debugDescription)")
    }
    // Ordinary references and NULL references exist too.
    #expect(references.contains { $0.hasPrefix("A-") })
    #expect((last["accounts"] ?? []).contains { $0[7] == nil })

    // Awkward instrument names: commas, quotes, newlines, leading '=', '+', '@', non-ASCII.
    let names = instruments.compactMap { $0[3] }
    #expect(names.contains { $0.contains(",") && $0.contains("\"") })
    #expect(names.contains { $0.contains("\n") })
    for lead in ["=", "+", "@"] { #expect(names.contains { $0.hasPrefix(lead) }, "name starting \(lead)") }
    #expect(names.contains { !$0.allSatisfy(\.isASCII) })

    // Accounts opening inside the series: absent on day 1, present later with a DEPOSIT that day.
    let firstIDs = Set((first["accounts"] ?? []).compactMap { $0[0] })
    let opened = (last["accounts"] ?? []).filter { !firstIDs.contains($0[0] ?? "") }
    #expect(!opened.isEmpty)
    for account in opened {
      let date = try #require(account[5])
      let path = (directory as NSString).appendingPathComponent("ledger-\(date).sqlite")
      let day = try dump(path)
      #expect(
        (day["transactions"] ?? []).contains { $0[1] == account[0] && $0[2] == "DEPOSIT" },
        "opening deposit of \(account[0] ?? "")")
    }
    // Accounts closing inside the series.
    let closed = (last["accounts"] ?? []).filter { $0[6] != nil }
    #expect(!closed.isEmpty)
    for account in closed {
      #expect(firstIDs.contains(account[0] ?? ""), "a closing account was open on day 1")
    }
  }

  @Test("Rows reference what exists, and each day follows from the one before")
  func consistency() throws {
    let directory = try scratchDirectory("consistency")
    defer { removeDirectory(directory) }
    let paths = try SnapshotGenerator.generate(into: directory, options: edgeOptions)
    var previous: [String: [[String?]]]?
    var closings = 0
    for path in paths {
      let tables = try dump(path)
      let date = try #require(tables["snapshot_info"]?.first { $0[0] == "business_date" }?[1])
      let accounts = tables["accounts"] ?? []
      let accountIDs = Set(accounts.compactMap { $0[0] })
      let instrumentIDs = Set((tables["instruments"] ?? []).compactMap { $0[0] })
      let clientIDs = Set((tables["clients"] ?? []).compactMap { $0[0] })
      let firmIDs = Set((tables["firms"] ?? []).compactMap { $0[0] })

      for account in accounts {
        #expect(firmIDs.contains(account[1] ?? "") && clientIDs.contains(account[2] ?? ""))
        #expect((account[5] ?? "") <= date, "account \(account[0] ?? "") opened after \(date)")
        if let closedOn = account[6] { #expect(closedOn <= date) }
      }
      for position in tables["positions"] ?? [] {
        #expect(accountIDs.contains(position[0] ?? ""), "position of unknown account \(position[0] ?? "")")
        #expect(instrumentIDs.contains(position[1] ?? ""), "position in unknown instrument")
        #expect((scaled(position[2], 3) ?? 0) > 0, "position quantity positive")
      }
      for cash in tables["cash_balances"] ?? [] {
        #expect(accountIDs.contains(cash[0] ?? ""))
      }
      for transaction in tables["transactions"] ?? [] {
        #expect(accountIDs.contains(transaction[1] ?? ""))
        #expect(transaction[4] == date, "trade_date equals the business date")
        #expect((transaction[5] ?? "") >= date, "settle_date not before trade_date")
        if let instrument = transaction[6] { #expect(instrumentIDs.contains(instrument)) }
      }
      for price in tables["prices"] ?? [] {
        #expect(instrumentIDs.contains(price[0] ?? "") && (price[1] ?? "") <= date)
      }

      // A closed account holds nothing and no money.
      for account in accounts where account[6] != nil {
        let id = account[0] ?? ""
        #expect(!(tables["positions"] ?? []).contains { $0[0] == id }, "closed \(id) has no positions")
        for cash in (tables["cash_balances"] ?? []) where cash[0] == id {
          #expect(scaled(cash[2], 2) == 0, "closed \(id) has zero \(cash[1] ?? "") cash")
        }
        if account[6] == date { closings += 1 }
      }

      // Positions and cash follow from the previous day and today's live transactions.
      if let previous {
        var quantities: [String: Int64] = [:]
        for position in previous["positions"] ?? [] {
          quantities["\(position[0] ?? "")/\(position[1] ?? "")"] = scaled(position[2], 3)
        }
        var balances: [String: Int64] = [:]
        for cash in previous["cash_balances"] ?? [] {
          balances["\(cash[0] ?? "")/\(cash[1] ?? "")"] = scaled(cash[2], 2)
        }
        for transaction in tables["transactions"] ?? [] where transaction[3] != "CANCELLED" {
          let account = transaction[1] ?? ""
          if let instrument = transaction[6], let quantity = scaled(transaction[7], 3) {
            quantities["\(account)/\(instrument)", default: 0] += quantity
          }
          if transaction[2] != "TRANSFER_IN" && transaction[2] != "TRANSFER_OUT" {
            balances["\(account)/\(transaction[9] ?? "")", default: 0] += scaled(transaction[8], 2) ?? 0
          }
        }
        var expectedPositions = quantities.filter { $0.value != 0 }
        for position in tables["positions"] ?? [] {
          let key = "\(position[0] ?? "")/\(position[1] ?? "")"
          #expect(expectedPositions.removeValue(forKey: key) == scaled(position[2], 3), "quantity of \(key)")
        }
        #expect(expectedPositions.isEmpty, "positions that vanished: \(expectedPositions.keys.sorted())")
        var today: [String: Int64] = [:]
        for cash in tables["cash_balances"] ?? [] {
          today["\(cash[0] ?? "")/\(cash[1] ?? "")"] = scaled(cash[2], 2)
        }
        let differing = Set(today.keys).union(balances.keys).filter { today[$0] != balances[$0] }.sorted()
        #expect(differing.isEmpty, "cash on \(date) does not follow for \(differing.prefix(5))")
      }
      previous = tables
    }
    #expect(closings > 0, "some account closed inside the series")
  }

  @Test("Sizes follow the options")
  func sizes() throws {
    let directory = try scratchDirectory("sizes")
    defer { removeDirectory(directory) }
    let options = GeneratorOptions(
      days: 12, firms: 4, accounts: 400, instruments: 150, positions: 6, activity: 0.2, seed: 9)
    let paths = try SnapshotGenerator.generate(into: directory, options: options)
    #expect(paths.count == 12)
    let last = try dump(try #require(paths.last))
    #expect(last["firms"]?.count == 4)
    #expect(last["firms"]?.map { $0[0] } == ["FIRM001", "FIRM002", "FIRM003", "FIRM004"])
    #expect(last["clients"]?.count == 400)
    #expect(last["accounts"]?.count == 400)
    #expect(last["instruments"]?.count == 150)
    // Ten days of price and FX history.
    #expect(last["prices"]?.count == 150 * 10)
    #expect(last["fx_rates"]?.count == 3 * 10)
    let first = try dump(try #require(paths.first))
    let meanPositions = Double(first["positions"]?.count ?? 0) / 400
    #expect(meanPositions > 5.5 && meanPositions < 6.5, "mean positions per account \(meanPositions)")
    // About activity × accounts transactions a day.
    for path in paths {
      let count = try dump(path)["transactions"]?.count ?? 0
      #expect(count > 40 && count < 130, "transactions in \(path): \(count)")
    }
    // Every account has cash in its own currency; prices move but stay plausible.
    let currencies = Set(first["accounts"]?.compactMap { $0[4] } ?? [])
    #expect(currencies.isSubset(of: ["GBP", "USD", "EUR"]) && currencies.contains("GBP"))
    for price in last["prices"] ?? [] {
      let value = try #require(scaled(price[2], 4))
      #expect(value >= 100 && value < 1_000_000 * 10_000)
    }
  }

  @Test("Bad options are refused with a typed error before anything is written")
  func invalidOptions() throws {
    let directory = try scratchDirectory("invalid")
    defer { removeDirectory(directory) }
    let bad: [GeneratorOptions] = [
      GeneratorOptions(days: 0), GeneratorOptions(start: "2026-02-30"), GeneratorOptions(start: "01/10/2026"),
      GeneratorOptions(firms: 0), GeneratorOptions(activity: 1.5), GeneratorOptions(positions: -1),
    ]
    for options in bad {
      let error = #expect(throws: GeneratorError.self) {
        try SnapshotGenerator.generate(into: directory, options: options)
      }
      #expect(error?.code == .invalidOptions)
      #expect(error?.code.rawValue == "invalid-options", "error codes are kebab-case")
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
  }

  @Test("Decimal text and half-even rounding")
  func decimals() {
    #expect(formatAmount(123_456) == "1234.56")
    #expect(formatAmount(-50) == "-0.50")
    #expect(formatAmount(0) == "0.00")
    #expect(formatQuantity(-500) == "-0.5")
    #expect(formatQuantity(100_000) == "100")
    #expect(formatPrice(382_877) == "38.2877")
    #expect(formatPrice(873_000) == "87.30")
    #expect(formatRate(1_265_000) == "1.2650")
    #expect(ExactDecimal.divideHalfEven(25, 10) == 2)
    #expect(ExactDecimal.divideHalfEven(35, 10) == 4)
    #expect(ExactDecimal.divideHalfEven(-25, 10) == -2)
    #expect(ExactDecimal.divideHalfEven(-26, 10) == -3)
    #expect(CivilDate("2026-10-03")?.isWeekend == true)
    #expect(CivilDate("2026-10-05")?.addingWeekdays(5).description == "2026-10-12")
  }
}
