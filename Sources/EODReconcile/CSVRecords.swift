import Foundation

/// A streaming CSV parser: bytes are fed in chunks of any size, records come out whole, each with
/// the line it starts on. Quoted fields may hold the delimiter, doubled quotes and line breaks.
public struct CSVRecordParser {
  /// One record: its fields' bytes one after the other, and where each field ends (the parser's
  /// two buffers, reused from record to record).
  public struct Record {
    public var bytes: [UInt8]
    public var ends: [Int]
    /// The 1-based line the record starts on.
    public var line: Int
    /// Why the record is not well-formed CSV, if it is not.
    public var malformed: String?

    /// Bytes between one field's end and the next one's start: 1 when `bytes` is the line as it
    /// was (fields still separated by the delimiter), 0 when the fields were gathered.
    var gap = 0

    public var count: Int { ends.count }
    public subscript(_ index: Int) -> ArraySlice<UInt8> {
      bytes[(index == 0 ? 0 : ends[index - 1] + gap)..<ends[index]]
    }
    public var fields: [[UInt8]] { ends.indices.map { Array(self[$0]) } }

    /// Calls `body` with the fields' bytes in place.
    func withFields<R>(_ body: (Fields) throws -> R) rethrows -> R {
      try bytes.withUnsafeBytes { try body(Fields(bytes: $0, ends: ends, gap: gap)) }
    }

    /// A record's fields in place.
    struct Fields {
      let bytes: UnsafeRawBufferPointer
      let ends: [Int]
      let gap: Int
      subscript(_ index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[(index == 0 ? 0 : ends[index - 1] + gap)..<ends[index]])
      }
    }
  }

  enum State { case fieldStart, unquoted, quoted, afterQuote }

  let delimiter: UInt8
  let quote: UInt8?
  /// `quote`, or a value no byte has: the scans compare without unwrapping.
  let quoteByte: UInt16
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
    quoteByte = quote.map(UInt16.init) ?? 0x100
  }

  /// Feeds bytes; `emit` gets each record they complete (its bytes are the parser's until
  /// `emit` returns: a record kept is copied then).
  ///
  /// A record whose whole line is in `bytes` and holds no quote is taken at once: the line is
  /// copied and its delimiters noted (``takeLine(_:from:)``). Otherwise, within a field the bytes that change nothing (in an unquoted field all but the delimiter, a
  /// quote and a line feed; in a quoted one all but a quote and a line feed) are scanned for the
  /// next one that does and appended at once; that byte goes through ``step(_:)``.
  public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ emit: (Record) -> Void) {
    let bytes = bytes.assumingMemoryBound(to: UInt8.self)
    let count = bytes.count
    var index = 0
    while index < count {
      if !recordStarted, let next = takeLine(bytes, from: index, emit) {
        index = next
        continue
      }
      if state == .unquoted || state == .quoted {
        var end = index
        if state == .unquoted {
          while end < count {
            let byte = bytes[end]
            if byte == delimiter || byte == 0x0A || UInt16(byte) == quoteByte { break }
            end += 1
          }
        } else {
          while end < count {
            let byte = bytes[end]
            if byte == 0x0A || UInt16(byte) == quoteByte { break }
            end += 1
          }
        }
        if end > index {
          buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[index..<end]))
          index = end
          continue
        }
      }
      if step(bytes[index]) { emitRecord(emit) }
      index += 1
    }
  }

  /// Takes the record starting at `start` whole, when its line ends in `bytes` and holds no
  /// quote: what ``step(_:)`` would make of it, byte by byte (a line end's CR dropped, a blank
  /// line skipped). Returns where the next record starts, or nil to read it byte by byte.
  mutating func takeLine(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, _ emit: (Record) -> Void)
    -> Int?
  {
    guard let base = bytes.baseAddress,
      let found = memchr(base + start, 0x0A, bytes.count - start)
    else { return nil }
    let lineEnd = UnsafeRawPointer(found).assumingMemoryBound(to: UInt8.self) - base
    if let quote, memchr(base + start, Int32(quote), lineEnd - start) != nil { return nil }
    var end = lineEnd
    if end > start, bytes[end - 1] == 0x0D { end -= 1 }
    line += 1
    if end == start { return lineEnd + 1 }
    recordLine = line - 1
    buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<end]))
    for index in start..<end where bytes[index] == delimiter { ends.append(index - start) }
    ends.append(end - start)
    emit(Record(bytes: buffer, ends: ends, line: recordLine, malformed: nil, gap: 1))
    buffer.removeAll(keepingCapacity: true)
    ends.removeAll(keepingCapacity: true)
    return lineEnd + 1
  }

  public mutating func feed(_ bytes: [UInt8], _ emit: (Record) -> Void) {
    bytes.withUnsafeBytes { feed($0, emit) }
  }

  /// Ends the input: a last record without a line break is emitted.
  public mutating func finish(_ emit: (Record) -> Void) {
    if state == .quoted { malformed = malformed ?? "a quoted field is not closed before the end of the file" }
    if recordStarted || !buffer.isEmpty || !ends.isEmpty, endRecord() { emitRecord(emit) }
  }

  /// Gives the record ended to `emit`, then starts the next in the same storage (the record is
  /// released when `emit` returns, so clearing does not reallocate).
  mutating func emitRecord(_ emit: (Record) -> Void) {
    emit(Record(bytes: buffer, ends: ends, line: recordLine, malformed: malformed))
    buffer.removeAll(keepingCapacity: true)
    ends.removeAll(keepingCapacity: true)
    malformed = nil
    state = .fieldStart
    recordStarted = false
  }

  mutating func endField() {
    ends.append(buffer.count)
    state = .fieldStart
  }

  /// Ends the record: false for a blank line (nothing to emit; the parser is ready for the next).
  mutating func endRecord() -> Bool {
    if buffer.count > (ends.last ?? 0), buffer.last == 0x0D, state != .quoted { buffer.removeLast() }
    ends.append(buffer.count)
    if ends.count == 1 && ends[0] == 0 && malformed == nil {
      buffer.removeAll(keepingCapacity: true)
      ends.removeAll(keepingCapacity: true)
      state = .fieldStart
      recordStarted = false
      return false
    }
    return true
  }

  /// One byte; true when it completes a record (to emit).
  mutating func step(_ byte: UInt8) -> Bool {
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
    return false
  }
}

/// Writes one CSV field as RFC 4180 does (quoted when it holds a comma, a quote or a line break).
func csvField(_ text: String) -> String {
  if text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
  }
  return text
}
