import EODCompression
import EODRender
import EODSnapshot
import EODState

/// A failure of the extract job: what, for which firm and step, and why.
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

  public init(code: Code, firmID: String? = nil, detail: String) {
    self.code = code
    self.firmID = firmID
    self.detail = detail
  }

  init(snapshot: SnapshotError) { self.init(code: .badSnapshot, detail: snapshot.description) }
  init(state: StateStoreError) { self.init(code: .stateStore, detail: state.description) }
  init(template: TemplateError) { self.init(code: .badConfiguration, detail: template.description) }
  init(output: CompressionError, firmID: String?) {
    self.init(code: .output, firmID: firmID, detail: output.description)
  }

  public var description: String {
    var text = "[\(code)]"
    if let firmID { text += " firm \(firmID):" }
    return text + " " + detail
  }
}
