import EODCore
import EODPipeline
import EODRender
import EODSQLite
import EODSnapshot
import EODSnapshotGen
import EODState
import Foundation
import Testing

@Suite struct PipelineBehaviourTests {
  func series(_ name: String, days: Int = 5) throws -> (scratch: String, paths: [String]) {
    try Fixtures.series(
      name,
      GeneratorOptions(
        days: days, firms: 2, accounts: 60, instruments: 80, positions: 4, activity: 0.4, seed: 11, edge: true
      ))
  }

  func run(
    _ path: String, store: StateStore, out: String, allowGap: Bool = false, firms: [String] = [],
    format: ExtractFormat = .csv, library: TemplateLibrary? = nil, versions: [ExtractKind: Int] = [:]
  ) throws -> RunReport {
    let options = JobOptions(
      snapshotPath: path, outputDirectory: out, firmIDs: firms, templates: try library ?? Fixtures.library(),
      defaultSettings: FirmSettings(format: format, templateVersions: versions), allowGap: allowGap,
      workerCount: 2)
    return try ExtractJob.run(options, store: store, logger: Fixtures.logger)
  }

  func files(_ directory: String) throws -> [String: Data] {
    var out: [String: Data] = [:]
    let manager = FileManager.default
    guard let walker = manager.enumerator(atPath: directory) else { return out }
    for case let relative as String in walker where relative.hasSuffix(".gz") {
      out[relative] = manager.contents(atPath: directory + "/" + relative)
    }
    return out
  }

