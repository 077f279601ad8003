import Foundation

/// Sorts rows in bounded memory: rows are packed one after another in one buffer (``RowView``'s
/// layout, no array or string per row) until a run holds `runSize` rows or `runBytes` bytes; the
/// run is then sorted (by an index of 8-byte key prefixes and offsets: only integers move) and
/// written to a temporary file, and the runs are merged back in order. Rows that arrive already
/// in order (our extract, written in key order) are not sorted, and their runs are read one
/// after another instead of merged.
public final class ExternalSorter {
  let directory: String
  let runSize: Int
  let runBytes: Int
  let name: String
  /// The current run's rows.
  var arena: ByteBuffer
  /// The current run's rows: their key prefixes and offsets in `arena`.
  var entries: [SortEntry] = []
  var runs: [String] = []
  /// Every row so far came after the one before it (key, then line).
  var inOrder = true
  /// The current run's rows are in arrival order and in key order.
  var runInOrder = true
  /// The last row of the last run written (to check the order across runs).
  let lastSpilled = ByteBuffer(capacity: 256)
  /// A packed row for ``add(_:)-(KeyedRow)``.
  let scratch = ByteBuffer(capacity: 256)

  /// The default bound of a run's bytes: with its index, about 40 MB a side.
  public static let defaultRunBytes = 32 << 20

  public init(
    directory: String, name: String, runSize: Int = 100_000, runBytes: Int = ExternalSorter.defaultRunBytes
  ) {
    self.directory = directory
    self.name = name
    self.runSize = max(1, runSize)
    self.runBytes = max(1 << 16, runBytes)
    arena = ByteBuffer(capacity: min(self.runBytes, 1 << 20))
  }

  public func add(_ row: KeyedRow) throws {
    scratch.removeAll()
    scratch.append(row: row)
    try add(scratch.row(at: 0))
  }

  /// Adds a copy of `row`.
  func add(_ row: RowView) throws {
    let size = row.size
    if !entries.isEmpty, arena.count + size > runBytes { try spill() }
    if inOrder {
      let previous: RowView? =
        if let last = entries.last { arena.row(at: last.offset) } else if !runs.isEmpty {
          lastSpilled.row(at: 0)
        } else { nil }
      if let previous, RowView.orderedBefore(row, previous) {
        inOrder = false
        if !entries.isEmpty { runInOrder = false }
      }
    } else if runInOrder, let last = entries.last, RowView.orderedBefore(row, arena.row(at: last.offset)) {
      runInOrder = false
    }
    let offset = arena.count
    arena.append(row.bytes)
    entries.append(SortEntry(prefix: 0, offset: offset))
    if entries.count >= runSize { try spill() }
  }

  /// Sorts the current run's index, unless its rows came in order.
  func sortRun() {
    guard !runInOrder, let first = entries.first else { return }
    let base = arena.base
    // The bytes that start every row's first key field (e.g. an id's letters and leading zeros)
    // decide nothing: the prefix compared is taken after them.
    let head = RowView(base + first.offset)
    var shared = 0
    if head.keyCount > 0 {
      let start = head.field(0)
      shared = start.count
      for entry in entries where shared > 0 {
        let field = RowView(base + entry.offset).field(0)
        var same = 0
        while same < min(shared, field.count), field[same] == start[same] { same += 1 }
        shared = same
      }
    }
    for index in entries.indices {
      entries[index].prefix = RowView(base + entries[index].offset).keyPrefix(skipping: shared)
    }
    entries.sort { a, b in
      if a.prefix != b.prefix { return a.prefix < b.prefix }
      return RowView.orderedBefore(RowView(base + a.offset), RowView(base + b.offset))
    }
  }

  func spill() throws {
    guard !entries.isEmpty else { return }
    sortRun()
    let path = directory + "/\(name)-run-\(runs.count)"
    let writer = try RunWriter(path: path)
    if runInOrder {
      try writer.write(arena.bytes)
    } else {
      for entry in entries { try writer.write(arena.row(at: entry.offset).bytes) }
    }
    try writer.close()
    runs.append(path)
    lastSpilled.removeAll()
    if let last = entries.last { lastSpilled.append(arena.row(at: last.offset).bytes) }
    arena.removeAll()
    entries.removeAll(keepingCapacity: true)
    runInOrder = true
  }

  /// The rows in order. With a single run nothing is written to disk.
  public func sorted() throws -> MergedRuns {
    if runs.isEmpty {
      sortRun()
      let rows = MergedRuns(arena: arena, order: entries)
      entries = []
      arena = ByteBuffer(capacity: 64)
      return rows
    }
    try spill()
    entries = []
    arena = ByteBuffer(capacity: 64)
    return try MergedRuns(readers: runs.map { try RunReader(path: $0) }, chained: inOrder)
  }
}

/// A row of a run being gathered: where it is, and when the run is sorted, 8 bytes of its key
/// (``RowView/keyPrefix(skipping:)``).
struct SortEntry {
  var prefix: UInt64
  var offset: Int
}

