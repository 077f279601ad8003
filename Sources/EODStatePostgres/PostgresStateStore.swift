import EODCore
import EODState
import Foundation
import Logging
import PostgresNIO

/// The state store in a PostgreSQL database: the contract of ``StateStoring`` (the same
/// behaviour as the SQLite ``StateStore``, proved by the contract tests), for a platform whose
/// nights run on several hosts or in containers.
///
/// One value is one connection (see ``PostgresSession``). Writes outside ``beginWrite()`` are
/// each one transaction; inside it, each call is a savepoint, so a failed statement undoes only
/// itself, as in SQLite. A night's history is written in multi-row statements.
public final class PostgresStateStore: StateStoring {
  let session: PostgresSession
  public let url: PostgresURL
  public var location: String { url.description }
  let logger: Logger
  /// The write transaction of ``beginWrite()`` is open.
  private var writing = false
  /// ``holdReads()``: the night's reads see data that does not change under them (the night's own
  /// writes are on another connection, uncommitted), so each account's `latest` row, read with its
  /// key, is kept until the next account.
  private var holdingReads = false
  private var latestCache: (key: Int64, record: PerformanceRecord?)?
  private var keyCache: [String: Int64] = [:]
  /// The batch of ``readAhead(accountIDs:date:)`` (PostgresReadAhead.swift), until the next batch,
  /// write or ``releaseReads()``.
  var readAheadBatch: ReadAhead?
  /// A read-ahead failed on this connection: it is not tried again.
  var readAheadFailed = false
  var heldLocks: Set<Int64> = []
  private var savepoints = 0

  /// Connects to the store at `url` and checks its schema version (an older or newer schema is
  /// refused: see ``PostgresSchema``).
  public init(url: PostgresURL, logger: Logger, checkSchema: Bool = true) throws(StateStoreError) {
    self.url = url
    self.logger = logger
    let host = ProcessInfo.processInfo.hostName
    session = try PostgresSession(
      url: url, applicationName: "eod-extract \(host) pid \(ProcessInfo.processInfo.processIdentifier)",
      logger: logger)
    if checkSchema { try PostgresSchema.check(session) }
  }

  /// Applies the schema's missing migrations (`eod-extract migrate-state`): returns the version
  /// found and the version now.
  public static func migrate(url: PostgresURL, logger: Logger) throws(StateStoreError) -> (from: Int, to: Int)
  {
    let store = try PostgresStateStore(url: url, logger: logger, checkSchema: false)
    let who =
      "eod-extract on \(ProcessInfo.processInfo.hostName) pid \(ProcessInfo.processInfo.processIdentifier)"
    return try PostgresSchema.migrate(store.session, by: who)
  }

  /// Statements sent on this connection so far.
  public var statementCount: Int { session.statements }

  public func openReader(small: Bool) throws(StateStoreError) -> any StateStoring {
    try PostgresStateStore(url: url, logger: logger, checkSchema: false)
  }

  // MARK: Transactions

  public func beginWrite() throws(StateStoreError) {
    releaseReads()
    try session.query("begin write", "BEGIN")
    writing = true
  }

  public func commitWrite() throws(StateStoreError) {
    guard writing else { return }
    writing = false
    let result = try session.result("commit", "COMMIT")
    // A transaction an error ended is rolled back by the server on COMMIT: nothing was kept.
    if result.metadata.command == "ROLLBACK" {
      throw StateStoreError(
        code: .unavailable, path: location, step: "commit",
        detail: "the transaction had failed and was rolled back: nothing written is kept")
    }
  }

  public func rollbackWrite() {
    guard writing else { return }
    writing = false
    _ = try? session.query("rollback", "ROLLBACK")
  }

  public var inTransaction: Bool { writing && !session.connection.isClosed }

  /// Inside the write transaction of ``beginWrite()`` (as SQLite's savepoint, which needs one).
  public func savepoint<T>(_ step: String, _ body: () throws -> T) throws(StateStoreError) -> T {
    guard writing else {
      throw StateStoreError(
        code: .unavailable, path: location, step: step, detail: "a savepoint needs the write transaction")
    }
    return try transaction(step, body)
  }

