import EODCore
import EODSQLite
import Foundation
import Testing

@testable import EODState

/// A first night inserts every account; `beginWrite` drops `accounts_by_firm` for it and
/// `commitWrite` builds it again in the same transaction (``StateStore/beginWrite()``).
@Suite struct FirstNightIndexTests {
  let day = 20_400
  let firms = ["FIRM001", "FIRM002", "FIRM003"]

  func scratch() throws -> String {
    let path = NSTemporaryDirectory() + "first-night-index-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  /// Whether another connection to the file sees the index (it reads the last committed state).
  func committedIndexCount(_ path: String) throws -> Int64 {
    let other = try SQLiteConnection(path: path, mode: .readOnly)
    return try other.scalarInt(
      "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'accounts_by_firm'") ?? -1
  }

  /// Accounts of the three firms, interleaved as in a snapshot, with a record each at `day`.
  func writeNight(_ store: StateStore, accounts: Int, prefix: String) throws -> [String: Set<String>] {
    var byFirm: [String: Set<String>] = [:]
    var ids: [(accountID: String, firmID: String)] = []
    for number in 0..<accounts {
      let firm = firms[number % firms.count]
      let id = "\(prefix)\(number)"
      ids.append((id, firm))
      byFirm[firm, default: []].insert(id)
    }
    let keys = try store.accountKeys(ids)
    let date = CivilDate(dayNumber: day)
    try store.save(
      keys.map { key in
        (
          PerformanceRecord(
            date: date, kind: .baseline, value: Money(significand: Int128(key), scale: 2), flow: .zero,
            flowIn: .zero, dailyReturn: nil, undefinedReturn: false, growthMonth: 1, growthQuarter: 1,
            growthYear: 1, index: 1, zeroFactors: 0, startDate: date.adding(days: 1), flowOrigin: date),
          key
        )
      })
    return byFirm
  }

  /// A new store in a scratch folder, its first night's transaction begun (the index dropped).
  func firstNight(_ body: (StateStore, String) throws -> Void) throws {
    let directory = try scratch()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/state.sqlite"
    let store = try StateStore(path: path)
    try store.beginWrite()
    #expect(store.firmIndexDropped)
    try body(store, path)
  }

  @Test func aFirstNightBuildsTheIndexAgainBeforeItCommitsAndALaterNightKeepsIt() throws {
    try firstNight { store, path in
      // No other connection sees the store without its index.
      #expect(try committedIndexCount(path) == 1)
      let byFirm = try writeNight(store, accounts: 3_000, prefix: "AC")
      try store.commitWrite()
      #expect(!store.firmIndexDropped)
      #expect(try committedIndexCount(path) == 1)
      #expect(try store.db.scalarText("PRAGMA integrity_check") == "ok")
      for firm in firms {
        let found = try store.accounts(ofFirm: firm, withRecordAt: CivilDate(dayNumber: day))
        #expect(Set(found.keys) == byFirm[firm], "\(firm)")
      }
      // A later night inserts few accounts into a big table: the index stays.
      try store.beginWrite()
      #expect(!store.firmIndexDropped)
      store.rollbackWrite()
      #expect(try committedIndexCount(path) == 1)
    }
  }

  @Test func aFirstNightRolledBackLeavesTheIndexAndNoAccount() throws {
    try firstNight { store, _ in
      _ = try writeNight(store, accounts: 300, prefix: "AC")
      store.rollbackWrite()
      #expect(!store.firmIndexDropped)
      #expect(try store.db.scalarInt("SELECT count(*) FROM accounts") == 0)
      #expect(
        try store.db.scalarInt(
          "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'accounts_by_firm'") == 1)
      // And the store still takes a first night after it.
      try store.beginWrite()
      #expect(store.firmIndexDropped)
      let byFirm = try writeNight(store, accounts: 300, prefix: "AC")
      try store.commitWrite()
      let found = try store.accounts(ofFirm: "FIRM002", withRecordAt: CivilDate(dayNumber: day))
      #expect(Set(found.keys) == byFirm["FIRM002"])
    }
  }

  struct CannotMakeTemporaryFiles: Error {}

  /// Where SQLite can make no temporary file (a read-only root, a full /tmp), the index is
  /// sorted in memory rather than failing the commit, and files are used again afterwards.
  @Test func anIndexThatCannotBeSortedInFilesIsSortedInMemory() throws {
    var sent: [String] = []
    try StateStore.buildFirmIndex { sql in
      sent.append(sql)
      if sent.count == 1 { throw CannotMakeTemporaryFiles() }
    }
    #expect(
      sent == [
        "CREATE INDEX IF NOT EXISTS accounts_by_firm ON accounts(firm_id)", "PRAGMA temp_store = MEMORY",
        "CREATE INDEX IF NOT EXISTS accounts_by_firm ON accounts(firm_id)", "PRAGMA temp_store = DEFAULT",
      ])
    // A failure in memory too is the commit's error.
    #expect(throws: CannotMakeTemporaryFiles.self) {
      try StateStore.buildFirmIndex { sql in
        if sql.hasPrefix("CREATE") { throw CannotMakeTemporaryFiles() }
      }
    }
  }
}
