import EODCore
import EODState
import Foundation
import PostgresNIO

/// Runs, the delivery journal, idempotency keys, failures and breaks: the same rows and orders as
/// the SQLite store's (Sources/EODState), in PostgreSQL.
extension PostgresStateStore {
  public func lockWriters(firmIDs: [String], date: CivilDate, runID: String) throws(StateStoreError) {
    for firm in firmIDs {
      try lock(LockKey.firm(firm, date: date), what: "firm \(firm) on \(date)", runID: runID)
    }
  }

  public func latestRunDate(firmID: String?) throws(StateStoreError) -> CivilDate? {
    let step = "read runs"
    let rows =
      if let firmID {
        try session.query(step, "SELECT MAX(business_date) FROM runs WHERE firm_id = $1", [.text(firmID)])
      } else {
        try session.query(step, "SELECT MAX(business_date) FROM runs")
      }
    guard let row = rows.first else { return nil }
    return try Cells(row, session, step).optionalText(0).flatMap { CivilDate($0) }
  }

  public func runDates(after date: CivilDate, firmID: String) throws(StateStoreError) -> [CivilDate] {
    let step = "read runs"
    var out: [CivilDate] = []
    for row in try session.query(
      step, "SELECT business_date FROM runs WHERE firm_id = $1 AND business_date > $2 ORDER BY business_date",
      [.text(firmID), .text(date.description)])
    {
      if let day = CivilDate(try Cells(row, session, step).text(0)) { out.append(day) }
    }
    return out
  }

  public func recordRun(
    date: CivilDate, firmID: String, runID: String, snapshot: String, completedAt: String, gapCarried: Bool,
    manifestSHA256: String?
  ) throws(StateStoreError) {
    releaseReads()
    try session.query(
      "write runs",
      """
      INSERT INTO runs(business_date, firm_id, run_id, snapshot, completed_at, gap_carried, manifest_sha256)
      VALUES ($1, $2, $3, $4, $5, $6, $7)
      ON CONFLICT (business_date, firm_id) DO UPDATE SET run_id = excluded.run_id, snapshot = excluded.snapshot,
        completed_at = excluded.completed_at, gap_carried = excluded.gap_carried,
        manifest_sha256 = excluded.manifest_sha256
      """,
      [
        .text(date.description), .text(firmID), .text(runID), .text(snapshot), .text(completedAt),
        .bool(gapCarried), manifestSHA256.map { .text($0) } ?? .null,
      ])
  }

  public func recordDelivery(_ entry: JournalEntry) throws(StateStoreError) {
    releaseReads()
    try session.query(
      "write delivery journal",
      """
      INSERT INTO deliveries(firm_id, business_date, destination, file_name, sha256, remote_path, attempts,
        outcome, delivered_at, run_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
      ON CONFLICT (firm_id, business_date, destination, file_name) DO UPDATE SET sha256 = excluded.sha256,
        remote_path = excluded.remote_path, attempts = excluded.attempts, outcome = excluded.outcome,
        delivered_at = excluded.delivered_at, run_id = excluded.run_id
      """,
      [
        .text(entry.firmID), .text(entry.businessDate), .text(entry.destination), .text(entry.fileName),
        .text(entry.sha256), .text(entry.remotePath), .int(Int64(entry.attempts)), .text(entry.outcome),
        .text(entry.deliveredAt), .text(entry.runID),
      ])
  }

  public func journal(firmID: String?, businessDate: String?, destination: String?) throws(StateStoreError)
    -> [JournalEntry]
  {
    let step = "read delivery journal"
    func optional(_ text: String?) -> SQLValue { text.map { .text($0) } ?? .null }
    var out: [JournalEntry] = []
    for row in try session.query(
      step,
      """
      SELECT firm_id, business_date, destination, file_name, sha256, remote_path, attempts::bigint, outcome,
             delivered_at, run_id FROM deliveries
      WHERE ($1::text IS NULL OR firm_id = $1) AND ($2::text IS NULL OR business_date = $2)
        AND ($3::text IS NULL OR destination = $3)
      ORDER BY firm_id, business_date, destination, delivered_at, file_name
      """, [optional(firmID), optional(businessDate), optional(destination)])
    {
      let c = Cells(row, session, step)
      out.append(
        JournalEntry(
          firmID: try c.text(0), businessDate: try c.text(1), destination: try c.text(2),
          fileName: try c.text(3),
          sha256: try c.text(4), remotePath: try c.text(5), attempts: Int(try c.int(6)),
          outcome: try c.text(7),
          deliveredAt: try c.text(8), runID: try c.text(9)))
    }
    return out
  }

