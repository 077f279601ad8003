import ArgumentParser
import EODOps
import EODPipeline
import EODRender
import Foundation
import Logging

@main
struct EODExtract: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "eod-extract",
    abstract:
      "The end-of-day extract job: values every account and writes per-firm extracts with a manifest.",
    discussion: """
      Start with `eod-extract demo`: it makes a sample snapshot series and runs it into ./demo-out.
      \(EODExitCode.helpTable)

      Shell completion: eod-extract --generate-completion-script bash|zsh|fish
      """,
    version: VersionText.text,
    subcommands: [
      Run.self, Demo.self, Generate.self, Backfill.self, History.self, CheckConfig.self, Deliveries.self,
      Status.self, Verify.self, Reconcile.self, Breaks.self, Plan.self, Finalize.self, MigrateState.self,
      State.self,
    ],
    defaultSubcommand: nil)
}

extension ExtractFormat: ExpressibleByArgument {}
extension ExtractKind: ExpressibleByArgument {}

/// An error that ends the process with a documented exit code (the library's refusals are the
/// same type).
typealias Failure = RunRefusal

/// The job's configuration file, checked: a file with errors stops the command (exit 2).
func loadConfiguration(_ path: String) throws -> JobConfiguration {
  try RunPlan.loadConfiguration(path)
}

func makeLogger() -> Logger {
  EODLogging.bootstrap()
  return Logger(label: "eod-extract")
}

/// A failure already logged (as one log line, JSON where logs are JSON): only its exit code is left.
struct Reported: Error {
  var code: EODExitCode
}

/// Runs `body`, turning failures into the documented exit codes (``exitCode(for:)``, in words:
/// ``message(for:)``). Usage errors go to the argument parser, which prints the usage and exits 64.
func withExitCodes(_ body: () async throws -> EODExitCode) async throws {
  let code: EODExitCode
  do {
    code = try await body()
  } catch let reported as Reported {
    code = reported.code
  } catch let error as ValidationError {
    throw error
  } catch let exit as ExitCode {
    throw exit
  } catch let failure as Failure where failure.code == .usage {
    throw ValidationError(failure.message)
  } catch {
    FileHandle.standardError.write(Data("eod-extract: \(message(for: error))\n".utf8))
    code = exitCode(for: error)
  }
  if code != .success { throw ExitCode(code.rawValue) }
}

/// Prints a run's summary for a person.
func printSummary(_ report: RunReport) {
  for line in report.summaryLines { print(line) }
}
