import EODCompression
import EODCore
import EODDelivery
import EODOps
import EODPipeline
import EODRender
import EODSFTP
import Foundation
import Logging

/// What one `run` does, from the command line or from a configuration file.
struct RunPlan {
  var snapshot: String
  var statePath: String
  var outputDirectory: String
  var firms: [String]
  var templates: TemplateLibrary
  var defaultSettings: FirmSettings
  var firmSettings: [String: FirmSettings] = [:]
  /// Per firm; filled in from the configuration.
  var configuredDestinations: [String: any Destination] = [:]
  /// `--destination`: every processed firm, under PATH/<firm>/<date>/.
  var oneOffDestination: (any Destination)?
  /// Deliver every processed firm (a firm without a destination is then an error for it).
  var deliverAll = false
  var configuration: JobConfiguration?

  init(
    snapshot: String, statePath: String, outputDirectory: String, firms: [String], templates: TemplateLibrary,
    defaultSettings: FirmSettings
  ) {
    self.snapshot = snapshot
    self.statePath = statePath
    self.outputDirectory = outputDirectory
    self.firms = firms
    self.templates = templates
    self.defaultSettings = defaultSettings
  }

  /// Destinations by firm for the firms of a report: a firm without one is an error for that
  /// firm, never a fall-back to another firm's.
  func destinations(for report: RunReport) -> [String: any Destination] {
    if let oneOffDestination {
      return Dictionary(uniqueKeysWithValues: report.firms.map { ($0.firmID, oneOffDestination) })
    }
    var destinations = configuredDestinations
    // all_firms: a firm found in the snapshot but not listed goes to default_destination.
    if let configuration, configuration.allFirms {
      let date = report.businessDate.description
      for firm in report.firms where destinations[firm.firmID] == nil {
        guard let unlisted = configuration.firm(firm.firmID) else { continue }
        var mirror = true
        if case .local(let directory) = unlisted.destination { mirror = !directory.contains("{date}") }
        destinations[firm.firmID] = try? RunPlan.destination(
          unlisted.destination.resolved(firmID: firm.firmID, businessDate: date),
          configuration: configuration,
          mirror: mirror)
      }
    }
    return destinations
  }

  /// From a configuration file: only the firms it lists (or all, with `all_firms`).
  init(configuration: JobConfiguration, date: String?, firms: [String], templates: TemplateLibrary) throws {
    let businessDate: CivilDate
    if let date, date != "yesterday" {
      guard let parsed = CivilDate(date) else {
        throw Failure(.usage, "--date '\(date)' is not YYYY-MM-DD or 'yesterday'")
      }
      businessDate = parsed
    } else {
      let today = Calendar(identifier: .gregorian).dateComponents(
        in: TimeZone(identifier: "UTC") ?? .current, from: Clock.now())
      guard let y = today.year, let m = today.month, let d = today.day,
        let now = CivilDate(year: y, month: m, day: d)
      else {
        throw Failure(.internalError, "cannot tell today's date")
      }
      businessDate = now.adding(days: -1)
    }
    for firm in firms where configuration.firm(firm) == nil {
      throw Failure(.usage, "--firm \(firm) is not in the configuration \(configuration.sourcePath ?? "")")
    }
    let selected = firms.isEmpty ? configuration.firms.map(\.firmID) : firms
    self.init(
      snapshot: configuration.snapshotPath(for: businessDate.description),
      statePath: configuration.stateStore,
      outputDirectory: configuration.outputDirectory,
      firms: configuration.allFirms && firms.isEmpty ? [] : selected,
      templates: templates, defaultSettings: FirmSettings())
    self.configuration = configuration
    deliverAll = true
    for id in selected {
      guard let firm = configuration.firm(id) else { continue }
      firmSettings[id] = try RunPlan.settings(firm, configuration: configuration)
      // A configured directory with {date} is the exact place; otherwise files go under
      // <dir>/<firm_id>/<business_date>/ as they do locally.
      let mirror: Bool
      switch firm.destination {
      case .local(let directory): mirror = !directory.contains("{date}")
      case .sftp(let sftp): mirror = !sftp.remoteDirectory.contains("{date}")
      }
      configuredDestinations[id] = try RunPlan.destination(
        firm.destination.resolved(firmID: id, businessDate: businessDate.description),
        configuration: configuration, mirror: mirror)
    }
  }

  static func settings(_ firm: FirmConfiguration, configuration: JobConfiguration) throws -> FirmSettings {
    var versions: [ExtractKind: Int] = [:]
    var extracts: Set<ExtractKind> = []
    for (name, version) in firm.extracts {
      guard let kind = ExtractKind(rawValue: name) else {
        throw Failure(.nothingDone, "unknown extract \(name)")
      }
      versions[kind] = version
      extracts.insert(kind)
    }
    let encoding: OutputEncoding
    switch configuration.compression(for: firm) {
    case .none: encoding = .none
    case .gzip(let level): encoding = .gzip(level: level)
    }
    return FirmSettings(
      format: configuration.format(for: firm) == .json ? .json : .csv, encoding: encoding,
      templateVersions: versions,
      extracts: extracts.isEmpty ? nil : extracts, formulaSafe: firm.isEnabled("formula_safe_csv"))
  }

