import EODCore
import EODSQLite

extension PerformanceRecord.Kind {
  var storageCode: Int64 {
    switch self {
    case .baseline: return 0
    case .opening: return 1
    case .regular: return 2
    }
  }
  init(storageCode: Int64) {
    switch storageCode {
    case 0: self = .baseline
    case 1: self = .opening
    default: self = .regular
    }
  }
}

extension StateStore {
  /// The record's columns after `day` (they follow `day` in both `history` and `latest`).
  static let recordValueColumns =
    "kind, value, flow, flow_in, daily_return, undefined, g_month, g_quarter, g_year, idx, zeros, start_day, origin_day"
  static let recordColumns = "day, " + recordValueColumns

  /// The record in the row's columns from `offset` on (in ``recordColumns`` order).
  func readRecord(_ s: SQLiteStatement, offset o: Int = 0) -> PerformanceRecord {
    PerformanceRecord(
      date: CivilDate(dayNumber: Int(s.int64(o))), kind: .init(storageCode: s.int64(o + 1)),
      value: Money(cents: s.int64(o + 2)), flow: Money(cents: s.int64(o + 3)),
      flowIn: Money(cents: s.int64(o + 4)),
      dailyReturn: s.isNull(o + 5) ? nil : s.double(o + 5), undefinedReturn: s.int64(o + 6) != 0,
      growthMonth: s.double(o + 7), growthQuarter: s.double(o + 8), growthYear: s.double(o + 9),
      index: s.double(o + 10), zeroFactors: Int(s.int64(o + 11)),
      startDate: CivilDate(dayNumber: Int(s.int64(o + 12))),
      flowOrigin: CivilDate(dayNumber: Int(s.int64(o + 13))))
  }

  /// The account's record with the greatest date (from `latest`; no history page is read).
  public func latestRecord(account key: Int64) throws(StateStoreError) -> PerformanceRecord? {
    if holdingReads, let cached = latestCache, cached.key == key { return cached.record }
    let record: PerformanceRecord? = try wrap("read history") {
      let s = try statement(.latestSelect)
      defer { s.reset() }
      try s.bind([.integer(key)])
      return try s.step() ? readRecord(s) : nil
    }
    if holdingReads { latestCache = (key, record) }
    return record
  }

  /// The greatest date in the history (any account) on or before `day`.
  func historyDay(onOrBefore day: Int) throws -> Int? {
    if holdingReads, let cached = dayCache[day] { return cached }
    let s = try statement(.dayOnOrBefore)
    defer { s.reset() }
    try s.bind([.integer(Int64(day))])
    let found = try s.step() ? Int(s.int64(0)) : nil
    if holdingReads { dayCache[day] = found }
    return found
  }

  /// The least date in the history (any account) after `day`.
  func historyDay(after day: Int) throws -> Int? {
    let s = try statement("SELECT day FROM history WHERE day > ? ORDER BY day LIMIT 1")
    defer { s.reset() }
    try s.bind([.integer(Int64(day))])
    return try s.step() ? Int(s.int64(0)) : nil
  }

  func recordRow(day: Int, account key: Int64) throws -> PerformanceRecord? {
    let s = try statement(.recordAt)
    defer { s.reset() }
    try s.bind([.integer(Int64(day)), .integer(key)])
    return try s.step() ? readRecord(s) : nil
  }

  /// The account's latest history record on or before `day`, not before `lowest`: the dates of
  /// the history are walked down from `day`, one key lookup each (all accounts' rows of a date
  /// sit together, so a night's lookups for one date hit the same few pages).
  func lastRecord(account key: Int64, onOrBefore day: Int, notBefore lowest: Int) throws -> PerformanceRecord?
  {
    var bound = day
    while bound >= lowest, let found = try historyDay(onOrBefore: bound), found >= lowest {
      if let record = try recordRow(day: found, account: key) { return record }
      bound = found - 1
    }
    return nil
  }

