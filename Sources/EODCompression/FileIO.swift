#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// An output file opened with `O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC`, mode 0644 (before umask).
/// Owns the descriptor and closes it in `deinit` if still open. Writes are not synchronised:
/// the owner guarantees one writer at a time (the block pipeline's writer token).
final class OutputFile: @unchecked Sendable {
  let path: String
  private var fd: Int32

  init(path: String) throws(CompressionError) {
    self.path = path
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
      throw CompressionError(
        code: .openFailed, step: "opening output file for writing", path: path, systemErrno: errno)
    }
    self.fd = fd
  }

  deinit {
    if fd >= 0 { close(fd) }
  }

  /// Writes all of `bytes`, retrying on short writes and `EINTR`.
  func writeAll(_ bytes: UnsafeRawBufferPointer, step: @autoclosure () -> String) throws(CompressionError) {
    guard var base = bytes.baseAddress else { return }
    var remaining = bytes.count
    while remaining > 0 {
      guard fd >= 0 else {
        throw CompressionError(code: .writerClosed, step: step() + ": file already closed", path: path)
      }
      let written = write(fd, base, remaining)
      if written < 0 {
        let code = errno
        if code == EINTR { continue }
        throw CompressionError(code: .writeFailed, step: step(), path: path, systemErrno: code)
      }
      remaining -= written
      base += written
    }
  }

  /// `fsync`s and closes the file. The descriptor is closed even when `fsync` fails.
  func syncAndClose() throws(CompressionError) {
    guard fd >= 0 else { return }
    let descriptor = fd
    fd = -1
    if fsync(descriptor) != 0 {
      let code = errno
      close(descriptor)
      throw CompressionError(code: .syncFailed, step: "fsync of output file", path: path, systemErrno: code)
    }
    if close(descriptor) != 0 {
      throw CompressionError(code: .closeFailed, step: "closing output file", path: path, systemErrno: errno)
    }
  }

  /// Closes the descriptor (if open) and removes the file. Best effort; never throws.
  func closeAndUnlink() {
    if fd >= 0 {
      close(fd)
      fd = -1
    }
    unlink(path)
  }
}

/// Reads a file in chunks, handing each chunk to `body`.
func readFileChunks(
  atPath path: String, chunkSize: Int = 1 << 20,
  _ body: (UnsafeRawBufferPointer) throws(CompressionError) -> Void
) throws(CompressionError) {
  let fd = open(path, O_RDONLY | O_CLOEXEC)
  guard fd >= 0 else {
    throw CompressionError(
      code: .openFailed, step: "opening file for reading", path: path, systemErrno: errno)
  }
  defer { close(fd) }
  let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
  defer { buffer.deallocate() }
  while true {
    let count = read(fd, buffer.baseAddress, chunkSize)
    if count < 0 {
      let code = errno
      if code == EINTR { continue }
      throw CompressionError(code: .readFailed, step: "reading file", path: path, systemErrno: code)
    }
    if count == 0 { return }
    try body(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
  }
}

/// `withUnsafeBytes` that keeps the typed error (the standard library's is `rethrows`).
func withBytes<R>(
  _ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(CompressionError) -> R
) throws(CompressionError) -> R {
  let result: Result<R, CompressionError> = bytes.withUnsafeBytes { raw in
    do throws(CompressionError) { return .success(try body(raw)) } catch { return .failure(error) }
  }
  return try result.get()
}

/// `withUnsafeBytes` that keeps the typed error (the standard library's is `rethrows`).
func withBytes<R>(
  _ bytes: ArraySlice<UInt8>, _ body: (UnsafeRawBufferPointer) throws(CompressionError) -> R
) throws(CompressionError) -> R {
  let result: Result<R, CompressionError> = bytes.withUnsafeBytes { raw in
    do throws(CompressionError) { return .success(try body(raw)) } catch { return .failure(error) }
  }
  return try result.get()
}
