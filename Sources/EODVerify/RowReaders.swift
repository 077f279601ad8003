/// Streaming readers of extract rows, fed byte chunks (bounded memory: one record at a time).

/// The longest record (CSV) or line (JSON Lines) a reader holds: beyond it the file is refused.
let maxRecordBytes = 16 << 20

/// RFC 4180 records: `,` between fields, CRLF (or LF) between records, a field quoted with `"`
/// when it holds `,`, `"`, CR or LF (quotes doubled inside). A quoted field's CR and LF are data,
/// so a record with embedded newlines counts once.
struct CSVRecordReader {
  enum State { case fieldStart, unquoted, quoted, quoteInQuoted, carriageReturn }

  private var state = State.fieldStart
  private var fields: [[UInt8]] = []
  private var field: [UInt8] = []
  private var recordBytes = 0
  /// Physical line (1-based) where the current record started, and the current line.
  private var recordLine = 1
  private var line = 1
  /// The first problem: the reader stops there.
  private(set) var error: String?

  mutating func feed(_ bytes: UnsafeRawBufferPointer, _ onRecord: ([[UInt8]], Int) -> Void) {
    guard error == nil else { return }
    // `step` takes no closure and says when a record is complete: passing the callback down with
    // every byte made each byte retain and release everything the callback captured.
    for byte in bytes {
      if step(byte) {
        onRecord(fields, recordLine)
        endRecord()
      }
      if error != nil { return }
    }
  }

  /// Ends the input: a file must end with a record's line end (the job's files always do).
  mutating func finish(_ onRecord: ([[UInt8]], Int) -> Void) {
    guard error == nil else { return }
    switch state {
    case .quoted: fail("the file ends inside a quoted field (record starting on line \(recordLine))")
    case .carriageReturn: fail("the file ends with a CR not followed by LF")
    case .fieldStart where fields.isEmpty && field.isEmpty: return
    default: fail("the last record (line \(recordLine)) has no line end: the file looks truncated")
    }
  }

  private mutating func fail(_ message: String) {
    if error == nil { error = message }
  }

  private mutating func endField() {
    fields.append(field)
    field.removeAll(keepingCapacity: true)
  }

  private mutating func endRecord() {
    fields.removeAll(keepingCapacity: true)
    recordBytes = 0
    recordLine = line
    state = .fieldStart
  }

  private mutating func append(_ byte: UInt8) {
    field.append(byte)
    recordBytes += 1
    if recordBytes > maxRecordBytes { fail("record starting on line \(recordLine) is longer than 16 MiB") }
  }

  /// One byte; true when it completes a record (in `fields`, from `recordLine`).
  private mutating func step(_ byte: UInt8) -> Bool {
    let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), cr: UInt8 = 13, lf: UInt8 = 10
    if byte == lf { line += 1 }
    switch state {
    case .fieldStart, .unquoted:
      if byte == comma {
        endField()
        state = .fieldStart
      } else if byte == cr {
        endField()
        state = .carriageReturn
      } else if byte == lf {
        endField()
        return true
      } else if byte == quote {
        if state == .fieldStart {
          state = .quoted
        } else {
          fail("line \(line): a quote inside an unquoted field")
        }
      } else {
        append(byte)
        state = .unquoted
      }
    case .quoted:
      if byte == quote { state = .quoteInQuoted } else { append(byte) }
    case .quoteInQuoted:
      if byte == quote {
        append(byte)
        state = .quoted
      } else if byte == comma {
        endField()
        state = .fieldStart
      } else if byte == cr {
        endField()
        state = .carriageReturn
      } else if byte == lf {
        endField()
        return true
      } else {
        fail("line \(line): a character after a closing quote")
      }
    case .carriageReturn:
      if byte == lf { return true } else { fail("line \(line): a CR not followed by LF") }
    }
    return false
  }
}

/// One value of a JSON Lines object: a string (decoded, UTF-8), `null`, or the raw text of a
/// number, `true` or `false`.
public enum JSONScalar: Equatable, Sendable {
  case string([UInt8])
  case null
  case literal([UInt8])

  /// The value as a cell: nil for null.
  public var cell: [UInt8]? {
    switch self {
    case .string(let bytes), .literal(let bytes): return bytes
    case .null: return nil
    }
  }
}

/// JSON Lines: one object per line (LF, optionally CRLF), each a flat object of scalars (the
/// extracts never nest). Keys are kept in their order, so the layout can be compared. Also reads
/// our JSON Lines extracts for `reconcile` (EODReconcile).
public struct JSONLinesReader {
  private var lineBytes: [UInt8] = []
  private var line = 0
  /// The first problem (with its line): the reader stops there.
  public private(set) var error: String?

  public init() {}

  public mutating func feed(
    _ bytes: UnsafeRawBufferPointer, _ onObject: ([(String, JSONScalar)], Int) -> Void
  ) {
    guard error == nil else { return }
    for byte in bytes {
      if byte == 10 {
        line += 1
        if let object = parseLine() {
          onObject(object, line)
        } else {
          return
        }
        lineBytes.removeAll(keepingCapacity: true)
      } else {
        lineBytes.append(byte)
        if lineBytes.count > maxRecordBytes {
          error = "line \(line + 1) is longer than 16 MiB"
          return
        }
      }
    }
  }

  public mutating func finish() {
    guard error == nil else { return }
    if !lineBytes.isEmpty { error = "the last line (\(line + 1)) has no line end: the file looks truncated" }
  }

  private mutating func parseLine() -> [(String, JSONScalar)]? {
    var parser = JSONObjectParser(bytes: lineBytes)
    do {
      return try parser.object()
    } catch {
      self.error = "line \(line): \(error.reason)"
      return nil
    }
  }
}