  public func transaction<T>(_ step: String, _ body: () throws -> T) throws(StateStoreError) -> T {
    do { return try rethrowingTransaction(step, body) } catch {
      throw PostgresSession.stateError(error, url: url, step: step)
    }
  }

  /// ``transaction(_:_:)`` that throws `body`'s own error as it is (a savepoint when the write
  /// transaction is open).
  func rethrowingTransaction<T>(_ step: String, _ body: () throws -> T) throws -> T {
    releaseReads()
    let name: String?
    if writing {
      savepoints += 1
      name = "s\(savepoints)"
      try session.query(step, "SAVEPOINT s\(savepoints)")
    } else {
      name = nil
      try beginWrite()
    }
    defer { if name != nil { savepoints -= 1 } }
    do {
      let result = try body()
      if let name { try session.query(step, "RELEASE SAVEPOINT \(name)") } else { try commitWrite() }
      return result
    } catch {
      if let name {
        _ = try? session.query(step, "ROLLBACK TO SAVEPOINT \(name)")
        _ = try? session.query(step, "RELEASE SAVEPOINT \(name)")
      } else {
        rollbackWrite()
      }
      throw error
    }
  }

  /// Several statements as one: a savepoint inside the write transaction, else a transaction.
  func atomically<T>(_ step: String, _ body: () throws(StateStoreError) -> T) throws(StateStoreError) -> T {
    try transaction(step) { () throws -> T in try body() }
  }

  public func holdReads() throws(StateStoreError) {
    guard !holdingReads, !writing else { return }
    holdingReads = true
    latestCache = nil
  }

  public func releaseReads() {
    holdingReads = false
    latestCache = nil
    readAheadBatch = nil
  }

  public func checkpoint(passive: Bool) throws(StateStoreError) {}

  // MARK: Accounts

  public func accountKey(_ accountID: String, firmID: String, remember: Bool) throws(StateStoreError) -> Int64
  {
    if let key = keyCache[accountID] { return key }
    let key = try accountKeys([accountID], firmID: firmID)[0]
    if remember { keyCache[accountID] = key }
    return key
  }

  /// One statement inserts the new accounts and returns their keys; the keys of those that were
  /// there already (none on a night: their keys came with the night's reads) are read in a second.
  public func accountKeys(_ accounts: [(accountID: String, firmID: String)]) throws(StateStoreError)
    -> [Int64]
  {
    guard !accounts.isEmpty else { return [] }
    let accountIDs = accounts.map(\.accountID)
    let step = "account key"
    var keys: [String: Int64] = [:]
    try atomically(step) { () throws(StateStoreError) in
      let added = try session.query(
        step,
        """
        INSERT INTO accounts(account_id, firm_id)
        SELECT id, firm FROM unnest($1::text[], $2::text[]) AS u(id, firm)
        ON CONFLICT (account_id) DO NOTHING RETURNING account_id, account_key
        """, [.texts(accountIDs), .texts(accounts.map(\.firmID))])
      for row in added {
        let cells = Cells(row, session, step)
        keys[try cells.text(0)] = try cells.int(1)
      }
      let known = Array(Set(accountIDs.filter { keys[$0] == nil })).sorted()
      guard !known.isEmpty else { return }
      for row in try session.query(
        step, "SELECT account_id, account_key FROM accounts WHERE account_id = ANY($1::text[])",
        [.texts(known)])
      {
        let cells = Cells(row, session, step)
        keys[try cells.text(0)] = try cells.int(1)
      }
    }
    var out: [Int64] = []
    out.reserveCapacity(accountIDs.count)
    for id in accountIDs {
      guard let key = keys[id] else {
        throw StateStoreError(
          code: .unavailable, path: location, step: step, detail: "account \(id) could not be added")
      }
      out.append(key)
    }
    return out
  }

