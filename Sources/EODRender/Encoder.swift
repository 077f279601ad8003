/// The file formats of the extracts.
public enum ExtractFormat: String, Sendable, Codable, CaseIterable {
  /// RFC 4180: UTF-8, `,`, CRLF, a header row, quoted only where needed.
  case csv
  /// JSON Lines: one object per row, camelCase keys, decimals as strings, null for empty.
  case json

  public var fileExtension: String { rawValue }
}

/// Writes rows of one extract, in one format, as bytes. Rows are given as one value per field of
/// the extract (``ExtractKind/fields`` order); the template picks and names the columns.
public struct RowEncoder: Sendable {
  public let template: Template
  public let format: ExtractFormat
  private let jsonKeys: [[UInt8]]
  /// Per column, precomputed so the row loop touches no Strings: the field it shows, whether its
  /// values may need CSV quoting or JSON escaping (text), whether formulas are neutralised there,
  /// and whether JSON writes it bare (integers).
  private let fieldIndexes: [Int]
  private let isText: [Bool]
  private let neutralises: [Bool]
  private let isBare: [Bool]
  private let jsonKeyBytes: Int
  /// The most columns that show one field (1 unless a template repeats a field).
  private let maxUses: Int

  public init(template: Template, format: ExtractFormat) {
    self.template = template
    self.format = format
    self.jsonKeys = template.columns.map { column in
      let key = column.header == column.field.name ? column.field.jsonKey : column.header
      var bytes: [UInt8] = []
      RowEncoder.appendJSONString(key, to: &bytes)
      return bytes
    }
    fieldIndexes = template.columns.map(\.fieldIndex)
    jsonKeyBytes = jsonKeys.reduce(0) { $0 + $1.count }
    isText = template.columns.map { $0.field.kind == .text }
    // Every text column (identifiers, references, codes, names, messages), decided by the
    // column's type and not by the value's shape; decimal and integer columns stay numbers.
    neutralises = template.columns.map { template.formulaSafe && $0.field.kind == .text }
    isBare = template.columns.map { $0.field.kind == .integer }
    maxUses = Dictionary(grouping: template.columns, by: \.fieldIndex).values.map(\.count).max() ?? 1
  }

  /// The header row (CSV), or nothing (JSON).
  public func header(into out: inout [UInt8]) {
    guard format == .csv else { return }
    for (index, column) in template.columns.enumerated() {
      if index > 0 { out.append(UInt8(ascii: ",")) }
      RowEncoder.appendCSVField(column.header, to: &out)
    }
    out.append(13)
    out.append(10)
  }

  /// One row. `values` holds one entry per field of the extract; nil is empty.
  public func row(_ values: [String?], into out: inout [UInt8]) {
    var buffer = RowBuffer(fieldCount: values.count)
    for value in values { buffer.append(value) }
    rows(buffer, into: &out)
  }

  /// Every row of `buffer`, in order.
  public func rows(_ buffer: RowBuffer, into out: inout [UInt8]) {
    let sink = ByteSink(capacity: buffer.bytes.count * 2 + 64)
    rows(buffer, into: sink)
    out.append(contentsOf: sink.bytes)
  }

  /// Every row of `buffer`, in order, written into `sink`.
  public func rows(_ buffer: RowBuffer, into sink: ByteSink) {
    let rowCount = buffer.rowCount
    guard rowCount > 0 else { return }
    let fieldCount = buffer.fieldCount
    buffer.bytes.withUnsafeBufferPointer { source in
      buffer.marks.withUnsafeBufferPointer { marks in
        fieldIndexes.withUnsafeBufferPointer { fields in
          for row in 0..<rowCount {
            let base = row * fieldCount
            // Room for the row at its largest: every byte of its values (they lie together)
            // escaped (at most 6 bytes per byte in JSON, 2 in CSV) as often as a field is shown,
            // plus keys, separators and quotes.
            let end = marks[base + fieldCount - 1]
            let length = (end >= 0 ? end : ~end) - RowBuffer.start(base, marks)
            sink.write(reserving: length * 6 * maxUses + rowOverhead) { cursor in
              switch format {
              case .csv:
                csvRow(base: base, source: source, marks: marks, fields: fields, into: &cursor)
              case .json:
                jsonRow(base: base, source: source, marks: marks, fields: fields, into: &cursor)
              }
            }
          }
        }
      }
    }
  }

  /// Bytes a row needs beyond 6 per value byte: JSON keys, `:`, `,`, quotes, `null`, the
  /// neutralising `'`, the line end.
  private var rowOverhead: Int { jsonKeyBytes + fieldIndexes.count * 8 + 4 }

  private func csvRow(
    base: Int, source: UnsafeBufferPointer<UInt8>, marks: UnsafeBufferPointer<Int>,
    fields: UnsafeBufferPointer<Int>, into cursor: inout WriteCursor
  ) {
    for column in 0..<fields.count {
      if column > 0 { cursor.put(UInt8(ascii: ",")) }
      let index = base + fields[column]
      let end = marks[index]
      guard end >= 0 else { continue }
      let value = UnsafeBufferPointer(rebasing: source[RowBuffer.start(index, marks)..<end])
      guard isText[column] else {
        cursor.put(value)
        continue
      }
      let prefix = neutralises[column] && RowEncoder.looksLikeFormula(value)
      RowEncoder.appendCSVField(value, prefixed: prefix, to: &cursor)
    }
    cursor.put(13)
    cursor.put(10)
  }

