import EODSnapshot
import Foundation

/// The snapshot's validation verdict, awaited by every firm before it puts files in place.
///
/// The check can come in parts (the syntax-check thread, and the pass over the accounts, which
/// checks the tables it reads in full as it reads them); the verdict is known when every part has
/// finished, and is the refusal in the table that comes first in the schema (as one scan of
/// the tables in schema order would have found).
/// `@unchecked Sendable`: all its state is guarded by `condition` (an NSCondition: `wait` blocks on it).
final class ValidationGate: @unchecked Sendable {
  private let condition = NSCondition()
  private var finished: Set<Int> = []
  private let parts: Int
  private var errors: [SnapshotError] = []

  init(parts: Int = 1) { self.parts = parts }

  /// Records part `part`'s result (the first call for a part counts).
  func finish(part: Int = 0, _ error: SnapshotError?) {
    condition.lock()
    if finished.insert(part).inserted, let error { errors.append(error) }
    condition.broadcast()
    condition.unlock()
  }

  func isFinished(part: Int) -> Bool {
    condition.lock()
    defer { condition.unlock() }
    return finished.contains(part)
  }

  /// Blocks until every part has finished; the refusal, if any.
  func wait() -> SnapshotError? {
    condition.lock()
    defer { condition.unlock() }
    while finished.count < parts { condition.wait() }
    func rank(_ error: SnapshotError) -> Int {
      error.table.flatMap { table in SnapshotSchema.tables.firstIndex { $0.name == table } } ?? -1
    }
    return errors.min { rank($0) < rank($1) }
  }
}

/// A bounded first-in-first-out hand-over of batches from the snapshot reader to one worker
/// thread: `push` waits while the queue is full, `pop` waits for a batch and returns nil once the
/// queue is closed and empty.
///
/// The batches wait in a ring of `capacity` slots, and `pop` empties its slot as it takes the
/// batch: the queue never holds more than `capacity` batches, so its memory is bounded whatever
/// the pace of the two sides. (An array that kept popped batches until the queue ran empty held,
/// behind a history writer slower than the processing threads, nearly every batch of the night:
/// 32 MB at 300,000 accounts, growing with the book.)
final class HandOverQueue<Element> {
  private let condition = NSCondition()
  private var slots: [Element?]
  /// The slot of the oldest batch, and how many wait.
  private var head = 0
  private var count = 0
  private var closed = false

  init(capacity: Int) { slots = Array(repeating: nil, count: max(1, capacity)) }

  func push(_ item: Element) {
    condition.lock()
    while count == slots.count { condition.wait() }
    slots[(head + count) % slots.count] = item
    count += 1
    condition.broadcast()
    condition.unlock()
  }

  func pop() -> Element? {
    condition.lock()
    defer { condition.unlock() }
    while count == 0 && !closed { condition.wait() }
    guard count > 0 else { return nil }
    let item = slots[head]
    slots[head] = nil
    head = (head + 1) % slots.count
    count -= 1
    condition.broadcast()
    return item
  }

  func close() {
    condition.lock()
    closed = true
    condition.broadcast()
    condition.unlock()
  }
}

/// `@unchecked Sendable`: all its state is guarded by `condition`; each element goes to one thread (only Sendable elements).
extension HandOverQueue: @unchecked Sendable where Element: Sendable {}
