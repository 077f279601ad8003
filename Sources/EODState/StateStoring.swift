import EODCore
import Foundation

/// What the night and the commands need from a state store, whatever keeps it: the SQLite file
/// (``StateStore``, the embedded default) or a PostgreSQL database (`EODStatePostgres`). One
/// contract, proved by the contract tests against both (Tests/EODPipelineTests/StateContractTests).
///
/// A value is one connection: used by one thread at a time. SQL, transactions' mechanics and
/// caches stay inside the backends. A sharded night's plan, finishes and fan-in are the part in
/// ``ShardStoring`` (Shards.swift).
public protocol StateStoring: ShardStoring {
  /// Where the store is, for messages (a file path, or a URL without its password).
  var location: String { get }

  /// Another connection to the same store, for a processing thread's history reads.
  /// - Parameter small: the connection only reads a night's history in key order (a small cache).
  func openReader(small: Bool) throws(StateStoreError) -> any StateStoring

  /// Claims the right to write these firms' business date for this run, at once or not at all
  /// (``StateStoreError/Code/locked``, exit 3, naming the holder). SQLite: nothing to do (the
  /// run lock, `STATE.lock`, covers the whole file); PostgreSQL: an advisory lock per firm and
  /// date, released by the server when the connection ends.
  func lockWriters(firmIDs: [String], date: CivilDate, runID: String) throws(StateStoreError)

  // MARK: Transactions

  /// Opens a write transaction that stays open across calls (the night's history).
  func beginWrite() throws(StateStoreError)
  /// Commits the transaction of ``beginWrite()``.
  func commitWrite() throws(StateStoreError)
  /// Rolls back the transaction of ``beginWrite()``, if one is still open.
  func rollbackWrite()
  /// Whether a usable transaction is open on this connection (a backend may end one on its own
  /// after some errors).
  var inTransaction: Bool { get }
  /// Runs `body` inside the open write transaction: its writes kept when it returns, undone when
  /// it throws.
  func savepoint<T>(_ step: String, _ body: () throws -> T) throws(StateStoreError) -> T
  /// Runs `body` in one transaction of its own.
  func transaction<T>(_ step: String, _ body: () throws -> T) throws(StateStoreError) -> T
  /// Keeps one read snapshot for a night's history reads (ended by the next write).
  func holdReads() throws(StateStoreError)
  /// Ends the reads of ``holdReads()``.
  func releaseReads()
  /// Housekeeping after a night's writes (SQLite folds its log back, only as far as it can without
  /// waiting when `passive`: the store is shared by a night's shards; nothing elsewhere).
  func checkpoint(passive: Bool) throws(StateStoreError)

  // MARK: Accounts and history

  /// Reads ahead, in one go, what a night's history reads of `date` will ask for these accounts
  /// (their keys, each one's record before `date`, its 1Y window start, its flows and its record at
  /// its flow origin), and answers those reads from memory until the next call, the next write
  /// or ``releaseReads()``: a store whose every read is a round trip to a server reads a batch of
  /// accounts at once. A read asked with other arguments is read as usual. SQLite: nothing (its
  /// reads cost no trip). A failure leaves nothing read ahead and is logged: the reads then go to
  /// the store one by one and report their own failure.
  func readAhead(accountIDs: [String], date: CivilDate)

