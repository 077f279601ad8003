import EODCore
import EODSQLite
import Foundation

/// Why the state store failed: which file, which step, SQLite's words.
public struct StateStoreError: Error, CustomStringConvertible, Sendable {
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
    public static let unavailable = Code("unavailable")
    public static let incompatible = Code("incompatible")
    public static let outOfRange = Code("out-of-range")
    /// The file is not a state store (another SQLite file, a snapshot, a text file): refused, untouched.
    public static let notAStateStore = Code("not-a-state-store")
    /// No file at the path, and creating one was not asked for.
    public static let missing = Code("missing")
    /// The store's location cannot be used as given (a PostgreSQL URL with a password in it, say).
    public static let badLocation = Code("bad-location")
    /// The store's schema is not the one this binary works with (older: migrate it; newer: a
    /// newer binary is needed).
    public static let schemaVersion = Code("schema-version")
    /// Another writer holds the store's lock for this firm and date (or the whole store).
    public static let locked = Code("locked")
  }
  public var code: Code
  public var path: String
  public var step: String
  public var detail: String
  /// The error underneath, when there was one (a ``SQLiteError`` with SQLite's result code, the
  /// PostgreSQL client's error), kept typed; ``detail`` already says it in words.
  public var cause: (any Error)?

  public init(code: Code, path: String, step: String, detail: String, cause: (any Error)? = nil) {
    self.code = code
    self.path = path
    self.step = step
    self.detail = detail
    self.cause = cause
  }

  public var description: String {
    switch code {
    case .notAStateStore, .missing, .badLocation, .schemaVersion, .locked: "state store \(path): \(detail)"
    default: "state store \(path): \(step) failed [\(code)]: \(detail)"
    }
  }
}

/// The job's own state in one SQLite file: each account's performance history, the runs, the
/// delivery journal and idempotency keys. WAL mode; one writer at a time (see the run lock).
///
/// Format 2 keeps the history in business-date order (`PRIMARY KEY (day, account_key)`), so a
/// night's rows are appended together on a few pages, and each account's latest record in the
/// small `latest` table, so a night reads the previous record without touching the history.
/// A format-1 store (history in account order, no `latest`) is converted when first opened.
public final class StateStore {
  public static let formatVersion = "2"
  /// `PRAGMA application_id` of every state store ("EODS"): how a store is told from any other
  /// SQLite file. Stores of earlier versions (format 1 or 2, application_id 0) are recognised by
  /// their tables and stamped when first opened.
  public static let applicationID: Int32 = 0x454F_4453
  public let path: String
  let db: SQLiteConnection
  private var statements: [String: SQLiteStatement] = [:]
  private var hotStatements = [SQLiteStatement?](repeating: nil, count: Hot.allCases.count)
  /// ``save(_:)``'s statements (history, latest) by rows per statement.
  var multiRowStatements: [Int: (history: SQLiteStatement, latest: SQLiteStatement)] = [:]
  private var accountKeys: [String: Int64] = [:]
  /// The state file's device and inode when this connection opened it: checked before and after
  /// every commit, so a store removed or replaced while the job runs (the connection would go
  /// on writing to a file no path reaches) is an error, never a history claimed recorded.
  private var identity: FileIdentity?
  /// Whether this connection holds a read transaction for a night's history reads (see
  /// ``holdReads()``). Only then are the two caches below used: the data cannot change under them.
  private(set) var holdingReads = false
  /// Set by ``beginWrite()`` when it dropped `accounts_by_firm` for a first night's bulk insert;
  /// ``commitWrite()`` builds the index again inside the same transaction.
  private(set) var firmIndexDropped = false
  /// The last `latest` row read (a night reads it twice per account), and the history's dates on
  /// or before a date (the same for every account of a night).
  var latestCache: (key: Int64, record: PerformanceRecord?)?
  var dayCache: [Int: Int?] = [:]

  /// The record columns, shared by `history` and `latest`.
  static let recordSchema = """
    kind INTEGER NOT NULL, value INTEGER NOT NULL, flow INTEGER NOT NULL, flow_in INTEGER NOT NULL,
    daily_return REAL, undefined INTEGER NOT NULL,
    g_month REAL NOT NULL, g_quarter REAL NOT NULL, g_year REAL NOT NULL,
    idx REAL NOT NULL, zeros INTEGER NOT NULL, start_day INTEGER NOT NULL, origin_day INTEGER NOT NULL
    """

