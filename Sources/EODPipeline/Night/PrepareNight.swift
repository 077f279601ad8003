import EODCompression
import EODCore
import EODDelivery
import EODOps
import EODRender
import EODSFTP
import EODState
import Foundation
import Logging

/// A night made ready by ``PrepareNight``: the ``Night`` to run, the shard's part, and the locks
/// it holds until ``release()``.
struct PreparedNight {
  typealias Shard = (
    selection: ShardSelection, prepared: PreparedShard, date: CivilDate, configuration: JobConfiguration
  )
  var night: Night
  var shard: Shard?
  var lock: RunLock?

  /// Frees the shard's firm locks and the store's run lock.
  func release() { Self.release(shard, lock) }

  static func release(_ shard: Shard?, _ lock: RunLock?) {
    shard?.prepared.locks.forEach { $0.release() }
    lock?.release()
  }
}

/// The first stage of a night asked for by a ``NightRequest`` (docs/architecture.md): the
/// configuration and the plan (templates, firms, settings, destinations), the business-day
/// decision, the snapshot file and the output directory checked, the state store opened and
/// locked, a shard's firms locked and planned, the idempotency request made; the ``Night`` the
/// later stages run. Everything that stops it throws (a ``RunRefusal``, a store's or a lock's
/// error) before any output file is written (it may have created the state store, when asked, and
/// its folder, lock files and a shard's stored plan).
enum PrepareNight {
  enum Outcome {
    /// The date is not a business day (the calendar's reason): nothing to do.
    case notBusinessDay(CivilDate, String)
    case ready(PreparedNight)
  }

  static func run(_ request: NightRequest, now: @escaping @Sendable () -> Date, stop: NightStop) throws
    -> Outcome
  {
    let logger = request.logger
    let plan = try makePlan(request, now: now())
    // A shard writes its own metrics file, what stops it included; the night's metrics_file is
    // the fan-in's (docs/kubernetes.md).
    var shardMetricsFile: String?
    if let selection = request.shard {
      guard plan.configuration != nil else {
        throw RunRefusal(.usage, "a shard of a night needs a configuration (--config)")
      }
      if let date = plan.businessDate, let metricsFile = plan.configuration?.metricsFile {
        shardMetricsFile = NightFinalize.shardMetricsPath(
          metricsFile, businessDate: date.description, shard: selection.index, of: selection.count)
      }
    }
    stop.metricsFile = shardMetricsFile
    if let warning = plan.calendarWarning { logger.warning("\(warning)") }
    if let (date, reason) = plan.notBusinessDay { return .notBusinessDay(date, reason) }
    stop.businessDate = plan.configuration != nil ? RunPlan.dateOfSnapshot(plan.snapshot) : ""
    try ExtractJob.checkSnapshotFile(plan.snapshot)
    try OutputDirectoryCheck.check(plan.outputDirectory)
    let (lock, store) = try StateAccess.openForWriting(
      plan.statePath, create: request.createState || plan.configuration?.stateStoreCreate == true,
      shared: request.shard != nil, logger: logger)
    var shard: PreparedNight.Shard?
    do {
      stop.store = store
      if let selection = request.shard, let date = plan.businessDate, let configuration = plan.configuration {
        let prepared = try PreparedShard.prepare(
          selection, runPlan: plan, date: date, store: store, runID: request.runID, logger: logger)
        shard = (selection, prepared, date, configuration)
        for firm in prepared.skipped {
          request.say(
            "\(date) \(firm): complete and delivered already (shard \(selection.description)); skipped")
        }
      }
      try request.afterLock()
      let night = try makeNight(
        request, plan: plan, store: store, toRun: shard?.prepared.toRun, shardMetricsFile: shardMetricsFile,
        startedAt: stop.startedAt, now: now)
      return .ready(PreparedNight(night: night, shard: shard, lock: lock))
    } catch {
      PreparedNight.release(shard, lock)
      throw error
    }
  }

  /// The plan: from the configuration (its date, calendar, firms, settings and destinations) or
  /// from the request's paths and settings.
  static func makePlan(_ request: NightRequest, now: Date) throws -> RunPlan {
    switch request.source {
    case .configuration(let path, let date):
      let configuration = try RunPlan.loadConfiguration(path)
      let templates = try RunPlan.templateLibrary(
        request.templatesDirectory ?? configuration.templatesDirectory,
        standard: request.standardTemplatesDirectory)
      return try RunPlan(
        configuration: configuration, date: date, firms: request.firms, templates: templates, now: now)
    case .paths(let snapshot, let state, let outputDirectory, let settings, let destination):
      var plan = RunPlan(
        snapshot: snapshot, statePath: state, outputDirectory: outputDirectory, firms: request.firms,
        templates: try RunPlan.templateLibrary(
          request.templatesDirectory, standard: request.standardTemplatesDirectory),
        defaultSettings: settings)
      if let destination {
        plan.oneOffDestination = try oneOffDestination(destination)
        plan.deliverAll = true
      }
      return plan
    }
  }

