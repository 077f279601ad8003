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

/// A bounded first-in-first-out hand-over of batches from the snapshot reader to one worker
/// thread: `push` waits while the queue is full (memory stays bounded), `pop` waits for a batch
/// and returns nil once the queue is closed and empty.
final class HandOverQueue<Element>: @unchecked Sendable {
  private let condition = NSCondition()
  private var items: [Element] = []
  private var head = 0
  private var closed = false
  private let capacity: Int

  init(capacity: Int) { self.capacity = max(1, capacity) }

  func push(_ item: Element) {
    condition.lock()
    while items.count - head >= capacity { condition.wait() }
    items.append(item)
    condition.broadcast()
    condition.unlock()
  }

  func pop() -> Element? {
    condition.lock()
    defer { condition.unlock() }
    while head == items.count && !closed { condition.wait() }
    guard head < items.count else { return nil }
    let item = items[head]
    head += 1
    if head == items.count {
      items.removeAll(keepingCapacity: true)
      head = 0
    }
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
