import EODCompression
import EODCore
import EODRender
import EODSnapshot
import EODState
import Foundation
import Logging
import Synchronization

// A stage of the night (docs/architecture.md), after Preflight: ``SnapshotPass/run(_:snapshot:options:store:logger:then:)``.
//
// The snapshot pass: every selected firm's accounts read from the snapshot, valued, written to
// the firm's files (compressed by one shared pool of threads) and their performance records handed
// to the history writer. The snapshot is read once, by one scan of each table in key order (a
// firm's accounts are spread over the whole file, so this reads every page once, in order, and
// the history reads go through the state store in key order too), whatever the number of firms.
// Its memory and open files do not grow with the number of firms or accounts:
//
// - Merged pass (the firms' files together fit `SnapshotPass.mergedFileBudget`, 160 files, i.e.
//   up to 32 firms of five extracts): every firm's files are open through the scan, each holding
//   the gzip member it fills (128-256 KiB) and a 32 KiB row buffer, so memory is bounded by the
//   budget (about 25 MB at 32 firms).
// - Spooled pass (more files than the budget, e.g. a platform of 999 firms): no file is open
//   during the scan. Each account's rows are encoded as they would be into the file and added to
//   the buffer its firm shares with up to seven other firms of its thread (``RowSpool``: 128 KiB,
//   16 MiB for all of them at most); a full buffer goes to the processing thread's spool file
//   (``SpoolFile``: one per thread, unlinked, in the output directory, direct I/O where the file
//   system allows it) as a segment. When the scan ends, each processing thread takes its spools
//   in order: opens the spool's firms' files, reads its segments back in order, hands each
//   firm's rows to its files and completes them (compressed, fsynced, closed under the temporary
//   name) before the next spool: at most `threads x 8 x 5` files being written (80 with two
//   threads, within the merged pass's budget) and their blocks in memory.
//
// In both, a firm's rows stay in account order on one thread, and the gzip members are cut at the
// same input sizes: the files' bytes are the same. What is kept per account is nothing beyond the
// history writer's key list (about 2 bytes an account, ``WrittenKeys``, to undo a failed firm)
// and, per firm, the clients whose reference is reported invalid.

/// The pass over one snapshot's accounts, and what it holds while it runs: the processing
/// threads' state-store connections, the run's history writer, the compression pool and each
/// firm's ``FirmRun``.
final class SnapshotPass {
  /// What the pass leaves for the stages after it (CompleteSets, CommitHistory): the pass itself,
  /// open until ``run(_:snapshot:options:store:logger:then:)`` returns.
  typealias Pass = SnapshotPass

  /// Files a merged pass may hold open at once; beyond it the pass spools the firms' rows.
  static let mergedFileBudget = 160

  /// How the pass read the snapshot.
  enum Mode: String, Sendable {
    case merged
    case spooled
  }

  /// What the pass found.
  struct ReadOutcome {
    /// Time spent reading accounts from the snapshot.
    var readTime: Duration
    /// The snapshot could not be read to the end (no firm is complete).
    var readError: SnapshotError?
    var mode: Mode
  }

  let runs: [FirmRun]
  let writer: HistoryWriter?
  /// The processing threads' state-store connections (history reads).
  let stores: [any StateStoring]
  let tree: Result<OutputTree, PipelineError>
  /// Processing threads.
  let workers: Int
  let mode: Mode
  private let pool: CompressionPool
  private var closed = false

