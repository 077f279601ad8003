import EODSQLite

/// One firm's place in a sharded night's plan.
public struct ShardAssignment: Sendable, Equatable {
  public var firmID: String
  /// 0-based shard index.
  public var shard: Int
  /// The firm's size in the snapshot (accounts + positions), by which it was placed.
  public var weight: Int

  public init(firmID: String, shard: Int, weight: Int) {
    self.firmID = firmID
    self.shard = shard
    self.weight = weight
  }
}

/// A night's shard plan as stored: which firm runs in which shard.
public struct StoredShardPlan: Sendable, Equatable {
  /// `YYYY-MM-DD`.
  public var businessDate: String
  public var shardCount: Int
  /// Sorted by firm id.
  public var assignments: [ShardAssignment]

  public init(businessDate: String, shardCount: Int, assignments: [ShardAssignment]) {
    self.businessDate = businessDate
    self.shardCount = shardCount
    self.assignments = assignments.sorted { $0.firmID < $1.firmID }
  }

  /// The firms of one shard, sorted by firm id.
  public func firms(ofShard shard: Int) -> [String] {
    assignments.filter { $0.shard == shard }.map(\.firmID)
  }

  /// Whether two plans send the same firms to the same shards (weights may differ).
  public func sameAssignment(as other: StoredShardPlan) -> Bool {
    shardCount == other.shardCount
      && assignments.map { [$0.firmID, "\($0.shard)"] }
        == other.assignments.map { [$0.firmID, "\($0.shard)"] }
  }
}

/// What storing a plan did.
public enum ShardPlanStoring: Sendable, Equatable {
  /// No plan was stored for the date (or `replace`): this one is now.
  case stored
  /// The same plan was stored already: nothing changed.
  case unchanged
  /// Another plan is stored for the date and `replace` was not given: nothing changed.
  case conflict(StoredShardPlan)
}

/// A shard's finished run, as recorded.
public struct ShardFinish: Sendable, Equatable {
  public var shard: Int
  public var runID: String
  public var finishedAt: String

  public init(shard: Int, runID: String, finishedAt: String) {
    self.shard = shard
    self.runID = runID
    self.finishedAt = finishedAt
  }
}

/// The night's fan-in, as recorded: who finalized it, when, and whether it was complete.
public struct NightRecord: Sendable, Equatable {
  public var businessDate: String
  /// The run id of the shard (or `finalize` command) that claimed the night.
  public var claimedBy: String
  public var claimedAt: String
  /// nil until the finalize that claimed it has written its verdict.
  public var complete: Bool?

  public init(businessDate: String, claimedBy: String, claimedAt: String, complete: Bool?) {
    self.businessDate = businessDate
    self.claimedBy = claimedBy
    self.claimedAt = claimedAt
    self.complete = complete
  }
}

/// A sharded night's state in the state store, whatever keeps it (part of ``StateStoring``: the
/// SQLite ``StateStore`` below, and `EODStatePostgres`), proved on both by the contract tests
/// (Tests/EODPipelineTests/ShardStateContractTests.swift). What only the database can decide is
/// decided there: a plan is stored once per date, and exactly one shard's finish claims the night.
public protocol ShardStoring: AnyObject {
  /// The plan stored for a date, or nil.
  func shardPlan(businessDate: String) throws(StateStoreError) -> StoredShardPlan?
  /// Stores a date's plan, at once: refused (``ShardPlanStoring/conflict(_:)``) when another plan
  /// is stored for the date, unless `replace`, which also forgets the date's finishes and fan-in.
  /// Two shards storing at once: one stores, the other finds its plan (`unchanged` or `conflict`).
  func storeShardPlan(_ plan: StoredShardPlan, replace: Bool) throws(StateStoreError) -> ShardPlanStoring
  /// Records a shard's finish and, atomically with it, whether it is the plan's last: then it
  /// claims the night and returns true. Of shards finishing at once, exactly one claims it.
  func recordShardFinish(businessDate: String, shard: Int, runID: String, at time: String)
    throws(StateStoreError) -> Bool
  /// The shards that finished a date, by shard.
  func shardFinishes(businessDate: String) throws(StateStoreError) -> [ShardFinish]
  /// Records a finalize's verdict for a date (claiming the night if nobody has).
  func recordNight(businessDate: String, runID: String, at time: String, complete: Bool)
    throws(StateStoreError)
  /// The night's fan-in record for a date, or nil.
  func night(businessDate: String) throws(StateStoreError) -> NightRecord?
  /// The manifest SHA-256 a firm's completed run of a date recorded (nil: no completed run).
  func completedManifest(firmID: String, businessDate: String) throws(StateStoreError) -> String?
}

