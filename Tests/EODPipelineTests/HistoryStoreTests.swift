import EODCore
import EODPipeline
import EODSQLite
import EODSnapshotGen
import EODState
import EODStatePostgres
import Foundation
import Testing

/// The state store's date-ordered history and its `latest` rows: the nightly lookups agree with
/// the whole history after out-of-order writes, deletions, re-runs, restatements and a format-1
/// store's conversion.
@Suite struct HistoryStoreTests {
  /// A deterministic pseudo-random sequence (no dependence on the platform's generator).
  struct Sequence {
    var state: UInt64
    mutating func next(_ bound: Int) -> Int {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Int((state >> 33) % UInt64(bound))
    }
  }

  func record(day: Int, origin: Int, value: Int64, index: Double, zeros: Int) -> PerformanceRecord {
    let date = CivilDate(dayNumber: day)
    func cents(_ x: Int64) -> Money { Money(significand: Int128(x), scale: 2) }
    return PerformanceRecord(
      date: date, kind: day == origin ? .baseline : .regular, value: cents(value),
      flow: cents(value % 7 == 0 ? 1000 : 0), flowIn: cents(value % 7 == 0 ? 1000 : 0),
      dailyReturn: day == origin ? nil : 0.001 * Double(value % 5), undefinedReturn: false, growthMonth: 1.01,
      growthQuarter: 1.02, growthYear: 1.03, index: index, zeroFactors: zeros,
      startDate: CivilDate(dayNumber: origin + 1), flowOrigin: CivilDate(dayNumber: origin))
  }

