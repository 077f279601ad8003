import EODCompression
import Foundation
import Testing

@testable import EODOps

/// A machine layout for configuration tests: directories, an ed25519 key, known_hosts, secrets.
struct ConfigFixture {
  let dir: TemporaryDirectory
  let keyPath: String
  let knownHostsPath: String
  let environment: [String: String] = ["EOD_WEBHOOK_SECRET": "whsec", "F002_KEY_PASSPHRASE": "pp"]

  init() throws {
    dir = try TemporaryDirectory()
    for sub in ["snapshots", "state", "out", "templates", "metrics", "extracts/F001"] {
      try FileManager.default.createDirectory(atPath: dir.file(sub), withIntermediateDirectories: true)
    }
    for name in JobConfiguration.standardExtracts {
      _ = try dir.write("templates/\(name).v1.tmpl", "template\n", mode: 0o644)
    }
    _ = try dir.write("templates/positions.v2.tmpl", "template\n", mode: 0o644)
    keyPath = dir.file("keys/f002_ed25519")
    try FileManager.default.createDirectory(atPath: dir.file("keys"), withIntermediateDirectories: true)
    let keygen = try run(
      "/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "pp", "-C", "test", "-f", keyPath])
    try #require(keygen.status == 0, "ssh-keygen is needed")
    let publicKey = try String(contentsOfFile: keyPath + ".pub", encoding: .utf8)
    let keyFields = publicKey.split(separator: " ")
    knownHostsPath = try dir.write(
      "known_hosts",
      "other.example.com \(keyFields[0]) \(keyFields[1])\n[sftp.firm2.example.com]:2222 \(keyFields[0]) \(keyFields[1])\n",
      mode: 0o644)
    _ = try dir.write("webhook.secret", "filesecret\n", mode: 0o600)
  }

  func yaml(
    port: String = "2222", secretLine: String = "secret_env: EOD_WEBHOOK_SECRET",
    knownHosts: String? = nil, identity: String? = nil, extra: String = "", firmExtra: String = ""
  ) -> String {
    """
    version: 1
    snapshot: snapshots/ledger-{date}.sqlite
    state_store: state/state.sqlite
    output_dir: out
    templates_dir: templates
    format: csv
    compression: 6
    concurrency: 2
    retry:
      delivery_attempts: 3
      base_delay_seconds: 0.5
      max_delay_seconds: 30
    timeouts:
      connect_seconds: 10
      operation_seconds: 300
      overall_seconds: 3600
    webhooks:
      allow_private_addresses: true  # the second endpoint is on loopback
      endpoints:
        - url: https://hooks.example.com/eod
          \(secretLine)
        - url: http://127.0.0.1:9000/hook
          secret_file: webhook.secret
          events: [extract.failed]
    metrics_file: metrics/eod_extract.prom
    \(extra)
    firms:
      - firm_id: F001
        destination:
          local_dir: extracts/F001
        extracts:
          positions: v2
          cash: v1
          data_quality: v1
        features:
          formula_safe_csv: true
        \(firmExtra)
      - firm_id: F002
        format: json
        compression: none
        destination:
          sftp:
            host: sftp.firm2.example.com
            port: \(port)
            user: eod
            remote_dir: /inbound/{date}
            identity_file: \(identity ?? keyPath)
            passphrase_env: F002_KEY_PASSPHRASE
            known_hosts: \(knownHosts ?? knownHostsPath)
            allow_create_dirs: true

    """
  }

  func check(_ text: String, environment: [String: String]? = nil) throws -> ConfigurationCheck {
    let path = try dir.write("config-\(UUID().uuidString).yaml", text, mode: 0o644)
    return JobConfiguration.check(path: path, environment: environment ?? self.environment)
  }
}

@Suite struct JobConfigurationTests {
  @Test func goodFileLoadsValidatesAndDescribesThePlan() throws {
    let fixture = try ConfigFixture()
    defer { fixture.dir.cleanup() }
    let result = try fixture.check(fixture.yaml())
    #expect(result.problems.filter { $0.severity == .error } == [])
    #expect(result.isValid)
    let config = try #require(result.configuration)
    let root = URL(fileURLWithPath: fixture.dir.path).standardizedFileURL.path
    #expect(config.snapshotPath(for: "2025-01-02") == "\(root)/snapshots/ledger-2025-01-02.sqlite")
    #expect(config.lockPath == "\(root)/state/state.sqlite.lock")
    #expect(config.concurrency == 2)
    #expect(config.retry.baseDelay == .milliseconds(500))
    #expect(config.timeouts.overall == .seconds(3600))
    #expect(config.webhooks.endpoints.count == 2)
    #expect(config.webhooks.endpoints[1].secret == .file("\(root)/webhook.secret"))
    #expect(config.webhooks.endpoints[1].events == ["extract.failed"])
    let endpoint = try config.webhooks.endpoints[0].endpoint(environment: fixture.environment)
    #expect(endpoint.secret == Array("whsec".utf8))
    #expect(try config.webhooks.endpoints[1].secret.resolve() == Array("filesecret".utf8))
    #expect(config.firms.map(\.firmID) == ["F001", "F002"])
    let f001 = try #require(config.firm("F001"))
    #expect(f001.extracts == ["positions": 2, "cash": 1, "data_quality": 1])
    #expect(f001.isEnabled("formula_safe_csv"))
    #expect(config.format(for: f001) == .csv)
    #expect(config.compression(for: f001) == .gzip(level: 6))
    let f002 = try #require(config.firm("F002"))
    #expect(config.format(for: f002) == .json)
    #expect(config.compression(for: f002) == OutputEncoding.none)
    #expect(f002.extracts.count == 5)
    guard case .sftp(let sftp) = f002.destination else {
      Issue.record("F002 must be sftp")
      return
    }
    #expect(sftp.port == 2222)
    #expect(sftp.passphrase == .environment("F002_KEY_PASSPHRASE"))
    #expect(sftp.allowCreateDirectories)
    #expect(config.firm("F999") == nil)

    let plan = config.describePlan(businessDate: "2025-01-02")
    #expect(plan.contains("ledger-2025-01-02.sqlite (not found yet)"))
    #expect(plan.contains("only the 2 listed firm(s); at most 2 in parallel"))
    #expect(plan.contains("F002 -> sftp://eod@sftp.firm2.example.com:2222/inbound/{date}"))
    #expect(plan.contains("extracts: positions v2, cash v1, data_quality v1"))
    #expect(plan.contains("features: formula_safe_csv"))
    #expect(plan.contains("Firms in the snapshot but not listed: not extracted"))
    #expect(plan.contains("https://hooks.example.com/eod (secret from env EOD_WEBHOOK_SECRET)"))
    #expect(!plan.contains("whsec"))
  }

