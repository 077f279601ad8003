import Foundation
import Synchronization
import Testing

@testable import EODPipeline

/// The queues between the snapshot reader, the processing threads and the history writer: first
/// in, first out, bounded, and holding nothing once it is popped (memory that does not grow with
/// the night whatever the pace of the two sides).
@Suite struct HandOverQueueTests {
  final class Batch: Sendable {
    let number: Int
    init(_ number: Int) { self.number = number }
  }

  @Test func aPoppedBatchIsLetGoWhileOthersStillWait() throws {
    let queue = HandOverQueue<Batch>(capacity: 4)
    weak var first: Batch?
    do {
      let batch = Batch(1)
      first = batch
      queue.push(batch)
    }
    queue.push(Batch(2))
    do {
      let popped = try #require(queue.pop())
      #expect(popped.number == 1)
    }
    // The second batch still waits: the queue never ran empty, yet the first is gone.
    #expect(first == nil)
    #expect(queue.pop()?.number == 2)
  }

  @Test func batchesComeOutInOrderAcrossManyTurnsOfTheRingAndNilOnceClosedAndEmpty() {
    let queue = HandOverQueue<Batch>(capacity: 3)
    var out: [Int] = []
    var next = 0
    // Rounds of one to three batches: the ring's start moves round it many times.
    for round in 0..<10 {
      let count = 1 + round % 3
      for _ in 0..<count {
        queue.push(Batch(next))
        next += 1
      }
      for _ in 0..<count { if let batch = queue.pop() { out.append(batch.number) } }
    }
    // Batches still waiting when the queue is closed come out before the nil.
    queue.push(Batch(next))
    queue.push(Batch(next + 1))
    next += 2
    queue.close()
    while let batch = queue.pop() { out.append(batch.number) }
    #expect(out == Array(0..<next))
    #expect(queue.pop() == nil)
  }

  @Test func pushWaitsWhileTheQueueIsFull() {
    let queue = HandOverQueue<Batch>(capacity: 2)
    let pushed = Atomic<Int>(0)
    let done = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
      for number in 0..<3 {
        queue.push(Batch(number))
        pushed.add(1, ordering: .releasing)
      }
      done.signal()
    }
    // The third push cannot go in before a batch is popped.
    #expect(done.wait(timeout: .now() + .milliseconds(300)) == .timedOut)
    #expect(pushed.load(ordering: .acquiring) == 2)
    #expect(queue.pop()?.number == 0)
    #expect(done.wait(timeout: .now() + .seconds(10)) == .success)
    #expect(queue.pop()?.number == 1)
    #expect(queue.pop()?.number == 2)
  }
}
