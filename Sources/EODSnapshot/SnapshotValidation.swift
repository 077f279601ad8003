import EODCore
import EODSQLite

// The snapshot's checks: schema, references, unique keys, every value's syntax (validate), and
// the per-row check the account cursor runs on the rows it reads (RowCheck, RepeatedKey).

extension SnapshotReader {
  /// Whether SQLite itself keeps `table`'s primary key unique: a unique index (the declared
  /// primary key's, or any other, not partial) on the key's columns or some of them.
  func enforcesKey(_ table: SnapshotSchema.Table) throws(SnapshotError) -> Bool {
    do {
      let indexes = try db.prepare("SELECT name, \"unique\", partial FROM pragma_index_list(?)")
      try indexes.bind([.text(table.name)])
      var unique: [String] = []
      while try indexes.step() {
        if indexes.int64(1) != 0 && indexes.int64(2) == 0, let name = indexes.text(0) { unique.append(name) }
      }
      let key = Set(table.key)
      for name in unique {
        let columns = try db.prepare("SELECT name FROM pragma_index_info(?)")
        try columns.bind([.text(name)])
        var names: [String?] = []
        while try columns.step() { names.append(columns.text(0)) }
        if !names.isEmpty && names.allSatisfy({ $0.map(key.contains) ?? false }) { return true }
      }
      return false
    } catch {
      throw snapshotError(error, table: table.name)
    }
  }

  /// Whether an index of `table` (not partial) starts with `column`.
  func hasIndex(_ table: String, leading column: String) throws(SnapshotError) -> Bool {
    do {
      let indexes = try db.prepare("SELECT name, partial FROM pragma_index_list(?)")
      try indexes.bind([.text(table)])
      var names: [String] = []
      while try indexes.step() { if indexes.int64(1) == 0, let name = indexes.text(0) { names.append(name) } }
      for name in names {
        let first = try db.prepare("SELECT name FROM pragma_index_info(?) WHERE seqno = 0")
        try first.bind([.text(name)])
        if try first.step(), first.text(0) == column { return true }
      }
      return false
    } catch {
      throw snapshotError(error, table: table)
    }
  }

  /// Refuses a row of `table` that names a firm, client or account the snapshot lacks: the
  /// smallest unknown value of each referencing column, then its first row. Where an index starts
  /// with the column, each distinct value is looked up once (a position's account_id is read from
  /// the index on it); elsewhere every row is (a DISTINCT without an index would build a table of
  /// every value in memory: 20 MB for a million accounts' client_id).
  func checkReferences(_ table: SnapshotSchema.Table) throws(SnapshotError) {
    let key = table.key.map { "COALESCE(CAST(\($0) AS TEXT), 'NULL')" }.joined(separator: " || '/' || ")
    for column in table.columns {
      guard let target = table.references[column.name],
        let targetKey = SnapshotSchema.table(target)?.key.first
      else { continue }
      let name = column.name
      let distinct = try hasIndex(table.name, leading: name) ? "DISTINCT " : ""
      do {
        let unknown = try db.prepare(
          """
          SELECT v FROM (SELECT \(distinct)\(name) AS v FROM \(table.name) WHERE \(name) IS NOT NULL)
          WHERE v NOT IN (SELECT \(targetKey) FROM \(target)) ORDER BY v LIMIT 1
          """)
        guard try unknown.step() else { continue }
        let row = try db.prepare(
          "SELECT \(key), CAST(\(name) AS TEXT) FROM \(table.name) WHERE \(name) IN (SELECT v FROM (\(unknown.sql))) LIMIT 1"
        )
        guard try row.step() else { continue }
        throw SnapshotError(
          code: .unknownReference, path: path, table: table.name, rowKey: row.text(0) ?? "?", column: name,
          detail: "value '\(row.text(1)?.prefix(60) ?? "NULL")' \(SnapshotReader.unknown(target, targetKey))")
      } catch {
        throw snapshotError(error, table: table.name)
      }
    }
  }

  /// Refuses a key value that appears in more than one row of `table` (for a table that does not
  /// enforce its key): the first in key order.
  func checkUniqueKey(_ table: SnapshotSchema.Table) throws(SnapshotError) {
    guard try !enforcesKey(table) else { return }
    let columns = table.key.joined(separator: ", ")
    let key = table.key.map { "COALESCE(CAST(\($0) AS TEXT), 'NULL')" }.joined(separator: " || '/' || ")
    do {
      let statement = try db.prepare(
        "SELECT \(key), COUNT(*) FROM \(table.name) GROUP BY \(columns) HAVING COUNT(*) > 1 ORDER BY \(columns) LIMIT 1"
      )
      guard try statement.step() else { return }
      let rowKey = statement.text(0) ?? "?"
      throw SnapshotError(
        code: .duplicateKey, path: path, table: table.name, rowKey: rowKey,
        column: table.key.joined(separator: ","),
        detail: "key '\(rowKey.prefix(80))' appears in more than one row: \(SnapshotReader.notUnique)")
    } catch {
      throw snapshotError(error, table: table.name)
    }
  }

