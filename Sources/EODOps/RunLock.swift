import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Why a ``RunLock`` could not be taken.
public struct RunLockError: Error, CustomStringConvertible, Sendable {
  /// What went wrong, extensible.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
    /// Another process (or another lock in this process) holds the lock.
    public static let alreadyRunning = Code("already-running")
    /// The lock file could not be opened or created.
    public static let cannotOpen = Code("cannot-open")
    /// `flock(2)` failed for another reason than contention.
    public static let lockFailed = Code("lock-failed")
  }

  public var code: Code
  /// The lock file concerned.
  public var lockPath: String
  /// For ``Code/alreadyRunning``: the PID the holder wrote into the lock file, if readable.
  public var holderPID: Int32?
  /// For ``Code/alreadyRunning``: what else the holder wrote after its PID (a firm's lock:
  /// `host=H run_id=R`), if anything.
  public var holder: String?
  public var detail: String

  public init(code: Code, lockPath: String, holderPID: Int32? = nil, holder: String? = nil, detail: String) {
    self.code = code
    self.lockPath = lockPath
    self.holderPID = holderPID
    self.holder = holder
    self.detail = detail
  }

  public var description: String {
    var text = "run lock \(lockPath) (\(code))"
    if let holderPID { text += " held by PID \(holderPID)" }
    if let holder { text += " (\(holder))" }
    return text + ": \(detail)"
  }
}

/// An exclusive lock for one state store, so two runs against the same state never overlap.
///
/// The lock is `flock(LOCK_EX|LOCK_NB)` on `<state file>.lock`. The kernel releases it when the
/// holding process exits or dies (even by `SIGKILL`), so a crash never leaves a stale lock; the
/// lock file itself stays in place and must not be deleted by hand while a run holds it. The
/// holder writes its PID into the file so a refused run can name it. The descriptor is opened
/// close-on-exec, so child processes do not inherit the lock.
public final class RunLock: Sendable {
  /// Exclusive: one holder (a whole run). Shared: any number of holders at once and no
  /// exclusive one (the shards of a night, each also holding its firms' exclusive locks).
  public enum Mode: Sendable {
    case exclusive, shared
  }

  /// The lock file, `<state file>.lock`.
  public let lockPath: String
  public let mode: Mode
  private let descriptor: Mutex<Int32>

  private init(lockPath: String, mode: Mode, descriptor: Int32) {
    self.lockPath = lockPath
    self.mode = mode
    self.descriptor = Mutex(descriptor)
  }

  deinit { release() }

  /// The lock file path for a state store: `<state file>.lock`, where the state file is the
  /// path with every symlink resolved (`realpath`; of its directory when the file does not exist
  /// yet), so two paths to one store (a symlink alias) take the same lock.
  public static func lockPath(forStateStore stateStorePath: String) -> String {
    if let resolved = realPath(stateStorePath) { return resolved + ".lock" }
    let url = URL(fileURLWithPath: stateStorePath)
    let directory = url.deletingLastPathComponent().path
    if let resolved = realPath(directory) {
      return (resolved == "/" ? "" : resolved) + "/" + url.lastPathComponent + ".lock"
    }
    return stateStorePath + ".lock"
  }

