import EODState
import Foundation
import Testing

/// The state store's additive outcome tables: `failures` and the idempotency outcome columns.
@Suite struct RunOutcomeStoreTests {
  func scratch() throws -> String {
    let dir = NSTemporaryDirectory() + "eod-outcomes-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
  }

  /// A key stored before outcomes were kept reads as completed (exit 0); an outcome saved
  /// afterwards is read back, and replacing the record keeps the columns usable.
  @Test func idempotencyOutcomesAreAddedToAnExistingStore() throws {
    let dir = try scratch()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let store = try StateStore(path: dir + "/state.sqlite")
    try store.saveIdempotencyRecord("k1", fingerprint: "f", createdAt: Date(), result: "{}")
    #expect(
      try store.idempotencyOutcome("k1") == IdempotencyOutcome(exitCode: 0, failedFirms: [], report: ""))
    #expect(try store.idempotencyOutcome("missing") == nil)
    let outcome = IdempotencyOutcome(exitCode: 1, failedFirms: ["F1", "F2"], report: "line 1\nline 2\n")
    try store.saveIdempotencyOutcome("k1", outcome)
    #expect(try store.idempotencyOutcome("k1") == outcome)
    // A second connection (a later run) sees the same.
    #expect(try StateStore(path: dir + "/state.sqlite").idempotencyOutcome("k1") == outcome)
  }

  @Test func statusShowsTheLastFailurePerFirmAndTheLastRunFailure() throws {
    let dir = try scratch()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let store = try StateStore(path: dir + "/state.sqlite")
    #expect(try store.firmStatuses().firms.isEmpty)
    try store.recordDelivery(
      JournalEntry(
        firmID: "F1", businessDate: "2026-10-01", destination: "/d", fileName: "F1_manifest_20261001.json",
        sha256: "x", remotePath: "/d/m", attempts: 1, outcome: "delivered",
        deliveredAt: "2026-10-02T01:00:00Z",
        runID: "run-a"))
    try store.recordDelivery(
      JournalEntry(
        firmID: "F1", businessDate: "2026-10-02", destination: "/d", fileName: "F1_positions_20261002.csv.gz",
        sha256: "x", remotePath: "/d/p", attempts: 1, outcome: "delivered",
        deliveredAt: "2026-10-03T01:00:00Z",
        runID: "run-b"))
    try store.recordFailures([
      FailureEntry(
        firmID: "F2", businessDate: "2026-10-01", runID: "run-a", step: "extract", error: "old",
        failedAt: "2026-10-02T01:00:00Z", exitCode: 1),
      FailureEntry(
        firmID: "F2", businessDate: "2026-10-02", runID: "run-b", step: "deliver", error: "new",
        failedAt: "2026-10-03T01:00:00Z", exitCode: 1),
      FailureEntry(
        firmID: "", businessDate: "2026-10-05", runID: "run-c", step: "run", error: "no snapshot",
        failedAt: "2026-10-06T01:00:00Z", exitCode: 2),
    ])
    let (firms, lastRun) = try store.firmStatuses()
    #expect(firms.map(\.firmID) == ["F1", "F2"])
    // A date without its manifest in the journal is not delivered.
    #expect(firms[0].lastDelivered?.date == "2026-10-01" && firms[0].lastDelivered?.runID == "run-a")
    #expect(firms[1].lastDelivered == nil)
    #expect(firms[1].lastFailure?.error == "new" && firms[1].lastFailure?.step == "deliver")
    #expect(lastRun?.exitCode == 2 && lastRun?.runID == "run-c")
  }
}
