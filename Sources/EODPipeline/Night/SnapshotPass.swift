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
// to the history writer. Its memory and open files do not grow with the number of firms or
// accounts:
//
// - Merged pass (the firms' files together fit `SnapshotPass.mergedFileBudget`, 160 files, i.e.
//   up to 32 firms of five extracts): one scan of each table in key order feeds every firm (a
//   firm's accounts are spread over the whole file, so this reads every page once); every firm's
//   files are open through the pass, each holding the gzip member it fills (128-256 KiB) and a
//   32 KiB row buffer, so memory is bounded by the budget (about 25 MB at 32 firms).
// - Firm by firm (more files than the budget, e.g. a platform of 999 firms): each processing
//   thread reads its own firms one after another, each firm through the accounts_by_firm index
//   on a connection of its own, and opens, writes and completes (compressed, fsynced, closed under
//   the temporary name) the firm's files before the next firm starts: at most `threads x 5` files
//   open and their blocks in memory, whatever the number of firms and the order of the accounts
//   in the file. SQLite sorts each firm's rows itself (memory in proportion to the largest firm,
//   not the platform). Every firm_id of the accounts table is read, those not run only to check
//   their rows, so that positions and cash balances are checked in full as in a merged pass; a
//   row problem, or row counts that do not add up to the tables' (rows of no account), re-reads
//   the snapshot in key order to name the same refusal as a merged pass would.
//
// In both, a firm's rows stay in account order on one thread, and the gzip members are cut at the
// same input sizes: the files' bytes are the same. What is kept per account is nothing beyond the
// history writer's key list (8 bytes an account, to undo a failed firm) and, per firm, the
// clients whose reference is reported invalid.

/// The pass over one snapshot's accounts, and what it holds while it runs: the processing
/// threads' state-store connections, the run's history writer, the compression pool and each
/// firm's ``FirmRun``.
final class SnapshotPass {
  /// What the pass leaves for the stages after it (CompleteSets, CommitHistory): the pass itself,
  /// open until ``run(_:snapshot:options:store:logger:then:)`` returns.
  typealias Pass = SnapshotPass

  /// Files a merged pass may hold open at once; beyond it the pass goes firm by firm.
  static let mergedFileBudget = 160

  /// How the pass read the snapshot.
  enum Mode: String, Sendable {
    case merged
    case firmByFirm = "firm-by-firm"
  }

  /// What the pass found.
  struct ReadOutcome {
    /// Time spent reading accounts from the snapshot (summed over the threads that read).
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
  private let snapshotPath: String
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
    snapshotPath = options.snapshotPath
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
      if writeDuringPass { writeDuringPass = try !store.hasRecords(at: date) }
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
    mode = files <= fileBudget ? .merged : .firmByFirm
    // A merged pass opens every firm's files now; firm by firm, each when its turn comes.
    if mode == .merged { for run in runs { run.openFiles() } }
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
  /// from `reader` and feeds each to its firm's run; returns when every thread is done.
  func read(_ reader: SnapshotReader, firms: Set<String>?) -> ReadOutcome {
    switch mode {
    case .merged: return readMerged(reader, firms: firms)
    case .firmByFirm: return readFirmByFirm(reader, firms: firms)
    }
  }

  /// One scan of each table in key order; this thread reads the snapshot and hands accounts to
  /// the processing threads in batches.
  private func readMerged(_ reader: SnapshotReader, firms passFirms: Set<String>?) -> ReadOutcome {
    var byID: [String: Int] = [:]
    for run in runs { byID[run.firm.id] = run.index }
    let workers = self.workers
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
    return ReadOutcome(readTime: readTime, readError: readError, mode: .merged)
  }

