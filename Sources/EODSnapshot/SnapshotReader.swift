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
  /// - Parameter cacheKibibytes: the connection's page cache.
  public init(path: String, expecting: SnapshotFileIdentity? = nil, cacheKibibytes: Int = 2000)
    throws(SnapshotError)
  {
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
        try connection.execute(
          "PRAGMA query_only = 1; PRAGMA cache_size = -\(max(100, cacheKibibytes)); PRAGMA temp_store = MEMORY"
        )
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
  /// transactions (read through the accounts_by_firm index; SQLite sorts the firm's rows).
  public func accounts(ofFirm firmID: String) throws(SnapshotError) -> AccountCursor {
    try AccountCursor(reader: self, firmIDs: [firmID])
  }

  /// Each firm's size, for planning a sharded night: its accounts and their positions, by
  /// firm_id (firms without accounts are absent).
  public func firmSizes() throws(SnapshotError) -> [String: (accounts: Int, positions: Int)] {
    var sizes: [String: (accounts: Int, positions: Int)] = [:]
    do {
      let accounts = try db.prepare(
        "SELECT firm_id, COUNT(*) FROM accounts WHERE firm_id IS NOT NULL GROUP BY firm_id")
      while try accounts.step() {
        sizes[accounts.text(0) ?? "", default: (0, 0)].accounts = Int(accounts.int64(1))
      }
      let positions = try db.prepare(
        """
        SELECT a.firm_id, COUNT(*) FROM positions p JOIN accounts a ON a.account_id = p.account_id
        WHERE a.firm_id IS NOT NULL GROUP BY a.firm_id
        """)
      while try positions.step() {
        sizes[positions.text(0) ?? "", default: (0, 0)].positions = Int(positions.int64(1))
      }
    } catch {
      throw snapshotError(error, table: "positions")
    }
    return sizes
  }

  /// The rows of `table` (one of the schema's tables).
  public func rowCount(_ table: String) throws(SnapshotError) -> Int {
    guard SnapshotSchema.table(table) != nil else {
      throw SnapshotError(code: .unreadable, path: path, table: table, detail: "not a table of the schema")
    }
    do {
      return Int(try db.scalarInt("SELECT COUNT(*) FROM \(table)") ?? 0)
    } catch {
      throw snapshotError(error, table: table)
    }
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
