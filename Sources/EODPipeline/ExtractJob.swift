import EODCompression
import EODCore
import EODRender
import EODSnapshot
import EODState
import Foundation
import Logging

/// How one firm's extracts are made.
public struct FirmSettings: Sendable, Equatable {
  public var format: ExtractFormat
  public var encoding: OutputEncoding
  /// Template version per extract; missing ones use version 1.
  public var templateVersions: [ExtractKind: Int]
  /// The extracts made; nil means all five. The manifest is always made.
  public var extracts: Set<ExtractKind>?
  /// Neutralise spreadsheet formulas in free-text fields whatever the templates say (the firm
  /// feature flag `formula_safe_csv`).
  public var formulaSafe: Bool

  public init(
    format: ExtractFormat = .csv, encoding: OutputEncoding = .defaultGzip,
    templateVersions: [ExtractKind: Int] = [:],
    extracts: Set<ExtractKind>? = nil, formulaSafe: Bool = false
  ) {
    self.format = format
    self.encoding = encoding
    self.templateVersions = templateVersions
    self.extracts = extracts
    self.formulaSafe = formulaSafe
  }
}

/// What a run does.
public struct JobOptions: Sendable {
  public var snapshotPath: String
  public var outputDirectory: String
  /// Firms to process; empty means every firm in the snapshot.
  public var firmIDs: [String]
  public var templates: TemplateLibrary
  public var defaultSettings: FirmSettings
  public var firmSettings: [String: FirmSettings]
  /// Carry performance across a gap in the history instead of refusing the date.
  public var allowGap: Bool
  /// The business date before this one; nil means the previous weekday.
  public var previousBusinessDate: CivilDate?
  public var runID: String
  /// Compression threads per file.
  public var workerCount: Int
  /// Firms processed at the same time.
  public var firmConcurrency: Int = 2
  public var clock: @Sendable () -> Date
  /// Told of each firm as it completes (done so far, total, the outcome), from a worker thread.
  public var progress: (@Sendable (Int, Int, FirmOutcome) -> Void)?

  public init(
    snapshotPath: String, outputDirectory: String, firmIDs: [String] = [], templates: TemplateLibrary,
    defaultSettings: FirmSettings = FirmSettings(), firmSettings: [String: FirmSettings] = [:],
    allowGap: Bool = false,
    previousBusinessDate: CivilDate? = nil, runID: String = UUID().uuidString.lowercased(),
    workerCount: Int = ProcessInfo.processInfo.activeProcessorCount,
    clock: @escaping @Sendable () -> Date = { Date() }
  ) {
    self.snapshotPath = snapshotPath
    self.outputDirectory = outputDirectory
    self.firmIDs = firmIDs
    self.templates = templates
    self.defaultSettings = defaultSettings
    self.firmSettings = firmSettings
    self.allowGap = allowGap
    self.previousBusinessDate = previousBusinessDate
    self.runID = runID
    self.workerCount = workerCount
    self.clock = clock
  }

  func settings(for firmID: String) -> FirmSettings { firmSettings[firmID] ?? defaultSettings }
}

/// One file of a firm's set, as the manifest lists it.
public struct ExtractFileSummary: Sendable, Equatable {
  public var name: String
  public var path: String
  public var extract: ExtractKind
  public var template: String
  public var format: ExtractFormat
  public var compression: String
  public var rows: Int
  public var bytes: Int64
  public var sha256: String
  /// Name and value of each control total.
  public var controlTotals: [(String, String)]

  public static func == (lhs: ExtractFileSummary, rhs: ExtractFileSummary) -> Bool {
    lhs.name == rhs.name && lhs.sha256 == rhs.sha256 && lhs.rows == rhs.rows
  }
}

/// What happened for one firm.
public struct FirmOutcome: Sendable {
  public var firmID: String
  public var directory: String
  public var files: [ExtractFileSummary] = []
  public var manifestPath: String?
  public var manifestSHA256: String?
  public var manifestBytes: Int = 0
  /// The manifest's JSON text.
  public var manifest: String?
  public var issuesByCode: [String: Int] = [:]
  public var errors = 0
  public var warnings = 0
  /// Later dates whose extracts are stale after restating this date.
  public var staleDates: [CivilDate] = []
  public var gapCarriedFrom: CivilDate?
  public var error: PipelineError?
  public var seconds: Double = 0
  /// Milliseconds spent reading the snapshot, valuing, rendering rows, and finishing (compression
  /// drain, history writes, renames), for the logs.
  public var timings: (read: Int, value: Int, render: Int, record: Int) = (0, 0, 0, 0)
}