  /// The account's latest record strictly before `date`. From `latest` when that is older than
  /// `date` (the nightly case); otherwise (a re-run or a restatement) from the history.
  public func record(before date: CivilDate, account key: Int64) throws(StateStoreError) -> PerformanceRecord?
  {
    guard let latest = try latestRecord(account: key) else { return nil }
    if latest.date < date { return latest }
    return try wrap("read history") {
      // Every record of an account is on or after its flow origin (its first record's date).
      try lastRecord(
        account: key, onOrBefore: date.dayNumber - 1, notBefore: min(latest.flowOrigin, latest.date).dayNumber
      )
    }
  }

  /// The account's record at exactly `date`.
  public func record(at date: CivilDate, account key: Int64) throws(StateStoreError) -> PerformanceRecord? {
    try wrap("read history") { try recordRow(day: date.dayNumber, account: key) }
  }

  /// The growth since start at the close of the latest date on or before `date`.
  public func windowStart(onOrBefore date: CivilDate, account key: Int64) throws(StateStoreError)
    -> Performance.WindowStart?
  {
    guard let latest = try latestRecord(account: key) else { return nil }
    let found: PerformanceRecord?
    if latest.date <= date {
      found = latest
    } else {
      found = try wrap("read history") {
        try lastRecord(
          account: key, onOrBefore: date.dayNumber, notBefore: min(latest.flowOrigin, latest.date).dayNumber)
      }
    }
    return found.map { Performance.WindowStart(index: $0.index, zeroFactors: $0.zeroFactors) }
  }

  /// The non-zero external flows from `origin` (an opening day's own flow; a baseline day has none) to before `date`.
  public func flows(account key: Int64, after origin: CivilDate, before date: CivilDate)
    throws(StateStoreError)
    -> [(date: CivilDate, flow: Money)]
  {
    try wrap("read flows") {
      let s = try statement(.flowsBetween)
      defer { s.reset() }
      try s.bind([.integer(key), .integer(Int64(origin.dayNumber)), .integer(Int64(date.dayNumber))])
      var out: [(date: CivilDate, flow: Money)] = []
      while try s.step() { out.append((CivilDate(dayNumber: Int(s.int64(0))), Money(cents: s.int64(1)))) }
      return out
    }
  }

  static let latestInsert =
    "INSERT INTO latest(account_key, \(recordColumns)) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
  static let latestConflict = """

    ON CONFLICT(account_key) DO UPDATE SET
    \(recordColumns.split(separator: ",").map { "\($0) = excluded.\($0)" }.joined(separator: ","))
    WHERE excluded.day >= latest.day
    """

  static let historyUpsert =
    "INSERT OR REPLACE INTO history(account_key, \(StateStore.recordColumns)) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"

  /// Writes (or replaces) the account's record for its date, and its flow for XIRR; `latest`
  /// follows when the date is the account's latest.
  ///
  /// - Parameter replacing: false when the caller knows the account has no record at this date
  ///   (then there is no flow to remove either: one statement fewer).
  public func save(_ record: PerformanceRecord, account key: Int64, replacing: Bool = true)
    throws(StateStoreError)
  {
    try save([(record, key)])
    guard replacing, record.kind == .baseline || record.flow.cents == 0 else { return }
    // An earlier record of the date may have had a flow this one has not.
    try wrap("write history") {
      try statement(.flowDelete).run([.integer(key), .integer(Int64(record.date.dayNumber))])
    }
  }

  /// Rows per statement in ``save(_:)``.
  static let rowsPerStatement = 32

