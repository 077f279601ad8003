import ArgumentParser
import EODCore
import EODOps
import EODPipeline
import EODState
import Foundation
import Logging

struct Finalize: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "The fan-in of a sharded night: is every planned firm complete and delivered? (exit 0/1/2)",
    discussion: """
      Checks every firm of the date's stored plan (a completed run recorded, its manifest in the output
      directory, the journal showing that manifest delivered), writes OUT/night-<date>.summary.json and, with
      metrics_file, <metrics>.night.prom and metrics_file itself (every firm from its shard's metrics), and sends night.completed or night.incomplete (naming the missing
      firms) to the configured webhooks. Exit 0 complete, 1 incomplete, 2 no plan stored for the date.
      """)

  @Option(help: "The job configuration file (YAML; see docs/operations.md).")
  var config: String

  @Option(help: "The business date: \(RunPlan.dateForms) (default previous-business-day).")
  var date: String?

  @OptionGroup var logging: LoggingOptions

  func validate() throws {
    try RunPlan.validateDateOption(date)
  }

  func run() async throws {
    try await withExitCodes {
      let logger = logging.makeLogger()
      let configuration = try loadConfiguration(config)
      let day = try RunPlan.resolveDate(date, configuration: configuration)
      let (lock, store) = try StateAccess.openForWriting(
        configuration.stateStore, create: false, shared: true, logger: logger)
      defer { lock?.release() }
      let summary = try await FinalizeNight.run(
        date: day, store: store, configuration: configuration, runID: UUID().uuidString.lowercased(),
        now: { Clock.now() }, say: { print($0) }, logger: logger)
      return summary.complete ? .success : .someFirmsFailed
    }
  }
}