  @Test func sameInputGivesTheSameBytesAndRerunsReplaceTheDate() throws {
    let (scratch, paths) = try series("determinism", days: 3)
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let a = try StateStore(path: scratch + "/a.sqlite")
    let b = try StateStore(path: scratch + "/b.sqlite")
    for path in paths {
      _ = try run(path, store: a, out: scratch + "/a")
      _ = try run(path, store: b, out: scratch + "/b")
    }
    let first = try files(scratch + "/a")
    #expect(first.count == 2 * 3 * 5)
    #expect(first == (try files(scratch + "/b")))
    // Re-running the last date replaces it: same bytes, no duplicate history, and the same
    // records (a re-run writes them after the pass; the first run wrote them during it).
    let rowsBefore = try a.footprint().historyRows
    let ids = (1...60).map { "AC" + String(repeating: "0", count: 8 - String($0).count) + String($0) }
    let recordsBefore = try ids.map { try a.allRecords(accountID: $0) }
    #expect(recordsBefore.filter { !$0.isEmpty }.count > 30)
    let again = try run(try #require(paths.last), store: a, out: scratch + "/a")
    #expect(again.failedFirms.isEmpty)
    #expect(try a.footprint().historyRows == rowsBefore)
    #expect(try ids.map { try a.allRecords(accountID: $0) } == recordsBefore)
    #expect(try files(scratch + "/a") == first)
    // No temporary file is left behind.
    let leftovers = try FileManager.default.subpathsOfDirectory(atPath: scratch + "/a").filter {
      $0.contains(".part-")
    }
    #expect(leftovers.isEmpty)
  }

  @Test func aFirmsFilesHoldOnlyItsRowsAndTheManifestFoots() throws {
    let (scratch, paths) = try series("firms", days: 2)
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let store = try StateStore(path: scratch + "/state.sqlite")
    var report: RunReport?
    for path in paths { report = try run(path, store: store, out: scratch + "/out", firms: ["FIRM002"]) }
    let firm = try #require(report?.firms.first)
    #expect(report?.firms.count == 1)
    #expect(firm.firmID == "FIRM002")
    for file in firm.files {
      let text = try readGzipText(file.path)
      let rows = parseCSV(text)
      #expect(rows.count - 1 == file.rows)
      let column = try #require(rows[0].firstIndex(of: "firm_id"))
      #expect(rows.dropFirst().allSatisfy { $0[column] == "FIRM002" })
      // Control totals are sums of the rounded rows.
      for (name, total) in file.controlTotals {
        let index = try #require(rows[0].firstIndex(of: name))
        let sum = try #require(ExactDecimal.sum(rows.dropFirst().compactMap { ExactDecimal($0[index]) }))
        #expect(sum == ExactDecimal(total), "\(file.name) \(name)")
      }
      let bytes = try #require(FileManager.default.contents(atPath: file.path))
      #expect(Int64(bytes.count) == file.bytes)
    }
    let manifestPath = try #require(firm.manifestPath)
    let manifest = try #require(FileManager.default.contents(atPath: manifestPath))
    let json = try #require(try JSONSerialization.jsonObject(with: manifest) as? [String: Any])
    #expect(json["firm_id"] as? String == "FIRM002")
    #expect((json["files"] as? [[String: Any]])?.count == 5)
    #expect(!FileManager.default.fileExists(atPath: scratch + "/out/FIRM001"))
  }

  /// A position in an instrument the snapshot lacks: shown, not valued, `price_status` MISSING,
  /// counted in `unpriced_positions`, listed as UNKNOWN_INSTRUMENT; the run goes on.
  @Test func aPositionInAnUnknownInstrumentIsShownUnvalued() throws {
    let (scratch, paths) = try series("unknown-instrument", days: 1)
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let path = try #require(paths.first)
    let db = try SQLiteConnection(path: path, mode: .readWrite)
    // A position of an account open on the date (so the extracts show it).
    let open = """
      FROM positions p JOIN accounts a USING (account_id) WHERE a.closed_on IS NULL
      AND a.opened_on < (SELECT value FROM snapshot_info WHERE key = 'business_date')
      """
    let key = try #require(
      try db.scalarText("SELECT p.account_id || '/' || p.instrument_id \(open) ORDER BY 1 LIMIT 1"))
    let firmID = try #require(try db.scalarText("SELECT a.firm_id \(open) ORDER BY p.account_id LIMIT 1"))
    let account = String(key.prefix { $0 != "/" })
    try db.prepare(
      "UPDATE positions SET instrument_id = 'XNOSUCH' WHERE account_id || '/' || instrument_id = ?"
    )
    .run([.text(key)])
    let report = try run(path, store: try StateStore(path: scratch + "/state.sqlite"), out: scratch + "/out")
    #expect(report.firms.allSatisfy { $0.error == nil })
    let firm = try #require(report.firms.first { $0.firmID == firmID })
    func rows(_ kind: String) throws -> [[String]] {
      let file = try #require(firm.files.first { $0.name.contains("_\(kind)_") })
      return parseCSV(try readGzipText(file.path))
    }
    let positions = try rows("positions")
    let header = positions[0]
    func column(_ name: String) throws -> Int { try #require(header.firstIndex(of: name)) }
    let row = try #require(positions.first { $0[try column("instrument_id")] == "XNOSUCH" })
    #expect(row[try column("account_id")] == account)
    #expect(row[try column("price_status")] == "MISSING")
    for name in ["price", "market_value", "unrealised_gain_loss", "weight", "instrument_name", "isin"] {
      #expect(row[try column(name)] == "", "\(name)")
    }
    let issues = try rows("data_quality")
    let code = try #require(issues[0].firstIndex(of: "code"))
    let resource = try #require(issues[0].firstIndex(of: "resource_id"))
    #expect(issues.contains { $0[code] == "UNKNOWN_INSTRUMENT" && $0[resource] == account + "/XNOSUCH" })
    let valuations = try rows("valuations")
    let valued = try #require(
      valuations.first { $0[valuations[0].firstIndex(of: "account_id") ?? 0] == account })
    let unpriced = try #require(valuations[0].firstIndex(of: "unpriced_positions"))
    #expect((Int(valued[unpriced]) ?? 0) >= 1)
  }

