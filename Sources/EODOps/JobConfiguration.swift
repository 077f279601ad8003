import EODCompression
import EODRender
import Foundation
import Yams

// The configuration names the job's own types for what the job's modules define: the format of
// extract files is EODRender's ``ExtractFormat`` and their compression EODCompression's
// ``OutputEncoding`` (one type each; EODOps depends on those two small modules, which depend on
// nothing of the job's operations).

/// One problem found in a configuration file, with where it is.
public struct ConfigurationProblem: Sendable, Equatable, CustomStringConvertible {
  public enum Severity: String, Sendable, Equatable {
    /// The configuration cannot be used.
    case error
    /// Suspicious but usable.
    case warning
  }

  /// Where, e.g. `firms[2].destination.sftp.port` (empty for the whole file).
  public var path: String
  /// The 1-based line in the file, when known.
  public var line: Int?
  public var message: String
  public var severity: Severity

  public init(path: String, line: Int? = nil, message: String, severity: Severity = .error) {
    self.path = path
    self.line = line
    self.message = message
    self.severity = severity
  }

  public var description: String {
    var text = severity == .warning ? "warning: " : "error: "
    text += path.isEmpty ? "(file)" : path
    if let line { text += " (line \(line))" }
    return text + ": " + message
  }
}

/// Why a configuration file could not be loaded.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
    /// The file could not be read.
    public static let unreadable = Code("unreadable")
    /// The file is not valid YAML.
    public static let syntax = Code("syntax")
    /// The file is YAML but not a valid configuration; see ``ConfigurationError/problems``.
    public static let invalid = Code("invalid")
    /// A secret could not be read (environment variable unset, file unreadable).
    public static let secretUnavailable = Code("secret-unavailable")
  }

  public var code: Code
  /// The configuration file, or `<input>`.
  public var file: String
  /// Every problem found (errors and warnings).
  public var problems: [ConfigurationProblem]
  public var detail: String

  public init(code: Code, file: String, problems: [ConfigurationProblem] = [], detail: String) {
    self.code = code
    self.file = file
    self.problems = problems
    self.detail = detail
  }

  public var description: String {
    var text = "configuration \(file) (\(code)): \(detail)"
    for problem in problems { text += "\n  \(problem)" }
    return text
  }
}

/// Where a secret comes from. Secrets are never written inline in the configuration file.
public enum SecretSource: Sendable, Equatable, Codable, CustomStringConvertible {
  /// An environment variable's value (e.g. from systemd's `EnvironmentFile=`).
  case environment(String)
  /// A file's contents, one trailing newline removed. The file must not be group/other-readable.
  case file(String)

  public var description: String {
    switch self {
    case .environment(let name): "env \(name)"
    case .file(let path): "file \(path)"
    }
  }

  /// Reads the secret's bytes.
  public func resolve(environment: [String: String] = ProcessInfo.processInfo.environment)
    throws(ConfigurationError)
    -> [UInt8]
  {
    switch self {
    case .environment(let name):
      guard let value = environment[name], !value.isEmpty else {
        throw ConfigurationError(
          code: .secretUnavailable, file: "env", detail: "environment variable \(name) is unset or empty")
      }
      return Array(value.utf8)
    case .file(let path):
      guard var data = FileManager.default.contents(atPath: path) else {
        throw ConfigurationError(code: .secretUnavailable, file: path, detail: "cannot read the secret file")
      }
      if data.last == UInt8(ascii: "\n") { data.removeLast() }
      if data.last == UInt8(ascii: "\r") { data.removeLast() }
      guard !data.isEmpty else {
        throw ConfigurationError(code: .secretUnavailable, file: path, detail: "the secret file is empty")
      }
      return Array(data)
    }
  }
}

/// SFTP delivery settings for a firm.
public struct SFTPDestinationConfiguration: Sendable, Equatable, Codable {
  public var host: String
  public var port: Int
  public var user: String
  /// Absolute remote directory; may contain `{firm}` and `{date}`.
  public var remoteDirectory: String
  /// The private key (ed25519 or ECDSA; must be mode 0600 or stricter).
  public var identityFile: String
  /// The key's passphrase, if it has one.
  public var passphrase: SecretSource?
  /// The OpenSSH `known_hosts` file that must list the host's key.
  public var knownHosts: String
  /// Create missing remote directories (default false: a missing directory is an error).
  public var allowCreateDirectories: Bool