  public func idempotencyRecord(_ key: String) throws(StateStoreError) -> IdempotencyEntry? {
    let step = "read idempotency key"
    guard
      let row = try session.query(
        step, "SELECT fingerprint, created_at, result FROM idempotency WHERE key = $1", [.text(key)]
      ).first
    else { return nil }
    let c = Cells(row, session, step)
    return IdempotencyEntry(
      fingerprint: try c.text(0), createdAt: Date(timeIntervalSince1970: Double(try c.int(1))),
      result: try c.text(2))
  }

  public func saveIdempotencyRecord(_ key: String, fingerprint: String, createdAt: Date, result: String)
    throws(StateStoreError)
  {
    releaseReads()
    // As SQLite's INSERT OR REPLACE: the outcome columns go back to their defaults.
    try session.query(
      "write idempotency key",
      """
      INSERT INTO idempotency(key, fingerprint, created_at, result) VALUES ($1, $2, $3, $4)
      ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, created_at = excluded.created_at,
        result = excluded.result, exit_code = 0, failed_firms = '', report = ''
      """, [.text(key), .text(fingerprint), .int(Int64(createdAt.timeIntervalSince1970)), .text(result)])
  }

  public func idempotencyOutcome(_ key: String) throws(StateStoreError) -> IdempotencyOutcome? {
    let step = "read idempotency key"
    guard
      let row = try session.query(
        step, "SELECT exit_code::bigint, failed_firms, report FROM idempotency WHERE key = $1", [.text(key)]
      ).first
    else { return nil }
    let c = Cells(row, session, step)
    return IdempotencyOutcome(
      exitCode: Int(try c.int(0)), failedFirms: try c.text(1).split(separator: "\n").map(String.init),
      report: try c.text(2))
  }

  public func saveIdempotencyOutcome(_ key: String, _ outcome: IdempotencyOutcome) throws(StateStoreError) {
    releaseReads()
    try session.query(
      "write idempotency key",
      "UPDATE idempotency SET exit_code = $1, failed_firms = $2, report = $3 WHERE key = $4",
      [
        .int(Int64(outcome.exitCode)), .text(outcome.failedFirms.joined(separator: "\n")),
        .text(outcome.report),
        .text(key),
      ])
  }

  public func recordFailures(_ entries: [FailureEntry]) throws(StateStoreError) {
    guard !entries.isEmpty else { return }
    let step = "write failures"
    try atomically(step) { () throws(StateStoreError) in
      for entry in entries {
        try session.query(
          step,
          """
          INSERT INTO failures(firm_id, business_date, run_id, step, error, failed_at, exit_code)
          VALUES ($1, $2, $3, $4, $5, $6, $7)
          """,
          [
            .text(entry.firmID), .text(entry.businessDate), .text(entry.runID), .text(entry.step),
            .text(entry.error), .text(entry.failedAt), .int(Int64(entry.exitCode)),
          ])
      }
    }
  }

  public func firmStatuses() throws(StateStoreError) -> (firms: [FirmStatus], lastRunFailure: FailureEntry?) {
    let step = "read status"
    var book = FirmStatusBook()
    for row in try session.query(
      step,
      """
      SELECT firm_id, business_date, run_id, completed_at FROM runs r
      WHERE business_date = (SELECT MAX(business_date) FROM runs WHERE firm_id = r.firm_id)
      """)
    {
      let c = Cells(row, session, step)
      try book.written(firmID: c.text(0), date: c.text(1), runID: c.text(2), completedAt: c.text(3))
    }
    // A date counts as delivered when its manifest is in the journal (the manifest goes last).
    for row in try session.query(
      step,
      """
      SELECT firm_id, business_date, run_id, destination, delivered_at FROM deliveries
      WHERE file_name LIKE '%\\_manifest\\_%' ESCAPE '\\'
      ORDER BY firm_id, business_date, delivered_at
      """)
    {
      let c = Cells(row, session, step)
      try book.delivered(
        firmID: c.text(0), date: c.text(1), runID: c.text(2), destination: c.text(3), deliveredAt: c.text(4))
    }
    for row in try session.query(
      step,
      """
      SELECT firm_id, business_date, run_id, step, error, failed_at, exit_code::bigint FROM failures
      ORDER BY failed_at, id
      """)
    {
      let c = Cells(row, session, step)
      let failure = FailureEntry(
        firmID: try c.text(0), businessDate: try c.text(1), runID: try c.text(2), step: try c.text(3),
        error: try c.text(4), failedAt: try c.text(5), exitCode: Int(try c.int(6)))
      book.failed(failure)
    }
    return book.result
  }

