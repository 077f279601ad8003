import ArgumentParser
import EODCore
import EODOps
import EODPipeline
import EODState
import Foundation
import Logging

struct Backfill: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Process every snapshot in a folder in business-date order, building the performance history.")

  @Option(help: "Folder of snapshot files (*.sqlite); ordered by snapshot_info.business_date, not by name.")
  var snapshots: String

  @Option(help: "The state store (SQLite): continued; a missing one is created only with --init-state.")
  var state: String

  @Flag(help: "Create the state store if it is missing (otherwise a missing store stops the backfill).")
  var initState = false

  @Option(help: "Also write each date's extracts here.")
  var out: String?

  @Option(help: "First business date to process, YYYY-MM-DD.") var from: String?
  @Option(help: "Last business date to process, YYYY-MM-DD.") var to: String?

  @Flag(help: "Carry performance across gaps instead of refusing.")
  var allowGap = false

  @Option(
    help:
      "A holidays file (as calendar.holidays in the configuration): a business day missing from the folder is then refused as a gap, with its date."
  )
  var calendar: String?

  @OptionGroup var output: OutputOptions
  @OptionGroup var logging: LoggingOptions

  func validate() throws {
    let fromDate = try from.map { text -> CivilDate in
      guard let date = CivilDate(text) else { throw ValidationError("--from '\(text)' is not YYYY-MM-DD") }
      return date
    }
    let toDate = try to.map { text -> CivilDate in
      guard let date = CivilDate(text) else { throw ValidationError("--to '\(text)' is not YYYY-MM-DD") }
      return date
    }
    if let fromDate, let toDate, fromDate > toDate {
      throw ValidationError("--from \(fromDate) is after --to \(toDate): no date would be processed")
    }
  }

  func run() async throws {
    try await withExitCodes {
      let logger = logging.makeLogger()
      let fromDate = from.flatMap { CivilDate($0) }
      let toDate = to.flatMap { CivilDate($0) }
      var businessCalendar: BusinessCalendar?
      if let calendar {
        do { businessCalendar = try BusinessCalendar.load(contentsOf: calendar) } catch {
          throw Failure(.nothingDone, "\(error)", cause: error)
        }
      }
      if let out { try OutputDirectoryCheck.check(out) }
      let library = try output.templateLibrary()
      let series = try SnapshotSeries.scan(directory: snapshots)
      let selected = series.filter { entry in
        (fromDate.map { entry.date >= $0 } ?? true) && (toDate.map { entry.date <= $0 } ?? true)
      }
      // Nothing to do is said before the state store is touched: a wrong folder or range.
      guard !series.isEmpty else {
        throw Failure(.nothingDone, "no snapshot files (*.sqlite) in \(snapshots): nothing to backfill")
      }
      if selected.isEmpty, let first = series.first, let last = series.last {
        throw Failure(
          .nothingDone,
          "no snapshot in \(snapshots) is dated from \(from ?? "the start") to \(to ?? "the end") "
            + "(the folder has \(first.date) to \(last.date))")
      }
      if let businessCalendar, let calendar {
        // A year the holidays file does not list would silently have no holidays.
        for year in Set(selected.map(\.date.year)).sorted()
        where !(businessCalendar.coveredYears?.contains(year) ?? false) {
          logger.warning(
            "the holidays file \(calendar) does not cover \(year): only weekends count as non-business days in it"
          )
        }
      }
      let (lock, store) = try StateAccess.openForWriting(state, create: initState, logger: logger)
      defer { _ = lock }
      let scratch = out ?? NSTemporaryDirectory() + "/eod-backfill-\(getpid())"
      defer { if out == nil { try? FileManager.default.removeItem(atPath: scratch) } }
      let bar = logging.showsProgress ? ProgressBar(total: selected.count, unit: "dates") : nil
      bar?.draw(0, label: "")
      var failed = false
      var previous: CivilDate?
      for (index, entry) in series.enumerated() {
        defer { previous = entry.date }
        guard selected.contains(where: { $0.path == entry.path }) else { continue }
        var options = JobOptions(
          snapshotPath: entry.path, outputDirectory: scratch, templates: library,
          defaultSettings: FirmSettings(
            format: output.format, encoding: try output.encoding(), extracts: output.extractSet),
          allowGap: allowGap,
          // With a calendar, the business day before comes from it (a missing snapshot is a gap);
          // without, from the folder.
          previousBusinessDate: businessCalendar == nil ? previous : nil, workerCount: max(1, output.workers))
        if let businessCalendar { options.calendar = businessCalendar }
        options.fileModes = try output.fileModes()
        let report = try ExtractJob.run(options, store: store, logger: logger)
        failed = failed || !report.failedFirms.isEmpty
        let done = (selected.firstIndex(where: { $0.path == entry.path }) ?? index) + 1
        if let bar {
          for firm in report.failedFirms {
            bar.note("\(entry.date) \(firm.firmID): FAILED: \(firm.error.map(\.description) ?? "")")
          }
          bar.draw(done, label: entry.date.description)
        } else if !logging.quiet {
          print(
            "backfill \(done)/\(selected.count) \(entry.date): \(report.firms.count) firms, \(report.failedFirms.count) failed"
          )
        }
      }
      return failed ? .someFirmsFailed : .success
    }
  }
}
