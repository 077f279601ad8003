import EODCore
import EODState
import EODStatePostgres
import Foundation
import Logging
import PostgresTestServer
import Testing

/// The state store's contract beyond the history (HistoryStoreTests, BreakStoreTests and the
/// example series run on both backends too): runs, the delivery journal, idempotency keys,
/// failures and statuses, transactions; then what only PostgreSQL has (URL, schema versions,
/// locks).
@Suite struct StateContractTests {
  func date(_ text: String) throws -> CivilDate { try #require(CivilDate(text)) }

  @Test(arguments: Backend.allCases)
  func runsJournalIdempotencyAndFailuresReadBackAsWritten(backend: Backend) throws {
    let scratch = try Fixtures.scratch("contract-\(backend)")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let store = try backend.open("contract", scratch: scratch)
    #expect(try store.latestRunDate(firmID: nil) == nil)
    for (day, firm) in [("2026-10-01", "F1"), ("2026-10-02", "F1"), ("2026-10-01", "F2")] {
      try store.recordRun(
        date: try date(day), firmID: firm, runID: "r1", snapshot: "s", completedAt: "t", gapCarried: false,
        manifestSHA256: nil)
    }
    // Recording a date again replaces it.
    try store.recordRun(
      date: try date("2026-10-02"), firmID: "F1", runID: "r2", snapshot: "s2", completedAt: "t2",
      gapCarried: true,
      manifestSHA256: "abc")
    #expect(try store.latestRunDate(firmID: "F1") == (try date("2026-10-02")))
    #expect(try store.latestRunDate(firmID: "F2") == (try date("2026-10-01")))
    #expect(try store.latestRunDate(firmID: nil) == (try date("2026-10-02")))
    #expect(
      try store.runDates(after: try date("2026-09-30"), firmID: "F1") == [
        try date("2026-10-01"), try date("2026-10-02"),
      ])

    func entry(_ firm: String, _ file: String, at: String, attempts: Int = 1) -> JournalEntry {
      JournalEntry(
        firmID: firm, businessDate: "2026-10-02", destination: "sftp", fileName: file, sha256: "h-\(file)",
        remotePath: "/in/\(file)", attempts: attempts, outcome: "delivered", deliveredAt: at, runID: "r2")
    }
    // Mixed case and underscores: the order is bytewise, as SQLite's.
    try store.recordDelivery(entry("F1", "b_positions", at: "2026-10-03T01:00:00Z"))
    try store.recordDelivery(entry("F1", "F1_manifest_20261002.json", at: "2026-10-03T01:00:02Z"))
    try store.recordDelivery(entry("F1", "B_cash", at: "2026-10-03T01:00:00Z"))
    try store.recordDelivery(entry("F1", "b_positions", at: "2026-10-03T01:00:01Z", attempts: 3))
    try store.recordDelivery(entry("F2", "x", at: "2026-10-03T01:00:00Z"))
    let journal = try store.journal(firmID: "F1", businessDate: "2026-10-02", destination: nil)
    #expect(journal.map(\.fileName) == ["B_cash", "b_positions", "F1_manifest_20261002.json"])
    #expect(journal[1].attempts == 3)
    #expect(try store.journal(firmID: nil, businessDate: nil, destination: "sftp").count == 4)
    #expect(try store.journal(firmID: nil, businessDate: "2026-10-03", destination: nil).isEmpty)

    let created = Date(timeIntervalSince1970: 1_790_000_000)
    #expect(try store.idempotencyRecord("k") == nil)
    try store.saveIdempotencyRecord("k", fingerprint: "f", createdAt: created, result: "r")
    try store.saveIdempotencyOutcome(
      "k", IdempotencyOutcome(exitCode: 1, failedFirms: ["F2", "F3"], report: "out"))
    #expect(try store.idempotencyRecord("k")?.createdAt == created)
    #expect(
      try store.idempotencyOutcome("k")
        == IdempotencyOutcome(exitCode: 1, failedFirms: ["F2", "F3"], report: "out"))
    // A key stored again (the old one expired) starts with a completed run's outcome.
    try store.saveIdempotencyRecord("k", fingerprint: "g", createdAt: created, result: "r2")
    #expect(try store.idempotencyOutcome("k") == IdempotencyOutcome(exitCode: 0, failedFirms: [], report: ""))

