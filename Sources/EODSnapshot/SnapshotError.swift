/// Why a snapshot was refused: what, where (table, row key, column) and why.
public struct SnapshotError: Error, CustomStringConvertible, Sendable {
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// The file is missing, unreadable or not a SQLite database.
    public static let unreadable = Code("unreadable")
    /// `snapshot_info.schema_version` is not `1`.
    public static let unsupportedSchemaVersion = Code("unsupported-schema-version")
    /// A table of schema version 1 is missing.
    public static let missingTable = Code("missing-table")
    /// A column of schema version 1 is missing.
    public static let missingColumn = Code("missing-column")
    /// A decimal is not in plain notation.
    public static let malformedDecimal = Code("malformed-decimal")
    /// A date is not `YYYY-MM-DD`, or does not exist.
    public static let malformedDate = Code("malformed-date")
    /// A required value is NULL or missing (e.g. `snapshot_info.business_date`).
    public static let missingValue = Code("missing-value")
    /// A primary key's value appears in more than one row (the table does not enforce its key).
    public static let duplicateKey = Code("duplicate-key")
    /// A row names a firm, client or account the snapshot does not hold.
    public static let unknownReference = Code("unknown-reference")
    /// A text value is not valid UTF-8.
    public static let invalidText = Code("invalid-utf8")
    /// The path is not a regular file (a FIFO, a directory, a device).
    public static let notRegularFile = Code("not-a-regular-file")
    /// The file changed while the run read it (another writer): its rows would mix two states.
    public static let changedWhileRead = Code("changed-while-read")

    /// The codes of a bad value in a row (as opposed to a bad file or schema).
    public static let rowProblems: Set<Code> = [
      .missingValue, .malformedDecimal, .malformedDate, .duplicateKey, .unknownReference, .invalidText,
    ]
  }

  public var code: Code
  /// The snapshot file.
  public var path: String
  public var table: String?
  /// The row's key, e.g. `AC00000001/INS000016` for a position.
  public var rowKey: String?
  public var column: String?
  public var detail: String

  public init(
    code: Code, path: String, table: String? = nil, rowKey: String? = nil, column: String? = nil,
    detail: String
  ) {
    self.code = code
    self.path = path
    self.table = table
    self.rowKey = rowKey
    self.column = column
    self.detail = detail
  }

  public var description: String {
    var location: [String] = []
    if let table { location.append("table \(table)") }
    if let rowKey { location.append("row \(rowKey)") }
    if let column { location.append("column \(column)") }
    let whereText = location.isEmpty ? "" : " (" + location.joined(separator: ", ") + ")"
    return "snapshot \(path) refused [\(code)]\(whereText): \(detail)"
  }
}
