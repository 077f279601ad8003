/// A typed SQLite error: what failed, on which database file, and SQLite's own words.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
  /// SQLite's primary result code.
  public var code: Int32
  /// SQLite's message for the failure.
  public var message: String
  /// The database file.
  public var path: String
  /// The statement being run, when there is one.
  public var sql: String?

  public var description: String {
    var text = "SQLite error \(code) on \(path): \(message)"
    if let sql { text += " (in: \(sql.prefix(120)))" }
    return text
  }
}

/// A value to bind to a statement parameter.
public enum SQLiteValue: Sendable, Equatable {
  case null
  case integer(Int64)
  case real(Double)
  case text(String)
  case blob([UInt8])
}

/// One connection to a SQLite database file. Owns the C handle and closes it in deinit.
/// Not safe for concurrent use: give each thread its own connection.
public final class SQLiteConnection {
  public enum Mode: Sendable { case readOnly, readWrite, create }

  let handle: SQLiteC.DB
  /// The database file this connection opened.
  public let path: String

  public init(path: String, mode: Mode) throws(SQLiteError) {
    let (db, rc) = SQLiteC.open(path, readOnly: mode == .readOnly, create: mode == .create)
    guard rc == SQLiteC.ok, let db else {
      let message = db.map { SQLiteC.errorMessage($0) } ?? SQLiteC.errorString(rc)
      if let db { SQLiteC.close(db) }
      throw SQLiteError(code: rc, message: message, path: path, sql: nil)
    }
    self.handle = db
    self.path = path
    SQLiteC.busyTimeout(db, milliseconds: 60_000)
  }

  deinit { SQLiteC.close(handle) }

  func error(_ rc: Int32, sql: String?) -> SQLiteError {
    SQLiteError(code: rc, message: SQLiteC.errorMessage(handle), path: path, sql: sql)
  }

  /// Runs one or more statements that return no rows.
  public func execute(_ sql: String) throws(SQLiteError) {
    let rc = SQLiteC.exec(handle, sql)
    guard rc == SQLiteC.ok else { throw error(rc, sql: sql) }
  }

  /// Runs statements that may run again with the same effect (PRAGMAs, `CREATE ... IF NOT
  /// EXISTS`), again after a short pause while SQLite answers `SQLITE_BUSY`, for up to `seconds`.
  /// The busy timeout covers waiting for a lock, not every contention: a connection switching a
  /// new file to WAL while another connection of any process is at the same step is answered
  /// "database is locked" at once (two shards of a night creating their state store together).
  public func executeRetryingBusy(_ sql: String, seconds: Int = 60) throws(SQLiteError) {
    let limit = Int32(clamping: min(seconds, 86_400) * 1000)
    var waited: Int32 = 0
    var pause: Int32 = 2
    while true {
      let rc = SQLiteC.exec(handle, sql)
      if rc == SQLiteC.ok { return }
      guard rc & 0xff == SQLiteC.busy, waited < limit else { throw error(rc, sql: sql) }
      SQLiteC.sleep(milliseconds: pause)
      waited += pause
      pause = min(pause * 2, 50)
    }
  }

  /// Prepares a statement for repeated use.
  public func prepare(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
    let (stmt, rc) = SQLiteC.prepare(handle, sql)
    guard rc == SQLiteC.ok, let stmt else { throw error(rc, sql: sql) }
    return SQLiteStatement(connection: self, handle: stmt, sql: sql)
  }

  /// Registers a deterministic SQL function of one argument, computed by `body` from the
  /// argument's UTF-8 bytes (nil for NULL).
  public func registerFunction(
    _ name: String, _ body: @escaping (UnsafeBufferPointer<UInt8>?) -> Int64
  ) throws(SQLiteError) {
    let rc = SQLiteC.createFunction(handle, name: name, box: ScalarFunctionBox(body))
    guard rc == SQLiteC.ok else { throw error(rc, sql: nil) }
  }

  /// `count` bytes at `offset` of the database file, read through the connection's own file
  /// handle (e.g. the header); nil when the file is shorter or cannot be read.
  public func readFileBytes(count: Int, offset: Int64 = 0) -> [UInt8]? {
    SQLiteC.readMainFile(handle, count: count, offset: offset)
  }

  /// Rows changed by the last statement.
  public var changes: Int { SQLiteC.changes(handle) }

  public var lastInsertRowID: Int64 { SQLiteC.lastInsertRowID(handle) }

  /// Whether no transaction is open (every statement commits on its own).
  public var isAutocommit: Bool { SQLiteC.isAutocommit(handle) }

  /// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`, rolling back if it throws.
  public func transaction<T>(_ body: () throws -> T) throws -> T {
    try execute("BEGIN IMMEDIATE")
    do {
      let result = try body()
      try execute("COMMIT")
      return result
    } catch {
      try? execute("ROLLBACK")
      throw error
    }
  }

  /// Runs a query and returns the first column of the first row as text, if any.
  public func scalarText(_ sql: String, _ bindings: [SQLiteValue] = []) throws(SQLiteError) -> String? {
    let statement = try prepare(sql)
    try statement.bind(bindings)
    guard try statement.step() else { return nil }
    return statement.text(0)
  }