    try store.recordFailures([
      FailureEntry(
        firmID: "F2", businessDate: "2026-10-02", runID: "r2", step: "deliver", error: "e",
        failedAt: "2026-10-03T02:00:00Z",
        exitCode: 1),
      FailureEntry(
        firmID: "", businessDate: "2026-10-02", runID: "r3", step: "run", error: "stop",
        failedAt: "2026-10-03T03:00:00Z",
        exitCode: 2),
    ])
    let (firms, lastRun) = try store.firmStatuses()
    #expect(firms.map(\.firmID) == ["F1", "F2"])
    #expect(firms[0].lastWritten?.runID == "r2")
    #expect(firms[0].lastDelivered?.date == "2026-10-02")
    #expect(firms[1].lastDelivered == nil)
    #expect(firms[1].lastFailure?.step == "deliver")
    #expect(lastRun?.runID == "r3")
  }

  /// A night's history batch holds the new accounts of several firms (a processing thread's
  /// records, of all its firms): one call adds each with its own firm.
  @Test(arguments: Backend.allCases)
  func accountKeysOfSeveralFirmsInOneCallKeepEachAccountsFirm(backend: Backend) throws {
    let scratch = try Fixtures.scratch("contract-keys-\(backend)")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let store = try backend.open("keys", scratch: scratch)
    let day = try date("2026-10-01")
    let known = try store.accountKeys(["B1"], firmID: "F2")
    let accounts = [("A1", "F1"), ("B1", "F2"), ("B2", "F2"), ("A2", "F1"), ("A1", "F1"), ("C1", "F3")]
    let keys = try store.accountKeys(accounts.map { (accountID: $0.0, firmID: $0.1) })
    #expect(keys.count == accounts.count)
    #expect(keys[1] == known[0])
    #expect(keys[0] == keys[4])
    #expect(Set(keys).count == 5)
    let record = PerformanceRecord(
      date: day, kind: .baseline, value: Money(cents: 100), flow: Money(cents: 0), flowIn: Money(cents: 0),
      dailyReturn: nil, undefinedReturn: false, growthMonth: 1, growthQuarter: 1, growthYear: 1, index: 1,
      zeroFactors: 0, startDate: day, flowOrigin: day)
    try store.beginWrite()
    try store.save([0, 1, 2, 3, 5].map { (record, keys[$0]) })
    try store.commitWrite()
    #expect(try store.accounts(ofFirm: "F1", withRecordAt: day) == ["A1": keys[0], "A2": keys[3]])
    #expect(try store.accounts(ofFirm: "F2", withRecordAt: day) == ["B1": keys[1], "B2": keys[2]])
    #expect(try store.accounts(ofFirm: "F3", withRecordAt: day) == ["C1": keys[5]])
  }

  @Test(arguments: Backend.allCases)
  func aRolledBackNightAndAFailedSavepointLeaveNothing(backend: Backend) throws {
    let scratch = try Fixtures.scratch("contract-tx-\(backend)")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let store = try backend.open("tx", scratch: scratch)
    let day = try date("2026-10-01")
    let record = PerformanceRecord(
      date: day, kind: .baseline, value: Money(cents: 12_345), flow: Money(cents: 0), flowIn: Money(cents: 0),
      dailyReturn: nil, undefinedReturn: false, growthMonth: 1, growthQuarter: 1, growthYear: 1, index: 1,
      zeroFactors: 0, startDate: day, flowOrigin: day)
    let keys = try store.accountKeys(["A1", "A2", "A1"], firmID: "F1")
    #expect(keys[0] == keys[2] && keys[0] != keys[1])
    #expect(try store.existingAccountKey("A2", remember: false) == keys[1])
    #expect(try store.existingAccountKey("A3", remember: false) == nil)

    try store.beginWrite()
    try store.save([(record, keys[0])])
    #expect(store.inTransaction)
    store.rollbackWrite()
    #expect(try store.latestRecord(account: keys[0]) == nil)
    #expect(try !store.hasRecords(at: day))

    struct Planted: Error {}
    try store.beginWrite()
    try store.save([(record, keys[0])])
    #expect(throws: StateStoreError.self) {
      try store.savepoint("second") {
        try store.save([(record, keys[1])])
        throw Planted()
      }
    }
    #expect(store.inTransaction)
    try store.commitWrite()
    #expect(try store.latestRecord(account: keys[0]) == record)
    #expect(try store.latestRecord(account: keys[1]) == nil)
    #expect(try store.accounts(ofFirm: "F1", withRecordAt: day) == ["A1": keys[0]])
    #expect(try store.footprint().historyRows == 1)
    #expect(try store.allRecords(accountID: "A1") == [record])
  }
}

