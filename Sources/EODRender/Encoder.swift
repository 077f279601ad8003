/// The file formats of the extracts.
public enum ExtractFormat: String, Sendable, CaseIterable {
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

  public init(template: Template, format: ExtractFormat) {
    self.template = template
    self.format = format
    self.jsonKeys = template.columns.map { column in
      let key = column.header == column.field.name ? column.field.jsonKey : column.header
      var bytes: [UInt8] = []
      RowEncoder.appendJSONString(key, to: &bytes)
      return bytes
    }
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
    switch format {
    case .csv:
      for (index, column) in template.columns.enumerated() {
        if index > 0 { out.append(UInt8(ascii: ",")) }
        guard let value = values[column.fieldIndex] else { continue }
        if template.formulaSafe && column.field.freeText && RowEncoder.looksLikeFormula(value) {
          RowEncoder.appendCSVField("'" + value, to: &out)
        } else {
          RowEncoder.appendCSVField(value, to: &out)
        }
      }
      out.append(13)
      out.append(10)
    case .json:
      out.append(UInt8(ascii: "{"))
      for (index, column) in template.columns.enumerated() {
        if index > 0 { out.append(UInt8(ascii: ",")) }
        out.append(contentsOf: jsonKeys[index])
        out.append(UInt8(ascii: ":"))
        guard let value = values[column.fieldIndex] else {
          out.append(contentsOf: [110, 117, 108, 108])  // null
          continue
        }
        if column.field.kind == .integer {
          out.append(contentsOf: value.utf8)
        } else if template.formulaSafe && column.field.freeText && RowEncoder.looksLikeFormula(value) {
          RowEncoder.appendJSONString("'" + value, to: &out)
        } else {
          RowEncoder.appendJSONString(value, to: &out)
        }
      }
      out.append(UInt8(ascii: "}"))
      out.append(10)
    }
  }

  /// Starts with `=`, `+`, `-`, `@`, tab or CR: a spreadsheet would run it.
  public static func looksLikeFormula(_ value: String) -> Bool {
    guard let first = value.utf8.first else { return false }
    return first == UInt8(ascii: "=") || first == UInt8(ascii: "+") || first == UInt8(ascii: "-")
      || first == UInt8(ascii: "@") || first == 9 || first == 13
  }

  public static func appendCSVField(_ value: String, to out: inout [UInt8]) {
    var value = value
    value.withUTF8 { bytes in
      var needsQuotes = false
      for byte in bytes where byte == 44 || byte == 34 || byte == 10 || byte == 13 {
        needsQuotes = true
        break
      }
      if !needsQuotes {
        out.append(contentsOf: bytes)
        return
      }
      out.append(34)
      for byte in bytes {
        if byte == 34 { out.append(34) }
        out.append(byte)
      }
      out.append(34)
    }
  }

  static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

  public static func appendJSONString(_ value: String, to out: inout [UInt8]) {
    out.append(34)
    for byte in value.utf8 {
      switch byte {
      case 34: out.append(contentsOf: [92, 34])
      case 92: out.append(contentsOf: [92, 92])
      case 10: out.append(contentsOf: [92, 110])
      case 13: out.append(contentsOf: [92, 114])
      case 9: out.append(contentsOf: [92, 116])
      case 0..<32:
        out.append(contentsOf: [92, 117, 48, 48])
        out.append(hexDigits[Int(byte >> 4)])
        out.append(hexDigits[Int(byte & 15)])
      default: out.append(byte)
      }
    }
    out.append(34)
  }
}
