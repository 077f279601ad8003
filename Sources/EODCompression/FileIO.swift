import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// An output file: either opened once by path (`O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC`, mode 0644
/// before umask) and held open, or a file of an ``OutputDirectory``, created with
/// `O_CREAT|O_EXCL|O_NOFOLLOW` and then opened only while a block is appended to it (through the
/// directory's symlink-free walk), so the descriptors a run holds do not grow with its files.
/// Writes are not synchronised: the owner guarantees one writer at a time (the block pipeline's
/// writer token).
/// `@unchecked Sendable`: a mutable descriptor used by one thread at a time (the writer token's holder).
final class OutputFile: @unchecked Sendable {
  let path: String
  private var fd: Int32
  /// Where the file is when it is opened per write (nil: held open by path).
  private let location: (directory: OutputDirectory, name: String)?
  private var closed = false

  init(path: String) throws(CompressionError) {
    self.path = path
    location = nil
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
      throw CompressionError(
        code: .openFailed, step: "opening output file for writing", path: path, systemErrno: errno)
    }
    self.fd = fd
  }

  /// Creates `name` in `directory` (it must not exist) with the tree's file mode.
  init(directory: OutputDirectory, name: String) throws(CompressionError) {
    path = directory.path + "/" + name
    location = (directory, name)
    fd = -1
    try directory.createFile(name)
  }

  deinit {
    if fd >= 0 { close(fd) }
  }

  /// Writes all of `bytes`, retrying on short writes and `EINTR`.
  func writeAll(_ bytes: UnsafeRawBufferPointer, step: @autoclosure () -> String) throws(CompressionError) {
    if let location {
      guard !closed else {
        throw CompressionError(code: .writerClosed, step: step() + ": file already closed", path: path)
      }
      let descriptor = try location.directory.openFile(location.name, step: step())
      defer { close(descriptor) }
      try OutputFile.writeAll(descriptor, bytes, path: path, step: step())
      return
    }
    guard fd >= 0 else {
      throw CompressionError(code: .writerClosed, step: step() + ": file already closed", path: path)
    }
    try OutputFile.writeAll(fd, bytes, path: path, step: step())
  }

  static func writeAll(
    _ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String, step: @autoclosure () -> String
  ) throws(CompressionError) {
    guard var base = bytes.baseAddress else { return }
    var remaining = bytes.count
    while remaining > 0 {
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
    if let location {
      guard !closed else { return }
      closed = true
      let descriptor = try location.directory.openFile(location.name, step: "opening output file for fsync")
      if fsync(descriptor) != 0 {
        let code = errno
        close(descriptor)
        throw CompressionError(code: .syncFailed, step: "fsync of output file", path: path, systemErrno: code)
      }
      close(descriptor)
      return
    }
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
    if let location {
      closed = true
      location.directory.remove(location.name)
      return
    }
    if fd >= 0 {
      close(fd)
      fd = -1
    }
    unlink(path)
  }
}

/// Permission bits of what a run creates under its output directory, applied with `fchmod`
/// (exact whatever the process umask).
public struct FileModes: Sendable, Hashable {
  /// Regular files (extracts, manifests): default 0640.
  public var file: UInt32
  /// Directories: default 0750.
  public var directory: UInt32

  public init(file: UInt32 = 0o640, directory: UInt32 = 0o750) {
    self.file = file
    self.directory = directory
  }
}

/// The output directory of a run (OUT), and every directory and file the run makes below it.
///
/// OUT is the operator's path and is opened as given (it may itself be a symlink the operator
/// made). Everything below it is reached from OUT's descriptor one component at a time with
/// `openat(O_NOFOLLOW|O_DIRECTORY)`: a symlink anywhere below OUT (`OUT/FIRM001 -> elsewhere`)
/// is never followed, and the operation fails naming the path. Files are created with
/// `O_CREAT|O_EXCL|O_NOFOLLOW`, renamed with `renameat` and removed with `unlinkat`, all within
/// the directory reached that way. Only OUT's descriptor stays open; a directory below it is
/// opened for one operation and closed again, so a run holds the same few descriptors whatever
/// the number of firms.
///
/// The tree remembers the directories it created (OUT and its parents included), so that
/// ``removeCreatedDirectories()`` removes those, when empty, and nothing else.
///
/// Sendable without `@unchecked`: its descriptor never changes, and what it remembers is behind a
/// `Mutex` (firms on several threads create their directories through one tree).
public final class OutputTree: Sendable {
  /// What the run created: directories below OUT, as components from OUT (`below`), and OUT and
  /// the parents of it (absolute or as given), outermost first (`above`).
  private struct Created {
    var below: [[String]] = []
    var above: [String] = []
  }

