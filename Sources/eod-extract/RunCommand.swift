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
    try await withExitCodes {
      var logger = logging.makeLogger()
      let runID = UUID().uuidString.lowercased()
      logger[metadataKey: "run_id"] = "\(runID)"
      // Only usage errors (64) can stop it here: nothing has started.
      let request = try makeRequest(runID: runID, logger: logger)
      let report: NightReport
      do { report = try await NightlyRun.run(request) } catch { throw shownStop(error) }
      if let text = report.replayedOutput {
        print(text, terminator: text.hasSuffix("\n") || text.isEmpty ? "" : "\n")
      }
      return report.exitCode
    }
  }

  /// The night the arguments ask for: everything else is the library's (``NightlyRun``).
  func makeRequest(runID: String, logger: Logger) throws -> NightRequest {
    let environment = ProcessInfo.processInfo.environment
    let source: NightRequest.Source
    if let config {
      source = .configuration(path: config, date: date)
    } else {
      source = .paths(
        snapshot: snapshot ?? "", state: state ?? "", outputDirectory: out ?? "",
        settings: FirmSettings(
          format: output.format, encoding: try output.encoding(), extracts: output.extractSet),
        destination: oneOffDestination())
    }
    var request = NightRequest(
      source: source, runID: runID, logger: logger,
      standardTemplatesDirectory: OutputOptions.standardTemplatesDirectory)
    request.shard = try ShardSelection.resolve(shard: shard, shards: shards, environment: environment)
    request.finalizeIfLast = finalizeIfLast
    request.firms = firms
    request.templatesDirectory = output.templates
    request.allowGap = allowGap
    request.createState = initState
    request.resend = resend
    request.idempotencyKey = idempotencyKey
    request.workerCount = output.workers
    let modes = try output.explicitFileModes()
    request.fileMode = modes.file
    request.directoryMode = modes.directory
    request.fixedNow = environment["EOD_NOW"]
    if logging.showsProgress {
      // On a terminal (an on-demand run), a progress bar on stderr.
      let started = Date()
      request.progress = { done, total, outcome in
        ProgressBar(total: total, unit: "firms", started: started).draw(done, label: outcome.firmID)
      }
    }
    request.wrapDestinations = PausingDestination.wrap
    // A test hook (documented in docs/operations.md as test-only): an internal error after the
    // lock is taken, to check what exit 70 leaves behind.
    if environment["EOD_TEST_INTERNAL_ERROR"] == "1" { request.afterLock = { throw InjectedTestFailure() } }
    request.say = { print($0) }
    return request
  }

  /// `--destination` with its key and known hosts: every firm's files go there.
  func oneOffDestination() -> NightRequest.Delivery? {
    guard let destination, let identity, let knownHosts else { return nil }
    let passphrase = passphraseEnv.map(SecretSource.environment) ?? passphraseFile.map(SecretSource.file)
    return .sftp(
      url: destination, identityFile: identity, knownHosts: knownHosts, passphrase: passphrase,
      trustOnFirstUse: trustOnFirstUse, createDirectories: createDirs)
  }
}
