import ArgumentParser
import EODCore
import EODOps
import EODSnapshotGen
import Foundation

struct Generate: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Make a deterministic series of sample snapshots (ledger-YYYY-MM-DD.sqlite), one per business day.")

  @Argument(help: "Directory to write the snapshots into.")
  var directory: String

  @Option(help: "Business days (Mon-Fri, less the --calendar holidays).") var days = 5
  @Option(help: "First calendar date, YYYY-MM-DD.") var start = "2026-10-01"
  @Option(help: "Firms.") var firms = 3
  @Option(help: "Accounts (one client each), spread over the firms.") var accounts = 300
  @Option(help: "Instruments.") var instruments = 400
  @Option(help: "Mean positions per account.") var positions = 6.0
  @Option(help: "Share of accounts with a transaction each day.") var activity = 0.15
  @Option(help: "Random seed.") var seed: UInt64 = 1
  @Flag(
    help:
      "Add the awkward cases: GBX, bonds, inverse-only and missing FX, stale and missing prices, bad references, odd names, accounts opening and closing."
  )
  var edge = false
  @Option(
    help:
      "A holidays file (one YYYY-MM-DD a line, or iCalendar): no snapshot on those days, as with calendar: in the configuration."
  )
  var calendar: String?

  func validate() throws {
    guard days >= 1 else { throw ValidationError("--days must be 1 or more, not \(days)") }
    guard firms >= 1 else { throw ValidationError("--firms must be 1 or more, not \(firms)") }
    guard accounts >= 1 else { throw ValidationError("--accounts must be 1 or more, not \(accounts)") }
    guard instruments >= 1 else {
      throw ValidationError("--instruments must be 1 or more, not \(instruments)")
    }
    guard positions >= 0 else { throw ValidationError("--positions must be 0 or more, not \(positions)") }
    guard (0...1).contains(activity) else {
      throw ValidationError("--activity must be between 0 and 1, not \(activity)")
    }
    guard CivilDate(start) != nil else { throw ValidationError("--start '\(start)' is not YYYY-MM-DD") }
  }

  func run() async throws {
    try await withExitCodes {
      var options = GeneratorOptions(
        days: days, start: start, firms: firms, accounts: accounts, instruments: instruments,
        positions: positions,
        activity: activity, seed: seed, edge: edge)
      if let calendar {
        do { options.calendar = try BusinessCalendar.load(contentsOf: calendar) } catch {
          throw Failure(.nothingDone, "\(error)", cause: error)
        }
      }
      do {
        try SnapshotGenerator.generate(into: directory, options: options) { print($0) }
      } catch {
        throw Failure(.nothingDone, SystemErrorText.words(error), cause: error)
      }
      return .success
    }
  }
}
