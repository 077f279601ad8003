import EODCompression
import EODCore
import EODRender
import EODSnapshot
import EODState
import Foundation
import Logging

/// How one firm's extracts are made.
public struct FirmSettings: Sendable, Equatable {
  public var format: ExtractFormat
  public var encoding: OutputEncoding
  /// Template version per extract; missing ones use version 1.
  public var templateVersions: [ExtractKind: Int]
  /// The extracts made; nil means all five. The manifest is always made.
  public var extracts: Set<ExtractKind>?
  /// Neutralise spreadsheet formulas in free-text fields whatever the templates say (the firm
  /// feature flag `formula_safe_csv`).
  public var formulaSafe: Bool

  public init(
    format: ExtractFormat = .csv, encoding: OutputEncoding = .defaultGzip,
    templateVersions: [ExtractKind: Int] = [:],
    extracts: Set<ExtractKind>? = nil, formulaSafe: Bool = false
  ) {
    self.format = format
    self.encoding = encoding
    self.templateVersions = templateVersions
    self.extracts = extracts
    self.formulaSafe = formulaSafe
  }
}

/// What a run does.
public struct JobOptions: Sendable {
  public var snapshotPath: String
  public var outputDirectory: String
  /// Firms to process; empty means every firm in the snapshot.
  public var firmIDs: [String]
  public var templates: TemplateLibrary
  public var defaultSettings: FirmSettings
  public var firmSettings: [String: FirmSettings]
  /// Carry performance across a gap in the history instead of refusing the date.
  public var allowGap: Bool
  /// The business date before this one; nil means the previous business day of ``calendar``.
  public var previousBusinessDate: CivilDate?
  /// Weekends and holidays: the gap check steps over them (weekends only unless configured).
  public var calendar: BusinessCalendar = .weekendsOnly
  public var runID: String
  /// Compression threads, shared by every file of the run.
  public var workerCount: Int
  /// Threads valuing and rendering firms while the snapshot is read (a firm stays on one).
  public var processingThreads: Int = 2
  public var clock: @Sendable () -> Date
  /// Told of each firm as it completes (done so far, total, the outcome), from a worker thread.
  public var progress: (@Sendable (Int, Int, FirmOutcome) -> Void)?
  /// A firm of `firmIDs` that the snapshot does not have fails alone (a configured firm: its
  /// outcome has the error, the others run) instead of stopping the run (a firm asked for on
  /// the command line).
  public var missingFirmsFailAlone = false
  /// Modes of the files and directories the run creates under the output directory (default
  /// 0640 and 0750, whatever the umask).
  public var fileModes = FileModes()

  public init(
    snapshotPath: String, outputDirectory: String, firmIDs: [String] = [], templates: TemplateLibrary,
    defaultSettings: FirmSettings = FirmSettings(), firmSettings: [String: FirmSettings] = [:],
    allowGap: Bool = false,
    previousBusinessDate: CivilDate? = nil, runID: String = UUID().uuidString.lowercased(),
    workerCount: Int = ProcessInfo.processInfo.activeProcessorCount,
    clock: @escaping @Sendable () -> Date = { Date() }
  ) {
    self.snapshotPath = snapshotPath
    self.outputDirectory = outputDirectory
    self.firmIDs = firmIDs
    self.templates = templates
    self.defaultSettings = defaultSettings
    self.firmSettings = firmSettings
    self.allowGap = allowGap
    self.previousBusinessDate = previousBusinessDate
    self.runID = runID
    self.workerCount = workerCount
    self.clock = clock
  }

  func settings(for firmID: String) -> FirmSettings { firmSettings[firmID] ?? defaultSettings }
}

/// One file of a firm's set, as the manifest lists it.
public struct ExtractFileSummary: Sendable, Equatable {
  public var name: String
  public var path: String
  public var extract: ExtractKind
  public var template: String
  public var format: ExtractFormat
  public var compression: String
  public var rows: Int
  public var bytes: Int64
  public var sha256: String
  /// Name and value of each control total.
  public var controlTotals: [(String, String)]
  /// The same total per account currency, with row counts, and the distinct accounts (manifest
  /// schema 1.1); nil for data_quality, whose rows have no account currency.
  public var figures: ControlFigures?
  /// The columns (CSV header or JSON key) that identify a row: the extract's sort key.
  public var keyColumns: [String]

