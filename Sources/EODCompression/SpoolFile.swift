#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A scratch file of the run, in the output directory and without a name
/// (``OutputTree/createUnlinked(_:)``): bytes are appended at its end, then read back from where
/// they were put. Its space is the operating system's to free when it is closed (deinit) or the
/// process ends, so nothing is ever left behind.
///
/// **Direct I/O.** On Linux the file is opened for direct I/O (`O_DIRECT`) where the file system
/// allows it: its bytes go from this object's buffer to the disk and back without passing through
/// the page cache. A spooled pass writes about a gigabyte here for 5M positions and reads it back
/// once; through the page cache that was a gigabyte of fresh memory for the kernel to fill, which
/// on a virtual machine that hands its free memory back to the host cost 3-6 s of system time per
/// gigabyte (`dd` on the benchmark machine: 6.25 s buffered, 0.24 s direct). For that, every
/// append starts at a multiple of ``alignment`` (4 KiB: the tail of each is padded with zeros),
/// the buffer is aligned, and reads are rounded up to whole blocks. A file system that refuses
/// direct I/O (when the flag is set, or at the first write or read with `EINVAL`) gets the same
/// bytes through the page cache: ``isDirect`` says which.
///
/// Appended bytes are gathered in a buffer of ``writeSize`` (1 MiB) and written when it is full
/// (or before a read needs them), so the disk sees few large writes. A failed write leaves the
/// file failed: every later append and read throws that error (the bytes still in the buffer
/// are lost with it).
///
/// One thread at a time (its owner hands it over at a join); not `Sendable`.
public final class SpoolFile {
  /// Bytes gathered before they are written (a multiple of ``alignment``).
  public static let writeSize = 1 << 20
  /// Where each append starts, and the unit of every write and read: a multiple of the logical
  /// block size of any disk direct I/O supports (512 or 4096 bytes).
  public static let alignment = 4096
  /// The path it was made under, for messages (the name is removed at once).
  public let path: String
  private let fd: Int32
  /// Whether the file's bytes bypass the page cache (see the type's documentation).
  public private(set) var isDirect = false
  /// Bytes appended so far with their padding (written, or still in the buffer): where the next
  /// append goes.
  public private(set) var size: Int64 = 0
  /// Bytes written to the file; those after it are in `buffer`.
  private var written: Int64 = 0
  private let buffer: UnsafeMutableRawBufferPointer
  private var buffered = 0
  /// Where ``read(at:count:)`` reads to (aligned; grown as needed).
  private var readBuffer: UnsafeMutableRawBufferPointer
  private var failure: CompressionError?

  /// Makes the file `name` in `tree`'s directory and removes its name; `direct: false` keeps its
  /// bytes in the page cache whatever the file system allows.
  public init(tree: OutputTree, name: String, direct: Bool = true) throws(CompressionError) {
    path = tree.path + "/" + name
    fd = try tree.createUnlinked(name)
    buffer = .allocate(byteCount: SpoolFile.writeSize, alignment: SpoolFile.alignment)
    readBuffer = .allocate(byteCount: SpoolFile.alignment, alignment: SpoolFile.alignment)
    if direct { isDirect = setDirect(true) }
  }

  deinit {
    buffer.deallocate()
    readBuffer.deallocate()
    close(fd)
  }

  /// `O_DIRECT` from the kernel's headers, which the C library exports only under `_GNU_SOURCE`
  /// (so Swift does not see it): its value depends on the architecture.
  private static var directFlag: Int32? {
    #if os(Linux) && arch(x86_64)
      return 0o40000
    #elseif os(Linux) && (arch(arm64) || arch(arm))
      return 0o200000
    #else
      return nil
    #endif
  }

  /// Sets or clears direct I/O on the file; false when it could not be set.
  private func setDirect(_ on: Bool) -> Bool {
    guard let flag = SpoolFile.directFlag else { return false }
    let flags = fcntl(fd, F_GETFL)
    guard flags >= 0 else { return false }
    return fcntl(fd, F_SETFL, on ? flags | flag : flags & ~flag) == 0 && on
  }

