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
  /// Per value: where its bytes end in ``bytes`` (they start where the previous value's end), or
  /// for null the bitwise complement (`~end`, negative) of where it would end: one entry per value.
  var marks: [Int] = []

  public init(fieldCount: Int) {
    self.fieldCount = fieldCount
  }

  /// Rows completed so far.
  public var rowCount: Int { marks.count / max(1, fieldCount) }
  public var isEmpty: Bool { marks.isEmpty }

  /// Forgets every row, keeping the memory for the next ones.
  public mutating func removeAll() {
    bytes.removeAll(keepingCapacity: true)
    marks.removeAll(keepingCapacity: true)
  }

  @inline(__always)
  mutating func close() {
    marks.append(bytes.count)
  }

  /// A null value.
  public mutating func appendNull() {
    marks.append(~bytes.count)
  }

  /// Text; nil is null.
  public mutating func append(_ text: String?) {
    guard let text else { return appendNull() }
    // Native and small strings lend their UTF-8 in place: no copy of the String is made.
    let copied: Void? = text.utf8.withContiguousStorageIfAvailable { bytes.append(contentsOf: $0) }
    if copied == nil { bytes.append(contentsOf: text.utf8) }
    close()
  }

  /// An exact decimal in plain notation; nil is null.
  public mutating func append(_ decimal: ExactDecimal?) {
    guard let decimal else { return appendNull() }
    decimal.write(into: &bytes)
    close()
  }

  /// A date as `YYYY-MM-DD`; nil is null.
  public mutating func append(_ date: CivilDate?) {
    guard let date else { return appendNull() }
    date.write(into: &bytes)
    close()
  }

  /// A whole number in decimal digits.
  public mutating func append(integer: Int) {
    append(String(integer))
  }

  /// Checks that the row just written has one value per field (a programming error otherwise).
  public func endRow() {
    assert(marks.count % max(1, fieldCount) == 0, "a row has \(fieldCount) values")
  }

  /// The value at `field` of `row`, or nil when it is null.
  public func value(row: Int, field: Int) -> String? {
    let index = row * fieldCount + field
    guard marks[index] >= 0 else { return nil }
    return String(decoding: bytes[RowBuffer.start(index, marks)..<marks[index]], as: UTF8.self)
  }

  /// Where value `index` starts: where the one before it ends (null or not).
  @inline(__always)
  static func start<C: RandomAccessCollection<Int>>(_ index: Int, _ marks: C) -> Int where C.Index == Int {
    guard index > 0 else { return 0 }
    let previous = marks[index - 1]
    return previous >= 0 ? previous : ~previous
  }
}
