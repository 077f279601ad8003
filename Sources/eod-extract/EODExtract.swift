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
      Exit codes: 0 all ok; 1 some firms failed (the others were written); 2 nothing done (bad snapshot,
      configuration or usage); 3 another run holds the state store's lock; 70 internal error.
      """,
    subcommands: [
      Run.self, Demo.self, Generate.self, Backfill.self, History.self, CheckConfig.self, Deliveries.self,
      Status.self, Verify.self,
    ],
    defaultSubcommand: nil)
}

/// Options every command that writes extracts shares.
struct OutputOptions: ParsableArguments {
  @Option(help: "Extract format: csv or json.")
  var format: ExtractFormat = .csv

  @Option(help: "gzip level 0-9, or 'none' to write uncompressed files.")
  var compression: String = "6"

  @Option(help: "Directory of extract templates (default: ./templates or the one beside the executable).")
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
    let directory = templates ?? TemplateLibrary.defaultDirectory(executablePath: CommandLine.arguments[0])
    do {
      return try TemplateLibrary(directory: directory)
    } catch {
      throw Failure(.nothingDone, "\(error)")
    }
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

/// Runs `body`, turning failures into the documented exit codes.
func withExitCodes(_ body: () async throws -> EODExitCode) async throws {
  let code: EODExitCode
  do {
    code = try await body()
  } catch let reported as Reported {
    code = reported.code
  } catch let failure as Failure {
    FileHandle.standardError.write(Data("eod-extract: \(failure.message)\n".utf8))
    code = failure.code
  } catch let error as PipelineError {
    FileHandle.standardError.write(Data("eod-extract: \(error)\n".utf8))
    code = error.code == .internalError ? .internalError : .nothingDone
  } catch let error as RunLockError {
    FileHandle.standardError.write(Data("eod-extract: \(error)\n".utf8))
    code = error.code == .alreadyRunning ? .alreadyRunning : .nothingDone
  } catch let error as StateStoreError {
    FileHandle.standardError.write(Data("eod-extract: \(error)\n".utf8))
    code = .nothingDone
  }
  if code != .success { throw ExitCode(code.rawValue) }
}

/// Creates the state store's folder if needed, then takes the run lock for it.
func lockState(_ path: String, logger: Logger) throws -> RunLock {
  let folder = (path as NSString).deletingLastPathComponent
  if !folder.isEmpty {
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
  }
  return try RunLock.acquire(stateStorePath: path, logger: logger)
}

func openStore(_ path: String) throws -> StateStore {
  do { return try StateStore(path: path) } catch { throw Failure(.nothingDone, "\(error)") }
}

/// Prints a run's summary for a person.
func printSummary(_ report: RunReport) {
  for line in summaryLines(report) { print(line) }
}

/// A run's summary, one line per firm (and notes under it).
func summaryLines(_ report: RunReport) -> [String] {
  var lines: [String] = []
  for firm in report.firms {
    if let error = firm.error {
      lines.append("\(report.businessDate) \(firm.firmID): FAILED: \(error)")
      continue
    }
    let rows = firm.files.map { "\($0.extract.rawValue)=\($0.rows)" }.joined(separator: " ")
    lines.append(
      "\(report.businessDate) \(firm.firmID): \(rows) data_quality: \(firm.errors) errors, \(firm.warnings) warnings -> \(firm.directory)"
    )
    if !firm.staleDates.isEmpty {
      let dates = firm.staleDates.map(\.description).joined(separator: ", ")
      lines.append(
        "  restated: the extracts of \(dates) are now stale; with --config, run again with --resend to re-issue them, "
          + "or re-run those dates (eod-extract backfill --from)")
    }
    if let from = firm.gapCarriedFrom {
      lines.append("  performance carried across a gap in the history after \(from) (--allow-gap)")
    }
  }
  return lines
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
        throw Failure(.nothingDone, "\(error)")
      }
      return .success
    }
  }
}

struct Demo: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Make a small sample series with the awkward cases and run it, day by day, into a local folder."
  )

  @Option(help: "Folder for the sample snapshots, the state store and the extracts.")
  var out = "demo-out"

  @Option(help: "Business days to make and run.")
  var days = 6

  @OptionGroup var output: OutputOptions

  func run() async throws {
    try await withExitCodes {
      let logger = makeLogger()
      let snapshots = out + "/snapshots"
      let paths: [String]
      do {
        try? FileManager.default.removeItem(atPath: out)
        paths = try SnapshotGenerator.generate(
          into: snapshots,
          options: GeneratorOptions(
            days: days, firms: 3, accounts: 120, instruments: 150, positions: 5, activity: 0.3, seed: 7,
            edge: true))
      } catch {
        throw Failure(.nothingDone, "\(error)")
      }
      let statePath = out + "/state.sqlite"
      let lock = try RunLock.acquire(stateStorePath: statePath, logger: logger)
      defer { _ = lock }
      let store = try openStore(statePath)
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
}

struct Backfill: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Process every snapshot in a folder in business-date order, building the performance history.")

  @Option(help: "Folder of snapshot files (*.sqlite); ordered by snapshot_info.business_date, not by name.")
  var snapshots: String

  @Option(help: "The state store (SQLite; created if missing, or continued).")
  var state: String

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
      throw ValidationError("--from \(fromDate) is after --to \(toDate): no date to process")
    }
  }

  func run() async throws {
    try await withExitCodes {
      let logger = makeLogger()
      let fromDate = from.flatMap { CivilDate($0) }
      let toDate = to.flatMap { CivilDate($0) }
      var businessCalendar: BusinessCalendar?
      if let calendar {
        do { businessCalendar = try BusinessCalendar.load(contentsOf: calendar) } catch {
          throw Failure(.nothingDone, "\(error)")
        }
      }
      let series = try SnapshotSeries.scan(directory: snapshots)
      let selected = series.filter { entry in
        (fromDate.map { entry.date >= $0 } ?? true) && (toDate.map { entry.date <= $0 } ?? true)
      }
      // Nothing to do is a mistake in the command (a wrong folder or range), said before the
      // state store is touched.
      if series.isEmpty {
        throw ValidationError("no snapshot (*.sqlite) in \(snapshots): nothing to backfill")
      }
      if selected.isEmpty, let first = series.first, let last = series.last {
        throw ValidationError(
          "no snapshot in \(snapshots) between --from \(from ?? "(start)") and --to \(to ?? "(end)"); "
            + "the folder holds \(first.date) to \(last.date)")
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
      let lock = try lockState(state, logger: logger)
      defer { _ = lock }
      let store = try openStore(state)
      let library = try output.templateLibrary()
      let scratch = out ?? NSTemporaryDirectory() + "/eod-backfill-\(getpid())"
      defer { if out == nil { try? FileManager.default.removeItem(atPath: scratch) } }
      let isTerminal = isatty(STDOUT_FILENO) == 1
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
        if isTerminal {
          let width = 30
          let filled = width * done / max(1, selected.count)
          let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
          print(
            "\r[\(bar)] \(done)/\(selected.count) \(entry.date)",
            terminator: done == selected.count ? "\n" : "")
          FileHandle.standardOutput.synchronizeFile()
        } else {
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
      guard FileManager.default.fileExists(atPath: state) else {
        throw Failure(.nothingDone, "no state store at \(state)")
      }
      let store = try openStore(state)
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
