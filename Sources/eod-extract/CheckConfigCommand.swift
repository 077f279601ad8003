import ArgumentParser
import EODCore
import EODOps
import EODPipeline
import EODSnapshot
import EODState
import Foundation

struct CheckConfig: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "check-config",
    abstract: "Check a configuration file offline and print what the nightly run would do.")

  @Argument(help: "The configuration file (YAML).")
  var file: String

  @Option(
    help: "Describe the run for this business date: YYYY-MM-DD, previous-business-day, yesterday or today.")
  var date: String?

  func validate() throws {
    try RunPlan.validateDateOption(date)
  }

  func run() async throws {
    try await withExitCodes {
      let check = JobConfiguration.check(path: file)
      for problem in check.problems { print(problem) }
      guard let configuration = check.configuration, check.isValid else {
        throw Failure(
          .nothingDone, "\(file): \(check.problems.filter { $0.severity == .error }.count) problem(s)")
      }
      var described: String?
      var notBusiness: String?
      if let date {
        let settings = configuration.calendar ?? CalendarConfiguration()
        let resolved = try RunPlan.resolveDate(date, calendar: settings, now: try Clock.checkedNow())
        described = resolved.description
        if let calendar = try? settings.load(), let reason = calendar.reasonNotBusinessDay(resolved) {
          notBusiness = "\(resolved) is not a business day (\(reason)): a run for it does nothing"
        }
      }
      print(configuration.describePlan(businessDate: described))
      if let notBusiness { print(notBusiness) }
      // With the date's snapshot present: a configured firm it does not have would fail alone.
      if let described, notBusiness == nil {
        let missing = try missingFirms(configuration, date: described)
        for (index, firm) in missing {
          print(
            "error: firms[\(index)].firm_id: \(firm) is not in the snapshot of \(described) "
              + "(\(configuration.snapshotPath(for: described))); the run would fail this firm (exit 1)")
        }
        if !missing.isEmpty {
          throw Failure(
            .nothingDone, "\(file): \(missing.count) configured firm(s) missing from the snapshot")
        }
      }
      return .success
    }
  }
}

/// The configured firms (index, id) that the date's snapshot does not have; none when the
/// snapshot is not there yet.
func missingFirms(_ configuration: JobConfiguration, date: String) throws -> [(Int, String)] {
  let path = configuration.snapshotPath(for: date)
  guard FileManager.default.fileExists(atPath: path) else { return [] }
  let present: Set<String>
  do { present = Set(try SnapshotReader(path: path).firms().map(\.id)) } catch {
    throw Failure(.nothingDone, "snapshot \(path): \(error)", cause: error)
  }
  return configuration.firms.enumerated().filter { !present.contains($0.element.firmID) }.map {
    ($0.offset, $0.element.firmID)
  }
}
