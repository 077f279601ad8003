import EODSQLite
import Foundation

/// One recorded failure: a firm's extract or delivery, or a whole run that did nothing
/// (`firmID` empty).
public struct FailureEntry: Sendable, Equatable {
  public var firmID: String
  public var businessDate: String
  public var runID: String
  /// `extract`, `deliver`, or `run` (the whole run stopped: exit 2 or 70).
  public var step: String
  public var error: String
  /// RFC 3339 UTC.
  public var failedAt: String
  public var exitCode: Int

  public init(
    firmID: String, businessDate: String, runID: String, step: String, error: String, failedAt: String,
    exitCode: Int
  ) {
    self.firmID = firmID
    self.businessDate = businessDate
    self.runID = runID
    self.step = step
    self.error = error
    self.failedAt = failedAt
    self.exitCode = exitCode
  }
}

/// A firm's state for `eod-extract status`.
public struct FirmStatus: Sendable, Equatable {
  public var firmID: String
  /// The last business date whose extracts were written (the `runs` table) and its run.
  public var lastWritten: (date: String, runID: String, completedAt: String)?
  /// The last business date whose manifest reached a destination (the delivery journal), its
  /// run, destination and time.
  public var lastDelivered: (date: String, runID: String, destination: String, deliveredAt: String)?
  /// The most recent failure recorded for the firm.
  public var lastFailure: FailureEntry?

  public static func == (lhs: FirmStatus, rhs: FirmStatus) -> Bool {
    lhs.firmID == rhs.firmID && lhs.lastWritten?.date == rhs.lastWritten?.date
      && lhs.lastWritten?.runID == rhs.lastWritten?.runID
      && lhs.lastDelivered?.date == rhs.lastDelivered?.date
      && lhs.lastDelivered?.runID == rhs.lastDelivered?.runID && lhs.lastFailure == rhs.lastFailure
  }
}

/// The outcome an idempotency key stands for (the columns added to `idempotency` by this
/// version; a row written before them reads as a completed run, exit 0).
public struct IdempotencyOutcome: Sendable, Equatable {
  public var exitCode: Int
  /// Firms that failed (extract or delivery) and that a retry under the key does again.
  public var failedFirms: [String]
  /// What the run printed (summary and delivery lines), replayed as it was.
  public var report: String

  public init(exitCode: Int, failedFirms: [String], report: String) {
    self.exitCode = exitCode
    self.failedFirms = failedFirms
    self.report = report
  }
}

extension StateStore {
  /// The `failures` table and the idempotency outcome columns, added to a store of any age
  /// (additive: nothing existing changes).
  func ensureOutcomeSchema() throws {
    try db.execute(
      """
      CREATE TABLE IF NOT EXISTS failures (
        firm_id TEXT NOT NULL, business_date TEXT NOT NULL, run_id TEXT NOT NULL, step TEXT NOT NULL,
        error TEXT NOT NULL, failed_at TEXT NOT NULL, exit_code INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS failures_by_firm ON failures(firm_id, failed_at);
      """)
    let columns = try db.prepare("SELECT name FROM pragma_table_info('idempotency')")
    var names: Set<String> = []
    while try columns.step() { if let name = columns.text(0) { names.insert(name) } }
    if !names.contains("exit_code") {
      try db.execute(
        """
        ALTER TABLE idempotency ADD COLUMN exit_code INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE idempotency ADD COLUMN failed_firms TEXT NOT NULL DEFAULT '';
        ALTER TABLE idempotency ADD COLUMN report TEXT NOT NULL DEFAULT '';
        """)
    }
  }

