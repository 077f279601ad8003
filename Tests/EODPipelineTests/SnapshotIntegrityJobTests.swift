import EODCore
import EODOps
import EODPipeline
import EODSQLite
import EODSnapshot
import EODSnapshotGen
import EODState
import Foundation
import Testing

/// A snapshot whose integrity is broken is refused by the job before anything is written: no
/// extract, no history, whichever firms are run (issue 11).
@Suite struct SnapshotIntegrityJobTests {
  func run(_ path: String, store: StateStore, out: String, firms: [String]) throws -> RunReport {
    let options = JobOptions(
      snapshotPath: path, outputDirectory: out, firmIDs: firms, templates: try Fixtures.library(),
      defaultSettings: FirmSettings(format: .csv), workerCount: 2)
    return try ExtractJob.run(options, store: store, logger: Fixtures.logger)
  }

  static func dropKey(_ table: String) -> String {
    "CREATE TABLE t2 AS SELECT * FROM \(table); DROP TABLE \(table); ALTER TABLE t2 RENAME TO \(table); "
  }

  @Test(arguments: [
    (
      "snapshot_info", "key", "duplicate-key",
      dropKey("snapshot_info") + "INSERT INTO snapshot_info VALUES ('business_date', '2026-10-02')"
    ),
    (
      "firms", "firm_id", "duplicate-key",
      dropKey("firms") + "INSERT INTO firms SELECT * FROM firms WHERE rowid = 1"
    ),
    (
      "positions", "account_id,instrument_id", "duplicate-key",
      dropKey("positions")
        + "INSERT INTO positions SELECT p.* FROM positions p JOIN accounts a USING (account_id) WHERE a.firm_id = 'FIRM001' LIMIT 1"
    ),
    (
      "cash_balances", "account_id,currency", "duplicate-key",
      dropKey("cash_balances")
        + "INSERT INTO cash_balances SELECT c.* FROM cash_balances c JOIN accounts a USING (account_id) WHERE a.firm_id = 'FIRM001' LIMIT 1"
    ),
    (
      "cash_balances", "account_id", "unknown-reference",
      "INSERT INTO cash_balances VALUES ('AC99999999', 'GBP', '1000000.00')"
    ),
    (
      "transactions", "account_id", "unknown-reference",
      "INSERT INTO transactions VALUES ('TX9999999999', 'AC99999999', 'DEPOSIT', 'SETTLED', '2026-10-01', '2026-10-01', NULL, NULL, '1000000.00', 'GBP', NULL)"
    ),
    (
      "accounts", "account_id", "invalid-utf8",
      "PRAGMA foreign_keys = OFF; UPDATE positions SET account_id = CAST(X'4143ff3031' AS TEXT) WHERE account_id = 'AC00000001'; "
        + "UPDATE accounts SET account_id = CAST(X'4143ff3031' AS TEXT) WHERE account_id = 'AC00000001'"
    ),
  ])
  func aBrokenSnapshotIsRefusedBeforeAnythingIsWritten(
    table: String, column: String, code: String, sql: String
  )
    throws
  {
    let (scratch, paths) = try Fixtures.series(
      "integrity-\(table)-\(code)",
      GeneratorOptions(days: 1, firms: 3, accounts: 45, instruments: 40, positions: 4, activity: 0.4, seed: 5)
    )
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    try SQLiteConnection(path: paths[0], mode: .readWrite).execute(sql)
    // Every firm (positions and cash checked in the pass), two of three, one (the thread checks).
    for (index, firms) in [[], ["FIRM001", "FIRM002"], ["FIRM001"]].enumerated() {
      let store = try StateStore(path: scratch + "/state\(index).sqlite")
      let out = scratch + "/out\(index)"
      do {
        let report = try run(paths[0], store: store, out: out, firms: firms)
        Issue.record("\(firms): accepted, \(report.firms.map { "\($0.firmID) \($0.error == nil)" })")
      } catch let error as PipelineError {
        #expect(error.code == .badSnapshot, "\(error)")
        #expect(error.detail.contains("[\(code)]"), "\(firms): \(error.detail)")
        #expect(
          error.detail.contains("table \(table)") && error.detail.contains("column \(column)"),
          "\(firms): \(error.detail)")
        #expect(error.detail.contains(", row "), "\(firms): \(error.detail)")
        // The snapshot's own error is kept, typed; the text reads as it always did.
        let cause = try #require(error.cause(as: SnapshotError.self), "\(firms): no cause kept")
        #expect(cause.code.rawValue == code, "\(firms): \(cause)")
        #expect(error.description == "[bad-snapshot] \(cause)", "\(firms): \(error)")
        #expect(error.exitCode == .nothingDone && error.errorCode == "bad-snapshot")
      }
      #expect(!FileManager.default.fileExists(atPath: out), "\(firms): something was written")
      #expect(try store.footprint().historyRows == 0)
    }
  }

  /// A writer changes one instrument's price and the quantity of every position in it together
  /// (the value stays 1000.00) in a loop while the job reads. Every run either refuses the file
  /// (it changed while read) with nothing written, or writes rows of one state: never a row that
  /// pairs one state's price with another's quantity. Both journal modes.
  @Test(arguments: ["DELETE", "WAL"])
  func aSnapshotChangedWhileReadIsRefusedOrReadInOneState(journal: String) throws {
    let (scratch, paths) = try Fixtures.series(
      "concurrent-\(journal)",
      GeneratorOptions(days: 1, firms: 3, accounts: 3000, instruments: 60, positions: 6, seed: 3))
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let path = paths[0]
    let setup = try SQLiteConnection(path: path, mode: .readWrite)
    let instrument = try #require(
      try setup.scalarText(
        """
        SELECT i.instrument_id FROM instruments i JOIN positions p USING (instrument_id)
        JOIN accounts a USING (account_id) WHERE i.currency = 'GBP' AND i.quote_factor = '1' AND a.currency = 'GBP'
        GROUP BY i.instrument_id ORDER BY COUNT(*) DESC LIMIT 1
        """))
    try setup.execute(
      """
      PRAGMA journal_mode = \(journal);
      DELETE FROM prices WHERE instrument_id = '\(instrument)';
      INSERT INTO prices SELECT '\(instrument)', value, '1000' FROM snapshot_info WHERE key = 'business_date';
      DELETE FROM positions WHERE instrument_id = '\(instrument)'
        AND account_id IN (SELECT account_id FROM accounts WHERE currency <> 'GBP');
      UPDATE positions SET quantity = '1' WHERE instrument_id = '\(instrument)';
      """)
    let stop = StopFlag()
    let writerDone = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
      defer { writerDone.signal() }
      guard let db = try? SQLiteConnection(path: path, mode: .readWrite) else { return }
      try? db.execute("PRAGMA busy_timeout = 20")
      let states = [("1000", "1"), ("500", "2"), ("250", "4")]
      var index = 0
      while !stop.isSet {
        let (price, quantity) = states[index % states.count]
        do {
          try db.execute(
            """
            BEGIN IMMEDIATE;
            UPDATE prices SET price = '\(price)' WHERE instrument_id = '\(instrument)';
            UPDATE positions SET quantity = '\(quantity)' WHERE instrument_id = '\(instrument)';
            COMMIT;
            """)
          index += 1
        } catch {
          try? db.execute("ROLLBACK")
        }
      }
    }
    defer {
      stop.set()
      writerDone.wait()
    }
    Thread.sleep(forTimeInterval: 0.2)
    var outcomes: [String] = []
    for attempt in 0..<4 {
      let store = try StateStore(path: scratch + "/state\(attempt).sqlite")
      let out = scratch + "/out\(attempt)"
      do {
        let report = try run(path, store: store, out: out, firms: [])
        #expect(report.failedFirms.isEmpty)
        var mixed: [String] = []
        for firm in report.firms {
          for file in firm.files where file.extract == .positions {
            let rows = parseCSV(try readGzipText(file.path))
            let header = try #require(rows.first)
            let instrumentColumn = try #require(header.firstIndex(of: "instrument_id"))
            let valueColumn = try #require(header.firstIndex(of: "market_value"))
            for row in rows.dropFirst() where row.count > valueColumn && row[instrumentColumn] == instrument {
              if row[valueColumn] != "1000.00" { mixed.append(row[valueColumn]) }
            }
          }
        }
        #expect(mixed.isEmpty, "run \(attempt): rows mixing two states of the file: \(mixed.prefix(5))")
        outcomes.append("written")
      } catch let error as PipelineError {
        #expect(error.code == .badSnapshot && error.detail.contains("[changed-while-read]"), "\(error)")
        #expect(
          !FileManager.default.fileExists(atPath: out), "run \(attempt): refused, yet files were written")
        #expect(try store.footprint().historyRows == 0)
        outcomes.append("refused")
      }
    }
    print("\(journal): \(outcomes)")
  }
}

final class StopFlag: @unchecked Sendable {
  private let lock = NSLock()
  private var value = false
  var isSet: Bool {
    lock.lock()
    defer { lock.unlock() }
    return value
  }
  func set() {
    lock.lock()
    value = true
    lock.unlock()
  }
}
