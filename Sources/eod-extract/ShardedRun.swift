import EODCore
import EODDelivery
import EODOps
import EODPipeline
import EODState
import Foundation
import Logging
import Synchronization

/// Which shard of a night a `run` is: `--shard K/N`, or `--shards N` with K from
/// `JOB_COMPLETION_INDEX` (what a Kubernetes Indexed Job sets in each pod).
struct ShardSelection: Equatable {
  var index: Int
  var count: Int

  /// The shard asked for, nil when the run is not sharded; a bad value is a usage error (64).
  static func resolve(shard: String?, shards: Int?, environment: [String: String]) throws -> ShardSelection? {
    if let shard {
      let parts = shard.split(separator: "/", omittingEmptySubsequences: false)
      guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1, index >= 0,
        index < count
      else {
        throw Failure(.usage, "--shard '\(shard)' is not K/N with 0 <= K < N (for example 0/4)")
      }
      return ShardSelection(index: index, count: count)
    }
    guard let shards else { return nil }
    guard shards >= 1 else { throw Failure(.usage, "--shards \(shards): at least 1") }
    guard let text = environment["JOB_COMPLETION_INDEX"] else {
      throw Failure(
        .usage,
        "--shards \(shards) takes the shard from JOB_COMPLETION_INDEX, which is not set (or give --shard K/N)"
      )
    }
    guard let index = Int(text.trimmingCharacters(in: .whitespaces)), index >= 0, index < shards else {
      throw Failure(.usage, "JOB_COMPLETION_INDEX '\(text)' is not a shard index from 0 to \(shards - 1)")
    }
    return ShardSelection(index: index, count: shards)
  }

  var description: String { "\(index)/\(count)" }
}

/// One shard's part of a night, made ready before the night runs: the plan (stored, or made and
/// stored), the shard's firms locked, and those already complete and delivered set aside.
struct PreparedShard {
  var plan: StoredShardPlan
  /// The shard's firms still to run (its others are complete and delivered already).
  var toRun: [String]
  var skipped: [String]
  /// The per-(firm, date) lock files of a SQLite store, held until the process ends (a PostgreSQL
  /// store's are advisory locks of its connection: none here).
  var locks: [RunLock]

  static func prepare(
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
        throw Failure(
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
        throw Failure(
          .usage, "the plan stored for \(date) has \(other.shardCount) shards, not \(selection.count)")
      }
      return other
    }
  }

  /// The plan for the configured firms (empty: every firm of the snapshot, with `all_firms`).
  static func makePlan(snapshot: String, firms: [String], shards: Int) throws -> StoredShardPlan {
    do {
      return try ShardPlanner.plan(snapshotPath: snapshot, firms: firms, shards: shards)
    } catch let error as ShardError {
      throw Failure(.usage, error.detail)
    } catch {
      throw Failure(.nothingDone, "cannot plan the shards from \(snapshot): \(error)")
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
      throw Failure(
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
  static func isCompleteAndDelivered(_ firm: String, date: CivilDate, store: any StateStoring) throws -> Bool
  {
    guard let manifest = try store.completedManifest(firmID: firm, businessDate: date.description) else {
      return false
    }
    let name = "\(firm)_manifest_\(date.compact).json"
    return try store.journal(firmID: firm, businessDate: date.description, destination: nil).contains {
      $0.fileName == name && $0.sha256 == manifest
    }
  }
}

/// The test hooks `EOD_TEST_PAUSE_BEFORE_SECOND_DELIVERY=FILE` and
/// `EOD_TEST_PAUSE_AFTER_FIRST_DELIVERY=FILE` (tests only, documented in docs/operations.md beside
/// `EOD_TEST_INTERNAL_ERROR`): the run's second firm delivery first creates FILE and sleeps two
/// minutes, so a test can SIGKILL a shard whose first firm is delivered and journaled and whose
/// others are not; or the first firm's delivery, once the destination holds every file (manifest
/// included), creates FILE and sleeps two minutes before the journal records any of it.
struct PausingDestination: Destination {
  enum Moment { case beforeSecondDelivery, afterFirstDelivery }
  let inner: any Destination
  let marker: String
  let moment: Moment
  static let deliveries = Mutex(0)

  var displayName: String { inner.displayName }

  func deliver(_ set: DeliverySet, resend: Bool, logger: Logger) async throws(DeliveryError)
    -> [DeliveredFile]
  {
    let number = Self.deliveries.withLock { count in
      count += 1
      return count
    }
    if moment == .beforeSecondDelivery && number == 2 { pause() }
    let placed = try await inner.deliver(set, resend: resend, logger: logger)
    if moment == .afterFirstDelivery && number == 1 { pause() }
    return placed
  }

  private func pause() {
    _ = FileManager.default.createFile(atPath: marker, contents: Data("\(getpid())\n".utf8))
    sleep(120)
  }

  /// The destinations, wrapped when a hook is set.
  static func wrap(_ destinations: [String: any Destination]) -> [String: any Destination] {
    let environment = ProcessInfo.processInfo.environment
    if let marker = environment["EOD_TEST_PAUSE_BEFORE_SECOND_DELIVERY"] {
      return destinations.mapValues {
        PausingDestination(inner: $0, marker: marker, moment: .beforeSecondDelivery)
      }
    }
    if let marker = environment["EOD_TEST_PAUSE_AFTER_FIRST_DELIVERY"] {
      return destinations.mapValues {
        PausingDestination(inner: $0, marker: marker, moment: .afterFirstDelivery)
      }
    }
    return destinations
  }
}
