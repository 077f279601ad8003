import EODSQLite
import EODSnapshotGen
import Foundation
import Testing

@testable import EODSnapshot

/// The snapshot's integrity (issue 11): declared keys unique, every row's firm, client and account
/// present, text valid UTF-8, the file a regular file, unchanged while read, and never written.
@Suite struct SnapshotIntegrityTests {
  func snapshot(_ name: String) throws -> String {
    try freshSnapshot(
      "integrity-\(name)", GeneratorOptions(days: 1, firms: 3, accounts: 40, instruments: 40, edge: true))
  }

  /// `CREATE TABLE AS SELECT` keeps the rows and drops the key: SQLite no longer enforces it.
  func dropKey(_ db: SQLiteConnection, _ table: String) throws {
    try db.execute(
      "CREATE TABLE t2 AS SELECT * FROM \(table); DROP TABLE \(table); ALTER TABLE t2 RENAME TO \(table)")
  }

  func refusal(_ body: () throws -> Void) -> SnapshotError? {
    do {
      try body()
      return nil
    } catch let error as SnapshotError {
      return error
    } catch {
      Issue.record("not a SnapshotError: \(error)")
      return nil
    }
  }

  @Test func aSnapshotInfoKeyTwiceIsRefusedNotFirstWins() throws {
    let path = try snapshot("info-twice")
    let db = try SQLiteConnection(path: path, mode: .readWrite)
    try dropKey(db, "snapshot_info")
    try db.execute("INSERT INTO snapshot_info VALUES ('business_date', '2026-10-02')")
    let error = try #require(refusal { _ = try SnapshotReader(path: path) })
    #expect(error.code == .duplicateKey)
    #expect(error.table == "snapshot_info" && error.rowKey == "business_date" && error.column == "key")
  }

  /// Every table rebuilt without its key, one row repeated: the full check refuses it, naming the
  /// table, the key and its columns.
  @Test(arguments: [
    ("firms", "firm_id"), ("clients", "client_id"), ("accounts", "account_id"),
    ("instruments", "instrument_id"), ("prices", "instrument_id,price_date"),
    ("fx_rates", "rate_date,base_currency,quote_currency"), ("positions", "account_id,instrument_id"),
    ("cash_balances", "account_id,currency"), ("transactions", "transaction_id"),
  ])
  func aRepeatedKeyIsRefused(table: String, columns: String) throws {
    let path = try snapshot("twice-\(table)")
    let db = try SQLiteConnection(path: path, mode: .readWrite)
    try dropKey(db, table)
    try db.execute("INSERT INTO \(table) SELECT * FROM \(table) WHERE rowid = 3")
    let error = try #require(refusal { try SnapshotReader(path: path).validate() })
    #expect(error.code == .duplicateKey, "\(error)")
    #expect(error.table == table && error.column == columns, "\(error)")
    #expect(error.description.contains("appears in more than one row"), "\(error)")
  }