  /// `sftp://user@host:port/remote_dir`, without secrets.
  public var displayName: String { "sftp://\(user)@\(host):\(port)\(remoteDirectory)" }
}

/// Where a firm's files go.
public enum DestinationConfiguration: Sendable, Equatable, Codable, CustomStringConvertible {
  /// A local directory; may contain `{firm}` and `{date}`.
  case local(directory: String)
  case sftp(SFTPDestinationConfiguration)

  public var description: String {
    switch self {
    case .local(let directory): "local \(directory)"
    case .sftp(let sftp): sftp.displayName
    }
  }

  /// The destination with `{firm}` and `{date}` filled in.
  public func resolved(firmID: String, businessDate: String) -> DestinationConfiguration {
    func fill(_ text: String) -> String {
      text.replacingOccurrences(of: "{firm}", with: firmID).replacingOccurrences(
        of: "{date}", with: businessDate)
    }
    switch self {
    case .local(let directory): return .local(directory: fill(directory))
    case .sftp(var sftp):
      sftp.remoteDirectory = fill(sftp.remoteDirectory)
      return .sftp(sftp)
    }
  }
}

/// One firm's entry.
public struct FirmConfiguration: Sendable, Equatable, Codable {
  public var firmID: String
  public var destination: DestinationConfiguration
  /// Extract name → template version (e.g. `positions` → 2). Only these extracts are made.
  public var extracts: [String: Int]
  /// Overrides the job's default format.
  public var format: ExtractFormat?
  /// Firm-level feature flags (e.g. `formula_safe_csv`).
  public var features: [String: Bool]
  /// Overrides the job's default compression.
  public var compression: OutputEncoding?

  /// Whether a feature flag is on (off when not set).
  public func isEnabled(_ feature: String) -> Bool { features[feature] ?? false }

  /// The extracts in the standard order.
  public var orderedExtracts: [(name: String, version: Int)] {
    JobConfiguration.standardExtracts.compactMap { name in extracts[name].map { (name, $0) } }
  }
}

/// The business-day calendar of an installation (`calendar:`).
public struct CalendarConfiguration: Sendable, Equatable, Codable {
  /// The holidays file (one `YYYY-MM-DD` a line, or iCalendar); nil: weekends only.
  public var holidaysFile: String?
  /// The IANA time zone in which "today" is taken for `--date previous-business-day`.
  public var timeZone: String

  public init(holidaysFile: String? = nil, timeZone: String = "UTC") {
    self.holidaysFile = holidaysFile
    self.timeZone = timeZone
  }
}

/// Delivery retry bounds.
public struct RetryConfiguration: Sendable, Equatable, Codable {
  /// Attempts per file, including the first.
  public var deliveryAttempts: Int
  public var baseDelay: Duration
  public var maxDelay: Duration
}

/// Time bounds.
public struct TimeoutConfiguration: Sendable, Equatable, Codable {
  /// Connecting (TCP + SSH handshake + authentication).
  public var connect: Duration
  /// One file operation (upload of one file, rename, stat).
  public var operation: Duration
  /// The whole run; firms not finished by then fail.
  public var overall: Duration
}

/// A configured webhook endpoint.
public struct WebhookEndpointConfiguration: Sendable, Equatable, Codable {
  public var url: String
  public var secret: SecretSource
  public var events: [String]

  /// The runtime endpoint, reading the secret now.
  public func endpoint(environment: [String: String] = ProcessInfo.processInfo.environment)
    throws(ConfigurationError)
    -> WebhookEndpoint
  {
    guard let parsed = URL(string: url) else {
      throw ConfigurationError(code: .invalid, file: url, detail: "not a URL")
    }
    let kinds = Set(events.compactMap(WebhookEvent.Kind.init(rawValue:)))
    return WebhookEndpoint(url: parsed, secret: try secret.resolve(environment: environment), events: kinds)
  }
}

/// Webhook settings: retry bounds shared by all endpoints, and the endpoints.
public struct WebhookConfiguration: Sendable, Equatable, Codable {
  public var policy: WebhookRetryPolicyConfiguration
  public var endpoints: [WebhookEndpointConfiguration]
  /// `allow_private_addresses` and `allowed_cidrs`: which addresses endpoints may have.
  public var addresses = WebhookAddressPolicy()
}

/// ``WebhookRetryPolicy`` as configured.
public struct WebhookRetryPolicyConfiguration: Sendable, Equatable, Codable {
  public var maxAttempts: Int
  public var baseDelay: Duration
  public var maxDelay: Duration
  public var totalTimeout: Duration
  public var requestTimeout: Duration