  /// Writes (or replaces) each account's record for its date, several rows per statement, with
  /// its flow for XIRR; `latest` follows when the date is the account's latest. A flow an earlier
  /// record of the date had is not removed: for a date's first write (a night's records), or use
  /// ``save(_:account:replacing:)``.
  public func save(_ batch: [(record: PerformanceRecord, account: Int64)]) throws(StateStoreError) {
    releaseReads()
    try wrap("write history") {
      var start = 0
      while start < batch.count {
        let count = min(StateStore.rowsPerStatement, batch.count - start)
        let (history, latest) = try multiRowStatements(rows: count)
        history.prepareForBinding()
        latest.prepareForBinding()
        for row in 0..<count {
          let (record, key) = batch[start + row]
          guard let value = record.value.cents, let flow = record.flow.cents, let flowIn = record.flowIn.cents
          else {
            throw StateStoreError(
              code: .outOfRange, path: path, step: "write history",
              detail: "an amount does not fit in 64-bit cents")
          }
          let base = row * 15
          func bindRow(_ s: SQLiteStatement) throws {
            try s.bind(key, at: base + 1)
            try s.bind(Int64(record.date.dayNumber), at: base + 2)
            try s.bind(record.kind.storageCode, at: base + 3)
            try s.bind(value, at: base + 4)
            try s.bind(flow, at: base + 5)
            try s.bind(flowIn, at: base + 6)
            try s.bind(record.dailyReturn, at: base + 7)
            try s.bind(record.undefinedReturn ? 1 : 0, at: base + 8)
            try s.bind(record.growthMonth, at: base + 9)
            try s.bind(record.growthQuarter, at: base + 10)
            try s.bind(record.growthYear, at: base + 11)
            try s.bind(record.index, at: base + 12)
            try s.bind(Int64(record.zeroFactors), at: base + 13)
            try s.bind(Int64(record.startDate.dayNumber), at: base + 14)
            try s.bind(Int64(record.flowOrigin.dayNumber), at: base + 15)
          }
          try bindRow(history)
          try bindRow(latest)
          if record.kind != .baseline && flow != 0 {
            try statement(.flowUpsert).run([
              .integer(key), .integer(Int64(record.date.dayNumber)), .integer(flow),
            ])
          }
        }
        while try history.step() {}
        while try latest.step() {}
        start += count
      }
    }
  }

  func multiRowStatements(rows: Int) throws -> (history: SQLiteStatement, latest: SQLiteStatement) {
    if let found = multiRowStatements[rows] { return found }
    let made = (
      history: try db.prepare(StateStore.multiRow(StateStore.historyUpsert, rows: rows)),
      latest: try db.prepare(
        StateStore.multiRow(StateStore.latestInsert, rows: rows) + StateStore.latestConflict)
    )
    multiRowStatements[rows] = made
    return made
  }

  /// `sql` (an `INSERT … VALUES (…)` of one row) with `rows` rows of parameters.
  static func multiRow(_ sql: String, rows: Int) -> String {
    guard let values = sql.range(of: "VALUES ") else { return sql }
    let row = String(sql[values.upperBound...])
    return String(sql[..<values.upperBound]) + Array(repeating: row, count: rows).joined(separator: ",")
  }

  /// Removes the account's record (and flow) at a date; `latest` falls back to the record before.
  public func deleteRecord(at date: CivilDate, account key: Int64) throws(StateStoreError) {
    let latest = try latestRecord(account: key)
    releaseReads()
    try wrap("delete history") {
      try statement("DELETE FROM history WHERE day = ? AND account_key = ?").run([
        .integer(Int64(date.dayNumber)), .integer(key),
      ])
      try statement("DELETE FROM flows WHERE account_key = ? AND day = ?").run([
        .integer(key), .integer(Int64(date.dayNumber)),
      ])
    }
    if let latest, latest.date == date { try refreshLatest(account: key, notBefore: latest.flowOrigin) }
  }

  /// Sets the account's `latest` row from its history (removes it when there is none).
  /// `notBefore`: a date no record of the account precedes (its flow origin); nil searches all.
  public func refreshLatest(account key: Int64, notBefore lowest: CivilDate? = nil) throws(StateStoreError) {
    releaseReads()
    try wrap("write history") {
      try statement("DELETE FROM latest WHERE account_key = ?").run([.integer(key)])
      guard
        let top = try historyDay(onOrBefore: Int.max / 4),
        let record = try lastRecord(
          account: key, onOrBefore: top, notBefore: lowest?.dayNumber ?? Int.min / 4)
      else { return }
      try statement(
        """
        INSERT INTO latest(account_key, \(StateStore.recordColumns))
        SELECT account_key, \(StateStore.recordColumns) FROM history WHERE day = ? AND account_key = ?
        """
      ).run([.integer(Int64(record.date.dayNumber)), .integer(key)])
    }
  }

  /// The account's records after `date`, oldest first.
  public func records(after date: CivilDate, account key: Int64) throws(StateStoreError)
    -> [PerformanceRecord]
  {
    try wrap("read history") {
      var out: [PerformanceRecord] = []
      var day = date.dayNumber
      while let next = try historyDay(after: day) {
        if let record = try recordRow(day: next, account: key) { out.append(record) }
        day = next
      }
      return out
    }
  }

