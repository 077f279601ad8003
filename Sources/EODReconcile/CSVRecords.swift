import Foundation

/// A streaming CSV parser: bytes are fed in chunks of any size, records come out whole, each with
/// the line it starts on. Quoted fields may hold the delimiter, doubled quotes and line breaks.
public struct CSVRecordParser {
  /// One record: its fields' bytes one after the other, and where each field ends (two
  /// allocations a record, not one a field).
  public struct Record {
    public var bytes: [UInt8]
    public var ends: [Int]
    /// The 1-based line the record starts on.
    public var line: Int
    /// Why the record is not well-formed CSV, if it is not.
    public var malformed: String?

    public var count: Int { ends.count }
    public subscript(_ index: Int) -> ArraySlice<UInt8> {
      bytes[(index == 0 ? 0 : ends[index - 1])..<ends[index]]
    }
    public var fields: [[UInt8]] { ends.indices.map { Array(self[$0]) } }
  }

  enum State { case fieldStart, unquoted, quoted, afterQuote }

  let delimiter: UInt8
  let quote: UInt8?
  var state = State.fieldStart
  var buffer: [UInt8] = []
  var ends: [Int] = []
  var line = 1
  var recordLine = 1
  var malformed: String?
  var recordStarted = false

  public init(delimiter: UInt8, quote: UInt8?) {
    self.delimiter = delimiter
    self.quote = quote
  }

  // `step` takes no closure and returns the record it completes: passing `emit` down with every
  // byte made each byte retain and release everything the caller's closure captured.
  public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ emit: (Record) -> Void) {
    for byte in bytes { if let record = step(byte) { emit(record) } }
  }

  public mutating func feed(_ bytes: [UInt8], _ emit: (Record) -> Void) {
    for byte in bytes { if let record = step(byte) { emit(record) } }
  }

  /// Ends the input: a last record without a line break is emitted.
  public mutating func finish(_ emit: (Record) -> Void) {
    if state == .quoted { malformed = malformed ?? "a quoted field is not closed before the end of the file" }
    if recordStarted || !buffer.isEmpty || !ends.isEmpty, let record = endRecord() { emit(record) }
  }

  mutating func endField() {
    ends.append(buffer.count)
    state = .fieldStart
  }

  /// Ends the record: nil for a blank line.
  mutating func endRecord() -> Record? {
    if buffer.count > (ends.last ?? 0), buffer.last == 0x0D, state != .quoted { buffer.removeLast() }
    ends.append(buffer.count)
    let blank = ends.count == 1 && ends[0] == 0 && malformed == nil
    let record = blank ? nil : Record(bytes: buffer, ends: ends, line: recordLine, malformed: malformed)
    buffer.removeAll(keepingCapacity: true)
    ends.removeAll(keepingCapacity: true)
    malformed = nil
    state = .fieldStart
    recordStarted = false
    return record
  }

  /// One byte; the record it completes, if any.
  mutating func step(_ byte: UInt8) -> Record? {
    if !recordStarted {
      recordStarted = true
      recordLine = line
    }
    if byte == 0x0A { line += 1 }
    switch state {
    case .fieldStart:
      if byte == quote {
        state = .quoted
      } else if byte == delimiter {
        endField()
      } else if byte == 0x0A {
        return endRecord()
      } else {
        buffer.append(byte)
        state = .unquoted
      }
    case .unquoted:
      if byte == delimiter {
        endField()
      } else if byte == 0x0A {
        return endRecord()
      } else {
        if byte == quote { malformed = malformed ?? "a quote inside a field that does not start with one" }
        buffer.append(byte)
      }
    case .quoted:
      if byte == quote { state = .afterQuote } else { buffer.append(byte) }
    case .afterQuote:
      if byte == quote {
        buffer.append(byte)
        state = .quoted
      } else if byte == delimiter {
        endField()
      } else if byte == 0x0A {
        return endRecord()
      } else if byte == 0x0D {
        buffer.append(byte)
      } else {
        malformed = malformed ?? "text after a closing quote"
        buffer.append(byte)
        state = .unquoted
      }
    }
    return nil
  }
}

/// Writes one CSV field as RFC 4180 does (quoted when it holds a comma, a quote or a line break).
func csvField(_ text: String) -> String {
  if text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
  }
  return text
}
