import Foundation

/// How a worker turns one input block into output bytes.
enum BlockEncoder: Sendable, Hashable {
  /// One independent gzip member per block.
  case gzip(level: Int32, backend: DeflateBackend)
  /// The block as it is.
  case identity
}

/// Compression threads shared by many ``GzipFileWriter``s, with one bound on the blocks in flight
/// across all of them.
///
/// A job that writes many files at once (every firm's five extracts) shares one pool: the
/// thread count and the memory held by blocks waiting to be compressed or written stay fixed
/// however many files are open. Blocks are compressed in submission order (FIFO); each file
/// still receives its own blocks strictly in order. A writer without a pool gets a private one.
///
/// Memory: at most `maxBlocksInFlight` blocks (each up to a writer's `blockSize`, plus its
/// compressed copy) are between `append` and their file; `append` waits (backpressure) until
/// there is room. Progress is guaranteed: a block waits only for blocks submitted before it.
///
/// Call ``shutdown()`` when done; it lets the workers finish the queue and exit.
/// `@unchecked Sendable`: all its mutable state is guarded by `condition` (workers and producers wait on it).
public final class CompressionPool: @unchecked Sendable {
  struct Job {
    let pipeline: BlockPipeline
    let index: Int
    var bytes: [UInt8]
  }

  /// Worker threads.
  public let workerCount: Int
  /// Blocks allowed between `append` and the file, over every writer using the pool.
  public let maxBlocksInFlight: Int

  private let condition = NSCondition()
  // Guarded by `condition`.
  private var queue: [Job] = []
  private var head = 0
  private var inFlight = 0
  private var stopping = false
  private var liveWorkers = 0
  private var spareBuffers: [[UInt8]] = []

  /// The active processor count, read once per process: the default worker count here and in
  /// ``GzipFileWriter/Configuration``. Foundation reads it from the control group's files at each
  /// call (two files opened and read), and a night of 999 firms makes about 5,000 writers.
  public static let activeProcessorCount = ProcessInfo.processInfo.activeProcessorCount

  /// - Parameters:
  ///   - workerCount: compression threads, 1…64 (default: the active processor count).
  ///   - maxBlocksInFlight: the memory bound in blocks (default `2 × workerCount + 2`).
  public init(
    workerCount: Int = CompressionPool.activeProcessorCount, maxBlocksInFlight: Int? = nil
  ) {
    self.workerCount = min(64, max(1, workerCount))
    self.maxBlocksInFlight = max(1, maxBlocksInFlight ?? (2 * self.workerCount + 2))
    liveWorkers = self.workerCount
    for number in 0..<self.workerCount {
      let thread = Thread { [self] in self.runWorker() }
      thread.name = "gzip-worker-\(number)"
      thread.start()
    }
  }

  /// Lets the workers finish every queued block, then waits for them to exit. Writers must be
  /// finished or abandoned first; later submissions fail.
  public func shutdown() {
    condition.lock()
    stopping = true
    condition.broadcast()
    while liveWorkers > 0 { condition.wait() }
    condition.unlock()
  }

  /// An empty buffer with capacity from an earlier block, if one is spare.
  func takeSpareBuffer() -> [UInt8]? {
    condition.lock()
    defer { condition.unlock() }
    return spareBuffers.popLast()
  }

  /// Keeps `buffer`'s storage for a later block (bounded by `maxBlocksInFlight`).
  func recycle(_ buffer: inout [UInt8]) {
    guard buffer.capacity > 0 else { return }
    var spare: [UInt8] = []
    swap(&spare, &buffer)
    spare.removeAll(keepingCapacity: true)
    condition.lock()
    if spareBuffers.count < maxBlocksInFlight { spareBuffers.append(spare) }
    condition.unlock()
  }

  /// Queues a block, waiting while `maxBlocksInFlight` blocks are in flight. False when the pool
  /// is shut down or the pipeline was cancelled meanwhile.
  func submit(_ job: Job) -> Bool {
    condition.lock()
    defer { condition.unlock() }
    while !stopping && inFlight >= maxBlocksInFlight && !job.pipeline.isCancelled { condition.wait() }
    if stopping || job.pipeline.isCancelled { return false }
    inFlight += 1
    queue.append(job)
    condition.broadcast()
    return true
  }

  /// A block left flight (written, or dropped after a cancel or failure).
  func release(_ count: Int = 1) {
    guard count > 0 else { return }
    condition.lock()
    inFlight -= count
    condition.broadcast()
    condition.unlock()
  }

  /// Wakes producers waiting in `submit` (a pipeline was cancelled).
  func wakeProducers() {
    condition.lock()
    condition.broadcast()
    condition.unlock()
  }

  private func runWorker() {
    var deflaters: [BlockEncoder: any RawDeflater] = [:]
    condition.lock()
    defer {
      liveWorkers -= 1
      condition.broadcast()
      condition.unlock()
    }
    while true {
      while head == queue.count && !stopping { condition.wait() }
      if head == queue.count { return }
      var job = queue[head]
      queue[head].bytes = []
      head += 1
      if head == queue.count {
        queue.removeAll(keepingCapacity: true)
        head = 0
      }
      condition.unlock()
      job.pipeline.process(&job, deflaters: &deflaters)
      condition.lock()
    }
  }
}

