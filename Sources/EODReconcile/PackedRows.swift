import Foundation

/// Bytes the reconciliation owns, appended to and read through pointers: a row is read in place
/// (``RowView``), with no array or string made for it, while it is sorted, written, merged and
/// joined. A pointer into the buffer stays valid until the next change to it.
final class ByteBuffer {
  private(set) var base: UnsafeMutableRawPointer
  private(set) var count = 0
  private(set) var capacity: Int

  init(capacity: Int = 1 << 16) {
    self.capacity = max(capacity, 64)
    base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 16)
  }

  deinit { base.deallocate() }

  var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

  /// Room for `extra` more bytes (the buffer doubles as needed).
  func reserve(_ extra: Int) {
    guard count + extra > capacity else { return }
    var grown = capacity * 2
    while grown < count + extra { grown *= 2 }
    let moved = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 16)
    moved.copyMemory(from: base, byteCount: count)
    base.deallocate()
    base = moved
    capacity = grown
  }

  func append(_ bytes: UnsafeRawBufferPointer) {
    guard let source = bytes.baseAddress, bytes.count > 0 else { return }
    reserve(bytes.count)
    (base + count).copyMemory(from: source, byteCount: bytes.count)
    count += bytes.count
  }

  func append<T: FixedWidthInteger>(_ value: T) {
    reserve(MemoryLayout<T>.size)
    (base + count).storeBytes(of: value.littleEndian, as: T.self)
    count += MemoryLayout<T>.size
  }

  /// Makes `extra` bytes after the end usable by the caller (e.g. `read(2)`), then ``grow(by:)``.
  var free: UnsafeMutableRawBufferPointer {
    UnsafeMutableRawBufferPointer(start: base + count, count: capacity - count)
  }

  func grow(by written: Int) { count += written }

  func removeAll() { count = 0 }

  /// Drops the first `prefix` bytes, moving the rest to the front.
  func removeFirst(_ prefix: Int) {
    guard prefix > 0 else { return }
    if prefix < count { memmove(base, base + prefix, count - prefix) }
    count = max(0, count - prefix)
  }

  // MARK: Rows

  /// Starts a row (see ``RowView`` for the layout); returns where it starts, for ``endRow(_:)``.
  func beginRow(line: Int, keyCount: Int, valueCount: Int) -> Int {
    let start = count
    append(UInt32(0))
    append(Int64(line))
    append(UInt16(truncatingIfNeeded: keyCount))
    append(UInt16(truncatingIfNeeded: valueCount))
    return start
  }

  func appendField(_ bytes: UnsafeRawBufferPointer) {
    append(UInt32(truncatingIfNeeded: bytes.count))
    append(bytes)
  }

  func appendField(_ text: String) {
    var text = text
    text.withUTF8 { appendField(UnsafeRawBufferPointer($0)) }
  }

  /// Ends the row begun at `start` (writes its length).
  func endRow(_ start: Int) {
    (base + start).storeBytes(of: UInt32(truncatingIfNeeded: count - start - 4).littleEndian, as: UInt32.self)
  }

  /// Appends a row; returns where it starts.
  @discardableResult
  func append(row: KeyedRow) -> Int {
    let start = beginRow(line: row.line, keyCount: row.key.count, valueCount: row.values.count)
    for field in row.key { appendField(field) }
    for field in row.values { appendField(field) }
    endRow(start)
    return start
  }

  /// The row at `offset`.
  func row(at offset: Int) -> RowView { RowView(UnsafeRawPointer(base + offset)) }
}

/// One row in place, in the layout of a sort run (docs/reconciliation.md): its length after the
/// first 4 bytes (UInt32), its line (Int64), the key's and the values' counts (UInt16 each), then
/// each field (key fields, then values) as its length (UInt32) and UTF-8 bytes; little-endian.
/// Valid as long as the bytes it points to.
struct RowView {
  let start: UnsafeRawPointer

  init(_ start: UnsafeRawPointer) { self.start = start }

  static let headerSize = 16