  @Test func aGapIsRefusedNamingTheMissingDateUnlessAllowed() throws {
    let (scratch, paths) = try series("gap", days: 4)
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let store = try StateStore(path: scratch + "/state.sqlite")
    _ = try run(paths[0], store: store, out: scratch + "/out")
    do {
      _ = try run(paths[2], store: store, out: scratch + "/out")
      Issue.record("a gap was not refused")
    } catch let error as PipelineError {
      #expect(error.code == .historyGap)
      #expect(error.detail.contains("2026-10-02"))
    }
    #expect(!FileManager.default.fileExists(atPath: scratch + "/out/FIRM001/2026-10-05"))
    let report = try run(paths[2], store: store, out: scratch + "/out", allowGap: true)
    let firm = try #require(report.firms.first)
    #expect(firm.gapCarriedFrom == CivilDate("2026-10-01"))
    #expect(firm.issuesByCode["HISTORY_GAP"] == 1)
  }

  @Test func aRestatementRecomputesEveryLaterReturnAsACleanBackfillWould() throws {
    let (scratch, paths) = try series("restate", days: 5)
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let store = try StateStore(path: scratch + "/state.sqlite")
    for path in paths { _ = try run(path, store: store, out: scratch + "/first") }
    // Correct day 3: every position of one account doubles.
    let corrected = scratch + "/corrected"
    try FileManager.default.createDirectory(atPath: corrected, withIntermediateDirectories: true)
    for path in paths {
      try FileManager.default.copyItem(
        atPath: path, toPath: corrected + "/" + (path as NSString).lastPathComponent)
    }
    let restated = corrected + "/" + (paths[2] as NSString).lastPathComponent
    try SQLiteConnection(path: restated, mode: .readWrite).execute(
      "UPDATE positions SET quantity = CAST(quantity AS REAL) * 2 || '' WHERE account_id = 'AC00000003' AND quantity NOT LIKE '%.%'"
    )
    let report = try run(restated, store: store, out: scratch + "/first")
    let stale = report.firms.flatMap(\.staleDates).map(\.description)
    #expect(stale.contains("2026-10-06") && stale.contains("2026-10-07"))
    // Re-issue the later dates, then compare with a clean backfill of the corrected series.
    for path in paths[3...] { _ = try run(path, store: store, out: scratch + "/first") }
    let clean = try StateStore(path: scratch + "/clean.sqlite")
    for path in try SnapshotSeries.scan(directory: corrected).map(\.path) {
      _ = try run(path, store: clean, out: scratch + "/clean")
    }
    #expect(try files(scratch + "/first") == (try files(scratch + "/clean")))
    #expect(try store.footprint().historyRows == (try clean.footprint().historyRows))
    for id in ["AC00000003", "AC00000005"] {
      #expect(try store.allRecords(accountID: id) == (try clean.allRecords(accountID: id)))
    }
  }

