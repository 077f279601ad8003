import EODCompression
import EODCore
import EODOps
import EODRender
import EODSnapshot
import EODState
import Foundation
import Logging

/// One firm's share of a run: its files, control totals, findings and performance records, fed
/// one account at a time by the run's pass over the snapshot (``SnapshotPass``), then finished on
/// its own. Its files are opened by ``openFiles()`` before a merged pass; in a spooled pass its
/// rows go to a ``RowSpool`` it shares with a few firms of its thread (``spool(into:encoders:)``)
/// and ``writeSpooled(_:)`` opens those firms' files, writes the rows into them and completes
/// them (``closeFiles()``) after the snapshot is read.
///
/// A failure (a file that cannot be written, an overflow) ends this firm only: its temporary
/// files are removed, and later accounts of the firm are skipped.
///
/// `@unchecked Sendable`: one thread at a time: its processing thread in the pass, the run's after the join.
final class FirmRun: @unchecked Sendable {
  // What every account of the firm touches (``consume(_:work:)``), declared first so that it
  // lies together in the object: at 999 firms each account finds its firm's state cold in the
  // cache, and each cache line it is spread over is one more miss.
  /// Set by ``fail(_:)`` (the outcome's error, without reaching into the outcome).
  private var hasFailed = false
  let index: Int
  /// The control figures of each file, exact at any size.
  private var positionFigures = ControlFigures()
  private var cashFigures = ControlFigures()
  private var transactionFigures = ControlFigures()
  private var valuationFigures = ControlFigures()
  private var valueTime = Duration.zero
  private var renderTime = Duration.zero
  /// In a spooled pass, where the firm's rows go until the snapshot is read, and its place there.
  private var spool: (spool: RowSpool, member: RowSpool.Member)?
  private var positions: ExtractFileWriter?
  private var cash: ExtractFileWriter?
  private var transactions: ExtractFileWriter?
  private var valuations: ExtractFileWriter?
  private let history: StoreHistory
  /// The run's history writer, when the records are written during the pass (the nightly case);
  /// nil when they are held and written after it (a re-run or restatement of the date).
  private let writer: HistoryWriter?
  private var issues: [DataQualityIssue] = []
  private let valueAccount: ValueAccount
  private let renderRows: RenderRows

  let firm: Firm
  let date: CivilDate
  let options: JobOptions
  let settings: FirmSettings
  let templates: [(ExtractKind, Template)]
  let store: any StateStoring
  let logger: Logger
  private(set) var outcome: FirmOutcome
  private let started = Date()

  private var writers: [ExtractKind: ExtractFileWriter] = [:]
  /// `OUT/<firm_id>/<date>`, reached without following symlinks (nil when it could not be made).
  private var directory: OutputDirectory?
  private var dataQuality: ExtractFileWriter?
  /// Without a writer: every account's record until the history is written, in chunks of a fixed capacity (one
  /// array doubling as it grows would hold up to twice the memory).
  private var records: [[PendingRecord]] = []
  private static let recordChunk = 4096
  /// The clients whose external reference is reported invalid, once the first of their accounts
  /// has been seen: only such a client's finding depends on whether an account is its first, so
  /// only they are remembered (a set of every client would grow with the book).
  private var flaggedClients: Set<String> = []
  private let tree: Result<OutputTree, PipelineError>
  private let pool: CompressionPool
  /// The files completed under their temporary names by ``closeFiles()``, in template order.
  private var closedFiles: [ExtractFileSummary]?
  private var rowsEnded = false
  private let clock = ContinuousClock()

  var failed: Bool { outcome.error != nil }

  /// Input bytes per gzip member: positions files are the large ones; the others (a few hundred
  /// KB to a few MB a firm) hold smaller members while they fill.
  static func blockSize(_ kind: ExtractKind) -> Int { kind == .positions ? 256 * 1024 : 128 * 1024 }

  /// The firm's share, with no file open yet (``openFiles()``).
  init(
    firm: Firm, index: Int, date: CivilDate, reference: ReferenceData, templates: [(ExtractKind, Template)],
    options: JobOptions, gapCarriedFrom: CivilDate?, store: any StateStoring, writer: HistoryWriter?,
    pool: CompressionPool, tree: Result<OutputTree, PipelineError>, logger: Logger
  ) {
    self.firm = firm
    self.index = index
    self.date = date
    self.options = options
    self.templates = templates
    self.store = store
    self.writer = writer
    self.logger = logger
    settings = options.settings(for: firm.id)
    outcome = FirmOutcome(
      firmID: firm.id, directory: options.outputDirectory + "/" + firm.id + "/" + date.description)
    outcome.gapCarriedFrom = gapCarriedFrom
    valueAccount = ValueAccount(reference: reference, date: date)
    renderRows = RenderRows(firm: firm, date: date, extracts: Set(templates.map(\.0)))
    history = StoreHistory(store: store, firmID: firm.id, date: date)
    self.tree = tree
    self.pool = pool
  }