  /// `count` rounded up to a whole number of blocks.
  public static func padded(_ count: Int) -> Int {
    (count + alignment - 1) / alignment * alignment
  }

  /// Appends `bytes`, padded with zeros to a multiple of ``alignment``; returns where they start.
  public func append(_ bytes: UnsafeRawBufferPointer) throws(CompressionError) -> Int64 {
    if let failure { throw failure }
    let offset = size
    var rest = bytes
    while !rest.isEmpty {
      if buffered == buffer.count { try writeBuffered() }
      let piece = min(rest.count, buffer.count - buffered)
      if let source = rest.baseAddress, let target = buffer.baseAddress {
        (target + buffered).copyMemory(from: source, byteCount: piece)
      }
      buffered += piece
      rest = UnsafeRawBufferPointer(rebasing: rest[piece...])
    }
    // The buffer's size is a multiple of the alignment, so the padding always fits in it.
    let padding = SpoolFile.padded(buffered) - buffered
    if padding > 0, let target = buffer.baseAddress {
      (target + buffered).initializeMemory(as: UInt8.self, repeating: 0, count: padding)
      buffered += padding
    }
    size += Int64(SpoolFile.padded(bytes.count))
    return offset
  }

  /// The `count` bytes appended at `offset` (where ``append(_:)`` put them), valid until the next
  /// read.
  public func read(at offset: Int64, count: Int) throws(CompressionError) -> UnsafeRawBufferPointer {
    if let failure { throw failure }
    let length = SpoolFile.padded(count)
    guard offset % Int64(SpoolFile.alignment) == 0, count >= 0, offset + Int64(length) <= size else {
      throw CompressionError(
        code: .readFailed, step: "reading \(count) bytes at \(offset) of a spool of \(size) bytes", path: path
      )
    }
    if offset + Int64(length) > written { try writeBuffered() }
    if readBuffer.count < length {
      readBuffer.deallocate()
      readBuffer = .allocate(byteCount: length, alignment: SpoolFile.alignment)
    }
    guard let base = readBuffer.baseAddress else { return UnsafeRawBufferPointer(start: nil, count: 0) }
    try transfer(length, at: offset, .readFailed, "reading \(length) bytes at \(offset) of a spool file") {
      pread(fd, base + $0, length - $0, $1)
    }
    return UnsafeRawBufferPointer(start: base, count: count)
  }

  /// Writes the gathered bytes (a multiple of the alignment: each append is padded) at the end
  /// of what is written.
  private func writeBuffered() throws(CompressionError) {
    guard buffered > 0, let base = buffer.baseAddress else { return }
    let count = buffered
    do {
      try transfer(count, at: written, .writeFailed, "writing \(count) bytes at \(written) of a spool file") {
        pwrite(fd, base + $0, count - $0, $1)
      }
    } catch {
      failure = error
      throw error
    }
    written += Int64(count)
    buffered = 0
  }

  /// Moves `count` bytes at `offset` with `call` (a `pread` or `pwrite` of the bytes from the
  /// first argument on, at the file position given as the second) until every byte is moved: at
  /// explicit positions, so a retry after a partial call starts where it stopped. Again on
  /// `EINTR`; through the page cache when a file system that took the direct I/O flag refuses the
  /// call (`EINVAL`); a call that fails or moves nothing throws `code`, at `step`.
  private func transfer(
    _ count: Int, at offset: Int64, _ code: CompressionError.Code, _ step: @autoclosure () -> String,
    _ call: (Int, off_t) -> Int
  ) throws(CompressionError) {
    var done = 0
    while done < count {
      let moved = call(done, off_t(offset) + off_t(done))
      let systemError: Int32? = moved < 0 ? errno : nil
      if systemError == EINTR { continue }
      if systemError == EINVAL && isDirect {
        isDirect = setDirect(false)
        continue
      }
      guard moved > 0 else {
        throw CompressionError(code: code, step: step(), path: path, systemErrno: systemError)
      }
      done += moved
    }
  }
}
