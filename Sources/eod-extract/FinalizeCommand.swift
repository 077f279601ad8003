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
      let (lock, store) = try openStateForWriting(
        configuration.stateStore, create: false, shared: true, logger: logger)
      defer { lock?.release() }
      let summary = try await FinalizeNight.run(
        date: day, store: store, configuration: configuration, runID: UUID().uuidString.lowercased(),
        logger: logger)
      return summary.complete ? .success : .someFirmsFailed
    }
  }
}

/// What `finalize` and the last shard (`run --finalize-if-last`) do.
enum FinalizeNight {
  /// Checks the night, prints the verdict, writes the summary and the night's metrics, sends the
  /// webhook and records the verdict. No plan stored for the date: exit 2.
  static func run(
    date: CivilDate, store: any StateStoring, configuration: JobConfiguration, runID: String, logger: Logger
  ) async throws -> NightSummary {
    guard let plan = try store.shardPlan(businessDate: date.description) else {
      throw Failure(
        .nothingDone, "no shard plan is stored for \(date): nothing to finalize (eod-extract plan makes one)")
    }
    let summary = try NightFinalize.check(
      plan: plan, store: store, outputDirectory: configuration.outputDirectory)
    let path: String
    do {
      path = try NightFinalize.writeSummary(summary, outputDirectory: configuration.outputDirectory)
    } catch {
      throw Failure(
        .nothingDone, "cannot write the night's summary in \(configuration.outputDirectory): \(error)")
    }
    if summary.complete {
      print(
        "night \(date): complete: \(summary.firms.count) firms in \(summary.shardCount) shards, \(summary.files) files delivered"
      )
    } else {
      print("night \(date): INCOMPLETE: \(summary.missing.count) of \(summary.firms.count) firms missing")
      for firm in summary.firms where !firm.complete {
        print("  \(firm.firmID) (shard \(firm.shard)/\(summary.shardCount)): \(firm.missing ?? "")")
      }
    }
    print("summary: \(path)")
    if let metricsFile = configuration.metricsFile {
      let metricsPath = NightFinalize.metricsPath(metricsFile)
      do { try NightFinalize.writeMetrics(summary, to: metricsPath, now: Clock.now()) } catch {
        logger.error("cannot write metrics \(metricsPath): \(error)")
      }
      do { try NightFinalize.writeJobMetrics(summary, metricsFile: metricsFile, now: Clock.now()) } catch {
        logger.error("cannot write metrics \(metricsFile): \(error)")
      }
    }
    do {
      let event = try WebhookEvent.night(
        businessDate: date.description, runID: runID, summaryJSON: Data(summary.json.utf8),
        complete: summary.complete)
      await sendWebhook(
        event, configuration: configuration, about: "the night", unaffected: "the night", logger: logger)
    } catch {
      logger.error("webhook for the night: \(error)")
    }
    try store.recordNight(
      businessDate: date.description, runID: runID, at: Timestamp.rfc3339(Clock.now()),
      complete: summary.complete)
    return summary
  }
}