  static func checkSchema(_ db: SQLiteConnection, path: String) throws(SnapshotError) {
    for table in SnapshotSchema.tables {
      var present: Set<String> = []
      do {
        let statement = try db.prepare("SELECT name FROM pragma_table_info(?)")
        try statement.bind([.text(table.name)])
        while try statement.step() { if let name = statement.text(0) { present.insert(name) } }
      } catch {
        throw SnapshotError(code: .unreadable, path: path, table: table.name, detail: error.message)
      }
      if present.isEmpty {
        throw SnapshotError(
          code: .missingTable, path: path, table: table.name,
          detail: "table \(table.name) of schema version 1 is missing")
      }
      for column in table.columns where !present.contains(column.name) {
        throw SnapshotError(
          code: .missingColumn, path: path, table: table.name, column: column.name,
          detail: "column \(table.name).\(column.name) of schema version 1 is missing")
      }
    }
  }

  /// The tables a pass over every account reads row by row, in full: an ``AccountCursor`` that
  /// reads every row (all firms, or several) checks them as it reads (``AccountCursor/checksRows``),
  /// so the separate check can leave them out. Together they are most of a snapshot's rows.
  public static let checkedWhileRead: Set<String> = ["positions", "cash_balances"]

  /// What ``validate(skipping:)`` checks of each value, and the words of its refusal.
  static let isNULL = "is NULL"
  static let notDecimal =
    "is not a plain decimal of at most 38 digits and 36 decimal places (optional '-', digits, optional '.' and digits)"
  static let notDate = "is not a YYYY-MM-DD date"
  static let notUTF8 = "is not valid UTF-8"
  static let notUnique = "a primary key must be unique"
  static func unknown(_ table: String, _ column: String) -> String {
    "names no row of \(table) (\(column)): every row's firm, client and account must exist"
  }

  /// Checks every decimal and date in every table (but `skipped`), and that required values are
  /// present: one scan per table. Throws for the first bad value, naming table, row key and column.
  public func validate(skipping skipped: Set<String> = []) throws(SnapshotError) {
    do {
      try db.registerFunction("eod_bad_decimal") { bytes in
        guard let bytes else { return 0 }
        return ExactDecimal.parse(bytes) == nil ? 1 : 0
      }
      try db.registerFunction("eod_bad_date") { bytes in
        guard let bytes else { return 0 }
        return CivilDate.parse(bytes) == nil ? 1 : 0
      }
      try db.registerFunction("eod_bad_utf8") { bytes in
        guard let bytes else { return 0 }
        return UTF8Check.isValid(bytes) ? 0 : 1
      }
    } catch {
      throw SnapshotError(code: .unreadable, path: path, detail: error.message)
    }
    for table in SnapshotSchema.tables where !skipped.contains(table.name) {
      try checkReferences(table)
      let key = table.key.map { "COALESCE(CAST(\($0) AS TEXT), 'NULL')" }.joined(separator: " || '/' || ")
      var checks: [(sql: String, column: String, code: SnapshotError.Code, what: String)] = []
      for column in table.columns {
        let name = column.name
        if !column.nullable {
          checks.append(("\(name) IS NULL", name, .missingValue, SnapshotReader.isNULL))
        }
        switch column.kind {
        case .text:
          checks.append(("eod_bad_utf8(\(name))", name, .invalidText, SnapshotReader.notUTF8))
        case .decimal:
          checks.append(
            (
              "(typeof(\(name)) NOT IN ('text', 'null') OR eod_bad_decimal(\(name)))", name,
              .malformedDecimal, SnapshotReader.notDecimal
            ))
        case .date:
          checks.append(
            (
              "(typeof(\(name)) NOT IN ('text', 'null') OR eod_bad_date(\(name)))", name, .malformedDate,
              SnapshotReader.notDate
            ))
        }
      }
      let flags = checks.map { "(\($0.sql))" }.joined(separator: ", ")
      let columns = checks.map { "CAST(\($0.column) AS TEXT)" }.joined(separator: ", ")
      let condition = checks.map { "(\($0.sql))" }.joined(separator: " OR ")
      let sql = "SELECT \(key), \(flags), \(columns) FROM \(table.name) WHERE \(condition) LIMIT 1"
      do {
        let statement = try db.prepare(sql)
        let rowKey = try statement.step() ? statement.text(0) ?? "?" : nil
        for (index, check) in checks.enumerated() where rowKey != nil && statement.int64(1 + index) != 0 {
          let value = statement.text(1 + checks.count + index).map { "'\($0.prefix(60))' " } ?? ""
          throw SnapshotError(
            code: check.code, path: path, table: table.name, rowKey: rowKey, column: check.column,
            detail: "value \(value)\(check.what)")
        }
      } catch let error as SnapshotError {
        throw error
      } catch {
        throw SnapshotError(code: .unreadable, path: path, table: table.name, detail: "\(error)")
      }
      try checkUniqueKey(table)
    }
  }

