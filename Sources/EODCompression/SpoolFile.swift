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
/// One thread at a time (its owner hands it over at a join); not `Sendable`.
public final class SpoolFile {
  /// The path it was made under, for messages (the name is removed at once).
  public let path: String
  private let fd: Int32
  /// Bytes appended so far: where the next ones go.
  public private(set) var size: Int64 = 0

  /// Makes the file `name` in `tree`'s directory and removes its name.
  public init(tree: OutputTree, name: String) throws(CompressionError) {
    path = tree.path + "/" + name
    fd = try tree.createUnlinked(name)
  }

  deinit { close(fd) }

  /// Appends `bytes`; returns where they start.
  public func append(_ bytes: UnsafeRawBufferPointer) throws(CompressionError) -> Int64 {
    let offset = size
    try OutputFile.writeAll(fd, bytes, path: path, step: "writing \(bytes.count) bytes to a spool file")
    size += Int64(bytes.count)
    return offset
  }

  /// Fills `buffer` with the bytes at `offset` (they must have been appended).
  public func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(CompressionError) {
    guard let base = buffer.baseAddress else { return }
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
}