  public let path: String
  public let modes: FileModes
  private let fd: Int32
  private let created: Mutex<Created>

  /// Opens OUT, creating it and its missing parents (with `modes.directory`).
  public init(path: String, modes: FileModes = FileModes()) throws(CompressionError) {
    self.path = path
    self.modes = modes
    var made: [String] = []
    try OutputTree.makeDirectories(path, mode: modes.directory, made: &made)
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else {
      throw CompressionError(
        code: .openFailed, step: "opening the output directory", path: path, systemErrno: errno)
    }
    self.fd = fd
    created = Mutex(Created(above: made))
  }

  deinit { close(fd) }

  /// `mkdir -p` of the operator's path, noting what it made.
  private static func makeDirectories(_ path: String, mode: UInt32, made: inout [String])
    throws(CompressionError)
  {
    if mkdir(path, mode_t(mode)) == 0 {
      try fixMode(path, mode: mode)
      made.append(path)
      return
    }
    let code = errno
    if code == EEXIST { return }
    guard code == ENOENT else {
      throw CompressionError(
        code: .openFailed, step: "creating the output directory", path: path, systemErrno: code)
    }
    var parent = path
    while parent.count > 1 && parent.hasSuffix("/") { parent.removeLast() }
    guard let slash = parent.lastIndex(of: "/") else {
      throw CompressionError(
        code: .openFailed, step: "creating the output directory", path: path, systemErrno: code)
    }
    parent = String(parent[..<slash])
    if !parent.isEmpty { try makeDirectories(parent, mode: mode, made: &made) }
    if mkdir(path, mode_t(mode)) == 0 {
      try fixMode(path, mode: mode)
      made.append(path)
    } else if errno != EEXIST {
      throw CompressionError(
        code: .openFailed, step: "creating the output directory", path: path, systemErrno: errno)
    }
  }

  /// Sets a directory just made to exactly `mode` (mkdir's mode is cut by the umask).
  private static func fixMode(_ path: String, mode: UInt32) throws(CompressionError) {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    guard fd >= 0 else {
      throw CompressionError(
        code: .openFailed, step: "opening a directory just created", path: path, systemErrno: errno)
    }
    defer { close(fd) }
    if fchmod(fd, mode_t(mode)) != 0 {
      throw CompressionError(
        code: .openFailed, step: "setting the mode of a directory just created", path: path,
        systemErrno: errno)
    }
  }

  /// The directory `OUT/components…`, created (with its parents below OUT) when missing.
  /// A component that is a symlink or not a directory fails, naming the path.
  public func directory(_ components: [String]) throws(CompressionError) -> OutputDirectory {
    var current = dup(fd)
    guard current >= 0 else {
      throw CompressionError(
        code: .openFailed, step: "duplicating the output directory", path: path, systemErrno: errno)
    }
    defer { close(current) }
    var done: [String] = []
    for component in components {
      let shown = ([path] + done + [component]).joined(separator: "/")
      guard OutputTree.isPlainName(component) else {
        throw CompressionError(
          code: .openFailed, step: "making a directory: '\(component)' is not a plain file name", path: shown)
      }
      var made = false
      if mkdirat(current, component, mode_t(modes.directory)) == 0 {
        made = true
      } else if errno != EEXIST {
        throw CompressionError(
          code: .openFailed, step: "creating a directory", path: shown, systemErrno: errno)
      }
      let next = try OutputTree.openDirectory(current, component, shown: shown)
      if made {
        if fchmod(next, mode_t(modes.directory)) != 0 {
          let code = errno
          close(next)
          throw CompressionError(
            code: .openFailed, step: "setting the mode of a directory just created", path: shown,
            systemErrno: code)
        }
        created.withLock { $0.below.append(done + [component]) }
      }
      close(current)
      current = next
      done.append(component)
    }
    return OutputDirectory(tree: self, components: components)
  }