  /// `history`: every record, in business-date order. `latest`: each account's record with the
  /// greatest date (a copy kept by every write; present exactly when the account has history).
  static let historySchema = """
    CREATE TABLE IF NOT EXISTS history (
      day INTEGER NOT NULL, account_key INTEGER NOT NULL, \(recordSchema),
      PRIMARY KEY (day, account_key)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS latest (
      account_key INTEGER PRIMARY KEY, day INTEGER NOT NULL, \(recordSchema));
    """

  /// Opens (creating or converting if needed) the store at `path`.
  ///
  /// - Parameter cacheKibibytes: SQLite's page cache for this connection (default 8000 KiB).
  ///   Connections that only read a night's history in key order need little.
  /// Any existing file that is not a state store (see ``identify(path:)``) is refused before
  /// anything is written to it.
  ///
  /// - Parameter createIfMissing: create a new, empty store when no file is at `path`; when
  ///   false, a missing file is an error (code ``StateStoreError/Code/missing``).
  public convenience init(path: String, cacheKibibytes: Int = 8000, createIfMissing: Bool = true)
    throws(StateStoreError)
  {
    try self.init(
      path: path, cacheKibibytes: cacheKibibytes, createIfMissing: createIfMissing, identify: true)
  }

  /// Another connection to the store that `store` has open (a worker thread's), without
  /// ``identify(path:)``: that reads the header through a file descriptor of its own, and closing
  /// it would release every POSIX lock this process holds on the file, the ones SQLite's open
  /// connections rely on (another process closing the store could then checkpoint and delete the
  /// write-ahead log they still write to: SQLite's "how to corrupt a database", section 2.2).
  public convenience init(anotherConnectionTo store: StateStore, cacheKibibytes: Int = 8000)
    throws(StateStoreError)
  {
    try self.init(path: store.path, cacheKibibytes: cacheKibibytes, createIfMissing: false, identify: false)
  }

  private init(path: String, cacheKibibytes: Int, createIfMissing: Bool, identify: Bool)
    throws(StateStoreError)
  {
    self.path = path
    if identify, try StateStore.identify(path: path) == .missing {
      guard createIfMissing else {
        throw StateStoreError(
          code: .missing, path: path, step: "open",
          detail: "no such file (a new store is created only when asked)")
      }
      try StateStore.createWhole(at: path)
      // Whoever made the file now at `path` (this process, or a shard first), it is checked as
      // any existing file is; still missing only where there are no hard links (made in place).
      _ = try StateStore.identify(path: path)
    }
    do {
      db = try SQLiteConnection(path: path, mode: .create)
      // Every statement here can run again with the same effect; other processes (shards) may be
      // opening the store at the same moment.
      try db.executeRetryingBusy(
        """
        PRAGMA journal_mode = WAL;
        PRAGMA synchronous = NORMAL;
        PRAGMA cache_size = -\(max(100, cacheKibibytes));
        PRAGMA foreign_keys = ON;
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS accounts (
          account_key INTEGER PRIMARY KEY, account_id TEXT NOT NULL UNIQUE, firm_id TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS accounts_by_firm ON accounts(firm_id);
        CREATE TABLE IF NOT EXISTS flows (
          account_key INTEGER NOT NULL, day INTEGER NOT NULL, flow INTEGER NOT NULL,
          PRIMARY KEY (account_key, day)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS runs (
          business_date TEXT NOT NULL, firm_id TEXT NOT NULL, run_id TEXT NOT NULL, snapshot TEXT NOT NULL,
          completed_at TEXT NOT NULL, gap_carried INTEGER NOT NULL DEFAULT 0, manifest_sha256 TEXT,
          PRIMARY KEY (business_date, firm_id));
        CREATE TABLE IF NOT EXISTS deliveries (
          firm_id TEXT NOT NULL, business_date TEXT NOT NULL, destination TEXT NOT NULL, file_name TEXT NOT NULL,
          sha256 TEXT NOT NULL, remote_path TEXT NOT NULL, attempts INTEGER NOT NULL, outcome TEXT NOT NULL,
          delivered_at TEXT NOT NULL, run_id TEXT NOT NULL,
          PRIMARY KEY (firm_id, business_date, destination, file_name));
        CREATE TABLE IF NOT EXISTS idempotency (
          key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, created_at INTEGER NOT NULL, result TEXT NOT NULL);
        """)
      let versionQuery = "SELECT value FROM meta WHERE key = 'format_version'"
      let stamp = "PRAGMA application_id = \(StateStore.applicationID);"
      if try db.scalarInt("PRAGMA application_id") != Int64(StateStore.applicationID)
        || db.scalarText(versionQuery) != StateStore.formatVersion
      {
        // Create or convert under the write lock: another connection may be doing the same.
        try db.transaction {
          switch try db.scalarText(versionQuery) {
          case nil:
            try db.execute(
              StateStore.historySchema
                + "INSERT INTO meta(key, value) VALUES ('format_version', '\(StateStore.formatVersion)');"
                + stamp)
          case "1":
            try db.execute(StateStore.migrationFrom1 + stamp)
          case StateStore.formatVersion:
            try db.execute(stamp)
          case let version?:
            throw StateStoreError(
              code: .incompatible, path: path, step: "open",
              detail:
                "state format version \(version) is not supported (expected \(StateStore.formatVersion))")
          }
        }
      }
    } catch let error as StateStoreError {
      throw error
    } catch let error as SQLiteError {
      throw StateStoreError(code: .unavailable, path: path, step: "open", detail: error.message, cause: error)
    } catch {
      throw StateStoreError(code: .unavailable, path: path, step: "open", detail: "\(error)", cause: error)
    }
    identity = FileIdentity(path: path)
    if identity == nil {
      throw StateStoreError(
        code: .unavailable, path: path, step: "open",
        detail: "the state file cannot be found after opening it")
    }
  }