  /// The account's key; while reads are held, its `latest` row comes in the same statement and
  /// is kept for the night's next reads of the account.
  public func existingAccountKey(_ accountID: String, remember: Bool) throws(StateStoreError) -> Int64? {
    if let key = keyCache[accountID] { return key }
    if let known = readAheadBatch?.keys[accountID] {
      if remember, let known { keyCache[accountID] = known }
      return known
    }
    let step = "account key"
    let key: Int64?
    if holdingReads {
      let rows = try session.query(
        step,
        "SELECT a.account_key, \(Self.columns("l")) FROM accounts a LEFT JOIN latest l USING (account_key) "
          + "WHERE a.account_id = $1", [.text(accountID)])
      guard let row = rows.first else { return nil }
      let cells = Cells(row, session, step)
      let found = try cells.int(0)
      latestCache = (found, try optionalRecord(cells, at: 1))
      key = found
    } else {
      let rows = try session.query(
        step, "SELECT account_key FROM accounts WHERE account_id = $1", [.text(accountID)])
      key = try rows.first.map { row throws(StateStoreError) in try Cells(row, session, step).int(0) }
    }
    if remember, let key { keyCache[accountID] = key }
    return key
  }

  // MARK: History

  static let recordNames = [
    "day", "kind", "value", "flow", "flow_in", "daily_return", "undefined", "g_month", "g_quarter", "g_year",
    "idx", "zeros", "start_day", "origin_day",
  ]

  /// The record columns (``recordNames``), qualified by `table` when given.
  static func columns(_ table: String? = nil) -> String {
    recordNames.map { (table.map { $0 + "." } ?? "") + $0 }.joined(separator: ", ")
  }

  func readRecord(_ c: Cells, at o: Int = 0) throws(StateStoreError) -> PerformanceRecord {
    PerformanceRecord(
      date: CivilDate(dayNumber: Int(try c.value(o, Int32.self))),
      kind: Self.kind(Int64(try c.value(o + 1, Int16.self))),
      value: Money(cents: try c.int(o + 2)),
      flow: Money(cents: try c.int(o + 3)),
      flowIn: Money(cents: try c.int(o + 4)),
      dailyReturn: try c.optionalReal(o + 5), undefinedReturn: try c.value(o + 6, Bool.self),
      growthMonth: try c.real(o + 7), growthQuarter: try c.real(o + 8), growthYear: try c.real(o + 9),
      index: try c.real(o + 10), zeroFactors: Int(try c.value(o + 11, Int32.self)),
      startDate: CivilDate(dayNumber: Int(try c.value(o + 12, Int32.self))),
      flowOrigin: CivilDate(dayNumber: Int(try c.value(o + 13, Int32.self))))
  }

  /// The record whose columns start at `offset`, or nil when its day is null (an outer join
  /// that found none).
  func optionalRecord(_ cells: Cells, at offset: Int) throws(StateStoreError) -> PerformanceRecord? {
    guard try cells.value(offset, Int32?.self) != nil else { return nil }
    return try readRecord(cells, at: offset)
  }

  static func kind(_ code: Int64) -> PerformanceRecord.Kind {
    switch code {
    case 0: return .baseline
    case 1: return .opening
    default: return .regular
    }
  }

  static func code(_ kind: PerformanceRecord.Kind) -> Int64 {
    switch kind {
    case .baseline: return 0
    case .opening: return 1
    case .regular: return 2
    }
  }

  /// One record, or none, from a statement selecting ``columns(_:)``.
  func oneRecord(_ step: String, _ sql: String, _ values: [SQLValue]) throws(StateStoreError)
    -> PerformanceRecord?
  {
    guard let row = try session.query(step, sql, values).first else { return nil }
    return try readRecord(Cells(row, session, step))
  }

  func manyRecords(_ step: String, _ sql: String, _ values: [SQLValue]) throws(StateStoreError)
    -> [PerformanceRecord]
  {
    var out: [PerformanceRecord] = []
    for row in try session.query(step, sql, values) { out.append(try readRecord(Cells(row, session, step))) }
    return out
  }

  public func latestRecord(account key: Int64) throws(StateStoreError) -> PerformanceRecord? {
    if holdingReads, let cached = latestCache, cached.key == key { return cached.record }
    let record = try oneRecord(
      "read history", "SELECT \(Self.columns()) FROM latest WHERE account_key = $1", [.int(key)])
    if holdingReads { latestCache = (key, record) }
    return record
  }

