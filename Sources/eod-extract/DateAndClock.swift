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
    try resolveDate(text, configuration: configuration, now: try Clock.checkedNow())
  }
}

/// The commands' clock. `EOD_NOW` (an ISO 8601 instant) fixes it: to re-run a night as it would
/// have run, and for the tests of the 72-hour idempotency window. `run` hands it to the night as
/// ``NightRequest/fixedNow``; every instant is read by ``NightlyRun/fixedInstant(_:)``.
enum Clock {
  /// `EOD_NOW`'s instant, or the real now; a malformed `EOD_NOW` is refused (exit 2).
  static func checkedNow() throws -> Date {
    guard let fixed = ProcessInfo.processInfo.environment["EOD_NOW"] else { return Date() }
    return try NightlyRun.fixedInstant(fixed)
  }

  /// `EOD_NOW`'s instant, or the real now, where nothing is reckoned from it that a malformed one
  /// could get wrong silently (timestamps of what a command records): the commands that reckon a
  /// date from now use ``checkedNow()``.
  static func now() -> Date { (try? checkedNow()) ?? Date() }
}
