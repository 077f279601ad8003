import EODCompression
import EODRender
import EODSFTP
import Foundation
import Yams

/// The configuration's sections: `retry`, `timeouts`, `webhooks` (endpoints, secrets), a firm
/// (`firms[i]`: destination, SFTP, extracts).
extension ConfigurationReader {
  mutating func readRetry(_ node: Node?) -> RetryConfiguration? {
    let map =
      node.map {
        mapping($0, "retry", allowed: ["delivery_attempts", "base_delay_seconds", "max_delay_seconds"])
      } ?? [:]
    guard let map else { return nil }
    let attempts =
      map["delivery_attempts"].map { integer($0, "retry.delivery_attempts", range: 1...20) }
      ?? SFTPDefaults.deliveryAttempts
    let base =
      map["base_delay_seconds"].map { seconds($0, "retry.base_delay_seconds", range: 0...3600) }
      ?? SFTPDefaults.retryBaseDelay
    let maxDelay =
      map["max_delay_seconds"].map { seconds($0, "retry.max_delay_seconds", range: 0...3600) }
      ?? SFTPDefaults.retryMaxDelay
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
      map["connect_seconds"].map { seconds($0, "timeouts.connect_seconds", range: 0...600) }
      ?? SFTPDefaults.connectTimeout
    let operation =
      map["operation_seconds"].map { seconds($0, "timeouts.operation_seconds", range: 0...86_400) }
      ?? SFTPDefaults.operationTimeout
    let overall =
      map["overall_seconds"].map { seconds($0, "timeouts.overall_seconds", range: 0...86_400) }
      ?? SFTPDefaults.nightOverallTimeout
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
    // Left out, a key takes the sender's own default (``WebhookRetryPolicy``): one number each.
    let defaults = WebhookRetryPolicy()
    let attempts =
      map["max_attempts"].map { integer($0, "webhooks.max_attempts", range: 1...20) } ?? defaults.maxAttempts
    let base =
      map["base_delay_seconds"].map { seconds($0, "webhooks.base_delay_seconds", range: 0...600) }
      ?? defaults.baseDelay
    let maxDelay =
      map["max_delay_seconds"].map { seconds($0, "webhooks.max_delay_seconds", range: 0...3600) }
      ?? defaults.maxDelay
    let total =
      map["total_seconds"].map { seconds($0, "webhooks.total_seconds", range: 0...7200) }
      ?? defaults.totalTimeout
    let request =
      map["request_timeout_seconds"].map { seconds($0, "webhooks.request_timeout_seconds", range: 0...300) }
      ?? defaults.requestTimeout
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
    var format: ExtractFormat?
    if let node = map["format"] {
      format = choice(node, Self.join(path, "format"), ExtractFormat.self)
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
    var compression: OutputEncoding?
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
}
