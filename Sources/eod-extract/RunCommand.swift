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
    } else if let date, !RunPlan.isDateForm(date) {
      throw ValidationError("--date '\(date)' is not \(RunPlan.dateForms)")
    } else if snapshot != nil || state != nil || out != nil {
      throw ValidationError(
        "--config takes the snapshot, state and output from the file: drop --snapshot/--state/--out")
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
  }

  func run() async throws {
    try await withRunOutcome(configPath: config, requestedFirms: firms, logging: logging) {
      runID, recorder, logger in
      let plan = try makePlan()
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
        plan.statePath, create: initState || plan.configuration?.stateStoreCreate == true, logger: logger)
      defer { lock?.release() }
      recorder.store = store
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
        snapshotPath: plan.snapshot, outputDirectory: plan.outputDirectory, firmIDs: plan.firms,
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
      var night = Night(job: jobOptions, store: store, startedAt: recorder.started, logger: logger)
      night.deliver = plan.deliverAll
      night.destinations = { plan.destinations(for: $0) }
      night.resend = resend
      night.laterSnapshot = plan.configuration.map { configuration in { configuration.snapshotPath(for: $0) }
      }
      night.webhooks = plan.configuration?.webhooks
      night.metricsFile = plan.configuration?.metricsFile
      night.idempotency = idempotency
      night.clock = { Clock.now() }
      night.say = { print($0) }
      night.extracted = { recorder.businessDate = $0.businessDate.description }
      let report = try await NightlyRun.run(night)
      if let refusal = report.refusal { throw Failure(.nothingDone, refusal) }
      if let text = report.replayedOutput {
        print(text, terminator: text.hasSuffix("\n") || text.isEmpty ? "" : "\n")
      }
      return report.exitCode
    }
  }

  func makePlan() throws -> RunPlan {
    let library: TemplateLibrary
    if let config {
      let check = JobConfiguration.check(path: config)
      guard let configuration = check.configuration, check.isValid else {
        let problems = check.problems.filter { $0.severity == .error }.map(\.description).joined(
          separator: "\n  ")
        throw Failure(.nothingDone, "configuration \(config) has problems:\n  \(problems)")
      }
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