  /// The account's latest record on or before `day`, not before `lowest`.
  func lastRecord(account key: Int64, onOrBefore day: Int, notBefore lowest: Int) throws(StateStoreError)
    -> PerformanceRecord?
  {
    try oneRecord(
      "read history",
      """
      SELECT \(Self.columns()) FROM history WHERE account_key = $1 AND day <= $2 AND day >= $3
      ORDER BY day DESC LIMIT 1
      """, [.int(key), .int(Int64(day)), .int(Int64(lowest))])
  }

  public func record(before date: CivilDate, account key: Int64) throws(StateStoreError) -> PerformanceRecord?
  {
    if let ahead = readAhead(key), ahead.batch.date == date { return ahead.account.previous }
    guard let latest = try latestRecord(account: key) else { return nil }
    if latest.date < date { return latest }
    return try lastRecord(
      account: key, onOrBefore: date.dayNumber - 1, notBefore: min(latest.flowOrigin, latest.date).dayNumber)
  }

  public func record(at date: CivilDate, account key: Int64) throws(StateStoreError) -> PerformanceRecord? {
    if let ahead = readAhead(key), ahead.account.origin == date.dayNumber { return ahead.account.atOrigin }
    return try oneRecord(
      "read history", "SELECT \(Self.columns()) FROM history WHERE account_key = $1 AND day = $2",
      [.int(key), .int(Int64(date.dayNumber))])
  }

  public func windowStart(onOrBefore date: CivilDate, account key: Int64) throws(StateStoreError)
    -> Performance.WindowStart?
  {
    if let ahead = readAhead(key), ahead.batch.windowDay == date { return ahead.account.windowStart }
    guard let latest = try latestRecord(account: key) else { return nil }
    var found: PerformanceRecord? = latest
    if latest.date > date {
      found = try lastRecord(
        account: key, onOrBefore: date.dayNumber, notBefore: min(latest.flowOrigin, latest.date).dayNumber)
    }
    return found.map { Performance.WindowStart(index: $0.index, zeroFactors: $0.zeroFactors) }
  }

  public func flows(account key: Int64, after origin: CivilDate, before date: CivilDate)
    throws(StateStoreError)
    -> [(date: CivilDate, flow: Money)]
  {
    if let ahead = readAhead(key), ahead.batch.date == date, ahead.account.origin == origin.dayNumber {
      return ahead.account.flows
    }
    let step = "read flows"
    var out: [(date: CivilDate, flow: Money)] = []
    for row in try session.query(
      step, "SELECT day, flow FROM flows WHERE account_key = $1 AND day >= $2 AND day < $3 ORDER BY day",
      [.int(key), .int(Int64(origin.dayNumber)), .int(Int64(date.dayNumber))])
    {
      let cells = Cells(row, session, step)
      out.append(
        (CivilDate(dayNumber: Int(try cells.value(0, Int32.self))), Money(cents: try cells.int(1))))
    }
    return out
  }

  public func save(_ record: PerformanceRecord, account key: Int64, replacing: Bool) throws(StateStoreError) {
    try atomically("write history") { () throws(StateStoreError) in
      try save([(record, key)])
      guard replacing, record.kind == .baseline || record.flow.cents == 0 else { return }
      // An earlier record of the date may have had a flow this one has not.
      try session.query(
        "write history", "DELETE FROM flows WHERE account_key = $1 AND day = $2",
        [.int(key), .int(Int64(record.date.dayNumber))])
    }
  }

  /// Rows per statement (a bounded message however large the batch).
  static let rowsPerStatement = 1000

  /// The night's records: per statement up to ``rowsPerStatement`` rows into `history`, the same
  /// into `latest` (kept only when not older than the row there), and the flows in one more.
  public func save(_ batch: [(record: PerformanceRecord, account: Int64)]) throws(StateStoreError) {
    guard !batch.isEmpty else { return }
    let step = "write history"
    try atomically(step) { () throws(StateStoreError) in
      var start = 0
      while start < batch.count {
        // One statement may not name the same row twice: a repeated account starts the next.
        var seen: Set<Int64> = []
        var end = start
        while end < batch.count, end - start < Self.rowsPerStatement, seen.insert(batch[end].account).inserted
        {
          end += 1
        }
        try write(batch[start..<end], step: step)
        start = end
      }
    }
  }

