import ArgumentParser
import EODCore
import EODOps
import EODPipeline
import EODReconcile
import EODState
import Foundation
import Logging

extension ReconcileExtract: ExpressibleByArgument {}

struct Reconcile: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Match one of our extracts against a counterparty's file and report the breaks.",
    discussion: """
      Writes <firm>_breaks_<extract>_<date>.csv and <firm>_recon_<extract>_<date>.json into --out.
      The profile (YAML) says how to read their file; see docs/reconciliation.md.
      Exit codes:
        0   no breaks
        1   breaks found (listed in the breaks file)
        2   cannot reconcile: bad profile, a set or file that cannot be read, --out not writable
        64  usage
      """)

  @Option(
    help:
      "Our delivered set: its folder (holding <firm>_manifest_<date>.json) or its manifest; or its folder on an SFTP server, sftp://USER@HOST[:PORT]/PATH, with --identity and --known-hosts (read only)."
  )
  var ours: String

  @OptionGroup var sftp: SFTPSetOptions

  @Option(help: "The extract to reconcile: positions, cash or transactions.")
  var extract: ReconcileExtract

  @Option(help: "Their file (CSV as the profile describes).")
  var theirs: String

  @Option(help: "The profile (YAML) describing their file.")
  var profile: String

  @Option(help: "Where the breaks and summary are written (created if missing).")
  var out: String = "."

  @Option(
    help:
      "The state store (SQLite): follow each break from day to day (first seen, age, closed). Must exist unless --init-state."
  )
  var state: String?

  @Flag(help: "Create the state store given with --state if it is missing.")
  var initState = false

  @Option(
    help: "A holidays file (as calendar.holidays in the configuration) for the breaks' age in business days.")
  var calendar: String?

  @Option(
    help:
      "The job's configuration: its webhooks get recon.completed, its metrics_file's folder the open-breaks metrics, its calendar the breaks' age."
  )
  var config: String?

  @Option(help: .hidden) var runRows: Int = 100_000

  func validate() throws {
    guard runRows > 0 else { throw ValidationError("--run-rows must be more than 0") }
    if initState && state == nil { throw ValidationError("--init-state needs --state") }
    try sftp.validate(ours, named: "--ours")
  }

  func run() async throws {
    try await withExitCodes {
      let logger = makeLogger()
      guard let bytes = FileManager.default.contents(atPath: profile) else {
        throw Failure(.nothingDone, "profile \(profile): cannot read it")
      }
      let parsed: ReconcileProfile
      do {
        parsed = try ProfileReader.parse(String(decoding: bytes, as: UTF8.self), source: profile)
      } catch let error as ProfileError {
        throw Failure(.nothingDone, error.description)
      }
      guard parsed.extract == extract else {
        throw Failure(
          .nothingDone,
          "profile \(profile) is for the \(parsed.extract.rawValue) extract, not \(extract.rawValue)")
      }
      var configuration: JobConfiguration?
      if let config {
        do { configuration = try JobConfiguration.load(contentsOf: config) } catch {
          throw Failure(.nothingDone, "\(error)", cause: error)
        }
      }
      // A set on an SFTP server: its manifest and the extract's file are copied into a temporary
      // folder in --out (removed at the end) and reconciled from there (docs/reconciliation.md).
      var oursSet = ours
      var copy: String?
      defer { if let copy { try? FileManager.default.removeItem(atPath: copy) } }
      /// A message with the temporary copy's path shown as the set's address.
      func shown(_ message: String) -> String {
        guard let copy else { return message }
        return message.replacingOccurrences(of: copy, with: ours)
      }
      if SFTPSetOptions.isRemote(ours) {
        let remote = try sftp.connect(ours, command: "reconcile", logger: logger)
        defer { remote.connection.disconnect() }
        let folder = out + "/.reconcile-ours-\(UUID().uuidString)"
        copy = folder
        do {
          oursSet = try RemoteSet.copy(from: remote, extract: extract, into: folder)
        } catch let error as ReconcileError {
          throw Failure(.nothingDone, shown(error.description))
        }
      }
      var request = ReconcileRequest(
        oursSet: oursSet, theirsPath: theirs, profile: parsed, profileBytes: [UInt8](bytes),
        outDirectory: out,
        runSize: runRows)
      if let calendar {
        do { request.calendar = try BusinessCalendar.load(contentsOf: calendar) } catch {
          throw Failure(.nothingDone, "\(error)", cause: error)
        }
      } else if let settings = configuration?.calendar {
        do { request.calendar = try settings.load() } catch {
          throw Failure(.nothingDone, "\(error)", cause: error)
        }
      }
      let result: ReconcileResult
      do {
        if let state {
          let set = try Reconciler.identify(oursSet, extract: extract)
          let (lock, store) = try StateAccess.openForWriting(state, create: initState, logger: logger)
          defer { _ = lock }
          result = try store.recordBreakDay(firm: set.firm, extract: extract.rawValue, date: set.businessDate)
          {
            recorder in
            try Reconciler.run(request, ledger: StoreLedger(recorder: recorder))
          }
        } else {
          result = try Reconciler.run(request)
        }
      } catch let error as ReconcileError {
        throw Failure(.nothingDone, shown(error.description))
      }
      let counts = result.counts
      print(
        "\(result.firm) \(extract.rawValue) \(result.businessDate): ours \(counts.oursRows) rows, theirs \(counts.theirsRows); matched exactly \(counts.matchedExactly), within tolerance \(counts.matchedWithinTolerance); breaks \(result.totalBreaks)"
      )
      for type in BreakType.allCases {
        if let count = counts.breaksByType[type], count > 0 { print("  \(type.rawValue) \(count)") }
      }
      print("breaks: \(result.breaksPath)")
      print("summary: \(result.summaryPath)")
      if let configuration {
        writeReconcileMetrics(result, extract: extract, configuration: configuration, logger: logger)
        await notifyReconcile(result, configuration: configuration, logger: logger)
      }
      return result.totalBreaks == 0 ? .success : .someFirmsFailed
    }
  }
}