  /// Prepares the pass: a state-store connection per processing thread, the history writer when
  /// the night's records are written during the pass (started here), the output directory and
  /// every firm's ``FirmRun``. Nothing is read from the snapshot yet.
  init(
    firms: [Firm], date: CivilDate, reference: ReferenceData, templates: [String: [(ExtractKind, Template)]],
    gaps: [String: CivilDate], options: JobOptions, store: any StateStoring, writeDuringPass: Bool,
    logger: Logger,
    fileBudget: Int = SnapshotPass.mergedFileBudget
  ) throws(PipelineError) {
    // Firms are valued and rendered on `workers` threads (a firm always on the same one, so its
    // rows stay in account order), each with its own state-store connection for history reads.
    let workers = max(1, min(options.processingThreads, firms.count))
    self.workers = workers
    var stores: [any StateStoring] = []
    do {
      // A night's history reads go through the accounts in key order: a small page cache each.
      for _ in 0..<workers { stores.append(try store.openReader(small: true)) }
    } catch {
      throw PipelineError(state: error)
    }
    self.stores = stores
    var writeDuringPass = writeDuringPass
    do throws(StateStoreError) {
      // A shard shares the store with the night's other shards, whose firms' rows of the date
      // may be there already: Preflight's check of its own firms' runs decides alone (a re-run
      // of a killed shard then writes its history in batches during the pass, as the nightly
      // case does, not record by record).
      if writeDuringPass && !options.sharedStateStore { writeDuringPass = try !store.hasRecords(at: date) }
    } catch {
      throw PipelineError(state: error)
    }
    writer = writeDuringPass ? try HistoryWriter(store: store, date: date, firmIDs: firms.map(\.id)) : nil
    writer?.start()
    // All the files share one pool of compression threads, which bounds memory however many
    // are open.
    pool = CompressionPool(workerCount: options.workerCount)
    // The output directory: everything below it is made through descriptors that never follow
    // a symlink (EODCompression.OutputTree). A failure to open it fails every firm.
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
    self.runs = runs
    let files = runs.reduce(0) { $0 + $1.templates.count }
    mode = files <= fileBudget ? .merged : .spooled
    switch mode {
    case .merged:
      // Every firm's files open now, written through the pass.
      for run in runs { run.openFiles() }
    case .spooled:
      // A spool file per processing thread, shared by its firms; one that cannot be made fails
      // every firm (as an output directory that cannot be opened does).
      do throws(PipelineError) {
        let tree = try tree.get()
        var files: [SpoolFile] = []
        for thread in 0..<workers {
          do throws(CompressionError) {
            files.append(try SpoolFile(tree: tree, name: ".spool-\(thread).part-\(options.runID)"))
          } catch {
            throw PipelineError(output: error, firmID: nil)
          }
        }
        // A thread's firms of the same template and format share its encoder (its arrays are
        // not copied, and no count is shared between the threads).
        var encoders = Array(repeating: [SharedRowEncoder](), count: workers)
        // And its scratch buffer, where an account's rows are encoded before they are coded
        // into the firm's buffer, and decoded when the firm's rows are read back.
        let scratches = (0..<workers).map { _ in ByteSink(capacity: 16 * 1024) }
        // A thread's firms share its spools a few at a time, in the order they are written back.
        let perSpool = RowSpool.firmsPerSpool(workers: workers)
        let spoolCount = (0..<workers).reduce(0) { total, thread in
          total + (runs.count(where: { $0.index % workers == thread }) + perSpool - 1) / perSpool
        }
        let segmentSize = RowSpool.segmentSize(spools: spoolCount)
        var current: [RowSpool?] = Array(repeating: nil, count: workers)
        for run in runs {
          let format = run.settings.format
          let thread = run.index % workers
          var list: [(kind: ExtractKind, encoder: SharedRowEncoder)] = []
          for (kind, template) in run.templates {
            if let shared = encoders[thread].first(where: {
              $0.encoder.template == template && $0.encoder.format == format
            }) {
              list.append((kind, shared))
            } else {
              let encoder = SharedRowEncoder(RowEncoder(template: template, format: format))
              encoders[thread].append(encoder)
              list.append((kind, encoder))
            }
          }
          let spool: RowSpool
          if let open = current[thread], open.members.count < perSpool {
            spool = open
          } else {
            spool = RowSpool(file: files[thread], scratch: scratches[thread], segmentSize: segmentSize)
            current[thread] = spool
          }
          run.spool(into: spool, encoders: list)
        }
      } catch {
        for run in runs { run.fail(error) }
      }
    }
  }

  /// Stops what the pass started (again: does nothing): an uncommitted night's history is rolled
  /// back (the writer's thread is stopped first: the connection is used by one thread at a time),
  /// then the compression threads stop.
  func close() {
    guard !closed else { return }
    closed = true
    writer?.drain()
    writer?.rollback()
    pool.shutdown()
  }