  /// A pass over every row finds a repeated position or cash balance itself (the rows come in key
  /// order), instead of counting it twice.
  @Test(arguments: ["positions", "cash_balances"])
  func thePassRefusesARepeatedRow(table: String) throws {
    let path = try snapshot("pass-twice-\(table)")
    let db = try SQLiteConnection(path: path, mode: .readWrite)
    try dropKey(db, table)
    try db.execute("INSERT INTO \(table) SELECT * FROM \(table) WHERE rowid = 9")
    let reader = try SnapshotReader(path: path)
    let error = try #require(
      refusal {
        let cursor = try reader.accounts(ofFirms: nil)
        while try cursor.next() != nil {}
      })
    #expect(error.code == .duplicateKey && error.table == table, "\(error)")
  }

  @Test func aFirmTwiceIsRefusedWhenTheFirmsAreRead() throws {
    let path = try snapshot("firm-twice")
    let db = try SQLiteConnection(path: path, mode: .readWrite)
    try dropKey(db, "firms")
    try db.execute("INSERT INTO firms SELECT * FROM firms WHERE firm_id = 'FIRM002'")
    let error = try #require(refusal { _ = try SnapshotReader(path: path).firms() })
    #expect(error.code == .duplicateKey && error.table == "firms" && error.rowKey == "FIRM002")
  }

  /// A key SQLite enforces (a unique index) is not checked again: `enforcesKey` reads the indexes.
  @Test func anEnforcedKeyIsKnownFromTheIndexes() throws {
    let path = try snapshot("enforced")
    let db = try SQLiteConnection(path: path, mode: .readWrite)
    let positions = try #require(SnapshotSchema.table("positions"))
    // Each reader is released before the file is edited (it holds a read lock while it lives).
    func enforced(_ table: SnapshotSchema.Table) throws -> Bool {
      try SnapshotReader(path: path).enforcesKey(table)
    }
    for table in SnapshotSchema.tables { #expect(try enforced(table), "\(table.name)") }
    try dropKey(db, "positions")
    try db.execute(
      "CREATE UNIQUE INDEX p_partial ON positions(account_id, instrument_id) WHERE quantity > '0'")
    #expect(try !enforced(positions))
    try db.execute("CREATE UNIQUE INDEX p_key ON positions(instrument_id, account_id)")
    #expect(try enforced(positions))
  }

  /// Rows naming a firm, client or account the snapshot lacks are refused (the 1,000,000 deposit
  /// of an unknown account no longer vanishes), naming table, row key and column.
  @Test(arguments: [
    ("clients", "firm_id", "UPDATE clients SET firm_id = 'FIRM404' WHERE rowid = 4"),
    ("accounts", "firm_id", "UPDATE accounts SET firm_id = 'FIRM404' WHERE rowid = 4"),
    ("accounts", "client_id", "UPDATE accounts SET client_id = 'CL404' WHERE rowid = 4"),
    ("positions", "account_id", "UPDATE positions SET account_id = 'AC404' WHERE rowid = 4"),
    (
      "cash_balances", "account_id",
      "INSERT INTO cash_balances VALUES ('AC99999999', 'GBP', '1000000.00')"
    ),
    (
      "transactions", "account_id",
      "INSERT INTO transactions VALUES ('TX9999999999', 'AC99999999', 'DEPOSIT', 'SETTLED', '2026-10-01', '2026-10-01', NULL, NULL, '1000000.00', 'GBP', NULL)"
    ),
  ])
  func aRowOfAnUnknownOwnerIsRefused(table: String, column: String, sql: String) throws {
    let path = try snapshot("unknown-\(table)-\(column)")
    try SQLiteConnection(path: path, mode: .readWrite).execute("PRAGMA foreign_keys = OFF; " + sql)
    let error = try #require(refusal { try SnapshotReader(path: path).validate() })
    #expect(error.code == .unknownReference, "\(error)")
    #expect(error.table == table && error.column == column && error.rowKey != nil, "\(error)")
  }

  /// An unknown instrument stays a data-quality finding of the firm, not a refusal.
  @Test func anUnknownInstrumentIsNotARefusal() throws {
    let path = try snapshot("unknown-instrument")
    try SQLiteConnection(path: path, mode: .readWrite).execute(
      "UPDATE positions SET instrument_id = 'INS404' WHERE rowid = 4")
    try SnapshotReader(path: path).validate()
  }

  /// Invalid UTF-8 in a text column is refused, by the full check and by the pass.
  @Test(arguments: [
    (
      "accounts", "account_id", "UPDATE accounts SET account_id = CAST(X'4143ff3031' AS TEXT) WHERE rowid = 5"
    ),
    ("clients", "external_ref", "UPDATE clients SET external_ref = CAST(X'e282' AS TEXT) WHERE rowid = 5"),
    (
      "positions", "external_ref",
      "UPDATE positions SET external_ref = CAST(X'41c0af42' AS TEXT) WHERE rowid = 5"
    ),
    (
      "cash_balances", "currency",
      "UPDATE cash_balances SET currency = CAST(X'eda080' AS TEXT) WHERE rowid = 5"
    ),
  ])
  func invalidUTF8IsRefused(table: String, column: String, sql: String) throws {
    let path = try snapshot("utf8-\(table)-\(column)")
    try SQLiteConnection(path: path, mode: .readWrite).execute("PRAGMA foreign_keys = OFF; " + sql)
    let error = try #require(refusal { try SnapshotReader(path: path).validate() })
    #expect(error.code == .invalidText && error.table == table && error.column == column, "\(error)")
    if SnapshotReader.checkedWhileRead.contains(table) {
      let reader = try SnapshotReader(path: path)
      let passed = try #require(
        refusal {
          let cursor = try reader.accounts(ofFirms: nil)
          while try cursor.next() != nil {}
        })
      #expect(passed.code == .invalidText && passed.column == column, "\(passed)")
    }
  }

  @Test func utf8CheckFollowsTheStandard() {
    func valid(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBufferPointer(UTF8Check.isValid) }
    #expect(valid(Array("plain ASCII, long enough for the 8-byte path".utf8)))
    #expect(valid(Array("café € 𝄞 ‮".utf8)))
    #expect(!valid([0x41, 0xFF]))
    #expect(!valid([0xC0, 0xAF]))  // overlong '/'
    #expect(!valid([0xE0, 0x80, 0xAF]))  // overlong
    #expect(!valid([0xED, 0xA0, 0x80]))  // surrogate
    #expect(!valid([0xF4, 0x90, 0x80, 0x80]))  // above U+10FFFF
    #expect(!valid(Array("abcdefgh".utf8) + [0xE2, 0x82]))  // truncated
  }

  /// A FIFO given as the snapshot is refused at once: opening it would block until a writer came.
  @Test func aFIFOIsRefusedWithoutBlocking() throws {
    let directory = NSTemporaryDirectory() + "eod-fifo-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let fifo = directory + "/snap.fifo"
    #expect(mkfifo(fifo, 0o600) == 0)
    let done = DispatchSemaphore(value: 0)
    let result = ResultBox()
    Thread.detachNewThread {
      do { _ = try SnapshotReader(path: fifo) } catch { result.error = error }
      done.signal()
    }
    if done.wait(timeout: .now() + 10) == .timedOut {
      // Unblock the reader that hangs in open(2), then fail.
      let writer = open(fifo, O_WRONLY | O_NONBLOCK)
      if writer >= 0 { close(writer) }
      Issue.record("opening a FIFO as the snapshot blocked")
      return
    }
    let error = try #require(result.error as? SnapshotError)
    #expect(error.code == .notRegularFile && error.description.contains("FIFO"), "\(error)")
    #expect(throws: SnapshotError.self) { try SnapshotFileIdentity.checkRegular(path: fifo) }
    #expect(throws: SnapshotError.self) { try SnapshotFileIdentity.checkRegular(path: directory) }
  }

  /// The snapshot is opened read-only and refused for writing at the SQLite level: a write through
  /// the job's own connection fails, and a whole read leaves the file byte-identical.
  @Test func theSnapshotConnectionCannotWrite() throws {
    let path = try snapshot("read-only")
    let before = try Data(contentsOf: URL(fileURLWithPath: path))
    let reader = try SnapshotReader(path: path)
    #expect(throws: SQLiteError.self) { try reader.db.execute("UPDATE prices SET price = '1'") }
    #expect(throws: SQLiteError.self) {
      try reader.db.execute("PRAGMA query_only = 0; UPDATE prices SET price = '1'")
    }
    #expect(throws: SQLiteError.self) { try reader.db.execute("CREATE TABLE x(a)") }
    try reader.validate()
    let cursor = try reader.accounts(ofFirms: nil)
    while try cursor.next() != nil {}
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
  }

  /// A change to the file after a reader opened it (here a writer that ignores SQLite's locks, as
  /// `cp` over the file would be) is found before anything read is used.
  @Test func aFileChangedAfterOpeningIsRefused() throws {
    let path = try snapshot("changed")
    let reader = try SnapshotReader(path: path)
    try reader.verifyUnchanged()
    let second = try SnapshotReader(path: path, expecting: reader.identity)
    try second.verifyUnchanged()
    let handle = try #require(FileHandle(forWritingAtPath: path))
    let size = try handle.seekToEnd()
    try handle.write(contentsOf: Data(count: 4096))
    try handle.truncate(atOffset: size)
    try handle.close()
    let error = try #require(refusal { try reader.verifyUnchanged() })
    #expect(error.code == .changedWhileRead, "\(error)")
    let late = try #require(refusal { _ = try SnapshotReader(path: path, expecting: reader.identity) })
    #expect(late.code == .changedWhileRead, "\(late)")
  }

  /// In rollback-journal mode a reader holds its read transaction for its whole life: a writer
  /// cannot commit meanwhile, so every query of the reader sees one state.
  @Test func aReaderHoldsOneReadTransaction() throws {
    let path = try snapshot("one-transaction")
    let reader = try SnapshotReader(path: path)
    _ = try reader.firms()
    let writer = try SQLiteConnection(path: path, mode: .readWrite)
    try writer.execute("PRAGMA busy_timeout = 50")
    #expect(throws: SQLiteError.self) { try writer.execute("UPDATE prices SET price = '1'") }
    _ = try reader.referenceData()
  }
}

final class ResultBox: @unchecked Sendable {
  var error: (any Error)?
}
