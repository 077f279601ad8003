import EODCore
import EODRender

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