extension StateContractTests {
  /// A store moved (export, import into a new store of either backend, export again) is the same
  /// file: every row and every double bit for bit. Importing into a store in use is refused.
  @Test(arguments: Backend.allCases)
  func anExportImportedIntoEitherBackendExportsTheSame(backend: Backend) throws {
    let scratch = try Fixtures.scratch("dump-\(backend)")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let source = try StateStore(path: scratch + "/source.sqlite")
    try runSeries(snapshots: Fixtures.root + "/edge-6d/snapshots", out: scratch + "/out", store: source)
    try source.recordFailures([
      FailureEntry(
        firmID: "F1", businessDate: "2026-10-02", runID: "r", step: "deliver", error: "é \"quoted\"\n",
        failedAt: "t", exitCode: 1)
    ])
    let counts = try StateDump.export(source, to: scratch + "/a.jsonl")
    #expect((counts["history"] ?? 0) > 0 && (counts["accounts"] ?? 0) > 0 && counts["failures"] == 1)
    let target = try backend.open("target", scratch: scratch)
    #expect(try StateDump.load(scratch + "/a.jsonl", into: target) == counts)
    _ = try StateDump.export(target, to: scratch + "/b.jsonl")
    #expect(
      try String(contentsOfFile: scratch + "/b.jsonl", encoding: .utf8)
        == (try String(contentsOfFile: scratch + "/a.jsonl", encoding: .utf8)))
    #expect(throws: StateStoreError.self) { try StateDump.load(scratch + "/a.jsonl", into: target) }
    // A new account after the import gets a key of its own.
    let keys = try target.accountKeys(["NEW-ACCOUNT"], firmID: "F1")
    #expect(try target.existingAccountKey("AC00000001", remember: false) != keys[0])
  }
}

/// What only the PostgreSQL store has: its URL, its schema versions, its advisory locks.
@Suite struct PostgresStoreTests {
  @Test func aPasswordInTheURLIsRefusedAndNotShown() throws {
    let error = #expect(throws: StateStoreError.self) { try PostgresURL("postgres://eod:secret@db:5432/eod") }
    #expect(error?.code == .badLocation)
    #expect(error?.description.contains("secret") == false)
    #expect(error?.description.contains("PGPASSWORD") == true)
    #expect(try PostgresURL("postgresql://eod@db.example:6432/state").port == 6432)
    #expect(throws: StateStoreError.self) { try PostgresURL("postgres://eod@db") }
    #expect(throws: StateStoreError.self) { try PostgresURL("postgres://db:5432/x") }
  }

  @Test func thePasswordFileIsReadAsLibpqReadsIt() throws {
    let scratch = try Fixtures.scratch("pgpass")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    try "other:5432:*:eod:no\n# comment\ndb:*:state:eod:pa\\:ss\n".write(
      toFile: scratch + "/pass", atomically: true, encoding: .utf8)
    let url = try PostgresURL("postgres://eod@db:5433/state")
    #expect(url.password(environment: ["PGPASSFILE": scratch + "/pass"]) == "pa:ss")
    #expect(url.password(environment: ["PGPASSFILE": scratch + "/pass", "PGPASSWORD": "env"]) == "env")
    #expect(url.password(environment: ["PGPASSFILE": scratch + "/missing"]) == nil)
  }

