import EODSQLite
import Foundation

/// One break as a reconciliation reported it on a business date (see docs/reconciliation.md).
public struct BreakObservation: Sendable, Equatable {
  /// The stable id (firm, extract, key, type and field hashed).
  public var id: String
  public var type: String
  public var key: [String]
  public var field: String
  public var ours: String
  public var theirs: String
  public var difference: String

  public init(
    id: String, type: String, key: [String], field: String, ours: String, theirs: String, difference: String
  ) {
    self.id = id
    self.type = type
    self.key = key
    self.field = field
    self.ours = ours
    self.theirs = theirs
    self.difference = difference
  }
}

/// A break's life in the store: when it was first and last reported, when it was closed.
public struct BreakEntry: Sendable, Equatable {
  public var id: String
  public var firmID: String
  public var extract: String
  public var type: String
  public var key: [String]
  public var field: String
  /// Business dates, YYYY-MM-DD.
  public var firstSeen: String
  public var lastSeen: String
  /// The first reconciled date after `lastSeen` on which the break was not reported; nil while open.
  public var closed: String?
  /// The values of the latest date that reported it.
  public var ours: String
  public var theirs: String
  public var difference: String

  public init(
    id: String, firmID: String, extract: String, type: String, key: [String], field: String,
    firstSeen: String,
    lastSeen: String, closed: String?, ours: String, theirs: String, difference: String
  ) {
    self.id = id
    self.firmID = firmID
    self.extract = extract
    self.type = type
    self.key = key
    self.field = field
    self.firstSeen = firstSeen
    self.lastSeen = lastSeen
    self.closed = closed
    self.ours = ours
    self.theirs = theirs
    self.difference = difference
  }
}

/// Records one reconciliation's breaks (firm, extract, business date) in a SQLite store, inside
/// ``StateStore/recordBreakDay(firm:extract:date:_:)``'s transaction.
final class BreakDayRecorder: BreakDayRecording {
  let store: StateStore
  let firm: String
  let extract: String
  let date: String

  init(store: StateStore, firm: String, extract: String, date: String) {
    self.store = store
    self.firm = firm
    self.extract = extract
    self.date = date
  }

  /// The earliest business date before this one on which the break was reported, if any.
  func firstSeen(before id: String) throws(StateStoreError) -> String? {
    try store.wrap("read breaks") {
      let query = try store.statement(
        "SELECT MIN(business_date) FROM break_days WHERE break_id = ? AND business_date < ?")
      try query.bind([.text(id), .text(date)])
      defer { query.reset() }
      guard try query.step(), !query.isNull(0) else { return nil }
      return query.text(0)
    }
  }

  /// Records that the break is reported on this date.
  func record(_ item: BreakObservation) throws(StateStoreError) {
    try store.wrap("write breaks") {
      let key = String(decoding: try JSONSerialization.data(withJSONObject: item.key), as: UTF8.self)
      try store.statement(
        """
        INSERT OR IGNORE INTO breaks(
          break_id, firm_id, extract, break_type, key, field, first_seen, last_seen, closed, ours, theirs,
          difference)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, '', '', '')
        """
      ).run([
        .text(item.id), .text(firm), .text(extract), .text(item.type), .text(key), .text(item.field),
        .text(date), .text(date),
      ])
      try store.statement(
        """
        INSERT OR REPLACE INTO break_days(break_id, business_date, ours, theirs, difference)
        VALUES (?, ?, ?, ?, ?)
        """
      ).run([.text(item.id), .text(date), .text(item.ours), .text(item.theirs), .text(item.difference)])
    }
  }
}