  /// Records failures (one per firm, or one with an empty firm for a whole run).
  public func recordFailures(_ entries: [FailureEntry]) throws(StateStoreError) {
    guard !entries.isEmpty else { return }
    releaseReads()
    try wrap("write failures") {
      try ensureOutcomeSchema()
      try db.transaction {
        for entry in entries {
          try statement(
            """
            INSERT INTO failures(firm_id, business_date, run_id, step, error, failed_at, exit_code)
            VALUES (?,?,?,?,?,?,?)
            """
          ).run([
            .text(entry.firmID), .text(entry.businessDate), .text(entry.runID), .text(entry.step),
            .text(entry.error), .text(entry.failedAt), .integer(Int64(entry.exitCode)),
          ])
        }
      }
    }
  }

  /// Per firm (every firm the store has heard of: runs, journal, failures), in firm order; and
  /// the last whole-run failure, if any.
  public func firmStatuses() throws(StateStoreError) -> (firms: [FirmStatus], lastRunFailure: FailureEntry?) {
    try wrap("read status") {
      try ensureOutcomeSchema()
      var book = FirmStatusBook()
      let written = try db.prepare(
        """
        SELECT firm_id, business_date, run_id, completed_at FROM runs r
        WHERE business_date = (SELECT MAX(business_date) FROM runs WHERE firm_id = r.firm_id)
        """)
      while try written.step() {
        book.written(
          firmID: written.text(0) ?? "", date: written.text(1) ?? "", runID: written.text(2) ?? "",
          completedAt: written.text(3) ?? "")
      }
      // A date counts as delivered when its manifest is in the journal (the manifest goes last).
      let delivered = try db.prepare(
        """
        SELECT firm_id, business_date, run_id, destination, delivered_at FROM deliveries
        WHERE file_name LIKE '%\\_manifest\\_%' ESCAPE '\\'
        ORDER BY firm_id, business_date, delivered_at
        """)
      while try delivered.step() {
        book.delivered(
          firmID: delivered.text(0) ?? "", date: delivered.text(1) ?? "", runID: delivered.text(2) ?? "",
          destination: delivered.text(3) ?? "", deliveredAt: delivered.text(4) ?? "")
      }
      let failures = try db.prepare(
        """
        SELECT firm_id, business_date, run_id, step, error, failed_at, exit_code FROM failures
        ORDER BY failed_at, rowid
        """)
      while try failures.step() {
        let failure = FailureEntry(
          firmID: failures.text(0) ?? "", businessDate: failures.text(1) ?? "", runID: failures.text(2) ?? "",
          step: failures.text(3) ?? "", error: failures.text(4) ?? "", failedAt: failures.text(5) ?? "",
          exitCode: Int(failures.int64(6)))
        book.failed(failure)
      }
      return book.result
    }
  }

  /// The outcome stored with an idempotency key (nil when the key is unknown).
  public func idempotencyOutcome(_ key: String) throws(StateStoreError) -> IdempotencyOutcome? {
    try wrap("read idempotency key") {
      try ensureOutcomeSchema()
      let s = try db.prepare("SELECT exit_code, failed_firms, report FROM idempotency WHERE key = ?")
      try s.bind([.text(key)])
      guard try s.step() else { return nil }
      let failed = (s.text(1) ?? "").split(separator: "\n").map(String.init)
      return IdempotencyOutcome(exitCode: Int(s.int64(0)), failedFirms: failed, report: s.text(2) ?? "")
    }
  }

  /// Stores the outcome of the run(s) under a key (with ``saveIdempotencyRecord``).
  public func saveIdempotencyOutcome(_ key: String, _ outcome: IdempotencyOutcome) throws(StateStoreError) {
    releaseReads()
    try wrap("write idempotency key") {
      try ensureOutcomeSchema()
      try db.prepare("UPDATE idempotency SET exit_code = ?, failed_firms = ?, report = ? WHERE key = ?").run([
        .integer(Int64(outcome.exitCode)), .text(outcome.failedFirms.joined(separator: "\n")),
        .text(outcome.report), .text(key),
      ])
    }
  }
}

extension FirmStatus {
  public init(firmID: String) {
    self.firmID = firmID
    lastWritten = nil
    lastDelivered = nil
    lastFailure = nil
  }
}