/// The sharded night's state: the plan, the shards' finishes and the night's fan-in. Every read
/// and write of the tables `shard_plans`, `shard_finishes` and `nights` is here (one file, so a
/// second backend can port it as a whole); the tables are added to a store of any age when first
/// used (additive, like the failures table).
extension StateStore {
  func ensureShardSchema() throws {
    try db.execute(
      """
      CREATE TABLE IF NOT EXISTS shard_plans (
        business_date TEXT NOT NULL, firm_id TEXT NOT NULL, shard INTEGER NOT NULL, shard_count INTEGER NOT NULL,
        weight INTEGER NOT NULL, PRIMARY KEY (business_date, firm_id)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS shard_finishes (
        business_date TEXT NOT NULL, shard INTEGER NOT NULL, run_id TEXT NOT NULL, finished_at TEXT NOT NULL,
        PRIMARY KEY (business_date, shard)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS nights (
        business_date TEXT PRIMARY KEY, claimed_by TEXT NOT NULL, claimed_at TEXT NOT NULL, complete INTEGER);
      """)
  }

  /// The plan stored for a date, or nil.
  public func shardPlan(businessDate: String) throws(StateStoreError) -> StoredShardPlan? {
    try wrap("read shard plan") { () throws -> StoredShardPlan? in
      try ensureShardSchema()
      return try readPlan(businessDate)
    }
  }

  private func readPlan(_ businessDate: String) throws -> StoredShardPlan? {
    let s = try db.prepare(
      "SELECT firm_id, shard, shard_count, weight FROM shard_plans WHERE business_date = ? ORDER BY firm_id")
    try s.bind([.text(businessDate)])
    var assignments: [ShardAssignment] = []
    var count = 0
    while try s.step() {
      assignments.append(
        ShardAssignment(firmID: s.text(0) ?? "", shard: Int(s.int64(1)), weight: Int(s.int64(3))))
      count = Int(s.int64(2))
    }
    return assignments.isEmpty
      ? nil : StoredShardPlan(businessDate: businessDate, shardCount: count, assignments: assignments)
  }

  /// Stores a date's plan, in one transaction: refused (``ShardPlanStoring/conflict(_:)``) when
  /// another plan is stored for the date, unless `replace`. Replacing a plan forgets the shards'
  /// finishes and the night's fan-in of the date (they belonged to the old plan).
  public func storeShardPlan(_ plan: StoredShardPlan, replace: Bool) throws(StateStoreError)
    -> ShardPlanStoring
  {
    releaseReads()
    return try transaction("store shard plan") { () throws -> ShardPlanStoring in
      try ensureShardSchema()
      if let existing = try readPlan(plan.businessDate) {
        if existing.sameAssignment(as: plan) { return .unchanged }
        if !replace { return .conflict(existing) }
      }
      let date = SQLiteValue.text(plan.businessDate)
      for table in ["shard_plans", "shard_finishes", "nights"] {
        try db.prepare("DELETE FROM \(table) WHERE business_date = ?").run([date])
      }
      let insert = try db.prepare(
        "INSERT INTO shard_plans(business_date, firm_id, shard, shard_count, weight) VALUES (?,?,?,?,?)")
      for item in plan.assignments {
        try insert.run([
          date, .text(item.firmID), .integer(Int64(item.shard)), .integer(Int64(plan.shardCount)),
          .integer(Int64(item.weight)),
        ])
      }
      return .stored
    }
  }

