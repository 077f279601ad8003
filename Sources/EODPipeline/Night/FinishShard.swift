import EODCore
import EODOps
import EODState
import Foundation
import Logging

/// The last stage of a shard's night (docs/kubernetes.md): a shard whose every firm is complete
/// records its finish; the one that records the last finish of the plan finalizes the night when
/// asked (`finalizeIfLast`). The shard's exit code is its own firms' (the night's verdict is
/// finalize's: its summary, metrics and webhook).
enum FinishShard {
  static func run(
    _ shard: PreparedNight.Shard, exitCode: EODExitCode, request: NightRequest, store: any StateStoring,
    now: @escaping @Sendable () -> Date
  ) async throws -> EODExitCode {
    guard exitCode == .success else { return exitCode }
    let last = try store.recordShardFinish(
      businessDate: shard.date.description, shard: shard.selection.index, runID: request.runID,
      at: Timestamp.rfc3339(now()))
    request.say(
      "\(shard.date) shard \(shard.selection.description): finished\(last ? " (the last of the night)" : "")")
    if last && request.finalizeIfLast {
      _ = try await FinalizeNight.run(
        date: shard.date, store: store, configuration: shard.configuration, runID: request.runID, now: now,
        say: request.say, logger: request.logger)
    }
    return exitCode
  }
}