/// The result of a run over one snapshot.
public struct RunReport: Sendable {
  public var runID: String
  public var businessDate: CivilDate
  public var snapshotPath: String
  public var firms: [FirmOutcome]
  public var failedFirms: [FirmOutcome] { firms.filter { $0.error != nil } }
}

/// The nightly job over one snapshot: validate, value, render, compress, write, record history.
public enum ExtractJob {
  /// Runs the snapshot. Throws only when nothing can be done (bad snapshot, unknown firm, gap);
  /// one firm's failure is in its ``FirmOutcome`` and does not stop the others.
  public static func run(_ options: JobOptions, store: StateStore, logger: Logger) throws(PipelineError)
    -> RunReport
  {
    var logger = logger
    logger[metadataKey: "run_id"] = "\(options.runID)"
    let reader: SnapshotReader
    do {
      reader = try SnapshotReader(path: options.snapshotPath)
    } catch {
      throw PipelineError(snapshot: error)
    }
    // Every value's syntax is checked on a thread of its own while the firms are rendered to
    // temporary files; nothing is renamed into place or recorded until it has passed.
    let gate = ValidationGate()
    let validationLogger = logger
    let snapshotPath = options.snapshotPath
    Thread.detachNewThread {
      let started = Date()
      do throws(SnapshotError) {
        try SnapshotReader(path: snapshotPath).validate()
        gate.finish(nil)
        validationLogger.info(
          "snapshot validated",
          metadata: [
            "step": "validate", "snapshot": "\(snapshotPath)",
            "duration_ms": "\(Int(Date().timeIntervalSince(started) * 1000))",
          ])
      } catch {
        gate.finish(error)
      }
    }
    // On every early exit, the snapshot's verdict comes first.
    func refusal() -> PipelineError? { gate.wait().map { PipelineError(snapshot: $0) } }
    let date = reader.businessDate
    logger[metadataKey: "date"] = "\(date)"
    let allFirms: [Firm]
    let reference: ReferenceData
    do {
      allFirms = try reader.firms()
      reference = try reader.referenceData()
    } catch {
      throw refusal() ?? PipelineError(snapshot: error)
    }
    var firms = allFirms
    if !options.firmIDs.isEmpty {
      let known = Set(allFirms.map(\.id))
      for id in options.firmIDs where !known.contains(id) {
        if let refused = refusal() { throw refused }
        throw PipelineError(
          code: .unknownFirm, firmID: id, detail: "firm \(id) is not in snapshot \(options.snapshotPath)")
      }
      let wanted = Set(options.firmIDs)
      firms = allFirms.filter { wanted.contains($0.id) }
    }
    // Every template is checked now, before any file is written.
    var templates: [String: [(ExtractKind, Template)]] = [:]
    for firm in firms {
      let settings = options.settings(for: firm.id)
      var list: [(ExtractKind, Template)] = []
      for kind in ExtractKind.allCases where settings.extracts?.contains(kind) ?? true {
        do {
          var template = try options.templates.template(kind, version: settings.templateVersions[kind] ?? 1)
          if settings.formulaSafe { template.formulaSafe = true }
          list.append((kind, template))
        } catch {
          throw refusal() ?? PipelineError(template: error)
        }
      }
      templates[firm.id] = list
    }
    // Gaps in the history are refused before anything is written.
    var gaps: [String: CivilDate] = [:]
    for firm in firms {
      let latest: CivilDate?
      do { latest = try store.latestRunDate(firmID: firm.id) } catch {
        throw refusal() ?? PipelineError(state: error)
      }
      guard let latest, latest < date else { continue }
      let previous = options.previousBusinessDate ?? previousWeekday(date)
      if latest < previous {
        let missing = nextWeekday(latest)
        if !options.allowGap {
          if let refused = refusal() { throw refused }
          throw PipelineError(
            code: .historyGap, firmID: firm.id,
            detail:
              "the history of \(firm.id) ends at \(latest) but \(date) follows \(previous): \(missing) has not been run. "
              + "Run the missing dates first (eod-extract backfill), or pass --allow-gap to carry performance across the gap"
          )
        }
        gaps[firm.id] = latest
      }
    }
    // Firms run in parallel, each worker with its own snapshot and state connections.
    let selectedFirms = firms
    let runLogger = logger
    let firmGaps = gaps
    let firmTemplates = templates
    let results = FirmResults(count: selectedFirms.count)
    let work = WorkQueue(count: selectedFirms.count)
    let workers = max(1, min(options.firmConcurrency, selectedFirms.count))
    let statePath = store.path
    let group = DispatchGroup()
    for _ in 0..<workers {
      group.enter()
      Thread.detachNewThread {
        defer { group.leave() }
        var connections: (SnapshotReader, StateStore)?
        while let index = work.next() {
          let firm = selectedFirms[index]
          var firmLogger = runLogger
          firmLogger[metadataKey: "firm"] = "\(firm.id)"
          let started = Date()
          var outcome = FirmOutcome(
            firmID: firm.id, directory: options.outputDirectory + "/" + firm.id + "/" + date.description)
          outcome.gapCarriedFrom = firmGaps[firm.id]
          do {
            if connections == nil {
              do {
                connections = (
                  try SnapshotReader(path: options.snapshotPath), try StateStore(path: statePath)
                )
              } catch let error as SnapshotError {
                throw PipelineError(snapshot: error)
              } catch let error as StateStoreError {
                throw PipelineError(state: error)
              }
            }
            guard let (firmReader, firmStore) = connections else {
              throw PipelineError(code: .internalError, firmID: firm.id, detail: "no connections")
            }
            try runFirm(
              firm, reader: firmReader, reference: reference, templates: firmTemplates[firm.id] ?? [],
              options: options,
              store: firmStore, gate: gate, outcome: &outcome, logger: firmLogger)
          } catch let error as PipelineError {
            outcome.error = error
            if error.code != .badSnapshot { firmLogger.error("firm failed: \(error)") }
          } catch {
            outcome.error = PipelineError(code: .internalError, firmID: firm.id, detail: "\(error)")
          }
          outcome.seconds = Date().timeIntervalSince(started)
          let done = results.set(index, outcome)
          options.progress?(done, selectedFirms.count, outcome)
        }
      }
    }
    group.wait()
    do { try store.checkpoint() } catch { logger.warning("\(error)") }
    if let refused = refusal() {
      FileSystem.removeEmptyDirectories(under: options.outputDirectory)
      throw refused
    }
    return RunReport(
      runID: options.runID, businessDate: date, snapshotPath: options.snapshotPath, firms: results.all())
  }

