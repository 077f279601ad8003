import EODCore

/// Rows of one extract as UTF-8 bytes, built without a String per value: text is copied,
/// decimals and dates are formatted straight into the buffer.
///
/// Every row has one value per field of the extract, in ``ExtractKind/fields`` order; the
/// ``RowEncoder`` picks, orders and quotes the columns its template asks for. A value is either
/// bytes (possibly empty) or null (an empty CSV cell, JSON `null`).
///
/// ```swift
/// var rows = RowBuffer(fieldCount: 3)
/// rows.append("FIRM001")
/// rows.append(ExactDecimal(significand: -50, scale: 2))
/// rows.appendNull()
/// rows.endRow()
/// ```
public struct RowBuffer: Sendable {
  public let fieldCount: Int
  /// Every value's bytes, back to back.
  public private(set) var bytes: [UInt8] = []
  /// Per value: where its bytes start in ``bytes``, or -1 for null.
  var starts: [Int] = []
  /// Per value: where its bytes end in ``bytes``, or -1 for null.
  var ends: [Int] = []

  public init(fieldCount: Int) {
    self.fieldCount = fieldCount
  }

  /// Rows completed so far.
  public var rowCount: Int { starts.count / max(1, fieldCount) }
  public var isEmpty: Bool { starts.isEmpty }

  /// Forgets every row, keeping the memory for the next ones.
  public mutating func removeAll() {
    bytes.removeAll(keepingCapacity: true)
    starts.removeAll(keepingCapacity: true)
    ends.removeAll(keepingCapacity: true)
  }

  @inline(__always)
  mutating func begin() {
    starts.append(bytes.count)
  }

  @inline(__always)
  mutating func close() {
    ends.append(bytes.count)
  }

  /// A null value.
  public mutating func appendNull() {
    starts.append(-1)
    ends.append(-1)
  }

  /// Text; nil is null.
  public mutating func append(_ text: String?) {
    guard var text else { return appendNull() }
    begin()
    text.withUTF8 { bytes.append(contentsOf: $0) }
    close()
  }

  /// An exact decimal in plain notation; nil is null.
  public mutating func append(_ decimal: ExactDecimal?) {
    guard let decimal else { return appendNull() }
    begin()
    decimal.write(into: &bytes)
    close()
  }

  /// A date as `YYYY-MM-DD`; nil is null.
  public mutating func append(_ date: CivilDate?) {
    guard let date else { return appendNull() }
    begin()
    date.write(into: &bytes)
    close()
  }

  /// A whole number in decimal digits.
  public mutating func append(integer: Int) {
    append(String(integer))
  }

  /// Checks that the row just written has one value per field (a programming error otherwise).
  public func endRow() {
    assert(starts.count % max(1, fieldCount) == 0, "a row has \(fieldCount) values")
  }

  /// The value at `field` of `row`, or nil when it is null.
  public func value(row: Int, field: Int) -> String? {
    let index = row * fieldCount + field
    guard starts[index] >= 0 else { return nil }
    return String(decoding: bytes[starts[index]..<ends[index]], as: UTF8.self)
  }
}