  static func destination(
    _ destination: DestinationConfiguration, configuration: JobConfiguration, mirror: Bool
  ) throws -> any Destination {
    switch destination {
    case .local(let directory):
      return LocalDirectoryDestination(base: directory, mirrorLocalLayout: mirror)
    case .sftp(let sftp):
      var passphrase: String?
      if let source = sftp.passphrase {
        do { passphrase = String(decoding: try source.resolve(), as: UTF8.self) } catch {
          throw Failure(.nothingDone, "\(error)")
        }
      }
      let retry = SFTPRetryPolicy(
        maxAttempts: configuration.retry.deliveryAttempts, baseDelay: configuration.retry.baseDelay,
        maxDelay: configuration.retry.maxDelay, maxTotalTime: configuration.timeouts.overall)
      var settings = SFTPDestination.Configuration(
        endpoint: SFTPEndpoint(host: sftp.host, port: sftp.port, user: sftp.user),
        remoteBase: sftp.remoteDirectory,
        identity: SFTPIdentity(privateKeyPath: sftp.identityFile, passphrase: passphrase),
        hostKeys: SFTPHostKeyPolicy(knownHostsPath: sftp.knownHosts),
        allowCreateDirectories: sftp.allowCreateDirectories,
        timeouts: SFTPTimeouts(
          connect: configuration.timeouts.connect, operation: configuration.timeouts.operation),
        overallTimeout: configuration.timeouts.overall, retry: retry)
      settings.mirrorLocalLayout = mirror
      return SFTPDestination(configuration: settings)
    }
  }

  /// Webhooks for each firm: delivered with the manifest, or failed with problem details.
  func notify(report: RunReport, deliveries: [DeliveryOutcome], logger: Logger) async {
    guard let configuration, !configuration.webhooks.endpoints.isEmpty else { return }
    var endpoints: [WebhookEndpoint] = []
    for item in configuration.webhooks.endpoints {
      do { endpoints.append(try item.endpoint()) } catch {
        logger.error("webhook endpoint \(item.url): \(error)")
      }
    }
    let sender = WebhookSender(policy: configuration.webhooks.policy.policy)
    let byFirm = Dictionary(deliveries.map { ($0.firmID, $0) }, uniquingKeysWith: { $1 })
    for firm in report.firms {
      let date = report.businessDate.description
      let event: WebhookEvent
      let problem: (String, String)? =
        firm.error.map { ("extract-failed", $0.description) }
        ?? byFirm[firm.firmID].flatMap {
          $0.status == .failed ? ("delivery-failed", $0.error?.description ?? "") : nil
        }
      if let (code, detail) = problem {
        event = WebhookEvent.failed(
          firmID: firm.firmID, businessDate: date, runID: report.runID,
          problem: ProblemDetails(
            type: ProblemDetails.typeURI(code: code),
            title: code == "extract-failed" ? "Extract failed" : "Delivery failed",
            status: 500, detail: detail, runID: report.runID, firmID: firm.firmID))
      } else if let manifest = firm.manifest {
        do {
          event = try WebhookEvent.delivered(
            firmID: firm.firmID, businessDate: date, runID: report.runID, manifestJSON: Data(manifest.utf8))
        } catch {
          logger.error("webhook for \(firm.firmID): \(error)")
          continue
        }
      } else {
        continue
      }
      for outcome in await sender.send(event, to: endpoints, logger: logger) where !outcome.succeeded {
        logger.error(
          "webhook to \(outcome.endpoint) for \(firm.firmID) failed; delivery is unaffected: \(outcome.result)"
        )
      }
    }
  }

  /// The Prometheus textfile, written atomically, when configured.
  func writeMetrics(
    report: RunReport, deliveries: [DeliveryOutcome], seconds: Double, failed: Set<String>, logger: Logger
  ) {
    guard let path = configuration?.metricsFile else { return }
    var metrics = MetricsFile()
    metrics.carryForward(.lastSuccessTimestamp, fromFileAt: path)
    do {
      for firm in report.firms {
        if !failed.contains(firm.firmID) {
          try metrics.set(
            .lastSuccessTimestamp, labels: ["firm": firm.firmID], Clock.now().timeIntervalSince1970)
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
      try metrics.set(.runExitCode, Double(failed.isEmpty ? 0 : 1))
      try metrics.write(to: path)
    } catch {
      logger.error("cannot write metrics \(path): \(error)")
    }
  }
}
