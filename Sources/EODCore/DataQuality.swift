/// One data-quality finding for a firm's `data_quality` extract.
public struct DataQualityIssue: Sendable, Hashable {
  public enum Severity: String, Sendable, Comparable {
    case error = "ERROR"
    case warning = "WARNING"
    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rawValue < rhs.rawValue }
  }

  public enum ResourceType: String, Sendable {
    case client = "CLIENT"
    case account = "ACCOUNT"
    case position = "POSITION"
    case cash = "CASH"
    case transaction = "TRANSACTION"
    case instrument = "INSTRUMENT"
  }

  /// A stable, documented code. Extensible: new codes do not break consumers that ignore them.
  public struct Code: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
    public static func < (lhs: Code, rhs: Code) -> Bool { lhs.rawValue < rhs.rawValue }

    public static let missingPrice = Code("MISSING_PRICE")
    public static let stalePrice = Code("STALE_PRICE")
    public static let missingFX = Code("MISSING_FX")
    public static let invalidExternalRef = Code("INVALID_EXTERNAL_REF")
    public static let performanceUndefined = Code("PERFORMANCE_UNDEFINED")
    /// A position or transaction names an instrument the snapshot does not have.
    public static let unknownInstrument = Code("UNKNOWN_INSTRUMENT")
    /// An account names a client the snapshot does not have, or of another firm.
    public static let unknownClient = Code("UNKNOWN_CLIENT")
    /// An exact value did not fit in 38 digits.
    public static let valueOutOfRange = Code("VALUE_OUT_OF_RANGE")
    /// The latest price is negative: the position is not valued (contract 1.1).
    public static let invalidPrice = Code("INVALID_PRICE")
    /// An FX rate of zero or below left an amount unconverted (contract 1.1).
    public static let invalidFX = Code("INVALID_FX")
    /// The price used is 0: the position is valued at 0 (contract 1.1).
    public static let zeroPrice = Code("ZERO_PRICE")
    /// A position's quantity is below 0; it is valued as it is (contract 1.1).
    public static let negativeQuantity = Code("NEGATIVE_QUANTITY")
    /// Performance was carried across a gap in the history (`--allow-gap`).
    public static let historyGap = Code("HISTORY_GAP")
  }

  public var severity: Severity
  public var code: Code
  public var resourceType: ResourceType
  public var resourceID: String
  public var field: String
  public var message: String

  public init(
    severity: Severity, code: Code, resourceType: ResourceType, resourceID: String, field: String,
    message: String
  ) {
    self.severity = severity
    self.code = code
    self.resourceType = resourceType
    self.resourceID = resourceID
    self.field = field
    self.message = message
  }

  /// The extract's order: severity, code, resource_type, resource_id (then field).
  public static func sortedForExtract(_ issues: [DataQualityIssue]) -> [DataQualityIssue] {
    issues.sorted {
      ($0.severity.rawValue, $0.code.rawValue, $0.resourceType.rawValue, $0.resourceID, $0.field)
        < ($1.severity.rawValue, $1.code.rawValue, $1.resourceType.rawValue, $1.resourceID, $1.field)
    }
  }
}
