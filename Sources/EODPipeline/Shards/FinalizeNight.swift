import EODCore
import EODOps
import EODState
import Foundation
import Logging

/// What `finalize` and the last shard (`run --finalize-if-last`) do.
public enum FinalizeNight {
  /// Checks the night, says the verdict (`say`, a line at a time), writes the summary and the night's metrics, sends the
  /// webhook and records the verdict. No plan stored for the date: exit 2.
  public static func run(
    date: CivilDate, store: any StateStoring, configuration: JobConfiguration, runID: String,
    now: @Sendable () -> Date, say: (String) -> Void, logger: Logger
  ) async throws -> NightSummary {
    guard let plan = try store.shardPlan(businessDate: date.description) else {
      throw RunRefusal(
        .nothingDone, "no shard plan is stored for \(date): nothing to finalize (eod-extract plan makes one)")
    }
    let summary = try NightFinalize.check(
      plan: plan, store: store, outputDirectory: configuration.outputDirectory)
    let path: String
    do {
      path = try NightFinalize.writeSummary(summary, outputDirectory: configuration.outputDirectory)
    } catch {
      throw RunRefusal(
        .nothingDone, "cannot write the night's summary in \(configuration.outputDirectory): \(error)",
        cause: error)
    }
    if summary.complete {
      say(
        "night \(date): complete: \(summary.firms.count) firms in \(summary.shardCount) shards, \(summary.files) files delivered"
      )
    } else {
      say("night \(date): INCOMPLETE: \(summary.missing.count) of \(summary.firms.count) firms missing")
      for firm in summary.firms where !firm.complete {
        say("  \(firm.firmID) (shard \(firm.shard)/\(summary.shardCount)): \(firm.missing ?? "")")
      }
    }
    say("summary: \(path)")
    if let metricsFile = configuration.metricsFile {
      let metricsPath = NightFinalize.metricsPath(metricsFile)
      do { try NightFinalize.writeMetrics(summary, to: metricsPath, now: now()) } catch {
        logger.error("cannot write metrics \(metricsPath): \(error)")
      }
      do { try NightFinalize.writeJobMetrics(summary, metricsFile: metricsFile, now: now()) } catch {
        logger.error("cannot write metrics \(metricsFile): \(error)")
      }
    }
    do {
      let event = try WebhookEvent.night(
        businessDate: date.description, runID: runID, summaryJSON: Data(summary.json.utf8),
        complete: summary.complete)
      await WebhookSender.send(
        event, configuration: configuration, about: "the night", unaffected: "the night", logger: logger)
    } catch {
      logger.error("webhook for the night: \(error)")
    }
    try store.recordNight(
      businessDate: date.description, runID: runID, at: Timestamp.rfc3339(now()),
      complete: summary.complete)
    return summary
  }
}
