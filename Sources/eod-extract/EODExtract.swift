import ArgumentParser
import EODCompression
import EODCore
import EODOps
import EODPipeline
import EODRender
import EODSnapshotGen
import EODState
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
      Exit codes:
        0   every selected firm was written (and delivered)
        1   some firms failed; the others were written
        2   nothing done: snapshot, configuration, template, state store or output
        3   another run holds the state store's lock
        64  usage: unknown option, bad value, options that do not go together
        70  internal error (a bug): nothing can be assumed about the run

      Shell completion: eod-extract --generate-completion-script bash|zsh|fish
      """,
    version: VersionText.text,
    subcommands: [
      Run.self, Demo.self, Generate.self, Backfill.self, History.self, CheckConfig.self, Deliveries.self,
      Status.self, Verify.self, Reconcile.self, Breaks.self,
    ],
    defaultSubcommand: nil)
}

/// Options every command that writes extracts shares.
struct OutputOptions: ParsableArguments {
  @Option(help: "Extract format: csv or json.")
  var format: ExtractFormat = .csv

  @Option(help: "gzip level 0-9, or 'none' to write uncompressed files.")
  var compression: String = "6"

  @Option(
    help:
      "Directory of extract templates (default: $EOD_TEMPLATES, ./templates, PREFIX/share/eod-extract/templates for PREFIX/bin/eod-extract, or a templates folder above the executable)."
  )
  var templates: String?

  @Option(help: "Compression threads per file (default: the number of cores).")
  var workers: Int = ProcessInfo.processInfo.activeProcessorCount

  @Option(
    name: .customLong("extract"),
    help:
      "Make only this extract (repeatable): positions, cash, transactions, valuations, data_quality. Default: all."
  )
  var extracts: [ExtractKind] = []

  @Option(
    help: "Mode (octal) of the files written under the output directory (default 0640, whatever the umask).")
  var fileMode: String?

  @Option(help: "Mode (octal) of the directories made under the output directory (default 0750).")
  var directoryMode: String?

  /// The modes of what a run creates: the options, else the configuration's keys, else 0640/0750.
  func fileModes(configured: JobConfiguration? = nil) throws -> FileModes {
    func parse(_ text: String?, _ name: String, owner: Int) throws -> UInt32? {
      guard let text else { return nil }
      guard let value = JobConfiguration.parseMode(text), value & owner == owner else {
        throw ValidationError(
          "--\(name) must be an octal mode 0-0777 that keeps the owner's \(String(owner, radix: 8)), not '\(text)'"
        )
      }
      return UInt32(value)
    }
    var modes = FileModes()
    if let mode = try parse(fileMode, "file-mode", owner: 0o600) ?? configured?.fileMode.map(UInt32.init) {
      modes.file = mode
    }
    if let mode = try parse(directoryMode, "directory-mode", owner: 0o700)
      ?? configured?.directoryMode.map(UInt32.init)
    {
      modes.directory = mode
    }
    return modes
  }

  /// The extracts chosen on the command line, nil for all.
  var extractSet: Set<ExtractKind>? { extracts.isEmpty ? nil : Set(extracts) }

  func encoding() throws -> OutputEncoding {
    if compression == "none" { return .none }
    guard let level = Int(compression), (0...9).contains(level) else {
      throw ValidationError("--compression must be a level 0-9 or 'none', not '\(compression)'")
    }
    return .gzip(level: level)
  }

  func templateLibrary() throws -> TemplateLibrary {
    let directory = try templates ?? OutputOptions.standardTemplatesDirectory()
    do {
      return try TemplateLibrary(directory: directory)
    } catch {
      throw Failure(.nothingDone, "\(error)")
    }
  }

  /// The first place holding the standard templates (``TemplateLibrary/searchDirectories(executablePath:)``),
  /// or an error listing every place searched.
  static func standardTemplatesDirectory() throws -> String {
    let searched = TemplateLibrary.searchDirectories(executablePath: CommandLine.arguments[0])
    guard let found = searched.first(where: TemplateLibrary.holdsStandardTemplates) else {
      throw Failure(
        .nothingDone,
        "no templates found; searched: \(searched.joined(separator: ", ")) "
          + "(give --templates DIR, or templates_dir in the configuration)")
    }
    return found
  }
}

extension ExtractFormat: ExpressibleByArgument {}
extension ExtractKind: ExpressibleByArgument {}

/// An error that ends the process with a documented exit code.
struct Failure: Error, CustomStringConvertible {
  var code: EODExitCode
  var message: String
  init(_ code: EODExitCode, _ message: String) {
    self.code = code
    self.message = message
  }
  var description: String { message }
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
          throw Failure(.nothingDone, "\(error)")
        }
      }
      do {
        try SnapshotGenerator.generate(into: directory, options: options) { print($0) }
      } catch {
        throw Failure(.nothingDone, SystemErrorText.words(error))
      }
      return .success
    }
  }
}

struct Demo: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Make a small sample series with the awkward cases and run it, day by day, into a local folder."
  )

  @Option(
    help:
      "Folder for the sample snapshots, the state store and the extracts: a new or empty folder, or one an earlier demo made (it holds \(Demo.markerName))."
  )
  var out = "demo-out"

  @Option(help: "Business days to make and run.")
  var days = 6

  @OptionGroup var output: OutputOptions
  @OptionGroup var logging: LoggingOptions

  func run() async throws {
    try await withExitCodes {
      let logger = logging.makeLogger()
      try Demo.prepareFolder(out)
      let snapshots = out + "/snapshots"
      let paths: [String]
      do {
        paths = try SnapshotGenerator.generate(
          into: snapshots,
          options: GeneratorOptions(
            days: days, firms: 3, accounts: 120, instruments: 150, positions: 5, activity: 0.3, seed: 7,
            edge: true))
      } catch {
        throw Failure(.nothingDone, SystemErrorText.words(error))
      }
      let statePath = out + "/state.sqlite"
      // The demo's own store, in its own folder: always created (nothing else is there).
      let (lock, store) = try openStateForWriting(statePath, create: true, logger: logger)
      defer { _ = lock }
      let library = try output.templateLibrary()
      var failed = false
      for path in paths {
        let options = JobOptions(
          snapshotPath: path, outputDirectory: out + "/extracts", templates: library,
          defaultSettings: FirmSettings(
            format: output.format, encoding: try output.encoding(), extracts: output.extractSet),
          workerCount: max(1, output.workers))
        let report = try ExtractJob.run(options, store: store, logger: logger)
        printSummary(report)
        failed = failed || !report.failedFirms.isEmpty
      }
      print("")
      print("Snapshots:   \(snapshots)/")
      print("State store: \(statePath)")
      print("Extracts:    \(out)/extracts/<firm_id>/<business_date>/ (gzip; read with: zcat FILE.csv.gz)")
      return failed ? .someFirmsFailed : .success
    }
  }

  /// The file that marks a folder as the demo's own.
  static let markerName = ".eod-extract-demo"
  /// What a demo writes in its folder, and replaces when run again there.
  static let ownEntries = [
    "snapshots", "extracts", "state.sqlite", "state.sqlite-wal", "state.sqlite-shm", "state.sqlite.lock",
  ]

  /// Makes `folder` ready for a demo: created if missing; an empty folder or an earlier demo's
  /// (marked) is used, and only the demo's own entries are replaced; anything else stops the demo
  /// naming the folder, and nothing in it is touched.
  static func prepareFolder(_ folder: String) throws {
    let manager = FileManager.default
    var isDirectory: ObjCBool = false
    let marker = folder + "/" + markerName
    if manager.fileExists(atPath: folder, isDirectory: &isDirectory) {
      guard isDirectory.boolValue else {
        throw Failure(.nothingDone, "demo folder \(folder): is not a directory")
      }
      let entries: [String]
      do { entries = try manager.contentsOfDirectory(atPath: folder) } catch {
        throw Failure(.nothingDone, "demo folder \(folder): \(SystemErrorText.reason(error))")
      }
      if !entries.isEmpty {
        // An earlier demo's folder: its marker, or (made before the marker) only the demo's own entries.
        guard entries.contains(markerName) || entries.allSatisfy(ownEntries.contains) else {
          throw Failure(
            .nothingDone,
            "demo folder \(folder) is not empty and was not made by a demo (no \(markerName)); "
              + "the demo writes only into a new or empty folder or an earlier demo's: give another --out")
        }
        for entry in ownEntries where entries.contains(entry) {
          do { try manager.removeItem(atPath: folder + "/" + entry) } catch {
            throw Failure(.nothingDone, "demo folder \(folder)/\(entry): \(SystemErrorText.reason(error))")
          }
        }
      }
    }
    do {
      try manager.createDirectory(atPath: folder, withIntermediateDirectories: true)
      try Data(
        "This folder was made by `eod-extract demo`; running the demo into it again replaces \(ownEntries.joined(separator: ", ")) and nothing else.\n"
          .utf8
      ).write(to: URL(fileURLWithPath: marker))
    } catch {
      throw Failure(.nothingDone, "demo folder \(folder): \(SystemErrorText.reason(error))")
    }
  }
}

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
          throw Failure(.nothingDone, "\(error)")
        }
      }
      if let out { try checkOutputDirectory(out) }
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
      let (lock, store) = try openStateForWriting(state, create: initState, logger: logger)
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

struct History: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print an account's stored performance series, for checking a figure by hand.")

  @Option(help: "The state store.") var state: String
  @Option(help: "The account_id.") var account: String

  func run() async throws {
    try await withExitCodes {
      let store = try openStateForReading(state)
      let records = try store.allRecords(accountID: account)
      guard !records.isEmpty else {
        throw Failure(.nothingDone, "account \(account) has no history in \(state)")
      }
      print("date,kind,value,flow,flow_in,return_1d,index,performance_start_date")
      for record in records {
        let r =
          record.dailyReturn.flatMap { RatioFormat.fixed($0, places: 8) }
          ?? (record.undefinedReturn ? "undefined" : "")
        let index = RatioFormat.fixed(record.growthSinceStart, places: 10) ?? ""
        print(
          "\(record.date),\(record.kind.rawValue),\(record.value),\(record.flow),\(record.flowIn),\(r),\(index),\(record.kind == .baseline ? "" : record.startDate.description)"
        )
      }
      return .success
    }
  }
}