  /// `openat(parent, name, O_NOFOLLOW|O_DIRECTORY)`: a symlink is refused with a clear step.
  static func openDirectory(_ parent: Int32, _ name: String, shown: String) throws(CompressionError) -> Int32
  {
    let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    if fd >= 0 { return fd }
    let code = errno
    let step =
      code == ELOOP || code == ENOTDIR
      ? "opening a directory: it is a symbolic link or not a directory (symlinks under the output directory are never followed)"
      : "opening a directory"
    throw CompressionError(code: .openFailed, step: step, path: shown, systemErrno: code)
  }

  /// Whether `name` is one path component that stays where it is (not empty, `.`, `..`, no `/`).
  static func isPlainName(_ name: String) -> Bool {
    !name.isEmpty && name != "." && name != ".." && !name.utf8.contains(0x2F) && !name.utf8.contains(0)
  }

  /// Runs `body` with a descriptor of `OUT/components…` (closed afterwards).
  func withDirectory<R>(
    _ components: [String], step: @autoclosure () -> String, _ body: (Int32) throws(CompressionError) -> R
  ) throws(CompressionError) -> R {
    var current = dup(fd)
    guard current >= 0 else {
      throw CompressionError(code: .openFailed, step: step(), path: path, systemErrno: errno)
    }
    defer { close(current) }
    var done = [path]
    for component in components {
      done.append(component)
      let next = try OutputTree.openDirectory(current, component, shown: done.joined(separator: "/"))
      close(current)
      current = next
    }
    return try body(current)
  }

  /// Creates `name` in OUT (it must not exist; read and write, mode 0600) and removes its name at
  /// once: a scratch file nobody else reaches, whose space is freed when the descriptor is closed
  /// or the process ends, killed or not. The caller closes the descriptor.
  func createUnlinked(_ name: String) throws(CompressionError) -> Int32 {
    let shown = path + "/" + name
    guard OutputTree.isPlainName(name) else {
      throw CompressionError(code: .openFailed, step: "'\(name)' is not a plain file name", path: shown)
    }
    let file = openat(fd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(0o600))
    guard file >= 0 else {
      throw CompressionError(
        code: .openFailed, step: "creating a scratch file", path: shown, systemErrno: errno)
    }
    if unlinkat(fd, name, 0) != 0 {
      let code = errno
      close(file)
      throw CompressionError(
        code: .openFailed, step: "removing a scratch file's name", path: shown, systemErrno: code)
    }
    return file
  }

  /// Removes the directories this run created (deepest first) that are empty, OUT and its
  /// parents included when the run made them; directories that were there before are left,
  /// empty or not. Best effort.
  public func removeCreatedDirectories() {
    let (below, above) = created.withLock { created in
      defer { created = Created() }
      return (created.below, created.above)
    }
    for components in below.sorted(by: { $0.count > $1.count }) {
      guard let last = components.last else { continue }
      try? withDirectory(Array(components.dropLast()), step: "removing a directory") { parent in
        _ = unlinkat(parent, last, AT_REMOVEDIR)
      }
    }
    for directory in above.reversed() { _ = rmdir(directory) }
  }
}

/// A directory under an ``OutputTree`` (`OUT/<components>`), reached without following
/// symlinks each time it is used.
public struct OutputDirectory: Sendable {
  public let tree: OutputTree
  public let components: [String]

  /// The directory's path, for messages.
  public var path: String { ([tree.path] + components).joined(separator: "/") }

  private func filePath(_ name: String) -> String { path + "/" + name }

  private func checkName(_ name: String) throws(CompressionError) {
    guard OutputTree.isPlainName(name) else {
      throw CompressionError(
        code: .openFailed, step: "'\(name)' is not a plain file name", path: filePath(name))
    }
  }

