import EODCore
import EODDelivery
import EODOps
import EODState
import Foundation
import Logging

/// Everything a night needs, built by its caller (the command line, a program, a test): nothing
/// here is read from the environment or the command line.
public struct Night {
  /// The extract: snapshot, output directory, firms, templates and settings, calendar, run id,
  /// threads.
  public var job: JobOptions
  /// The state store, opened (and its run lock held) by the caller.
  public var store: any StateStoring
  /// Deliver every firm written to its destination (``destinations``); false: nothing is sent.
  public var deliver = false
  /// The destination of each firm of a report; a firm without one fails its delivery (its files
  /// never go to another firm's destination).
  public var destinations: (RunReport) -> [String: any Destination] = { _ in [:] }
  /// Send again what was delivered already; with ``laterSnapshot``, re-issue a restatement's stale
  /// later dates.
  public var resend = false
  /// The snapshot of a business date (`YYYY-MM-DD`), for re-issuing a restatement's later dates
  /// (nil: they are listed, not re-issued).
  public var laterSnapshot: ((String) -> String)?
  /// Webhooks to send for each firm (nil: none).
  public var webhooks: WebhookConfiguration?
  /// The Prometheus textfile to rewrite (nil: none).
  public var metricsFile: String?
  /// ``metricsFile`` is a shard's file of the night (docs/kubernetes.md): it keeps what earlier
  /// attempts of the shard wrote there for the firms this run does not run again.
  public var metricsOfShard = false
  /// An on-demand request's idempotency key.
  public var idempotency: IdempotencyRequest?
  public var clock: @Sendable () -> Date = { Date() }
  /// When the night was started (the metrics' last attempt).
  public var startedAt: Date
  public var logger: Logger
  /// Each line of the summary, as it is made (the report has them all too).
  public var say: (String) -> Void = { _ in }
  /// Told of the extract's report as soon as it is made (before delivery).
  public var extracted: (RunReport) -> Void = { _ in }

  public init(job: JobOptions, store: any StateStoring, startedAt: Date = Date(), logger: Logger) {
    self.job = job
    self.store = store
    self.startedAt = startedAt
    self.logger = logger
  }
}

/// What a night did.
public struct NightReport {
  /// The extract's report: one outcome per firm (nil when nothing ran: a replayed or refused
  /// idempotency key).
  public var extract: RunReport?
  public var deliveries: [DeliveryOutcome] = []
  /// The later dates re-issued after a restatement (with `resend`).
  public var reissued: [Reissue] = []
  /// The webhooks sent.
  public var notices: [NightNotice] = []
  /// The summary, one line per firm and delivery, as printed.
  public var lines: [String] = []
  /// The date asked for is not a business day (the calendar's reason): nothing ran (exit 0).
  public var notBusinessDay: (date: CivilDate, reason: String)?
  /// A replayed idempotency key: what the completed run printed (nothing ran or was delivered).
  public var replayedOutput: String?
  /// Why nothing was done (an idempotency key used for another request): the night ends with 2.
  public var refusal: String?
  /// Firms whose extract or delivery failed.
  public var failedFirms: Set<String> = []
  /// The exit verdict: 0 when every firm was written (and delivered), 1 when some failed, 2 with
  /// ``refusal``. A night that cannot run at all throws instead.
  public var exitCode: EODExitCode = .success
}

/// The nightly run, as a library: the stages of Sources/EODPipeline/Night/ in order. The command
/// line only parses its arguments into a ``NightRequest``, prints the ``NightReport`` and exits
/// with its code.
public enum NightlyRun {
  /// Runs the night a caller asks for, from its request to its verdict: ``PrepareNight`` (the
  /// configuration and plan, the business-day decision, the snapshot file and output directory
  /// checked, the state store opened and locked, a shard's firms, the idempotency request), the
  /// night's stages (``run(_:)-(Night)``), and a shard's finish (``FinishShard``).
  ///
  /// Throws when nothing can be done (the snapshot, a template, the configuration, the state
  /// store and its lock, the output directory; an idempotency key used for another request): the
  /// error says its exit code (``EODExitCode/init(for:)``) and has been logged, measured and
  /// recorded (``NightStop``) before it is thrown, except a usage error (64), which is the
  /// caller's to show. One firm's failure is in the report and does not stop the others.
  public static func run(_ request: NightRequest) async throws -> NightReport {
    let stop = NightStop(
      runID: request.runID, configurationPath: request.configurationPath, requestedFirms: request.firms,
      startedAt: Date(), now: { Date() })
    do {
      let now = try clock(fixed: request.fixedNow)
      stop.startedAt = now()
      stop.now = now
      switch try PrepareNight.run(request, now: now, stop: stop) {
      case .notBusinessDay(let date, let reason):
        // A schedule that starts the job every day leaves the decision here: nothing to do.
        let message = "\(date) is not a business day (\(reason)): nothing to do"
        request.logger.notice("\(message)", metadata: ["date": "\(date)"])
        request.say(message)
        var report = NightReport()
        report.notBusinessDay = (date, reason)
        report.lines = [message]
        return report
      case .ready(let prepared):
        defer { prepared.release() }
        var night = prepared.night
        night.extracted = { stop.businessDate = $0.businessDate.description }
        if let shard = prepared.shard {
          // A shard with nothing left to run (every firm complete and delivered, or none planned)
          // runs no night: an empty firm list would mean every firm.
          var report = NightReport()
          if !shard.prepared.toRun.isEmpty { report = try await run(night) }
          report.exitCode = try await FinishShard.run(
            shard, exitCode: report.exitCode, request: request, store: night.store, now: now)
          return report
        }
        let report = try await run(night)
        if let refusal = report.refusal { throw RunRefusal(.nothingDone, refusal) }
        return report
      }
    } catch {
      stop.record(error, logger: request.logger)
      throw error
    }
  }

