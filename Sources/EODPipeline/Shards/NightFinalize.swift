import EODCore
import EODOps
import EODState
import Foundation

/// One planned firm, as the fan-in found it.
public struct NightFirm: Sendable, Equatable {
  public var firmID: String
  public var shard: Int
  /// Its set is complete and delivered: a completed run of the date recorded with its manifest's
  /// SHA-256, that manifest in the output directory with those bytes, and the journal showing
  /// the same manifest delivered (the manifest goes last, after every data file).
  public var complete: Bool
  /// Data files the journal shows delivered for the firm and date (the manifest not counted).
  public var files: Int
  /// Why it is not complete.
  public var missing: String?
  /// When the journal recorded its manifest delivered (RFC 3339), when it was.
  public var deliveredAt: String?
}

/// The night's fan-in (`eod-extract finalize`): whether every planned firm has a complete,
/// delivered set, as a summary for people and programs.
public struct NightSummary: Sendable, Equatable {
  public var businessDate: String
  public var shardCount: Int
  /// In firm order.
  public var firms: [NightFirm]
  public var missing: [String] { firms.filter { !$0.complete }.map(\.firmID) }
  public var complete: Bool { missing.isEmpty }
  public var files: Int { firms.reduce(0) { $0 + $1.files } }

  /// `OUT/night-<date>.summary.json`: deterministic JSON (fixed key order, firms in id order).
  public var json: String {
    let firmLines = firms.map { firm in
      "    {\"firm_id\": \(jsonString(firm.firmID)), \"shard\": \(firm.shard), \"complete\": \(firm.complete), "
        + "\"files\": \(firm.files)"
        + (firm.missing.map { ", \"missing\": \(jsonString($0))" } ?? "") + "}"
    }
    return """
      {
        "business_date": "\(businessDate)",
        "complete": \(complete),
        "shards": \(shardCount),
        "files": \(files),
        "missing": [\(missing.map(jsonString).joined(separator: ", "))],
        "firms": [
      \(firmLines.joined(separator: ",\n"))
        ]
      }

      """
  }

  /// The summary file's path under the output directory.
  public static func path(outputDirectory: String, businessDate: String) -> String {
    outputDirectory + "/night-" + businessDate + ".summary.json"
  }
}

/// The fan-in of a sharded night: checks each planned firm's set, writes the summary and the
/// night's metrics (the webhook is the caller's: it holds the configuration's endpoints).
public enum NightFinalize {
  /// Checks every firm of `plan` against the state store and the output directory.
  public static func check(plan: StoredShardPlan, store: any StateStoring, outputDirectory: String) throws
    -> NightSummary
  {
    var firms: [NightFirm] = []
    guard let date = CivilDate(plan.businessDate) else {
      throw ShardError("the stored plan's date \(plan.businessDate) is not a date")
    }
    for item in plan.assignments {
      var firm = NightFirm(firmID: item.firmID, shard: item.shard, complete: false, files: 0)
      guard FirmIdentifier.isValid(item.firmID) else {
        // No path is made from an invalid id: the night failed it alone, as it does in a run.
        firm.missing = "not a valid firm id (1-64 of A-Z a-z 0-9 - _): it is never extracted"
        firms.append(firm)
        continue
      }
      let manifestName = CompleteSets.manifestName(firmID: item.firmID, date: date)
      let journal = try store.journal(firmID: item.firmID, businessDate: plan.businessDate, destination: nil)
      let recorded = try store.completedManifest(firmID: item.firmID, businessDate: plan.businessDate)
      let local = outputDirectory + "/" + item.firmID + "/" + plan.businessDate + "/" + manifestName
      let delivered = journal.first { $0.fileName == manifestName && $0.sha256 == recorded }
      if let delivered {
        firm.deliveredAt = delivered.deliveredAt
        firm.files =
          journal.filter { $0.destination == delivered.destination && $0.fileName != manifestName }.count
      }
      if let recorded {
        if let bytes = FileManager.default.contents(atPath: local) {
          if FileSystem.sha256(Array(bytes)) != recorded {
            firm.missing = "the manifest in the output directory is not the one the completed run recorded"
          } else if delivered == nil {
            firm.missing = "not delivered: the journal has no delivery of its manifest"
          }
        } else {
          firm.missing = "no manifest in the output directory (\(local))"
        }
      } else {
        firm.missing = "no completed run of \(plan.businessDate)"
      }
      firm.complete = firm.missing == nil
      firms.append(firm)
    }
    return NightSummary(businessDate: plan.businessDate, shardCount: plan.shardCount, firms: firms)
  }

