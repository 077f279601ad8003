import EODSnapshot
import Foundation

/// The snapshot's validation verdict, awaited by every firm before it puts files in place.
final class ValidationGate: @unchecked Sendable {
  private let condition = NSCondition()
  private var done = false
  private var error: SnapshotError?

  func finish(_ error: SnapshotError?) {
    condition.lock()
    self.error = error
    done = true
    condition.broadcast()
    condition.unlock()
  }

  /// Blocks until validation has finished; the refusal, if any.
  func wait() -> SnapshotError? {
    condition.lock()
    defer { condition.unlock() }
    while !done { condition.wait() }
    return error
  }
}

/// Hands out indexes 0..<count to worker threads.
final class WorkQueue: @unchecked Sendable {
  private let lock = NSLock()
  private var nextIndex = 0
  private let count: Int

  init(count: Int) { self.count = count }

  func next() -> Int? {
    lock.lock()
    defer { lock.unlock() }
    guard nextIndex < count else { return nil }
    defer { nextIndex += 1 }
    return nextIndex
  }
}

/// Collects each firm's outcome in the snapshot's firm order.
final class FirmResults: @unchecked Sendable {
  private let lock = NSLock()
  private var outcomes: [FirmOutcome?]

  init(count: Int) { outcomes = Array(repeating: nil, count: count) }

  /// Records a firm's outcome; how many are done now.
  @discardableResult
  func set(_ index: Int, _ outcome: FirmOutcome) -> Int {
    lock.lock()
    defer { lock.unlock() }
    outcomes[index] = outcome
    return outcomes.count { $0 != nil }
  }

  func all() -> [FirmOutcome] {
    lock.lock()
    defer { lock.unlock() }
    return outcomes.compactMap { $0 }
  }
}