  private func jsonRow(
    base: Int, source: UnsafeBufferPointer<UInt8>, marks: UnsafeBufferPointer<Int>,
    fields: UnsafeBufferPointer<Int>, into cursor: inout WriteCursor
  ) {
    cursor.put(UInt8(ascii: "{"))
    for column in 0..<fields.count {
      if column > 0 { cursor.put(UInt8(ascii: ",")) }
      jsonKeys[column].withUnsafeBufferPointer { cursor.put($0) }
      cursor.put(UInt8(ascii: ":"))
      let index = base + fields[column]
      let end = marks[index]
      guard end >= 0 else {
        for byte in [110, 117, 108, 108] as [UInt8] { cursor.put(byte) }  // null
        continue
      }
      let value = UnsafeBufferPointer(rebasing: source[RowBuffer.start(index, marks)..<end])
      if isBare[column] {
        cursor.put(value)
      } else {
        let prefix = neutralises[column] && RowEncoder.looksLikeFormula(value)
        RowEncoder.appendJSONString(value, prefixed: prefix, to: &cursor)
      }
    }
    cursor.put(UInt8(ascii: "}"))
    cursor.put(10)
  }

  /// Starts with `=`, `+`, `-`, `@`, tab or CR: a spreadsheet would run it.
  public static func looksLikeFormula(_ value: String) -> Bool {
    guard let first = value.utf8.first else { return false }
    return looksLikeFormula(first: first)
  }

  static func looksLikeFormula(_ value: UnsafeBufferPointer<UInt8>) -> Bool {
    guard let first = value.first else { return false }
    return looksLikeFormula(first: first)
  }

  static func looksLikeFormula(first: UInt8) -> Bool {
    first == UInt8(ascii: "=") || first == UInt8(ascii: "+") || first == UInt8(ascii: "-")
      || first == UInt8(ascii: "@") || first == 9 || first == 13
  }

  public static func appendCSVField(_ value: String, to out: inout [UInt8]) {
    append(value, bytesPerByte: 2, to: &out) { appendCSVField($0, prefixed: false, to: &$1) }
  }

  /// `value` as `encode` writes it (at most `bytesPerByte` bytes per byte of its UTF-8, plus 3),
  /// appended to `out`.
  private static func append(
    _ value: String, bytesPerByte: Int, to out: inout [UInt8],
    _ encode: (UnsafeBufferPointer<UInt8>, inout WriteCursor) -> Void
  ) {
    var value = value
    value.withUTF8 { bytes in
      let room = bytes.count * bytesPerByte + 3
      let sink = ByteSink(capacity: room)
      sink.write(reserving: room) { encode(bytes, &$0) }
      out.append(contentsOf: sink.bytes)
    }
  }

  /// A CSV field, quoted only when it holds `,`, `"`, LF or CR; `prefixed` puts `'` in front
  /// (a neutralised formula). The cursor has room for `2 × count + 3` bytes.
  static func appendCSVField(
    _ bytes: UnsafeBufferPointer<UInt8>, prefixed: Bool, to cursor: inout WriteCursor
  ) {
    var needsQuotes = false
    for byte in bytes where byte == 44 || byte == 34 || byte == 10 || byte == 13 {
      needsQuotes = true
      break
    }
    if !needsQuotes {
      if prefixed { cursor.put(UInt8(ascii: "'")) }
      cursor.put(bytes)
      return
    }
    cursor.put(34)
    if prefixed { cursor.put(UInt8(ascii: "'")) }
    for byte in bytes {
      if byte == 34 { cursor.put(34) }
      cursor.put(byte)
    }
    cursor.put(34)
  }

  static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

  public static func appendJSONString(_ value: String, to out: inout [UInt8]) {
    append(value, bytesPerByte: 6, to: &out) { appendJSONString($0, prefixed: false, to: &$1) }
  }

  /// A JSON string; `prefixed` puts `'` in front (a neutralised formula). The cursor has room for
  /// `6 × count + 3` bytes.
  static func appendJSONString(
    _ bytes: UnsafeBufferPointer<UInt8>, prefixed: Bool, to cursor: inout WriteCursor
  ) {
    cursor.put(34)
    if prefixed { cursor.put(UInt8(ascii: "'")) }
    var plain = true
    for byte in bytes where byte < 32 || byte == 34 || byte == 92 {
      plain = false
      break
    }
    if plain {
      cursor.put(bytes)
      cursor.put(34)
      return
    }
    for byte in bytes {
      switch byte {
      case 34:
        cursor.put(92)
        cursor.put(34)
      case 92:
        cursor.put(92)
        cursor.put(92)
      case 10:
        cursor.put(92)
        cursor.put(110)
      case 13:
        cursor.put(92)
        cursor.put(114)
      case 9:
        cursor.put(92)
        cursor.put(116)
      case 0..<32:
        for escape in [92, 117, 48, 48] as [UInt8] { cursor.put(escape) }
        cursor.put(hexDigits[Int(byte >> 4)])
        cursor.put(hexDigits[Int(byte & 15)])
      default: cursor.put(byte)
      }
    }
    cursor.put(34)
  }
}
