import ArgumentParser
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

  /// The business-day calendar (from `calendar:` in the configuration; weekends only otherwise).
  var calendar: BusinessCalendar = .weekendsOnly
  /// With `--config`: the business date `--date` resolved to.
  var businessDate: CivilDate?
  /// With `--config`: the resolved date, when it is not a business day: why (nothing is run).
  var notBusinessDay: (date: CivilDate, reason: String)?
  /// A warning to log: the date is outside the years the holidays file covers.
  var calendarWarning: String?

  /// What `--date` accepts with `--config`.
  static let dateForms = "YYYY-MM-DD, 'previous-business-day', 'yesterday' or 'today'"

  /// Whether `text` is one of the forms `--date` accepts (checked before anything runs).
  static func isDateForm(_ text: String) -> Bool {
    CivilDate(text) != nil || ["previous-business-day", "yesterday", "today"].contains(text)
  }

  /// Refuses a `--date` that is none of the forms it accepts (every command's `validate()`).
  static func validateDateOption(_ date: String?) throws {
    if let date, !isDateForm(date) { throw ValidationError("--date '\(date)' is not \(dateForms)") }
  }

  /// The business date `--date` names, taking today in the calendar's time zone at `now`.
  /// `previous-business-day` (the default) and `yesterday` are the day before today: on the night
  /// after a weekend day or a holiday that is not a business day, and the run does nothing.
  static func resolveDate(_ text: String?, calendar: CalendarConfiguration, now: Date) throws -> CivilDate {
    let form = text ?? "previous-business-day"
    if let date = CivilDate(form) { return date }
    guard let today = calendar.civilDate(at: now) else {
      throw Failure(.internalError, "cannot tell today's date in time zone \(calendar.timeZone)")
    }
    switch form {
    case "previous-business-day", "yesterday": return today.adding(days: -1)
    case "today": return today
    default: throw Failure(.usage, "--date '\(form)' is not \(dateForms)")
    }
  }

  /// The business date `--date` names for a configuration (its calendar's time zone), now.
  static func resolveDate(_ text: String?, configuration: JobConfiguration) throws -> CivilDate {
    try resolveDate(text, calendar: configuration.calendar ?? CalendarConfiguration(), now: Clock.now())
  }

  /// From a configuration file: only the firms it lists (or all, with `all_firms`).
  init(configuration: JobConfiguration, date: String?, firms: [String], templates: TemplateLibrary) throws {
    let calendarSettings = configuration.calendar ?? CalendarConfiguration()
    let calendar: BusinessCalendar
    do { calendar = try calendarSettings.load() } catch { throw Failure(.nothingDone, "\(error)") }
    if let invalid = Clock.invalidFixedNow {
      throw Failure(
        .nothingDone, "EOD_NOW '\(invalid)' is not an ISO 8601 instant such as 2026-12-02T01:15:00Z")
    }
    let businessDate = try RunPlan.resolveDate(date, calendar: calendarSettings, now: Clock.now())
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
    self.calendar = calendar
    self.businessDate = businessDate
    if let reason = calendar.reasonNotBusinessDay(businessDate) {
      notBusinessDay = (businessDate, reason)
    }
    if let file = calendarSettings.holidaysFile, !calendar.covers(businessDate) {
      let years = calendar.coveredYears.map { "\($0.lowerBound)-\($0.upperBound)" } ?? "no year"
      calendarWarning =
        "the holidays file \(file) covers \(years), not \(businessDate.year): only weekends count as non-business days "
        + "for \(businessDate); add that year's holidays"
    }
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

  /// The business date a configured snapshot path stands for (its `YYYY-MM-DD`), or "".
  static func dateOfSnapshot(_ path: String) -> String {
    guard let range = path.range(of: #"\d{4}-\d{2}-\d{2}"#, options: [.regularExpression, .backwards])
    else { return "" }
    return String(path[range])
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
    return FirmSettings(
      format: configuration.format(for: firm), encoding: configuration.compression(for: firm),
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
}