  /// The destination every firm of a night from paths goes to.
  static func oneOffDestination(_ delivery: NightRequest.Delivery) throws -> any Destination {
    switch delivery {
    case .destination(let destination):
      return destination
    case .sftp(
      let url, let identityFile, let knownHosts, let secret, let trustOnFirstUse, let createDirectories):
      var passphrase: String?
      if let secret {
        do { passphrase = String(decoding: try secret.resolve(), as: UTF8.self) } catch {
          throw RunRefusal(.nothingDone, "the key's passphrase (\(secret)): \(error)", cause: error)
        }
      }
      do {
        return SFTPDestination(
          configuration: try SFTPDestination.Configuration(
            url: url, identity: SFTPIdentity(privateKeyPath: identityFile, passphrase: passphrase),
            hostKeys: SFTPHostKeyPolicy(knownHostsPath: knownHosts, trustOnFirstUse: trustOnFirstUse),
            allowCreateDirectories: createDirectories))
      } catch {
        throw RunRefusal(.nothingDone, "--destination: \(error)", cause: error)
      }
    }
  }

  /// What an idempotency key's request is, for its fingerprint: the firms, the snapshot, and what
  /// changes the files or their delivery: format, compression and extracts (for a night from
  /// paths, its settings; for a configured night, the defaults, csv and 6, since its settings
  /// are the configuration file's), re-sending, carrying across a gap.
  static func fingerprint(_ request: NightRequest, plan: RunPlan) -> String {
    var settings = FirmSettings()
    if case .paths(_, _, _, let given, _) = request.source { settings = given }
    let compression: String
    switch settings.encoding {
    case .none: compression = "none"
    case .gzip(let level): compression = "\(level)"
    }
    return IdempotencyKey.requestFingerprint(
      firmIDs: request.firms, businessDate: plan.snapshot,
      options: [
        "resend": "\(request.resend)", "format": settings.format.rawValue, "compression": compression,
        "extracts": (settings.extracts ?? []).map(\.rawValue).sorted().joined(separator: ","),
        "allow_gap": "\(request.allowGap)",
      ])
  }

  /// The ``Night`` of a plan: the extract's options, the store, delivery, webhooks, metrics (a
  /// shard's own file, `shardMetricsFile`, when it is one) and the idempotency request.
  static func makeNight(
    _ request: NightRequest, plan: RunPlan, store: any StateStoring, toRun: [String]?,
    shardMetricsFile: String?, startedAt: Date, now: @escaping @Sendable () -> Date
  ) throws -> Night {
    // On-demand idempotency (docs/operations.md): the key is checked here, the night decides.
    var idempotency: IdempotencyRequest?
    if let text = request.idempotencyKey {
      let key: IdempotencyKey
      do { key = try IdempotencyKey(parsing: text) } catch {
        throw RunRefusal(.nothingDone, "\(error)", cause: error)
      }
      idempotency = IdempotencyRequest(key: key, fingerprint: fingerprint(request, plan: plan))
    }
    var job = JobOptions(
      snapshotPath: plan.snapshot, outputDirectory: plan.outputDirectory, firmIDs: toRun ?? plan.firms,
      templates: plan.templates, defaultSettings: plan.defaultSettings, firmSettings: plan.firmSettings,
      allowGap: request.allowGap, runID: request.runID, workerCount: max(1, request.workerCount), clock: now)
    job.calendar = plan.calendar
    // A configured firm missing from the snapshot fails alone (docs/operations.md).
    job.missingFirmsFailAlone = plan.configuration != nil
    // One pass over the snapshot feeds every firm; `concurrency` is how many threads value and
    // render them meanwhile (docs/operations.md).
    if let concurrency = plan.configuration?.concurrency { job.processingThreads = concurrency }
    var modes = FileModes()
    if let mode = request.fileMode ?? plan.configuration?.fileMode.map(UInt32.init) { modes.file = mode }
    if let mode = request.directoryMode ?? plan.configuration?.directoryMode.map(UInt32.init) {
      modes.directory = mode
    }
    job.fileModes = modes
    job.progress = request.progress
    job.sharedStateStore = request.shard != nil
    var night = Night(job: job, store: store, startedAt: startedAt, logger: request.logger)
    night.deliver = plan.deliverAll
    let wrap = request.wrapDestinations
    night.destinations = { wrap(plan.destinations(for: $0)) }
    night.resend = request.resend
    night.laterSnapshot = plan.configuration.map { configuration in { configuration.snapshotPath(for: $0) } }
    night.webhooks = plan.configuration?.webhooks
    night.metricsFile = shardMetricsFile ?? plan.configuration?.metricsFile
    night.metricsOfShard = shardMetricsFile != nil
    night.idempotency = idempotency
    night.clock = now
    night.say = request.say
    return night
  }
}