  /// Prepares the firm's directory and opens its files under temporary names; a failure is kept
  /// in the outcome.
  func openFiles() {
    guard outcome.error == nil, directory == nil else { return }
    let settings = self.settings
    do {
      let directory: OutputDirectory
      do {
        directory = try tree.get().directory([firm.id, date.description])
      } catch let error as CompressionError {
        throw PipelineError(output: error, firmID: firm.id)
      }
      self.directory = directory
      // Temporary files a killed run left here are ours (the run lock is held): remove them.
      FileSystem.removeTemporaryFiles(in: directory)
      // In a merged pass every firm's files are open at once, each filling its own block: small
      // blocks keep that memory down, get compressed while the snapshot is still being read, and
      // (with libdeflate) compress slightly better than 1 MiB ones. The block sizes are part of
      // the files' bytes (a gzip member per block): the same in both kinds of pass.
      for (kind, template) in templates {
        let configuration = GzipFileWriter.Configuration(
          encoding: settings.encoding, blockSize: FirmRun.blockSize(kind))
        let name = ExtractJob.fileName(
          firmID: firm.id, kind: kind.rawValue, date: date, format: settings.format,
          encoding: settings.encoding)
        do {
          writers[kind] = try ExtractFileWriter(
            kind: kind, encoder: RowEncoder(template: template, format: settings.format),
            directory: directory, fileName: name, runID: options.runID, configuration: configuration,
            pool: pool)
        } catch {
          throw PipelineError(output: error, firmID: firm.id)
        }
      }
    } catch {
      fail(error)
      return
    }
    positions = writers[.positions]
    cash = writers[.cash]
    transactions = writers[.transactions]
    valuations = writers[.valuations]
    dataQuality = writers[.dataQuality]
  }

  /// In a spooled pass: the firm's rows go to `spool` (one of its processing thread's), encoded
  /// by `encoders` (one per file of the firm, in template order), until ``writeSpooled(_:)``.
  func spool(into spool: RowSpool, encoders: [(kind: ExtractKind, encoder: SharedRowEncoder)]) {
    self.spool = (spool, spool.join(encoders: encoders))
  }

  /// In a spooled pass, after the snapshot is read: the firms of one processing thread (in the
  /// order they were spooled), a spool's firms at a time: opens their files, writes each firm's
  /// rows into its own in the order they came, and completes them (``closeFiles()``). A firm that
  /// failed during the pass is left as it is; a file that cannot be written fails its firm only;
  /// a spool that cannot be read back fails its firms.
  static func writeSpooled(_ runs: [FirmRun]) {
    var groups: [(spool: RowSpool, runs: ArraySlice<FirmRun>)] = []
    var start = runs.startIndex
    while start < runs.endIndex {
      guard let spool = runs[start].spool?.spool else {
        start += 1
        continue
      }
      var end = start + 1
      while end < runs.endIndex, runs[end].spool?.spool === spool { end += 1 }
      groups.append((spool, runs[start..<end]))
      start = end
    }
    // Every spool's last bytes to the file first: its buffer is let go before any file is open.
    for (spool, group) in groups {
      do throws(CompressionError) {
        try spool.flush()
      } catch {
        for run in group { run.fail(PipelineError(output: error, firmID: run.firm.id)) }
      }
    }
    for (spool, group) in groups {
      var bySlot: [FirmRun?] = Array(repeating: nil, count: spool.members.count)
      for run in group {
        if let slot = run.spool?.member.slot { bySlot[slot] = run }
        run.spool = nil
        run.openFiles()
      }
      if group.contains(where: { !$0.hasFailed }) {
        do throws(CompressionError) {
          try spool.replay { slot, kind, rows, bytes in
            guard let run = bySlot[slot], !run.hasFailed else { return }
            do throws(CompressionError) {
              try run.writers[kind]?.append(encoded: bytes, rows: rows)
            } catch {
              run.fail(PipelineError(output: error, firmID: run.firm.id))
            }
          }
        } catch {
          for run in group { run.fail(PipelineError(output: error, firmID: run.firm.id)) }
        }
      }
      for run in group { run.closeFiles() }
    }
  }