  /// The night's clock: the fixed instant asked for, or the system's.
  static func clock(fixed: String?) throws(RunRefusal) -> @Sendable () -> Date {
    guard let fixed else { return { Date() } }
    let instant = try fixedInstant(fixed)
    return { instant }
  }

  /// The instant a fixed now (`EOD_NOW`) names: ISO 8601 with a time zone, such as
  /// `2026-12-02T01:15:00Z`; anything else is refused (exit 2), never replaced by the real now.
  public static func fixedInstant(_ text: String) throws(RunRefusal) -> Date {
    guard let instant = ISO8601DateFormatter().date(from: text) else {
      throw RunRefusal(
        .nothingDone, "EOD_NOW '\(text)' is not an ISO 8601 instant such as 2026-12-02T01:15:00Z")
    }
    return instant
  }

  /// Runs the night's stages (docs/architecture.md) in order. Throws only when nothing can be
  /// done (the snapshot, a template, the state store, the output directory: each error says its
  /// exit code, ``EODExitCode/init(for:)``); one firm's failure is in the report and does not stop
  /// the others.
  public static func run(_ night: Night) async throws -> NightReport {
    var report = NightReport()
    func say(_ line: String) {
      night.say(line)
      report.lines.append(line)
    }
    // A replayed or refused idempotency key ends the night here: nothing runs.
    let claim: Idempotency.Claim?
    let job: JobOptions
    switch try Idempotency.begin(night) {
    case .finished(let finished): return finished
    case .run(let asked, let claimed): (job, claim) = (asked, claimed)
    }
    let extract = try ExtractJob.run(job, store: night.store, logger: night.logger)
    night.extracted(extract)
    report.extract = extract
    extract.summaryLines.forEach(say)
    var failed = Set(extract.failedFirms.map(\.firmID))
    if night.deliver {
      report.deliveries = await DeliveryStep.run(extract, night: night, say: say)
      failed.formUnion(report.deliveries.filter { $0.status == .failed }.map(\.firmID))
    }
    if night.resend, let laterSnapshot = night.laterSnapshot {
      let (reissued, failedAgain) = try await ReissueStale.run(
        extract, night: night, job: job, snapshotFor: laterSnapshot, say: say)
      report.reissued = reissued
      failed.formUnion(failedAgain)
    }
    report.failedFirms = failed
    report.exitCode = failed.isEmpty ? .success : .someFirmsFailed
    report.notices = await Notify.run(
      night.webhooks, report: extract, deliveries: report.deliveries, logger: night.logger)
    Measure.run(night, report: report, extract: extract)
    if let claim { try Idempotency.save(claim, report: report, extract: extract, store: night.store) }
    return report
  }
}

extension RunReport {
  /// The summary for a person, one line per firm (and notes under it).
  public var summaryLines: [String] {
    var lines: [String] = []
    for firm in firms {
      if let error = firm.error {
        lines.append("\(businessDate) \(firm.firmID): FAILED: \(error)")
        continue
      }
      let rows = firm.files.map { "\($0.extract.rawValue)=\($0.rows)" }.joined(separator: " ")
      lines.append(
        "\(businessDate) \(firm.firmID): \(rows) data_quality: \(firm.errors) errors, \(firm.warnings) warnings -> \(firm.directory)"
      )
      if !firm.staleDates.isEmpty {
        let dates = firm.staleDates.map(\.description).joined(separator: ", ")
        lines.append(
          "  restated: the extracts of \(dates) are now stale; with --config, run again with --resend to re-issue them, "
            + "or re-run those dates (eod-extract backfill --from)")
      }
      if let from = firm.gapCarriedFrom {
        lines.append("  performance carried across a gap in the history after \(from) (--allow-gap)")
      }
    }
    return lines
  }
}

extension DeliveryStep {
  /// One firm's delivery, in the summary.
  static func summaryLine(_ delivery: DeliveryOutcome, date: CivilDate) -> String {
    switch delivery.status {
    case .delivered where delivery.sent.contains { $0.outcome == .recognized }:
      return
        "\(date) \(delivery.firmID): delivered to \(delivery.destination) by an earlier run that did not record it "
        + "(the same set found in place); nothing sent, now recorded"
    case .delivered:
      return
        "\(date) \(delivery.firmID): delivered to \(delivery.destination): \(delivery.sent.count) files sent, \(delivery.skipped.count) already delivered"
    case .alreadyDelivered:
      return
        "\(date) \(delivery.firmID): already delivered to \(delivery.destination); nothing sent (use --resend to send again)"
    case .failed:
      return
        "\(date) \(delivery.firmID): DELIVERY FAILED: \(delivery.error.map(\.description) ?? "unknown")"
    }
  }
}
