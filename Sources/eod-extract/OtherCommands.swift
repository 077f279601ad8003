import ArgumentParser
import EODOps
import EODState
import Foundation

struct CheckConfig: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "check-config",
    abstract: "Check a configuration file offline and print what the nightly run would do.")

  @Argument(help: "The configuration file (YAML).")
  var file: String

  @Option(help: "Describe the run for this business date (YYYY-MM-DD).")
  var date: String?

  func run() async throws {
    try await withExitCodes {
      let check = JobConfiguration.check(path: file)
      for problem in check.problems { print(problem) }
      guard let configuration = check.configuration, check.isValid else {
        throw Failure(
          .nothingDone, "\(file): \(check.problems.filter { $0.severity == .error }.count) problem(s)")
      }
      print(configuration.describePlan(businessDate: date))
      return .success
    }
  }
}

struct Deliveries: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List what was delivered: where, when, with which hash.")

  @Option(help: "The state store.") var state: String
  @Option(help: "Only this firm.") var firm: String?
  @Option(help: "Only this business date, YYYY-MM-DD.") var date: String?

  func run() async throws {
    try await withExitCodes {
      let store = try openStateForReading(state)
      print(
        "firm_id,business_date,destination,file_name,remote_path,sha256,attempts,outcome,delivered_at,run_id")
      for entry in try store.journal(firmID: firm, businessDate: date) {
        print(
          [
            entry.firmID, entry.businessDate, entry.destination, entry.fileName, entry.remotePath,
            entry.sha256,
            String(entry.attempts), entry.outcome, entry.deliveredAt, entry.runID,
          ].joined(separator: ","))
      }
      return .success
    }
  }
}