  /// Ends the firm with `error`: its temporary files are removed.
  func fail(_ error: any Error) {
    guard outcome.error == nil else { return }
    outcome.error = FirmRun.pipelineError(error, firmID: firm.id)
    hasFailed = true
    for writer in writers.values { writer.abandon() }
  }

  static func pipelineError(_ error: any Error, firmID: String) -> PipelineError {
    if let error = error as? PipelineError { return error }
    if let error = error as? StateStoreError { return PipelineError(state: error) }
    if let error = error as? SnapshotError { return PipelineError(snapshot: error) }
    if let error = error as? CompressionError { return PipelineError(output: error, firmID: firmID) }
    return PipelineError(code: .internalError, firmID: firmID, detail: "\(error)", cause: error)
  }

  static func milliseconds(_ d: Duration) -> Int {
    Int(d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000)
  }

  /// What valuing an account fills in place and keeps between accounts (its arrays keep their
  /// memory), and the records on their way to the history writer: one per processing thread,
  /// used by each of its firms in turn, so it does not grow with the number of firms.
  struct Work {
    var out = AccountOutput()
    /// Filled in place by ``ValueAccount``, so its arrays keep their memory.
    var valuation = AccountValuation()
    /// The thread's records for the history writer, of any of its firms, handed over
    /// ``HistoryWriter/batchSize`` at a time and the rest by ``handOver(to:)``.
    var outgoing: HistoryWriter.Batch = []

    /// Hands the thread's last records to `writer`, after its last account.
    mutating func handOver(to writer: HistoryWriter?) {
      if let writer, !outgoing.isEmpty { writer.submit(outgoing) }
      outgoing = []
    }
  }

  /// Reads ahead the history reads of a processing thread's next accounts: the thread's firms
  /// share this run's state-store connection (``StateStoring/readAhead(accountIDs:date:)``).
  func readAhead(_ batch: [HandedAccount]) {
    history.store.readAhead(accountIDs: batch.map(\.bundle.account.id), date: history.date)
  }

  /// One account through the stages: valued (``ValueAccount``), its rows rendered
  /// (``RenderRows``), compressed and written (``ExtractFileWriter``, or the firm's spool in a
  /// spooled pass), its figures added to the firm's and its record on its way to the history;
  /// `work` is its processing thread's.
  func consume(_ bundle: AccountBundle, work: inout Work) {
    guard !hasFailed else { return }
    do {
      let t0 = clock.now
      // Whether this is the client's first account matters only for a client-reference finding
      // (ValueAccount reports it with the client's first account only).
      var first = true
      if bundle.account.clientKnown, let reference = bundle.account.clientExternalRef,
        ExternalReference.problem(reference) != nil
      {
        first = flaggedClients.insert(bundle.account.clientID).inserted
      }
      try valueAccount.value(
        bundle, reportClient: first, history: history, valuation: &work.valuation, into: &work.out)
      renderRows.render(work.valuation, into: &work.out)
      let out = work.out
      let t1 = clock.now
      try write(out.positions, .positions, positions)
      try write(out.cash, .cash, cash)
      try write(out.transactions, .transactions, transactions)
      try write(out.valuation, .valuations, valuations)
      renderTime += clock.now - t1
      valueTime += t1 - t0
      let currency = bundle.account.currency
      positionFigures.add(out.controlPositions, rows: out.positions.rowCount, currency: currency)
      cashFigures.add(out.controlCash, rows: out.cash.rowCount, currency: currency)
      transactionFigures.add(out.controlTransactions, rows: out.transactions.rowCount, currency: currency)
      valuationFigures.add(out.controlValuations, rows: out.valuation.rowCount, currency: currency)
      // Only when there are any: appending nothing still reaches into the firm's array.
      if !out.issues.isEmpty { issues.append(contentsOf: out.issues) }
      if let record = out.record {
        let key = history.knownKey(bundle.account.id)
        guard let pending = PendingRecord(accountID: bundle.account.id, key: key, record) else {
          throw PipelineError(
            code: .internalError, firmID: firm.id,
            detail: "account \(bundle.account.id): a value does not fit in the state store (64-bit cents)")
        }
        if let writer {
          work.outgoing.append((index, pending))
          if work.outgoing.count == HistoryWriter.batchSize {
            writer.submit(work.outgoing)
            work.outgoing = []
            work.outgoing.reserveCapacity(HistoryWriter.batchSize)
          }
          return
        }
        if records.last.map({ $0.count == FirmRun.recordChunk }) ?? true {
          records.append([])
          records[records.count - 1].reserveCapacity(FirmRun.recordChunk)
        }
        records[records.count - 1].append(pending)
      }
    } catch {
      fail(error)
    }
  }