struct JSONParseError: Error {
  var reason: String
}

/// A strict parser of one flat JSON object.
struct JSONObjectParser {
  let bytes: [UInt8]
  var index = 0

  init(bytes: [UInt8]) { self.bytes = bytes }

  mutating func object() throws(JSONParseError) -> [(String, JSONScalar)] {
    skipSpace()
    try expect(UInt8(ascii: "{"), "not a JSON object")
    var members: [(String, JSONScalar)] = []
    skipSpace()
    if peek() == UInt8(ascii: "}") {
      index += 1
    } else {
      while true {
        skipSpace()
        let key = try string()
        skipSpace()
        try expect(UInt8(ascii: ":"), "no ':' after a key")
        skipSpace()
        let value = try scalar()
        members.append((String(decoding: key, as: UTF8.self), value))
        skipSpace()
        if peek() == UInt8(ascii: ",") {
          index += 1
          continue
        }
        try expect(UInt8(ascii: "}"), "no ',' or '}' after a value")
        break
      }
    }
    skipSpace()
    guard index == bytes.count else { throw JSONParseError(reason: "text after the object") }
    return members
  }

  private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

  private mutating func skipSpace() {
    while let byte = peek(), byte == 32 || byte == 9 || byte == 10 || byte == 13 { index += 1 }
  }

  private mutating func expect(_ byte: UInt8, _ reason: String) throws(JSONParseError) {
    guard peek() == byte else { throw JSONParseError(reason: reason) }
    index += 1
  }

  private mutating func scalar() throws(JSONParseError) -> JSONScalar {
    guard let byte = peek() else { throw JSONParseError(reason: "a value is missing") }
    if byte == UInt8(ascii: "\"") { return .string(try string()) }
    if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
      throw JSONParseError(reason: "a nested object or array (extract rows are flat)")
    }
    let start = index
    while let next = peek(), next != UInt8(ascii: ","), next != UInt8(ascii: "}"), next != 32, next != 9,
      next != 13
    {
      index += 1
    }
    let text = Array(bytes[start..<index])
    if text == Array("null".utf8) { return .null }
    if text == Array("true".utf8) || text == Array("false".utf8) || Self.isNumber(text) {
      return .literal(text)
    }
    throw JSONParseError(reason: "'\(String(decoding: text, as: UTF8.self))' is not a JSON value")
  }

  /// JSON's number grammar.
  static func isNumber(_ text: [UInt8]) -> Bool {
    var index = 0
    func digits() -> Int {
      let start = index
      while index < text.count, text[index] >= 48, text[index] <= 57 { index += 1 }
      return index - start
    }
    if index < text.count, text[index] == UInt8(ascii: "-") { index += 1 }
    guard index < text.count else { return false }
    if text[index] == 48 { index += 1 } else if digits() == 0 { return false }
    if index < text.count, text[index] == UInt8(ascii: ".") {
      index += 1
      if digits() == 0 { return false }
    }
    if index < text.count, text[index] == UInt8(ascii: "e") || text[index] == UInt8(ascii: "E") {
      index += 1
      if index < text.count, text[index] == UInt8(ascii: "+") || text[index] == UInt8(ascii: "-") {
        index += 1
      }
      if digits() == 0 { return false }
    }
    return index == text.count
  }

  private mutating func hex4() throws(JSONParseError) -> UInt32 {
    guard index + 4 <= bytes.count else { throw JSONParseError(reason: "a short \\u escape") }
    var value: UInt32 = 0
    for _ in 0..<4 {
      let byte = bytes[index]
      let digit: UInt32
      switch byte {
      case 48...57: digit = UInt32(byte - 48)
      case 65...70: digit = UInt32(byte - 55)
      case 97...102: digit = UInt32(byte - 87)
      default: throw JSONParseError(reason: "a bad \\u escape")
      }
      value = value * 16 + digit
      index += 1
    }
    return value
  }

  /// A JSON string, decoded to UTF-8 bytes.
  private mutating func string() throws(JSONParseError) -> [UInt8] {
    try expect(UInt8(ascii: "\""), "a key or string must be quoted")
    var out: [UInt8] = []
    while true {
      guard let byte = peek() else { throw JSONParseError(reason: "a string is not closed") }
      index += 1
      if byte == UInt8(ascii: "\"") { return out }
      if byte < 0x20 { throw JSONParseError(reason: "a control character inside a string") }
      guard byte == UInt8(ascii: "\\") else {
        out.append(byte)
        continue
      }
      guard let escape = peek() else { throw JSONParseError(reason: "a string is not closed") }
      index += 1
      switch escape {
      case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
      case UInt8(ascii: "b"): out.append(8)
      case UInt8(ascii: "f"): out.append(12)
      case UInt8(ascii: "n"): out.append(10)
      case UInt8(ascii: "r"): out.append(13)
      case UInt8(ascii: "t"): out.append(9)
      case UInt8(ascii: "u"):
        var scalar = try hex4()
        if (0xD800..<0xDC00).contains(scalar) {
          guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
            bytes[index + 1] == UInt8(ascii: "u")
          else { throw JSONParseError(reason: "a lone surrogate in a \\u escape") }
          index += 2
          let low = try hex4()
          guard (0xDC00..<0xE000).contains(low) else {
            throw JSONParseError(reason: "a lone surrogate in a \\u escape")
          }
          scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let unicode = Unicode.Scalar(scalar) else {
          throw JSONParseError(reason: "a lone surrogate in a \\u escape")
        }
        out.append(contentsOf: Array(String(Character(unicode)).utf8))
      default: throw JSONParseError(reason: "an unknown escape \\\(Character(Unicode.Scalar(escape)))")
      }
    }
  }
}
