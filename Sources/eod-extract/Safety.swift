import ArgumentParser
import EODOps
import EODPipeline
import EODRender
import EODState
import EODStatePostgres
import Foundation
import Logging

/// Path names split as strings. Foundation's `NSString` path methods trap on some short relative
/// paths (`deletingLastPathComponent` of `s`), so the command line never uses them.
enum PathName {
  /// The folder holding `path`: `.` for a bare name, `/` for a name at the root.
  static func parent(of path: String) -> String {
    var trimmed = Substring(path)
    while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
    guard let slash = trimmed.lastIndex(of: "/") else { return "." }
    if slash == trimmed.startIndex { return "/" }
    return String(trimmed[..<slash])
  }
}

/// The one mapping from an error to the documented exit code (docs/operations.md, "Exit codes"):
/// the code an ``OperatorFacingError`` says; any other error is unexpected: 70.
func exitCode(for error: any Error) -> EODExitCode { EODExitCode(for: error) }

/// The command line's own refusals say their code.
extension Failure: OperatorFacingError {
  var exitCode: EODExitCode { code }
}

/// The argument parser's refusal of the command line: usage (64).
extension ValidationError: OperatorFacingError {
  public var exitCode: EODExitCode { .usage }
}

/// An error no part of the job declares, thrown by the test hook `EOD_TEST_INTERNAL_ERROR=1` (used
/// only by the tests, documented in docs/operations.md): it is not an ``OperatorFacingError``,
/// so it proves that an unexpected error exits 70 through the one mapping.
struct InjectedTestFailure: Error, CustomStringConvertible {
  var description: String { "internal error forced by EOD_TEST_INTERNAL_ERROR (a test hook)" }
}

/// What a person reads for an error: Foundation's errors in words (``SystemErrorText``), an
/// unexpected error marked as such.
func message(for error: any Error) -> String {
  let words = SystemErrorText.words(error)
  return exitCode(for: error) == .internalError ? "internal error: \(words)" : words
}

/// Opens the state store for a command that writes it. A `postgres://` URL opens the PostgreSQL
/// store (its schema must be migrated: `create` does not apply; writers lock per firm and date
/// in the server, so there is no run lock, shared or not). Otherwise the file is identified
/// first: nothing is written to (or created beside) a file that is not a state store. A missing
/// store is created only when `create` (`--init-state`, `state_store.create: true`), with a log
/// line saying so; otherwise the run stops naming the path. Then the run lock is taken and the
/// store opened.
///
/// - Parameter shared: take a SQLite store's run lock shared (the shards of a night, which then
///   lock each firm and date of theirs exclusively), not exclusive.
///
/// With `shared` and `create` (the first night of a sharded night on SQLite), another shard may be
/// creating the store at this very moment. `StateStore` makes a new store whole and links it into
/// place, so no process sees it half made; on a file system without hard links it is made in
/// place, where for a few milliseconds the file is empty, or a SQLite file with no tables yet:
/// such a refusal is retried for up to 5 s before it stands.
func openStateForWriting(_ path: String, create: Bool, shared: Bool = false, logger: Logger) throws -> (
  RunLock?, any StateStoring
) {
  if PostgresURL.isPostgres(path) {
    return (nil, try PostgresStateStore(url: PostgresURL(path), logger: logger))
  }
  var attempts = shared && create ? 100 : 0
  while true {
    do {
      return try openStateOnce(path, create: create, shared: shared, logger: logger)
    } catch let error as StateStoreError where error.code == .notAStateStore && attempts > 0 {
      attempts -= 1
      usleep(50_000)
    }
  }
}

private func openStateOnce(_ path: String, create: Bool, shared: Bool, logger: Logger) throws -> (
  RunLock, StateStore
) {
  if try StateStore.identify(path: path) == .missing {
    guard create else {
      throw Failure(
        .nothingDone,
        "no state store at \(path): check the path; to start a new, empty store there, give --init-state "
          + "(or state_store.create: true in the configuration)")
    }
    let folder = PathName.parent(of: path)
    do {
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    } catch {
      throw Failure(
        .nothingDone, "cannot create the state store's folder \(folder): \(SystemErrorText.reason(error))")
    }
    logger.notice("creating a new, empty state store (as asked)", metadata: ["path": "\(path)"])
  }
  let lock = try RunLock.acquire(stateStorePath: path, mode: shared ? .shared : .exclusive, logger: logger)
  let store = try StateStore(path: path, createIfMissing: create)
  return (lock, store)
}

/// Opens an existing state store to read it (history, deliveries): never creates one.
func openStateForReading(_ path: String) throws -> any StateStoring {
  if PostgresURL.isPostgres(path) {
    return try PostgresStateStore(url: PostgresURL(path), logger: makeLogger())
  }
  return try StateStore(path: path, createIfMissing: false)
}

/// Checks, before anything is read, that the output directory can be used: an existing
/// directory this process can write in, or a path whose nearest existing folder is one.
func checkOutputDirectory(_ path: String) throws {
  var info = stat()
  if stat(path, &info) == 0 {
    guard (info.st_mode & S_IFMT) == S_IFDIR else {
      throw Failure(.nothingDone, "output directory \(path): is not a directory")
    }
    guard access(path, W_OK | X_OK) == 0 else {
      throw Failure(.nothingDone, "output directory \(path): \(String(cString: strerror(errno)))")
    }
    return
  }
  guard errno == ENOENT || errno == ENOTDIR else {
    throw Failure(.nothingDone, "output directory \(path): \(String(cString: strerror(errno)))")
  }
  // Missing: the run creates it, so its nearest existing folder must allow that.
  var folder = PathName.parent(of: path)
  while stat(folder, &info) != 0 {
    guard errno == ENOENT || errno == ENOTDIR, folder != "/", folder != "." else {
      throw Failure(.nothingDone, "output directory \(path): \(folder): \(String(cString: strerror(errno)))")
    }
    folder = PathName.parent(of: folder)
  }
  guard (info.st_mode & S_IFMT) == S_IFDIR else {
    throw Failure(.nothingDone, "output directory \(path): \(folder) is not a directory")
  }
  guard access(folder, W_OK | X_OK) == 0 else {
    throw Failure(
      .nothingDone,
      "output directory \(path): cannot create it in \(folder): \(String(cString: strerror(errno)))")
  }
}