  /// Its bytes, length included.
  var size: Int { 4 + Int(UInt32(littleEndian: start.loadUnaligned(as: UInt32.self))) }
  var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: start, count: size) }
  var line: Int { Int(Int64(littleEndian: start.loadUnaligned(fromByteOffset: 4, as: Int64.self))) }
  var keyCount: Int { Int(UInt16(littleEndian: start.loadUnaligned(fromByteOffset: 12, as: UInt16.self))) }
  var valueCount: Int { Int(UInt16(littleEndian: start.loadUnaligned(fromByteOffset: 14, as: UInt16.self))) }

  /// The field `index` (key fields first, then values).
  func field(_ index: Int) -> UnsafeRawBufferPointer {
    var at = start + Self.headerSize
    for _ in 0..<index { at += 4 + Int(UInt32(littleEndian: at.loadUnaligned(as: UInt32.self))) }
    return UnsafeRawBufferPointer(
      start: at + 4, count: Int(UInt32(littleEndian: at.loadUnaligned(as: UInt32.self))))
  }

  func value(_ index: Int) -> UnsafeRawBufferPointer { field(keyCount + index) }

  static func text(_ bytes: UnsafeRawBufferPointer) -> String { String(decoding: bytes, as: UTF8.self) }

  var key: [String] { (0..<keyCount).map { Self.text(field($0)) } }

  var keyedRow: KeyedRow {
    KeyedRow(key: key, values: (0..<valueCount).map { Self.text(value($0)) }, line: line)
  }

  /// 8 bytes of the first key field after its first `skipped` (which the rows compared share),
  /// big-endian, zero-padded: rows whose prefixes differ are in the prefixes' order
  /// (``compareKeys(_:_:)`` decides the rest).
  func keyPrefix(skipping skipped: Int = 0) -> UInt64 {
    guard keyCount > 0 else { return 0 }
    let first = field(0)
    var prefix: UInt64 = 0
    for index in skipped..<(skipped + 8) {
      prefix <<= 8
      if index < first.count { prefix |= UInt64(first[index]) }
    }
    return prefix
  }

  /// -1, 0 or 1: the keys' order, field by field, by bytes (``KeyedRow/compare(_:_:)``).
  static func compareKeys(_ a: RowView, _ b: RowView) -> Int {
    let countA = a.keyCount
    let countB = b.keyCount
    var x = a.start + headerSize
    var y = b.start + headerSize
    for _ in 0..<min(countA, countB) {
      let sizeX = Int(UInt32(littleEndian: x.loadUnaligned(as: UInt32.self)))
      let sizeY = Int(UInt32(littleEndian: y.loadUnaligned(as: UInt32.self)))
      let common = min(sizeX, sizeY)
      if common > 0 {
        let order = memcmp(x + 4, y + 4, common)
        if order != 0 { return order < 0 ? -1 : 1 }
      }
      if sizeX != sizeY { return sizeX < sizeY ? -1 : 1 }
      x += 4 + sizeX
      y += 4 + sizeY
    }
    return countA == countB ? 0 : (countA < countB ? -1 : 1)
  }

  /// Key order, then line (``KeyedRow/orderedBefore(_:_:)``).
  static func orderedBefore(_ a: RowView, _ b: RowView) -> Bool {
    let order = compareKeys(a, b)
    if order != 0 { return order < 0 }
    return a.line < b.line
  }

  static func sameBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    guard let x = a.baseAddress, let y = b.baseAddress, a.count > 0 else { return true }
    return memcmp(x, y, a.count) == 0
  }

  /// Whether the row's layout holds within `available` bytes: its fields end where it ends.
  static func isWellFormed(_ start: UnsafeRawPointer, available: Int) -> Bool {
    guard available >= 4 else { return false }
    let size = 4 + Int(UInt32(littleEndian: start.loadUnaligned(as: UInt32.self)))
    guard size >= headerSize, size <= available else { return false }
    let row = RowView(start)
    var at = headerSize
    for _ in 0..<(row.keyCount + row.valueCount) {
      guard size - at >= 4 else { return false }
      let length = Int(UInt32(littleEndian: start.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
      guard size - at - 4 >= length else { return false }
      at += 4 + length
    }
    return at == size
  }
}

/// Rows in key order, one at a time; a row given stays valid until the next call.
protocol RowSource {
  mutating func nextRow() throws -> RowView?
}

/// A source over ``KeyedRow``s (e.g. a test's array), each packed into a buffer of its own.
struct KeyedRowSource<Rows: IteratorProtocol<KeyedRow>>: RowSource {
  var rows: Rows
  let buffer = ByteBuffer(capacity: 256)

  init(_ rows: Rows) { self.rows = rows }

  mutating func nextRow() throws -> RowView? {
    guard let row = rows.next() else { return nil }
    buffer.removeAll()
    buffer.append(row: row)
    return buffer.row(at: 0)
  }
}
