import EODOps
import EODState
import Foundation
import Logging

/// A stage of the night (docs/architecture.md): the Prometheus textfile (when configured), written atomically, and each
/// failed firm (extract or delivery) recorded in the state store for `eod-extract status`.
enum Measure {
  /// The night's metrics and its failed firms' records, once its verdict is known.
  static func run(_ night: Night, report: NightReport, extract: RunReport) {
    writeMetrics(
      to: night.metricsFile, report: extract, deliveries: report.deliveries, failed: report.failedFirms,
      keepOtherFirms: night.metricsOfShard, started: night.startedAt, now: night.clock, logger: night.logger)
    recordFailures(
      report: extract, deliveries: report.deliveries, exitCode: report.exitCode, store: night.store,
      now: night.clock(), logger: night.logger)
  }

  static func writeMetrics(
    to path: String?, report: RunReport, deliveries: [DeliveryOutcome], failed: Set<String>,
    keepOtherFirms: Bool = false, started: Date, now: () -> Date, logger: Logger
  ) {
    guard let path else { return }
    do {
      var metrics = try MetricsFile.run(
        previousFileAt: path, started: started, exitCode: failed.isEmpty ? 0 : 1,
        failedFirms: failed.sorted(),
        failedAt: now())
      for firm in report.firms {
        if !failed.contains(firm.firmID) {
          try metrics.set(.lastSuccessTimestamp, labels: ["firm": firm.firmID], now().timeIntervalSince1970)
        }
        for file in firm.files {
          try metrics.set(
            .extractRows, labels: ["firm": firm.firmID, "extract": file.extract.rawValue], Double(file.rows))
          try metrics.set(
            .extractBytes, labels: ["firm": firm.firmID, "extract": file.extract.rawValue], Double(file.bytes)
          )
        }
        try metrics.set(.stepDuration, labels: ["firm": firm.firmID, "step": "extract"], firm.seconds)
        for (code, count) in firm.issuesByCode {
          try metrics.set(.dataQualityIssues, labels: ["firm": firm.firmID, "code": code], Double(count))
        }
      }
      for delivery in deliveries {
        let attempts = delivery.sent.reduce(0) { $0 + $1.attempts }
        try metrics.add(
          .deliveryAttempts, labels: ["firm": delivery.firmID, "destination": delivery.destination],
          Double(attempts))
      }
      if keepOtherFirms { metrics.carryFirms(fromFileAt: path, except: Set(report.firms.map(\.firmID))) }
      try metrics.write(to: path)
    } catch {
      logger.error("cannot write metrics \(path): \(error)")
    }
  }

  /// Records each failed firm of a completed run (extract or delivery) for `status`.
  static func recordFailures(
    report: RunReport, deliveries: [DeliveryOutcome], exitCode: EODExitCode, store: any StateStoring,
    now: Date,
    logger: Logger
  ) {
    let now = Timestamp.rfc3339(now)
    var entries: [FailureEntry] = []
    for firm in report.firms {
      if let error = firm.error {
        entries.append(
          FailureEntry(
            firmID: firm.firmID, businessDate: report.businessDate.description, runID: report.runID,
            step: "extract", error: "\(error)", failedAt: now, exitCode: Int(exitCode.rawValue)))
      }
    }
    for delivery in deliveries where delivery.status == .failed {
      entries.append(
        FailureEntry(
          firmID: delivery.firmID, businessDate: report.businessDate.description, runID: report.runID,
          step: "deliver", error: delivery.error.map(\.description) ?? "delivery failed", failedAt: now,
          exitCode: Int(exitCode.rawValue)))
    }
    do { try store.recordFailures(entries) } catch {
      logger.error("cannot record the failures in the state store: \(error)")
    }
  }
}