  /// Each processing thread reads its firms one after another on a snapshot connection of its
  /// own, each firm's files opened before its first account and completed after its last.
  private func readFirmByFirm(_ reader: SnapshotReader, firms passFirms: Set<String>?) -> ReadOutcome {
    let workers = self.workers
    // Every firm_id the accounts hold is read (those not run only to check their rows, as a
    // merged pass checks every row); every run is read, with accounts or not (an empty set).
    let accountFirms: [String]
    do { accountFirms = try reader.accountFirmIDs() } catch {
      return ReadOutcome(readTime: .zero, readError: error, mode: .firmByFirm)
    }
    var tasks = Array(repeating: [FirmTask](), count: workers)
    var running: Set<String> = []
    for run in runs {
      // A run's thread is the one holding its state-store connection.
      tasks[run.index % workers].append(FirmTask(firmID: run.firm.id, run: run))
      running.insert(run.firm.id)
    }
    var next = 0
    for id in accountFirms where !running.contains(id) {
      tasks[next % workers].append(FirmTask(firmID: id, run: nil))
      next += 1
    }
    let checksRows = AccountCursor.checksRows(firmIDs: passFirms)
    let identity = reader.identity
    let path = snapshotPath
    let shared = FirmByFirmProgress()
    let group = DispatchGroup()
    for list in tasks {
      group.enter()
      Thread.detachNewThread {
        defer { group.leave() }
        let clock = ContinuousClock()
        var readTime = Duration.zero
        var rows = (positions: 0, cash: 0)
        defer { shared.add(readTime: readTime, positions: rows.positions, cash: rows.cash) }
        let own: SnapshotReader
        do throws(SnapshotError) {
          // Seeks by firm: the tables' interior pages (about 3 MB at 5M positions) stay cached.
          own = try SnapshotReader(path: path, expecting: identity, cacheKibibytes: 6000)
        } catch {
          shared.fail(error)
          return
        }
        for task in list {
          guard !shared.stopped else { return }
          do throws(SnapshotError) {
            let cursor = try own.accounts(ofFirm: task.firmID, checkingRows: checksRows)
            defer { rows = (rows.positions + cursor.positionsRowsRead, rows.cash + cursor.cashRowsRead) }
            guard let run = task.run else {
              try cursor.skipAll()
              continue
            }
            run.openFiles()
            while true {
              let before = clock.now
              guard let bundle = try cursor.next() else { break }
              readTime += clock.now - before
              run.consume(bundle)
            }
            run.closeFiles()
          } catch {
            shared.fail(error)
            return
          }
        }
      }
    }
    // Meanwhile: the rows a merged pass would read, to compare with the rows the threads read.
    var expected: (positions: Int, cash: Int)?
    var countError: SnapshotError?
    if checksRows {
      do {
        expected = (try reader.rowCount("positions"), try reader.rowCount("cash_balances"))
      } catch {
        countError = error
      }
    }
    group.wait()
    let (readTime, found, positions, cash) = shared.totals()
    var readError = found ?? countError
    if checksRows, readError != nil || expected.map({ $0 != (positions, cash) }) ?? false {
      // A bad row, or rows of no account (or of a repeated account): the refusal a merged pass
      // names, from the same scan in key order (nothing is written: a read error fails every firm).
      readError = SnapshotPass.firstRefusalInKeyOrder(reader, firms: passFirms) ?? readError
    }
    return ReadOutcome(readTime: readTime, readError: readError, mode: .firmByFirm)
  }

  /// The error a merged pass over `firms` would end with, if any: its cursor, read to the end.
  static func firstRefusalInKeyOrder(_ reader: SnapshotReader, firms: Set<String>?) -> SnapshotError? {
    do throws(SnapshotError) {
      let cursor = try reader.accounts(ofFirms: firms)
      while try cursor.next() != nil {}
      return nil
    } catch {
      return error
    }
  }
}

/// A firm a thread of a pass firm by firm reads: run (``run``), or only checked (nil).
private struct FirmTask: Sendable {
  let firmID: String
  let run: FirmRun?
}

/// What the threads of a pass firm by firm share: the first error (which stops the others at
/// their next firm), and their read times and row counts (Sendable through its `Mutex`; used once
/// per firm, not per row).
private final class FirmByFirmProgress: Sendable {
  private struct State {
    var error: SnapshotError?
    var readTime = Duration.zero
    var positions = 0
    var cash = 0
  }
  private let state = Mutex(State())

  var stopped: Bool { state.withLock { $0.error != nil } }

  func fail(_ error: SnapshotError) {
    state.withLock { if $0.error == nil { $0.error = error } }
  }

  func add(readTime: Duration, positions: Int, cash: Int) {
    state.withLock {
      $0.readTime += readTime
      $0.positions += positions
      $0.cash += cash
    }
  }

  func totals() -> (Duration, SnapshotError?, Int, Int) {
    state.withLock { ($0.readTime, $0.error, $0.positions, $0.cash) }
  }
}

extension SnapshotPass {
  /// The stage: prepares the pass for the plan's firms, reads the snapshot (merged or firm by
  /// firm), records the pass's part of the snapshot's verdict, ends every firm's rows, then runs
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