  static func previousWeekday(_ date: CivilDate) -> CivilDate {
    var day = date.adding(days: -1)
    while day.isWeekend { day = day.adding(days: -1) }
    return day
  }

  static func nextWeekday(_ date: CivilDate) -> CivilDate {
    var day = date.adding(days: 1)
    while day.isWeekend { day = day.adding(days: 1) }
    return day
  }

  static func fileName(
    firmID: String, kind: String, date: CivilDate, format: ExtractFormat, encoding: OutputEncoding
  )
    -> String
  {
    let suffix: String
    if case .none = encoding { suffix = "" } else { suffix = ".gz" }
    return "\(firmID)_\(kind)_\(date.compact).\(format.fileExtension)\(suffix)"
  }

  static func runFirm(
    _ firm: Firm, reader: SnapshotReader, reference: ReferenceData, templates: [(ExtractKind, Template)],
    options: JobOptions, store: StateStore, gate: ValidationGate, outcome: inout FirmOutcome, logger: Logger
  ) throws(PipelineError) {
    let date = reader.businessDate
    let started = Date()
    let settings = options.settings(for: firm.id)
    let directory = outcome.directory
    try FileSystem.makeDirectory(directory)
    // Temporary files a killed run left here are ours (the run lock is held): remove them.
    FileSystem.removeTemporaryFiles(in: directory)
    // Five files per firm and firms in parallel: a few blocks in flight per file bound memory.
    let configuration = GzipFileWriter.Configuration(
      encoding: settings.encoding, workerCount: max(1, options.workerCount / max(1, options.firmConcurrency)),
      maxBlocksInFlight: 2)
    var writers: [ExtractKind: ExtractFileWriter] = [:]
    func abandonAll() { for writer in writers.values { writer.abandon() } }
    do {
      for (kind, template) in templates {
        let name = fileName(
          firmID: firm.id, kind: kind.rawValue, date: date, format: settings.format,
          encoding: settings.encoding)
        writers[kind] = try ExtractFileWriter(
          kind: kind, encoder: RowEncoder(template: template, format: settings.format), directory: directory,
          fileName: name, runID: options.runID, configuration: configuration)
      }
    } catch {
      abandonAll()
      throw PipelineError(output: error, firmID: firm.id)
    }
    let positions = writers[.positions]
    let cash = writers[.cash]
    let transactions = writers[.transactions]
    let valuations = writers[.valuations]
    let dataQuality = writers[.dataQuality]
    var issues: [DataQualityIssue] = []
    var totals: [ExtractKind: Money] = [
      .positions: Money(significand: 0, scale: 2), .cash: Money(significand: 0, scale: 2),
      .transactions: Money(significand: 0, scale: 2), .valuations: Money(significand: 0, scale: 2),
    ]
    func add(_ kind: ExtractKind, _ value: Money?) {
      if let value, let total = totals[kind], let sum = total.adding(value) { totals[kind] = sum }
    }
    let processor = AccountProcessor(firm: firm, reference: reference, date: date, dateText: date.description)
    let history = StoreHistory(store: store, firmID: firm.id, date: date)
    do {
      // Render and compute, reading history only: the write transaction below is short.
      var records: [(accountID: String, record: PerformanceRecord)] = []
      var seenClients: Set<String> = []
      let clock = ContinuousClock()
      var readTime = Duration.zero
      var valueTime = Duration.zero
      var writeTime = Duration.zero
      let cursor = try reader.accounts(ofFirm: firm.id)
      while true {
        let t0 = clock.now
        guard let bundle = try cursor.next() else { break }
        let t1 = clock.now
        let first = seenClients.insert(bundle.account.clientID).inserted
        let out = try processor.process(bundle, reportClient: first, history: history)
        let t2 = clock.now
        if let positions { for row in out.positions { try positions.append(row) } }
        if let cash { for row in out.cash { try cash.append(row) } }
        if let transactions { for row in out.transactions { try transactions.append(row) } }
        if let valuations, let row = out.valuation { try valuations.append(row) }
        let t3 = clock.now
        readTime += t1 - t0
        valueTime += t2 - t1
        writeTime += t3 - t2
        add(.positions, out.controlPositions)
        add(.cash, out.controlCash)
        add(.transactions, out.controlTransactions)
        add(.valuations, out.controlValuations)
        issues.append(contentsOf: out.issues)
        if let record = out.record { records.append((bundle.account.id, record)) }
      }
      if let from = outcome.gapCarriedFrom {
        issues.append(
          DataQualityIssue(
            severity: .warning, code: .historyGap, resourceType: .account, resourceID: "*",
            field: "return_1d",
            message: "performance carried across a gap in the history from \(from) to \(date) (--allow-gap)"))
      }
      for issue in DataQualityIssue.sortedForExtract(issues) {
        try dataQuality?.append([
          date.description, firm.id, issue.severity.rawValue, issue.code.rawValue,
          issue.resourceType.rawValue,
          issue.resourceID, issue.field, issue.message,
        ])
      }
      for issue in issues {
        outcome.issuesByCode[issue.code.rawValue, default: 0] += 1
        if issue.severity == .error { outcome.errors += 1 } else { outcome.warnings += 1 }
      }
      func ms(_ d: Duration) -> Int {
        Int(d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000)
      }
      outcome.timings.read = ms(readTime)
      outcome.timings.value = ms(valueTime)
      outcome.timings.render = ms(writeTime)
      let recordStarted = clock.now
      defer { outcome.timings.record = ms(clock.now - recordStarted) }
      let ordered = templates.compactMap { writers[$0.0] }
      let files = try finishFiles(ordered, totals: totals, settings: settings)
      // Nothing goes under a final name, and nothing is recorded, before the snapshot passed.
      if let refused = gate.wait() { throw PipelineError(snapshot: refused) }
      try store.transaction("record \(firm.id) \(date)") {
        let restating = try store.latestRunDate(firmID: firm.id).map { $0 > date } ?? false
        var earlierAtDate = try store.accounts(ofFirm: firm.id, withRecordAt: date)
        var touched: [Int64] = []
        for (accountID, record) in records {
          let key = try store.accountKey(accountID, firmID: firm.id)
          try store.save(record, account: key)
          earlierAtDate[accountID] = nil
          if restating { touched.append(key) }
        }
        // Accounts an earlier run of this date had, and this snapshot does not: no orphan rows.
        for (_, key) in earlierAtDate.sorted(by: { $0.key < $1.key }) {
          try store.deleteRecord(at: date, account: key)
          if restating { touched.append(key) }
        }
        if restating {
          outcome.staleDates = try store.runDates(after: date, firmID: firm.id)
          try restate(after: date, accounts: touched, store: store)
        }
        try complete(
          firm: firm, date: date, writers: ordered, files: files, options: options, reader: reader,
          outcome: &outcome)
        try store.recordRun(
          date: date, firmID: firm.id, runID: options.runID, snapshot: options.snapshotPath,
          completedAt: iso8601(options.clock()), gapCarried: outcome.gapCarriedFrom != nil,
          manifestSHA256: outcome.manifestSHA256)
      }
    } catch {
      abandonAll()
      if let error = error as? PipelineError { throw error }
      if let error = error as? StateStoreError { throw PipelineError(state: error) }
      if let error = error as? SnapshotError { throw PipelineError(snapshot: error) }
      if let error = error as? CompressionError { throw PipelineError(output: error, firmID: firm.id) }
      throw PipelineError(code: .internalError, firmID: firm.id, detail: "\(error)")
    }
    logger.info(
      "firm done",
      metadata: [
        "step": "extract", "duration_ms": "\(Int(Date().timeIntervalSince(started) * 1000))",
        "read_ms": "\(outcome.timings.read)", "value_ms": "\(outcome.timings.value)",
        "render_ms": "\(outcome.timings.render)", "record_ms": "\(outcome.timings.record)",
        "files": "\(outcome.files.count)", "data_quality_errors": "\(outcome.errors)",
        "data_quality_warnings": "\(outcome.warnings)",
      ])
  }

