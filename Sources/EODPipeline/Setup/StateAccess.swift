import EODOps
import EODState
import EODStatePostgres
import Foundation
import Logging

/// Opening the state store, for the night and for every command that reads or writes it: the one
/// place that tells a PostgreSQL URL from a SQLite file, never creates a store it was not asked
/// to, and takes the run lock.
public enum StateAccess {
  /// Opens the state store for writing. A `postgres://` URL opens the PostgreSQL store (its schema
  /// must be migrated: `create` does not apply; writers lock per firm and date in the server, so
  /// there is no run lock, shared or not). Otherwise the file is identified first: nothing is
  /// written to (or created beside) a file that is not a state store. A missing store is created
  /// only when `create` (`--init-state`, `state_store.create: true`), with a log line saying so;
  /// otherwise the night stops naming the path. Then the run lock is taken and the store opened.
  ///
  /// - Parameter shared: take a SQLite store's run lock shared (the shards of a night, which then
  ///   lock each firm and date of theirs exclusively), not exclusive.
  ///
  /// With `shared` and `create` (the first night of a sharded night on SQLite), another shard may
  /// be creating the store at this very moment. `StateStore` makes a new store whole and links it
  /// into place, so no process sees it half made; on a file system without hard links it is made
  /// in place, where for a few milliseconds the file is empty, or a SQLite file with no tables
  /// yet: such a refusal is retried for up to 5 s before it stands.
  public static func openForWriting(_ path: String, create: Bool, shared: Bool = false, logger: Logger) throws
    -> (RunLock?, any StateStoring)
  {
    if PostgresURL.isPostgres(path) {
      return (nil, try PostgresStateStore(url: PostgresURL(path), logger: logger))
    }
    var attempts = shared && create ? 100 : 0
    while true {
      do {
        return try openOnce(path, create: create, shared: shared, logger: logger)
      } catch let error as StateStoreError where error.code == .notAStateStore && attempts > 0 {
        attempts -= 1
        usleep(50_000)
      }
    }
  }

  private static func openOnce(_ path: String, create: Bool, shared: Bool, logger: Logger) throws -> (
    RunLock, StateStore
  ) {
    if try StateStore.identify(path: path) == .missing {
      guard create else {
        throw RunRefusal(
          .nothingDone,
          "no state store at \(path): check the path; to start a new, empty store there, give --init-state "
            + "(or state_store.create: true in the configuration)")
      }
      let folder = PathName.parent(of: path)
      do {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
      } catch {
        throw RunRefusal(
          .nothingDone, "cannot create the state store's folder \(folder): \(SystemErrorText.reason(error))",
          cause: error)
      }
      logger.notice("creating a new, empty state store (as asked)", metadata: ["path": "\(path)"])
    }
    let lock = try RunLock.acquire(stateStorePath: path, mode: shared ? .shared : .exclusive, logger: logger)
    let store = try StateStore(path: path, createIfMissing: create)
    return (lock, store)
  }

  /// Opens an existing state store to read it (history, deliveries): never creates one.
  public static func openForReading(_ path: String, logger: Logger) throws -> any StateStoring {
    if PostgresURL.isPostgres(path) {
      return try PostgresStateStore(url: PostgresURL(path), logger: logger)
    }
    return try StateStore(path: path, createIfMissing: false)
  }
}

/// Path names split as strings. Foundation's `NSString` path methods trap on some short relative
/// paths (`deletingLastPathComponent` of `s`), so the job never uses them.
public enum PathName {
  /// The folder holding `path`: `.` for a bare name, `/` for a name at the root.
  public static func parent(of path: String) -> String {
    var trimmed = Substring(path)
    while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
    guard let slash = trimmed.lastIndex(of: "/") else { return "." }
    if slash == trimmed.startIndex { return "/" }
    return String(trimmed[..<slash])
  }
}