  /// Makes a new store at `path` that no other process can see half made: it is created and set
  /// up under a scratch name beside `path` (`NAME.creating-PID-RANDOM`), closed, then linked to
  /// `path`, which fails if a file appeared there meanwhile (another shard of the night created
  /// the store first: that one is used). Created in place, the file would be empty, then a
  /// SQLite file without the store's tables, for a moment that another process's open would
  /// refuse as "not a state store". A file system without hard links gets the store made in place.
  static func createWhole(at path: String) throws(StateStoreError) {
    let scratch = "\(path).creating-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    func removeScratch() {
      for suffix in ["", "-wal", "-shm", "-journal"] { unlink(scratch + suffix) }
    }
    defer { removeScratch() }
    do {
      // The scratch store is closed (checkpointed, its write-ahead log removed) before the link.
      _ = try StateStore(path: scratch, cacheKibibytes: 100, createIfMissing: true, identify: false)
    } catch {
      throw StateStoreError(
        code: error.code, path: path, step: "create",
        detail: "making the new store as \(scratch) failed: \(error.detail)", cause: error.cause ?? error)
    }
    if link(scratch, path) == 0 { return }
    let code = errno
    switch code {
    case EEXIST:
      return  // another process created the store first; the caller opens (and identifies) it
    case EPERM, EOPNOTSUPP, ENOSYS, EXDEV:
      return  // no hard links here: the caller creates the store in place, as before
    default:
      throw StateStoreError(
        code: .unavailable, path: path, step: "create",
        detail: "linking the new store from \(scratch) failed: \(String(cString: strerror(code)))")
    }
  }

  /// Throws when the file at ``path`` is no longer the file this connection opened (removed,
  /// its directory removed, or replaced by another file).
  public func checkIdentity(_ step: String) throws(StateStoreError) {
    guard let identity else { return }
    guard let now = FileIdentity(path: path) else {
      throw StateStoreError(
        code: .unavailable, path: path, step: step,
        detail: "the state file (or its directory) was removed while the job ran: nothing written is kept")
    }
    if now != identity {
      throw StateStoreError(
        code: .unavailable, path: path, step: step,
        detail: "the state file was replaced by another file while the job ran: nothing written is kept")
    }
  }

  /// What is at a path given as a state store.
  public enum Identity: Equatable, Sendable {
    /// No file: a new store would be created.
    case missing
    /// A state store (stamped, or an earlier version's recognised by its tables).
    case stateStore
  }

  /// The tables every state store of format 1 or 2 has.
  static let ownTables: Set<String> = ["meta", "accounts", "history", "flows", "runs"]

  /// Tells a state store from any other file without writing to it: the SQLite header's
  /// application_id, or (for stores made before it was set) the tables and the format version.
  /// Anything else throws ``StateStoreError/Code/notAStateStore`` naming what was found.
  public static func identify(path: String) throws(StateStoreError) -> Identity {
    func refuse(_ detail: String) -> StateStoreError {
      StateStoreError(
        code: .notAStateStore, path: path, step: "open",
        detail: "\(detail); refused, the file is left as it is (give the state store's own file)")
    }
    var info = stat()
    if lstat(path, &info) != 0 {
      if errno == ENOENT { return .missing }
      throw StateStoreError(
        code: .unavailable, path: path, step: "open", detail: String(cString: strerror(errno)))
    }
    if (info.st_mode & S_IFMT) == S_IFDIR { throw refuse("is a directory, not a state store file") }
    guard let file = fopen(path, "rb") else {
      throw StateStoreError(
        code: .unavailable, path: path, step: "open", detail: String(cString: strerror(errno)))
    }
    var header = [UInt8](repeating: 0, count: 100)
    let count = fread(&header, 1, 100, file)
    fclose(file)
    if count == 0 { throw refuse("is an empty file, not a state store") }
    guard count == 100, header.starts(with: Array("SQLite format 3\0".utf8)) else {
      throw refuse("is not a SQLite file, so not a state store")
    }
    let application = header[68..<72].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    if Int32(bitPattern: application) == applicationID { return .stateStore }
    if application != 0 {
      throw refuse(
        "is a SQLite file of another application (application_id \(application)), not a state store")
    }
    // No application_id: a store of an earlier version, or some other SQLite file.
    let tables: Set<String>
    let version: String?
    do {
      let db = try SQLiteConnection(path: path, mode: .readOnly)
      let list = try db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
      var names: Set<String> = []
      while try list.step() { names.insert(list.text(0) ?? "") }
      tables = names
      version =
        names.contains("meta")
        ? try db.scalarText("SELECT value FROM meta WHERE key = 'format_version'") : nil
    } catch {
      throw refuse("cannot be read as SQLite (\(error))")
    }
    guard ownTables.isSubset(of: tables), let version, ["1", "2"].contains(version) else {
      let shown = tables.sorted().prefix(6).joined(separator: ", ")
      throw refuse(
        tables.isEmpty
          ? "is a SQLite file with no tables, not a state store"
          : "is a SQLite file with other tables (\(shown)\(tables.count > 6 ? ", ..." : "")), not a state store"
      )
    }
    return .stateStore
  }

  /// Format 1 kept the history in account order and had no `latest`: copy the history into date
  /// order and fill `latest` from it (once, when a format-1 store is first opened).
  static let migrationFrom1 = """
    ALTER TABLE history RENAME TO history_format1;
    \(historySchema)
    INSERT INTO history(day, account_key, \(recordValueColumns))
      SELECT day, account_key, \(recordValueColumns) FROM history_format1 ORDER BY day, account_key;
    INSERT INTO latest(account_key, day, \(recordValueColumns))
      SELECT account_key, day, \(recordValueColumns) FROM history_format1 h
      WHERE day = (SELECT MAX(day) FROM history_format1 WHERE account_key = h.account_key);
    DROP TABLE history_format1;
    UPDATE meta SET value = '2' WHERE key = 'format_version';
    """

  func wrap<T>(_ step: String, _ body: () throws -> T) throws(StateStoreError) -> T {
    do {
      return try body()
    } catch let error as StateStoreError {
      throw error
    } catch let error as SQLiteError {
      throw StateStoreError(code: .unavailable, path: path, step: step, detail: error.message, cause: error)
    } catch {
      throw StateStoreError(code: .unavailable, path: path, step: step, detail: "\(error)", cause: error)
    }
  }

  func statement(_ sql: String) throws -> SQLiteStatement {
    if let cached = statements[sql] { return cached }
    let prepared = try db.prepare(sql)
    statements[sql] = prepared
    return prepared
  }

  /// Statements a night runs once per account, found by slot: no SQL text is built or hashed
  /// per call.
  enum Hot: Int, CaseIterable {
    case accountFind, accountInsert, flowUpsert, flowDelete, latestSelect
    case recordAt, flowsBetween, dayOnOrBefore

    var sql: String {
      switch self {
      case .accountFind: return "SELECT account_key FROM accounts WHERE account_id = ?"
      case .accountInsert: return "INSERT OR IGNORE INTO accounts(account_id, firm_id) VALUES (?, ?)"
      case .flowUpsert: return "INSERT OR REPLACE INTO flows(account_key, day, flow) VALUES (?,?,?)"
      case .flowDelete: return "DELETE FROM flows WHERE account_key = ? AND day = ?"
      case .latestSelect: return "SELECT \(StateStore.recordColumns) FROM latest WHERE account_key = ?"
      case .recordAt:
        return "SELECT \(StateStore.recordColumns) FROM history WHERE day = ? AND account_key = ?"
      case .flowsBetween:
        return "SELECT day, flow FROM flows WHERE account_key = ? AND day >= ? AND day < ? ORDER BY day"
      case .dayOnOrBefore: return "SELECT day FROM history WHERE day <= ? ORDER BY day DESC LIMIT 1"
      }
    }
  }

  func statement(_ slot: Hot) throws -> SQLiteStatement {
    if let prepared = hotStatements[slot.rawValue] { return prepared }
    let prepared = try statement(slot.sql)
    hotStatements[slot.rawValue] = prepared
    return prepared
  }

  /// Runs `body` in one transaction: all of a date's writes land together or not at all.
  public func transaction<T>(_ step: String, _ body: () throws -> T) throws(StateStoreError) -> T {
    releaseReads()
    let result = try wrap(step) {
      try db.transaction { () throws -> T in
        let result = try body()
        try checkIdentity(step + " (before commit)")
        return result
      }
    }
    try checkIdentity(step + " (after commit)")
    return result
  }

  /// Runs `body` in a savepoint of the write transaction of ``beginWrite()``: its writes are kept
  /// when it returns and undone when it throws (errors as ``transaction(_:_:)`` gives them). One
  /// firm's history within the night's transaction.
  public func savepoint<T>(_ step: String, _ body: () throws -> T) throws(StateStoreError) -> T {
    releaseReads()
    return try wrap(step) {
      try db.execute("SAVEPOINT step")
      do {
        let result = try body()
        try checkIdentity(step + " (before commit)")
        try db.execute("RELEASE step")
        return result
      } catch {
        try? db.execute("ROLLBACK TO step")
        try? db.execute("RELEASE step")
        throw error
      }
    }
  }

  /// Opens a write transaction that stays open across calls (the run's history writer: see
  /// ``commitWrite()`` and ``rollbackWrite()``). Other connections still read the last committed
  /// state; another writer waits (then fails) until it ends.
  ///
  /// When the store has no account yet (a first night, or a store just created for a backfill),
  /// the transaction drops the `accounts_by_firm` index and ``commitWrite()`` builds it again
  /// before it commits: every account of the night is new then, and the accounts of all firms
  /// interleave in a snapshot, so inserting them one by one touched one leaf page of the index
  /// per firm, hundreds of them cold in the cache at 999 firms; one `CREATE INDEX` sorts them
  /// instead. Both are inside the transaction: a rollback (or a crash) keeps the index, and no
  /// other connection ever sees the store without it. Nothing of a night reads accounts by firm
  /// before the commit when the store had none.
  public func beginWrite() throws(StateStoreError) {
    releaseReads()
    firmIndexDropped = false
    try wrap("begin write") { try db.execute("BEGIN IMMEDIATE") }
    do throws(StateStoreError) {
      try wrap("begin write: a first night's accounts_by_firm") {
        if try db.scalarInt("SELECT 1 FROM accounts LIMIT 1") == nil {
          try db.execute("DROP INDEX IF EXISTS accounts_by_firm")
          firmIndexDropped = true
        }
      }
    } catch {
      // A begin that fails leaves no transaction behind, as before.
      rollbackWrite()
      throw error
    }
  }

  /// Commits the transaction of ``beginWrite()`` (building `accounts_by_firm` first when it
  /// dropped it).
  public func commitWrite() throws(StateStoreError) {
    try checkIdentity("commit")
    if firmIndexDropped {
      try wrap("build the accounts_by_firm index") {
        try StateStore.buildFirmIndex { sql in try db.execute(sql) }
      }
      firmIndexDropped = false
    }
    try wrap("commit") { try db.execute("COMMIT") }
    try checkIdentity("after commit")
  }

  /// Builds `accounts_by_firm` through `execute`. SQLite sorts the index in temporary files
  /// (memory bounded by the cache size; the files in `SQLITE_TMPDIR`, `TMPDIR`, `/var/tmp`,
  /// `/usr/tmp` or `/tmp`, the first writable, removed when done: about 25 MB a million
  /// accounts). Where no temporary file can be made, it sorts in memory instead (about 60 MB a
  /// million accounts) rather than fail the night's commit, then goes back to files.
  static func buildFirmIndex(_ execute: (String) throws -> Void) throws {
    let create = "CREATE INDEX IF NOT EXISTS accounts_by_firm ON accounts(firm_id)"
    do {
      try execute(create)
    } catch {
      try execute("PRAGMA temp_store = MEMORY")
      defer { try? execute("PRAGMA temp_store = DEFAULT") }
      try execute(create)
    }
  }

  /// Rolls back the transaction of ``beginWrite()``, if one is still open (which keeps the
  /// `accounts_by_firm` index: its drop is rolled back with the rest).
  public func rollbackWrite() {
    firmIndexDropped = false
    if !db.isAutocommit { try? db.execute("ROLLBACK") }
  }

  /// Whether a transaction is open on this connection (SQLite ends one on its own after some
  /// errors, such as a full disk).
  public var inTransaction: Bool { !db.isAutocommit }

  /// Keeps one read transaction open for the history reads of a night (SQLite then takes its
  /// locks once instead of once per statement). The next write, transaction or checkpoint on
  /// this connection ends it first; it does nothing inside a transaction.
  public func holdReads() throws(StateStoreError) {
    guard !holdingReads, db.isAutocommit else { return }
    try wrap("read history") { try db.execute("BEGIN DEFERRED") }
    forgetReads()
    holdingReads = true
  }

  /// Ends the read transaction of ``holdReads()``, if one is open.
  public func releaseReads() {
    guard holdingReads else { return }
    holdingReads = false
    forgetReads()
    if !db.isAutocommit { try? db.execute("COMMIT") }
  }

  /// Drops what was cached from reads of the history.
  func forgetReads() {
    latestCache = nil
    dayCache.removeAll(keepingCapacity: true)
  }

  /// Folds the write-ahead log back into the database file and truncates it. Called when a run's
  /// workers are done, so the log cannot grow across a long backfill.
  ///
  /// - Parameter passive: copy what it can without waiting for other connections and without
  ///   truncating (the shards of a night share the store: a truncating checkpoint would wait for
  ///   every other shard's readers and block their writers meanwhile).
  public func checkpoint(passive: Bool = false) throws(StateStoreError) {
    releaseReads()
    try wrap("checkpoint") { try db.execute("PRAGMA wal_checkpoint(\(passive ? "PASSIVE" : "TRUNCATE"))") }
  }

  // MARK: Accounts

  /// The store's key for an account, created on first use.
  ///
  /// - Parameter remember: keep the key in this connection's cache (off when every account of a
  ///   large book is looked up once: the cache would hold them all).
  public func accountKey(_ accountID: String, firmID: String, remember: Bool = true) throws(StateStoreError)
    -> Int64
  {
    if let key = accountKeys[accountID] { return key }
    releaseReads()
    let key: Int64 = try wrap("account key") {
      // A new account (the usual case here: known ones were cached by the night's reads) costs
      // one statement; an existing one falls through to the look-up.
      try statement(.accountInsert).run([
        .text(accountID), .text(firmID),
      ])
      if db.changes > 0 { return db.lastInsertRowID }
      let find = try statement(.accountFind)
      defer { find.reset() }
      try find.bind([.text(accountID)])
      guard try find.step() else {
        throw StateStoreError(
          code: .unavailable, path: path, step: "account key",
          detail: "account \(accountID) could not be added")
      }
      return find.int64(0)
    }
    if remember { accountKeys[accountID] = key }
    return key
  }

  /// An existing account's key, or nil.
  ///
  /// - Parameter remember: keep a found key in this connection's cache.
  public func existingAccountKey(_ accountID: String, remember: Bool = true) throws(StateStoreError) -> Int64?
  {
    if let key = accountKeys[accountID] { return key }
    let found: Int64? = try wrap("account key") {
      let find = try statement(.accountFind)
      defer { find.reset() }
      try find.bind([.text(accountID)])
      return try find.step() ? find.int64(0) : nil
    }
    if remember, let found { accountKeys[accountID] = found }
    return found
  }
}

// MARK: Money as integer cents

extension Money {
  /// Whole cents, for storage (every state store keeps money so); nil beyond 64 bits.
  public var cents: Int64? {
    let rounded = self.rounded(places: 2)
    guard let value = Int64(exactly: rounded.significand) else { return nil }
    return value
  }

  public init(cents: Int64) { self.init(significand: Int128(cents), scale: 2) }
}

/// A file's device and inode (by path, following symlinks as SQLite does).
struct FileIdentity: Equatable {
  let device: UInt64
  let inode: UInt64

  init?(path: String) {
    guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
      let device = (attributes[.systemNumber] as? NSNumber)?.uint64Value,
      let inode = (attributes[.systemFileNumber] as? NSNumber)?.uint64Value
    else { return nil }
    self.device = device
    self.inode = inode
  }
}
