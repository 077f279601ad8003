import EODCore

/// Writes a `data_quality` row for one finding, one value per field of
/// ``ExtractKind/dataQuality`` in ``fields`` order. The firm sorts its findings first
/// (``DataQualityIssue/sortedForExtract(_:)``).
public struct DataQualityRowWriter: Sendable {
  /// The fields each row has, in the order written.
  public static let fields = [
    "business_date", "firm_id", "severity", "code", "resource_type", "resource_id", "field", "message",
  ]

  public let context: RowContext

  public init(context: RowContext) { self.context = context }

  /// Appends the finding's row to `rows`.
  public func write(_ finding: DataQualityIssue, into rows: inout RowBuffer) {
    rows.append(context.dateText)
    rows.append(context.firmID)
    rows.append(finding.severity.rawValue)
    rows.append(finding.code.rawValue)
    rows.append(finding.resourceType.rawValue)
    rows.append(finding.resourceID)
    rows.append(finding.field)
    rows.append(finding.message)
    rows.endRow()
  }
}