  /// Every lookup the night uses, against a brute-force reading of what was written.
  func expectAgreement(
    _ store: any StateStoring, _ expected: [Int64: [Int: PerformanceRecord]], days: ClosedRange<Int>
  )
    throws
  {
    for (key, byDay) in expected.sorted(by: { $0.key < $1.key }) {
      let sorted = byDay.keys.sorted()
      #expect(try store.latestRecord(account: key) == sorted.last.flatMap { byDay[$0] }, "account \(key)")
      #expect(
        try store.records(after: CivilDate(dayNumber: days.lowerBound - 100), account: key)
          == sorted.compactMap { byDay[$0] })
      for day in days {
        let date = CivilDate(dayNumber: day)
        let before = sorted.last { $0 < day }.flatMap { byDay[$0] }
        #expect(try store.record(before: date, account: key) == before, "account \(key) before \(date)")
        #expect(try store.record(at: date, account: key) == byDay[day])
        let window = sorted.last { $0 <= day }.flatMap { byDay[$0] }.map {
          Performance.WindowStart(index: $0.index, zeroFactors: $0.zeroFactors)
        }
        #expect(
          try store.windowStart(onOrBefore: date, account: key) == window, "account \(key) window \(date)")
      }
    }
  }

  /// A night's first write, several rows per statement, reads back as written and leaves the same
  /// history, `latest` rows and flows as saving the records one by one: batches around the rows-per-statement size, accounts
  /// that have an older record (latest moves forward) or a newer one (latest stays), and
  /// baselines (no return) for the others.
  @Test(arguments: Backend.allCases, [1, 31, 32, 33, 100])
  func aNightsFirstWriteInBatchesEqualsOneByOne(backend: Backend, count: Int) throws {
    let scratch = try Fixtures.scratch("save-new-\(count)")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let stores = [
      try backend.open("one", scratch: scratch), try backend.open("batch", scratch: scratch),
    ]
    let day = 20_000
    // What was written, by account and day: what both stores must read back.
    var expected: [Int64: [Int: PerformanceRecord]] = [:]
    for store in stores {
      // Earlier and later records for some accounts.
      for key in Int64(1)...Int64(count) where key % 3 != 0 {
        let other = key % 3 == 1 ? day - 1 : day + 1
        let written = record(day: other, origin: day - 5, value: 500 + key, index: 1.5, zeros: 0)
        try store.save(written, account: key, replacing: true)
        expected[key, default: [:]][other] = written
      }
    }
    var batch: [(record: PerformanceRecord, account: Int64)] = []
    for i in 1...count {
      // Accounts without other records start here (a baseline: no return); the others earlier.
      let origin = i % 3 == 0 ? day : day - 5
      let index = 1.0 + Double(i) / 1000
      batch.append(
        (record(day: day, origin: origin, value: Int64(1000 + i), index: index, zeros: i % 2), Int64(i)))
    }
    for (record, key) in batch {
      try stores[0].save(record, account: key, replacing: false)
      expected[key, default: [:]][day] = record
    }
    try stores[1].save(batch)
    for key in Int64(1)...Int64(count) {
      #expect(
        try stores[1].flows(
          account: key, after: CivilDate(dayNumber: day - 10), before: CivilDate(dayNumber: day + 1)
        ).map(\.flow)
          == (try stores[0].flows(
            account: key, after: CivilDate(dayNumber: day - 10), before: CivilDate(dayNumber: day + 1)
          ).map(\.flow)))
    }
    #expect(expected.values.filter { $0[day] != nil }.count == count)
    try expectAgreement(stores[0], expected, days: (day - 2)...(day + 2))
    try expectAgreement(stores[1], expected, days: (day - 2)...(day + 2))
    #expect(try stores[1].footprint().historyRows == (try stores[0].footprint().historyRows))
  }

  @Test(arguments: Backend.allCases)
  func nightlyLookupsAgreeWithTheHistoryAfterOutOfOrderWritesAndDeletions(backend: Backend) throws {
    let scratch = try Fixtures.scratch("latest-store")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let store = try backend.open("state", scratch: scratch)
    let first = try #require(CivilDate("2026-10-01")).dayNumber
    let days = first...(first + 40)
    var random = Sequence(state: 42)
    var expected: [Int64: [Int: PerformanceRecord]] = [:]
    for account in 1...6 {
      let key = try store.accountKey("AC\(account)", firmID: "FIRM001", remember: true)
      // Each account has its own dates, with holes; written in a scrambled order.
      var chosen = days.filter { _ in random.next(4) != 0 }
      let origin = chosen.first ?? first
      for index in chosen.indices.reversed() { chosen.swapAt(index, random.next(index + 1)) }
      try store.transaction("write") {
        for day in chosen {
          let value = Int64(100_000 + random.next(50_000))
          let saved = record(
            day: day, origin: origin, value: value, index: 1 + Double(day - origin) / 100,
            zeros: random.next(2))
          try store.save(saved, account: key, replacing: true)
          expected[key, default: [:]][day] = saved
        }
      }
    }
    try expectAgreement(store, expected, days: (first - 2)...(first + 42))
    // Replacing records (a re-run) and deleting some: the latest, the earliest and inner ones.
    try store.transaction("rewrite") {
      for (key, byDay) in expected.sorted(by: { $0.key < $1.key }) {
        let sorted = byDay.keys.sorted()
        guard let last = sorted.last, let earliest = sorted.first else { continue }
        let origin = earliest
        let replaced = record(day: last, origin: origin, value: 7, index: 0.5, zeros: 0)
        try store.save(replaced, account: key, replacing: true)
        expected[key]?[last] = replaced
        var doomed = [last, earliest]
        if sorted.count > 4 { doomed.append(sorted[sorted.count / 2]) }
        if key % 2 == 0 { doomed = [last] }
        for day in doomed {
          try store.deleteRecord(at: CivilDate(dayNumber: day), account: key)
          expected[key]?[day] = nil
        }
      }
    }
    try expectAgreement(store, expected, days: (first - 2)...(first + 42))
    // An account whose every record is deleted has no latest row left.
    let lonely = try store.accountKey("AC99", firmID: "FIRM001", remember: true)
    try store.transaction("lonely") {
      try store.save(
        record(day: first + 3, origin: first + 3, value: 1, index: 1, zeros: 0), account: lonely,
        replacing: true)
      try store.deleteRecord(at: CivilDate(dayNumber: first + 3), account: lonely)
    }
    #expect(try store.latestRecord(account: lonely) == nil)
    #expect(try store.record(before: CivilDate(dayNumber: first + 10), account: lonely) == nil)
  }

  func series(_ name: String, days: Int) throws -> (scratch: String, paths: [String]) {
    try Fixtures.series(
      name,
      GeneratorOptions(
        days: days, firms: 2, accounts: 60, instruments: 80, positions: 4, activity: 0.4, seed: 17, edge: true
      ))
  }

  func run(_ path: String, store: StateStore, out: String) throws -> RunReport {
    let options = JobOptions(
      snapshotPath: path, outputDirectory: out, templates: try Fixtures.library(), workerCount: 2)
    return try ExtractJob.run(options, store: store, logger: Fixtures.logger)
  }

  func accountIDs(_ snapshot: String) throws -> [String] {
    let db = try SQLiteConnection(path: snapshot, mode: .readOnly)
    let s = try db.prepare("SELECT account_id FROM accounts ORDER BY account_id")
    var out: [String] = []
    while try s.step() { out.append(s.text(0) ?? "") }
    return out
  }

  /// Each account's `latest` row is its last history record.
  func expectLatestMatchesHistory(_ store: StateStore, _ ids: [String]) throws {
    for id in ids {
      guard let key = try store.existingAccountKey(id) else { continue }
      #expect(try store.latestRecord(account: key) == (try store.allRecords(accountID: id).last), "\(id)")
    }
  }

  func gzFiles(_ directory: String) throws -> [String: Data] {
    var out: [String: Data] = [:]
    guard let walker = FileManager.default.enumerator(atPath: directory) else { return out }
    for case let relative as String in walker where relative.hasSuffix(".gz") {
      out[relative] = FileManager.default.contents(atPath: directory + "/" + relative)
    }
    return out
  }

  @Test func latestRowsFollowReRunsRestatementsAndAccountsThatDisappear() throws {
    let (scratch, paths) = try series("latest-pipeline", days: 5)
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let ids = try accountIDs(paths[0])
    let store = try StateStore(path: scratch + "/state.sqlite")
    for path in paths { _ = try run(path, store: store, out: scratch + "/out") }
    try expectLatestMatchesHistory(store, ids)
    // The last date again, without one account (closed before it): its latest row goes back.
    let corrected = scratch + "/corrected"
    try FileManager.default.createDirectory(atPath: corrected, withIntermediateDirectories: true)
    for path in paths {
      try FileManager.default.copyItem(
        atPath: path, toPath: corrected + "/" + (path as NSString).lastPathComponent)
    }
    let name = { (index: Int) in corrected + "/" + (paths[index] as NSString).lastPathComponent }
    let dates = try SnapshotSeries.scan(directory: corrected).map(\.date)
    try #require(dates.count == paths.count)
    // An account with records on the last two dates.
    let gone = try #require(
      try ids.first { id in
        guard let key = try store.existingAccountKey(id) else { return false }
        return try store.record(at: dates[3], account: key) != nil
          && store.record(at: dates[4], account: key) != nil
      })
    try SQLiteConnection(path: name(4), mode: .readWrite).execute(
      "UPDATE accounts SET closed_on = '2026-09-01' WHERE account_id = '\(gone)'")
    _ = try run(name(4), store: store, out: scratch + "/out")
    try expectLatestMatchesHistory(store, ids)
    let goneKey = try #require(try store.existingAccountKey(gone))
    #expect(try store.record(at: dates[4], account: goneKey) == nil)
    #expect(try #require(try store.latestRecord(account: goneKey)).date < dates[4])
    // Restate day 3: one account's positions double, another is closed on it.
    try SQLiteConnection(path: name(2), mode: .readWrite).execute(
      """
      UPDATE positions SET quantity = CAST(quantity AS REAL) * 2 || '' WHERE account_id = '\(ids[2])' AND quantity NOT LIKE '%.%';
      UPDATE accounts SET closed_on = '2026-09-01' WHERE account_id = '\(ids[5])';
      """)
    let report = try run(name(2), store: store, out: scratch + "/out")
    #expect(!report.firms.flatMap(\.staleDates).isEmpty)
    try expectLatestMatchesHistory(store, ids)
    for index in 3..<paths.count { _ = try run(name(index), store: store, out: scratch + "/out") }
    try expectLatestMatchesHistory(store, ids)
    // The same as a clean run of the corrected series, record for record and file for file.
    let clean = try StateStore(path: scratch + "/clean.sqlite")
    for index in paths.indices { _ = try run(name(index), store: clean, out: scratch + "/clean") }
    for id in ids {
      #expect(try store.allRecords(accountID: id) == (try clean.allRecords(accountID: id)), "\(id)")
      if let key = try store.existingAccountKey(id), let cleanKey = try clean.existingAccountKey(id) {
        #expect(try store.latestRecord(account: key) == (try clean.latestRecord(account: cleanKey)), "\(id)")
      }
    }
    #expect(try gzFiles(scratch + "/out") == (try gzFiles(scratch + "/clean")))
  }

  @Test func aFormat1StoreIsConvertedWhenOpenedAndGivesTheSameResults() throws {
    let (scratch, paths) = try series("latest-format1", days: 4)
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let ids = try accountIDs(paths[0])
    do {
      let store = try StateStore(path: scratch + "/new.sqlite")
      for path in paths.dropLast() { _ = try run(path, store: store, out: scratch + "/scratch-out") }
      try store.checkpoint()
    }
    try FileManager.default.copyItem(atPath: scratch + "/new.sqlite", toPath: scratch + "/old.sqlite")
    // Turn the copy back into format 1: history in account order, no `latest`.
    try SQLiteConnection(path: scratch + "/old.sqlite", mode: .readWrite).execute(
      """
      CREATE TABLE history_old (
        account_key INTEGER NOT NULL, day INTEGER NOT NULL, kind INTEGER NOT NULL,
        value INTEGER NOT NULL, flow INTEGER NOT NULL, flow_in INTEGER NOT NULL,
        daily_return REAL, undefined INTEGER NOT NULL,
        g_month REAL NOT NULL, g_quarter REAL NOT NULL, g_year REAL NOT NULL,
        idx REAL NOT NULL, zeros INTEGER NOT NULL, start_day INTEGER NOT NULL, origin_day INTEGER NOT NULL,
        PRIMARY KEY (account_key, day)) WITHOUT ROWID;
      INSERT INTO history_old SELECT account_key, day, kind, value, flow, flow_in, daily_return, undefined,
        g_month, g_quarter, g_year, idx, zeros, start_day, origin_day FROM history;
      DROP TABLE history;
      DROP TABLE latest;
      ALTER TABLE history_old RENAME TO history;
      UPDATE meta SET value = '1' WHERE key = 'format_version';
      PRAGMA application_id = 0;
      """)
    let converted = try StateStore(path: scratch + "/old.sqlite")
    // Recognised by its tables (format 1 had no application_id), then stamped.
    #expect(
      try SQLiteConnection(path: scratch + "/old.sqlite", mode: .readOnly).scalarInt("PRAGMA application_id")
        == Int64(StateStore.applicationID))
    let version = try SQLiteConnection(path: scratch + "/old.sqlite", mode: .readOnly).scalarText(
      "SELECT value FROM meta WHERE key = 'format_version'")
    #expect(version == StateStore.formatVersion)
    let reference = try StateStore(path: scratch + "/new.sqlite")
    for id in ids {
      #expect(try converted.allRecords(accountID: id) == (try reference.allRecords(accountID: id)), "\(id)")
    }
    try expectLatestMatchesHistory(converted, ids)
    let last = try #require(paths.last)
    _ = try run(last, store: reference, out: scratch + "/a")
    _ = try run(last, store: converted, out: scratch + "/b")
    let files = try gzFiles(scratch + "/a")
    #expect(files.count == 2 * 5)
    #expect(files == (try gzFiles(scratch + "/b")))
  }

  /// In PostgreSQL a night's history goes in multi-row statements, not one per row: 2,500
  /// accounts' records (some with flows) in the night's transaction take a handful of statements
  /// (three chunks of at most 1,000 rows, each `history`, `latest` and `flows`, plus the
  /// savepoint around them), and every row is there after the commit.
  @Test func aNightsHistoryGoesToPostgresInBatchesNotRowByRow() throws {
    let url = try Backend.postgresURL("batches")
    _ = try PostgresStateStore.migrate(url: url, logger: Fixtures.logger)
    let store = try PostgresStateStore(url: url, logger: Fixtures.logger)
    let day = 20_000
    let batch = (1...2_500).map { i in
      (
        record: record(day: day, origin: day - 5, value: Int64(1000 + i), index: 1.5, zeros: 0),
        account: Int64(i)
      )
    }
    try store.beginWrite()
    let before = store.statementCount
    try store.save(batch)
    let sent = store.statementCount - before
    try store.commitWrite()
    #expect(sent <= 3 * 3 + 2, "\(sent) statements for \(batch.count) records")
    #expect(try store.footprint().historyRows == 2_500)
    #expect(try store.latestRecord(account: 2_500) == batch[2_499].record)
  }

}