  /// Writes the summary to `OUT/night-<date>.summary.json` (a temporary file renamed into place).
  public static func writeSummary(_ summary: NightSummary, outputDirectory: String) throws -> String {
    let path = NightSummary.path(outputDirectory: outputDirectory, businessDate: summary.businessDate)
    try Data(summary.json.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    return path
  }

  /// The night's metrics file beside the job's `metrics_file`: `<metrics>.night.prom`.
  public static func metricsPath(_ metricsFile: String) -> String {
    (metricsFile.hasSuffix(".prom") ? String(metricsFile.dropLast(".prom".count)) : metricsFile)
      + ".night.prom"
  }

  /// Where shard `shard` of `shards` writes its run's metrics for a night, instead of the job's
  /// `metrics_file` (which only the fan-in writes on a sharded night): beside it,
  /// `<metrics_file>.<date>.shard-K-of-N`, a name node_exporter's textfile collector does not read
  /// (it reads `*.prom`), so the shards' files never show as duplicate series.
  public static func shardMetricsPath(_ metricsFile: String, businessDate: String, shard: Int, of shards: Int)
    -> String
  {
    "\(metricsFile).\(businessDate).shard-\(shard)-of-\(shards)"
  }

  /// Rewrites the job's `metrics_file` for the night from its shards' files
  /// (``shardMetricsPath(_:businessDate:shard:of:)``; ``MetricsFile/night(fragments:previousFileAt:exitCode:failedFirms:failedAt:succeeded:)``):
  /// every firm as its shard last wrote it, the night's verdict as the exit code (0 complete, 1
  /// not), the missing firms failed at `now`. Then removes the shards' files of earlier dates
  /// (those of this date stay: a later finalize merges them again).
  public static func writeJobMetrics(_ summary: NightSummary, metricsFile: String, now: Date) throws {
    let fragments = (0..<summary.shardCount).map { shard in
      (
        path: shardMetricsPath(
          metricsFile, businessDate: summary.businessDate, shard: shard, of: summary.shardCount),
        firms: Set(summary.firms.filter { $0.shard == shard }.map(\.firmID))
      )
    }
    var succeeded: [String: Date] = [:]
    for firm in summary.firms where firm.complete {
      succeeded[firm.firmID] = firm.deliveredAt.flatMap { ISO8601DateFormatter().date(from: $0) }
    }
    let metrics = try MetricsFile.night(
      fragments: fragments, previousFileAt: metricsFile, exitCode: summary.complete ? 0 : 1,
      failedFirms: summary.missing, failedAt: now, succeeded: succeeded)
    try metrics.write(to: metricsFile)
    let url = URL(fileURLWithPath: metricsFile)
    let prefix = url.lastPathComponent + "."
    let folder = url.deletingLastPathComponent().path
    for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    where name.hasPrefix(prefix) {
      let rest = name.dropFirst(prefix.count)
      guard rest.count > 10, let date = CivilDate(String(rest.prefix(10))),
        rest.dropFirst(10).hasPrefix(".shard-"),
        date.description < summary.businessDate
      else { continue }
      unlink(folder + "/" + name)
    }
  }

  /// Writes the night's metrics (planned, complete and missing firms, shards, whether complete,
  /// when finalized) to `path`.
  public static func writeMetrics(_ summary: NightSummary, to path: String, now: Date) throws {
    var metrics = MetricsFile(descriptors: [.nightFirms, .nightShards, .nightComplete, .nightFinalized])
    let date = summary.businessDate
    try metrics.set(
      .nightFirms, labels: ["business_date": date, "state": "planned"], Double(summary.firms.count))
    try metrics.set(
      .nightFirms, labels: ["business_date": date, "state": "complete"],
      Double(summary.firms.count - summary.missing.count))
    try metrics.set(
      .nightFirms, labels: ["business_date": date, "state": "missing"], Double(summary.missing.count))
    try metrics.set(.nightShards, labels: ["business_date": date], Double(summary.shardCount))
    try metrics.set(.nightComplete, labels: ["business_date": date], summary.complete ? 1 : 0)
    try metrics.set(.nightFinalized, labels: ["business_date": date], now.timeIntervalSince1970)
    try metrics.write(to: path)
  }
}

extension MetricDescriptor {
  static let nightFirms = MetricDescriptor(
    name: "eod_night_firms", kind: .gauge,
    help: "Firms of a sharded night's plan at its last finalize: planned, complete (delivered) and missing.",
    labelNames: ["business_date", "state"])
  static let nightShards = MetricDescriptor(
    name: "eod_night_shards", kind: .gauge, help: "Shards of a sharded night's plan.",
    labelNames: ["business_date"])
  static let nightComplete = MetricDescriptor(
    name: "eod_night_complete", kind: .gauge,
    help:
      "1 when every planned firm of the night has a complete, delivered set at its last finalize, else 0.",
    labelNames: ["business_date"])
  static let nightFinalized = MetricDescriptor(
    name: "eod_night_finalized_timestamp_seconds", kind: .gauge,
    help: "Unix time of a sharded night's last finalize.", labelNames: ["business_date"])
}
