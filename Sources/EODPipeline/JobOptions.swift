import EODCompression
import EODCore
import EODRender
import Foundation

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
