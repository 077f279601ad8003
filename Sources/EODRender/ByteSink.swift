/// Growable bytes written through a raw pointer: what the ``RowEncoder`` writes rows into, without
/// an Array's uniqueness check and bounds check on every byte.
///
/// Not thread-safe; one owner at a time.
public final class ByteSink {
  public private(set) var count = 0
  private var capacity: Int
  private var base: UnsafeMutablePointer<UInt8>

  public init(capacity: Int = 64 * 1024) {
    self.capacity = max(16, capacity)
    base = UnsafeMutablePointer<UInt8>.allocate(capacity: self.capacity)
  }

  deinit { base.deallocate() }

  /// The bytes written so far; valid until the next write.
  public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

  /// Forgets the bytes, keeping the memory.
  public func removeAll() { count = 0 }

  /// Appends bytes (checked).
  public func append(_ bytes: [UInt8]) {
    bytes.withUnsafeBufferPointer { buffer in write(reserving: buffer.count) { $0.put(buffer) } }
  }

  private func grow(to needed: Int) {
    var newCapacity = capacity * 2
    while newCapacity < needed { newCapacity *= 2 }
    let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
    newBase.update(from: base, count: count)
    base.deallocate()
    base = newBase
    capacity = newCapacity
  }

  /// Makes room for `extra` more bytes and lets `body` write at most that many through a
  /// pointer (no access to this object per byte), then counts what it wrote.
  @inline(__always)
  func write(reserving extra: Int, _ body: (inout WriteCursor) -> Void) {
    if count + extra > capacity { grow(to: count + extra) }
    var cursor = WriteCursor(next: base + count)
    body(&cursor)
    count = cursor.next - base
    precondition(count <= capacity, "a row wrote past the room it reserved")
  }
}

/// Where the next byte goes, inside room a ``ByteSink`` has reserved.
struct WriteCursor {
  var next: UnsafeMutablePointer<UInt8>

  @inline(__always)
  mutating func put(_ byte: UInt8) {
    next.pointee = byte
    next += 1
  }

  @inline(__always)
  mutating func put(_ bytes: UnsafeBufferPointer<UInt8>) {
    guard let source = bytes.baseAddress, bytes.count > 0 else { return }
    next.update(from: source, count: bytes.count)
    next += bytes.count
  }
}