  public var policy: WebhookRetryPolicy {
    WebhookRetryPolicy(
      maxAttempts: maxAttempts, baseDelay: baseDelay, maxDelay: maxDelay, totalTimeout: totalTimeout,
      requestTimeout: requestTimeout)
  }
}

/// The `eod-extract` job configuration (YAML). See `docs/operations.md` for every key.
///
/// Load with ``load(contentsOf:vocabulary:)`` (structure, types, ranges, unknown keys, inline
/// secrets, duplicate firms), then ``validate(environment:templatesDirectory:)`` for what can
/// be checked offline against the machine (files, permissions, environment variables), and
/// ``describePlan(businessDate:)`` for what a nightly run would do. Relative paths are resolved
/// against the configuration file's directory.
public struct JobConfiguration: Sendable, Equatable, Codable {
  /// The file this was loaded from, if any.
  public var sourcePath: String?
  /// Snapshot path pattern with `{date}` (YYYY-MM-DD), or `{yyyy}`, `{mm}`, `{dd}`, `{yyyymmdd}`.
  public var snapshotPattern: String
  /// A SQLite file path, or a `postgres://USER@HOST:PORT/DB` URL (``isPostgresURL(_:)``).
  public var stateStore: String
  /// `state_store.create: true`: a missing state store is created (with a log line); otherwise a
  /// missing store stops the run, so a mistyped path never starts an empty history.
  public var stateStoreCreate = false
  public var outputDirectory: String
  public var templatesDirectory: String?
  public var format: ExtractFormat
  public var compression: OutputEncoding
  /// Firms processed in parallel at most.
  public var concurrency: Int
  public var retry: RetryConfiguration
  public var timeouts: TimeoutConfiguration
  public var webhooks: WebhookConfiguration
  public var metricsFile: String?
  /// `file_mode`: mode of the files written under the output directory (nil: 0640).
  public var fileMode: Int? = nil
  /// `directory_mode`: mode of the directories made under it (nil: 0750).
  public var directoryMode: Int? = nil
  /// Also extract firms found in the snapshot but not listed, to ``defaultDestination``.
  public var allFirms: Bool
  /// For unlisted firms when ``allFirms``: always a local directory containing `{firm}`.
  public var defaultDestination: DestinationConfiguration?
  public var firms: [FirmConfiguration]
  /// `calendar:`: the business-day calendar (holidays file, time zone); nil means weekends only,
  /// dates in UTC.
  public var calendar: CalendarConfiguration?

  /// The standard extracts, in order.
  public static let standardExtracts = ["positions", "cash", "transactions", "valuations", "data_quality"]
  /// Placeholders allowed in the snapshot pattern.
  public static let datePlaceholders = ["{date}", "{yyyy}", "{mm}", "{dd}", "{yyyymmdd}"]

  /// The snapshot file for a business date (`YYYY-MM-DD`).
  public func snapshotPath(for businessDate: String) -> String {
    let parts = businessDate.split(separator: "-").map(String.init)
    var path = snapshotPattern.replacingOccurrences(of: "{date}", with: businessDate)
    if parts.count == 3 {
      path = path.replacingOccurrences(of: "{yyyy}", with: parts[0])
        .replacingOccurrences(of: "{mm}", with: parts[1])
        .replacingOccurrences(of: "{dd}", with: parts[2])
        .replacingOccurrences(of: "{yyyymmdd}", with: parts.joined())
    }
    return path
  }

  /// The lock file for the state store.
  public var lockPath: String { RunLock.lockPath(forStateStore: stateStore) }

  /// Whether a state store setting names PostgreSQL rather than a SQLite file.
  public static func isPostgresURL(_ text: String) -> Bool {
    text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
  }

  /// Whether a PostgreSQL URL carries a password (`USER:PASSWORD@HOST`): refused in the
  /// configuration as on the command line (docs/operations.md, "The state store in PostgreSQL").
  public static func postgresURLHasPassword(_ text: String) -> Bool {
    guard let scheme = text.range(of: "://") else { return false }
    let authority = text[scheme.upperBound...].prefix { $0 != "/" }
    guard let at = authority.lastIndex(of: "@") else { return false }
    return authority[..<at].contains(":")
  }

