import ArgumentParser
import EODCore
import EODOps
import EODPipeline
import EODState
import Foundation

struct Plan: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Split a night's firms into N shards, balanced by size, and store the plan (docs/kubernetes.md).",
    discussion: """
      Each firm weighs its accounts plus positions in the date's snapshot; firms go heaviest first to the
      lightest shard (ties by firm id), so the same snapshot always gives the same plan. The plan is stored in
      the state store; a different plan for the same date is refused unless --replace.
        eod-extract plan --config /etc/eod-extract/config.yaml --date 2026-10-01 --shards 4 [--json]
      """)

  @Option(help: "The job configuration file (YAML; see docs/operations.md).")
  var config: String

  @Option(help: "The business date: \(RunPlan.dateForms) (default previous-business-day).")
  var date: String?

  @Option(help: "How many shards (the Indexed Job's completions).")
  var shards: Int

  @Flag(help: "Print the plan as JSON.")
  var json = false

  @Flag(help: "Replace a different plan stored for the date (and forget its shards' finishes).")
  var replace = false

  @OptionGroup var logging: LoggingOptions

  func validate() throws {
    if shards < 1 { throw ValidationError("--shards must be at least 1") }
    try RunPlan.validateDateOption(date)
  }

  func run() async throws {
    try await withExitCodes {
      let logger = logging.makeLogger()
      let configuration = try loadConfiguration(config)
      let day = try RunPlan.resolveDate(date, configuration: configuration)
      let snapshot = configuration.snapshotPath(for: day.description)
      try ExtractJob.checkSnapshotFile(snapshot)
      let plan = try PreparedShard.makePlan(
        snapshot: snapshot, firms: configuration.allFirms ? [] : configuration.firms.map(\.firmID),
        shards: shards)
      let (lock, store) = try StateAccess.openForWriting(
        configuration.stateStore, create: configuration.stateStoreCreate, shared: true, logger: logger)
      defer { lock?.release() }
      switch try store.storeShardPlan(plan, replace: replace) {
      case .stored, .unchanged: break
      case .conflict(let stored):
        throw Failure(
          .nothingDone,
          "another plan is stored for \(plan.businessDate) (\(stored.shardCount) shards); give --replace to replace it "
            + "(its shards' finishes are forgotten)")
      }
      print(json ? ShardPlanner.json(plan) : ShardPlanner.text(plan))
      return .success
    }
  }
}
