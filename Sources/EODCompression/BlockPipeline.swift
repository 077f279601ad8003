import Foundation

/// How a worker turns one input block into output bytes.
enum BlockEncoder: Sendable {
  /// One independent gzip member per block.
  case gzip(level: Int32, backend: DeflateBackend)
  /// The block as it is.
  case identity
}

/// The shared state between the producer (`GzipFileWriter`), the worker threads and the file.
///
/// The producer submits numbered blocks; workers take them in submission order, encode them
/// outside the lock, and park the results by number. Whichever worker finds the next block to
/// write ready takes the single writer token and writes every consecutive ready result, so the
/// file receives blocks strictly in order and `onOutput` is never called concurrently. At most
/// `maxInFlight` blocks are submitted but unwritten: `submit` blocks until there is room.
///
/// `@unchecked Sendable`: every mutable property is guarded by `condition`, except `file`, which
/// only the writer-token holder touches while workers run, and only the producer after they stop.
final class BlockPipeline: @unchecked Sendable {
  private struct Job {
    var index: Int
    var bytes: [UInt8]
  }

  private let condition = NSCondition()
  private let encoder: BlockEncoder
  private let maxInFlight: Int
  private let onOutput: (@Sendable (UnsafeRawBufferPointer) -> Void)?
  let file: OutputFile

  // Guarded by `condition`.
  private var jobs: [Job] = []
  private var jobsHead = 0
  private var results: [Int: [UInt8]] = [:]
  private var submitted = 0
  private var written = 0
  private var writing = false
  private var closed = false
  private var cancelled = false
  private var liveWorkers = 0
  private var failure: CompressionError?
  private var outputBytes: Int64 = 0
  /// Emptied block buffers (capacity kept) for the producer to refill: no fresh allocation and
  /// page faults per block.
  private var spareBuffers: [[UInt8]] = []

  init(
    encoder: BlockEncoder, workerCount: Int, maxInFlight: Int, file: OutputFile,
    onOutput: (@Sendable (UnsafeRawBufferPointer) -> Void)?
  ) {
    self.encoder = encoder
    self.maxInFlight = maxInFlight
    self.file = file
    self.onOutput = onOutput
    liveWorkers = workerCount
    for number in 0..<workerCount {
      let thread = Thread { [self] in self.runWorker() }
      thread.name = "gzip-worker-\(number)"
      thread.start()
    }
  }

  /// Compressed (or, with `.none`, plain) bytes written to the file so far.
  var outputByteCount: Int64 {
    condition.lock()
    defer { condition.unlock() }
    return outputBytes
  }

  /// Blocks written to the file so far.
  var writtenBlockCount: Int {
    condition.lock()
    defer { condition.unlock() }
    return written
  }

  /// An empty buffer with capacity from an earlier block, if one is spare.
  func takeSpareBuffer() -> [UInt8]? {
    condition.lock()
    defer { condition.unlock() }
    return spareBuffers.popLast()
  }

  /// Caller holds the lock. Keeps `buffer`'s storage for reuse (bounded by `maxInFlight`).
  private func recycle(_ buffer: inout [UInt8]) {
    guard spareBuffers.count < maxInFlight, buffer.capacity > 0 else { return }
    var spare: [UInt8] = []
    swap(&spare, &buffer)
    spare.removeAll(keepingCapacity: true)
    spareBuffers.append(spare)
  }

  /// Queues `bytes` as the next block, waiting while `maxInFlight` blocks are unwritten.
  func submit(_ bytes: [UInt8]) throws(CompressionError) {
    condition.lock()
    defer { condition.unlock() }
    while !cancelled && submitted - written >= maxInFlight { condition.wait() }
    if let failure { throw failure }
    if cancelled || closed {
      throw CompressionError(code: .writerClosed, step: "queueing a block", path: file.path)
    }
    jobs.append(Job(index: submitted, bytes: bytes))
    submitted += 1
    condition.broadcast()
  }

  /// Lets the workers finish every queued block, write it, and exit; then reports any failure.
  func drainAndStop() throws(CompressionError) {
    condition.lock()
    defer { condition.unlock() }
    closed = true
    condition.broadcast()
    while liveWorkers > 0 { condition.wait() }
    if let failure { throw failure }
    if written != submitted {
      throw CompressionError(
        code: .writerClosed, step: "finishing: only \(written) of \(submitted) blocks were written",
        path: file.path)
    }
  }

  /// Drops queued work and waits for the workers to exit. Never throws.
  func cancelAndStop() {
    condition.lock()
    defer { condition.unlock() }
    cancel()
    while liveWorkers > 0 { condition.wait() }
  }

  /// The first failure, if any (for the producer to report).
  var firstFailure: CompressionError? {
    condition.lock()
    defer { condition.unlock() }
    return failure
  }

  // MARK: - Workers

  /// Caller holds the lock.
  private func cancel() {
    cancelled = true
    closed = true
    jobs.removeAll()
    jobsHead = 0
    results.removeAll()
    condition.broadcast()
  }

  /// Caller holds the lock.
  private func fail(_ error: CompressionError) {
    if failure == nil { failure = error }
    cancel()
  }

  private func runWorker() {
    var deflater: (any RawDeflater)?
    condition.lock()
    defer {
      liveWorkers -= 1
      condition.broadcast()
      condition.unlock()
    }
    while true {
      while jobsHead == jobs.count && !closed && !cancelled { condition.wait() }
      if cancelled || jobsHead == jobs.count { return }
      var job = jobs[jobsHead]
      jobs[jobsHead].bytes = []
      jobsHead += 1
      if jobsHead == jobs.count {
        jobs.removeAll(keepingCapacity: true)
        jobsHead = 0
      }
      condition.unlock()
      let encoded = encode(job, deflater: &deflater)
      condition.lock()
      if cancelled { return }
      switch encoded {
      case .success(let bytes):
        results[job.index] = bytes
        if case .gzip = encoder { recycle(&job.bytes) }
      case .failure(let error):
        fail(error)
        return
      }
      if !writing { writeReadyBlocks() }
    }
  }

  private func encode(_ job: Job, deflater: inout (any RawDeflater)?) -> Result<[UInt8], CompressionError> {
    switch encoder {
    case .identity:
      return .success(job.bytes)
    case .gzip(let level, let backend):
      do throws(CompressionError) {
        let stream: any RawDeflater
        if let deflater {
          stream = deflater
        } else {
          stream = try makeRawDeflater(backend, level: level)
          deflater = stream
        }
        return .success(
          try withBytes(job.bytes) { raw throws(CompressionError) in
            try Gzip.member(raw, stream: stream)
          })
      } catch {
        var error = error
        error.step = "compressing block \(job.index) (\(job.bytes.count) bytes): \(error.step)"
        error.path = file.path
        return .failure(error)
      }
    }
  }

  /// Caller holds the lock and `writing` is false. Takes the writer token, writes every
  /// consecutive ready block in order (unlocking around each write), then releases the token.
  private func writeReadyBlocks() {
    writing = true
    defer { writing = false }
    while !cancelled, var bytes = results.removeValue(forKey: written) {
      let index = written
      condition.unlock()
      var writeError: CompressionError?
      do throws(CompressionError) {
        try withBytes(bytes) { raw throws(CompressionError) in
          try file.writeAll(raw, step: "writing block \(index) (\(raw.count) bytes)")
          onOutput?(raw)
        }
      } catch {
        writeError = error
      }
      condition.lock()
      if let writeError {
        fail(writeError)
        return
      }
      written += 1
      outputBytes += Int64(bytes.count)
      if case .identity = encoder { recycle(&bytes) }
      condition.broadcast()
    }
  }
}