  /// The settings for a firm: its entry if listed; if not listed and ``allFirms``, the defaults
  /// with ``defaultDestination`` (local, `{firm}` filled in); otherwise nil (not extracted).
  public func firm(_ firmID: String) -> FirmConfiguration? {
    if let listed = firms.first(where: { $0.firmID == firmID }) { return listed }
    guard allFirms, let defaultDestination, case .local = defaultDestination else { return nil }
    return FirmConfiguration(
      firmID: firmID, destination: defaultDestination.resolved(firmID: firmID, businessDate: "{date}"),
      extracts: Dictionary(uniqueKeysWithValues: Self.standardExtracts.map { ($0, 1) }), format: nil,
      features: [:],
      compression: nil)
  }

  /// The effective format for a firm.
  public func format(for firm: FirmConfiguration) -> ExtractFormat { firm.format ?? format }
  /// The effective compression for a firm.
  public func compression(for firm: FirmConfiguration) -> OutputEncoding {
    firm.compression ?? compression
  }

  /// Reads and parses a configuration file. Throws with every structural problem found.
  public static func load(contentsOf path: String, vocabulary: ConfigurationVocabulary = .standard)
    throws(ConfigurationError) -> JobConfiguration
  {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ConfigurationError(code: .unreadable, file: path, detail: "cannot read the file")
    }
    guard let text = String(data: data, encoding: .utf8) else {
      throw ConfigurationError(code: .unreadable, file: path, detail: "the file is not UTF-8")
    }
    let absolute = URL(fileURLWithPath: path).standardizedFileURL
    return try parse(
      yaml: text, source: absolute.path, baseDirectory: absolute.deletingLastPathComponent().path,
      vocabulary: vocabulary)
  }

  /// Parses configuration text. Relative paths are resolved against `baseDirectory`.
  /// Throws ``ConfigurationError`` with every structural problem found (warnings are kept in
  /// ``warnings`` of the result when there are no errors).
  public static func parse(
    yaml: String, source: String = "<input>",
    baseDirectory: String = FileManager.default.currentDirectoryPath,
    vocabulary: ConfigurationVocabulary = .standard
  ) throws(ConfigurationError) -> JobConfiguration {
    let root: Node?
    do {
      root = try Yams.compose(yaml: yaml)
    } catch {
      throw ConfigurationError(code: .syntax, file: source, detail: "not valid YAML: \(error)")
    }
    var reader = ConfigurationReader(baseDirectory: baseDirectory, vocabulary: vocabulary)
    let configuration = reader.read(root)
    if let configuration, !reader.problems.contains(where: { $0.severity == .error }) {
      var result = configuration
      result.sourcePath = source == "<input>" ? nil : source
      result.parseWarnings = reader.problems
      result.sourceLines = reader.lines
      return result
    }
    let errors = reader.problems.filter { $0.severity == .error }.count
    throw ConfigurationError(
      code: .invalid, file: source, problems: reader.problems, detail: "\(errors) problem(s) found")
  }

  /// Warnings found while parsing (errors throw instead).
  public var parseWarnings: [ConfigurationProblem] = []
  /// The line of each key path in the source file.
  var sourceLines: [String: Int] = [:]

  enum CodingKeys: String, CodingKey {
    case sourcePath, snapshotPattern, stateStore, outputDirectory, templatesDirectory, format, compression
    case concurrency, retry, timeouts, webhooks, metricsFile, allFirms, defaultDestination, firms, calendar
    case fileMode, directoryMode
  }

  /// An octal permission mode, `0640` or `640`, 0...0o777; nil otherwise.
  public static func parseMode(_ text: String) -> Int? {
    guard !text.isEmpty, text.count <= 4, text.allSatisfy({ ("0"..."7").contains($0) }),
      let value = Int(text, radix: 8), (0...0o777).contains(value)
    else { return nil }
    return value
  }
}

/// What extracts, template versions and feature flags exist, for checking a configuration.
public struct ConfigurationVocabulary: Sendable {
  /// Known extract names.
  public var extracts: Set<String>
  /// Known feature flag names.
  public var featureFlags: Set<String>

  public init(extracts: Set<String>, featureFlags: Set<String>) {
    self.extracts = extracts
    self.featureFlags = featureFlags
  }

  /// The standard extracts, and the flag `formula_safe_csv`.
  public static let standard = ConfigurationVocabulary(
    extracts: Set(JobConfiguration.standardExtracts), featureFlags: ["formula_safe_csv"])
}

extension ConfigurationError: OperatorFacingError {
  /// A configuration that cannot be used: nothing is done.
  public var exitCode: EODExitCode { .nothingDone }
}
