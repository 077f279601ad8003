import EODCompression
import EODCore
import EODOps
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
  /// Other processes write the same state store at the same time (the shards of a night): the
  /// run's write-ahead-log checkpoint is passive, so it never waits for them or blocks them.
  public var sharedStateStore = false

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

/// The extract part of a night over one snapshot, as stages (Sources/EODPipeline/Night/; the
/// whole night, delivery and notices included, is ``NightlyRun``).
public enum ExtractJob {
  /// Runs the snapshot. Throws only when nothing can be done (bad snapshot, unknown firm, gap);
  /// one firm's failure is in its ``FirmOutcome`` and does not stop the others.
  public static func run(_ options: JobOptions, store: any StateStoring, logger: Logger) throws(PipelineError)
    -> RunReport
  {
    var logger = logger
    logger[metadataKey: "run_id"] = "\(options.runID)"
    let snapshot = try OpenedSnapshot.open(options, logger: logger)
    logger[metadataKey: "date"] = "\(snapshot.reader.businessDate)"
    let plan = try Preflight.run(options, snapshot: snapshot, store: store)
    let outcomes = try SnapshotPass.run(
      plan, snapshot: snapshot, options: options, store: store, logger: logger
    ) {
      pass throws(PipelineError) in
      let history = NightHistory(pass: pass, store: store, date: plan.date, logger: logger)
      defer { history.rollback() }
      let completed = CompleteSets.run(pass, history: history, snapshot: snapshot, options: options)
      let outcomes = CommitHistory.run(
        history, outcomes: completed, pass: pass, snapshot: snapshot,
        sharedStateStore: options.sharedStateStore, logger: logger)
      if let refused = snapshot.refusal() {
        // Only the directories this run made (and OUT if it made it) go, if empty.
        if case .success(let tree) = pass.tree { tree.removeCreatedDirectories() }
        throw refused
      }
      return outcomes
    }
    return ExtractReport.make(outcomes, plan: plan, options: options, logger: logger)
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
}