/// The state store's break history, as the reconciliation sees it.
struct StoreLedger: BreakLedger {
  let recorder: any BreakDayRecording

  func firstSeen(before id: String) throws -> String? { try recorder.firstSeen(before: id) }

  func record(
    id: String, type: BreakType, key: [String], field: String, ours: String, theirs: String,
    difference: String
  ) throws {
    try recorder.record(
      BreakObservation(
        id: id, type: type.rawValue, key: key, field: field, ours: ours, theirs: theirs,
        difference: difference))
  }
}

/// The open-breaks metrics file beside the job's `metrics_file`: `<name>.reconcile.prom`.
func reconcileMetricsPath(_ metricsFile: String) -> String {
  String(metricsFile.dropLast(".prom".count)) + ".reconcile.prom"
}

/// `eod_recon_open_breaks` (by firm, extract, type and age bucket, zeros included) and
/// `eod_recon_last_run_timestamp_seconds`, other firms' and extracts' samples kept from the file.
func writeReconcileMetrics(
  _ result: ReconcileResult, extract: ReconcileExtract, configuration: JobConfiguration, logger: Logger
) {
  guard let metricsFile = configuration.metricsFile else { return }
  let path = reconcileMetricsPath(metricsFile)
  var metrics = MetricsFile(descriptors: [.reconOpenBreaks, .reconLastRun])
  do {
    for item in result.breaksByTypeAndAgeBucket {
      try metrics.set(
        .reconOpenBreaks,
        labels: [
          "firm": result.firm, "extract": extract.rawValue, "type": item.type.rawValue, "age": item.bucket,
        ],
        Double(item.count))
    }
    try metrics.set(
      .reconLastRun, labels: ["firm": result.firm, "extract": extract.rawValue],
      Clock.now().timeIntervalSince1970)
    metrics.carryForward(.reconOpenBreaks, .reconLastRun, fromFileAt: path)
    try metrics.write(to: path)
  } catch {
    logger.error("cannot write metrics \(path): \(error)")
  }
}

extension MetricDescriptor {
  static let reconOpenBreaks = MetricDescriptor(
    name: "eod_recon_open_breaks", kind: .gauge,
    help:
      "Open reconciliation breaks after a firm's last reconciliation of an extract, by type and age in business days.",
    labelNames: ["firm", "extract", "type", "age"])
  static let reconLastRun = MetricDescriptor(
    name: "eod_recon_last_run_timestamp_seconds", kind: .gauge,
    help: "Unix time of a firm's last completed reconciliation of an extract.",
    labelNames: ["firm", "extract"])
}

/// The `recon.completed` webhook, to every endpoint subscribed to it; a failure is logged and
/// does not change the exit code.
func notifyReconcile(_ result: ReconcileResult, configuration: JobConfiguration, logger: Logger) async {
  let event: WebhookEvent
  do {
    event = try WebhookEvent.reconCompleted(
      firmID: result.firm, businessDate: result.businessDate, runID: UUID().uuidString.lowercased(),
      summaryJSON: result.summaryJSON)
  } catch {
    logger.error("webhook for \(result.firm): \(error)")
    return
  }
  await WebhookSender.send(
    event, configuration: configuration, about: result.firm, unaffected: "the reconciliation", logger: logger)
}
