import ArgumentParser
import EODOps
import EODPipeline
import EODState
import Foundation
import Logging

/// Makes every outcome of `run` visible, the fatal ones included (exit 2, 3, 70): one log line
/// with the run id, the error and its code (JSON where logs are JSON), the metrics file
/// rewritten (exit code, last attempt, last failure per firm), and the failure recorded in the
/// state store for `eod-extract status` (not on exit 3: the store belongs to the run holding
/// its lock).
final class RunOutcomeRecorder {
  let runID: String
  let started: Date
  let configPath: String?
  /// Firms asked for on the command line (`--firm`); else the configuration's.
  let requestedFirms: [String]
  var store: (any StateStoring)?
  var businessDate = ""
  /// A shard's own metrics file, written instead of the configuration's `metrics_file`.
  var metricsFile: String?

  init(runID: String, configPath: String?, requestedFirms: [String]) {
    self.runID = runID
    self.configPath = configPath
    self.requestedFirms = requestedFirms
    started = Clock.now()
  }

  /// The exit code, a short error code and the message of an error that ends a run.
  static func classify(_ error: any Error) -> (EODExitCode, String, String) {
    let code = exitCode(for: error)
    let errorCode = (error as? any OperatorFacingError)?.errorCode ?? "internal-error"
    return (code, errorCode, message(for: error))
  }

  /// Logs, writes the metrics and records the failure; returns what ends the process.
  func fatal(_ error: any Error, logger: Logger) -> Reported {
    let (code, errorCode, message) = Self.classify(error)
    logger.error(
      "run failed",
      metadata: [
        "exit_code": .stringConvertible(Int(code.rawValue)), "error_code": "\(errorCode)",
        "error": "\(message)",
      ])
    // At a terminal the log line is for a person too: the message as it reads (several lines
    // for a configuration's problems). Where logs are JSON, the JSON line is the only one.
    if isatty(STDERR_FILENO) == 1 { FileHandle.standardError.write(Data("eod-extract: \(message)\n".utf8)) }
    let firms = requestedFirms.isEmpty ? configuredFirms() : requestedFirms
    writeMetrics(exitCode: code, failedFirms: code == .alreadyRunning ? [] : firms, logger: logger)
    if code != .alreadyRunning, let store {
      let entry = FailureEntry(
        firmID: "", businessDate: businessDate, runID: runID, step: "run", error: message,
        failedAt: Timestamp.rfc3339(Clock.now()), exitCode: Int(code.rawValue))
      do { try store.recordFailures([entry]) } catch {
        logger.error("cannot record the failure in the state store: \(error)")
      }
    }
    return Reported(code: code)
  }

  private var configuration: JobConfiguration? {
    guard let configPath else { return nil }
    return try? JobConfiguration.load(contentsOf: configPath)
  }

  private func configuredFirms() -> [String] { configuration?.firms.map(\.firmID) ?? [] }

  /// The metrics of a run that stopped before its firms' outcomes: exit code, last attempt,
  /// last failure for each firm it was to process; last success and earlier failures carried.
  func writeMetrics(exitCode: EODExitCode, failedFirms: [String], logger: Logger) {
    guard let path = metricsFile ?? configuration?.metricsFile else { return }
    do {
      var metrics = try MetricsFile.run(
        previousFileAt: path, started: started, exitCode: Int(exitCode.rawValue), failedFirms: failedFirms,
        failedAt: Clock.now())
      // A shard's file keeps every firm's figures from its earlier attempts.
      if metricsFile != nil { metrics.carryFirms(fromFileAt: path, except: []) }
      try metrics.write(to: path)
    } catch {
      logger.error("cannot write metrics \(path): \(error)")
    }
  }
}

/// `withExitCodes` for `run`: one run id from the start (so that even a run that stops early logs
/// and records it), and every failure made visible by a ``RunOutcomeRecorder`` before it ends the
/// process. Argument-parser errors keep their own exit.
func withRunOutcome(
  configPath: String?, requestedFirms: [String], logging: LoggingOptions,
  _ body: (String, RunOutcomeRecorder, Logger) async throws -> EODExitCode
) async throws {
  try await withExitCodes {
    var logger = logging.makeLogger()
    let runID = UUID().uuidString.lowercased()
    logger[metadataKey: "run_id"] = "\(runID)"
    let recorder = RunOutcomeRecorder(runID: runID, configPath: configPath, requestedFirms: requestedFirms)
    do {
      return try await body(runID, recorder, logger)
    } catch let error where error is ValidationError || error is ExitCode || error is CleanExit {
      throw error
    } catch let failure as Failure where failure.code == .usage {
      throw ValidationError(failure.message)
    } catch {
      throw recorder.fatal(error, logger: logger)
    }
  }
}
