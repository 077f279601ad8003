// Small local-file helpers (POSIX, no Foundation).
#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// A POSIX errno value as an error.
struct Errno: Error, Equatable {
  let code: Int32
  init(_ code: Int32) { self.code = code }
  static let noSuchFile = Errno(ENOENT)
}

enum LocalFile {
  /// The file's permission bits, or the errno that prevented reading them.
  static func mode(_ path: String) -> Result<Int, Errno> {
    var info = stat()
    guard stat(path, &info) == 0 else { return .failure(Errno(errno)) }
    return .success(Int(info.st_mode) & 0o7777)
  }

  /// The whole file, or the errno (ENOENT for a missing file).
  static func readAll(_ path: String) -> Result<[UInt8], Errno> {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return .failure(Errno(errno)) }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
      let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if count < 0 {
        if errno == EINTR { continue }
        return .failure(Errno(errno))
      }
      if count == 0 { break }
      bytes.append(contentsOf: chunk[0..<count])
    }
    return .success(bytes)
  }

  /// Appends `text` to the file, creating it with mode 0600 if missing.
  static func append(_ path: String, _ text: String) -> Errno? {
    let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return Errno(errno) }
    defer { close(fd) }
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
      let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
      if count < 0 {
        if errno == EINTR { continue }
        return Errno(errno)
      }
      bytes = bytes.dropFirst(count)
    }
    return nil
  }

  static func describe(_ code: Errno) -> String { TCP.errorText(code.code) }

  /// An open local file read in chunks.
  final class Reader {
    let fd: Int32

    init(path: String) throws(Errno) {
      let fd = open(path, O_RDONLY | O_CLOEXEC)
      guard fd >= 0 else { throw Errno(errno) }
      self.fd = fd
    }

    deinit { close(fd) }

    /// Fills `buffer` as far as the file allows; returns the byte count (0 at end of file).
    func fill(_ buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
      var filled = 0
      while filled < buffer.count {
        let count = read(fd, buffer.baseAddress.map { $0 + filled }, buffer.count - filled)
        if count < 0 {
          if errno == EINTR { continue }
          throw Errno(errno)
        }
        if count == 0 { break }
        filled += count
      }
      return filled
    }
  }
}