  @Test func exampleFileInCronParses() throws {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("cron/eod-extract.example.yaml").path
    let config = try JobConfiguration.load(contentsOf: path)
    #expect(config.firms.count == 2)
    #expect(config.snapshotPath(for: "2025-01-02") == "/data/snapshots/ledger-2025-01-02.sqlite")
    #expect(config.metricsFile == "/var/lib/node_exporter/textfile/eod_extract.prom")
  }

  /// Each bad file yields the expected problem at the expected path.
  @Test(arguments: [
    ("unknown top-level key", "concurency: 3", "", "concurency", "did you mean 'concurrency'"),
    ("bad port", "", "", "firms[1].destination.sftp.port", "between 1 and 65535"),
    ("inline secret", "", "", "webhooks.endpoints[0].secret", "inline secrets are not allowed"),
    ("pattern without date", "", "", "snapshot", "must name the date"),
    ("unknown placeholder", "", "", "snapshot", "unknown placeholder {day}"),
    ("compression out of range", "", "", "compression", "gzip level 0-9"),
    ("unknown feature", "", "", "firms[0].features.formula_safe_cvs", "did you mean 'formula_safe_csv'"),
    ("bad template version", "", "", "firms[0].extracts.positions", "template version like v1"),
    ("duplicate firm", "", "", "firms[1].firm_id", "duplicate firm_id 'F001'"),
    (
      "remote default destination",
      "all_firms: true\ndefault_destination:\n  sftp: {host: h, user: u, remote_dir: /x, identity_file: /k, known_hosts: /kh}",
      "", "default_destination", "must be a local directory"
    ),
    (
      "default destination without firm", "all_firms: true\ndefault_destination:\n  local_dir: /srv/all", "",
      "default_destination.local_dir", "must contain {firm}"
    ),
    ("both secret sources", "", "", "webhooks.endpoints[0].secret_env", "not both"),
    ("unknown destination key", "", "", "firms[0].destination.local_path", "unknown key 'local_path'"),
  ])
  func badFileReportsProblem(name: String, extra: String, firmExtra: String, path: String, message: String)
    throws
  {
    let fixture = try ConfigFixture()
    defer { fixture.dir.cleanup() }
    var text = fixture.yaml(extra: extra)
    switch name {
    case "bad port": text = fixture.yaml(port: "70000")
    case "inline secret": text = fixture.yaml(secretLine: "secret: hunter2")
    case "both secret sources": text = fixture.yaml(secretLine: "secret_env: A\n      secret_file: /x")
    case "pattern without date": text = text.replacingOccurrences(of: "ledger-{date}", with: "ledger")
    case "unknown placeholder": text = text.replacingOccurrences(of: "{date}.sqlite", with: "{day}.sqlite")
    case "compression out of range":
      text = text.replacingOccurrences(of: "compression: 6", with: "compression: 12")
    case "unknown feature":
      text = text.replacingOccurrences(of: "formula_safe_csv: true", with: "formula_safe_cvs: true")
    case "bad template version":
      text = text.replacingOccurrences(of: "positions: v2", with: "positions: latest")
    case "duplicate firm": text = text.replacingOccurrences(of: "firm_id: F002", with: "firm_id: F001")
    case "unknown destination key":
      text = text.replacingOccurrences(of: "local_dir: extracts/F001", with: "local_path: x")
    default: break
    }
    let result = try fixture.check(text)
    #expect(!result.isValid, "\(name)")
    let found = result.problems.first { $0.path == path && $0.message.contains(message) }
    #expect(found != nil, "\(name): expected \(path): \(message), got \(result.problems)")
    #expect(found?.line != nil)
    // The secret's value never appears in problems.
    #expect(!result.problems.description.contains("hunter2"))
  }