  func accountKey(_ accountID: String, firmID: String, remember: Bool) throws(StateStoreError) -> Int64
  /// Keys for several accounts at once, of one firm or several, created (with their firm) on
  /// first use, in the order given.
  func accountKeys(_ accounts: [(accountID: String, firmID: String)]) throws(StateStoreError) -> [Int64]
  func existingAccountKey(_ accountID: String, remember: Bool) throws(StateStoreError) -> Int64?
  func latestRecord(account key: Int64) throws(StateStoreError) -> PerformanceRecord?
  func record(before date: CivilDate, account key: Int64) throws(StateStoreError) -> PerformanceRecord?
  func record(at date: CivilDate, account key: Int64) throws(StateStoreError) -> PerformanceRecord?
  func windowStart(onOrBefore date: CivilDate, account key: Int64) throws(StateStoreError)
    -> Performance.WindowStart?
  func flows(account key: Int64, after origin: CivilDate, before date: CivilDate) throws(StateStoreError)
    -> [(date: CivilDate, flow: Money)]
  func save(_ record: PerformanceRecord, account key: Int64, replacing: Bool) throws(StateStoreError)
  /// A night's records, in batches (a date's first write: no earlier flow is removed).
  func save(_ batch: [(record: PerformanceRecord, account: Int64)]) throws(StateStoreError)
  func deleteRecord(at date: CivilDate, account key: Int64) throws(StateStoreError)
  func records(after date: CivilDate, account key: Int64) throws(StateStoreError) -> [PerformanceRecord]
  func historyDates(after date: CivilDate) throws(StateStoreError) -> [CivilDate]
  func allRecords(accountID: String) throws(StateStoreError) -> [PerformanceRecord]
  func hasRecords(at date: CivilDate) throws(StateStoreError) -> Bool
  func accounts(ofFirm firmID: String, withRecordAt date: CivilDate) throws(StateStoreError) -> [String:
    Int64]
  /// The number of history rows and what the store takes on disk.
  func footprint() throws(StateStoreError) -> (bytes: Int64, historyRows: Int64)

  // MARK: Runs, journal, idempotency, failures

  func latestRunDate(firmID: String?) throws(StateStoreError) -> CivilDate?
  func runDates(after date: CivilDate, firmID: String) throws(StateStoreError) -> [CivilDate]
  func recordRun(
    date: CivilDate, firmID: String, runID: String, snapshot: String, completedAt: String, gapCarried: Bool,
    manifestSHA256: String?
  ) throws(StateStoreError)
  func recordDelivery(_ entry: JournalEntry) throws(StateStoreError)
  func journal(firmID: String?, businessDate: String?, destination: String?) throws(StateStoreError)
    -> [JournalEntry]
  func idempotencyRecord(_ key: String) throws(StateStoreError) -> IdempotencyEntry?
  func saveIdempotencyRecord(_ key: String, fingerprint: String, createdAt: Date, result: String)
    throws(StateStoreError)
  func idempotencyOutcome(_ key: String) throws(StateStoreError) -> IdempotencyOutcome?
  func saveIdempotencyOutcome(_ key: String, _ outcome: IdempotencyOutcome) throws(StateStoreError)
  func recordFailures(_ entries: [FailureEntry]) throws(StateStoreError)
  func firmStatuses() throws(StateStoreError) -> (firms: [FirmStatus], lastRunFailure: FailureEntry?)

  // MARK: Moving a store (``StateDump``)

  /// Every row of `table` (a table of ``StateDump/tables``), in its export order.
  func dumpRows(_ table: StateDump.Table, _ each: ([StateDump.Cell]) throws -> Void) throws
  /// Adds rows to `table` (inside the import's transaction).
  func loadRows(_ table: StateDump.Table, _ rows: [[StateDump.Cell]]) throws(StateStoreError)
  /// Whether the store holds no accounts and no runs (an import's target).
  func isEmptyStore() throws(StateStoreError) -> Bool

  // MARK: Breaks

  /// Replaces the result of (firm, extract, date) with the breaks `body` records, in one
  /// transaction (see ``StateStore/recordBreakDay(firm:extract:date:_:)``).
  func recordBreakDay<T>(
    firm: String, extract: String, date: String, _ body: (any BreakDayRecording) throws -> T
  ) throws -> T
  func breaks(firm: String, extract: String?, openOnly: Bool) throws(StateStoreError) -> [BreakEntry]
}

/// Records one reconciliation's breaks (firm, extract, business date) inside
/// ``StateStoring/recordBreakDay(firm:extract:date:_:)``'s transaction.
public protocol BreakDayRecording {
  /// The earliest business date before this one on which the break was reported, if any.
  func firstSeen(before id: String) throws(StateStoreError) -> String?
  /// Records that the break is reported on this date.
  func record(_ item: BreakObservation) throws(StateStoreError)
}

extension StateStoring {
  /// Keys for several accounts of one firm (``accountKeys(_:)``).
  public func accountKeys(_ accountIDs: [String], firmID: String) throws(StateStoreError) -> [Int64] {
    try accountKeys(accountIDs.map { (accountID: $0, firmID: firmID) })
  }
}
