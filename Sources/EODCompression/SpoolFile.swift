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
/// Appended bytes are gathered in a buffer of ``writeSize`` (1 MiB) and written when it is full
/// (or before a read needs them): a spooled pass appends many small segments (8 KiB, one firm's
/// rows at a time), and one large `write` lets the kernel fill the page cache in large folios,
/// where a `write` per segment paid the kernel's per-call and per-page cost on every one. A
/// failed write leaves the file failed: every later append and read throws that error (the bytes
/// of every segment still in the buffer are lost with it).
///
/// One thread at a time (its owner hands it over at a join); not `Sendable`.
public final class SpoolFile {
  /// Bytes gathered before they are written.
  public static let writeSize = 1 << 20
  /// The path it was made under, for messages (the name is removed at once).
  public let path: String
  private let fd: Int32
  /// Bytes appended so far (written, or still in the buffer): where the next ones go.
  public private(set) var size: Int64 = 0
  /// Bytes written to the file; those after it are in `buffer`.
  private var written: Int64 = 0
  private let buffer: UnsafeMutableRawBufferPointer
  private var buffered = 0
  private var failure: CompressionError?

  /// Makes the file `name` in `tree`'s directory and removes its name.
  public init(tree: OutputTree, name: String) throws(CompressionError) {
    path = tree.path + "/" + name
    fd = try tree.createUnlinked(name)
    buffer = .allocate(byteCount: SpoolFile.writeSize, alignment: 16)
  }

  deinit {
    buffer.deallocate()
    close(fd)
  }

  /// Appends `bytes`; returns where they start.
  public func append(_ bytes: UnsafeRawBufferPointer) throws(CompressionError) -> Int64 {
    if let failure { throw failure }
    let offset = size
    if buffered + bytes.count > buffer.count { try writeBuffered() }
    if bytes.count > buffer.count {
      try write(bytes)
    } else if let source = bytes.baseAddress, let target = buffer.baseAddress {
      (target + buffered).copyMemory(from: source, byteCount: bytes.count)
      buffered += bytes.count
    }
    size += Int64(bytes.count)
    return offset
  }

  /// Fills `buffer` with the bytes at `offset` (they must have been appended).
  public func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(CompressionError) {
    if let failure { throw failure }
    guard let base = buffer.baseAddress else { return }
    if offset + Int64(buffer.count) > written { try writeBuffered() }
    var done = 0
    while done < buffer.count {
      let got = pread(fd, base + done, buffer.count - done, off_t(offset) + off_t(done))
      if got < 0 && errno == EINTR { continue }
      guard got > 0 else {
        throw CompressionError(
          code: .readFailed, step: "reading \(buffer.count) bytes at \(offset) of a spool file", path: path,
          systemErrno: got < 0 ? errno : nil)
      }
      done += got
    }
  }

  /// Writes the gathered bytes.
  private func writeBuffered() throws(CompressionError) {
    guard buffered > 0 else { return }
    try write(UnsafeRawBufferPointer(rebasing: buffer[0..<buffered]))
    buffered = 0
  }

  private func write(_ bytes: UnsafeRawBufferPointer) throws(CompressionError) {
    do {
      try OutputFile.writeAll(fd, bytes, path: path, step: "writing \(bytes.count) bytes to a spool file")
    } catch {
      failure = error
      throw error
    }
    written += Int64(bytes.count)
  }
}