  /// Records that a shard finished (every one of its firms complete and delivered) and, in the
  /// same transaction, whether it is the last of the plan's shards to do so: then it claims the
  /// night (a `nights` row under its run id) and returns true. Exactly one finish claims a night:
  /// the claim is taken under SQLite's write lock and never taken twice.
  public func recordShardFinish(businessDate: String, shard: Int, runID: String, at time: String)
    throws(StateStoreError) -> Bool
  {
    releaseReads()
    return try transaction("record shard finish") { () throws -> Bool in
      try ensureShardSchema()
      let date = SQLiteValue.text(businessDate)
      try db.prepare(
        "INSERT OR REPLACE INTO shard_finishes(business_date, shard, run_id, finished_at) VALUES (?,?,?,?)"
      ).run([date, .integer(Int64(shard)), .text(runID), .text(time)])
      guard let plan = try readPlan(businessDate) else { return false }
      let finished =
        try db.scalarInt(
          "SELECT COUNT(*) FROM shard_finishes WHERE business_date = ? AND shard < ?",
          [
            date, .integer(Int64(plan.shardCount)),
          ]) ?? 0
      guard finished >= Int64(plan.shardCount) else { return false }
      try db.prepare(
        "INSERT OR IGNORE INTO nights(business_date, claimed_by, claimed_at, complete) VALUES (?,?,?,NULL)"
      ).run([date, .text(runID), .text(time)])
      return db.changes > 0
    }
  }

  /// The shards that finished a date, by shard.
  public func shardFinishes(businessDate: String) throws(StateStoreError) -> [ShardFinish] {
    try wrap("read shard finishes") { () throws -> [ShardFinish] in
      try ensureShardSchema()
      let s = try db.prepare(
        "SELECT shard, run_id, finished_at FROM shard_finishes WHERE business_date = ? ORDER BY shard")
      try s.bind([.text(businessDate)])
      var out: [ShardFinish] = []
      while try s.step() {
        out.append(ShardFinish(shard: Int(s.int64(0)), runID: s.text(1) ?? "", finishedAt: s.text(2) ?? ""))
      }
      return out
    }
  }

  /// Records a finalize's verdict for a date (claiming the night if nobody has).
  public func recordNight(businessDate: String, runID: String, at time: String, complete: Bool)
    throws(StateStoreError)
  {
    releaseReads()
    try transaction("record night") {
      try ensureShardSchema()
      try db.prepare(
        """
        INSERT INTO nights(business_date, claimed_by, claimed_at, complete) VALUES (?1,?2,?3,?4)
        ON CONFLICT(business_date) DO UPDATE SET complete = ?4
        """
      ).run([.text(businessDate), .text(runID), .text(time), .integer(complete ? 1 : 0)])
    }
  }

  /// The night's fan-in record for a date, or nil.
  public func night(businessDate: String) throws(StateStoreError) -> NightRecord? {
    try wrap("read night") { () throws -> NightRecord? in
      try ensureShardSchema()
      let s = try db.prepare("SELECT claimed_by, claimed_at, complete FROM nights WHERE business_date = ?")
      try s.bind([.text(businessDate)])
      guard try s.step() else { return nil }
      return NightRecord(
        businessDate: businessDate, claimedBy: s.text(0) ?? "", claimedAt: s.text(1) ?? "",
        complete: s.isNull(2) ? nil : s.int64(2) != 0)
    }
  }

  /// The manifest SHA-256 a firm's completed run of a date recorded (nil: no completed run).
  public func completedManifest(firmID: String, businessDate: String) throws(StateStoreError) -> String? {
    try wrap("read runs") {
      try db.scalarText(
        "SELECT manifest_sha256 FROM runs WHERE business_date = ? AND firm_id = ?",
        [.text(businessDate), .text(firmID)])
    }
  }
}