  /// Creates `name`, which must not exist (not even as a symlink), with the tree's file mode.
  public func createFile(_ name: String) throws(CompressionError) {
    try checkName(name)
    let mode = tree.modes.file
    let shown = filePath(name)
    try tree.withDirectory(components, step: "opening a directory") { directory throws(CompressionError) in
      let fd = openat(directory, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(mode))
      guard fd >= 0 else {
        let code = errno
        let step =
          code == EEXIST
          ? "creating a file: something is already there (never overwritten or followed)"
          : "creating a file"
        throw CompressionError(code: .openFailed, step: step, path: shown, systemErrno: code)
      }
      defer { close(fd) }
      if fchmod(fd, mode_t(mode)) != 0 {
        throw CompressionError(
          code: .openFailed, step: "setting a file's mode", path: shown, systemErrno: errno)
      }
    }
  }

  /// Opens an existing regular file of this directory for appending (`O_NOFOLLOW`); the caller
  /// closes the descriptor.
  func openFile(_ name: String, step: @autoclosure () -> String) throws(CompressionError) -> Int32 {
    let shown = filePath(name)
    return try tree.withDirectory(components, step: step()) { directory throws(CompressionError) in
      let fd = openat(directory, name, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC)
      guard fd >= 0 else {
        throw CompressionError(code: .openFailed, step: step(), path: shown, systemErrno: errno)
      }
      return fd
    }
  }

  /// Renames `from` to `to` in this directory (`renameat`; `to` is replaced atomically, and if
  /// it is a symlink the link itself is replaced, never its target).
  public func rename(_ from: String, to: String) throws(CompressionError) {
    try checkName(from)
    try checkName(to)
    let shown = filePath(to)
    try tree.withDirectory(components, step: "opening a directory") { directory throws(CompressionError) in
      if renameat(directory, from, directory, to) != 0 {
        throw CompressionError(
          code: .writeFailed, step: "renaming \(from) into place", path: shown, systemErrno: errno)
      }
    }
  }

  /// Removes `name` (a file or a symlink itself; never what a link points to). A missing file is
  /// not an error.
  public func removeIfPresent(_ name: String) throws(CompressionError) {
    try checkName(name)
    let shown = filePath(name)
    try tree.withDirectory(components, step: "opening a directory") { directory throws(CompressionError) in
      if unlinkat(directory, name, 0) != 0 && errno != ENOENT {
        throw CompressionError(code: .writeFailed, step: "removing a file", path: shown, systemErrno: errno)
      }
    }
  }

  /// ``removeIfPresent(_:)``, best effort.
  public func remove(_ name: String) { try? removeIfPresent(name) }

  /// The names in this directory (not `.` and `..`).
  public func names() throws(CompressionError) -> [String] {
    let shown = path
    return try tree.withDirectory(components, step: "opening a directory") {
      directory throws(CompressionError) in
      let copy = dup(directory)
      guard copy >= 0, let stream = fdopendir(copy) else {
        let code = errno
        if copy >= 0 { close(copy) }
        throw CompressionError(code: .readFailed, step: "listing a directory", path: shown, systemErrno: code)
      }
      defer { closedir(stream) }
      var names: [String] = []
      while let entry = readdir(stream) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
          String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if name != "." && name != ".." { names.append(name) }
      }
      return names
    }
  }

  /// Writes `bytes` as `name`: created as `temporaryName` (exclusively), written, fsynced, then
  /// renamed over `name`. The temporary file is removed on failure.
  public func writeFile(_ bytes: [UInt8], name: String, temporaryName: String) throws(CompressionError) {
    try createFile(temporaryName)
    do throws(CompressionError) {
      let fd = try openFile(temporaryName, step: "opening a file for writing")
      defer { close(fd) }
      let shown = filePath(temporaryName)
      try withBytes(bytes) { raw throws(CompressionError) in
        try OutputFile.writeAll(fd, raw, path: shown, step: "writing a file")
      }
      if fsync(fd) != 0 {
        throw CompressionError(code: .syncFailed, step: "fsync of a file", path: shown, systemErrno: errno)
      }
    } catch {
      remove(temporaryName)
      throw error
    }
    do throws(CompressionError) { try rename(temporaryName, to: name) } catch {
      remove(temporaryName)
      throw error
    }
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