extension StateStore {
  /// The reconciliation tables, added to a store of any age (additive: nothing existing changes).
  /// `recon_runs`: each (firm, extract, date) reconciled. `break_days`: each break on each date
  /// that reported it, with that date's values. `breaks`: one row a break, its dates derived
  /// from `break_days` and `recon_runs` after every reconciliation.
  func ensureBreakSchema() throws {
    try db.execute(
      """
      CREATE TABLE IF NOT EXISTS recon_runs (
        firm_id TEXT NOT NULL, extract TEXT NOT NULL, business_date TEXT NOT NULL,
        PRIMARY KEY (firm_id, extract, business_date)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS breaks (
        break_id TEXT PRIMARY KEY, firm_id TEXT NOT NULL, extract TEXT NOT NULL, break_type TEXT NOT NULL,
        key TEXT NOT NULL, field TEXT NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, closed TEXT,
        ours TEXT NOT NULL, theirs TEXT NOT NULL, difference TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS breaks_by_firm ON breaks(firm_id, extract);
      CREATE TABLE IF NOT EXISTS break_days (
        break_id TEXT NOT NULL, business_date TEXT NOT NULL, ours TEXT NOT NULL, theirs TEXT NOT NULL,
        difference TEXT NOT NULL, PRIMARY KEY (break_id, business_date)) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS break_days_by_date ON break_days(business_date);
      """)
  }

  /// Replaces the result of (firm, extract, date) with the breaks `body` records, in one
  /// transaction: that date's earlier result is removed first (a re-run replaces it), then every
  /// break of the firm and extract is brought up to date: first and last date reported, closed
  /// on the first reconciled date after its last one (open again when it is reported again),
  /// values of its latest date. Nothing is kept when `body` throws.
  public func recordBreakDay<T>(
    firm: String, extract: String, date: String, _ body: (any BreakDayRecording) throws -> T
  ) throws -> T {
    releaseReads()
    do {
      return try db.transaction {
        try ensureBreakSchema()
        let scope: [SQLiteValue] = [.text(firm), .text(extract)]
        try db.prepare(
          """
          DELETE FROM break_days WHERE business_date = ?
            AND break_id IN (SELECT break_id FROM breaks WHERE firm_id = ? AND extract = ?)
          """
        ).run([.text(date)] + scope)
        try db.prepare("INSERT OR IGNORE INTO recon_runs(firm_id, extract, business_date) VALUES (?, ?, ?)")
          .run(scope + [.text(date)])
        let result = try body(BreakDayRecorder(store: self, firm: firm, extract: extract, date: date))
        for sql in BreakLifecycleSQL.afterDay { try db.prepare(sql).run(scope) }
        try checkIdentity("write breaks")
        return result
      }
    } catch let error as StateStoreError {
      throw error
    } catch let error as SQLiteError {
      throw StateStoreError(
        code: .unavailable, path: path, step: "write breaks", detail: error.message, cause: error)
    }
  }

  /// A firm's breaks (all extracts, or one), open ones only when `openOnly`; in extract, type and
  /// key order. A store without the tables has none.
  public func breaks(firm: String, extract: String? = nil, openOnly: Bool = false) throws(StateStoreError)
    -> [BreakEntry]
  {
    try wrap("read breaks") {
      let exists = try db.scalarInt(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'breaks'")
      guard exists == 1 else { return [] }
      var sql = """
        SELECT break_id, firm_id, extract, break_type, key, field, first_seen, last_seen, closed, ours, theirs,
          difference FROM breaks WHERE firm_id = ?
        """
      var bindings: [SQLiteValue] = [.text(firm)]
      if let extract {
        sql += " AND extract = ?"
        bindings.append(.text(extract))
      }
      if openOnly { sql += " AND closed IS NULL" }
      sql += " ORDER BY extract, key, break_type, field, break_id"
      let s = try db.prepare(sql)
      try s.bind(bindings)
      var result: [BreakEntry] = []
      while try s.step() {
        let keyText = s.text(4) ?? "[]"
        let key = (try? JSONSerialization.jsonObject(with: Data(keyText.utf8))) as? [String] ?? []
        result.append(
          BreakEntry(
            id: s.text(0) ?? "", firmID: s.text(1) ?? "", extract: s.text(2) ?? "", type: s.text(3) ?? "",
            key: key, field: s.text(5) ?? "", firstSeen: s.text(6) ?? "", lastSeen: s.text(7) ?? "",
            closed: s.isNull(8) ? nil : s.text(8), ours: s.text(9) ?? "", theirs: s.text(10) ?? "",
            difference: s.text(11) ?? ""))
      }
      return result
    }
  }
}