  /// Recomputes the accounts' records after a restated date, date by date (the history is kept
  /// in date order, so each later date's rows are read together).
  static func restate(after date: CivilDate, accounts keys: [Int64], store: StateStore) throws {
    var previous: [Int64: PerformanceRecord] = [:]
    for key in keys {
      previous[key] = try store.record(at: date, account: key) ?? store.record(before: date, account: key)
    }
    for day in try store.historyDates(after: date) {
      for key in keys {
        guard let stored = try store.record(at: day, account: key) else { continue }
        let before = previous[key]
        let updated = Performance.advance(
          previous: before, date: stored.date, value: stored.value,
          flows: ExternalFlows(net: stored.flow, inflow: stored.flowIn),
          opensToday: stored.kind == .opening && before == nil)
        try store.save(updated, account: key)
        previous[key] = updated
      }
    }
  }

  /// Finishes the data files, puts them in place, and writes the manifest last.
  static func complete(
    firm: Firm, date: CivilDate, writers: [ExtractFileWriter], files: [ExtractFileSummary],
    options: JobOptions,
    reader: SnapshotReader, outcome: inout FirmOutcome
  ) throws {
    let manifestName = "\(firm.id)_manifest_\(date.compact).json"
    let manifestPath = outcome.directory + "/" + manifestName
    // A consumer waiting for the manifest must never pair an old manifest with new files.
    unlink(manifestPath)
    for writer in writers { try FileSystem.rename(writer.temporaryPath, to: writer.finalPath) }
    let manifest = Manifest.render(
      firmID: firm.id, date: date, runID: options.runID, generatedAt: iso8601(options.clock()), files: files,
      snapshotGeneratedAt: reader.generatedAt, errors: outcome.errors, warnings: outcome.warnings)
    let bytes = Array(manifest.utf8)
    try FileSystem.writeAtomically(bytes, to: manifestPath, runID: options.runID)
    outcome.files = files
    outcome.manifestPath = manifestPath
    outcome.manifest = manifest
    outcome.manifestBytes = bytes.count
    outcome.manifestSHA256 = FileSystem.sha256(bytes)
  }