  /// Checks the row `statement` is on as ``validate(skipping:)`` checks the table's rows; the
  /// statement's columns are the table's, in ``SnapshotSchema/Table/columns`` order. Within a row
  /// the first bad value in column order is named, as there.
  ///
  /// - Parameter decimals: receives each decimal column's value (nil elsewhere, or for NULL), so
  ///   the caller need not parse it again.
  func checkRow(_ statement: SQLiteStatement, _ check: RowCheck, decimals: inout [ExactDecimal?])
    throws(SnapshotError)
  {
    guard let (index, code, what) = check.firstProblem(statement, decimals: &decimals) else { return }
    let table = check.table
    let key = table.key.map { name in
      table.columns.firstIndex { $0.name == name }.flatMap { statement.text($0) } ?? "NULL"
    }
    let value = statement.text(index).map { "'\($0.prefix(60))' " } ?? ""
    throw SnapshotError(
      code: code, path: path, table: table.name, rowKey: key.joined(separator: "/"),
      column: table.columns[index].name, detail: "value \(value)\(what)")
  }
}

extension SnapshotReader {
  /// The key of the row `statement` is on (its columns are the table's, in schema order).
  func rowKey(_ statement: SQLiteStatement, _ table: SnapshotSchema.Table) -> String {
    table.key.map { name in
      table.columns.firstIndex { $0.name == name }.flatMap { statement.text($0) } ?? "NULL"
    }.joined(separator: "/")
  }

  func duplicateRow(_ statement: SQLiteStatement, _ table: SnapshotSchema.Table) -> SnapshotError {
    let key = rowKey(statement, table)
    return SnapshotError(
      code: .duplicateKey, path: path, table: table.name, rowKey: key,
      column: table.key.joined(separator: ","),
      detail: "key '\(key.prefix(80))' appears in more than one row: \(SnapshotReader.notUnique)")
  }

  func unknownAccount(_ statement: SQLiteStatement, _ table: SnapshotSchema.Table) -> SnapshotError {
    SnapshotError(
      code: .unknownReference, path: path, table: table.name, rowKey: rowKey(statement, table),
      column: "account_id",
      detail:
        "value '\(statement.text(0)?.prefix(60) ?? "NULL")' \(SnapshotReader.unknown("accounts", "account_id"))"
    )
  }
}

/// The previous row's key columns (the first `count` of the statement), to find a key repeated
/// in a table read in key order that does not enforce its key.
struct RepeatedKey {
  private var previous: [[UInt8]]? = nil
  private let count = 2

  /// Whether the row `statement` is on has the previous row's key; remembers its key.
  mutating func repeats(_ statement: SQLiteStatement) -> Bool {
    var key: [[UInt8]] = []
    key.reserveCapacity(count)
    for index in 0..<count {
      key.append(statement.withTextBytes(index) { $0.map { Array($0) } ?? [] })
    }
    defer { previous = key }
    return previous == key
  }
}

/// What ``SnapshotReader/validate(skipping:)`` checks of each column of a table, as a plan the
/// per-row check runs without touching the schema's Strings.
struct RowCheck {
  let table: SnapshotSchema.Table
  private enum Step: UInt8 { case text, decimal, date }
  /// Per column: what to check; `nullable` says whether NULL passes.
  private let steps: [(step: Step, nullable: Bool)]

  init(_ table: SnapshotSchema.Table) {
    self.table = table
    steps = table.columns.map { column in
      switch column.kind {
      case .text: return (.text, column.nullable)
      case .decimal: return (.decimal, column.nullable)
      case .date: return (.date, column.nullable)
      }
    }
  }

  /// The first bad value of the row: its column, the refusal's code and words. `decimals`
  /// (one entry per column) receives the decimal columns' values.
  func firstProblem(_ statement: SQLiteStatement, decimals: inout [ExactDecimal?]) -> (
    Int, SnapshotError.Code, String
  )? {
    steps.withUnsafeBufferPointer { steps in
      for index in 0..<steps.count {
        let (step, nullable) = steps[index]
        let storage = statement.storageClass(index)
        if storage == .null {
          if step == .decimal { decimals[index] = nil }
          if nullable { continue }
          return (index, .missingValue, SnapshotReader.isNULL)
        }
        switch step {
        case .text:
          let valid = statement.withTextBytes(index) { bytes in bytes.map { UTF8Check.isValid($0) } ?? true }
          if !valid { return (index, .invalidText, SnapshotReader.notUTF8) }
        case .decimal:
          let value =
            storage == .text ? statement.withTextBytes(index) { $0.flatMap { ExactDecimal.parse($0) } } : nil
          decimals[index] = value
          if value == nil { return (index, .malformedDecimal, SnapshotReader.notDecimal) }
        case .date:
          let valid =
            storage == .text && statement.withTextBytes(index) { $0.flatMap { CivilDate.parse($0) } != nil }
          if !valid { return (index, .malformedDate, SnapshotReader.notDate) }
        }
      }
      return nil
    }
  }
}
