import EODCore
import EODRender
import Foundation
import Testing

/// Rows built as bytes encode exactly as the same values given as Strings.
@Suite struct RowBufferTests {
  func template(_ text: String) throws -> Template { try Template.parse(text, file: "test.tmpl") }

  /// Valuations rows (26 fields): text with every awkward character, decimals, an integer, dates, nulls.
  func values(_ message: String?, integer: Int) -> (strings: [String?], buffer: RowBuffer) {
    let decimals = [
      ExactDecimal(significand: -5, scale: 2), ExactDecimal(significand: 123_456_789, scale: 4),
      ExactDecimal(significand: 0, scale: 6),
    ]
    let date = CivilDate(year: 2024, month: 2, day: 29)
    var strings: [String?] = []
    var buffer = RowBuffer(fieldCount: ExtractKind.valuations.fields.count)
    for (index, field) in ExtractKind.valuations.fields.enumerated() {
      switch (field.kind, index % 4) {
      case (.integer, _):
        strings.append(String(integer))
        buffer.append(integer: integer)
      case (.decimal, 3):
        strings.append(nil)
        buffer.append(nil as ExactDecimal?)
      case (.decimal, _):
        let value = decimals[index % decimals.count]
        strings.append(value.description)
        buffer.append(value)
      case (.text, 0) where field.name.hasSuffix("_date") || field.name.hasSuffix("_on"):
        strings.append(date?.description)
        buffer.append(date)
      case (.text, 1):
        strings.append(nil)
        buffer.append(nil as String?)
      case (.text, _):
        strings.append(message)
        buffer.append(message)
      }
    }
    buffer.endRow()
    return (strings, buffer)
  }

  @Test(arguments: [ExtractFormat.csv, .json], [false, true])
  func bytesAndStringsEncodeAlike(format: ExtractFormat, formulaSafe: Bool) throws {
    let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("templates").path
    var layout = try TemplateLibrary(directory: directory).template(.valuations, version: 1)
    layout.formulaSafe = formulaSafe
    let encoder = RowEncoder(template: layout, format: format)
    let messages: [String?] = [
      "plain", "a, b", "say \"hi\"", "two\nlines", "cr\rhere", "tab\there", "=SUM(A1)", "-1", "@x",
      "£ café ✓",
      "back\\slash", "\u{1}control", "", nil,
    ]
    for (index, message) in messages.enumerated() {
      let (strings, buffer) = values(message, integer: [0, 7, -12, 1_234_567][index % 4])
      var expected: [UInt8] = []
      encoder.row(strings, into: &expected)
      var actual: [UInt8] = []
      encoder.rows(buffer, into: &actual)
      #expect(
        String(decoding: actual, as: UTF8.self) == String(decoding: expected, as: UTF8.self),
        "message \(String(describing: message))")
    }
  }

  @Test func manyRowsInOneBufferAndReuse() throws {
    let layout = try template("extract data_quality\nversion 1\ncolumn resource_id\ncolumn message\n")
    let encoder = RowEncoder(template: layout, format: .csv)
    var buffer = RowBuffer(fieldCount: ExtractKind.dataQuality.fields.count)
    for round in 0..<2 {
      buffer.removeAll()
      for row in 0..<3 {
        for field in 0..<buffer.fieldCount {
          buffer.append(field == 5 ? "R\(round)-\(row)" : field == 7 ? "m,\(row)" : "x")
        }
        buffer.endRow()
      }
      #expect(buffer.rowCount == 3)
      #expect(buffer.value(row: 2, field: 5) == "R\(round)-2")
      var out: [UInt8] = []
      encoder.rows(buffer, into: &out)
      #expect(
        String(decoding: out, as: UTF8.self)
          == "R\(round)-0,\"m,0\"\r\nR\(round)-1,\"m,1\"\r\nR\(round)-2,\"m,2\"\r\n")
    }
  }

  /// A field shown by three columns, every byte escaped to six: the room reserved per row covers
  /// each use (the sink starts small, so too little room would write past it).
  @Test(arguments: [ExtractFormat.csv, .json])
  func aFieldShownThreeTimesFitsItsRoom(format: ExtractFormat) throws {
    let layout = try template(
      "extract data_quality\nversion 1\ncolumn a = message\ncolumn b = message\ncolumn c = message\n")
    let encoder = RowEncoder(template: layout, format: format)
    let message = String(repeating: "\u{1}\"", count: 500)
    var strings: [String?] = []
    var buffer = RowBuffer(fieldCount: ExtractKind.dataQuality.fields.count)
    for field in 0..<buffer.fieldCount {
      strings.append(field == 7 ? message : "")
      buffer.append(field == 7 ? message : "")
    }
    buffer.endRow()
    var expected: [UInt8] = []
    encoder.row(strings, into: &expected)
    let sink = ByteSink(capacity: 16)
    encoder.rows(buffer, into: sink)
    #expect(Array(sink.bytes) == expected)
    #expect(expected.count > 3 * 1000 * (format == .json ? 3 : 1))
  }

  @Test func theSinkGrowsPastItsFirstCapacity() throws {
    let layout = try template("extract data_quality\nversion 1\ncolumn message\n")
    let encoder = RowEncoder(template: layout, format: .json)
    let long = String(repeating: "\"quoted\" ", count: 2_000)
    var buffer = RowBuffer(fieldCount: ExtractKind.dataQuality.fields.count)
    for field in 0..<buffer.fieldCount { buffer.append(field == 7 ? long : "x") }
    buffer.endRow()
    let sink = ByteSink(capacity: 16)
    encoder.rows(buffer, into: sink)
    let text = String(decoding: sink.bytes, as: UTF8.self)
    #expect(text.hasPrefix("{\"message\":\"\\\"quoted\\\" "))
    #expect(text.hasSuffix("\"}\n"))
    #expect(sink.count == 12 + 2_000 * 11 + 3)
  }
}