  private func write(_ rows: ArraySlice<(record: PerformanceRecord, account: Int64)>, step: String)
    throws(StateStoreError)
  {
    // One array per column: the statement's text and its 16 parameters are the same whatever the
    // number of rows (a VALUES list of 15 parameters a row is parsed and planned anew each time,
    // which made the server the night's bottleneck).
    var keys: [Int64] = [], days: [Int64] = [], kinds: [Int64] = [], values: [Int64] = []
    var flows: [Int64] = [], flowIns: [Int64] = [], returns: [Double] = [], noReturn: [Bool] = []
    var undefined: [Bool] = [], months: [Double] = [], quarters: [Double] = [], years: [Double] = []
    var indexes: [Double] = [], zeros: [Int64] = [], starts: [Int64] = [], origins: [Int64] = []
    var flowKeys: [Int64] = []
    var flowDays: [Int64] = []
    var flowAmounts: [Int64] = []
    for (record, key) in rows {
      guard let value = record.value.cents, let flow = record.flow.cents, let flowIn = record.flowIn.cents
      else {
        throw StateStoreError(
          code: .outOfRange, path: location, step: step, detail: "an amount does not fit in 64-bit cents")
      }
      keys.append(key)
      days.append(Int64(record.date.dayNumber))
      kinds.append(Self.code(record.kind))
      values.append(value)
      flows.append(flow)
      flowIns.append(flowIn)
      returns.append(record.dailyReturn ?? 0)
      noReturn.append(record.dailyReturn == nil)
      undefined.append(record.undefinedReturn)
      months.append(record.growthMonth)
      quarters.append(record.growthQuarter)
      years.append(record.growthYear)
      indexes.append(record.index)
      zeros.append(Int64(record.zeroFactors))
      starts.append(Int64(record.startDate.dayNumber))
      origins.append(Int64(record.flowOrigin.dayNumber))
      if record.kind != .baseline && flow != 0 {
        flowKeys.append(key)
        flowDays.append(Int64(record.date.dayNumber))
        flowAmounts.append(flow)
      }
    }
    let columns: [SQLValue] = [
      .ints(keys), .ints(days), .ints(kinds), .ints(values), .ints(flows), .ints(flowIns), .reals(returns),
      .bools(noReturn), .bools(undefined), .reals(months), .reals(quarters), .reals(years), .reals(indexes),
      .ints(zeros), .ints(starts), .ints(origins),
    ]
    try session.query(step, Self.insertHistory, columns)
    try session.query(step, Self.insertLatest, columns)
    if !flowKeys.isEmpty {
      try session.query(
        step,
        """
        INSERT INTO flows(account_key, day, flow) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[])
        ON CONFLICT (account_key, day) DO UPDATE SET flow = excluded.flow
        """, [.ints(flowKeys), .ints(flowDays), .ints(flowAmounts)])
    }
  }

  /// The rows of ``write(_:step:)``'s 16 column arrays (a daily return of null where the 8th says so).
  static let unnestedRecords = """
    SELECT k, d, kd, v, f, fi, CASE WHEN rn THEN NULL ELSE r END, u, gm, gq, gy, ix, z, sd, od
    FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],
      $7::float8[], $8::bool[], $9::bool[], $10::float8[], $11::float8[], $12::float8[], $13::float8[],
      $14::bigint[], $15::bigint[], $16::bigint[]) AS t(k, d, kd, v, f, fi, r, rn, u, gm, gq, gy, ix, z, sd, od)
    """
  static let recordUpdates = recordNames.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
  static let insertHistory = """
    INSERT INTO history(account_key, \(columns())) \(unnestedRecords)
    ON CONFLICT (account_key, day) DO UPDATE SET \(recordUpdates)
    """
  static let insertLatest = """
    INSERT INTO latest(account_key, \(columns())) \(unnestedRecords)
    ON CONFLICT (account_key) DO UPDATE SET \(recordUpdates) WHERE excluded.day >= latest.day
    """