  /// Reads the accounts of `firms` (nil: every firm; the set the run selected, valid ids or not)
  /// from `reader` in one scan of each table in key order, and feeds each to its firm's run; this
  /// thread reads and hands accounts to the processing threads in batches. In a spooled pass each
  /// processing thread then writes its firms' files, a spool's firms at a time. Returns when every
  /// thread is done.
  func read(_ reader: SnapshotReader, firms passFirms: Set<String>?) -> ReadOutcome {
    var byID: [String: Int] = [:]
    for run in runs { byID[run.firm.id] = run.index }
    let workers = self.workers
    let queues = (0..<workers).map { _ in HandOverQueue<[HandedAccount]>(capacity: 4) }
    let group = DispatchGroup()
    let firmRuns = runs
    let spooled = mode == .spooled
    let readFailed = PassFlag()
    let writer = self.writer
    for (thread, queue) in queues.enumerated() {
      group.enter()
      Thread.detachNewThread {
        defer { group.leave() }
        var work = FirmRun.Work()
        while let batch = queue.pop() {
          // One read of the batch's history for the thread's connection, shared by its firms.
          if let first = batch.first { firmRuns[first.firm].readAhead(batch) }
          for item in batch { firmRuns[item.firm].consume(item.bundle, work: &work) }
        }
        // Before the run thread goes on (``CommitHistory`` drains the writer after the join).
        work.handOver(to: writer)
        // The queue is closed after the flag is set: no firm is complete when the read failed.
        guard spooled, !readFailed.isSet else { return }
        FirmRun.writeSpooled(firmRuns.filter { $0.index % workers == thread })
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
      readFailed.set()
    }
    for queue in queues { queue.close() }
    group.wait()
    return ReadOutcome(readTime: readTime, readError: readError, mode: mode)
  }
}

/// A flag the run thread sets before it closes the processing threads' queues, which they read
/// after their queue ended (Sendable through its `Atomic`).
private final class PassFlag: Sendable {
  private let value = Atomic<Bool>(false)
  var isSet: Bool { value.load(ordering: .acquiring) }
  func set() { value.store(true, ordering: .releasing) }
}

extension SnapshotPass {
  /// The stage: prepares the pass for the plan's firms, reads the snapshot (merged or
  /// spooled), records the pass's part of the snapshot's verdict, ends every firm's rows, then runs
  /// `next` (the stages that complete the firms and commit the history) while the pass's
  /// resources (compression pool, history writer's transaction) are still open.
  static func run<T>(
    _ plan: NightPlan, snapshot: OpenedSnapshot, options: JobOptions, store: any StateStoring, logger: Logger,
    then next: (Pass) throws(PipelineError) -> T
  ) throws(PipelineError) -> T {
    let pass: SnapshotPass
    do {
      pass = try SnapshotPass(
        firms: plan.firms, date: plan.date, reference: plan.reference, templates: plan.templates,
        gaps: plan.gaps, options: options, store: store, writeDuringPass: plan.writeDuringPass, logger: logger
      )
    } catch {
      throw snapshot.refusal() ?? error
    }
    // Whatever happens from here, an uncommitted night's history is not left open.
    defer { pass.close() }
    let read = pass.read(snapshot.reader, firms: snapshot.passFirms)
    let readError = read.readError
    // The snapshot could not be read to the end: no firm is complete.
    if let readError { for run in pass.runs { run.fail(PipelineError(snapshot: readError)) } }
    if snapshot.checkedInPass {
      if let readError, let table = readError.table, snapshot.skipped.contains(table),
        SnapshotError.Code.rowProblems.contains(readError.code)
      {
        snapshot.gate.finish(part: 1, readError)
      } else if readError != nil {
        snapshot.gate.finish(part: 1, snapshot.checkSkippedTables())
      } else {
        snapshot.gate.finish(part: 1, nil)
      }
    }
    snapshot.gate.finish(part: 2, snapshot.unchanged())
    logger.info(
      "snapshot read",
      metadata: [
        "step": "read", "read_ms": .stringConvertible(FirmRun.milliseconds(read.readTime)),
        "firms": .stringConvertible(pass.runs.count),
        "processing_threads": .stringConvertible(pass.workers), "pass": "\(read.mode.rawValue)",
      ])
    for run in pass.runs { run.endRows() }
    return try next(pass)
  }
}

/// An account on its way to its firm's processing thread (a struct, not a tuple: copied without
/// the runtime's generic tuple paths).
struct HandedAccount: Sendable {
  let firm: Int
  let bundle: AccountBundle
}