  @Test func everyStructuralProblemIsReportedAtOnce() throws {
    let fixture = try ConfigFixture()
    defer { fixture.dir.cleanup() }
    var text = fixture.yaml(port: "0", secretLine: "secret: x", extra: "colour: blue")
    text = text.replacingOccurrences(of: "concurrency: 2", with: "concurrency: 0")
    let error = #expect(throws: ConfigurationError.self) { try JobConfiguration.parse(yaml: text) }
    #expect(error?.code == .invalid)
    let paths = Set(error?.problems.map(\.path) ?? [])
    #expect(
      paths.isSuperset(of: [
        "firms[1].destination.sftp.port", "webhooks.endpoints[0].secret", "colour", "concurrency",
      ]))
    #expect(error?.description.contains("firms[1].destination.sftp.port") == true)
  }

  @Test func syntaxErrorsAreReported() {
    let error = #expect(throws: ConfigurationError.self) {
      try JobConfiguration.parse(yaml: "firms: [\n  - a: b\n")
    }
    #expect(error?.code == .syntax)
    let duplicate = #expect(throws: ConfigurationError.self) {
      try JobConfiguration.parse(yaml: "snapshot: a\nsnapshot: b\n")
    }
    #expect(duplicate?.code == .syntax)
    #expect(JobConfiguration.check(path: "/nonexistent/\(UUID()).yaml").isValid == false)
  }

  @Test func environmentProblemsAreFound() throws {
    let fixture = try ConfigFixture()
    defer { fixture.dir.cleanup() }
    // Unset secret environment variable.
    var result = try fixture.check(fixture.yaml(), environment: ["F002_KEY_PASSPHRASE": "pp"])
    #expect(
      result.problems.contains {
        $0.path == "webhooks.endpoints[0].secret_env" && $0.message.contains("EOD_WEBHOOK_SECRET")
      })

    // Private key readable by others.
    try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: fixture.keyPath)
    result = try fixture.check(fixture.yaml())
    #expect(
      result.problems.contains {
        $0.path == "firms[1].destination.sftp.identity_file" && $0.message.contains("too open")
      })
    try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: fixture.keyPath)

    // Secret file readable by others.
    try FileManager.default.setAttributes(
      [.posixPermissions: 0o644], ofItemAtPath: fixture.dir.file("webhook.secret"))
    result = try fixture.check(fixture.yaml())
    #expect(
      result.problems.contains {
        $0.path == "webhooks.endpoints[1].secret_file" && $0.message.contains("too open")
      })
    try FileManager.default.setAttributes(
      [.posixPermissions: 0o600], ofItemAtPath: fixture.dir.file("webhook.secret"))

    // known_hosts missing, or without the host:port, or with an unparsable line before it.
    result = try fixture.check(fixture.yaml(knownHosts: fixture.dir.file("nope")))
    #expect(
      result.problems.contains {
        $0.path == "firms[1].destination.sftp.known_hosts" && $0.message.contains("not readable")
      })
    result = try fixture.check(fixture.yaml(port: "22"))
    #expect(
      result.problems.contains {
        $0.path == "firms[1].destination.sftp.known_hosts"
          && $0.message.contains("no key for sftp.firm2.example.com")
      })
    let original = try String(contentsOfFile: fixture.knownHostsPath, encoding: .utf8)
    _ = try fixture.dir.write("known_hosts", "garbage-line\n" + original, mode: 0o644)
    result = try fixture.check(fixture.yaml())
    #expect(
      result.problems.contains {
        $0.path == "firms[1].destination.sftp.known_hosts"
          && $0.message.contains("libssh2 stops reading there")
      })

    // Missing template and missing snapshot directory.
    try FileManager.default.removeItem(atPath: fixture.dir.file("templates/positions.v2.tmpl"))
    try FileManager.default.removeItem(atPath: fixture.dir.file("snapshots"))
    result = try fixture.check(fixture.yaml())
    #expect(
      result.problems.contains {
        $0.path == "firms[0].extracts.positions" && $0.message.contains("positions.v2")
      })
    #expect(result.problems.contains { $0.path == "snapshot" && $0.message.contains("does not exist") })
    #expect(result.problems.allSatisfy { $0.line != nil })
  }

  @Test func keyTypesAndEncryptionAreChecked() throws {
    let fixture = try ConfigFixture()
    defer { fixture.dir.cleanup() }
    let rsa = fixture.dir.file("keys/rsa")
    try #require(
      try run("/usr/bin/ssh-keygen", ["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", rsa]).status == 0)
    var result = try fixture.check(fixture.yaml(identity: rsa))
    #expect(
      result.problems.contains {
        $0.path == "firms[1].destination.sftp.identity_file" && $0.message.contains("RSA")
      })
    // An encrypted key without a passphrase source.
    let text = fixture.yaml().replacingOccurrences(of: "passphrase_env: F002_KEY_PASSPHRASE", with: "")
    result = try fixture.check(text)
    #expect(result.problems.contains { $0.message.contains("encrypted but no passphrase") })
  }

  @Test func hashedKnownHostsEntriesMatch() throws {
    let fixture = try ConfigFixture()
    defer { fixture.dir.cleanup() }
    try #require(try run("/usr/bin/ssh-keygen", ["-H", "-f", fixture.knownHostsPath]).status == 0)
    let hashed = try String(contentsOfFile: fixture.knownHostsPath, encoding: .utf8)
    #expect(hashed.contains("|1|"))
    #expect(!hashed.contains("sftp.firm2.example.com"))
    let result = try fixture.check(fixture.yaml())
    #expect(result.problems.filter { $0.severity == .error } == [])
  }

  @Test func allFirmsUsesALocalDefaultPerFirm() throws {
    let fixture = try ConfigFixture()
    defer { fixture.dir.cleanup() }
    let result = try fixture.check(
      fixture.yaml(extra: "all_firms: true\ndefault_destination:\n  local_dir: extracts/{firm}"))
    #expect(result.isValid, "\(result.problems)")
    let config = try #require(result.configuration)
    let other = try #require(config.firm("F777"))
    #expect(
      other.destination
        == .local(
          directory: URL(fileURLWithPath: fixture.dir.path).standardizedFileURL.path + "/extracts/F777"))
    #expect(other.extracts.count == 5)
    #expect(config.describePlan().contains("plus every other firm in the snapshot"))
  }
}