  /// The dates of the history after `date`, oldest first.
  public func historyDates(after date: CivilDate) throws(StateStoreError) -> [CivilDate] {
    try wrap("read history") {
      var out: [CivilDate] = []
      var day = date.dayNumber
      while let next = try historyDay(after: day) {
        out.append(CivilDate(dayNumber: next))
        day = next
      }
      return out
    }
  }

  /// Every record of an account, oldest first (for `eod-extract history`).
  public func allRecords(accountID: String) throws(StateStoreError) -> [PerformanceRecord] {
    guard let key = try existingAccountKey(accountID) else { return [] }
    return try records(after: CivilDate(dayNumber: Int.min / 4), account: key)
  }

  /// Whether any account has a record at `date`.
  public func hasRecords(at date: CivilDate) throws(StateStoreError) -> Bool {
    try wrap("read history") {
      let s = try statement("SELECT 1 FROM history WHERE day = ? LIMIT 1")
      defer { s.reset() }
      try s.bind([.integer(Int64(date.dayNumber))])
      return try s.step()
    }
  }

  /// Keys of the firm's accounts that have a record at `date`.
  public func accounts(ofFirm firmID: String, withRecordAt date: CivilDate) throws(StateStoreError)
    -> [String: Int64]
  {
    try wrap("read history") {
      let s = try statement(
        """
        SELECT a.account_id, a.account_key FROM history h JOIN accounts a ON a.account_key = h.account_key
        WHERE h.day = ? AND a.firm_id = ?
        """)
      defer { s.reset() }
      try s.bind([.integer(Int64(date.dayNumber)), .text(firmID)])
      var out: [String: Int64] = [:]
      while try s.step() { out[s.text(0) ?? ""] = s.int64(1) }
      return out
    }
  }

  /// The business dates that have a completed run for a firm, and the latest across firms.
  public func latestRunDate(firmID: String? = nil) throws(StateStoreError) -> CivilDate? {
    try wrap("read runs") {
      let text: String?
      if let firmID {
        text = try db.scalarText("SELECT MAX(business_date) FROM runs WHERE firm_id = ?", [.text(firmID)])
      } else {
        text = try db.scalarText("SELECT MAX(business_date) FROM runs")
      }
      return text.flatMap { CivilDate($0) }
    }
  }

  /// Dates with runs after `date` for a firm (stale after a restatement).
  public func runDates(after date: CivilDate, firmID: String) throws(StateStoreError) -> [CivilDate] {
    try wrap("read runs") {
      let s = try statement(
        "SELECT business_date FROM runs WHERE firm_id = ? AND business_date > ? ORDER BY business_date")
      defer { s.reset() }
      try s.bind([.text(firmID), .text(date.description)])
      var out: [CivilDate] = []
      while try s.step() { if let d = s.text(0).flatMap({ CivilDate($0) }) { out.append(d) } }
      return out
    }
  }

  /// Records a firm's completed date.
  public func recordRun(
    date: CivilDate, firmID: String, runID: String, snapshot: String, completedAt: String, gapCarried: Bool,
    manifestSHA256: String?
  ) throws(StateStoreError) {
    releaseReads()
    try wrap("write runs") {
      try statement(
        """
        INSERT OR REPLACE INTO runs(business_date, firm_id, run_id, snapshot, completed_at, gap_carried, manifest_sha256)
        VALUES (?,?,?,?,?,?,?)
        """
      ).run([
        .text(date.description), .text(firmID), .text(runID), .text(snapshot), .text(completedAt),
        .integer(gapCarried ? 1 : 0), manifestSHA256.map { .text($0) } ?? .null,
      ])
    }
  }

  /// Bytes the store's file takes, and its number of history rows.
  public func footprint() throws(StateStoreError) -> (bytes: Int64, historyRows: Int64) {
    try wrap("measure") {
      let pages = try db.scalarInt("PRAGMA page_count") ?? 0
      let size = try db.scalarInt("PRAGMA page_size") ?? 0
      let rows = try db.scalarInt("SELECT COUNT(*) FROM history") ?? 0
      return (pages * size, rows)
    }
  }
}
