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
    buffer.sort(by: KeyedRow.orderedBefore)
    let path = directory + "/\(name)-run-\(runs.count)"
    let writer = try RunWriter(path: path)
    for row in buffer { try writer.write(row) }
    try writer.close()
    runs.append(path)
    buffer.removeAll(keepingCapacity: true)
  }

  /// The rows in order. With a single run nothing is written to disk.
  public func sorted() throws -> MergedRuns {
    if runs.isEmpty {
      buffer.sort(by: KeyedRow.orderedBefore)
      let rows = buffer
      buffer = []
      return MergedRuns(inMemory: rows)
    }
    try spill()
    buffer = []
    return try MergedRuns(readers: runs.map { try RunReader(path: $0) })
  }
}

/// The merge of sorted runs (a linear choice among the runs' heads: runs are few).
public struct MergedRuns: IteratorProtocol {
  var readers: [RunReader] = []
  var heads: [KeyedRow?] = []
  var memory: [KeyedRow] = []
  var memoryIndex = 0
  let inMemory: Bool
  public private(set) var failure: (any Error)?

  init(inMemory rows: [KeyedRow]) {
    memory = rows
    inMemory = true
  }

  init(readers: [RunReader]) throws {
    self.readers = readers
    inMemory = false
    heads = try readers.map { try $0.next() }
  }

  public mutating func next() -> KeyedRow? {
    if inMemory {
      guard memoryIndex < memory.count else { return nil }
      defer { memoryIndex += 1 }
      return memory[memoryIndex]
    }
    var best: Int?
    for index in heads.indices {
      guard let head = heads[index] else { continue }
      if let current = best, let bestRow = heads[current], !KeyedRow.orderedBefore(head, bestRow) { continue }
      best = index
    }
    guard let best, let row = heads[best] else { return nil }
    do {
      heads[best] = try readers[best].next()
    } catch {
      failure = failure ?? error
      heads[best] = nil
    }
    return row
  }
}

/// A run file: one row a line, fields separated by tabs; `\`, tab, CR and LF escaped.
final class RunWriter {
  let handle: FileHandle
  var pending: [UInt8] = []

  init(path: String) throws {
    guard FileManager.default.createFile(atPath: path, contents: nil),
      let handle = FileHandle(forWritingAtPath: path)
    else { throw ReconcileError.cannotWrite(path: path, reason: "cannot create a temporary sort file") }
    self.handle = handle
  }

  func append(_ text: String) {
    for byte in text.utf8 {
      switch byte {
      case 0x5C: pending += [0x5C, 0x5C]
      case 0x09: pending += [0x5C, 0x74]
      case 0x0A: pending += [0x5C, 0x6E]
      case 0x0D: pending += [0x5C, 0x72]
      default: pending.append(byte)
      }
    }
  }

  func write(_ row: KeyedRow) throws {
    pending += Array(String(row.line).utf8)
    pending.append(0x09)
    pending += Array(String(row.key.count).utf8)
    for field in row.key + row.values {
      pending.append(0x09)
      append(field)
    }
    pending.append(0x0A)
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

  func next() throws -> KeyedRow? {
    while true {
      if let end = buffer[position...].firstIndex(of: 0x0A) {
        let line = buffer[position..<end]
        position = end + 1
        return try decode(line)
      }
      if ended { return nil }
      buffer.removeFirst(position)
      position = 0
      let chunk = try handle.read(upToCount: 1 << 20) ?? Data()
      if chunk.isEmpty { ended = true } else { buffer += chunk }
    }
  }

  func decode(_ line: ArraySlice<UInt8>) throws -> KeyedRow {
    var fields: [String] = []
    var current: [UInt8] = []
    var escaped = false
    for byte in line {
      if escaped {
        switch byte {
        case 0x74: current.append(0x09)
        case 0x6E: current.append(0x0A)
        case 0x72: current.append(0x0D)
        default: current.append(byte)
        }
        escaped = false
      } else if byte == 0x5C {
        escaped = true
      } else if byte == 0x09 {
        fields.append(String(decoding: current, as: UTF8.self))
        current.removeAll(keepingCapacity: true)
      } else {
        current.append(byte)
      }
    }
    fields.append(String(decoding: current, as: UTF8.self))
    guard fields.count >= 2, let lineNumber = Int(fields[0]), let keyCount = Int(fields[1]),
      fields.count >= 2 + keyCount
    else { throw ReconcileError.unreadable(path: path, reason: "a temporary sort file is damaged") }
    return KeyedRow(
      key: Array(fields[2..<(2 + keyCount)]), values: Array(fields[(2 + keyCount)...]), line: lineNumber)
  }
}