  public static func == (lhs: ExtractFileSummary, rhs: ExtractFileSummary) -> Bool {
    lhs.name == rhs.name && lhs.sha256 == rhs.sha256 && lhs.rows == rhs.rows
  }
}

/// What happened for one firm.
public struct FirmOutcome: Sendable {
  public var firmID: String
  public var directory: String
  public var files: [ExtractFileSummary] = []
  public var manifestPath: String?
  public var manifestSHA256: String?
  public var manifestBytes: Int = 0
  /// The manifest's JSON text.
  public var manifest: String?
  public var issuesByCode: [String: Int] = [:]
  public var errors = 0
  public var warnings = 0
  /// Later dates whose extracts are stale after restating this date: their stored figures changed.
  public var staleDates: [CivilDate] = []
  /// Every later date the firm has run, when this run restated an earlier date (what `--resend`
  /// re-issues: an earlier restatement may have left them stale though this one changed nothing).
  public var laterRunDates: [CivilDate] = []
  public var gapCarriedFrom: CivilDate?
  public var error: PipelineError?
  public var seconds: Double = 0
  /// Milliseconds spent valuing this firm's accounts, writing its rows, and finishing (compression
  /// drain, history writes, renames), for the logs. Reading the snapshot is shared by all firms
  /// (the run's "snapshot read" log line).
  public var timings: (value: Int, render: Int, record: Int) = (0, 0, 0)
}

/// The result of a run over one snapshot.
public struct RunReport: Sendable {
  public var runID: String
  public var businessDate: CivilDate
  public var snapshotPath: String
  public var firms: [FirmOutcome]
  public var failedFirms: [FirmOutcome] { firms.filter { $0.error != nil } }
}

/// An account on its way to its firm's processing thread (a struct, not a tuple: copied without
/// the runtime's generic tuple paths).
struct HandedAccount: Sendable {
  let firm: Int
  let bundle: AccountBundle
}

/// The syntax-check thread's own connection to the snapshot (`@unchecked Sendable`: handed to
/// that thread, and used by it alone).
final class ValidationReader: @unchecked Sendable {
  let reader: SnapshotReader
  init(_ reader: SnapshotReader) { self.reader = reader }
}