  /// A processing thread hands its records of all its firms to the history writer in one batch
  /// (FIRM001 and FIRM003 on the first of two threads, FIRM002 on the second). A batch the store
  /// refuses (here a planted trigger on one FIRM003 account) fails every firm in it, names the
  /// store's error, and leaves none of their rows of the date; the other thread's firm completes.
  @Test func aRefusedHistoryBatchFailsTheFirmsInItAndKeepsTheOthers() throws {
    let (scratch, paths) = try Fixtures.series(
      "batch-refused",
      GeneratorOptions(
        days: 1, firms: 3, accounts: 90, instruments: 80, positions: 4, activity: 0.4, seed: 11, edge: false))
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let snapshot = try SQLiteConnection(path: paths[0], mode: .readOnly)
    let ids = try snapshot.prepare("SELECT account_id, firm_id FROM accounts ORDER BY account_id")
    var firmOf: [String: String] = [:]
    while try ids.step() { firmOf[ids.text(0) ?? ""] = ids.text(1) }
    let planted = try #require(firmOf.filter { $0.value == "FIRM003" }.keys.sorted().last)
    let state = scratch + "/state.sqlite"
    let store = try StateStore(path: state)
    let raw = try SQLiteConnection(path: state, mode: .readWrite)
    try raw.execute(
      """
      CREATE TRIGGER planted BEFORE INSERT ON history
      WHEN NEW.account_key = (SELECT account_key FROM accounts WHERE account_id = '\(planted)')
      BEGIN SELECT RAISE(ABORT, 'planted refusal'); END
      """)
    let report = try run(paths[0], store: store, out: scratch + "/out")
    #expect(report.failedFirms.map(\.firmID).sorted() == ["FIRM001", "FIRM003"])
    for failed in report.failedFirms {
      #expect(failed.error?.code == .stateStore)
      #expect(
        failed.error.map { "\($0)".contains("planted refusal") } == true,
        "\(String(describing: failed.error))")
    }
    let date = try #require(CivilDate("2026-10-01"))
    var checked: [String: Int] = [:]
    for (id, firm) in firmOf {
      let key = try store.existingAccountKey(id)
      let atDate = try key.map { try store.record(at: date, account: $0) } ?? nil
      if firm == "FIRM002" {
        #expect(atDate != nil, "\(id) lost its record")
      } else {
        #expect(atDate == nil, "\(id) of failed \(firm) kept a record")
      }
      checked[firm, default: 0] += 1
    }
    #expect(checked.count == 3 && checked.values.allSatisfy { $0 > 10 })
    #expect(try store.latestRunDate(firmID: "FIRM002") == date)
    #expect(try store.latestRunDate(firmID: "FIRM001") == nil)
    let written = try files(scratch + "/out").keys
    #expect(written.count == 5 && written.allSatisfy { $0.hasPrefix("FIRM002/") }, "\(written.sorted())")
  }

  /// The nightly history is written during the pass; a firm that fails after its rows were
  /// written (here: its positions file cannot be put in place) has them taken out again, and the
  /// other firm's are kept. Fixed and re-run, everything equals a clean run of the series.
  @Test func aFirmFailingAfterItsHistoryWasWrittenLeavesNoneOfThatDate() throws {
    let (scratch, paths) = try series("undo", days: 3)
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let store = try StateStore(path: scratch + "/state.sqlite")
    let out = scratch + "/out"
    _ = try run(paths[0], store: store, out: out)
    // A non-empty folder where FIRM001's positions file of day 2 goes: the rename fails.
    let blocker = out + "/FIRM001/2026-10-02/FIRM001_positions_20261002.csv.gz"
    try FileManager.default.createDirectory(atPath: blocker + "/x", withIntermediateDirectories: true)
    let day2 = try run(paths[1], store: store, out: out)
    #expect(day2.failedFirms.map(\.firmID) == ["FIRM001"])
    let snapshot = try SQLiteConnection(path: paths[1], mode: .readOnly)
    let ids = try snapshot.prepare("SELECT account_id, firm_id FROM accounts ORDER BY account_id")
    var firmOf: [String: String] = [:]
    while try ids.step() { firmOf[ids.text(0) ?? ""] = ids.text(1) }
    let day1 = try #require(CivilDate("2026-10-01"))
    let date = try #require(CivilDate("2026-10-02"))
    let after = try #require(CivilDate("2026-10-05"))
    var checked: [String: Int] = [:]
    for (id, firm) in firmOf {
      guard let key = try store.existingAccountKey(id) else { continue }
      let atDate = try store.record(at: date, account: key)
      let latest = try store.record(before: after, account: key)
      if firm == "FIRM001" {
        #expect(atDate == nil, "\(id) kept a record of the failed date")
        #expect(latest?.date == day1, "\(id): latest is \(String(describing: latest?.date))")
      } else {
        #expect(atDate != nil, "\(id) lost its record")
        #expect(latest?.date == date)
      }
      checked[firm, default: 0] += 1
    }
    #expect(checked["FIRM001", default: 0] > 10 && checked["FIRM002", default: 0] > 10)
    #expect(try store.latestRunDate(firmID: "FIRM001") == day1)
    #expect(try store.latestRunDate(firmID: "FIRM002") == date)
    // Fixed: FIRM001 alone again, then day 3 for both, equals a clean run of the series.
    try FileManager.default.removeItem(atPath: blocker)
    #expect(try run(paths[1], store: store, out: out, firms: ["FIRM001"]).failedFirms.isEmpty)
    #expect(try run(paths[2], store: store, out: out).failedFirms.isEmpty)
    let clean = try StateStore(path: scratch + "/clean.sqlite")
    for path in paths { _ = try run(path, store: clean, out: scratch + "/clean") }
    #expect(try files(out) == (try files(scratch + "/clean")))
    #expect(try store.footprint().historyRows == (try clean.footprint().historyRows))
    for id in firmOf.keys.sorted() {
      #expect(try store.allRecords(accountID: id) == (try clean.allRecords(accountID: id)), "\(id)")
    }
  }

  @Test func aFirmWhoseRenameFailsHalfwayLeavesNoFileUnderAFinalName() throws {
    let (scratch, paths) = try series("half-renamed", days: 1)
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let store = try StateStore(path: scratch + "/state.sqlite")
    let out = scratch + "/out"
    // A non-empty folder where FIRM001's valuations file goes: its positions, cash and
    // transactions files are renamed into place before that rename fails.
    let folder = out + "/FIRM001/2026-10-01"
    let blocker = folder + "/FIRM001_valuations_20261001.csv.gz"
    try FileManager.default.createDirectory(atPath: blocker + "/x", withIntermediateDirectories: true)
    let report = try run(paths[0], store: store, out: out)
    #expect(report.failedFirms.map(\.firmID) == ["FIRM001"])
    // Nothing of the failed firm under a final name: no data file, no manifest; only the folder
    // that was someone else's, untouched.
    let left = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
    #expect(left == ["FIRM001_valuations_20261001.csv.gz"], "\(left)")
    #expect(FileManager.default.fileExists(atPath: blocker + "/x"))
    #expect(try store.latestRunDate(firmID: "FIRM001") == nil)
    // The other firm is complete.
    let other = try FileManager.default.contentsOfDirectory(atPath: out + "/FIRM002/2026-10-01")
    #expect(other.contains("FIRM002_manifest_20261001.json"))
  }

  @Test func aFirmWhoseRunCannotBeRecordedHasItsSetTakenOutAgain() throws {
    let (scratch, paths) = try series("unrecorded", days: 2)
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let out = scratch + "/out"
    let state = scratch + "/state.sqlite"
    _ = try run(paths[0], store: try StateStore(path: state), out: out)
    // The store refuses to record FIRM001's run of day 2 (after its files are in place).
    let admin = try SQLiteConnection(path: state, mode: .readWrite)
    try admin.execute(
      """
      CREATE TRIGGER refuse_firm001 BEFORE INSERT ON runs
      WHEN NEW.firm_id = 'FIRM001' AND NEW.business_date = '2026-10-02'
      BEGIN SELECT RAISE(ABORT, 'refused by the test'); END
      """)
    let store = try StateStore(path: state)
    let day2 = try run(paths[1], store: store, out: out)
    #expect(day2.failedFirms.map(\.firmID) == ["FIRM001"])
    #expect(day2.failedFirms.first?.files.isEmpty == true)
    #expect(day2.failedFirms.first?.manifestPath == nil)
    // Nothing of its day 2 under a final name; the other firm's set is complete.
    let left = try FileManager.default.contentsOfDirectory(atPath: out + "/FIRM001/2026-10-02")
    #expect(left.filter { !$0.hasPrefix(".") }.isEmpty, "\(left)")
    let other = try FileManager.default.contentsOfDirectory(atPath: out + "/FIRM002/2026-10-02")
    #expect(other.contains("FIRM002_manifest_20261002.json"))
    #expect(try store.latestRunDate(firmID: "FIRM001") == CivilDate("2026-10-01"))
    // The store fixed, FIRM001 again: its set, the same as a clean run's.
    try admin.execute("DROP TRIGGER refuse_firm001")
    #expect(try run(paths[1], store: store, out: out, firms: ["FIRM001"]).failedFirms.isEmpty)
    let clean = try StateStore(path: scratch + "/clean.sqlite")
    for path in paths { _ = try run(path, store: clean, out: scratch + "/clean") }
    #expect(try files(out) == (try files(scratch + "/clean")))
  }

  @Test func aBadSnapshotWritesNothing() throws {
    let (scratch, paths) = try series("refused", days: 1)
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    try SQLiteConnection(path: paths[0], mode: .readWrite).execute(
      "UPDATE cash_balances SET balance = '12,5' WHERE rowid = (SELECT MAX(rowid) FROM cash_balances)")
    let store = try StateStore(path: scratch + "/state.sqlite")
    do {
      _ = try run(paths[0], store: store, out: scratch + "/out")
      Issue.record("a malformed decimal was accepted")
    } catch let error as PipelineError {
      #expect(error.code == .badSnapshot)
      #expect(error.detail.contains("cash_balances"))
      #expect(error.detail.contains("balance"))
    }
    #expect(!FileManager.default.fileExists(atPath: scratch + "/out"))
    #expect(try store.footprint().historyRows == 0)
  }

  /// Positions and cash balances are checked by the pass itself when it reads every row (all
  /// firms, or several), by the syntax-check thread otherwise. Either way a bad value is refused
  /// with the words the full check gives, whether its row is used, skipped (another firm's, or
  /// of no account) or first in the table, and nothing is written.
  @Test(arguments: [
    // A malformed quantity of FIRM003's first position.
    (
      "quantity", "positions",
      "UPDATE positions SET quantity = '1,5' WHERE rowid = (SELECT MIN(p.rowid) FROM positions p JOIN accounts a USING (account_id) WHERE a.firm_id = 'FIRM003')"
    ),
    // A book cost stored as a blob, not text (a number would become text in a TEXT column).
    (
      "book_cost", "positions",
      "UPDATE positions SET book_cost = CAST('12.5' AS BLOB) WHERE rowid = (SELECT MAX(p.rowid) FROM positions p JOIN accounts a USING (account_id) WHERE a.firm_id = 'FIRM001')"
    ),
    // Positions of no account, sorting after every account: a good one, then a bad one. The
    // first is refused for its account (unknown-reference) before the second's bad value.
    (
      "account_id", "positions",
      "INSERT INTO positions(account_id, instrument_id, quantity, book_cost, external_ref) SELECT 'ZZ-A', instrument_id, '1', '1.00', NULL FROM instruments LIMIT 1; "
        + "INSERT INTO positions(account_id, instrument_id, quantity, book_cost, external_ref) SELECT 'ZZ-B', instrument_id, 'x', '1.00', NULL FROM instruments LIMIT 1"
    ),
    // A NULL account id (a producer without the NOT NULL constraint): first in key order.
    (
      "account_id", "positions",
      "CREATE TABLE p2 AS SELECT * FROM positions; DROP TABLE positions; ALTER TABLE p2 RENAME TO positions; UPDATE positions SET account_id = NULL WHERE rowid = 7"
    ),
    ("balance", "cash_balances", "UPDATE cash_balances SET balance = '-' WHERE rowid = 3"),
    // Two bad tables: the one earlier in the schema is named, as one scan in schema order would.
    (
      "price", "prices",
      "UPDATE prices SET price = '1e5' WHERE rowid = 2; UPDATE positions SET quantity = '' WHERE rowid = 5"
    ),
  ])
  func aBadValueIsRefusedTheSameWayWhoeverChecksIt(column: String, table: String, sql: String) throws {
    let (scratch, paths) = try Fixtures.series(
      "pass-check-\(table)-\(column)",
      GeneratorOptions(
        days: 1, firms: 3, accounts: 45, instruments: 40, positions: 4, activity: 0.4, seed: 5, edge: false))
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    try SQLiteConnection(path: paths[0], mode: .readWrite).execute(sql)
    var expected: String?
    do { try SnapshotReader(path: paths[0]).validate() } catch { expected = error.description }
    let full = try #require(expected, "the full check accepted the corrupted snapshot")
    #expect(full.contains("table \(table)") && full.contains("column \(column)"), "\(full)")
    // Every firm (checked in the pass), two of three (the third's rows are skipped, still
    // checked), one firm (checked by the thread).
    for (index, firms) in [[], ["FIRM001", "FIRM002"], ["FIRM002"]].enumerated() {
      let store = try StateStore(path: scratch + "/state\(index).sqlite")
      let out = scratch + "/out\(index)"
      do {
        _ = try run(paths[0], store: store, out: out, firms: firms)
        Issue.record("\(firms): the bad \(table).\(column) was accepted")
      } catch let error as PipelineError {
        #expect(error.code == .badSnapshot)
        #expect(error.detail == full, "\(firms)")
      }
      #expect(!FileManager.default.fileExists(atPath: out), "\(firms): something was written")
      #expect(try store.footprint().historyRows == 0)
    }
  }

  @Test func jsonLinesHaveCamelCaseKeysStringDecimalsAndNulls() throws {
    let (scratch, paths) = try series("json", days: 2)
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let store = try StateStore(path: scratch + "/state.sqlite")
    var report: RunReport?
    for path in paths { report = try run(path, store: store, out: scratch + "/out", format: .json) }
    let files = try #require(report?.firms.first?.files)
    let file = try #require(files.first { $0.extract == .valuations })
    #expect(file.name.hasSuffix(".json.gz"))
    let lines = try readGzipText(file.path).split(separator: "\n")
    #expect(lines.count == file.rows)
    let row = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
    #expect(row["accountId"] is String)
    #expect(row["totalValue"] is String)
    #expect(row["unpricedPositions"] is NSNumber)
    #expect(row.keys.contains("return1y"))
    #expect(row["return1y"] is NSNull)
  }

  @Test func templatesPickColumnsAndCanNeutraliseFormulas() throws {
    let (scratch, paths) = try series("templates", days: 1)
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let templates = scratch + "/templates"
    try FileManager.default.copyItem(atPath: Fixtures.templates, toPath: templates)
    try """
    extract positions
    version 9
    option formula_safe
    column account_id
    column Name = instrument_name
    column market_value
    """.write(toFile: templates + "/positions.v9.tmpl", atomically: true, encoding: .utf8)
    let library = try TemplateLibrary(directory: templates)
    let store = try StateStore(path: scratch + "/state.sqlite")
    let report = try run(
      paths[0], store: store, out: scratch + "/out", library: library, versions: [.positions: 9])
    var names: [String] = []
    for firm in report.firms {
      let file = try #require(firm.files.first { $0.extract == .positions })
      #expect(file.template == "positions.v9")
      let rows = parseCSV(try readGzipText(file.path))
      #expect(rows[0] == ["account_id", "Name", "market_value"])
      names += rows.dropFirst().map { $0[1] }
    }
    #expect(
      names.contains("'=SUM(A1:A9) Trust") || names.contains("'+Plus Fund") || names.contains("'@Home REIT"))
    #expect(!names.contains { $0.hasPrefix("=") || $0.hasPrefix("+") || $0.hasPrefix("@") })
  }

  @Test func anUnknownFieldInATemplateIsAnErrorAtStartUp() throws {
    #expect(throws: TemplateError.self) {
      try Template.parse("extract positions\nversion 2\ncolumn account_id\ncolumn nonsense\n", file: "x.tmpl")
    }
    do {
      _ = try Template.parse("extract positions\nversion 2\ncolumn nonsense\n", file: "x.tmpl")
    } catch {
      #expect(error.line == 3)
      #expect(error.description.contains("nonsense"))
    }
  }
}
