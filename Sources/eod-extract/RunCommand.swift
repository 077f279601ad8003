import ArgumentParser
import EODCompression
import EODCore
import EODDelivery
import EODOps
import EODPipeline
import EODRender
import EODSFTP
import EODState
import Foundation
import Logging

struct Run: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Process one business date: write every firm's extracts and manifest, deliver them, record the day.",
    discussion: """
      Either with a configuration file (the nightly entry point):
        eod-extract run --config /etc/eod-extract/config.yaml    # --date previous-business-day
      or with everything on the command line:
        eod-extract run --snapshot FILE --state FILE --out DIR [--destination sftp://USER@HOST:PORT/PATH \\
          --identity KEYFILE --known-hosts FILE]
      The state store must exist; --init-state (or state_store.create: true) creates a missing one.
      """)

  @Option(help: "The job configuration file (YAML; see docs/operations.md).")
  var config: String?

  @Option(
    help: """
      With --config: the business date: YYYY-MM-DD, 'previous-business-day' (the default: yesterday in the \
      calendar's time zone, or nothing to do when that was a weekend day or a holiday), 'yesterday' or 'today'. \
      EOD_NOW (ISO 8601) overrides now.
      """)
  var date: String?

  @Option(help: "The snapshot file (SQLite, schema version 1). Without --config.")
  var snapshot: String?

  @Option(help: "The state store (SQLite; must exist unless --init-state). Without --config.")
  var state: String?

  @Flag(
    help:
      "Create the state store if it is missing (the first night). Without it, a missing store stops the run: a mistyped path never starts an empty history."
  )
  var initState = false

  @Option(help: "Output directory: files go to OUT/<firm_id>/<business_date>/. Without --config.")
  var out: String?

  @Option(name: .customLong("firm"), help: "Only this firm (repeatable). Default: every firm.")
  var firms: [String] = []

  @Flag(help: "Carry performance across a gap in the history instead of refusing the date.")
  var allowGap = false

  @Option(
    help:
      "Deliver to this SFTP destination: sftp://USER@HOST[:PORT]/PATH (files go to PATH/<firm_id>/<date>/).")
  var destination: String?

  @Option(help: "With --destination: the private key file (ed25519 or ECDSA, mode 0600).")
  var identity: String?

  @Option(help: "With --destination: the OpenSSH known_hosts file holding the server's key.")
  var knownHosts: String?

  @Option(help: "With --destination: the environment variable holding the key's passphrase.")
  var passphraseEnv: String?

  @Option(help: "With --destination: a file holding the key's passphrase.")
  var passphraseFile: String?

  @Flag(help: "With --destination: create missing remote directories.")
  var createDirs = false

  @Flag(
    help: "With --destination: accept and record an unknown host key (trust on first use). Never the default."
  )
  var trustOnFirstUse = false

  @Flag(help: "Send again what was delivered already, replacing files whose bytes differ.")
  var resend = false

  @Option(
    help:
      "For an on-demand run: a UUIDv4. The same key within 72 hours returns the first result without re-delivering."
  )
  var idempotencyKey: String?

  @Option(
    help: """
      With --config: run only shard K of N of the night's plan (K from 0; docs/kubernetes.md). The plan stored \
      for the date is used (made and stored first if there is none).
      """)
  var shard: String?

  @Option(
    help: "With --config: run the shard JOB_COMPLETION_INDEX (a Kubernetes Indexed Job's pod index) of N.")
  var shards: Int?

  @Flag(
    help:
      "With --shard/--shards: the shard that records the night's last finish runs `finalize` itself (exactly one does)."
  )
  var finalizeIfLast = false

  @OptionGroup var output: OutputOptions
  @OptionGroup var logging: LoggingOptions

  func validate() throws {
    if config == nil {
      guard snapshot != nil, state != nil, out != nil else {
        throw ValidationError("give --config FILE, or all of --snapshot, --state and --out")
      }
      if date != nil {
        throw ValidationError("--date needs --config (without it, the snapshot says its date)")
      }
    } else {
      try RunPlan.validateDateOption(date)
      if snapshot != nil || state != nil || out != nil {
        throw ValidationError(
          "--config takes the snapshot, state and output from the file: drop --snapshot/--state/--out")
      }
    }
    if destination != nil && (identity == nil || knownHosts == nil) {
      throw ValidationError("--destination needs --identity KEYFILE and --known-hosts FILE")
    }
    if destination == nil && (identity != nil || knownHosts != nil || createDirs || trustOnFirstUse) {
      throw ValidationError(
        "--identity, --known-hosts, --create-dirs and --trust-on-first-use go with --destination")
    }
    if config != nil && !output.extracts.isEmpty {
      throw ValidationError("with --config, each firm's extracts come from the file: drop --extract")
    }
    if destination != nil && config != nil {
      throw ValidationError("with --config, destinations come from the file")
    }
    if shard != nil || shards != nil {
      if shard != nil && shards != nil { throw ValidationError("give --shard K/N or --shards N, not both") }
      if config == nil { throw ValidationError("--shard and --shards need --config") }
      if !firms.isEmpty || idempotencyKey != nil || resend {
        throw ValidationError(
          "--shard/--shards choose the firms: drop --firm, --idempotency-key and --resend")
      }
    } else if finalizeIfLast {
      throw ValidationError("--finalize-if-last goes with --shard or --shards")
    }
  }

  func run() async throws {
    try await withRunOutcome(configPath: config, requestedFirms: firms, logging: logging) {
      runID, recorder, logger in
      let selection = try ShardSelection.resolve(
        shard: shard, shards: shards, environment: ProcessInfo.processInfo.environment)
      let plan = try makePlan()
      if let selection, let date = plan.businessDate, let metricsFile = plan.configuration?.metricsFile {
        // What stops a shard goes to the shard's metrics file too (docs/kubernetes.md).
        recorder.metricsFile = NightFinalize.shardMetricsPath(
          metricsFile, businessDate: date.description, shard: selection.index, of: selection.count)
      }
      if let warning = plan.calendarWarning { logger.warning("\(warning)") }
      if let (date, reason) = plan.notBusinessDay {
        // A schedule that starts the job every day leaves the decision here: nothing to do.
        let message = "\(date) is not a business day (\(reason)): nothing to do"
        logger.notice("\(message)", metadata: ["date": "\(date)"])
        print(message)
        return .success
      }
      recorder.businessDate = plan.configuration != nil ? RunPlan.dateOfSnapshot(plan.snapshot) : ""
      try ExtractJob.checkSnapshotFile(plan.snapshot)
      try checkOutputDirectory(plan.outputDirectory)
      let (lock, store) = try openStateForWriting(
        plan.statePath, create: initState || plan.configuration?.stateStoreCreate == true,
        shared: selection != nil, logger: logger)
      defer { lock?.release() }
      recorder.store = store
      var prepared: PreparedShard?
      if let selection, let date = plan.businessDate {
        let shard = try PreparedShard.prepare(
          selection, runPlan: plan, date: date, store: store, runID: runID, logger: logger)
        for firm in shard.skipped {
          print("\(date) \(firm): complete and delivered already (shard \(selection.description)); skipped")
        }
        prepared = shard
      }
      defer { prepared?.locks.forEach { $0.release() } }
      // A test hook (documented in docs/operations.md as test-only): an internal error after the
      // lock is taken, to check what exit 70 leaves behind.
      if ProcessInfo.processInfo.environment["EOD_TEST_INTERNAL_ERROR"] == "1" {
        throw InjectedTestFailure()
      }
      // On-demand idempotency (docs/operations.md): the key is checked here, the night decides.
      var idempotency: IdempotencyRequest?
      if let idempotencyKey {
        let key: IdempotencyKey
        do { key = try IdempotencyKey(parsing: idempotencyKey) } catch {
          throw Failure(.nothingDone, "\(error)")
        }
        let fingerprint = IdempotencyKey.requestFingerprint(
          firmIDs: firms, businessDate: plan.snapshot,
          options: [
            "resend": "\(resend)", "format": output.format.rawValue, "compression": output.compression,
            "extracts": output.extracts.map(\.rawValue).sorted().joined(separator: ","),
            "allow_gap": "\(allowGap)",
          ])
        idempotency = IdempotencyRequest(key: key, fingerprint: fingerprint)
      }
      var jobOptions = JobOptions(
        snapshotPath: plan.snapshot, outputDirectory: plan.outputDirectory,
        firmIDs: prepared?.toRun ?? plan.firms,
        templates: plan.templates, defaultSettings: plan.defaultSettings, firmSettings: plan.firmSettings,
        allowGap: allowGap, runID: runID, workerCount: max(1, output.workers), clock: { Clock.now() })
      jobOptions.calendar = plan.calendar
      // A configured firm missing from the snapshot fails alone (docs/operations.md).
      jobOptions.missingFirmsFailAlone = plan.configuration != nil
      // One pass over the snapshot feeds every firm; `concurrency` is how many threads value and
      // render them meanwhile (docs/operations.md).
      if let concurrency = plan.configuration?.concurrency { jobOptions.processingThreads = concurrency }
      jobOptions.fileModes = try output.fileModes(configured: plan.configuration)
      if logging.showsProgress {
        // On a terminal (an on-demand run), a progress bar on stderr.
        let started = Date()
        jobOptions.progress = { done, total, outcome in
          ProgressBar(total: total, unit: "firms", started: started).draw(done, label: outcome.firmID)
        }
      }
      jobOptions.sharedStateStore = selection != nil
      var night = Night(job: jobOptions, store: store, startedAt: recorder.started, logger: logger)
      night.deliver = plan.deliverAll
      night.destinations = { PausingDestination.wrap(plan.destinations(for: $0)) }
      night.resend = resend
      night.laterSnapshot = plan.configuration.map { configuration in { configuration.snapshotPath(for: $0) }
      }
      night.webhooks = plan.configuration?.webhooks
      night.metricsFile = plan.configuration?.metricsFile
      if let selection, let date = plan.businessDate, let metricsFile = night.metricsFile {
        // A shard writes its own file; the night's metrics_file is the fan-in's (docs/kubernetes.md).
        night.metricsFile = NightFinalize.shardMetricsPath(
          metricsFile, businessDate: date.description, shard: selection.index, of: selection.count)
        night.metricsOfShard = true
      }
      night.idempotency = idempotency
      night.clock = { Clock.now() }
      night.say = { print($0) }
      night.extracted = { recorder.businessDate = $0.businessDate.description }
      if let selection, let prepared, let date = plan.businessDate,
        let configuration = plan.configuration
      {
        // A shard with nothing left to run (every firm complete and delivered, or none planned)
        // runs no night: an empty firm list would mean every firm.
        var exitCode = EODExitCode.success
        if !prepared.toRun.isEmpty { exitCode = try await NightlyRun.run(night).exitCode }
        return try await finishShard(
          selection, exitCode: exitCode, date: date, store: store, configuration: configuration,
          runID: runID,
          logger: logger)
      }
      let report = try await NightlyRun.run(night)
      if let refusal = report.refusal { throw Failure(.nothingDone, refusal) }
      if let text = report.replayedOutput {
        print(text, terminator: text.hasSuffix("\n") || text.isEmpty ? "" : "\n")
      }
      return report.exitCode
    }
  }

  /// After a shard's night: a shard whose every firm is complete records its finish; the one
  /// that records the last finish of the plan finalizes the night with --finalize-if-last. The
  /// shard's exit code is its own firms' (the night's verdict is finalize's: its summary,
  /// metrics and webhook).
  func finishShard(
    _ selection: ShardSelection, exitCode: EODExitCode, date: CivilDate, store: any StateStoring,
    configuration: JobConfiguration, runID: String, logger: Logger
  ) async throws -> EODExitCode {
    guard exitCode == .success else { return exitCode }
    let last = try store.recordShardFinish(
      businessDate: date.description, shard: selection.index, runID: runID,
      at: Timestamp.rfc3339(Clock.now()))
    print("\(date) shard \(selection.description): finished\(last ? " (the last of the night)" : "")")
    if last && finalizeIfLast {
      _ = try await FinalizeNight.run(
        date: date, store: store, configuration: configuration, runID: runID, logger: logger)
    }
    return exitCode
  }

  func makePlan() throws -> RunPlan {
    let library: TemplateLibrary
    if let config {
      let configuration = try loadConfiguration(config)
      library = try output.templateLibrary(configured: configuration.templatesDirectory)
      return try RunPlan(configuration: configuration, date: date, firms: firms, templates: library)
    }
    library = try output.templateLibrary()
    var plan = RunPlan(
      snapshot: snapshot ?? "", statePath: state ?? "", outputDirectory: out ?? "", firms: firms,
      templates: library,
      defaultSettings: FirmSettings(
        format: output.format, encoding: try output.encoding(), extracts: output.extractSet))
    if let destination, let identity, let knownHosts {
      var passphrase: String?
      if let passphraseEnv {
        guard let value = ProcessInfo.processInfo.environment[passphraseEnv] else {
          throw Failure(
            .nothingDone, "the environment variable \(passphraseEnv) for the key's passphrase is not set")
        }
        passphrase = value
      } else if let passphraseFile {
        guard let data = FileManager.default.contents(atPath: passphraseFile) else {
          throw Failure(.nothingDone, "cannot read the passphrase file \(passphraseFile)")
        }
        passphrase = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
      }
      let sftp: SFTPDestination.Configuration
      do {
        sftp = try SFTPDestination.Configuration(
          url: destination, identity: SFTPIdentity(privateKeyPath: identity, passphrase: passphrase),
          hostKeys: SFTPHostKeyPolicy(knownHostsPath: knownHosts, trustOnFirstUse: trustOnFirstUse),
          allowCreateDirectories: createDirs)
      } catch {
        throw Failure(.nothingDone, "--destination: \(error)")
      }
      plan.oneOffDestination = SFTPDestination(configuration: sftp)
      plan.deliverAll = true
    }
    return plan
  }
}

