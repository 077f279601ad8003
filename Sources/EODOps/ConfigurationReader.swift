import Foundation
import Yams

/// Walks the YAML node tree, building a ``JobConfiguration`` and collecting every problem.
struct ConfigurationReader {
  let baseDirectory: String
  let vocabulary: ConfigurationVocabulary
  var problems: [ConfigurationProblem] = []
  /// The line of each key path read, for problems found later.
  var lines: [String: Int] = [:]

  static let inlineSecretKeys: Set<String> = ["secret", "passphrase", "password", "token"]

  init(baseDirectory: String, vocabulary: ConfigurationVocabulary) {
    self.baseDirectory = baseDirectory
    self.vocabulary = vocabulary
  }

  mutating func problem(
    _ path: String, _ node: Node?, _ message: String, severity: ConfigurationProblem.Severity = .error
  ) {
    problems.append(
      ConfigurationProblem(path: path, line: node?.mark?.line, message: message, severity: severity))
  }

  static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }

  // MARK: Typed reads

  /// The mapping's entries, reporting unknown keys (with a suggestion) and inline secrets.
  mutating func mapping(_ node: Node?, _ path: String, allowed: [String], required: [String] = []) -> [String:
    Node]?
  {
    guard let node else { return nil }
    guard case .mapping(let mapping) = node else {
      problem(path, node, "expected a mapping (key: value lines)")
      return nil
    }
    var result: [String: Node] = [:]
    for (keyNode, value) in mapping {
      guard let key = keyNode.scalar?.string else {
        problem(path, keyNode, "keys must be plain strings")
        continue
      }
      let keyPath = Self.join(path, key)
      if allowed.contains(key) {
        result[key] = value
        lines[keyPath] = keyNode.mark?.line
      } else if Self.inlineSecretKeys.contains(key) {
        problem(
          keyPath, keyNode,
          "inline secrets are not allowed; use \(key)_env: VARIABLE or \(key)_file: PATH (webhooks use secret_env / secret_file)"
        )
      } else {
        var message = "unknown key '\(key)'"
        if let suggestion = Self.closest(key, in: allowed) { message += " (did you mean '\(suggestion)'?)" }
        message += "; allowed here: " + allowed.joined(separator: ", ")
        problem(keyPath, keyNode, message)
      }
    }
    for key in required where result[key] == nil {
      problem(Self.join(path, key), node, "missing required key '\(key)'")
    }
    return result
  }

  mutating func string(_ node: Node?, _ path: String) -> String? {
    guard let node else { return nil }
    guard case .scalar(let scalar) = node else {
      problem(path, node, "expected a single value")
      return nil
    }
    if scalar.style == .plain, ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
      problem(path, node, "a value is required")
      return nil
    }
    return scalar.string
  }

  mutating func integer(_ node: Node?, _ path: String, range: ClosedRange<Int>) -> Int? {
    guard let text = string(node, path) else { return nil }
    guard let value = Int(text) else {
      problem(path, node, "expected a whole number, got '\(text)'")
      return nil
    }
    guard range.contains(value) else {
      problem(path, node, "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
      return nil
    }
    return value
  }

  mutating func bool(_ node: Node?, _ path: String) -> Bool? {
    guard let text = string(node, path) else { return nil }
    switch text {
    case "true": return true
    case "false": return false
    default:
      problem(path, node, "expected true or false, got '\(text)'")
      return nil
    }
  }

  /// Seconds as a decimal (`2`, `0.5`), at most millisecond precision, within `range`.
  mutating func seconds(_ node: Node?, _ path: String, range: ClosedRange<Int>) -> Duration? {
    guard let text = string(node, path) else { return nil }
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    guard (1...2).contains(parts.count), let whole = Int(parts[0]), whole >= 0,
      parts.count == 1 || (1...3).contains(parts[1].count) && parts[1].allSatisfy(\.isNumber)
    else {
      problem(path, node, "expected a number of seconds (e.g. 30 or 0.5), got '\(text)'")
      return nil
    }
    var millis = whole * 1000
    if parts.count == 2, let fraction = Int(parts[1].padding(toLength: 3, withPad: "0", startingAt: 0)) {
      millis += fraction
    }
    guard millis > 0, millis <= range.upperBound * 1000, millis >= range.lowerBound * 1000 else {
      problem(
        path, node,
        "must be more than 0 and between \(range.lowerBound) and \(range.upperBound) seconds, got \(text)")
      return nil
    }
    return .milliseconds(millis)
  }

  mutating func choice<T: RawRepresentable>(_ node: Node?, _ path: String, _ type: T.Type) -> T?
  where T.RawValue == String, T: CaseIterable {
    guard let text = string(node, path) else { return nil }
    guard let value = T(rawValue: text) else {
      problem(
        path, node, "expected one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'")
      return nil
    }
    return value
  }

  mutating func readCompression(_ node: Node?, _ path: String) -> CompressionSetting? {
    guard let text = string(node, path) else { return nil }
    if text == "none" { return CompressionSetting.none }
    guard let level = Int(text), (0...9).contains(level) else {
      problem(path, node, "expected a gzip level 0-9 or 'none', got '\(text)'")
      return nil
    }
    return .gzip(level: level)
  }

  /// An absolute path (relative ones resolved against the configuration's directory).
  mutating func path(_ node: Node?, _ path: String) -> String? {
    guard let text = string(node, path) else { return nil }
    if text.hasPrefix("~") {
      problem(path, node, "'~' is not expanded; write the full path")
      return nil
    }
    if text.hasPrefix("/") { return URL(fileURLWithPath: text).standardizedFileURL.path }
    return URL(fileURLWithPath: baseDirectory).appendingPathComponent(text).standardizedFileURL.path
  }

  /// Checks `{...}` placeholders: balanced and among `allowed`.
  mutating func checkPlaceholders(_ text: String, _ node: Node?, _ path: String, allowed: [String])
    -> [String]
  {
    var found: [String] = []
    var rest = Substring(text)
    while let open = rest.firstIndex(where: { $0 == "{" || $0 == "}" }) {
      guard rest[open] == "{", let close = rest[open...].firstIndex(of: "}") else {
        problem(path, node, "unbalanced '{' or '}' in '\(text)'")
        return found
      }
      let placeholder = String(rest[open...close])
      if !allowed.contains(placeholder) {
        problem(
          path, node,
          "unknown placeholder \(placeholder) in '\(text)'; allowed: \(allowed.joined(separator: " "))")
      }
      found.append(placeholder)
      rest = rest[rest.index(after: close)...]
    }
    return found
  }

  // MARK: The document

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
    // missing store (otherwise a missing store stops the run).
    var stateStore: String?
    var stateStoreCreate = false
    if case .mapping = top["state_store"] {
      let entries = mapping(
        top["state_store"], "state_store", allowed: ["path", "create"], required: ["path"])
      stateStore = entries?["path"].flatMap { path($0, "state_store.path") }
      stateStoreCreate = entries?["create"].flatMap { bool($0, "state_store.create") } ?? false
    } else {
      stateStore = path(top["state_store"], "state_store")
    }
    let outputDirectory = path(top["output_dir"], "output_dir")
    let templates = top["templates_dir"].flatMap { path($0, "templates_dir") }
    let format = top["format"].map { choice($0, "format", ExtractFileFormat.self) } ?? ExtractFileFormat.csv
    let compression =
      top["compression"].map { readCompression($0, "compression") } ?? CompressionSetting.gzip(level: 6)
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

  /// A permission mode in octal (`"0640"`, `0750`): 0-0777, owner bits not below `r` (files) —
  /// the job must be able to read back and replace what it writes.
  mutating func mode(_ node: Node?, _ path: String) -> Int? {
    guard let text = string(node, path) else { return nil }
    guard let value = JobConfiguration.parseMode(text) else {
      problem(path, node, "expected an octal mode such as 0640 (0 to 0777), got '\(text)'")
      return nil
    }
    let owner = path == "directory_mode" ? 0o700 : 0o600
    if value & owner != owner {
      problem(
        path, node,
        "the owner must keep \(String(owner, radix: 8)) (the job reads and replaces what it writes)")
      return nil
    }
    return value
  }

  mutating func readRetry(_ node: Node?) -> RetryConfiguration? {
    let map =
      node.map {
        mapping($0, "retry", allowed: ["delivery_attempts", "base_delay_seconds", "max_delay_seconds"])
      } ?? [:]
    guard let map else { return nil }
    let attempts = map["delivery_attempts"].map { integer($0, "retry.delivery_attempts", range: 1...20) } ?? 5
    let base =
      map["base_delay_seconds"].map { seconds($0, "retry.base_delay_seconds", range: 0...3600) }
      ?? .seconds(2)
    let maxDelay =
      map["max_delay_seconds"].map { seconds($0, "retry.max_delay_seconds", range: 0...3600) } ?? .seconds(60)
    guard let attempts, let base, let maxDelay else { return nil }
    if maxDelay < base {
      problem(
        "retry.max_delay_seconds", map["max_delay_seconds"] ?? node,
        "must not be less than base_delay_seconds")
    }
    return RetryConfiguration(deliveryAttempts: attempts, baseDelay: base, maxDelay: maxDelay)
  }

  mutating func readTimeouts(_ node: Node?) -> TimeoutConfiguration? {
    let map =
      node.map {
        mapping($0, "timeouts", allowed: ["connect_seconds", "operation_seconds", "overall_seconds"])
      } ?? [:]
    guard let map else { return nil }
    let connect =
      map["connect_seconds"].map { seconds($0, "timeouts.connect_seconds", range: 0...600) } ?? .seconds(30)
    let operation =
      map["operation_seconds"].map { seconds($0, "timeouts.operation_seconds", range: 0...86_400) }
      ?? .seconds(600)
    let overall =
      map["overall_seconds"].map { seconds($0, "timeouts.overall_seconds", range: 0...86_400) }
      ?? .seconds(3 * 3600)
    guard let connect, let operation, let overall else { return nil }
    if overall < operation {
      problem(
        "timeouts.overall_seconds", map["overall_seconds"] ?? node, "must not be less than operation_seconds")
    }
    return TimeoutConfiguration(connect: connect, operation: operation, overall: overall)
  }

  mutating func readWebhooks(_ node: Node?) -> WebhookConfiguration? {
    let allowed = [
      "max_attempts", "base_delay_seconds", "max_delay_seconds", "total_seconds", "request_timeout_seconds",
      "endpoints", "allow_private_addresses", "allowed_cidrs",
    ]
    let map = node.map { mapping($0, "webhooks", allowed: allowed) } ?? [:]
    guard let map else { return nil }
    let attempts = map["max_attempts"].map { integer($0, "webhooks.max_attempts", range: 1...20) } ?? 6
    let base =
      map["base_delay_seconds"].map { seconds($0, "webhooks.base_delay_seconds", range: 0...600) }
      ?? .seconds(1)
    let maxDelay =
      map["max_delay_seconds"].map { seconds($0, "webhooks.max_delay_seconds", range: 0...3600) }
      ?? .seconds(60)
    let total =
      map["total_seconds"].map { seconds($0, "webhooks.total_seconds", range: 0...7200) } ?? .seconds(300)
    let request =
      map["request_timeout_seconds"].map { seconds($0, "webhooks.request_timeout_seconds", range: 0...300) }
      ?? .seconds(10)
    var endpoints: [WebhookEndpointConfiguration] = []
    if let list = map["endpoints"] {
      if case .sequence(let sequence) = list {
        for (index, item) in sequence.enumerated() {
          if let endpoint = readEndpoint(item, "webhooks.endpoints[\(index)]") { endpoints.append(endpoint) }
        }
      } else {
        problem("webhooks.endpoints", list, "expected a list of endpoints (- url: ...)")
      }
    }
    // Which addresses endpoints may have (public ones only unless allowed: docs/operations.md).
    let allowPrivate =
      map["allow_private_addresses"].map { bool($0, "webhooks.allow_private_addresses") } ?? false
    var cidrs: [WebhookCIDR] = []
    if let list = map["allowed_cidrs"] {
      if case .sequence(let sequence) = list {
        for (index, item) in sequence.enumerated() {
          let path = "webhooks.allowed_cidrs[\(index)]"
          guard let text = string(item, path) else { continue }
          if let cidr = WebhookCIDR(text) {
            cidrs.append(cidr)
          } else {
            problem(path, item, "'\(text)' is not an IPv4 or IPv6 network (ADDRESS/BITS)")
          }
        }
      } else {
        problem("webhooks.allowed_cidrs", list, "expected a list of networks (- 10.1.0.0/16)")
      }
    }
    guard let attempts, let base, let maxDelay, let total, let request, let allowPrivate else { return nil }
    return WebhookConfiguration(
      policy: WebhookRetryPolicyConfiguration(
        maxAttempts: attempts, baseDelay: base, maxDelay: maxDelay, totalTimeout: total,
        requestTimeout: request),
      endpoints: endpoints,
      addresses: WebhookAddressPolicy(allowPrivateAddresses: allowPrivate, allowedCIDRs: cidrs))
  }

  mutating func readSecret(
    _ map: [String: Node], _ path: String, prefix: String, required: Bool, near node: Node
  )
    -> SecretSource??
  {
    let environment = map["\(prefix)_env"]
    let file = map["\(prefix)_file"]
    switch (environment, file) {
    case (.some, .some):
      problem(Self.join(path, "\(prefix)_env"), environment, "give \(prefix)_env or \(prefix)_file, not both")
      return nil
    case (.some(let node), nil):
      guard let name = string(node, Self.join(path, "\(prefix)_env")) else { return nil }
      guard name.range(of: #"^[A-Za-z_][A-Za-z0-9_]*$"#, options: .regularExpression) != nil else {
        problem(Self.join(path, "\(prefix)_env"), node, "'\(name)' is not an environment variable name")
        return nil
      }
      return .some(.environment(name))
    case (nil, .some(let node)):
      guard let file = self.path(node, Self.join(path, "\(prefix)_file")) else { return nil }
      return .some(.file(file))
    case (nil, nil):
      if required {
        problem(
          Self.join(path, "\(prefix)_env"), node, "missing \(prefix)_env: VARIABLE or \(prefix)_file: PATH")
        return nil
      }
      return .some(nil)
    }
  }

  mutating func readEndpoint(_ node: Node, _ path: String) -> WebhookEndpointConfiguration? {
    guard
      let map = mapping(
        node, path, allowed: ["url", "secret_env", "secret_file", "events"], required: ["url"])
    else { return nil }
    var url = string(map["url"], Self.join(path, "url"))
    if let text = url {
      let parsed = URLComponents(string: text)
      let scheme = parsed?.scheme?.lowercased()
      if parsed == nil || !(scheme == "http" || scheme == "https") || (parsed?.host ?? "").isEmpty {
        problem(
          Self.join(path, "url"), map["url"], "expected an http:// or https:// URL with a host, got '\(text)'"
        )
        url = nil
      } else if parsed?.user != nil || parsed?.password != nil {
        problem(
          Self.join(path, "url"), map["url"],
          "credentials in the URL are inline secrets; use secret_env/secret_file")
        url = nil
      } else if scheme == "http", !["127.0.0.1", "localhost", "::1"].contains(parsed?.host ?? "") {
        problem(
          Self.join(path, "url"), map["url"], "plain http to a remote host: payloads travel unencrypted",
          severity: .warning)
      }
    }
    let secret = readSecret(map, path, prefix: "secret", required: true, near: node)
    var events = WebhookEvent.Kind.allCases.map(\.rawValue)
    if let list = map["events"] {
      if case .sequence(let sequence) = list {
        events = []
        for (index, item) in sequence.enumerated() {
          if let kind = choice(item, Self.join(path, "events[\(index)]"), WebhookEvent.Kind.self) {
            events.append(kind.rawValue)
          }
        }
      } else {
        problem(Self.join(path, "events"), list, "expected a list, e.g. [extract.delivered, extract.failed]")
      }
    }
    guard let url, let secret, let source = secret else { return nil }
    return WebhookEndpointConfiguration(url: url, secret: source, events: events)
  }

  mutating func readDestination(_ node: Node, _ path: String) -> DestinationConfiguration? {
    guard let map = mapping(node, path, allowed: ["local_dir", "sftp"]) else { return nil }
    switch (map["local_dir"], map["sftp"]) {
    case (.some(let local), nil):
      guard let directory = self.path(local, Self.join(path, "local_dir")) else { return nil }
      _ = checkPlaceholders(directory, local, Self.join(path, "local_dir"), allowed: ["{firm}", "{date}"])
      return .local(directory: directory)
    case (nil, .some(let sftp)):
      return readSFTP(sftp, Self.join(path, "sftp")).map { .sftp($0) }
    case (.some, .some):
      problem(path, node, "give either local_dir or sftp, not both")
      return nil
    case (nil, nil):
      problem(path, node, "missing local_dir: PATH or sftp: {...}")
      return nil
    }
  }

  mutating func readSFTP(_ node: Node, _ path: String) -> SFTPDestinationConfiguration? {
    let allowed = [
      "host", "port", "user", "remote_dir", "identity_file", "passphrase_env", "passphrase_file",
      "known_hosts",
      "allow_create_dirs",
    ]
    guard
      let map = mapping(
        node, path, allowed: allowed,
        required: ["host", "user", "remote_dir", "identity_file", "known_hosts"])
    else { return nil }
    var host = string(map["host"], Self.join(path, "host"))
    if let text = host, text.isEmpty || text.contains(where: { $0 == " " || $0 == "/" || $0 == "@" }) {
      problem(Self.join(path, "host"), map["host"], "'\(text)' is not a host name or address")
      host = nil
    }
    let port = map["port"].map { integer($0, Self.join(path, "port"), range: 1...65535) } ?? 22
    let user = string(map["user"], Self.join(path, "user"))
    var remote = string(map["remote_dir"], Self.join(path, "remote_dir"))
    if let text = remote {
      if !text.hasPrefix("/") {
        problem(Self.join(path, "remote_dir"), map["remote_dir"], "must be an absolute path, got '\(text)'")
        remote = nil
      } else if text.split(separator: "/").contains("..") {
        problem(
          Self.join(path, "remote_dir"), map["remote_dir"],
          "must not contain a '..' component (it would climb out of the receiving directory), got '\(text)'")
        remote = nil
      } else {
        _ = checkPlaceholders(
          text, map["remote_dir"], Self.join(path, "remote_dir"), allowed: ["{firm}", "{date}"])
      }
    }
    let identity = self.path(map["identity_file"], Self.join(path, "identity_file"))
    let passphrase = readSecret(map, path, prefix: "passphrase", required: false, near: node)
    let knownHosts = self.path(map["known_hosts"], Self.join(path, "known_hosts"))
    let create = map["allow_create_dirs"].map { bool($0, Self.join(path, "allow_create_dirs")) } ?? false
    guard let host, let port, let user, let remote, let identity, let passphrase, let knownHosts, let create
    else {
      return nil
    }
    return SFTPDestinationConfiguration(
      host: host, port: port, user: user, remoteDirectory: remote, identityFile: identity,
      passphrase: passphrase,
      knownHosts: knownHosts, allowCreateDirectories: create)
  }

  mutating func readFirm(_ node: Node, _ path: String) -> FirmConfiguration? {
    guard
      let map = mapping(
        node, path, allowed: ["firm_id", "destination", "extracts", "format", "features", "compression"],
        required: ["firm_id", "destination"])
    else { return nil }
    var firmID = string(map["firm_id"], Self.join(path, "firm_id"))
    if let id = firmID, id.range(of: #"^[A-Za-z0-9_-]{1,64}$"#, options: .regularExpression) == nil {
      problem(
        Self.join(path, "firm_id"), map["firm_id"],
        "'\(id)' is not a firm id usable in file names (1-64 letters, digits, '-' or '_')")
      firmID = nil
    }
    let destination = map["destination"].flatMap { readDestination($0, Self.join(path, "destination")) }
    var extracts: [String: Int]? = Dictionary(
      uniqueKeysWithValues: JobConfiguration.standardExtracts.map { ($0, 1) })
    if let node = map["extracts"] {
      extracts = readExtracts(node, Self.join(path, "extracts"))
    }
    var valid = true
    var format: ExtractFileFormat?
    if let node = map["format"] {
      format = choice(node, Self.join(path, "format"), ExtractFileFormat.self)
      valid = valid && format != nil
    }
    var features: [String: Bool] = [:]
    if let node = map["features"] {
      if let flags = mapping(node, Self.join(path, "features"), allowed: vocabulary.featureFlags.sorted()) {
        for (name, value) in flags {
          if let enabled = bool(value, Self.join(path, "features.\(name)")) { features[name] = enabled }
        }
      }
    }
    var compression: CompressionSetting?
    if let node = map["compression"] {
      compression = readCompression(node, Self.join(path, "compression"))
      valid = valid && compression != nil
    }
    guard valid, let firmID, let destination, let extracts else { return nil }
    return FirmConfiguration(
      firmID: firmID, destination: destination, extracts: extracts, format: format, features: features,
      compression: compression)
  }

  mutating func readExtracts(_ node: Node, _ path: String) -> [String: Int]? {
    guard let map = mapping(node, path, allowed: vocabulary.extracts.sorted()) else { return nil }
    var result: [String: Int] = [:]
    var ok = true
    for (name, value) in map {
      let itemPath = Self.join(path, name)
      guard let text = string(value, itemPath) else {
        ok = false
        continue
      }
      let digits = text.hasPrefix("v") ? String(text.dropFirst()) : text
      guard let version = Int(digits), version >= 1, version <= 999 else {
        problem(itemPath, value, "expected a template version like v1, got '\(text)'")
        ok = false
        continue
      }
      result[name] = version
    }
    if map.isEmpty {
      problem(path, node, "no extracts selected")
      return nil
    }
    return ok ? result : nil
  }

  /// The allowed key nearest to `key` by edit distance, if close enough to be a typo.
  static func closest(_ key: String, in allowed: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
      var previous = Array(0...b.count)
      for (i, ca) in a.enumerated() {
        var current = [i + 1]
        for (j, cb) in b.enumerated() {
          current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (ca == cb ? 0 : 1)))
        }
        previous = current
      }
      return previous[b.count]
    }
    let scored = allowed.map { ($0, distance(Array(key), Array($0))) }.min { $0.1 < $1.1 }
    guard let (best, score) = scored, score <= max(2, key.count / 3) else { return nil }
    return best
  }
}