  /// Completes every file under its temporary name: sizes, hashes, rows, control totals.
  static func finishFiles(
    _ writers: [ExtractFileWriter], totals: [ExtractKind: Money], settings: FirmSettings
  ) throws -> [ExtractFileSummary] {
    var files: [ExtractFileSummary] = []
    for writer in writers {
      let (bytes, sha) = try writer.finish()
      var controls: [(String, String)] = []
      switch writer.kind {
      case .positions: controls = [("market_value", totals[.positions]?.description ?? "0.00")]
      case .cash: controls = [("value", totals[.cash]?.description ?? "0.00")]
      case .transactions:
        controls = [("amount_account_currency", totals[.transactions]?.description ?? "0.00")]
      case .valuations: controls = [("total_value", totals[.valuations]?.description ?? "0.00")]
      case .dataQuality: controls = []
      }
      let compression: String
      if case .gzip = settings.encoding { compression = "gzip" } else { compression = "none" }
      files.append(
        ExtractFileSummary(
          name: writer.fileName, path: writer.finalPath, extract: writer.kind,
          template: writer.encoder.template.name,
          format: settings.format, compression: compression, rows: writer.rows, bytes: bytes, sha256: sha,
          controlTotals: controls))
    }
    return files
  }

  static func iso8601(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: date)
  }
}
