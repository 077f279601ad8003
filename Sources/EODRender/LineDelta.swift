#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// Line-prefix delta coding: how a spool (the pipeline's `RowSpool`) keeps encoded rows in fewer
// bytes. Rows that follow each other in one extract share a long start (an account's positions
// rows share the date, firm, client and account columns; consecutive accounts share the date,
// the firm and part of their ids), so each line is kept as the length of the start it shares
// with the line before (LEB128) and the bytes after it:
//
//     line := varint(shared) rest
//
// A line is the bytes up to and including a newline, or up to the end of the coded bytes. `rest`
// runs to the line's newline (a line holds one, at its end) or to the end of the coded bytes; a
// line whose shared start already ends in its newline (the same line again) has no rest. The
// coding is lossless for any bytes: a quoted field with a newline in it only splits a row into
// two lines. Both sides keep the last line of the stream, so a stream is coded in pieces (one
// account's rows at a time) and decoded in the same pieces in the same order.

/// Codes one stream's pieces (``encode(_:into:)``); the pieces are decoded by a
/// ``LineDeltaDecoder`` in the same order. A class over its own memory, so that a spool keeps its
/// coders in a constant array and coding an account's rows makes no copy-on-write check and
/// no dynamic exclusivity check of an array element.
public final class LineDeltaEncoder {
  /// The stream's last line so far.
  private var previous = LineStore()

  public init() {}

  deinit { previous.deallocate() }

  /// Appends `raw`, coded, to `sink` (`raw` must not be in `sink`'s memory: it may move).
  public func encode(_ raw: UnsafeRawBufferPointer, into sink: ByteSink) {
    guard let start = raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count > 0 else { return }
    let end = start + raw.count
    var lastLine = start
    let stored = previous
    // A line codes to at most one byte more than it is (a varint is no longer than the start it
    // counts): room for all of them at once.
    sink.write(reserving: 2 * raw.count) { cursor in
      var line = start
      var before = UnsafePointer(stored.bytes)
      var beforeCount = stored.count
      while line < end {
        let next = LineDelta.lineEnd(line, end)
        let count = next - line
        let shared = LineDelta.sharedPrefix(line, before, min(count, beforeCount))
        LineDelta.putVarint(shared, &cursor)
        cursor.put(UnsafeBufferPointer(start: line + shared, count: count - shared))
        before = line
        beforeCount = count
        lastLine = line
        line = next
      }
    }
    previous.replace(with: lastLine, count: end - lastLine)
  }
}

/// Decodes the pieces a ``LineDeltaEncoder`` coded, in the same order.
public final class LineDeltaDecoder {
  /// The stream's last line so far.
  private var previous = LineStore()

  public init() {}

  deinit { previous.deallocate() }

  /// Appends the bytes `coded` stands for to `sink`; false when they are not a coding (a shared
  /// start longer than the line before, a varint that does not end, an empty line). `coded` must
  /// not be in `sink`'s memory: it may move.
  public func decode(_ coded: UnsafeRawBufferPointer, into sink: ByteSink) -> Bool {
    guard let start = coded.baseAddress?.assumingMemoryBound(to: UInt8.self), coded.count > 0 else {
      return true
    }
    let end = start + coded.count
    let stored = previous
    var at = start
    // The line before, as an offset in `sink` (nil: the stored line of the last piece).
    var beforeOffset: Int? = nil
    var beforeCount = stored.count
    var lastOffset = sink.count
    while at < end {
      guard let shared = LineDelta.readVarint(&at, end), shared <= beforeCount else { return false }
      let lineOffset = sink.count
      if let beforeOffset, shared > 0 {
        // The line before is in `sink`, which may move as it grows: copied from where it is
        // once there is room (`cursor.next` is the sink's end).
        sink.write(reserving: shared) { cursor in
          cursor.put(UnsafeBufferPointer(start: cursor.next - (lineOffset - beforeOffset), count: shared))
        }
      } else if shared > 0 {
        sink.append(UnsafeRawBufferPointer(start: stored.bytes, count: shared))
      }
      let complete = shared > 0 && sink.bytes[sink.count - 1] == LineDelta.newline
      if !complete {
        let next = LineDelta.lineEnd(at, end)
        sink.append(UnsafeRawBufferPointer(start: at, count: next - at))
        at = next
      }
      guard sink.count > lineOffset else { return false }
      beforeOffset = lineOffset
      beforeCount = sink.count - lineOffset
      lastOffset = lineOffset
    }
    let last = UnsafeRawBufferPointer(rebasing: sink.bytes[lastOffset...])
    if let base = last.baseAddress?.assumingMemoryBound(to: UInt8.self) {
      previous.replace(with: base, count: last.count)
    }
    return true
  }
}

/// A line kept in memory of its own (grown as needed; freed by its owner's deinit).
struct LineStore {
  private(set) var bytes: UnsafeMutablePointer<UInt8>
  private(set) var count = 0
  private var capacity: Int

  init() {
    capacity = 256
    bytes = .allocate(capacity: capacity)
  }

  mutating func replace(with line: UnsafePointer<UInt8>, count: Int) {
    if count > capacity {
      bytes.deallocate()
      capacity = max(count, 2 * capacity)
      bytes = .allocate(capacity: capacity)
    }
    bytes.update(from: line, count: count)
    self.count = count
  }

  func deallocate() { bytes.deallocate() }
}

enum LineDelta {
  static let newline = UInt8(ascii: "\n")

  /// Just past the first newline from `line`, or `end`.
  @inline(__always)
  static func lineEnd(_ line: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> UnsafePointer<UInt8> {
    guard let found = memchr(line, Int32(newline), end - line) else { return end }
    return UnsafePointer(found.assumingMemoryBound(to: UInt8.self)) + 1
  }

  /// How many of the first `limit` bytes of `a` and `b` are equal, eight at a time.
  @inline(__always)
  static func sharedPrefix(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ limit: Int) -> Int {
    var index = 0
    while index + 8 <= limit {
      let x = UnsafeRawPointer(a + index).loadUnaligned(as: UInt64.self)
      let y = UnsafeRawPointer(b + index).loadUnaligned(as: UInt64.self)
      let difference = UInt64(littleEndian: x ^ y)
      if difference != 0 { return index + difference.trailingZeroBitCount / 8 }
      index += 8
    }
    while index < limit && a[index] == b[index] { index += 1 }
    return index
  }

  @inline(__always)
  static func putVarint(_ value: Int, _ cursor: inout WriteCursor) {
    var rest = UInt(value)
    while rest >= 0x80 {
      cursor.put(UInt8(truncatingIfNeeded: rest) | 0x80)
      rest >>= 7
    }
    cursor.put(UInt8(rest))
  }

  /// The varint at `at` (moved past it), or nil when it runs past `end` or past 63 bits.
  @inline(__always)
  static func readVarint(_ at: inout UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> Int? {
    var value = 0
    var shift = 0
    while at < end, shift < 63 {
      let byte = at.pointee
      at += 1
      value |= Int(byte & 0x7f) << shift
      if byte < 0x80 { return value }
      shift += 7
    }
    return nil
  }
}
