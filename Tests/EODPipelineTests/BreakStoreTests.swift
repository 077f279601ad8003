import EODState
import Foundation
import Testing

/// The state store's additive `breaks` tables: a break's dates, closing, reopening, a re-run
/// replacing its date, a failed reconciliation leaving nothing.
@Suite struct BreakStoreTests {
  struct Planted: Error {}

  func observation(_ id: String, _ ours: String = "1") -> BreakObservation {
    BreakObservation(
      id: id, type: "MISSING_THEIRS", key: ["AC1", id], field: "", ours: ours, theirs: "", difference: "")
  }

  func day(_ store: any StateStoring, _ date: String, _ ids: [String], extract: String = "positions") throws {
    try store.recordBreakDay(firm: "F1", extract: extract, date: date) { recorder in
      for id in ids { try recorder.record(observation(id, date)) }
    }
  }

  func lives(_ store: any StateStoring) throws -> [String] {
    try store.breaks(firm: "F1", extract: nil, openOnly: false).map {
      "\($0.id) \($0.firstSeen) \($0.lastSeen) \($0.closed ?? "open") \($0.ours)"
    }
  }

  @Test(arguments: Backend.allCases)
  func breaksAreFollowedClosedReopenedAndReplaced(backend: Backend) throws {
    let dir = NSTemporaryDirectory() + "eod-breaks-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let store = try backend.open("state", scratch: dir)
    #expect(try store.breaks(firm: "F1", extract: nil, openOnly: false).isEmpty)  // no tables yet: none

    try day(store, "2026-10-01", ["a", "c", "d"])
    try store.recordBreakDay(firm: "F1", extract: "positions", date: "2026-10-02") { recorder in
      #expect(try recorder.firstSeen(before: "a") == "2026-10-01")
      #expect(try recorder.firstSeen(before: "b") == nil)
      for id in ["a", "b", "c"] { try recorder.record(observation(id, "2026-10-02")) }
    }
    try day(store, "2026-10-05", ["a", "b", "d"])
    #expect(
      try lives(store) == [
        "a 2026-10-01 2026-10-05 open 2026-10-05",
        "b 2026-10-02 2026-10-05 open 2026-10-05",
        "c 2026-10-01 2026-10-02 2026-10-05 2026-10-02",
        // d went on 2026-10-02 and came back: open again, first seen kept.
        "d 2026-10-01 2026-10-05 open 2026-10-05",
      ])
    #expect(try store.breaks(firm: "F1", extract: nil, openOnly: true).map(\.id) == ["a", "b", "d"])
    #expect(try store.breaks(firm: "F1", extract: "cash", openOnly: false).isEmpty)
    #expect(try store.breaks(firm: "F2", extract: nil, openOnly: false).isEmpty)

    // Re-running 2026-10-02 with only "a" replaces that date's result.
    try day(store, "2026-10-02", ["a"])
    #expect(
      try lives(store) == [
        "a 2026-10-01 2026-10-05 open 2026-10-05",
        "b 2026-10-05 2026-10-05 open 2026-10-05",
        "c 2026-10-01 2026-10-01 2026-10-02 2026-10-01",
        "d 2026-10-01 2026-10-05 open 2026-10-05",
      ])

    // A reconciliation that fails keeps nothing of its date.
    #expect(throws: Planted.self) {
      try store.recordBreakDay(firm: "F1", extract: "positions", date: "2026-10-06") { recorder in
        try recorder.record(observation("e"))
        throw Planted()
      }
    }
    #expect(try lives(store).count == 4)
    // Another extract of the same firm does not close the positions breaks.
    try day(store, "2026-10-06", ["x"], extract: "cash")
    #expect(try store.breaks(firm: "F1", extract: nil, openOnly: true).map(\.id) == ["x", "a", "b", "d"])
    // A later connection reads the same.
    #expect(try store.openReader(small: false).breaks(firm: "F1", extract: nil, openOnly: false).count == 5)
  }
}
