import Dispatch
import EODCore
import EODState
import EODStatePostgres
import Foundation
import PostgresTestServer
import Synchronization
import Testing

/// The sharded night's state (``ShardStoring``) on both backends: plans stored once per date and
/// replaced only when asked, the shards' finishes, exactly one claim of the night (also when the
/// shards finish at the same moment, each on its own connection), the fan-in's verdict, and a
/// firm's completed manifest.
@Suite struct ShardStateContractTests {
  static let date = "2026-10-01"

  func plan(_ shards: Int, firms: Int = 6, date: String = Self.date) -> StoredShardPlan {
    StoredShardPlan(
      businessDate: date, shardCount: shards,
      assignments: (0..<firms).map {
        ShardAssignment(firmID: "FIRM\($0)", shard: $0 % shards, weight: 100 + $0)
      })
  }

  @Test(arguments: Backend.allCases)
  func aPlanIsStoredOnceAndReplacedOnlyWhenAsked(backend: Backend) throws {
    let scratch = try Fixtures.scratch("shard-plan-\(backend)")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let store = try backend.open("shardplan", scratch: scratch)
    #expect(try store.shardPlan(businessDate: Self.date) == nil)
    let first = plan(3)
    #expect(try store.storeShardPlan(first, replace: false) == .stored)
    #expect(try store.shardPlan(businessDate: Self.date) == first)
    #expect(try store.shardPlan(businessDate: "2026-10-02") == nil)
    // The same assignment with other weights is the same plan.
    var reweighed = first
    reweighed.assignments[0].weight = 1
    #expect(try store.storeShardPlan(reweighed, replace: false) == .unchanged)
    #expect(try store.shardPlan(businessDate: Self.date)?.assignments[0].weight == 100)
    let other = plan(2)
    #expect(try store.storeShardPlan(other, replace: false) == .conflict(first))
    #expect(try store.shardPlan(businessDate: Self.date) == first)
    // Replacing forgets the old plan's finishes and fan-in.
    _ = try store.recordShardFinish(businessDate: Self.date, shard: 0, runID: "r0", at: "t0")
    try store.recordNight(businessDate: Self.date, runID: "f", at: "t", complete: false)
    #expect(try store.storeShardPlan(other, replace: true) == .stored)
    #expect(try store.shardPlan(businessDate: Self.date) == other)
    #expect(try store.shardFinishes(businessDate: Self.date).isEmpty)
    #expect(try store.night(businessDate: Self.date) == nil)
  }

