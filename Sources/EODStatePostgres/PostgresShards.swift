import EODState
import Foundation

/// A sharded night's plan, the shards' finishes and the night's fan-in (``ShardStoring``): the
/// same rows and answers as the SQLite store's (Sources/EODState/Shards.swift), in the tables of
/// schema version 2. Storing a plan and recording a finish each take a transaction-level advisory
/// lock on the date (``LockKey/night(_:)``) before they read: two shards doing either at once
/// take turns, so the second sees the first's plan, and of shards finishing together the last
/// one sees every finish (without the lock, each could miss the other's uncommitted row and
/// neither would claim the night). The claim itself is an `INSERT … ON CONFLICT DO NOTHING` on
/// the night's key: never taken twice.
extension PostgresStateStore {
  public func shardPlan(businessDate: String) throws(StateStoreError) -> StoredShardPlan? {
    try readPlan(businessDate, step: "read shard plan")
  }

  func readPlan(_ businessDate: String, step: String) throws(StateStoreError) -> StoredShardPlan? {
    var assignments: [ShardAssignment] = []
    var count = 0
    for row in try session.query(
      step,
      """
      SELECT firm_id, shard::bigint, shard_count::bigint, weight FROM shard_plans WHERE business_date = $1
      ORDER BY firm_id
      """, [.text(businessDate)])
    {
      let c = Cells(row, session, step)
      assignments.append(
        ShardAssignment(firmID: try c.text(0), shard: Int(try c.int(1)), weight: Int(try c.int(3))))
      count = Int(try c.int(2))
    }
    return assignments.isEmpty
      ? nil : StoredShardPlan(businessDate: businessDate, shardCount: count, assignments: assignments)
  }

  /// Waits for (and holds until the transaction ends) the date's lock of the night's tables.
  private func lockNight(_ businessDate: String, step: String) throws(StateStoreError) {
    try session.query(step, "SELECT pg_advisory_xact_lock($1)", [.int(LockKey.night(businessDate))])
  }

  public func storeShardPlan(_ plan: StoredShardPlan, replace: Bool) throws(StateStoreError)
    -> ShardPlanStoring
  {
    let step = "store shard plan"
    return try atomically(step) { () throws(StateStoreError) -> ShardPlanStoring in
      try lockNight(plan.businessDate, step: step)
      if let existing = try readPlan(plan.businessDate, step: step) {
        if existing.sameAssignment(as: plan) { return .unchanged }
        if !replace { return .conflict(existing) }
      }
      let date = SQLValue.text(plan.businessDate)
      for table in ["shard_plans", "shard_finishes", "nights"] {
        try session.query(step, "DELETE FROM \(table) WHERE business_date = $1", [date])
      }
      try session.query(
        step,
        """
        INSERT INTO shard_plans(business_date, firm_id, shard, shard_count, weight)
        SELECT $1, firm, shard, $2, weight FROM unnest($3::text[], $4::bigint[], $5::bigint[]) AS u(firm, shard, weight)
        """,
        [
          date, .int(Int64(plan.shardCount)), .texts(plan.assignments.map(\.firmID)),
          .ints(plan.assignments.map { Int64($0.shard) }), .ints(plan.assignments.map { Int64($0.weight) }),
        ])
      return .stored
    }
  }

  public func recordShardFinish(businessDate: String, shard: Int, runID: String, at time: String)
    throws(StateStoreError) -> Bool
  {
    let step = "record shard finish"
    return try atomically(step) { () throws(StateStoreError) -> Bool in
      try lockNight(businessDate, step: step)
      let date = SQLValue.text(businessDate)
      try session.query(
        step,
        """
        INSERT INTO shard_finishes(business_date, shard, run_id, finished_at) VALUES ($1, $2, $3, $4)
        ON CONFLICT (business_date, shard) DO UPDATE SET run_id = excluded.run_id, finished_at = excluded.finished_at
        """, [date, .int(Int64(shard)), .text(runID), .text(time)])
      guard let plan = try readPlan(businessDate, step: step) else { return false }
      let counted = try session.query(
        step, "SELECT COUNT(*)::bigint FROM shard_finishes WHERE business_date = $1 AND shard < $2",
        [date, .int(Int64(plan.shardCount))])
      let finished = try counted.first.map { row throws(StateStoreError) in
        try Cells(row, session, step).int(0)
      }
      guard let finished, finished >= Int64(plan.shardCount) else { return false }
      let claimed = try session.query(
        step,
        """
        INSERT INTO nights(business_date, claimed_by, claimed_at, complete) VALUES ($1, $2, $3, NULL)
        ON CONFLICT (business_date) DO NOTHING RETURNING 1
        """, [date, .text(runID), .text(time)])
      return !claimed.isEmpty
    }
  }

  public func shardFinishes(businessDate: String) throws(StateStoreError) -> [ShardFinish] {
    let step = "read shard finishes"
    var out: [ShardFinish] = []
    for row in try session.query(
      step,
      "SELECT shard::bigint, run_id, finished_at FROM shard_finishes WHERE business_date = $1 ORDER BY shard",
      [.text(businessDate)])
    {
      let c = Cells(row, session, step)
      out.append(ShardFinish(shard: Int(try c.int(0)), runID: try c.text(1), finishedAt: try c.text(2)))
    }
    return out
  }

  public func recordNight(businessDate: String, runID: String, at time: String, complete: Bool)
    throws(StateStoreError)
  {
    releaseReads()
    try session.query(
      "record night",
      """
      INSERT INTO nights(business_date, claimed_by, claimed_at, complete) VALUES ($1, $2, $3, $4)
      ON CONFLICT (business_date) DO UPDATE SET complete = excluded.complete
      """, [.text(businessDate), .text(runID), .text(time), .bool(complete)])
  }

  public func night(businessDate: String) throws(StateStoreError) -> NightRecord? {
    let step = "read night"
    guard
      let row = try session.query(
        step, "SELECT claimed_by, claimed_at, complete FROM nights WHERE business_date = $1",
        [.text(businessDate)]
      ).first
    else { return nil }
    let c = Cells(row, session, step)
    return NightRecord(
      businessDate: businessDate, claimedBy: try c.text(0), claimedAt: try c.text(1),
      complete: try c.value(2, Bool?.self))
  }

  public func completedManifest(firmID: String, businessDate: String) throws(StateStoreError) -> String? {
    let step = "read runs"
    guard
      let row = try session.query(
        step, "SELECT manifest_sha256 FROM runs WHERE business_date = $1 AND firm_id = $2",
        [.text(businessDate), .text(firmID)]
      ).first
    else { return nil }
    return try Cells(row, session, step).optionalText(0)
  }
}
