import EODCompression
import EODRender
import Foundation
import Yams

/// The configuration document: its top-level keys, read into a ``JobConfiguration`` (each section
/// by ConfigurationSections.swift, each value by the typed reads of ConfigurationReader.swift).
extension ConfigurationReader {
  mutating func read(_ root: Node?) -> JobConfiguration? {
    guard let root else {
      problem("", nil, "the file is empty")
      return nil
    }
    let topKeys = [
      "version", "snapshot", "state_store", "output_dir", "templates_dir", "format", "compression",
      "concurrency",
      "retry", "timeouts", "webhooks", "metrics_file", "all_firms", "default_destination", "firms",
      "calendar",
      "file_mode", "directory_mode",
    ]
    guard let top = mapping(root, "", allowed: topKeys, required: ["snapshot", "state_store", "output_dir"])
    else {
      return nil
    }
    if let version = top["version"], let value = integer(version, "version", range: 1...1000), value != 1 {
      problem("version", version, "only version 1 is understood, got \(value)")
    }
    var snapshot = path(top["snapshot"], "snapshot")
    if let pattern = snapshot {
      let found = checkPlaceholders(
        pattern, top["snapshot"], "snapshot", allowed: JobConfiguration.datePlaceholders)
      let complete =
        found.contains("{date}") || found.contains("{yyyymmdd}")
        || (found.contains("{yyyy}") && found.contains("{mm}") && found.contains("{dd}"))
      if !complete {
        problem(
          "snapshot", top["snapshot"],
          "the pattern must name the date ({date}, {yyyymmdd}, or {yyyy} {mm} {dd}) so each day has its own file"
        )
        snapshot = nil
      }
    }
    // `state_store: PATH`, or `state_store: {path: PATH, create: true}` to let the run create a
    // missing store (otherwise a missing store stops the run), or `state_store: {url:
    // postgres://USER@HOST:PORT/DB}` for PostgreSQL (password from PGPASSWORD or a password file).
    var stateStore: String?
    var stateStoreCreate = false
    if case .mapping = top["state_store"] {
      let entries = mapping(
        top["state_store"], "state_store", allowed: ["path", "create", "url"], required: [])
      if entries?["url"] != nil, entries?["path"] != nil || entries?["create"] != nil {
        problem(
          "state_store", top["state_store"], "give either url (PostgreSQL) or path (and create), not both")
      } else if let url = entries?["url"] {
        stateStore = string(url, "state_store.url")
        if let given = stateStore, !JobConfiguration.isPostgresURL(given) {
          problem("state_store.url", url, "'\(given)' is not a postgres://USER@HOST:PORT/DB URL")
          stateStore = nil
        } else if let given = stateStore, JobConfiguration.postgresURLHasPassword(given) {
          // The URL is not repeated: it holds the password.
          problem(
            "state_store.url", url,
            "a password in the URL is refused: give it in PGPASSWORD or a password file (PGPASSFILE, "
              + "default ~/.pgpass)")
          stateStore = nil
        }
      } else if entries?["path"] == nil {
        problem("state_store", top["state_store"], "give path (a SQLite file) or url (PostgreSQL)")
      }
      stateStore = stateStore ?? entries?["path"].flatMap { path($0, "state_store.path") }
      stateStoreCreate = entries?["create"].flatMap { bool($0, "state_store.create") } ?? false
    } else {
      stateStore = path(top["state_store"], "state_store")
    }
    let outputDirectory = path(top["output_dir"], "output_dir")
    let templates = top["templates_dir"].flatMap { path($0, "templates_dir") }
    let format = top["format"].map { choice($0, "format", ExtractFormat.self) } ?? ExtractFormat.csv
    let compression =
      top["compression"].map { readCompression($0, "compression") } ?? OutputEncoding.defaultGzip
    let concurrency = top["concurrency"].map { integer($0, "concurrency", range: 1...64) } ?? 2
    let retry = readRetry(top["retry"])
    let timeouts = readTimeouts(top["timeouts"])
    let webhooks = readWebhooks(top["webhooks"])
    let metrics = top["metrics_file"].flatMap { path($0, "metrics_file") }
    let calendar = top["calendar"].map { readCalendar($0) }
    if let metrics, !metrics.hasSuffix(".prom") {
      problem(
        "metrics_file", top["metrics_file"],
        "node_exporter's textfile collector reads only *.prom files", severity: .warning)
    }
    let allFirms = top["all_firms"].map { bool($0, "all_firms") } ?? false
    let fileMode = top["file_mode"].flatMap { mode($0, "file_mode") }
    let directoryMode = top["directory_mode"].flatMap { mode($0, "directory_mode") }
    var defaultDestination: DestinationConfiguration?
    if let node = top["default_destination"] {
      defaultDestination = readDestination(node, "default_destination")
      if let destination = defaultDestination {
        switch destination {
        case .sftp:
          problem(
            "default_destination", node,
            "the default destination must be a local directory: a firm's files never go to a remote destination it was not configured for"
          )
          defaultDestination = nil
        case .local(let directory):
          if !directory.contains("{firm}") {
            problem(
              "default_destination.local_dir", node,
              "must contain {firm} so unlisted firms never share a directory")
            defaultDestination = nil
          }
        }
      }
    }
    if allFirms == true, top["default_destination"] == nil {
      problem(
        "all_firms", top["all_firms"],
        "all_firms: true needs a default_destination with local_dir containing {firm}")
    }
    if allFirms == false, top["default_destination"] != nil {
      problem(
        "default_destination", top["default_destination"],
        "ignored: only listed firms are extracted unless all_firms: true", severity: .warning)
    }
    var firms: [FirmConfiguration] = []
    if let node = top["firms"] {
      if case .sequence(let sequence) = node {
        var seen: [String: Int] = [:]
        for (index, item) in sequence.enumerated() {
          let itemPath = "firms[\(index)]"
          lines[itemPath] = item.mark?.line
          guard let firm = readFirm(item, itemPath) else { continue }
          if let first = seen[firm.firmID] {
            problem("\(itemPath).firm_id", item, "duplicate firm_id '\(firm.firmID)' (also firms[\(first)])")
            continue
          }
          seen[firm.firmID] = index
          firms.append(firm)
        }
        if sequence.isEmpty, allFirms != true {
          problem("firms", node, "no firms listed and all_firms is not true: the run would do nothing")
        }
      } else {
        problem("firms", node, "expected a list of firms (- firm_id: ...)")
      }
    } else if allFirms != true {
      problem(
        "firms", root,
        "missing required key 'firms' (or set all_firms: true with a local default_destination)")
    }
    guard let snapshot, let stateStore, let outputDirectory, let format, let compression, let concurrency,
      let retry, let timeouts, let webhooks, let allFirms, calendar != .some(nil)
    else { return nil }
    var configuration = JobConfiguration(
      sourcePath: nil, snapshotPattern: snapshot, stateStore: stateStore, outputDirectory: outputDirectory,
      templatesDirectory: templates, format: format, compression: compression, concurrency: concurrency,
      retry: retry, timeouts: timeouts, webhooks: webhooks, metricsFile: metrics, allFirms: allFirms,
      defaultDestination: defaultDestination, firms: firms)
    configuration.calendar = calendar ?? nil
    configuration.fileMode = fileMode
    configuration.directoryMode = directoryMode
    configuration.stateStoreCreate = stateStoreCreate
    return configuration
  }

  /// `calendar: {holidays: PATH, time_zone: Area/City}`: both optional (weekends only, UTC).
  mutating func readCalendar(_ node: Node) -> CalendarConfiguration? {
    guard let map = mapping(node, "calendar", allowed: ["holidays", "time_zone"]) else { return nil }
    let holidays = map["holidays"].flatMap { path($0, "calendar.holidays") }
    if map["holidays"] != nil, holidays == nil { return nil }
    var zone = "UTC"
    if let node = map["time_zone"] {
      guard let name = string(node, "calendar.time_zone") else { return nil }
      guard TimeZone(identifier: name) != nil else {
        problem(
          "calendar.time_zone", node,
          "unknown time zone '\(name)'; use an IANA name such as Europe/London or UTC")
        return nil
      }
      zone = name
    }
    return CalendarConfiguration(holidaysFile: holidays, timeZone: zone)
  }
}