  /// Runs a query and returns the first column of the first row as an integer, if any.
  public func scalarInt(_ sql: String, _ bindings: [SQLiteValue] = []) throws(SQLiteError) -> Int64? {
    let statement = try prepare(sql)
    try statement.bind(bindings)
    guard try statement.step(), !statement.isNull(0) else { return nil }
    return statement.int64(0)
  }
}

/// How SQLite stores a value (its type in that row, whatever the column's declared type).
public enum SQLiteStorageClass: Sendable {
  case null, integer, real, text, blob
}

/// A prepared statement: a cursor over its rows. Finalized in deinit.
public final class SQLiteStatement {
  let connection: SQLiteConnection
  let handle: SQLiteC.Stmt
  /// The statement's SQL text.
  public let sql: String

  init(connection: SQLiteConnection, handle: SQLiteC.Stmt, sql: String) {
    self.connection = connection
    self.handle = handle
    self.sql = sql
  }

  deinit { SQLiteC.finalize(handle) }

  /// Resets the statement and binds parameters 1…n.
  public func bind(_ values: [SQLiteValue]) throws(SQLiteError) {
    SQLiteC.reset(handle)
    SQLiteC.clearBindings(handle)
    for (offset, value) in values.enumerated() {
      let index = offset + 1
      switch value {
      case .null: try bind(nil, at: index)
      case .integer(let v): try bind(v, at: index)
      case .real(let v): try bind(v, at: index)
      case .text(let v): try check(SQLiteC.bindText(handle, Int32(index), v))
      case .blob(let v): try check(SQLiteC.bindBlob(handle, Int32(index), v))
      }
    }
  }

  private func check(_ rc: Int32) throws(SQLiteError) {
    guard rc == SQLiteC.ok else { throw connection.error(rc, sql: sql) }
  }

  /// Resets the statement for new bindings (the previous ones are kept until replaced).
  public func prepareForBinding() { SQLiteC.reset(handle) }

  /// Binds one parameter (1-based), for statements bound value by value (many rows per
  /// statement) without building an array of values.
  public func bind(_ value: Int64, at index: Int) throws(SQLiteError) {
    try check(SQLiteC.bindInt64(handle, Int32(index), value))
  }

  /// Binds one parameter (1-based); nil binds NULL.
  public func bind(_ value: Double?, at index: Int) throws(SQLiteError) {
    try check(
      value.map { SQLiteC.bindDouble(handle, Int32(index), $0) } ?? SQLiteC.bindNull(handle, Int32(index)))
  }

  /// Advances to the next row; false when there are no more.
  public func step() throws(SQLiteError) -> Bool {
    let rc = SQLiteC.step(handle)
    if rc == SQLiteC.row { return true }
    if rc == SQLiteC.done { return false }
    throw connection.error(rc, sql: sql)
  }

  /// Binds and runs a statement that returns no rows.
  public func run(_ values: [SQLiteValue] = []) throws(SQLiteError) {
    try bind(values)
    while try step() {}
  }

  public func reset() { SQLiteC.reset(handle) }

  public var columnCount: Int { Int(SQLiteC.columnCount(handle)) }
  public func columnName(_ index: Int) -> String { SQLiteC.columnName(handle, Int32(index)) }
  public func isNull(_ index: Int) -> Bool { SQLiteC.columnType(handle, Int32(index)) == SQLiteC.null }
  public func int64(_ index: Int) -> Int64 { SQLiteC.columnInt64(handle, Int32(index)) }
  public func double(_ index: Int) -> Double { SQLiteC.columnDouble(handle, Int32(index)) }
  public func blob(_ index: Int) -> [UInt8] { SQLiteC.columnBlob(handle, Int32(index)) }

  /// The storage class of the column's value in the current row.
  public func storageClass(_ index: Int) -> SQLiteStorageClass {
    switch SQLiteC.columnType(handle, Int32(index)) {
    case SQLiteC.null: return .null
    case SQLiteC.text: return .text
    case SQLiteC.integer: return .integer
    case SQLiteC.float: return .real
    default: return .blob
    }
  }

  /// The column as text, or nil when NULL. (SQLite gives a text pointer for every value but NULL
  /// and an empty blob, as before a separate type check: none is made, here or below.)
  public func text(_ index: Int) -> String? {
    guard let bytes = SQLiteC.columnTextBytes(handle, Int32(index)) else { return nil }
    return String(decoding: bytes, as: UTF8.self)
  }

  /// Compares the column's text with `other` byte by byte, as SQLite's BINARY collation orders
  /// text: negative, zero or positive; nil when the column is NULL. No String is made.
  public func compareText(_ index: Int, _ other: [UInt8]) -> Int? {
    guard let bytes = SQLiteC.columnTextBytes(handle, Int32(index)) else { return nil }
    return other.withUnsafeBufferPointer { theirs in
      for offset in 0..<min(bytes.count, theirs.count) where bytes[offset] != theirs[offset] {
        return Int(bytes[offset]) - Int(theirs[offset])
      }
      return bytes.count - theirs.count
    }
  }

  /// Calls `body` with the column's UTF-8 bytes (nil when NULL) without copying them.
  public func withTextBytes<T>(_ index: Int, _ body: (UnsafeBufferPointer<UInt8>?) throws -> T) rethrows -> T
  {
    try body(SQLiteC.columnTextBytes(handle, Int32(index)))
  }
}