/// The nightly job over one snapshot: validate, value, render, compress, write, record history.
public enum ExtractJob {
  /// Runs the snapshot. Throws only when nothing can be done (bad snapshot, unknown firm, gap);
  /// one firm's failure is in its ``FirmOutcome`` and does not stop the others.
  public static func run(_ options: JobOptions, store: StateStore, logger: Logger) throws(PipelineError)
    -> RunReport
  {
    var logger = logger
    logger[metadataKey: "run_id"] = "\(options.runID)"
    // Both connections to the snapshot are opened first, each in one read transaction held for
    // the run, and must find the file as the first found it; each checks it again when its
    // reading is done, before anything is put in place (a file changed meanwhile is refused).
    let reader: SnapshotReader
    let validation: ValidationReader
    do {
      reader = try SnapshotReader(path: options.snapshotPath)
      validation = ValidationReader(
        try SnapshotReader(path: options.snapshotPath, expecting: reader.identity))
    } catch {
      throw PipelineError(snapshot: error)
    }
    // Every value's syntax is checked on a thread of its own while the firms are rendered to
    // temporary files; nothing is renamed into place or recorded until it has passed. When the
    // pass reads every row (all firms, or several), it checks the tables it reads in full as it
    // goes (part 1 of the verdict) and the thread checks the others (part 0).
    // The firms the pass reads (nil: every firm); an unknown one ends the run before the pass.
    let passFirms = options.firmIDs.isEmpty ? nil : Set(options.firmIDs)
    let checkedInPass = AccountCursor.checksRows(firmIDs: passFirms)
    let skipped = checkedInPass ? SnapshotReader.checkedWhileRead : []
    // Part 2: the file unchanged after the pass.
    let gate = ValidationGate(parts: checkedInPass ? 3 : 2)
    let validationLogger = logger
    let snapshotPath = options.snapshotPath
    Thread.detachNewThread {
      let started = Date()
      do throws(SnapshotError) {
        try validation.reader.validate(skipping: skipped)
        try validation.reader.verifyUnchanged()
        gate.finish(part: 0, nil)
        validationLogger.info(
          "snapshot validated",
          metadata: [
            "step": "validate", "snapshot": "\(snapshotPath)",
            "duration_ms": .stringConvertible(Int(Date().timeIntervalSince(started) * 1000)),
            "checked_in_pass": "\(skipped.sorted().joined(separator: ","))",
          ])
      } catch {
        gate.finish(part: 0, error)
      }
    }
    /// The tables the pass did not get to check, checked here (an early exit, a failed read).
    func checkSkippedTables() -> SnapshotError? {
      let others = Set(SnapshotSchema.tables.map(\.name)).subtracting(skipped)
      do throws(SnapshotError) {
        try reader.validate(skipping: others)
        return nil
      } catch {
        return error
      }
    }
    func unchanged() -> SnapshotError? {
      do throws(SnapshotError) {
        try reader.verifyUnchanged()
        return nil
      } catch {
        return error
      }
    }
    // On every early exit, the snapshot's verdict comes first.
    func refusal() -> PipelineError? {
      if checkedInPass && !gate.isFinished(part: 1) { gate.finish(part: 1, checkSkippedTables()) }
      if !gate.isFinished(part: 2) { gate.finish(part: 2, unchanged()) }
      return gate.wait().map { PipelineError(snapshot: $0) }
    }
    let date = reader.businessDate
    logger[metadataKey: "date"] = "\(date)"
    let allFirms: [Firm]
    let reference: ReferenceData
    do {
      allFirms = try reader.firms()
      reference = try reader.referenceData()
    } catch {
      throw refusal() ?? PipelineError(snapshot: error)
    }
    var firms = allFirms
    var missing: [String] = []
    if !options.firmIDs.isEmpty {
      let known = Set(allFirms.map(\.id))
      for id in options.firmIDs where !known.contains(id) {
        if options.missingFirmsFailAlone {
          missing.append(id)
          continue
        }
        if let refused = refusal() { throw refused }
        throw PipelineError(
          code: .unknownFirm, firmID: FirmIdentifier.displayed(id),
          detail: "firm \(FirmIdentifier.displayed(id)) is not in snapshot \(options.snapshotPath)")
      }
      let wanted = Set(options.firmIDs)
      firms = allFirms.filter { wanted.contains($0.id) }
    }
    // A firm id names directories and files: one that is not 1-64 of [A-Za-z0-9_-] fails its
    // firm alone, before any path is made from it (its accounts are skipped by the pass).
    let selected = firms
    firms = selected.filter { FirmIdentifier.isValid($0.id) }
    // Every template is checked now, before any file is written.
    var templates: [String: [(ExtractKind, Template)]] = [:]
    for firm in firms {
      let settings = options.settings(for: firm.id)
      var list: [(ExtractKind, Template)] = []
      for kind in ExtractKind.allCases where settings.extracts?.contains(kind) ?? true {
        do {
          var template = try options.templates.template(kind, version: settings.templateVersions[kind] ?? 1)
          if settings.formulaSafe { template.formulaSafe = true }
          list.append((kind, template))
        } catch {
          throw refusal() ?? PipelineError(template: error)
        }
      }
      templates[firm.id] = list
    }
    // Gaps in the history are refused before anything is written.
    var gaps: [String: CivilDate] = [:]
    // The nightly case (no firm has run this date or a later one, no record of the date is
    // stored) writes the history during the pass; otherwise each firm's after it.
    var writeDuringPass = true
    for firm in firms {
      let latest: CivilDate?
      do { latest = try store.latestRunDate(firmID: firm.id) } catch {
        throw refusal() ?? PipelineError(state: error)
      }
      if let latest, latest >= date { writeDuringPass = false }
      guard let latest, latest < date else { continue }
      let previous = options.previousBusinessDate ?? options.calendar.previousBusinessDay(before: date)
      if latest < previous {
        let missing = options.calendar.nextBusinessDay(after: latest)
        if !options.allowGap {
          if let refused = refusal() { throw refused }
          throw PipelineError(
            code: .historyGap, firmID: firm.id,
            detail:
              "the history of \(firm.id) ends at \(latest) but \(date) follows \(previous): \(missing) has not been run. "
              + "Run the missing dates first (eod-extract backfill), or pass --allow-gap to carry performance across the gap"
          )
        }
        gaps[firm.id] = latest
      }
    }
    // The snapshot pass (SnapshotPass.swift): every selected firm's accounts valued and written
    // to its files, its records handed to the history writer; one firm's failure does not stop
    // the others.
    let pass: SnapshotPass
    do {
      pass = try SnapshotPass(
        firms: firms, date: date, reference: reference, templates: templates, gaps: gaps, options: options,
        store: store, writeDuringPass: writeDuringPass, logger: logger)
    } catch {
      throw refusal() ?? error
    }
    // Whatever happens from here, an uncommitted night's history is not left open.
    defer { pass.close() }
    let (runs, writer, stores, tree) = (pass.runs, pass.writer, pass.stores, pass.tree)
    let read = pass.read(reader, firms: passFirms)
    let readError = read.readError
    // The snapshot could not be read to the end: no firm is complete.
    if let readError { for run in runs { run.fail(PipelineError(snapshot: readError)) } }
    if checkedInPass {
      if let readError, let table = readError.table, skipped.contains(table),
        SnapshotError.Code.rowProblems.contains(readError.code)
      {
        gate.finish(part: 1, readError)
      } else if readError != nil {
        gate.finish(part: 1, checkSkippedTables())
      } else {
        gate.finish(part: 1, nil)
      }
    }
    gate.finish(part: 2, unchanged())
    logger.info(
      "snapshot read",
      metadata: [
        "step": "read", "read_ms": .stringConvertible(FirmRun.milliseconds(read.readTime)),
        "firms": .stringConvertible(runs.count),
        "processing_threads": .stringConvertible(pass.workers), "pass": "\(read.mode.rawValue)",
      ])
    for run in runs { run.endRows() }
    if let writer {
      writer.drain()
      logger.info(
        "history written",
        metadata: [
          "step": "record", "rows": .stringConvertible(writer.rows),
          "write_ms": .stringConvertible(FirmRun.milliseconds(writer.busy)),
        ])
    }
    var outcomes: [FirmOutcome] = []
    for run in runs {
      let outcome = run.finish(gate: gate, reader: reader)
      outcomes.append(outcome)
      if let error = outcome.error, error.code != .badSnapshot { run.logger.error("firm failed: \(error)") }
      options.progress?(outcomes.count, runs.count, outcome)
    }
    if let writer, gate.wait() == nil {
      do {
        try writer.commit()
      } catch {
        // The files of the completed firms are in place, but their history and runs are not
        // recorded: they count as failed, and re-running the date replaces them.
        logger.error("the night's history could not be recorded: \(error)")
        for index in outcomes.indices where outcomes[index].error == nil {
          outcomes[index].error = PipelineError(
            code: error.code, firmID: outcomes[index].firmID,
            detail: "files written but the history was not recorded: \(error.detail)")
        }
      }
    } else {
      writer?.rollback()
    }
    // The processing threads' connections held a read transaction for their history reads.
    for worker in stores { worker.releaseReads() }
    do { try store.checkpoint() } catch { logger.warning("\(error)") }
    if let refused = refusal() {
      // Only the directories this run made (and OUT if it made it) go, if empty.
      if case .success(let tree) = tree { tree.removeCreatedDirectories() }
      throw refused
    }
    var reported = withInvalidFirms(outcomes, selected: selected, logger: logger)
    for configured in missing {
      let id = FirmIdentifier.displayed(configured)
      let error = PipelineError(
        code: .unknownFirm, firmID: id,
        detail: "firm \(id) is configured but not in snapshot \(options.snapshotPath); the other firms ran")
      var firmLogger = logger
      firmLogger[metadataKey: "firm"] = "\(id)"
      firmLogger.error("firm failed: \(error)")
      var outcome = FirmOutcome(firmID: id, directory: "")
      outcome.error = error
      reported.append(outcome)
    }
    return RunReport(
      runID: options.runID, businessDate: date, snapshotPath: options.snapshotPath,
      firms: reported)
  }

