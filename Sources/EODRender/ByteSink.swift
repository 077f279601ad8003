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

  /// Appends bytes (checked).
  public func append(_ bytes: UnsafeRawBufferPointer) {
    write(reserving: bytes.count) { $0.put(bytes.assumingMemoryBound(to: UInt8.self)) }
  }

  /// Appends a frame: `tag`, then `count` and the number of bytes `body` appends (each 4 bytes,
  /// little-endian), then those bytes. What a spool of encoded rows holds (``ByteFrame/read(_:)``
  /// reads it back).
  public func appendFrame(tag: UInt8, count: UInt32, _ body: (ByteSink) -> Void) {
    let frame = beginFrame(tag: tag, count: count)
    body(self)
    endFrame(frame)
  }

  /// ``appendFrame(tag:count:_:)`` in two calls, for a caller whose body should not be a closure:
  /// appends the frame's header and returns where its bytes start; append them, then call
  /// ``endFrame(_:)`` with what this returned.
  public func beginFrame(tag: UInt8, count: UInt32) -> Int {
    write(reserving: ByteFrame.headerSize) { cursor in
      cursor.put(tag)
      cursor.put(littleEndian: count)
      cursor.put(littleEndian: 0)
    }
    return self.count
  }

  /// Fills in the length of the frame whose bytes start at `start` (``beginFrame(tag:count:)``).
  public func endFrame(_ start: Int) {
    precondition(start >= ByteFrame.headerSize && start <= count, "not a frame of this sink")
    precondition(count - start <= Int(UInt32.max), "a frame of more than 4 GiB")
    let length = UInt32(truncatingIfNeeded: count - start)
    var at = base + start - 4
    for shift in stride(from: 0, to: 32, by: 8) {
      at.pointee = UInt8(truncatingIfNeeded: length >> UInt32(shift))
      at += 1
    }
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
  mutating func put(littleEndian value: UInt32) {
    for shift in stride(from: 0, to: 32, by: 8) { put(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
  }

  @inline(__always)
  mutating func put(_ bytes: UnsafeBufferPointer<UInt8>) {
    guard let source = bytes.baseAddress, bytes.count > 0 else { return }
    next.update(from: source, count: bytes.count)
    next += bytes.count
  }
}

/// One frame of ``ByteSink/appendFrame(tag:count:_:)``, read back.
public struct ByteFrame {
  public static let headerSize = 9
  public let tag: UInt8
  public let count: Int
  public let bytes: UnsafeRawBufferPointer

  /// The frame at the start of `bytes` and what follows it; nil when `bytes` is empty or does not
  /// hold a whole frame.
  public static func read(_ bytes: UnsafeRawBufferPointer) -> (ByteFrame, rest: UnsafeRawBufferPointer)? {
    guard bytes.count >= headerSize else { return nil }
    func word(_ at: Int) -> Int {
      var value = 0
      for index in 0..<4 { value |= Int(bytes[at + index]) << (8 * index) }
      return value
    }
    let length = word(5)
    guard bytes.count - headerSize >= length else { return nil }
    let body = UnsafeRawBufferPointer(rebasing: bytes[headerSize..<(headerSize + length)])
    let rest = UnsafeRawBufferPointer(rebasing: bytes[(headerSize + length)...])
    return (ByteFrame(tag: bytes[0], count: word(1), bytes: body), rest)
  }
}