  private static func realPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
  }

  /// Takes the lock for a state store at once, or fails with ``RunLockError/Code-swift.struct/alreadyRunning``.
  ///
  /// - Parameters:
  ///   - stateStorePath: The state store file; the lock file is `stateStorePath + ".lock"`.
  ///   - logger: Where to log the acquisition.
  /// - Returns: The held lock; call ``release()`` when the run is over (or let the process exit).
  ///   - mode: exclusive (a run) or shared (a shard of a sharded night).
  public static func acquire(stateStorePath: String, mode: Mode = .exclusive, logger: Logger)
    throws(RunLockError) -> RunLock
  {
    try acquire(lockPath: lockPath(forStateStore: stateStorePath), mode: mode, logger: logger)
  }

  /// Takes the lock on an explicit lock file at once, or fails.
  ///
  /// - Parameter holder: with an exclusive lock, written after the PID (`host=H run_id=R`) so a
  ///   refused process can name who holds it. A shared lock writes nothing (it has many holders).
  public static func acquire(lockPath: String, mode: Mode = .exclusive, holder: String? = nil, logger: Logger)
    throws(RunLockError) -> RunLock
  {
    // The file may be replaced between open and flock; retry a few times if the inode changed.
    for _ in 0..<5 {
      // Never through a symlink: a link planted at the lock's name is refused, not followed
      // (the file it points to would be truncated by the PID written below).
      let fd = open(lockPath, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0o600)
      if fd < 0 {
        let err = errno
        let why =
          err == ELOOP
          ? "the lock file is a symbolic link (never followed); remove it" : String(cString: strerror(err))
        throw RunLockError(
          code: .cannotOpen, lockPath: lockPath, detail: "cannot open or create the lock file: \(why)")
      }
      var kind = stat()
      if fstat(fd, &kind) != 0 || (kind.st_mode & S_IFMT) != S_IFREG {
        close(fd)
        throw RunLockError(
          code: .cannotOpen, lockPath: lockPath, detail: "the lock file is not a regular file")
      }
      if flock(fd, (mode == .shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0 {
        let err = errno
        let (holderPID, holderText) = readHolder(fd: fd)
        close(fd)
        if err == EWOULDBLOCK || err == EAGAIN {
          throw RunLockError(
            code: .alreadyRunning, lockPath: lockPath, holderPID: holderPID, holder: holderText,
            detail: mode == .shared
              ? "an unsharded run holds the lock for this state store"
              : "another run holds the lock (sharded runs hold it shared)")
        }
        throw RunLockError(
          code: .lockFailed, lockPath: lockPath,
          detail: "flock failed: \(String(cString: strerror(err)))")
      }
      var held = stat()
      var onDisk = stat()
      guard fstat(fd, &held) == 0, lstat(lockPath, &onDisk) == 0,
        held.st_ino == onDisk.st_ino, held.st_dev == onDisk.st_dev
      else {
        close(fd)
        continue
      }
      if mode == .exclusive { writePID(fd: fd, holder: holder) }
      logger.debug(
        "run lock acquired", metadata: ["lock_file": "\(lockPath)", "pid": .stringConvertible(getpid())])
      return RunLock(lockPath: lockPath, mode: mode, descriptor: fd)
    }
    throw RunLockError(
      code: .lockFailed, lockPath: lockPath,
      detail: "the lock file kept being replaced while locking it")
  }

  /// Whether this object still holds the lock.
  public var isHeld: Bool { descriptor.withLock { $0 >= 0 } }

  /// Releases the lock (idempotent). The lock file stays, emptied of the PID.
  public func release() {
    descriptor.withLock { fd in
      guard fd >= 0 else { return }
      if mode == .exclusive { _ = ftruncate(fd, 0) }
      _ = flock(fd, LOCK_UN)
      close(fd)
      fd = -1
    }
  }

  /// The holder's PID (first line) and what it wrote after it, if readable.
  private static func readHolder(fd: Int32) -> (Int32?, String?) {
    var buffer = [UInt8](repeating: 0, count: 512)
    let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
    guard count > 0 else { return (nil, nil) }
    let lines = String(decoding: buffer[0..<count], as: UTF8.self).split(whereSeparator: \.isNewline)
      .map { $0.trimmingCharacters(in: .whitespaces) }
    guard let first = lines.first, let pid = Int32(first), pid > 0 else { return (nil, nil) }
    let rest = lines.dropFirst().filter { !$0.isEmpty }.joined(separator: " ")
    return (pid, rest.isEmpty ? nil : rest)
  }

  private static func writePID(fd: Int32, holder: String?) {
    let bytes = Array("\(getpid())\n\(holder.map { $0 + "\n" } ?? "")".utf8)
    _ = ftruncate(fd, 0)
    _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
  }
}

extension RunLockError: OperatorFacingError {
  /// 3 when another run holds the lock (the run waits for the next schedule), else 2.
  public var exitCode: EODExitCode { code == .alreadyRunning ? .alreadyRunning : .nothingDone }
  public var errorCode: String { code.rawValue }
}