  /// The outcomes of the valid firms with a failed one for each firm whose id is not a valid
  /// firm id, in the snapshot's order. Such a firm's id is shown escaped (``FirmIdentifier/displayed(_:)``)
  /// everywhere, in its outcome too: nothing is written or delivered for it.
  static func withInvalidFirms(_ outcomes: [FirmOutcome], selected: [Firm], logger: Logger) -> [FirmOutcome] {
    guard outcomes.count != selected.count else { return outcomes }
    var valid = outcomes.makeIterator()
    var merged: [FirmOutcome] = []
    for firm in selected {
      if let problem = FirmIdentifier.problem(firm.id) {
        let shown = FirmIdentifier.displayed(firm.id)
        var outcome = FirmOutcome(firmID: shown, directory: "")
        outcome.error = PipelineError(
          code: .invalidFirmID, firmID: shown,
          detail: "\(problem): the firm is not processed and nothing is written or delivered for it "
            + "(a firm id names directories and files: 1-64 of A-Z, a-z, 0-9, '-', '_')")
        var firmLogger = logger
        firmLogger[metadataKey: "firm"] = "\(shown)"
        firmLogger.error("firm failed: \(outcome.error.map(\.description) ?? "")")
        merged.append(outcome)
      } else if let next = valid.next() {
        merged.append(next)
      }
    }
    return merged
  }