  /// An account's rows of `kind`: to the firm's spool in a spooled pass, else to its file.
  private func write(_ rows: RowBuffer, _ kind: ExtractKind, _ file: ExtractFileWriter?) throws {
    if let spool { try spool.spool.add(spool.member, kind, rows) } else { try file?.append(rows) }
  }

  /// Writes the data-quality file, completes every file, waits for the snapshot's verdict, then
  /// records the history, puts the files in place and writes the manifest, in the night's
  /// transaction (``NightHistory``).
  func finish(gate: ValidationGate, reader: SnapshotReader, history: NightHistory) -> FirmOutcome {
    if outcome.error == nil {
      do {
        try complete(gate: gate, reader: reader, history: history)
      } catch {
        fail(error)
      }
    }
    // A failed firm's rows come out again (a refused snapshot rolls everything back anyway).
    if let error = outcome.error, error.code != .badSnapshot { history.undo(firm: index) }
    outcome.seconds = Date().timeIntervalSince(started)
    if outcome.error == nil {
      logger.info(
        "firm done",
        metadata: [
          "step": "extract", "duration_ms": .stringConvertible(Int(outcome.seconds * 1000)),
          "value_ms": .stringConvertible(outcome.timings.value),
          "render_ms": .stringConvertible(outcome.timings.render),
          "record_ms": .stringConvertible(outcome.timings.record),
          "files": .stringConvertible(outcome.files.count),
          "data_quality_errors": .stringConvertible(outcome.errors),
          "data_quality_warnings": .stringConvertible(outcome.warnings),
        ])
    }
    return outcome
  }

  /// After the last account: writes the data-quality rows and hands every file's last rows to the
  /// compression workers, so they compress while earlier firms are being completed.
  func endRows() {
    guard !rowsEnded else { return }
    rowsEnded = true
    guard outcome.error == nil else { return }
    do {
      if let from = outcome.gapCarriedFrom {
        issues.append(
          DataQualityIssue(
            severity: .warning, code: .historyGap, resourceType: .account, resourceID: "*",
            field: "return_1d",
            message: "performance carried across a gap in the history from \(from) to \(date) (--allow-gap)"))
      }
      let rows = DataQualityRowWriter(context: RowContext(date: date, firmID: firm.id, firmName: firm.name))
      var row = RowBuffer(fieldCount: ExtractKind.dataQuality.fields.count)
      for issue in DataQualityIssue.sortedForExtract(issues) {
        row.removeAll()
        rows.write(issue, into: &row)
        try dataQuality?.append(row)
      }
      for issue in issues {
        outcome.issuesByCode[issue.code.rawValue, default: 0] += 1
        if issue.severity == .error { outcome.errors += 1 } else { outcome.warnings += 1 }
      }
      issues = []
      for writer in writers.values { try writer.submitPending() }
    } catch {
      fail(error)
    }
  }

  /// After the firm's rows are written, in a spooled pass: ends its rows and completes every file
  /// under its temporary name (compressed, `fsync`ed, closed), then lets go of the memory the
  /// firm's rows used; ``finish(gate:reader:)`` later puts the files in place.
  func closeFiles() {
    endRows()
    if outcome.error == nil {
      do {
        closedFiles = try CompleteSets.finishFiles(orderedWriters(), totals: totals(), settings: settings)
      } catch {
        fail(error)
      }
    }
    flaggedClients = []
  }

  private func orderedWriters() -> [ExtractFileWriter] { templates.compactMap { writers[$0.0] } }

  private func totals() -> [ExtractKind: ControlFigures] {
    [
      .positions: positionFigures, .cash: cashFigures, .transactions: transactionFigures,
      .valuations: valuationFigures,
    ]
  }