extension HistoryStoreTests {
  /// What a night reads of one account, in the order ``StoreHistory`` reads it.
  struct NightReads: Equatable {
    var key: Int64?
    var previous: PerformanceRecord?
    var window: Performance.WindowStart?
    var flows: [String] = []
    var flowDays: [Int] = []
    var atOrigin: PerformanceRecord?
  }

  func nightReads(_ store: any StateStoring, _ id: String, on date: CivilDate) throws -> NightReads {
    var reads = NightReads()
    guard let key = try store.existingAccountKey(id, remember: false) else { return reads }
    reads.key = key
    reads.previous = try store.record(before: date, account: key)
    reads.window = try store.windowStart(onOrBefore: date.oneYearEarlier, account: key)
    let origin = reads.previous?.flowOrigin ?? date
    let flows = try store.flows(account: key, after: origin, before: date)
    reads.flows = flows.map(\.flow.description)
    reads.flowDays = flows.map(\.date.dayNumber)
    reads.atOrigin = try store.record(at: origin, account: key)
    return reads
  }

  /// A batch read ahead (one statement on PostgreSQL) answers every read of the night as the
  /// single reads do: accounts unknown, first seen, nightly (the latest record before the date),
  /// re-run (a record on the date), restated (records after it), with and without a record a year
  /// back, flows since the origin. On PostgreSQL the reads then send no statement.
  @Test(arguments: Backend.allCases)
  func aBatchReadAheadAnswersTheNightsReadsAsTheSingleReadsDo(backend: Backend) throws {
    let scratch = try Fixtures.scratch("read-ahead-\(backend)")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let store = try backend.open("state", scratch: scratch)
    let first = try #require(CivilDate("2025-06-02")).dayNumber
    var random = Sequence(state: 7)
    let ids = (1...40).map { "ACC-\($0)" }
    let keys = try store.accountKeys(Array(ids.prefix(36)), firmID: "FIRM001")
    // Written as a night writes, in batches (day by day: a statement names an account once).
    var written: [(record: PerformanceRecord, account: Int64)] = []
    for (n, key) in keys.enumerated() where n % 9 != 8 {
      // Each account starts on its own day (some late), with holes, one in seven days a flow.
      let origin = first + random.next(n % 3 == 0 ? 420 : 60)
      var day = origin
      var index = 1.0
      while day < first + 480 {
        index *= 1.0005
        written.append(
          (
            record(
              day: day, origin: origin, value: Int64(100_000 + random.next(90_000)), index: index,
              zeros: random.next(10) == 0 ? 1 : 0), key
          ))
        day += 1 + (random.next(5) == 0 ? random.next(30) : 0)
      }
    }
    written.sort { ($0.record.date, $0.account) < ($1.record.date, $1.account) }
    try store.transaction("write") { try store.save(written) }
    let reader = try store.openReader(small: true)
    let single = try store.openReader(small: true)
    let dates = [
      first - 1, first, first + 30, first + 365, first + 366, first + 400, first + 479, first + 480,
      first + 520,
    ]
    for day in dates {
      let date = CivilDate(dayNumber: day)
      // The night's batches: the accounts in snapshot order, some unknown to the store.
      for batch in stride(from: 0, to: ids.count, by: 16).map({ Array(ids[$0..<min($0 + 16, ids.count)]) }) {
        try reader.holdReads()
        reader.readAhead(accountIDs: batch, date: date)
        let sent = (reader as? PostgresStateStore)?.statementCount
        for id in batch {
          let expected = try nightReads(single, id, on: date)
          #expect(try nightReads(reader, id, on: date) == expected, "\(id) on \(date)")
        }
        #expect(
          (reader as? PostgresStateStore)?.statementCount == sent, "reads on \(date) went to the server")
      }
      reader.releaseReads()
    }
    // A read with other arguments than the batch's goes to the store and is answered as usual.
    reader.readAhead(accountIDs: ids, date: CivilDate(dayNumber: first + 400))
    let key = try #require(try reader.existingAccountKey("ACC-1", remember: false))
    #expect(
      try reader.record(before: CivilDate(dayNumber: first + 100), account: key)
        == (try single.record(before: CivilDate(dayNumber: first + 100), account: key)))
  }
}