/// One file's share of the pool: numbers its blocks, parks encoded results, and writes them to
/// the file strictly in order. Whichever worker finds the next block ready takes the single
/// writer token and writes every consecutive ready result, so `onOutput` is never called
/// concurrently.
///
/// `@unchecked Sendable`: state guarded by `condition`; `file` used only by the writer token's holder.
final class BlockPipeline: @unchecked Sendable {
  private let condition = NSCondition()
  private let encoder: BlockEncoder
  private let onOutput: (@Sendable (UnsafeRawBufferPointer) -> Void)?
  let pool: CompressionPool
  let file: OutputFile

  // Guarded by `condition`.
  private var results: [Int: [UInt8]] = [:]
  private var submitted = 0
  private var written = 0
  /// Blocks of this file a worker is compressing or writing right now.
  private var busy = 0
  private var writing = false
  private var cancelled = false {
    didSet { cancelFlag.withLock { cancelledFlag = cancelled } }
  }
  /// A copy of `cancelled` under a leaf lock, for the pool to read while holding its own lock
  /// (lock order: pipeline, then pool, then this flag).
  private let cancelFlag = NSLock()
  private var cancelledFlag = false
  private var failure: CompressionError?
  private var outputBytes: Int64 = 0

  init(
    encoder: BlockEncoder, pool: CompressionPool, file: OutputFile,
    onOutput: (@Sendable (UnsafeRawBufferPointer) -> Void)?
  ) {
    self.encoder = encoder
    self.pool = pool
    self.file = file
    self.onOutput = onOutput
  }

  var isCancelled: Bool { cancelFlag.withLock { cancelledFlag } }

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

  /// The first failure, if any (for the producer to report).
  var firstFailure: CompressionError? {
    condition.lock()
    defer { condition.unlock() }
    return failure
  }

  func takeSpareBuffer() -> [UInt8]? { pool.takeSpareBuffer() }

  /// Queues `bytes` as the next block, waiting while the pool is full.
  func submit(_ bytes: [UInt8]) throws(CompressionError) {
    condition.lock()
    if let failure {
      condition.unlock()
      throw failure
    }
    if cancelled {
      condition.unlock()
      throw CompressionError(code: .writerClosed, step: "queueing a block", path: file.path)
    }
    let index = submitted
    submitted += 1
    condition.unlock()
    if !pool.submit(CompressionPool.Job(pipeline: self, index: index, bytes: bytes)) {
      condition.lock()
      defer { condition.unlock() }
      submitted -= 1
      throw failure
        ?? CompressionError(
          code: .writerClosed, step: "queueing a block: the compression pool is shut down", path: file.path)
    }
  }

  /// Waits until every submitted block is written; then reports any failure.
  func drainAndStop() throws(CompressionError) {
    condition.lock()
    defer { condition.unlock() }
    while failure == nil && !cancelled && written < submitted { condition.wait() }
    if let failure { throw failure }
    if written != submitted {
      throw CompressionError(
        code: .writerClosed, step: "finishing: only \(written) of \(submitted) blocks were written",
        path: file.path)
    }
  }

  /// Drops this file's queued and parked blocks and waits until no worker is using the file.
  /// Never throws.
  func cancelAndStop() {
    condition.lock()
    cancel()
    while busy > 0 || writing { condition.wait() }
    condition.unlock()
  }

  /// Caller holds the lock. Blocks still queued in the pool are dropped when a worker reaches
  /// them (`process`); parked results are dropped now.
  private func cancel() {
    guard !cancelled else { return }
    cancelled = true
    let parked = results.count
    results.removeAll()
    pool.release(parked)
    pool.wakeProducers()
    condition.broadcast()
  }

  /// Caller holds the lock.
  private func fail(_ error: CompressionError) {
    if failure == nil { failure = error }
    cancel()
  }

  /// On a pool worker: encodes the block, parks the result and writes what is ready.
  func process(_ job: inout CompressionPool.Job, deflaters: inout [BlockEncoder: any RawDeflater]) {
    condition.lock()
    if cancelled {
      condition.unlock()
      pool.release()
      return
    }
    busy += 1
    condition.unlock()
    let encoded = encode(job, deflaters: &deflaters)
    if case .gzip = encoder { pool.recycle(&job.bytes) }
    condition.lock()
    busy -= 1
    defer {
      condition.broadcast()
      condition.unlock()
    }
    if cancelled {
      pool.release()
      return
    }
    switch encoded {
    case .success(let bytes):
      results[job.index] = bytes
    case .failure(let error):
      pool.release()
      fail(error)
      return
    }
    if !writing { writeReadyBlocks() }
  }

  private func encode(
    _ job: CompressionPool.Job, deflaters: inout [BlockEncoder: any RawDeflater]
  ) -> Result<[UInt8], CompressionError> {
    switch encoder {
    case .identity:
      return .success(job.bytes)
    case .gzip(let level, let backend):
      do throws(CompressionError) {
        let stream: any RawDeflater
        if let existing = deflaters[encoder] {
          stream = existing
        } else {
          stream = try makeRawDeflater(backend, level: level)
          deflaters[encoder] = stream
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
      let count = bytes.count
      pool.release()
      if case .identity = encoder { pool.recycle(&bytes) }
      condition.lock()
      if let writeError {
        fail(writeError)
        return
      }
      written += 1
      outputBytes += Int64(count)
      condition.broadcast()
    }
  }
}
