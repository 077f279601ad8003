import Foundation

/// Sorts ``KeyedRow``s in bounded memory: rows are gathered in runs of `runSize`, each run sorted
/// and written to a temporary file, and the runs merged back in order.
public final class ExternalSorter {
  let directory: String
  let runSize: Int
  var buffer: [KeyedRow] = []
  var runs: [String] = []
  let name: String

  public init(directory: String, name: String, runSize: Int = 100_000) {
    self.directory = directory
    self.name = name
    self.runSize = max(1, runSize)
  }

  public func add(_ row: KeyedRow) throws {
    buffer.append(row)
    if buffer.count >= runSize { try spill() }
  }

  func spill() throws {
    guard !buffer.isEmpty else { return }
    let path = directory + "/\(name)-run-\(runs.count)"
    let writer = try RunWriter(path: path)
    for index in sortedOrder() { try writer.write(buffer[index]) }
    try writer.close()
    runs.append(path)
    buffer.removeAll(keepingCapacity: true)
  }

  /// The buffer's indexes in row order: the sort moves integers, not rows (moving a row retains
  /// and releases its arrays).
  func sortedOrder() -> [Int] {
    var order = Array(buffer.indices)
    buffer.withUnsafeBufferPointer { rows in
      order.sort { KeyedRow.orderedBefore(rows[$0], rows[$1]) }
    }
    return order
  }

  /// The rows in order. With a single run nothing is written to disk.
  public func sorted() throws -> MergedRuns {
    if runs.isEmpty {
      let rows = sortedOrder().map { buffer[$0] }
      buffer = []
      return MergedRuns(inMemory: rows)
    }
    try spill()
    buffer = []
    return try MergedRuns(readers: runs.map { try RunReader(path: $0) })
  }
}

/// The merge of sorted runs (a linear choice among the runs' heads: runs are few). The heads are
/// kept without optionals (with a flag for an ended run) so that choosing compares them in place
/// instead of copying each row, with its arrays' retains and releases, at every step.
public struct MergedRuns: IteratorProtocol {
  var readers: [RunReader] = []
  var heads: [KeyedRow] = []
  var live: [Bool] = []
  var memory: [KeyedRow] = []
  var memoryIndex = 0
  let inMemory: Bool
  public private(set) var failure: (any Error)?
  static let ended = KeyedRow(key: [], values: [], line: 0)

  init(inMemory rows: [KeyedRow]) {
    memory = rows
    inMemory = true
  }

  init(readers: [RunReader]) throws {
    self.readers = readers
    inMemory = false
    for reader in readers {
      let row = try reader.next()
      heads.append(row ?? Self.ended)
      live.append(row != nil)
    }
  }

  public mutating func next() -> KeyedRow? {
    if inMemory {
      guard memoryIndex < memory.count else { return nil }
      defer { memoryIndex += 1 }
      return memory[memoryIndex]
    }
    var best = -1
    for index in heads.indices where live[index] {
      if best >= 0, !KeyedRow.orderedBefore(heads[index], heads[best]) { continue }
      best = index
    }
    guard best >= 0 else { return nil }
    let row = heads[best]
    do {
      if let following = try readers[best].next() {
        heads[best] = following
      } else {
        heads[best] = Self.ended
        live[best] = false
      }
    } catch {
      failure = failure ?? error
      heads[best] = Self.ended
      live[best] = false
    }
    return row
  }
}

/// A run file: one row a record, binary: the record's length (UInt32), its line (Int64), the key's
/// and the values' counts (UInt16 each), then each field as its length (UInt32) and UTF-8 bytes;
/// integers little-endian. Nothing to escape, nothing to search for.
final class RunWriter {
  let handle: FileHandle
  var pending: [UInt8] = []

  init(path: String) throws {
    guard FileManager.default.createFile(atPath: path, contents: nil),
      let handle = FileHandle(forWritingAtPath: path)
    else { throw ReconcileError.cannotWrite(path: path, reason: "cannot create a temporary sort file") }
    self.handle = handle
    pending.reserveCapacity(1 << 20 + 4096)
  }

  func append<T: FixedWidthInteger>(_ value: T) {
    withUnsafeBytes(of: value.littleEndian) { pending.append(contentsOf: $0) }
  }

  func append(field: String) {
    var field = field
    field.withUTF8 { bytes in
      append(UInt32(bytes.count))
      pending.append(contentsOf: bytes)
    }
  }

  func write(_ row: KeyedRow) throws {
    let start = pending.count
    append(UInt32(0))
    append(Int64(row.line))
    append(UInt16(row.key.count))
    append(UInt16(row.values.count))
    for field in row.key { append(field: field) }
    for field in row.values { append(field: field) }
    let length = UInt32(pending.count - start - 4).littleEndian
    withUnsafeBytes(of: length) { bytes in
      for index in 0..<4 { pending[start + index] = bytes[index] }
    }
    if pending.count >= 1 << 20 { try flush() }
  }

  func flush() throws {
    try handle.write(contentsOf: pending)
    pending.removeAll(keepingCapacity: true)
  }

  func close() throws {
    try flush()
    try handle.close()
  }
}

final class RunReader {
  let handle: FileHandle
  let path: String
  var buffer: [UInt8] = []
  var position = 0
  var ended = false

  init(path: String) throws {
    guard let handle = FileHandle(forReadingAtPath: path) else {
      throw ReconcileError.unreadable(path: path, reason: "cannot open a temporary sort file")
    }
    self.handle = handle
    self.path = path
  }

  deinit { try? handle.close() }

  func integer<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
    var value = T.zero
    withUnsafeMutableBytes(of: &value) { target in
      buffer.withUnsafeBytes { source in
        target.copyMemory(
          from: UnsafeRawBufferPointer(rebasing: source[offset..<(offset + MemoryLayout<T>.size)]))
      }
    }
    return T(littleEndian: value)
  }

  var damaged: ReconcileError {
    ReconcileError.unreadable(path: path, reason: "a temporary sort file is damaged")
  }

  func next() throws -> KeyedRow? {
    while true {
      if buffer.count - position >= 4 {
        let length = Int(integer(UInt32.self, at: position))
        if buffer.count - position - 4 >= length { return try decode(from: position + 4, length: length) }
      }
      if ended {
        if position == buffer.count { return nil }
        throw damaged
      }
      buffer.removeFirst(position)
      position = 0
      let chunk = try handle.read(upToCount: 1 << 20) ?? Data()
      if chunk.isEmpty { ended = true } else { buffer.append(contentsOf: chunk) }
    }
  }

  func decode(from start: Int, length: Int) throws -> KeyedRow {
    let end = start + length
    position = end
    guard length >= 12 else { throw damaged }
    let line = Int(integer(Int64.self, at: start))
    let keyCount = Int(integer(UInt16.self, at: start + 8))
    let valueCount = Int(integer(UInt16.self, at: start + 10))
    var offset = start + 12
    func field() throws -> String {
      guard end - offset >= 4 else { throw damaged }
      let size = Int(integer(UInt32.self, at: offset))
      offset += 4
      guard end - offset >= size else { throw damaged }
      defer { offset += size }
      return String(decoding: buffer[offset..<(offset + size)], as: UTF8.self)
    }
    var key: [String] = []
    key.reserveCapacity(keyCount)
    for _ in 0..<keyCount { key.append(try field()) }
    var values: [String] = []
    values.reserveCapacity(valueCount)
    for _ in 0..<valueCount { values.append(try field()) }
    return KeyedRow(key: key, values: values, line: line)
  }
}