  /// Completes every file under its temporary name, waits for the snapshot's verdict, then puts
  /// the files in place and records the firm's history and run (``NightHistory/record(firm:firmID:held:putInPlace:)``).
  private func complete(gate: ValidationGate, reader: SnapshotReader, history: NightHistory) throws {
    outcome.timings.value = FirmRun.milliseconds(valueTime)
    outcome.timings.render = FirmRun.milliseconds(renderTime)
    let recordStarted = clock.now
    defer { outcome.timings.record = FirmRun.milliseconds(clock.now - recordStarted) }
    let ordered = orderedWriters()
    let files = try closedFiles ?? CompleteSets.finishFiles(ordered, totals: totals(), settings: settings)
    // Nothing goes under a final name, and nothing is recorded, before the snapshot passed.
    if let refused = gate.wait() { throw PipelineError(snapshot: refused) }
    var outcome = self.outcome
    defer { self.outcome = outcome }
    var placed = false
    do {
      try history.record(firm: index, firmID: firm.id, held: records) { store, restated in
        if let restated {
          outcome.laterRunDates = restated.laterRunDates
          outcome.staleDates = restated.staleDates
        }
        try putInPlace(
          ordered, files: files, reader: reader, store: store, outcome: &outcome, placed: &placed)
      }
    } catch {
      // Its set went into place but its run and history are not recorded (recording the run
      // failed, or the savepoint holding them could not be released): the set is taken out again,
      // manifest first, so that no consumer takes it for a complete one.
      if placed, let directory { CompleteSets.takeOutSet(of: &outcome, date: date, from: directory) }
      throw error
    }
    records = []
  }

  /// Renames the files into place, writes the manifest last (`placed` once they are all there)
  /// and records the firm's run.
  private func putInPlace(
    _ ordered: [ExtractFileWriter], files: [ExtractFileSummary], reader: SnapshotReader,
    store: any StateStoring, outcome: inout FirmOutcome, placed: inout Bool
  ) throws {
    guard let directory else {
      throw PipelineError(code: .internalError, firmID: firm.id, detail: "the firm's directory was not made")
    }
    try CompleteSets.putInPlace(
      firm: firm, date: date, directory: directory, writers: ordered, files: files, options: options,
      reader: reader,
      outcome: &outcome)
    placed = true
    try store.recordRun(
      date: date, firmID: firm.id, runID: options.runID, snapshot: options.snapshotPath,
      completedAt: Timestamp.rfc3339(options.clock()), gapCarried: outcome.gapCarriedFrom != nil,
      manifestSHA256: outcome.manifestSHA256)
  }
}

/// A performance record as a firm keeps it until its history is written: whole cents and 32-bit
/// day numbers, about half the size of ``PerformanceRecord`` (every account's record is held until
/// the end of the snapshot).
struct PendingRecord {
  let accountID: String
  /// The account's key in the state store, when the night's reads found one (0: none).
  private let storeKey: Int64
  var key: Int64? { storeKey > 0 ? storeKey : nil }
  private let day: Int32
  private let start: Int32
  private let origin: Int32
  private let zeros: Int32
  private let kind: PerformanceRecord.Kind
  private let undefined: Bool
  private let value: Int64
  private let flow: Int64
  private let flowIn: Int64
  /// NaN when there is no daily return (the store keeps a NaN as NULL, no return, too).
  private let daily: Double
  private let growth: (month: Double, quarter: Double, year: Double)
  private let index: Double

  /// Nil when an amount does not fit in 64-bit cents or a date in 32 bits (the store could not
  /// hold it either).
  init?(accountID: String, key: Int64?, _ record: PerformanceRecord) {
    func cents(_ money: Money) -> Int64? {
      let rounded = money.rounded(places: 2)
      return Int64(exactly: rounded.significand)
    }
    guard let value = cents(record.value), let flow = cents(record.flow), let flowIn = cents(record.flowIn),
      let day = Int32(exactly: record.date.dayNumber), let start = Int32(exactly: record.startDate.dayNumber),
      let origin = Int32(exactly: record.flowOrigin.dayNumber), let zeros = Int32(exactly: record.zeroFactors)
    else { return nil }
    self.accountID = accountID
    storeKey = key ?? 0
    self.day = day
    self.start = start
    self.origin = origin
    self.zeros = zeros
    kind = record.kind
    undefined = record.undefinedReturn
    self.value = value
    self.flow = flow
    self.flowIn = flowIn
    daily = record.dailyReturn ?? .nan
    growth = (record.growthMonth, record.growthQuarter, record.growthYear)
    index = record.index
  }

  var record: PerformanceRecord {
    PerformanceRecord(
      date: CivilDate(dayNumber: Int(day)), kind: kind, value: Money(significand: Int128(value), scale: 2),
      flow: Money(significand: Int128(flow), scale: 2), flowIn: Money(significand: Int128(flowIn), scale: 2),
      dailyReturn: daily.isNaN ? nil : daily, undefinedReturn: undefined, growthMonth: growth.month,
      growthQuarter: growth.quarter, growthYear: growth.year, index: index, zeroFactors: Int(zeros),
      startDate: CivilDate(dayNumber: Int(start)), flowOrigin: CivilDate(dayNumber: Int(origin)))
  }
}