  @Test func anUnmigratedOrNewerSchemaIsRefusedNamingTheVersions() throws {
    let url = try Backend.postgresURL("schema")
    let unmigrated = #expect(throws: StateStoreError.self) {
      try PostgresStateStore(url: url, logger: Fixtures.logger)
    }
    #expect(unmigrated?.code == .schemaVersion)
    #expect(unmigrated?.description.contains("eod-extract migrate-state --state \(url)") == true)
    let applied = try PostgresStateStore.migrate(url: url, logger: Fixtures.logger)
    #expect(applied.from == 0 && applied.to == PostgresSchema.current)
    // Applied once: a second migration finds nothing to do.
    let again = try PostgresStateStore.migrate(url: url, logger: Fixtures.logger)
    #expect(again.from == PostgresSchema.current && again.to == PostgresSchema.current)
    _ = try PostgresStateStore(url: url, logger: Fixtures.logger)
    let server = try PostgresTestServer.started()
    try server.sql(
      "INSERT INTO schema_versions VALUES (\(PostgresSchema.current + 1), 'later', 'a newer binary')",
      database: url.database)
    let newer = #expect(throws: StateStoreError.self) {
      try PostgresStateStore(url: url, logger: Fixtures.logger)
    }
    #expect(newer?.description.contains("version \(PostgresSchema.current + 1)") == true)
    #expect(newer?.description.contains("version \(PostgresSchema.current):") == true)
    #expect(throws: StateStoreError.self) {
      try PostgresStateStore.migrate(url: url, logger: Fixtures.logger)
    }
  }

  @Test func aSecondWriterOfAFirmsDateIsRefusedNamingTheHolderUntilTheFirstLetsGo() throws {
    let url = try Backend.postgresURL("locks")
    _ = try PostgresStateStore.migrate(url: url, logger: Fixtures.logger)
    let date = try #require(CivilDate("2026-10-02"))
    var first: PostgresStateStore? = try PostgresStateStore(url: url, logger: Fixtures.logger)
    try first?.lockWriters(firmIDs: ["F1", "F2"], date: date, runID: "run-one")
    let second = try PostgresStateStore(url: url, logger: Fixtures.logger)
    // Another date, another firm: free.
    try second.lockWriters(firmIDs: ["F1"], date: try #require(CivilDate("2026-10-05")), runID: "run-two")
    try second.lockWriters(firmIDs: ["F3"], date: date, runID: "run-two")
    let refused = #expect(throws: StateStoreError.self) {
      try second.lockWriters(firmIDs: ["F2"], date: date, runID: "run-two")
    }
    #expect(refused?.code == .locked)
    #expect(refused?.description.contains("run run-one") == true)
    #expect(refused?.description.contains("pid \(ProcessInfo.processInfo.processIdentifier)") == true)
    // The connection ends (the process died, say): the server frees the lock.
    first = nil
    var taken = false
    for _ in 0..<100 where !taken {
      do {
        try second.lockWriters(firmIDs: ["F2"], date: date, runID: "run-two")
        taken = true
      } catch {
        // The server ends the backend a moment after the connection closes.
        Thread.sleep(forTimeInterval: 0.05)
      }
    }
    #expect(taken)
  }
}

extension PostgresStoreTests {
  /// Keeps what is logged, for a test to read.
  final class CapturedLog: LogHandler, @unchecked Sendable {
    // @unchecked Sendable: the lines are read after the calls that log them, on the same thread.
    var lines: [(level: Logger.Level, message: String, metadata: Logger.Metadata)] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
      get { metadata[key] }
      set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
      lines.append((event.level, "\(event.message)", event.metadata ?? [:]))
    }
  }

  /// A read-ahead that fails (here: `latest` renamed under the night) leaves nothing read ahead,
  /// logs one warning naming the error and is not tried again on that connection; the reads go
  /// to the server one by one and report their own failure, and succeed again once it is back.
  @Test func aFailedReadAheadIsLoggedOnceAndTheReadsGoOneByOne() throws {
    let url = try Backend.postgresURL("readahead-fails")
    _ = try PostgresStateStore.migrate(url: url, logger: Fixtures.logger)
    let captured = CapturedLog()
    let store = try PostgresStateStore(url: url, logger: Logger(label: "test") { _ in captured })
    let keys = try store.accountKeys(["A1", "A2"], firmID: "F1")
    let date = try #require(CivilDate("2026-10-02"))
    let server = try PostgresTestServer.started()
    _ = try server.sql("ALTER TABLE latest RENAME TO latest_away", database: url.database)
    try store.holdReads()
    store.readAhead(accountIDs: ["A1", "A2"], date: date)
    store.readAhead(accountIDs: ["A1", "A2"], date: date)
    let warnings = captured.lines.filter { $0.level == .warning }
    #expect(warnings.count == 1)
    #expect(warnings.first?.message.contains("history not read ahead") == true)
    let named = "\(warnings.first?.metadata["error"] ?? "")"
    #expect(named.contains("latest"), "\(named)")
    // The single read reports its own failure.
    #expect(throws: StateStoreError.self) { try store.existingAccountKey("A1", remember: false) }
    _ = try server.sql("ALTER TABLE latest_away RENAME TO latest", database: url.database)
    let sent = store.statementCount
    store.readAhead(accountIDs: ["A1", "A2"], date: date)
    #expect(store.statementCount == sent, "tried again after failing")
    #expect(try store.existingAccountKey("A2", remember: false) == keys[1])
    #expect(store.statementCount == sent + 1)
    #expect(captured.lines.filter { $0.level == .warning }.count == 1)
  }
}