  @Test(arguments: Backend.allCases)
  func theLastShardToFinishClaimsTheNightOnceAndFinalizeRecordsItsVerdict(backend: Backend) throws {
    let scratch = try Fixtures.scratch("shard-finish-\(backend)")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let store = try backend.open("shardfinish", scratch: scratch)
    // No plan: a finish is recorded but claims nothing.
    #expect(try !store.recordShardFinish(businessDate: "2026-10-02", shard: 0, runID: "x", at: "t"))
    #expect(try store.night(businessDate: "2026-10-02") == nil)
    #expect(try store.storeShardPlan(plan(3), replace: false) == .stored)
    #expect(try !store.recordShardFinish(businessDate: Self.date, shard: 2, runID: "r2", at: "t1"))
    #expect(try !store.recordShardFinish(businessDate: Self.date, shard: 0, runID: "r0", at: "t2"))
    // A retried shard's finish replaces its first; still not every shard.
    #expect(try !store.recordShardFinish(businessDate: Self.date, shard: 0, runID: "r0b", at: "t3"))
    #expect(
      try store.shardFinishes(businessDate: Self.date) == [
        ShardFinish(shard: 0, runID: "r0b", finishedAt: "t3"),
        ShardFinish(shard: 2, runID: "r2", finishedAt: "t1"),
      ])
    #expect(try store.night(businessDate: Self.date) == nil)
    #expect(try store.recordShardFinish(businessDate: Self.date, shard: 1, runID: "r1", at: "t4"))
    #expect(
      try store.night(businessDate: Self.date)
        == NightRecord(businessDate: Self.date, claimedBy: "r1", claimedAt: "t4", complete: nil))
    // Every later finish (a shard retried after the night was claimed) claims nothing.
    #expect(try !store.recordShardFinish(businessDate: Self.date, shard: 2, runID: "r2b", at: "t5"))
    #expect(try !store.recordShardFinish(businessDate: Self.date, shard: 1, runID: "r1b", at: "t6"))
    // The verdict: the claim stays, the verdict is the latest finalize's.
    try store.recordNight(businessDate: Self.date, runID: "f1", at: "t7", complete: false)
    #expect(try store.night(businessDate: Self.date)?.complete == false)
    try store.recordNight(businessDate: Self.date, runID: "f2", at: "t8", complete: true)
    #expect(
      try store.night(businessDate: Self.date)
        == NightRecord(businessDate: Self.date, claimedBy: "r1", claimedAt: "t4", complete: true))
    // A finalize of a night nobody claimed claims it.
    try store.recordNight(businessDate: "2026-10-05", runID: "f3", at: "t9", complete: false)
    #expect(
      try store.night(businessDate: "2026-10-05")
        == NightRecord(businessDate: "2026-10-05", claimedBy: "f3", claimedAt: "t9", complete: false))
  }

  /// Four shards finish at the same moment, each on its own connection, night after night: every
  /// night is claimed exactly once (the last finish must see the others' even while they commit).
  /// Four shards store the same plan at once: one stores it, none fails.
  @Test(arguments: Backend.allCases)
  func shardsFinishingTogetherClaimTheNightExactlyOnce(backend: Backend) throws {
    let scratch = try Fixtures.scratch("shard-race-\(backend)")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let store = try backend.open("shardrace", scratch: scratch)
    let shards = 4
    let location = store.location
    for night in 1...12 {
      let date = "2026-11-\(night < 10 ? "0" : "")\(night)"
      let nightPlan = plan(shards, firms: 8, date: date)
      let stored = Mutex<[String]>([])
      let claims = Mutex<[Int]>([])
      let start = DispatchSemaphore(value: 0)
      let group = DispatchGroup()
      let ready = DispatchSemaphore(value: 0)
      for index in 0..<shards {
        group.enter()
        Thread.detachNewThread {
          defer { group.leave() }
          do {
            // Each shard its own connection, opened before the start.
            let worker = try backend.connect(location)
            ready.signal()
            start.wait()
            let outcome = try worker.storeShardPlan(nightPlan, replace: false)
            stored.withLock { $0.append("\(outcome)") }
            if try worker.recordShardFinish(businessDate: date, shard: index, runID: "r\(index)", at: "t") {
              claims.withLock { $0.append(index) }
            }
          } catch {
            stored.withLock { $0.append("error: \(error)") }
            ready.signal()
          }
        }
      }
      for _ in 0..<shards { ready.wait() }
      for _ in 0..<shards { start.signal() }
      group.wait()
      let outcomes = stored.withLock { $0 }.sorted()
      #expect(
        outcomes == ["stored"] + Array(repeating: "unchanged", count: shards - 1), "\(date): \(outcomes)")
      let claimed = claims.withLock { $0 }
      #expect(claimed.count == 1, "\(date): claimed by shards \(claimed)")
      #expect(try store.shardFinishes(businessDate: date).count == shards)
      #expect(try store.night(businessDate: date)?.claimedBy == claimed.first.map { "r\($0)" })
    }
  }

  @Test(arguments: Backend.allCases)
  func aFirmsCompletedManifestIsItsRecordedRuns(backend: Backend) throws {
    let scratch = try Fixtures.scratch("shard-manifest-\(backend)")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let store = try backend.open("shardmanifest", scratch: scratch)
    let day = try #require(CivilDate(Self.date))
    #expect(try store.completedManifest(firmID: "F1", businessDate: Self.date) == nil)
    try store.recordRun(
      date: day, firmID: "F1", runID: "r", snapshot: "s", completedAt: "t", gapCarried: false,
      manifestSHA256: "abc")
    try store.recordRun(
      date: day, firmID: "F2", runID: "r", snapshot: "s", completedAt: "t", gapCarried: false,
      manifestSHA256: nil)
    #expect(try store.completedManifest(firmID: "F1", businessDate: Self.date) == "abc")
    #expect(try store.completedManifest(firmID: "F2", businessDate: Self.date) == nil)
    #expect(try store.completedManifest(firmID: "F1", businessDate: "2026-10-02") == nil)
  }

  /// A store of schema version 1 (before sharded nights) is refused until `migrate-state` adds
  /// version 2's tables, which it does once, keeping every row already there.
  @Test func aVersion1StoreIsMigratedToTheShardTables() throws {
    let url = try Backend.postgresURL("shardupgrade")
    _ = try PostgresStateStore.migrate(url: url, logger: Fixtures.logger)
    let server = try PostgresTestServer.started()
    // Back to version 1, with a run recorded.
    try server.sql(
      """
      DROP TABLE shard_plans, shard_finishes, nights; DELETE FROM schema_versions WHERE version = 2;
      INSERT INTO runs(business_date, firm_id, run_id, snapshot, completed_at, manifest_sha256)
      VALUES ('2026-10-01', 'F1', 'r', 's', 't', 'abc')
      """, database: url.database)
    let refused = #expect(throws: StateStoreError.self) {
      try PostgresStateStore(url: url, logger: Fixtures.logger)
    }
    #expect(refused?.description.contains("schema is version 1, this binary needs version 2") == true)
    let applied = try PostgresStateStore.migrate(url: url, logger: Fixtures.logger)
    #expect(applied.from == 1 && applied.to == 2)
    let store = try PostgresStateStore(url: url, logger: Fixtures.logger)
    #expect(try store.completedManifest(firmID: "F1", businessDate: Self.date) == "abc")
    #expect(try store.storeShardPlan(plan(2), replace: false) == .stored)
  }
}
