import EODCore
import EODSQLite

/// Reads one snapshot file (schema version 1), read-only.
///
/// Opening checks the schema version and every table and column; ``validate()`` checks the
/// syntax of every decimal and date. Reading streams one account at a time, so memory does not
/// grow with the snapshot.
public final class SnapshotReader {
  public let path: String
  public let businessDate: CivilDate
  /// `snapshot_info.generated_at`, if present.
  public let generatedAt: String?
  let db: SQLiteConnection
  /// The file as it was before this connection read anything (``SnapshotFileIdentity``).
  public let identity: SnapshotFileIdentity

  /// Opens the snapshot read-only (`SQLITE_OPEN_READONLY` and `PRAGMA query_only`) and starts the
  /// connection's one read transaction, held until the reader is released: every query sees the
  /// same state of the file, and in rollback-journal mode no other connection can commit a change
  /// to it meanwhile. The file must be a regular file (checked first, without blocking).
  ///
  /// - Parameter expecting: the identity another reader of the same run recorded; a file whose
  ///   identity differs now (it changed in between) is refused (`changed-while-read`).
  public init(path: String, expecting: SnapshotFileIdentity? = nil) throws(SnapshotError) {
    self.path = path
    // The identity is taken before and after the connection takes its read lock: equal, no
    // commit came in between, and it is the state the connection reads. A file that keeps
    // changing while it is opened is refused.
    var opened: (SQLiteConnection, SnapshotFileIdentity)?
    // Checked before SQLite opens the file: opening a FIFO would block until a writer came.
    try SnapshotFileIdentity.checkRegular(path: path)
    for _ in 0..<5 {
      let connection: SQLiteConnection
      do {
        connection = try SQLiteConnection(path: path, mode: .readOnly)
        try connection.execute("PRAGMA query_only = 1; PRAGMA cache_size = -2000; PRAGMA temp_store = MEMORY")
      } catch {
        throw SnapshotError(code: .unreadable, path: path, detail: "cannot open: \(error.message)")
      }
      let before = try SnapshotFileIdentity.current(path: path, connection: connection)
      if let expecting, expecting != before {
        throw SnapshotError(
          code: .changedWhileRead, path: path,
          detail:
            "the file changed while the run read it (first read: \(expecting); now: \(before)): refused rather than mixing two states"
        )
      }
      do {
        // The first read takes the read lock, held until the connection is closed.
        try connection.execute("BEGIN DEFERRED")
        _ = try connection.scalarInt("SELECT COUNT(*) FROM sqlite_master")
      } catch {
        throw SnapshotError(code: .unreadable, path: path, detail: "cannot read: \(error.message)")
      }
      if try SnapshotFileIdentity.current(path: path, connection: connection) == before {
        opened = (connection, before)
        break
      }
    }
    guard let (connection, identity) = opened else {
      throw SnapshotError(
        code: .changedWhileRead, path: path,
        detail: "the file kept changing while it was opened (5 attempts): refused rather than mixing states")
    }
    db = connection
    self.identity = identity
    try SnapshotReader.checkSchema(db, path: path)
    let db = self.db
    do {
      let repeated = try db.prepare(
        "SELECT key, COUNT(*) FROM snapshot_info GROUP BY key HAVING COUNT(*) > 1 ORDER BY key LIMIT 1")
      if try repeated.step() {
        let key = repeated.text(0) ?? "NULL"
        throw SnapshotError(
          code: .duplicateKey, path: path, table: "snapshot_info", rowKey: key, column: "key",
          detail: "key '\(key.prefix(60))' appears in more than one row: \(SnapshotReader.notUnique)")
      }
    } catch let error as SnapshotError {
      throw error
    } catch {
      throw SnapshotError(code: .unreadable, path: path, table: "snapshot_info", detail: "\(error)")
    }
    func info(_ key: String) throws(SnapshotError) -> String? {
      do {
        return try db.scalarText("SELECT value FROM snapshot_info WHERE key = ?", [.text(key)])
      } catch {
        throw SnapshotError(code: .unreadable, path: path, table: "snapshot_info", detail: error.message)
      }
    }
    guard let version = try info("schema_version") else {
      throw SnapshotError(
        code: .missingValue, path: path, table: "snapshot_info", rowKey: "schema_version", column: "value",
        detail: "no schema_version row")
    }
    guard version == SnapshotSchema.version else {
      throw SnapshotError(
        code: .unsupportedSchemaVersion, path: path, table: "snapshot_info", rowKey: "schema_version",
        column: "value", detail: "schema version '\(version)' is not supported (expected '1')")
    }
    guard let dateText = try info("business_date") else {
      throw SnapshotError(
        code: .missingValue, path: path, table: "snapshot_info", rowKey: "business_date", column: "value",
        detail: "no business_date row")
    }
    guard let date = CivilDate(dateText) else {
      throw SnapshotError(
        code: .malformedDate, path: path, table: "snapshot_info", rowKey: "business_date", column: "value",
        detail: "'\(dateText.prefix(40))' is not a YYYY-MM-DD date")
    }
    businessDate = date
    generatedAt = try info("generated_at")
  }

