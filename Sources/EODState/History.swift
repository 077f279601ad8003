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
  static let recordColumns =
    "day, kind, value, flow, flow_in, daily_return, undefined, g_month, g_quarter, g_year, idx, zeros, start_day, origin_day"

  func readRecord(_ s: SQLiteStatement) -> PerformanceRecord {
    PerformanceRecord(
      date: CivilDate(dayNumber: Int(s.int64(0))), kind: .init(storageCode: s.int64(1)),
      value: Money(cents: s.int64(2)), flow: Money(cents: s.int64(3)), flowIn: Money(cents: s.int64(4)),
      dailyReturn: s.isNull(5) ? nil : s.double(5), undefinedReturn: s.int64(6) != 0,
      growthMonth: s.double(7),
      growthQuarter: s.double(8), growthYear: s.double(9), index: s.double(10), zeroFactors: Int(s.int64(11)),
      startDate: CivilDate(dayNumber: Int(s.int64(12))), flowOrigin: CivilDate(dayNumber: Int(s.int64(13))))
  }

  /// The account's latest record strictly before `date`.
  public func record(before date: CivilDate, account key: Int64) throws(StateStoreError) -> PerformanceRecord?
  {
    try wrap("read history") {
      let s = try statement(
        "SELECT \(StateStore.recordColumns) FROM history WHERE account_key = ? AND day < ? ORDER BY day DESC LIMIT 1"
      )
      defer { s.reset() }
      try s.bind([.integer(key), .integer(Int64(date.dayNumber))])
      return try s.step() ? readRecord(s) : nil
    }
  }

  /// The account's record at exactly `date`.
  public func record(at date: CivilDate, account key: Int64) throws(StateStoreError) -> PerformanceRecord? {
    try wrap("read history") {
      let s = try statement(
        "SELECT \(StateStore.recordColumns) FROM history WHERE account_key = ? AND day = ?")
      defer { s.reset() }
      try s.bind([.integer(key), .integer(Int64(date.dayNumber))])
      return try s.step() ? readRecord(s) : nil
    }
  }

  /// The growth since start at the close of the latest date on or before `date`.
  public func windowStart(onOrBefore date: CivilDate, account key: Int64) throws(StateStoreError)
    -> Performance.WindowStart?
  {
    try wrap("read history") {
      let s = try statement(
        "SELECT idx, zeros FROM history WHERE account_key = ? AND day <= ? ORDER BY day DESC LIMIT 1")
      defer { s.reset() }
      try s.bind([.integer(key), .integer(Int64(date.dayNumber))])
      return try s.step() ? Performance.WindowStart(index: s.double(0), zeroFactors: Int(s.int64(1))) : nil
    }
  }

  /// The non-zero external flows from `origin` (an opening day's own flow; a baseline day has none) to before `date`.
  public func flows(account key: Int64, after origin: CivilDate, before date: CivilDate)
    throws(StateStoreError)
    -> [(date: CivilDate, flow: Money)]
  {
    try wrap("read flows") {
      let s = try statement(
        "SELECT day, flow FROM flows WHERE account_key = ? AND day >= ? AND day < ? ORDER BY day")
      defer { s.reset() }
      try s.bind([.integer(key), .integer(Int64(origin.dayNumber)), .integer(Int64(date.dayNumber))])
      var out: [(date: CivilDate, flow: Money)] = []
      while try s.step() { out.append((CivilDate(dayNumber: Int(s.int64(0))), Money(cents: s.int64(1)))) }
      return out
    }
  }

  /// Writes (or replaces) the account's record for its date, and its flow for XIRR.
  public func save(_ record: PerformanceRecord, account key: Int64) throws(StateStoreError) {
    guard let value = record.value.cents, let flow = record.flow.cents, let flowIn = record.flowIn.cents
    else {
      throw StateStoreError(
        code: .outOfRange, path: path, step: "write history", detail: "an amount does not fit in 64-bit cents"
      )
    }
    try wrap("write history") {
      try statement(
        "INSERT OR REPLACE INTO history(account_key, \(StateStore.recordColumns)) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
      ).run([
        .integer(key), .integer(Int64(record.date.dayNumber)), .integer(record.kind.storageCode),
        .integer(value),
        .integer(flow), .integer(flowIn), record.dailyReturn.map { .real($0) } ?? .null,
        .integer(record.undefinedReturn ? 1 : 0), .real(record.growthMonth), .real(record.growthQuarter),
        .real(record.growthYear), .real(record.index), .integer(Int64(record.zeroFactors)),
        .integer(Int64(record.startDate.dayNumber)), .integer(Int64(record.flowOrigin.dayNumber)),
      ])
      if record.kind != .baseline && flow != 0 {
        try statement("INSERT OR REPLACE INTO flows(account_key, day, flow) VALUES (?,?,?)").run([
          .integer(key), .integer(Int64(record.date.dayNumber)), .integer(flow),
        ])
      } else {
        try statement("DELETE FROM flows WHERE account_key = ? AND day = ?").run([
          .integer(key), .integer(Int64(record.date.dayNumber)),
        ])
      }
    }
  }

  /// Removes the account's record (and flow) at a date.
  public func deleteRecord(at date: CivilDate, account key: Int64) throws(StateStoreError) {
    try wrap("delete history") {
      for sql in [
        "DELETE FROM history WHERE account_key = ? AND day = ?",
        "DELETE FROM flows WHERE account_key = ? AND day = ?",
      ] {
        try statement(sql).run([.integer(key), .integer(Int64(date.dayNumber))])
      }
    }
  }

  /// The account's records after `date`, oldest first.
  public func records(after date: CivilDate, account key: Int64) throws(StateStoreError)
    -> [PerformanceRecord]
  {
    try wrap("read history") {
      let s = try statement(
        "SELECT \(StateStore.recordColumns) FROM history WHERE account_key = ? AND day > ? ORDER BY day")
      defer { s.reset() }
      try s.bind([.integer(key), .integer(Int64(date.dayNumber))])
      var out: [PerformanceRecord] = []
      while try s.step() { out.append(readRecord(s)) }
      return out
    }
  }

  /// Every record of an account, oldest first (for `eod-extract history`).
  public func allRecords(accountID: String) throws(StateStoreError) -> [PerformanceRecord] {
    guard let key = try existingAccountKey(accountID) else { return [] }
    return try records(after: CivilDate(dayNumber: Int.min / 4), account: key)
  }

  /// Keys of the firm's accounts that have a record at `date`.
  public func accounts(ofFirm firmID: String, withRecordAt date: CivilDate) throws(StateStoreError)
    -> [String: Int64]
  {
    try wrap("read history") {
      let s = try statement(
        """
        SELECT a.account_id, a.account_key FROM accounts a
        WHERE a.firm_id = ? AND EXISTS (SELECT 1 FROM history h WHERE h.account_key = a.account_key AND h.day = ?)
        """)
      defer { s.reset() }
      try s.bind([.text(firmID), .integer(Int64(date.dayNumber))])
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