  // MARK: Breaks

  public func recordBreakDay<T>(
    firm: String, extract: String, date: String, _ body: (any BreakDayRecording) throws -> T
  ) throws -> T {
    let step = "write breaks"
    let scope: [SQLValue] = [.text(firm), .text(extract)]
    return try rethrowingTransaction(step) { () throws -> T in
      try session.query(
        step,
        """
        DELETE FROM break_days WHERE business_date = $1
          AND break_id IN (SELECT break_id FROM breaks WHERE firm_id = $2 AND extract = $3)
        """, [.text(date)] + scope)
      try session.query(
        step,
        "INSERT INTO recon_runs(firm_id, extract, business_date) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        scope + [.text(date)])
      let result = try body(PostgresBreakDay(store: self, firm: firm, extract: extract, date: date))
      for sql in BreakLifecycleSQL.afterDay {
        try session.query(step, BreakLifecycleSQL.numbered(sql), scope)
      }
      return result
    }
  }

  public func breaks(firm: String, extract: String?, openOnly: Bool) throws(StateStoreError) -> [BreakEntry] {
    let step = "read breaks"
    var sql = """
      SELECT break_id, firm_id, extract, break_type, key, field, first_seen, last_seen, closed, ours, theirs,
        difference FROM breaks WHERE firm_id = $1
      """
    var values: [SQLValue] = [.text(firm)]
    if let extract {
      sql += " AND extract = $2"
      values.append(.text(extract))
    }
    if openOnly { sql += " AND closed IS NULL" }
    sql += " ORDER BY extract, key, break_type, field, break_id"
    var result: [BreakEntry] = []
    for row in try session.query(step, sql, values) {
      let c = Cells(row, session, step)
      let key = (try? JSONSerialization.jsonObject(with: Data(try c.text(4).utf8))) as? [String] ?? []
      result.append(
        BreakEntry(
          id: try c.text(0), firmID: try c.text(1), extract: try c.text(2), type: try c.text(3), key: key,
          field: try c.text(5), firstSeen: try c.text(6), lastSeen: try c.text(7),
          closed: try c.optionalText(8),
          ours: try c.text(9), theirs: try c.text(10), difference: try c.text(11)))
    }
    return result
  }
}

/// ``BreakDayRecording`` in PostgreSQL, inside ``PostgresStateStore/recordBreakDay(firm:extract:date:_:)``.
struct PostgresBreakDay: BreakDayRecording {
  let store: PostgresStateStore
  let firm: String
  let extract: String
  let date: String

  func firstSeen(before id: String) throws(StateStoreError) -> String? {
    let step = "read breaks"
    guard
      let row = try store.session.query(
        step, "SELECT MIN(business_date) FROM break_days WHERE break_id = $1 AND business_date < $2",
        [.text(id), .text(date)]
      ).first
    else { return nil }
    return try Cells(row, store.session, step).optionalText(0)
  }

  func record(_ item: BreakObservation) throws(StateStoreError) {
    let step = "write breaks"
    let key: String
    do {
      key = String(decoding: try JSONSerialization.data(withJSONObject: item.key), as: UTF8.self)
    } catch {
      throw StateStoreError(
        code: .unavailable, path: store.location, step: step, detail: "\(error)", cause: error)
    }
    try store.session.query(
      step,
      """
      INSERT INTO breaks(break_id, firm_id, extract, break_type, key, field, first_seen, last_seen, closed, ours,
        theirs, difference)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, '', '', '') ON CONFLICT (break_id) DO NOTHING
      """,
      [
        .text(item.id), .text(firm), .text(extract), .text(item.type), .text(key), .text(item.field),
        .text(date),
        .text(date),
      ])
    try store.session.query(
      step,
      """
      INSERT INTO break_days(break_id, business_date, ours, theirs, difference) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (break_id, business_date) DO UPDATE SET ours = excluded.ours, theirs = excluded.theirs,
        difference = excluded.difference
      """, [.text(item.id), .text(date), .text(item.ours), .text(item.theirs), .text(item.difference)])
  }
}
