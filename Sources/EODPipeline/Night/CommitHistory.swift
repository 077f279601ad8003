import EODCore
import EODState
import Logging

/// The night's performance history: one write transaction on the run's state-store connection,
/// holding every firm's rows, committed once by ``CommitHistory`` after every firm's files are in
/// place (a refused snapshot rolls it all back).
///
/// The rows get there in one of two ways, both inside that transaction:
/// - the nightly case (nothing of the date stored yet): the ``HistoryWriter`` wrote them during
///   the pass; a firm that fails has them deleted again (``undo(firm:)``), which restores exactly
///   what was there;
/// - a re-run or a restatement (rows of the date or later dates stored): each firm held its
///   records, and ``record(firm:firmID:held:putInPlace:)`` writes them when the firm is complete,
///   replacing the date's rows and recomputing later ones, in a savepoint of its own: a firm that
///   fails leaves the stored rows as they were.
///
/// Each firm's files are put in place, and its run recorded, in the same transaction.
final class NightHistory {
  let store: any StateStoring
  let date: CivilDate
  private let writer: HistoryWriter?
  /// Set when the transaction cannot be trusted (it could not be opened, or SQLite ended it):
  /// nothing may be committed.
  private var lost: PipelineError?

  /// Takes over the pass's writer (its rows written, logged), or opens the run's transaction.
  init(pass: SnapshotPass.Pass, store: any StateStoring, date: CivilDate, logger: Logger) {
    self.store = store
    self.date = date
    writer = pass.writer
    if let writer {
      writer.drain()
      logger.info(
        "history written",
        metadata: [
          "step": "record", "rows": .stringConvertible(writer.rows),
          "write_ms": .stringConvertible(FirmRun.milliseconds(writer.busy)),
        ])
    } else {
      do { try store.beginWrite() } catch { lost = PipelineError(state: error) }
    }
  }

  /// What recording a restated date found: the later dates the firm has run, and those whose
  /// extracts are now stale (handed to `putInPlace` before the files are renamed).
  struct Restated {
    var laterRunDates: [CivilDate] = []
    var staleDates: [CivilDate] = []
  }

  /// Records a completed firm: its held records written (nothing held: the writer wrote them), a
  /// restatement's later dates recomputed, and `putInPlace` (its files renamed, manifest
  /// written, run recorded), all of it kept or undone together.
  func record(
    firm index: Int, firmID: String, held records: [[PendingRecord]],
    putInPlace: (any StateStoring, Restated?) throws -> Void
  ) throws {
    if let writer {
      if let failure = writer.failure(firm: index) { throw failure }
      try putInPlace(writer.store, nil)
      return
    }
    if let lost { throw lost }
    do {
      try store.savepoint("record \(firmID) \(date)") {
        try putInPlace(store, try writeHeld(records, firmID: firmID))
      }
    } catch {
      if !store.inTransaction {
        lost = PipelineError(
          code: .stateStore, detail: "the night's history transaction was ended by SQLite: \(error.detail)")
      }
      throw error
    }
  }

  /// Writes a firm's held records, replacing what an earlier run of the date stored, and when the
  /// date is before the firm's latest run, recomputes the later dates.
  private func writeHeld(_ records: [[PendingRecord]], firmID: String) throws -> Restated? {
    let restating = try store.latestRunDate(firmID: firmID).map { $0 > date } ?? false
    var earlierAtDate = try store.accounts(ofFirm: firmID, withRecordAt: date)
    var touched: [Int64] = []
    var restatedChanged = false
    for pending in records.joined() {
      // Keys the night's reads found are kept with the record; new accounts get one now.
      let key = try pending.key ?? store.accountKey(pending.accountID, firmID: firmID, remember: false)
      // An account without a record at this date has no flow there to remove.
      let replacing = earlierAtDate.removeValue(forKey: pending.accountID) != nil
      if restating {
        touched.append(key)
        // Whether this run changes the date's stored figures (a re-run with the same data does not).
        if !restatedChanged, try !replacing || store.record(at: date, account: key) != pending.record {
          restatedChanged = true
        }
      }
      try store.save(pending.record, account: key, replacing: replacing)
    }
    // Accounts an earlier run of this date had, and this snapshot does not: no orphan rows.
    for (_, key) in earlierAtDate.sorted(by: { $0.key < $1.key }) {
      try store.deleteRecord(at: date, account: key)
      if restating {
        touched.append(key)
        restatedChanged = true
      }
    }
    guard restating else { return nil }
    // When the date's figures changed, every later date is stale: besides the recomputed
    // records, a later 1Y return may start at this date and every later XIRR spans its flows.
    // A re-run with the same data changes nothing, and nothing is stale.
    let changed = try recomputeLater(accounts: touched)
    var restated = Restated()
    restated.laterRunDates = try store.runDates(after: date, firmID: firmID)
    restated.staleDates = restated.laterRunDates.filter { restatedChanged || changed.contains($0) }
    return restated
  }