/// The job's configuration file, checked: a file with errors stops the command (exit 2).
func loadConfiguration(_ path: String) throws -> JobConfiguration {
  let check = JobConfiguration.check(path: path)
  guard let configuration = check.configuration, check.isValid else {
    let problems = check.problems.filter { $0.severity == .error }.map(\.description).joined(
      separator: "\n  ")
    throw Failure(.nothingDone, "configuration \(path) has problems:\n  \(problems)")
  }
  return configuration
}

/// The job's clock; `EOD_NOW` (RFC 3339) fixes it, for tests of the 72-hour idempotency window.
enum Clock {
  static func now() -> Date {
    if let fixed = ProcessInfo.processInfo.environment["EOD_NOW"],
      let date = ISO8601DateFormatter().date(from: fixed)
    {
      return date
    }
    return Date()
  }

  /// `EOD_NOW` when it is set but not an ISO 8601 instant (a re-run must not silently use the real now).
  static var invalidFixedNow: String? {
    guard let fixed = ProcessInfo.processInfo.environment["EOD_NOW"] else { return nil }
    return ISO8601DateFormatter().date(from: fixed) == nil ? fixed : nil
  }
}

extension OutputOptions {
  func templateLibrary(configured: String?) throws -> TemplateLibrary {
    guard templates == nil, let configured else { return try templateLibrary() }
    do { return try TemplateLibrary(directory: configured) } catch { throw Failure(.nothingDone, "\(error)") }
  }
}
