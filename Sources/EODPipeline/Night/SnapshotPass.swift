import EODCompression
import EODCore
import EODRender
import EODSnapshot
import EODState
import Foundation
import Logging

/// A stage of the night (docs/architecture.md): the one pass over the snapshot. Opens the state connections, the history
/// writer (the nightly case), the output tree and every firm's files; reads the accounts on this
/// thread and hands them to the processing threads, where each firm values and renders them
/// (``FirmRun/consume(_:)``, valuation and rows in `FirmRenderer.swift`) into gzip members
/// compressed by a shared pool of threads; then ends every firm's rows.
enum SnapshotPass {
  /// What the pass leaves for the stages after it, alive until they return (the compression
  /// pool and the history writer's transaction end when ``run(_:snapshot:options:store:logger:then:)`` does).
  struct Pass {
    let runs: [FirmRun]
    /// The writer that wrote the records during the pass (nil: the firms hold them).
    let writer: HistoryWriter?
    /// The processing threads' own connections (each held a read transaction for its reads).
    let stores: [StateStore]
    let tree: Result<OutputTree, PipelineError>
  }

  /// Runs the pass, then `next` (the stages that complete the firms and commit the history)
  /// while the pass's resources are still open.
  static func run<T>(
    _ plan: NightPlan, snapshot: OpenedSnapshot, options: JobOptions, store: StateStore, logger: Logger,
    then next: (Pass) throws(PipelineError) -> T
  ) throws(PipelineError) -> T {
    // The names the pass uses.
    let date = plan.date
    let reference = plan.reference
    let firms = plan.firms
    let templates = plan.templates
    let gaps = plan.gaps
    var writeDuringPass = plan.writeDuringPass
    let reader = snapshot.reader
    let passFirms = snapshot.passFirms
    let checkedInPass = snapshot.checkedInPass
    let skipped = snapshot.skipped
    let gate = snapshot.gate
    func refusal() -> PipelineError? { snapshot.refusal() }
    func checkSkippedTables() -> SnapshotError? { snapshot.checkSkippedTables() }
    func unchanged() -> SnapshotError? { snapshot.unchanged() }
    // One pass over the snapshot feeds every selected firm (accounts of all firms interleave in
    // the file, so a pass per firm would read every page once per firm); each firm's files,
    // totals and records are its own, and one firm's failure does not stop the others. All the
    // files share one pool of compression threads, which bounds memory however many are open.
    let pool = CompressionPool(workerCount: options.workerCount)
    defer { pool.shutdown() }
    // Firms are valued and rendered on `workers` threads (a firm always on the same one, so its
    // rows stay in account order), each with its own state-store connection for history reads;
    // this thread reads the snapshot and hands accounts over in batches.
    let workers = max(1, min(options.processingThreads, firms.count))
    var stores: [StateStore] = []
    do {
      // A night's history reads go through the accounts in key order: a small page cache each.
      for _ in 0..<workers { stores.append(try StateStore(path: store.path, cacheKibibytes: 2000)) }
    } catch {
      throw refusal() ?? PipelineError(state: error)
    }
    var writer: HistoryWriter?
    do throws(StateStoreError) {
      if writeDuringPass { writeDuringPass = try !store.hasRecords(at: date) }
    } catch {
      throw refusal() ?? PipelineError(state: error)
    }
    if writeDuringPass {
      do { writer = try HistoryWriter(store: store, date: date, firmIDs: firms.map(\.id)) } catch {
        throw refusal() ?? error
      }
    }
    // Whatever happens from here, an uncommitted night's history is not left open (the writer's
    // thread is stopped first: the connection is used by one thread at a time).
    defer {
      writer?.drain()
      writer?.rollback()
    }
    writer?.start()
    // The output directory: everything below it is made through descriptors that never follow
    // a symlink (EODCompression.OutputTree). A failure to open it fails every firm.
    let tree: Result<OutputTree, PipelineError>
    do throws(CompressionError) {
      tree = .success(try OutputTree(path: options.outputDirectory, modes: options.fileModes))
    } catch {
      tree = .failure(PipelineError(output: error, firmID: nil))
    }
    var runs: [FirmRun] = []
    for (index, firm) in firms.enumerated() {
      var firmLogger = logger
      firmLogger[metadataKey: "firm"] = "\(firm.id)"
      runs.append(
        FirmRun(
          firm: firm, index: index, date: date, reference: reference, templates: templates[firm.id] ?? [],
          options: options, gapCarriedFrom: gaps[firm.id], store: stores[index % workers], writer: writer,
          pool: pool, tree: tree, logger: firmLogger))
    }
    var byID: [String: Int] = [:]
    for run in runs { byID[run.firm.id] = run.index }
    let queues = (0..<workers).map { _ in HandOverQueue<[HandedAccount]>(capacity: 4) }
    let group = DispatchGroup()
    let firmRuns = runs
    for queue in queues {
      group.enter()
      Thread.detachNewThread {
        defer { group.leave() }
        while let batch = queue.pop() {
          for item in batch { firmRuns[item.firm].consume(item.bundle) }
        }
      }
    }
    let clock = ContinuousClock()
    var readTime = Duration.zero
    var readError: SnapshotError?
    do {
      let cursor = try reader.accounts(ofFirms: passFirms)
      let batchSize = 128
      var batches = Array(repeating: [HandedAccount](), count: workers)
      while true {
        let before = clock.now
        guard let bundle = try cursor.next() else { break }
        readTime += clock.now - before
        guard let index = byID[bundle.account.firmID] else { continue }
        let worker = index % workers
        batches[worker].append(HandedAccount(firm: index, bundle: bundle))
        if batches[worker].count == batchSize {
          queues[worker].push(batches[worker])
          batches[worker].removeAll(keepingCapacity: true)
        }
      }
      for worker in 0..<workers where !batches[worker].isEmpty { queues[worker].push(batches[worker]) }
    } catch {
      readError = error
    }
    for queue in queues { queue.close() }
    group.wait()
    // The snapshot could not be read to the end: no firm is complete.
    if let readError { for run in runs { run.fail(PipelineError(snapshot: readError)) } }
    if checkedInPass {
      if let readError, let table = readError.table, skipped.contains(table),
        SnapshotError.Code.rowProblems.contains(readError.code)
      {
        gate.finish(part: 1, readError)
      } else if readError != nil {
        gate.finish(part: 1, checkSkippedTables())
      } else {
        gate.finish(part: 1, nil)
      }
    }
    gate.finish(part: 2, unchanged())
    logger.info(
      "snapshot read",
      metadata: [
        "step": "read", "read_ms": .stringConvertible(FirmRun.milliseconds(readTime)),
        "firms": .stringConvertible(runs.count),
        "processing_threads": .stringConvertible(workers),
      ])
    for run in runs { run.endRows() }
    return try next(Pass(runs: runs, writer: writer, stores: stores, tree: tree))
  }
}