  /// Recomputes the accounts' records after a restated date, date by date (the history is kept
  /// in date order, so each later date's rows are read together).
  /// Returns the later dates at which a stored record changed (whose extracts are now stale).
  private func recomputeLater(accounts keys: [Int64]) throws -> Set<CivilDate> {
    var changed: Set<CivilDate> = []
    var previous: [Int64: PerformanceRecord] = [:]
    for key in keys {
      previous[key] = try store.record(at: date, account: key) ?? store.record(before: date, account: key)
    }
    for day in try store.historyDates(after: date) {
      for key in keys {
        guard let stored = try store.record(at: day, account: key) else { continue }
        let before = previous[key]
        let updated = Performance.advance(
          previous: before, date: stored.date, value: stored.value,
          flows: ExternalFlows(net: stored.flow, inflow: stored.flowIn),
          opensToday: stored.kind == .opening && before == nil)
        if updated != stored {
          try store.save(updated, account: key, replacing: true)
          changed.insert(day)
        }
        previous[key] = updated
      }
    }
    return changed
  }

  /// Takes a failed firm's rows out again (rows held by the firm were never written, or were
  /// undone with its savepoint).
  func undo(firm index: Int) { writer?.undo(firm: index) }

  /// Commits the night's rows (nothing when the transaction was lost: the caller reports it).
  func commit() throws(PipelineError) {
    // The writer's transaction is this one (the same connection); it may have lost it too.
    if let lost = lost ?? writer?.lost {
      store.rollbackWrite()
      throw lost
    }
    do { try store.commitWrite() } catch {
      store.rollbackWrite()
      throw PipelineError(state: error)
    }
  }

  /// Drops everything written (a refused snapshot, or an early exit).
  func rollback() { store.rollbackWrite() }
}

/// A stage of the night (docs/architecture.md): the history committed, once, when the snapshot passed and every firm's
/// files are in place; then the connections' reads released and the log checkpointed.
enum CommitHistory {
  static func run(
    _ history: NightHistory, outcomes: [FirmOutcome], pass: SnapshotPass.Pass, snapshot: OpenedSnapshot,
    sharedStateStore: Bool = false, logger: Logger
  ) -> [FirmOutcome] {
    var outcomes = outcomes
    if snapshot.gate.wait() == nil {
      do {
        try history.commit()
      } catch {
        // The files of the completed firms are in place, but their history and runs are not
        // recorded: they count as failed, and re-running the date replaces them.
        logger.error("the night's history could not be recorded: \(error)")
        for index in outcomes.indices where outcomes[index].error == nil {
          outcomes[index].error = PipelineError(
            code: error.code, firmID: outcomes[index].firmID,
            detail: "files written but the history was not recorded: \(error.detail)", cause: error)
        }
      }
    } else {
      history.rollback()
    }
    // The processing threads' connections held a read transaction for their history reads.
    for worker in pass.stores { worker.releaseReads() }
    do { try history.store.checkpoint(passive: sharedStateStore) } catch { logger.warning("\(error)") }
    return outcomes
  }
}
