import EODCompression
import EODCore
import EODDelivery
import EODOps
import EODRender
import EODSFTP
import Foundation
import Logging

/// What one night does, from a configuration file or from explicit paths and settings: the
/// snapshot, the state store, the output directory, the firms and their settings and
/// destinations, and (with a configuration) the business date and whether it is a business day.
/// Made by ``PrepareNight`` from a ``NightRequest``; `plan` and `finalize` use its date rules.
public struct RunPlan {
  public var snapshot: String
  public var statePath: String
  public var outputDirectory: String
  public var firms: [String]
  public var templates: TemplateLibrary
  public var defaultSettings: FirmSettings
  public var firmSettings: [String: FirmSettings] = [:]
  /// Per firm; filled in from the configuration.
  public var configuredDestinations: [String: any Destination] = [:]
  /// `--destination`: every processed firm, under PATH/<firm>/<date>/.
  public var oneOffDestination: (any Destination)?
  /// Deliver every processed firm (a firm without a destination is then an error for it).
  public var deliverAll = false
  public var configuration: JobConfiguration?

  public init(
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
  public func destinations(for report: RunReport) -> [String: any Destination] {
    if let oneOffDestination {
      return Dictionary(uniqueKeysWithValues: report.firms.map { ($0.firmID, oneOffDestination) })
    }
    var destinations = configuredDestinations
    // all_firms: a firm found in the snapshot but not listed goes to default_destination.
    if let configuration, configuration.allFirms {
      let date = report.businessDate.description
      for firm in report.firms where destinations[firm.firmID] == nil {
        guard let unlisted = configuration.firm(firm.firmID) else { continue }
        destinations[firm.firmID] = try? RunPlan.destination(
          unlisted.destination, firmID: firm.firmID, businessDate: date, configuration: configuration)
      }
    }
    return destinations
  }

  /// The business-day calendar (from `calendar:` in the configuration; weekends only otherwise).
  public var calendar: BusinessCalendar = .weekendsOnly
  /// With `--config`: the business date `--date` resolved to.
  public var businessDate: CivilDate?
  /// With `--config`: the resolved date, when it is not a business day: why (nothing is run).
  public var notBusinessDay: (date: CivilDate, reason: String)?
  /// A warning to log: the date is outside the years the holidays file covers.
  public var calendarWarning: String?

  /// What `--date` accepts with `--config`.
  public static let dateForms = "YYYY-MM-DD, 'previous-business-day', 'yesterday' or 'today'"

  /// Whether `text` is one of the forms `--date` accepts (checked before anything runs).
  public static func isDateForm(_ text: String) -> Bool {
    CivilDate(text) != nil || ["previous-business-day", "yesterday", "today"].contains(text)
  }

  /// The business date `--date` names, taking today in the calendar's time zone at `now`.
  /// `previous-business-day` (the default) and `yesterday` are the day before today: on the night
  /// after a weekend day or a holiday that is not a business day, and the run does nothing.
  public static func resolveDate(_ text: String?, calendar: CalendarConfiguration, now: Date) throws
    -> CivilDate
  {
    let form = text ?? "previous-business-day"
    if let date = CivilDate(form) { return date }
    guard let today = calendar.civilDate(at: now) else {
      throw RunRefusal(.internalError, "cannot tell today's date in time zone \(calendar.timeZone)")
    }
    switch form {
    case "previous-business-day", "yesterday": return today.adding(days: -1)
    case "today": return today
    default: throw RunRefusal(.usage, "--date '\(form)' is not \(dateForms)")
    }
  }

  /// The business date `--date` names for a configuration (its calendar's time zone) at `now`.
  public static func resolveDate(_ text: String?, configuration: JobConfiguration, now: Date) throws
    -> CivilDate
  {
    try resolveDate(text, calendar: configuration.calendar ?? CalendarConfiguration(), now: now)
  }

  /// From a configuration file: only the firms it lists (or all, with `all_firms`), for the
  /// business date `date` names at `now`.
  public init(
    configuration: JobConfiguration, date: String?, firms: [String], templates: TemplateLibrary, now: Date
  ) throws {
    let calendarSettings = configuration.calendar ?? CalendarConfiguration()
    let calendar: BusinessCalendar
    do { calendar = try calendarSettings.load() } catch {
      throw RunRefusal(.nothingDone, "\(error)", cause: error)
    }
    let businessDate = try RunPlan.resolveDate(date, calendar: calendarSettings, now: now)
    for firm in firms where configuration.firm(firm) == nil {
      throw RunRefusal(.usage, "--firm \(firm) is not in the configuration \(configuration.sourcePath ?? "")")
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
      configuredDestinations[id] = try RunPlan.destination(
        firm.destination, firmID: id, businessDate: businessDate.description, configuration: configuration)
    }
  }

  /// The business date a configured snapshot path stands for (its `YYYY-MM-DD`), or "".
  public static func dateOfSnapshot(_ path: String) -> String {
    guard let range = path.range(of: #"\d{4}-\d{2}-\d{2}"#, options: [.regularExpression, .backwards])
    else { return "" }
    return String(path[range])
  }

  public static func settings(_ firm: FirmConfiguration, configuration: JobConfiguration) throws
    -> FirmSettings
  {
    var versions: [ExtractKind: Int] = [:]
    var extracts: Set<ExtractKind> = []
    for (name, version) in firm.extracts {
      guard let kind = ExtractKind(rawValue: name) else {
        throw RunRefusal(.nothingDone, "unknown extract \(name)")
      }
      versions[kind] = version
      extracts.insert(kind)
    }
    return FirmSettings(
      format: configuration.format(for: firm), encoding: configuration.compression(for: firm),
      templateVersions: versions,
      extracts: extracts.isEmpty ? nil : extracts, formulaSafe: firm.isEnabled("formula_safe_csv"))
  }

  /// A firm's configured destination for a date. A configured directory with {date} is the exact
  /// place; otherwise files go under <dir>/<firm_id>/<business_date>/ as they do locally.
  public static func destination(
    _ configured: DestinationConfiguration, firmID: String, businessDate: String,
    configuration: JobConfiguration
  ) throws -> any Destination {
    let mirror: Bool
    switch configured {
    case .local(let directory): mirror = !directory.contains("{date}")
    case .sftp(let sftp): mirror = !sftp.remoteDirectory.contains("{date}")
    }
    switch configured.resolved(firmID: firmID, businessDate: businessDate) {
    case .local(let directory):
      return LocalDirectoryDestination(base: directory, mirrorLocalLayout: mirror)
    case .sftp(let sftp):
      var passphrase: String?
      if let source = sftp.passphrase {
        do { passphrase = String(decoding: try source.resolve(), as: UTF8.self) } catch {
          throw RunRefusal(.nothingDone, "\(error)", cause: error)
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

extension RunPlan {
  /// The templates of `directory`, or of the standard place (`standard`, asked only without a
  /// directory; it throws when there are none); templates that cannot be read stop the night
  /// (exit 2).
  public static func templateLibrary(_ directory: String?, standard: () throws -> String) throws
    -> TemplateLibrary
  {
    let directory = try directory ?? standard()
    do { return try TemplateLibrary(directory: directory) } catch {
      throw RunRefusal(.nothingDone, "\(error)", cause: error)
    }
  }

  /// The job's configuration file, checked: a file with errors stops the night (exit 2), with
  /// every error listed.
  public static func loadConfiguration(_ path: String) throws(RunRefusal) -> JobConfiguration {
    let check = JobConfiguration.check(path: path)
    guard let configuration = check.configuration, check.isValid else {
      let problems = check.problems.filter { $0.severity == .error }.map(\.description).joined(
        separator: "\n  ")
      throw RunRefusal(.nothingDone, "configuration \(path) has problems:\n  \(problems)")
    }
    return configuration
  }
}