  static func fileName(
    firmID: String, kind: String, date: CivilDate, format: ExtractFormat, encoding: OutputEncoding
  )
    -> String
  {
    let suffix: String
    if case .none = encoding { suffix = "" } else { suffix = ".gz" }
    return "\(firmID)_\(kind)_\(date.compact).\(format.fileExtension)\(suffix)"
  }

  /// Recomputes the accounts' records after a restated date, date by date (the history is kept
  /// in date order, so each later date's rows are read together).
  /// Returns the later dates at which a stored record changed (whose extracts are now stale).
  @discardableResult
  static func restate(after date: CivilDate, accounts keys: [Int64], store: StateStore) throws -> Set<
    CivilDate
  > {
    var changed: Set<CivilDate> = []
    var previous: [Int64: PerformanceRecord] = [:]
    for key in keys {
      previous[key] = try store.record(at: date, account: key) ?? store.record(before: date, account: key)
    }
    for day in try store.historyDates(after: date) {
      for key in keys {
        guard let stored = try store.record(at: day, account: key) else { continue }
        let before = previous[key]
        let updated = Performance.advance(
          previous: before, date: stored.date, value: stored.value,
          flows: ExternalFlows(net: stored.flow, inflow: stored.flowIn),
          opensToday: stored.kind == .opening && before == nil)
        if updated != stored {
          try store.save(updated, account: key)
          changed.insert(day)
        }
        previous[key] = updated
      }
    }
    return changed
  }

  /// Finishes the data files, puts them in place, and writes the manifest last.
  static func complete(
    firm: Firm, date: CivilDate, directory: OutputDirectory, writers: [ExtractFileWriter],
    files: [ExtractFileSummary], options: JobOptions,
    reader: SnapshotReader, outcome: inout FirmOutcome
  ) throws {
    let manifestName = "\(firm.id)_manifest_\(date.compact).json"
    let manifestPath = outcome.directory + "/" + manifestName
    // A consumer waiting for the manifest must never pair an old manifest with new files.
    try directory.removeIfPresent(manifestName)
    for writer in writers { try directory.rename(writer.temporaryName, to: writer.fileName) }
    let manifest = Manifest.render(
      firmID: firm.id, date: date, runID: options.runID, generatedAt: iso8601(options.clock()), files: files,
      snapshotGeneratedAt: reader.generatedAt, errors: outcome.errors, warnings: outcome.warnings)
    let bytes = Array(manifest.utf8)
    try directory.writeFile(
      bytes, name: manifestName, temporaryName: "." + manifestName + ".part-" + options.runID)
    outcome.files = files
    outcome.manifestPath = manifestPath
    outcome.manifest = manifest
    outcome.manifestBytes = bytes.count
    outcome.manifestSHA256 = FileSystem.sha256(bytes)
  }

  /// Completes every file under its temporary name: sizes, hashes, rows, control totals.
  static func finishFiles(
    _ writers: [ExtractFileWriter], totals: [ExtractKind: ControlFigures], settings: FirmSettings
  ) throws -> [ExtractFileSummary] {
    var files: [ExtractFileSummary] = []
    for writer in writers {
      let (bytes, sha) = try writer.finish()
      var controls: [(String, String)] = []
      let figures: ControlFigures? =
        writer.kind == .dataQuality ? nil : totals[writer.kind] ?? ControlFigures()
      if let figures, let name = ControlFigures.totalName(writer.kind) {
        controls = [(name, figures.total.description)]
      }
      let compression: String
      if case .gzip = settings.encoding { compression = "gzip" } else { compression = "none" }
      files.append(
        ExtractFileSummary(
          name: writer.fileName, path: writer.finalPath, extract: writer.kind,
          template: writer.encoder.template.name,
          format: settings.format, compression: compression, rows: writer.rows, bytes: bytes, sha256: sha,
          controlTotals: controls, figures: figures,
          keyColumns: ControlFigures.keyColumns(writer.encoder.template, format: settings.format)))
    }
    return files
  }

  static func iso8601(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: date)
  }
}