  /// Refuses the snapshot if the file is no longer as it was when this reader opened it (a write
  /// to the file or its WAL, or another file put at its path): called when a reader's work is
  /// done, before anything read from it is put in place.
  public func verifyUnchanged() throws(SnapshotError) {
    let now = try SnapshotFileIdentity.current(path: path, connection: db)
    guard now == identity else {
      throw SnapshotError(
        code: .changedWhileRead, path: path,
        detail:
          "the file changed while the run read it (before: \(identity); after: \(now)): refused rather than mixing two states"
      )
    }
  }

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

  /// Refuses a row of `table` that names a firm, client or account the snapshot lacks: the
  /// smallest unknown value of each referencing column, then its first row. Each distinct value
  /// is looked up once (a position's account_id is read from the index on it), not every row.
  func checkReferences(_ table: SnapshotSchema.Table) throws(SnapshotError) {
    let key = table.key.map { "COALESCE(CAST(\($0) AS TEXT), 'NULL')" }.joined(separator: " || '/' || ")
    for column in table.columns {
      guard let target = table.references[column.name],
        let targetKey = SnapshotSchema.table(target)?.key.first
      else { continue }
      let name = column.name
      do {
        let unknown = try db.prepare(
          """
          SELECT v FROM (SELECT DISTINCT \(name) AS v FROM \(table.name) WHERE \(name) IS NOT NULL)
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

  /// A failure while reading `table` as a ``SnapshotError``: kept as is, or SQLite's own.
  func snapshotError(_ error: any Error, table: String?) -> SnapshotError {
    switch error {
    case let error as SnapshotError: return error
    case let error as SQLiteError:
      return SnapshotError(code: .unreadable, path: path, table: table, detail: error.message)
    default: return SnapshotError(code: .unreadable, path: path, table: table, detail: "\(error)")
    }
  }

  /// The firms, sorted by firm_id.
  public func firms() throws(SnapshotError) -> [Firm] {
    var firms: [Firm] = []
    do {
      let statement = try db.prepare("SELECT firm_id, name, base_currency FROM firms ORDER BY firm_id")
      while try statement.step() {
        let firm = Firm(
          id: statement.text(0) ?? "", name: statement.text(1) ?? "", baseCurrency: statement.text(2) ?? "")
        // In key order, a repeated firm_id (a table that does not enforce its key) is the last one.
        if let last = firms.last, last.id == firm.id, statement.compareText(0, Array(last.id.utf8)) == 0 {
          throw SnapshotError(
            code: .duplicateKey, path: path, table: "firms", rowKey: firm.id, column: "firm_id",
            detail: "key '\(firm.id.prefix(80))' appears in more than one row: \(SnapshotReader.notUnique)")
        }
        firms.append(firm)
      }
    } catch {
      throw snapshotError(error, table: "firms")
    }
    return firms
  }

  /// Instruments with their selected prices, and the FX rates, for the business date.
  public func referenceData() throws(SnapshotError) -> ReferenceData {
    var instruments: [String: Instrument] = [:]
    var prices: [String: SelectedPrice] = [:]
    let date = businessDate
    do {
      let statement = try db.prepare(
        """
        SELECT instrument_id, MAX(price_date), price FROM prices WHERE price_date <= ?1
        GROUP BY instrument_id
        """)
      try statement.bind([.text(date.description)])
      while try statement.step() {
        let id = statement.text(0) ?? ""
        let dateText = statement.text(1) ?? ""
        let priceDate = try self.date(
          statement, 1, table: "prices", key: "\(id)/\(dateText)", column: "price_date")
        let price = try decimal(statement, 2, table: "prices", key: "\(id)/\(dateText)", column: "price")
        prices[id] = SelectedPrice(
          price: price, date: priceDate,
          status: PriceSelection.status(price: price, priceDate: priceDate, businessDate: date))
      }
    } catch {
      throw snapshotError(error, table: "prices")
    }
    do {
      let statement = try db.prepare(
        "SELECT instrument_id, isin, sedol, name, asset_class, currency, quote_factor FROM instruments")
      while try statement.step() {
        let id = statement.text(0) ?? ""
        let factor = try decimal(statement, 6, table: "instruments", key: id, column: "quote_factor")
        instruments[id] = Instrument(
          id: id, isin: statement.text(1), sedol: statement.text(2), name: statement.text(3) ?? "",
          assetClass: statement.text(4) ?? "", currency: statement.text(5) ?? "", quoteFactor: factor,
          price: prices[id])
      }
    } catch {
      throw snapshotError(error, table: "instruments")
    }
    var fx = FXTable(businessDate: date)
    do {
      let statement = try db.prepare(
        "SELECT rate_date, base_currency, quote_currency, rate FROM fx_rates WHERE rate_date <= ?1")
      try statement.bind([.text(date.description)])
      while try statement.step() {
        let dateText = statement.text(0) ?? ""
        let base = statement.text(1) ?? ""
        let quote = statement.text(2) ?? ""
        let key = "\(dateText)/\(base)/\(quote)"
        let rateDate = try self.date(statement, 0, table: "fx_rates", key: key, column: "rate_date")
        let rate = try decimal(statement, 3, table: "fx_rates", key: key, column: "rate")
        fx.offer(date: rateDate, base: base, quote: quote, rate: rate)
      }
    } catch {
      throw snapshotError(error, table: "fx_rates")
    }
    return ReferenceData(businessDate: date, instruments: instruments, fx: fx)
  }

  func decimal(
    _ statement: SQLiteStatement, _ index: Int, table: String, key: @autoclosure () -> String, column: String
  ) throws(SnapshotError) -> ExactDecimal {
    let value = statement.withTextBytes(index) { bytes in bytes.flatMap { ExactDecimal.parse($0) } }
    guard let value else {
      throw SnapshotError(
        code: .malformedDecimal, path: path, table: table, rowKey: key(), column: column,
        detail: "value '\(statement.text(index)?.prefix(60) ?? "NULL")' \(SnapshotReader.notDecimal)")
    }
    return value
  }

  func optionalDecimal(
    _ statement: SQLiteStatement, _ index: Int, table: String, key: @autoclosure () -> String, column: String
  ) throws(SnapshotError) -> ExactDecimal? {
    if statement.isNull(index) { return nil }
    return try decimal(statement, index, table: table, key: key(), column: column)
  }

  func date(
    _ statement: SQLiteStatement, _ index: Int, table: String, key: @autoclosure () -> String, column: String
  ) throws(SnapshotError) -> CivilDate {
    let value = statement.withTextBytes(index) { bytes in bytes.flatMap { CivilDate.parse($0) } }
    guard let value else {
      throw SnapshotError(
        code: .malformedDate, path: path, table: table, rowKey: key(), column: column,
        detail: "value '\(statement.text(index)?.prefix(40) ?? "NULL")' is not a YYYY-MM-DD date")
    }
    return value
  }

  /// A cursor over one firm's accounts, sorted by account_id, each with its positions, cash and
  /// transactions.
  public func accounts(ofFirm firmID: String) throws(SnapshotError) -> AccountCursor {
    try AccountCursor(reader: self, firmIDs: [firmID])
  }

  /// A cursor over the accounts of several firms (nil: every firm), sorted by account_id, each
  /// with its positions, cash and transactions (``Account/firmID`` says whose it is).
  ///
  /// More than one firm is read in **one pass** over each table in key order: a firm's rows are
  /// spread over the whole file (accounts of all firms interleave), so one query per firm would
  /// read every page once per firm.
  public func accounts(ofFirms firmIDs: Set<String>?) throws(SnapshotError) -> AccountCursor {
    try AccountCursor(reader: self, firmIDs: firmIDs)
  }
}

/// Streams accounts one at a time (see ``SnapshotReader/accounts(ofFirms:)``).
public final class AccountCursor {
  let reader: SnapshotReader
  let accounts: SQLiteStatement
  let positions: SQLiteStatement
  let cash: SQLiteStatement
  let transactions: SQLiteStatement
  /// Firms whose accounts are returned; nil is every firm.
  let wanted: Set<String>?
  /// Whether every row of positions and cash balances is read (all firms, or several), and so
  /// checked as ``SnapshotReader/validate(skipping:)`` would check it, before it is used or
  /// skipped: a bad value ends the cursor with that refusal (the first in key order).
  public let checksRows: Bool

  /// Whether a cursor over `firmIDs` (nil: every firm) reads, and so checks, every row
  /// (``checksRows``): known before the cursor is made.
  public static func checksRows(firmIDs: Set<String>?) -> Bool { firmIDs?.count != 1 }
  private let positionsCheck: RowCheck?
  private let cashCheck: RowCheck?
  /// The key of the previous positions and cash row, when the table does not enforce its key and
  /// the cursor checks rows: a repeated key is adjacent in key order.
  private var positionsKeys: RepeatedKey?
  private var cashKeys: RepeatedKey?
  /// The decimals of the positions and cash rows the cursor is on, parsed by the check.
  private var positionsDecimals: [ExactDecimal?] = Array(repeating: nil, count: 5)
  private var cashDecimals: [ExactDecimal?] = Array(repeating: nil, count: 3)
  var positionsPending: Bool
  var cashPending: Bool
  var transactionsPending: Bool

  init(reader: SnapshotReader, firmIDs: Set<String>?) throws(SnapshotError) {
    self.reader = reader
    let db = reader.db
    wanted = firmIDs
    checksRows = AccountCursor.checksRows(firmIDs: firmIDs)
    let positionsCheck = checksRows ? SnapshotSchema.table("positions").map(RowCheck.init) : nil
    let cashCheck = checksRows ? SnapshotSchema.table("cash_balances").map(RowCheck.init) : nil
    self.positionsCheck = positionsCheck
    self.cashCheck = cashCheck
    // SQLite keeps a key unique where it has a unique index on it: no check needed there.
    if let check = positionsCheck, try !reader.enforcesKey(check.table) { positionsKeys = RepeatedKey() }
    if let check = cashCheck, try !reader.enforcesKey(check.table) { cashKeys = RepeatedKey() }
    do {
      let accountColumns = """
        a.account_id, a.client_id, a.wrapper, a.currency, a.opened_on, a.closed_on, a.external_ref,
        c.external_ref, c.client_id IS NOT NULL AND c.firm_id = a.firm_id, a.firm_id
        """
      if let firmIDs, firmIDs.count == 1, let firmID = firmIDs.first {
        // One firm: its rows only, through the accounts_by_firm index.
        accounts = try db.prepare(
          """
          SELECT \(accountColumns)
          FROM accounts a LEFT JOIN clients c ON c.client_id = a.client_id
          WHERE a.firm_id = ?1 ORDER BY a.account_id
          """)
        positions = try db.prepare(
          """
          SELECT p.account_id, p.instrument_id, p.quantity, p.book_cost, p.external_ref
          FROM accounts a JOIN positions p ON p.account_id = a.account_id
          WHERE a.firm_id = ?1 ORDER BY p.account_id, p.instrument_id
          """)
        cash = try db.prepare(
          """
          SELECT b.account_id, b.currency, b.balance
          FROM accounts a JOIN cash_balances b ON b.account_id = a.account_id
          WHERE a.firm_id = ?1 ORDER BY b.account_id, b.currency
          """)
        transactions = try db.prepare(
          """
          SELECT t.account_id, t.transaction_id, t.type, t.status, t.trade_date, t.settle_date, t.instrument_id,
                 t.quantity, t.amount, t.currency, t.external_ref
          FROM accounts a JOIN transactions t ON t.account_id = a.account_id
          WHERE a.firm_id = ?1 ORDER BY t.account_id, t.trade_date, t.transaction_id
          """)
        for statement in [accounts, positions, cash, transactions] { try statement.bind([.text(firmID)]) }
      } else {
        // Several firms: one scan of each table in primary-key order. Rows of accounts that are
        // not in the accounts table are skipped by the merge, as the per-firm join leaves them out.
        accounts = try db.prepare(
          """
          SELECT \(accountColumns)
          FROM accounts a LEFT JOIN clients c ON c.client_id = a.client_id
          ORDER BY a.account_id
          """)
        positions = try db.prepare(
          """
          SELECT account_id, instrument_id, quantity, book_cost, external_ref
          FROM positions ORDER BY account_id, instrument_id
          """)
        cash = try db.prepare(
          "SELECT account_id, currency, balance FROM cash_balances ORDER BY account_id, currency")
        transactions = try db.prepare(
          """
          SELECT account_id, transaction_id, type, status, trade_date, settle_date, instrument_id,
                 quantity, amount, currency, external_ref
          FROM transactions ORDER BY account_id, trade_date, transaction_id
          """)
      }
      positionsPending = try positions.step()
      cashPending = try cash.step()
      transactionsPending = try transactions.step()
    } catch {
      throw SnapshotError(code: .unreadable, path: reader.path, detail: error.message)
    }
    try checkPositionsRow()
    try checkCashRow()
  }

  private func checkPositionsRow() throws(SnapshotError) {
    if positionsPending, let check = positionsCheck {
      try reader.checkRow(positions, check, decimals: &positionsDecimals)
      if positionsKeys != nil, positionsKeys?.repeats(positions) == true {
        throw reader.duplicateRow(positions, check.table)
      }
    }
  }

  private func checkCashRow() throws(SnapshotError) {
    if cashPending, let check = cashCheck {
      try reader.checkRow(cash, check, decimals: &cashDecimals)
      if cashKeys != nil, cashKeys?.repeats(cash) == true { throw reader.duplicateRow(cash, check.table) }
    }
  }

  /// A positions or cash row whose account_id is in no account (the merge passed it): refused
  /// when the cursor checks rows.
  private func orphan(_ statement: SQLiteStatement, _ check: RowCheck?) -> SnapshotError? {
    guard let check else { return nil }
    return reader.unknownAccount(statement, check.table)
  }

  /// Every row the cursor lands on is checked once, whether it is used or skipped.
  private func stepPositions() throws {
    positionsPending = try positions.step()
    try checkPositionsRow()
  }

  private func stepCash() throws {
    cashPending = try cash.step()
    try checkCashRow()
  }

  /// Steps every child cursor past the rows of the account `id` (not wanted).
  private func skipRows(of id: [UInt8]) throws {
    while positionsPending, let order = positions.compareText(0, id), order <= 0 {
      if order < 0, let error = orphan(positions, positionsCheck) { throw error }
      try stepPositions()
    }
    while cashPending, let order = cash.compareText(0, id), order <= 0 {
      if order < 0, let error = orphan(cash, cashCheck) { throw error }
      try stepCash()
    }
    while transactionsPending, let order = transactions.compareText(0, id), order <= 0 {
      transactionsPending = try transactions.step()
    }
  }

  /// The next account, or nil at the end.
  public func next() throws(SnapshotError) -> AccountBundle? {
    let r = reader
    do {
      var id = ""
      var firmID = ""
      while true {
        guard try accounts.step() else {
          // Rows after the last account are of no account: refused when rows are checked.
          if positionsPending, let error = orphan(positions, positionsCheck) { throw error }
          if cashPending, let error = orphan(cash, cashCheck) { throw error }
          return nil
        }
        id = accounts.text(0) ?? ""
        firmID = accounts.text(9) ?? ""
        if wanted?.contains(firmID) ?? true { break }
        try skipRows(of: Array(id.utf8))
      }
      // Child rows are matched to the account byte-wise, in SQLite's (BINARY) order.
      let idBytes = Array(id.utf8)
      let account = Account(
        id: id, firmID: firmID, clientID: accounts.text(1) ?? "", wrapper: accounts.text(2) ?? "",
        currency: accounts.text(3) ?? "",
        openedOn: try r.date(accounts, 4, table: "accounts", key: id, column: "opened_on"),
        closedOn: accounts.isNull(5)
          ? nil : try r.date(accounts, 5, table: "accounts", key: id, column: "closed_on"),
        externalRef: accounts.text(6), clientExternalRef: accounts.text(7),
        clientKnown: accounts.int64(8) != 0)
      var bundle = AccountBundle(account: account, positions: [], cash: [], transactions: [])
      while positionsPending, let order = positions.compareText(0, idBytes), order <= 0 {
        if order < 0, let error = orphan(positions, positionsCheck) { throw error }
        if order == 0 {
          let instrument = positions.text(1) ?? ""
          bundle.positions.append(
            Position(
              instrumentID: instrument,
              // Parsed by the row's check when there is one.
              quantity: try positionsDecimals[2]
                ?? r.decimal(positions, 2, table: "positions", key: "\(id)/\(instrument)", column: "quantity"),
              bookCost: try positionsDecimals[3]
                ?? r.decimal(
                  positions, 3, table: "positions", key: "\(id)/\(instrument)", column: "book_cost"),
              externalRef: positions.text(4)))
        }
        try stepPositions()
      }
      while cashPending, let order = cash.compareText(0, idBytes), order <= 0 {
        if order < 0, let error = orphan(cash, cashCheck) { throw error }
        if order == 0 {
          let currency = cash.text(1) ?? ""
          bundle.cash.append(
            CashBalance(
              currency: currency,
              balance: try cashDecimals[2]
                ?? r.decimal(cash, 2, table: "cash_balances", key: "\(id)/\(currency)", column: "balance")))
        }
        try stepCash()
      }
      while transactionsPending, let order = transactions.compareText(0, idBytes), order <= 0 {
        if order == 0 {
          let txID = transactions.text(1) ?? ""
          bundle.transactions.append(
            Transaction(
              id: txID, type: transactions.text(2) ?? "", status: transactions.text(3) ?? "",
              tradeDate: try r.date(transactions, 4, table: "transactions", key: txID, column: "trade_date"),
              settleDate: try r.date(
                transactions, 5, table: "transactions", key: txID, column: "settle_date"),
              instrumentID: transactions.text(6),
              quantity: try r.optionalDecimal(
                transactions, 7, table: "transactions", key: txID, column: "quantity"),
              amount: try r.decimal(transactions, 8, table: "transactions", key: txID, column: "amount"),
              currency: transactions.text(9) ?? "", externalRef: transactions.text(10)))
        }
        transactionsPending = try transactions.step()
      }
      return bundle
    } catch {
      throw r.snapshotError(error, table: nil)
    }
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
