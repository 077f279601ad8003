// Every call into libsqlite3 made by this module lives in this file.
import CSQLite

// SQLITE_TRANSIENT: ask SQLite to copy bound text before the call returns.
private let transientDestructor = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

enum SQLiteC {
  typealias DB = OpaquePointer
  typealias Stmt = OpaquePointer

  static let ok = SQLITE_OK
  static let row = SQLITE_ROW
  static let done = SQLITE_DONE
  static let busy = SQLITE_BUSY
  static let null = SQLITE_NULL
  static let text = SQLITE3_TEXT
  static let integer = SQLITE_INTEGER
  static let float = SQLITE_FLOAT

  /// Process-wide settings, applied once before the first connection: no memory statistics
  /// (they cost a global mutex on every allocation, and every thread here has its own connection).
  private static let configured: Bool = {
    _ = eod_sqlite3_disable_memstatus()
    return true
  }()

  static func open(_ path: String, readOnly: Bool, create: Bool) -> (DB?, Int32) {
    _ = configured
    var db: DB?
    var flags = readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE
    if create && !readOnly { flags |= SQLITE_OPEN_CREATE }
    flags |= SQLITE_OPEN_NOMUTEX
    let rc = sqlite3_open_v2(path, &db, flags, nil)
    return (db, rc)
  }

  static func close(_ db: DB) { sqlite3_close_v2(db) }

  static func errorMessage(_ db: DB?) -> String {
    guard let db, let message = sqlite3_errmsg(db) else { return "unknown error" }
    return String(cString: message)
  }

  static func errorString(_ code: Int32) -> String {
    guard let message = sqlite3_errstr(code) else { return "error \(code)" }
    return String(cString: message)
  }

  static func exec(_ db: DB, _ sql: String) -> Int32 { sqlite3_exec(db, sql, nil, nil, nil) }

  /// Reads `count` bytes at `offset` of the main database file through the connection's own file
  /// handle (no descriptor of ours is opened or closed: closing one would drop the process's
  /// POSIX locks on the file). Nil when the file is shorter or cannot be read.
  static func readMainFile(_ db: DB, count: Int, offset: Int64) -> [UInt8]? {
    var pointer: UnsafeMutableRawPointer?
    guard sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &pointer) == SQLITE_OK,
      let file = pointer?.assumingMemoryBound(to: sqlite3_file.self), let methods = file.pointee.pMethods,
      let read = methods.pointee.xRead
    else { return nil }
    var bytes = [UInt8](repeating: 0, count: count)
    let rc = bytes.withUnsafeMutableBytes { read(file, $0.baseAddress, Int32(count), offset) }
    return rc == SQLITE_OK ? bytes : nil
  }

  static func busyTimeout(_ db: DB, milliseconds: Int32) { sqlite3_busy_timeout(db, milliseconds) }
  static func sleep(milliseconds: Int32) { _ = sqlite3_sleep(milliseconds) }

  static func isAutocommit(_ db: DB) -> Bool { sqlite3_get_autocommit(db) != 0 }

  static func prepare(_ db: DB, _ sql: String) -> (Stmt?, Int32) {
    var stmt: Stmt?
    let rc = sqlite3_prepare_v2(db, sql, -1, &stmt, nil)
    return (stmt, rc)
  }

  static func finalize(_ stmt: Stmt) { sqlite3_finalize(stmt) }
  static func step(_ stmt: Stmt) -> Int32 { sqlite3_step(stmt) }
  static func reset(_ stmt: Stmt) { sqlite3_reset(stmt) }
  static func clearBindings(_ stmt: Stmt) { sqlite3_clear_bindings(stmt) }
  static func changes(_ db: DB) -> Int { Int(sqlite3_changes(db)) }
  static func lastInsertRowID(_ db: DB) -> Int64 { sqlite3_last_insert_rowid(db) }

  static func bindNull(_ stmt: Stmt, _ index: Int32) -> Int32 { sqlite3_bind_null(stmt, index) }
  static func bindInt64(_ stmt: Stmt, _ index: Int32, _ value: Int64) -> Int32 {
    sqlite3_bind_int64(stmt, index, value)
  }
  static func bindDouble(_ stmt: Stmt, _ index: Int32, _ value: Double) -> Int32 {
    sqlite3_bind_double(stmt, index, value)
  }
  static func bindText(_ stmt: Stmt, _ index: Int32, _ value: String) -> Int32 {
    sqlite3_bind_text(stmt, index, value, -1, transientDestructor)
  }
  static func bindBlob(_ stmt: Stmt, _ index: Int32, _ value: [UInt8]) -> Int32 {
    value.withUnsafeBytes { raw in
      sqlite3_bind_blob(stmt, index, raw.baseAddress, Int32(raw.count), transientDestructor)
    }
  }

  static func columnCount(_ stmt: Stmt) -> Int32 { sqlite3_column_count(stmt) }
  static func columnName(_ stmt: Stmt, _ index: Int32) -> String {
    guard let name = sqlite3_column_name(stmt, index) else { return "" }
    return String(cString: name)
  }
  static func columnType(_ stmt: Stmt, _ index: Int32) -> Int32 { sqlite3_column_type(stmt, index) }
  static func columnInt64(_ stmt: Stmt, _ index: Int32) -> Int64 { sqlite3_column_int64(stmt, index) }
  static func columnDouble(_ stmt: Stmt, _ index: Int32) -> Double { sqlite3_column_double(stmt, index) }
  /// The column's bytes as UTF-8 text, valid until the next step, reset or finalize.
  static func columnTextBytes(_ stmt: Stmt, _ index: Int32) -> UnsafeBufferPointer<UInt8>? {
    guard let pointer = sqlite3_column_text(stmt, index) else { return nil }
    let count = Int(sqlite3_column_bytes(stmt, index))
    return UnsafeBufferPointer(start: pointer, count: count)
  }
  static func columnBlob(_ stmt: Stmt, _ index: Int32) -> [UInt8] {
    let count = Int(sqlite3_column_bytes(stmt, index))
    guard count > 0, let pointer = sqlite3_column_blob(stmt, index) else { return [] }
    return Array(UnsafeRawBufferPointer(start: pointer, count: count))
  }
}

/// A scalar SQL function of one argument, implemented in Swift over the argument's UTF-8 bytes.
final class ScalarFunctionBox {
  let body: (UnsafeBufferPointer<UInt8>?) -> Int64
  init(_ body: @escaping (UnsafeBufferPointer<UInt8>?) -> Int64) { self.body = body }
}

extension SQLiteC {
  static func createFunction(_ db: DB, name: String, box: ScalarFunctionBox) -> Int32 {
    let context = Unmanaged.passRetained(box).toOpaque()
    return sqlite3_create_function_v2(
      db, name, 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, context,
      { context, count, values in
        guard let context, count == 1, let values, let value = values[0],
          let box = sqlite3_user_data(context).map({
            Unmanaged<ScalarFunctionBox>.fromOpaque($0).takeUnretainedValue()
          })
        else { return }
        if sqlite3_value_type(value) == SQLITE_NULL {
          sqlite3_result_int64(context, box.body(nil))
          return
        }
        let pointer = sqlite3_value_text(value)
        let length = Int(sqlite3_value_bytes(value))
        sqlite3_result_int64(context, box.body(UnsafeBufferPointer(start: pointer, count: length)))
      }, nil, nil,
      { context in
        if let context { Unmanaged<ScalarFunctionBox>.fromOpaque(context).release() }
      })
  }
}
