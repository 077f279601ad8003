import EODCompression
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The plan of a configuration, as `eod-extract check-config` prints it.
extension JobConfiguration {
  /// A description of what the nightly run would do, for `eod-extract check-config`.
  ///
  /// - Parameter businessDate: `YYYY-MM-DD` to show the snapshot path for (and whether it exists).
  public func describePlan(businessDate: String? = nil) -> String {
    func seconds(_ duration: Duration) -> String {
      let millis = WebhookSender.milliseconds(duration)
      return millis % 1000 == 0 ? "\(millis / 1000)s" : "\(Double(millis) / 1000)s"
    }
    var out = "Configuration \(sourcePath ?? "<input>")\n"
    if let businessDate {
      let snapshot = snapshotPath(for: businessDate)
      let present = FileManager.default.fileExists(atPath: snapshot) ? "present" : "not found yet"
      out += "Business date \(businessDate): snapshot \(snapshot) (\(present))\n"
    } else {
      out +=
        "Snapshots: \(snapshotPattern) (date = previous-business-day: yesterday when a business day, unless --date is given)\n"
    }
    let zone = calendar?.timeZone ?? "UTC"
    if let file = calendar?.holidaysFile {
      let years = (try? calendar?.load())?.coveredYears.map { "holidays \($0.lowerBound)-\($0.upperBound)" }
      out += "Calendar: weekends and \(file) (\(years ?? "no holidays")), dates in \(zone)\n"
    } else {
      out += "Calendar: weekends only (no calendar.holidays), dates in \(zone)\n"
    }
    if JobConfiguration.isPostgresURL(stateStore) {
      out += "State store: \(stateStore) (PostgreSQL; a second writer of a firm's date exits with code 3)\n"
    } else {
      out += "State store: \(stateStore) (run lock \(lockPath); a second run exits with code 3)\n"
    }
    out += "Output (staging) directory: \(outputDirectory)\n"
    out += "Templates: \(templatesDirectory ?? "built-in location")\n"
    out += "Defaults: format \(format.rawValue), compression \(compression)\n"
    let scope =
      allFirms
      ? "the \(firms.count) listed firm(s) plus every other firm in the snapshot"
      : "only the \(firms.count) listed firm(s)"
    out +=
      "Firms: \(scope); at most \(concurrency) in parallel; one firm's failure does not stop the others\n"
    for firm in firms {
      out += "  \(firm.firmID) -> \(firm.destination)\n"
      let extracts = firm.orderedExtracts.map { "\($0.name) v\($0.version)" }.joined(separator: ", ")
      out += "      extracts: \(extracts)\n"
      out +=
        "      format \(self.format(for: firm).rawValue), compression \(Self.planText(self.compression(for: firm)))"
      let on = firm.features.filter(\.value).keys.sorted()
      out += on.isEmpty ? ", no feature flags\n" : ", features: \(on.joined(separator: ", "))\n"
      if case .sftp(let sftp) = firm.destination {
        out += "      identity \(sftp.identityFile)"
        if let passphrase = sftp.passphrase { out += " (passphrase from \(passphrase))" }
        out +=
          ", known_hosts \(sftp.knownHosts), create directories: \(sftp.allowCreateDirectories ? "yes" : "no")\n"
      }
    }
    if allFirms, let defaultDestination {
      out += "  (any other firm) -> \(defaultDestination), all standard extracts v1, job defaults\n"
    } else {
      out += "  Firms in the snapshot but not listed: not extracted\n"
    }
    out +=
      "Delivery: up to \(retry.deliveryAttempts) attempt(s) per file, backoff \(seconds(retry.baseDelay))"
    out += " doubling to \(seconds(retry.maxDelay)); timeouts connect \(seconds(timeouts.connect)),"
    out += " operation \(seconds(timeouts.operation)), whole run \(seconds(timeouts.overall))\n"
    if webhooks.endpoints.isEmpty {
      out += "Webhooks: none\n"
    } else {
      let policy = webhooks.policy
      out +=
        "Webhooks: up to \(policy.maxAttempts) attempt(s) within \(seconds(policy.totalTimeout)) per event\n"
      for endpoint in webhooks.endpoints {
        out +=
          "  \(endpoint.url) (secret from \(endpoint.secret)) for \(endpoint.events.joined(separator: ", "))\n"
      }
    }
    out += "Metrics: \(metricsFile ?? "not written")\n"
    return out
  }

  /// A firm's compression as the plan says it: `none`, `gzip level 6`.
  static func planText(_ encoding: OutputEncoding) -> String {
    switch encoding {
    case .none: "none"
    case .gzip(let level): "gzip level \(level)"
    }
  }
}
