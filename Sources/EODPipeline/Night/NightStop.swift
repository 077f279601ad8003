import EODOps
import EODState
import Foundation
import Logging

/// A night that stops before its firms' outcomes (exit 2, 3 or 70) is made as visible as one that
/// ends: one log line with the run id, the error and its codes (JSON where logs are JSON), the
/// metrics file rewritten (exit code, last attempt, a failure for each firm it was to run), and
/// the failure recorded in the state store for `eod-extract status` (not on exit 3: the store
/// belongs to the run holding its lock). ``NightlyRun/run(_:)-(NightRequest)`` records its own
/// stops; ``classify(_:)`` tells a caller what to show.
public final class NightStop {
  let runID: String
  var startedAt: Date
  let configurationPath: String?
  /// Firms asked for; empty: the configuration's.
  let requestedFirms: [String]
  var now: () -> Date
  /// Known once the night has opened it.
  var store: (any StateStoring)?
  /// Known once the night has a date.
  var businessDate = ""
  /// A shard's own metrics file, written instead of the configuration's `metrics_file`.
  var metricsFile: String?

  init(
    runID: String, configurationPath: String?, requestedFirms: [String], startedAt: Date,
    now: @escaping () -> Date
  ) {
    self.runID = runID
    self.configurationPath = configurationPath
    self.requestedFirms = requestedFirms
    self.startedAt = startedAt
    self.now = now
  }

  /// The exit code, the short error code (`error_code`) and the message of an error that stops a
  /// night.
  public static func classify(_ error: any Error) -> (EODExitCode, String, String) {
    let code = EODExitCode(for: error)
    let errorCode = (error as? any OperatorFacingError)?.errorCode ?? "internal-error"
    return (code, errorCode, EODExitCode.message(for: error))
  }

  /// Logs the stop, writes the metrics and records the failure; a usage error (64: the request
  /// itself is wrong, nothing started) is left to the caller, which shows its usage.
  func record(_ error: any Error, logger: Logger) {
    let (code, errorCode, message) = Self.classify(error)
    guard code != .usage else { return }
    logger.error(
      "run failed",
      metadata: [
        "exit_code": .stringConvertible(Int(code.rawValue)), "error_code": "\(errorCode)",
        "error": "\(message)",
      ])
    let firms = requestedFirms.isEmpty ? configuredFirms() : requestedFirms
    writeMetrics(exitCode: code, failedFirms: code == .alreadyRunning ? [] : firms, logger: logger)
    if code != .alreadyRunning, let store {
      let entry = FailureEntry(
        firmID: "", businessDate: businessDate, runID: runID, step: "run", error: message,
        failedAt: Timestamp.rfc3339(now()), exitCode: Int(code.rawValue))
      do { try store.recordFailures([entry]) } catch {
        logger.error("cannot record the failure in the state store: \(error)")
      }
    }
  }

  private var configuration: JobConfiguration? {
    guard let configurationPath else { return nil }
    return try? JobConfiguration.load(contentsOf: configurationPath)
  }

  private func configuredFirms() -> [String] { configuration?.firms.map(\.firmID) ?? [] }

  /// The metrics of a night that stopped before its firms' outcomes: exit code, last attempt,
  /// last failure for each firm it was to process; last success and earlier failures carried.
  private func writeMetrics(exitCode: EODExitCode, failedFirms: [String], logger: Logger) {
    guard let path = metricsFile ?? configuration?.metricsFile else { return }
    do {
      var metrics = try MetricsFile.run(
        previousFileAt: path, started: startedAt, exitCode: Int(exitCode.rawValue), failedFirms: failedFirms,
        failedAt: now())
      // A shard's file keeps every firm's figures from its earlier attempts.
      if metricsFile != nil { metrics.carryFirms(fromFileAt: path, except: []) }
      try metrics.write(to: path)
    } catch {
      logger.error("cannot write metrics \(path): \(error)")
    }
  }
}
