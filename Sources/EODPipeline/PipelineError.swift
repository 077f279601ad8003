import EODCompression
import EODDelivery
import EODOps
import EODRender
import EODSnapshot
import EODState

/// A failure of the extract job: what, for which firm and step, and why.
///
/// The error that caused it (a ``SnapshotError``, `StateStoreError`, `TemplateError`,
/// `CompressionError`, or any error the job did not expect) is kept in ``cause``, typed, for a
/// program that wants to look at it; ``description`` reads as before (`[code] firm F: detail`),
/// so logs, summaries and the state store's failure records do not change.
///
/// Its exit code (``OperatorFacingError``): 70 for ``Code/internalError`` (a bug), 2 for every
/// other code when it ends the process (a firm's own failure is exit 1, decided by the run).
/// Codes are kebab-case (`bad-snapshot`), the one spelling of the job's error codes.
public struct PipelineError: Error, CustomStringConvertible, Sendable {
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// The snapshot was refused (schema, syntax): nothing was written.
    public static let badSnapshot = Code("bad-snapshot")
    /// A template or option is wrong.
    public static let badConfiguration = Code("bad-configuration")
    /// A `--firm` the snapshot does not have.
    public static let unknownFirm = Code("unknown-firm")
    /// A firm's id is not 1-64 of `[A-Za-z0-9_-]`: that firm is failed alone, nothing written.
    public static let invalidFirmID = Code("invalid-firm-id")
    /// The history has a gap before this date.
    public static let historyGap = Code("history-gap")
    /// The state store failed.
    public static let stateStore = Code("state-store")
    /// Writing an output file failed.
    public static let output = Code("output")
    /// Delivery to a destination failed.
    public static let delivery = Code("delivery")
    /// A bug: a condition the job does not expect.
    public static let internalError = Code("internal-error")
  }

  public var code: Code
  public var firmID: String?
  public var detail: String
  /// The error behind this one, as it was thrown (nil when the job itself found the problem).
  public var cause: (any Error)?

  public init(code: Code, firmID: String? = nil, detail: String, cause: (any Error)? = nil) {
    self.code = code
    self.firmID = firmID
    self.detail = detail
    self.cause = cause
  }

  init(snapshot: SnapshotError) {
    self.init(code: .badSnapshot, detail: snapshot.description, cause: snapshot)
  }
  init(state: StateStoreError) { self.init(code: .stateStore, detail: state.description, cause: state) }
  init(template: TemplateError) {
    self.init(code: .badConfiguration, detail: template.description, cause: template)
  }
  init(output: CompressionError, firmID: String?) {
    self.init(code: .output, firmID: firmID, detail: output.description, cause: output)
  }

  /// The first error of `type` in the chain of causes (this error's ``cause``, its cause's, …,
  /// through every error that keeps the one underneath: ``ErrorWithCause``).
  public func cause<E: Error>(as type: E.Type) -> E? {
    var next = cause
    while let error = next {
      if let found = error as? E { return found }
      next = (error as? any ErrorWithCause)?.cause
    }
    return nil
  }

  public var description: String {
    var text = "[\(code)]"
    if let firmID { text += " firm \(firmID):" }
    return text + " " + detail
  }
}

extension PipelineError: OperatorFacingError {
  public var exitCode: EODExitCode {
    if code == .internalError { return .internalError }
    // Another writer holds the firm's date (a PostgreSQL store's advisory lock): as the run lock, 3.
    if cause(as: StateStoreError.self)?.code == .locked { return .alreadyRunning }
    return .nothingDone
  }
  public var errorCode: String { code.rawValue }
}

/// An error that keeps the error underneath it as its `cause` (its description already says it in
/// words): ``PipelineError/cause(as:)`` walks through every one of them.
public protocol ErrorWithCause: Error {
  var cause: (any Error)? { get }
}

extension PipelineError: ErrorWithCause {}
extension StateStoreError: ErrorWithCause {}
extension DeliveryError: ErrorWithCause {}
extension RunRefusal: ErrorWithCause {}