  public func deleteRecord(at date: CivilDate, account key: Int64) throws(StateStoreError) {
    let step = "delete history"
    try atomically(step) { () throws(StateStoreError) in
      let day = SQLValue.int(Int64(date.dayNumber))
      try session.query(step, "DELETE FROM history WHERE account_key = $1 AND day = $2", [.int(key), day])
      try session.query(step, "DELETE FROM flows WHERE account_key = $1 AND day = $2", [.int(key), day])
      try refreshLatest(account: key, step: step)
    }
  }

  /// Sets the account's `latest` row from its history (none when it has none).
  func refreshLatest(account key: Int64, step: String) throws(StateStoreError) {
    try session.query(step, "DELETE FROM latest WHERE account_key = $1", [.int(key)])
    try session.query(
      step,
      """
      INSERT INTO latest(account_key, \(Self.columns()))
      SELECT account_key, \(Self.columns()) FROM history WHERE account_key = $1 ORDER BY day DESC LIMIT 1
      """, [.int(key)])
  }

  public func records(after date: CivilDate, account key: Int64) throws(StateStoreError)
    -> [PerformanceRecord]
  {
    try manyRecords(
      "read history",
      "SELECT \(Self.columns()) FROM history WHERE account_key = $1 AND day > $2 ORDER BY day",
      [.int(key), .int(Int64(date.dayNumber))])
  }

  public func historyDates(after date: CivilDate) throws(StateStoreError) -> [CivilDate] {
    let step = "read history"
    var out: [CivilDate] = []
    // Each next date through the index (a loose index scan): no scan of a date's rows.
    for row in try session.query(
      step,
      """
      WITH RECURSIVE d(day) AS (
        SELECT MIN(day) FROM history WHERE day > $1
        UNION ALL SELECT (SELECT MIN(day) FROM history WHERE day > d.day) FROM d WHERE d.day IS NOT NULL)
      SELECT day FROM d WHERE day IS NOT NULL ORDER BY day
      """, [.int(Int64(date.dayNumber))])
    {
      out.append(CivilDate(dayNumber: Int(try Cells(row, session, step).value(0, Int32.self))))
    }
    return out
  }

  public func allRecords(accountID: String) throws(StateStoreError) -> [PerformanceRecord] {
    guard let key = try existingAccountKey(accountID, remember: true) else { return [] }
    return try records(after: CivilDate(dayNumber: Int(Int32.min) + 1), account: key)
  }

  public func hasRecords(at date: CivilDate) throws(StateStoreError) -> Bool {
    !(try session.query(
      "read history", "SELECT 1 FROM history WHERE day = $1 LIMIT 1", [.int(Int64(date.dayNumber))]
    ).isEmpty)
  }

  public func accounts(ofFirm firmID: String, withRecordAt date: CivilDate) throws(StateStoreError)
    -> [String: Int64]
  {
    let step = "read history"
    var out: [String: Int64] = [:]
    for row in try session.query(
      step,
      """
      SELECT a.account_id, a.account_key FROM history h JOIN accounts a ON a.account_key = h.account_key
      WHERE h.day = $1 AND a.firm_id = $2
      """, [.int(Int64(date.dayNumber)), .text(firmID)])
    {
      let cells = Cells(row, session, step)
      out[try cells.text(0)] = try cells.int(1)
    }
    return out
  }

  /// The size of the store's tables and indexes (`pg_total_relation_size`), and its history rows.
  public func footprint() throws(StateStoreError) -> (bytes: Int64, historyRows: Int64) {
    let step = "measure"
    let names = PostgresSchema.tables.map { "'\($0)'" }.joined(separator: ",")
    guard
      let row = try session.query(
        step,
        """
        SELECT (SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relname IN (\(names)) AND c.relkind = 'r' AND n.nspname = current_schema()),
               (SELECT COUNT(*) FROM history)::bigint
        """
      ).first
    else { return (0, 0) }
    let cells = Cells(row, session, step)
    return (try cells.int(0), try cells.int(1))
  }
}
