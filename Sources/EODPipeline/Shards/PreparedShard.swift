import EODCore
import EODOps
import EODState
import Foundation
import Logging

/// One shard's part of a night, made ready before the night runs: the plan (stored, or made and
/// stored), the shard's firms locked, and those already complete and delivered set aside.
public struct PreparedShard {
  public var plan: StoredShardPlan
  /// The shard's firms still to run (its others are complete and delivered already).
  public var toRun: [String]
  public var skipped: [String]
  /// The per-(firm, date) lock files of a SQLite store, held until the night ends
  /// (`PreparedNight.release()`; a PostgreSQL store's are advisory locks of its connection: none
  /// here).
  public var locks: [RunLock]

  public static func prepare(
    _ selection: ShardSelection, runPlan: RunPlan, date: CivilDate, store: any StateStoring, runID: String,
    logger: Logger
  ) throws -> PreparedShard {
    let day = date.description
    let plan = try storedOrNewPlan(selection, runPlan: runPlan, date: day, store: store)
    let firms = plan.firms(ofShard: selection.index)
    var locks: [RunLock] = []
    if store is StateStore {
      locks = try lockFirms(firms, date: day, statePath: runPlan.statePath, runID: runID, logger: logger)
    } else {
      // PostgreSQL: a session-level advisory lock per firm and date on the night's own connection
      // (the same ones the night's Preflight takes: held already, so it takes nothing again),
      // freed by the server when the connection ends, a killed shard's included.
      try store.lockWriters(firmIDs: firms.filter(FirmIdentifier.isValid), date: date, runID: runID)
    }
    var toRun: [String] = []
    var skipped: [String] = []
    for firm in firms {
      if try isCompleteAndDelivered(firm, date: date, store: store) {
        skipped.append(firm)
      } else {
        toRun.append(firm)
      }
    }
    return PreparedShard(plan: plan, toRun: toRun, skipped: skipped, locks: locks)
  }

  /// The date's stored plan, or a new one (made from the snapshot and stored). A stored plan
  /// with another number of shards is a usage error: the job was started with the wrong N.
  static func storedOrNewPlan(
    _ selection: ShardSelection, runPlan: RunPlan, date: String, store: any StateStoring
  ) throws -> StoredShardPlan {
    if let stored = try store.shardPlan(businessDate: date) {
      guard stored.shardCount == selection.count else {
        throw RunRefusal(
          .usage,
          "shard \(selection.description): the plan stored for \(date) has \(stored.shardCount) shards, not \(selection.count) "
            + "(run with N = \(stored.shardCount), or make a new plan with eod-extract plan --replace)")
      }
      return stored
    }
    let plan = try makePlan(snapshot: runPlan.snapshot, firms: runPlan.firms, shards: selection.count)
    switch try store.storeShardPlan(plan, replace: false) {
    case .stored, .unchanged: return plan
    case .conflict(let other):
      // Another shard stored a plan first (made from the same snapshot, so the same, unless the
      // snapshot changed in between): use the stored one, as every shard must.
      guard other.shardCount == selection.count else {
        throw RunRefusal(
          .usage, "the plan stored for \(date) has \(other.shardCount) shards, not \(selection.count)")
      }
      return other
    }
  }

  /// The plan for the configured firms (empty: every firm of the snapshot, with `all_firms`).
  public static func makePlan(snapshot: String, firms: [String], shards: Int) throws -> StoredShardPlan {
    do {
      return try ShardPlanner.plan(snapshotPath: snapshot, firms: firms, shards: shards)
    } catch let error as ShardError {
      throw RunRefusal(.usage, error.detail)
    } catch {
      throw RunRefusal(.nothingDone, "cannot plan the shards from \(snapshot): \(error)", cause: error)
    }
  }

  /// Exclusive locks on `<state>.lock.d/<date>.<firm>.lock`, one per firm, each holding the
  /// holder's PID, host and run id: a second writer of the same firm and date exits 3 naming it.
  static func lockFirms(_ firms: [String], date: String, statePath: String, runID: String, logger: Logger)
    throws
    -> [RunLock]
  {
    let folder = RunLock.lockPath(forStateStore: statePath) + ".d"
    if mkdir(folder, 0o700) != 0 && errno != EEXIST {
      throw RunRefusal(
        .nothingDone, "cannot create the firm lock folder \(folder): \(String(cString: strerror(errno)))")
    }
    let host = ProcessInfo.processInfo.hostName
    var locks: [RunLock] = []
    for firm in firms {
      // Firm ids of a plan are the configuration's or the snapshot's; only a valid id (1-64 of
      // A-Z a-z 0-9 - _) names a file, an invalid one fails alone in the night.
      guard FirmIdentifier.isValid(firm) else { continue }
      do throws(RunLockError) {
        locks.append(
          try RunLock.acquire(
            lockPath: "\(folder)/\(date).\(firm).lock", holder: "host=\(host) run_id=\(runID)", logger: logger
          ))
      } catch {
        var refused = error
        if error.code == .alreadyRunning {
          refused.detail =
            "firm \(firm) for \(date) is being written by another run; this shard waits for it to end"
        }
        throw refused
      }
    }
    return locks
  }

  /// A firm whose run of the date completed (its manifest recorded) and whose journal shows that
  /// same manifest delivered: a retried shard leaves it as it is.
  public static func isCompleteAndDelivered(_ firm: String, date: CivilDate, store: any StateStoring) throws
    -> Bool
  {
    guard let manifest = try store.completedManifest(firmID: firm, businessDate: date.description) else {
      return false
    }
    let name = CompleteSets.manifestName(firmID: firm, date: date)
    return try store.journal(firmID: firm, businessDate: date.description, destination: nil).contains {
      $0.fileName == name && $0.sha256 == manifest
    }
  }
}