/// The configuration's `state_store` section: a SQLite path (as before) or a PostgreSQL URL.
@Suite struct StateStoreSectionTests {
  func checked(_ section: String) throws -> (ConfigurationCheck, ConfigFixture) {
    let fixture = try ConfigFixture()
    let text = fixture.yaml().replacingOccurrences(of: "state_store: state/state.sqlite", with: section)
    return (try fixture.check(text), fixture)
  }

  @Test func aPostgresURLSelectsThePostgresStore() throws {
    let (result, fixture) = try checked("state_store: {url: postgres://eod@db.internal:5432/eod_state}")
    defer { fixture.dir.cleanup() }
    #expect(result.problems.filter { $0.severity == .error } == [], "\(result.problems)")
    let configuration = try #require(result.configuration)
    #expect(configuration.stateStore == "postgres://eod@db.internal:5432/eod_state")
    #expect(!configuration.stateStoreCreate)
    #expect(
      configuration.describePlan().contains(
        "State store: postgres://eod@db.internal:5432/eod_state (PostgreSQL; a second writer of a firm's date "
          + "exits with code 3)"))
  }

  @Test(arguments: [
    ("state_store: {url: postgres://eod@db/s, path: state/s.sqlite}", "state_store", "not both"),
    ("state_store: {url: postgres://eod@db/s, create: true}", "state_store", "not both"),
    ("state_store: {url: mysql://eod@db/s}", "state_store.url", "is not a postgres://"),
    ("state_store: {url: postgres://eod:hunter2@db/s}", "state_store.url", "PGPASSWORD"),
    ("state_store: {create: true}", "state_store", "give path (a SQLite file) or url (PostgreSQL)"),
  ])
  func aSectionThatIsNotOneStoreIsRefused(section: String, path: String, message: String) throws {
    let (result, fixture) = try checked(section)
    defer { fixture.dir.cleanup() }
    #expect(!result.isValid)
    let found = result.problems.first { $0.path == path && $0.message.contains(message) }
    #expect(found != nil, "expected \(path): \(message), got \(result.problems)")
    // A password given in the URL is never repeated.
    #expect(!result.problems.description.contains("hunter2"))
  }
}