/// The rows of a sorter in order: from memory (one run), one run after another (rows that came in
/// order), or the merge of the runs (a tournament of their heads: a row costs about log2(runs)
/// comparisons). A row given stays valid until the next call: the run it came from moves on only
/// then.
public struct MergedRuns: IteratorProtocol, RowSource {
  var arena: ByteBuffer?
  var order: [SortEntry] = []
  var memoryIndex = 0
  var readers: [RunReader] = []
  var heads: [RowView?] = []
  /// The tournament over the heads: `tree[0]` the run whose head is first, `tree[1..<runs]` the
  /// run that lost at each match (a run that has ended loses every match).
  var tree: [Int] = []
  let chained: Bool
  var current = 0
  /// The run whose head was given last, to move on at the next call.
  var given: Int?
  public private(set) var failure: (any Error)?

  init(arena: ByteBuffer, order: [SortEntry]) {
    self.arena = arena
    self.order = order
    chained = false
  }

  init(readers: [RunReader], chained: Bool) throws {
    self.readers = readers
    self.chained = chained
    for reader in readers { heads.append(try reader.next()) }
    let count = readers.count
    guard !chained, count > 0 else { return }
    tree = Array(repeating: 0, count: count)
    var winners = Array(repeating: 0, count: 2 * count)
    for index in 0..<count { winners[count + index] = index }
    for node in stride(from: count - 1, to: 0, by: -1) {
      let (a, b) = (winners[2 * node], winners[2 * node + 1])
      (winners[node], tree[node]) = beats(a, b) ? (a, b) : (b, a)
    }
    tree[0] = winners[1]
  }

  /// Whether run `a`'s head comes before run `b`'s (an ended run comes last).
  func beats(_ a: Int, _ b: Int) -> Bool {
    guard let x = heads[a] else { return false }
    guard let y = heads[b] else { return true }
    return RowView.orderedBefore(x, y)
  }

  /// The next row as a ``KeyedRow`` (a failure to read a run ends the rows: see ``failure``).
  public mutating func next() -> KeyedRow? {
    do {
      return try nextRow()?.keyedRow
    } catch {
      failure = failure ?? error
      return nil
    }
  }

  mutating func nextRow() throws -> RowView? {
    if let arena {
      guard memoryIndex < order.count else { return nil }
      defer { memoryIndex += 1 }
      return arena.row(at: order[memoryIndex].offset)
    }
    if let given {
      self.given = nil
      heads[given] = try readers[given].next()
      if !chained {
        // The run moved on: its new head plays the matches on its way to the top again.
        var winner = given
        var node = (given + readers.count) >> 1
        while node > 0 {
          if beats(tree[node], winner) { swap(&tree[node], &winner) }
          node >>= 1
        }
        tree[0] = winner
      }
    }
    if chained {
      while current < heads.count {
        if let head = heads[current] {
          given = current
          return head
        }
        current += 1
      }
      return nil
    }
    guard let first = tree.first, let head = heads[first] else { return nil }
    given = first
    return head
  }
}

/// A run file: its rows one after another, each in ``RowView``'s layout. Nothing to escape,
/// nothing to search for.
final class RunWriter {
  let handle: FileHandle
  let path: String
  let pending = ByteBuffer(capacity: 1 << 20 + 4096)

  init(path: String) throws {
    guard FileManager.default.createFile(atPath: path, contents: nil),
      let handle = FileHandle(forWritingAtPath: path)
    else { throw ReconcileError.cannotWrite(path: path, reason: "cannot create a temporary sort file") }
    self.handle = handle
    self.path = path
  }

  /// Appends bytes (whole rows); large blocks go straight to the file.
  func write(_ bytes: UnsafeRawBufferPointer) throws {
    if bytes.count >= 1 << 20 {
      try flush()
      try put(bytes)
      return
    }
    pending.append(bytes)
    if pending.count >= 1 << 20 { try flush() }
  }

  func put(_ bytes: UnsafeRawBufferPointer) throws {
    do {
      try handle.write(contentsOf: bytes)
    } catch {
      throw ReconcileError.cannotWrite(path: path, reason: "\(error)")
    }
  }

  func flush() throws {
    try put(pending.bytes)
    pending.removeAll()
  }

  func close() throws {
    try flush()
    try handle.close()
  }
}

/// Reads a run file's rows in place from a buffer refilled by large reads.
final class RunReader {
  let handle: FileHandle
  let path: String
  let buffer = ByteBuffer(capacity: 1 << 19)
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

  var damaged: ReconcileError {
    ReconcileError.unreadable(path: path, reason: "a temporary sort file is damaged")
  }

  /// The next row: valid until the next call.
  func next() throws -> RowView? {
    while true {
      let available = buffer.count - position
      if available >= 4 {
        let start = UnsafeRawPointer(buffer.base + position)
        let size = 4 + Int(UInt32(littleEndian: start.loadUnaligned(as: UInt32.self)))
        if available >= size {
          guard RowView.isWellFormed(start, available: size) else { throw damaged }
          position += size
          return RowView(start)
        }
        buffer.removeFirst(position)
        position = 0
        buffer.reserve(size - buffer.count)
      } else {
        buffer.removeFirst(position)
        position = 0
      }
      if ended {
        if buffer.count == 0 { return nil }
        throw damaged
      }
      try fill()
    }
  }

  func fill() throws {
    let free = buffer.free
    guard let target = free.baseAddress else { return }
    while true {
      let got = read(handle.fileDescriptor, target, free.count)
      if got < 0 {
        if errno == EINTR { continue }
        throw ReconcileError.unreadable(path: path, reason: String(cString: strerror(errno)))
      }
      if got == 0 { ended = true } else { buffer.grow(by: got) }
      return
    }
  }
}
