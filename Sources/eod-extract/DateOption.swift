import ArgumentParser
import EODCore
import EODOps
import EODPipeline
import Foundation

/// `--date` on the command line: the forms ``RunPlan/dateForms`` names.
extension RunPlan {
  /// Refuses a `--date` that is none of the forms it accepts (every command's `validate()`).
  static func validateDateOption(_ date: String?) throws {
    if let date, !isDateForm(date) { throw ValidationError("--date '\(date)' is not \(dateForms)") }
  }

  /// The business date `--date` names for a configuration (its calendar's time zone), now
  /// (`EOD_NOW` when set: one that is no instant is refused, exit 2, not replaced by the real now).
  static func resolveDate(_ text: String?, configuration: JobConfiguration) throws -> CivilDate {
    if let fixed = ProcessInfo.processInfo.environment["EOD_NOW"],
      ISO8601DateFormatter().date(from: fixed) == nil
    {
      throw Failure(
        .nothingDone, "EOD_NOW '\(fixed)' is not an ISO 8601 instant such as 2026-12-02T01:15:00Z")
    }
    return try resolveDate(text, configuration: configuration, now: Clock.now())
  }
}
