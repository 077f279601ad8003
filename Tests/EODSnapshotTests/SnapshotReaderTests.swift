import EODCore
import EODSQLite
import EODSnapshot
import EODSnapshotGen
import Foundation
import Testing

/// Refused snapshots: each names the table, row key and column.
@Suite struct SnapshotReaderTests {
  /// A fresh one-day edge snapshot to damage.
  func snapshot(_ name: String) throws -> String {
    try freshSnapshot(
      "reader-\(name)", GeneratorOptions(days: 3, firms: 2, accounts: 40, instruments: 60, edge: true))
  }

  func damage(_ path: String, _ sql: String) throws {
    let db = try SQLiteConnection(path: path, mode: .readWrite)
    try db.execute(sql)
  }

  func refusal(_ path: String) -> SnapshotError? {
    do {
      let reader = try SnapshotReader(path: path)
      try reader.validate()
      return nil
    } catch {
      return error
    }
  }

  @Test func aGoodSnapshotIsAccepted() throws {
    let path = try snapshot("good")
    #expect(refusal(path) == nil)
    let reader = try SnapshotReader(path: path)
    #expect(reader.businessDate == CivilDate("2026-10-05"))
    #expect(try reader.firms().map(\.id) == ["FIRM001", "FIRM002"])
  }

  @Test func wrongSchemaVersionIsRefused() throws {
    let path = try snapshot("version")
    try damage(path, "UPDATE snapshot_info SET value = '2' WHERE key = 'schema_version'")
    let error = try #require(refusal(path))
    #expect(error.code == .unsupportedSchemaVersion)
    #expect(error.table == "snapshot_info")
    #expect(error.description.contains("'2'"))
  }

  @Test func aMissingColumnIsRefused() throws {
    let path = try snapshot("column")
    try damage(path, "ALTER TABLE positions DROP COLUMN book_cost")
    let error = try #require(refusal(path))
    #expect(error.code == .missingColumn)
    #expect(error.table == "positions")
    #expect(error.column == "book_cost")
  }

  @Test func aMissingTableIsRefused() throws {
    let path = try snapshot("table")
    try damage(path, "DROP TABLE fx_rates")
    let error = try #require(refusal(path))
    #expect(error.code == .missingTable)
    #expect(error.table == "fx_rates")
  }

  @Test(arguments: [
    "1,000.00", "1e5", "+12", "12.", ".5", "1.2.3", "", "-", "12 ", "NaN",
    // Plain, but beyond what is held exactly: 37 decimal places, 39 digits.
    "1.0000000000000000000000000000000000001", "123456789012345678901234567890123456789",
  ])
  func aMalformedDecimalIsRefusedWithItsRowKey(_ bad: String) throws {
    let path = try snapshot("decimal")
    let db = try SQLiteConnection(path: path, mode: .readWrite)
    let key = try #require(
      try db.scalarText("SELECT account_id || '/' || instrument_id FROM positions ORDER BY 1 LIMIT 1"))
    let parts = key.split(separator: "/").map(String.init)
    let update = try db.prepare(
      "UPDATE positions SET quantity = ? WHERE account_id = ? AND instrument_id = ?")
    try update.run([.text(bad), .text(parts[0]), .text(parts[1])])
    let error = try #require(refusal(path))
    #expect(error.code == .malformedDecimal)
    #expect(error.table == "positions")
    #expect(error.rowKey == key)
    #expect(error.column == "quantity")
    #expect(error.detail.contains("at most 38 digits and 36 decimal places"), "\(error.detail)")
  }

  @Test(arguments: ["2026-02-30", "2026/10/01", "20261001", "2026-1-01", "yesterday"])
  func aMalformedDateIsRefused(_ bad: String) throws {
    let path = try snapshot("date")
    let db = try SQLiteConnection(path: path, mode: .readWrite)
    try db.prepare("UPDATE accounts SET opened_on = ? WHERE account_id = 'AC00000002'").run([.text(bad)])
    let error = try #require(refusal(path))
    #expect(error.code == .malformedDate)
    #expect(error.table == "accounts")
    #expect(error.rowKey == "AC00000002")
    #expect(error.column == "opened_on")
  }

  @Test func aNullInARequiredColumnIsRefused() throws {
    let path = try snapshot("null")
    // The schema says NOT NULL, but a producer may not have used it: rebuild prices without it.
    try damage(
      path,
      """
      CREATE TABLE prices2 (instrument_id TEXT, price_date TEXT, price TEXT);
      INSERT INTO prices2 SELECT * FROM prices; UPDATE prices2 SET price = NULL WHERE rowid = 1;
      DROP TABLE prices; ALTER TABLE prices2 RENAME TO prices;
      """)
    let error = try #require(refusal(path))
    #expect(error.code == .missingValue)
    #expect(error.table == "prices")
    #expect(error.column == "price")
  }

  @Test func notASnapshotIsRefused() throws {
    let path = NSTemporaryDirectory() + "eod-not-a-db-\(UUID().uuidString.prefix(8)).sqlite"
    try Data("hello".utf8).write(to: URL(fileURLWithPath: path))
    let error = try #require(refusal(path))
    #expect(error.code == .unreadable || error.code == .missingTable)
    #expect(refusal("/nonexistent/snapshot.sqlite")?.code == .unreadable)
  }
}
