import Logging

/// Checking the server's host key against a known_hosts file (OpenSSH format), before
/// authentication: a known key is accepted, a changed or unknown one refused (an unknown host's
/// key is recorded instead when trust-on-first-use is on and the host has no entry at all).
/// Used by ``SFTPConnection/connect(to:identity:hostKeys:timeouts:deadline:logger:)``.
enum HostKeyVerification {
  /// Why the known_hosts file cannot be used.
  struct Refusal: Error {
    var code: SFTPError.Code
    var detail: String
  }

  /// The known_hosts file's bytes (a missing file is an empty one).
  static func readKnownHosts(_ path: String) -> Result<[UInt8], Refusal> {
    switch LocalFile.readAll(path) {
    case .success(let bytes): return .success(bytes)
    case .failure(.noSuchFile): return .success([])
    case .failure(let code):
      return .failure(
        Refusal(
          code: .knownHostsFile, detail: "cannot read the known_hosts file: \(LocalFile.describe(code))"))
    }
  }

  /// Checks the host key the server presented (after the handshake) against `known`; returns its
  /// fingerprint (`SHA256:…`) and type, or throws `.hostKeyChanged`, `.hostKeyUnknown`,
  /// `.knownHostsFile` saying what to do.
  static func verify(
    session: SessionBox, known: KnownHostsBox, endpoint: SFTPEndpoint, hostKeys: SFTPHostKeyPolicy,
    knownTypes: [HostKeyType], knownHostsBytes: [UInt8], logger: Logger
  ) throws(SFTPError) -> (fingerprint: String, keyType: HostKeyType) {
    let hostName = endpoint.knownHostsName
    guard let (key, keyType) = LibSSH2.hostKey(session.pointer) else {
      throw session.error(.library, .hostKey, path: nil, "the server's host key is not available")
    }
    let fingerprint = "SHA256:" + Base64.encode(LibSSH2.hostKeySHA256(session.pointer) ?? [], padding: false)
    let seen =
      "host \(endpoint.host) port \(endpoint.port) presented \(keyType.methodName) key \(fingerprint)"
    let verdict = LibSSH2.knownHostsCheck(known.pointer, hostName: hostName, key: key, type: keyType)
    switch verdict {
    case LibSSH2.checkMatch:
      logger.debug("host key verified", metadata: ["host": "\(hostName)", "fingerprint": "\(fingerprint)"])
    case LibSSH2.checkMismatch:
      throw session.error(
        .hostKeyChanged, .hostKey, path: hostKeys.knownHostsPath,
        "HOST KEY CHANGED: \(seen), which differs from the key recorded for \(hostName) in "
          + "\(hostKeys.knownHostsPath); refusing to connect. If the change is expected, replace the entry "
          + "(ssh-keygen -R '\(hostName)' -f \(hostKeys.knownHostsPath), then add the new key)")
    case LibSSH2.checkNotFound where knownTypes.isEmpty && hostKeys.trustOnFirstUse:
      guard
        let line = LibSSH2.knownHostsAdd(
          known.pointer, hostName: hostName, key: key, type: keyType, comment: "added-by-eod-extract")
      else {
        throw session.error(
          .library, .hostKey, path: hostKeys.knownHostsPath, "could not format the host key")
      }
      let needsNewline = knownHostsBytes.last.map { $0 != UInt8(ascii: "\n") } ?? false
      if let code = LocalFile.append(hostKeys.knownHostsPath, (needsNewline ? "\n" : "") + line) {
        throw session.error(
          .knownHostsFile, .hostKey, path: hostKeys.knownHostsPath,
          "cannot record the host key: \(LocalFile.describe(code))")
      }
      logger.warning(
        "trust on first use: recorded a new host key",
        metadata: [
          "host": "\(hostName)", "type": "\(keyType.methodName)", "fingerprint": "\(fingerprint)",
          "known_hosts": "\(hostKeys.knownHostsPath)",
        ])
    case LibSSH2.checkNotFound:
      let scan = "ssh-keyscan -t \(keyType.methodName) -p \(endpoint.port) \(endpoint.host)"
      if knownTypes.isEmpty {
        throw session.error(
          .hostKeyUnknown, .hostKey, path: hostKeys.knownHostsPath,
          "UNKNOWN HOST KEY: \(seen), and \(hostKeys.knownHostsPath) has no entry for \(hostName); "
            + "refusing to connect. Check the fingerprint with the server's operator, then add it "
            + "(\(scan) >> \(hostKeys.knownHostsPath))")
      }
      throw session.error(
        .hostKeyChanged, .hostKey, path: hostKeys.knownHostsPath,
        "HOST KEY CHANGED: \(seen), but \(hostKeys.knownHostsPath) records only "
          + "\(knownTypes.map(\.methodName).joined(separator: ", ")) keys for \(hostName); refusing to connect"
      )
    default:
      throw session.error(
        .knownHostsFile, .hostKey, path: hostKeys.knownHostsPath, rc: verdict,
        "the host key could not be checked")
    }
    return (fingerprint, keyType)
  }

  /// Adds each parsable line of a known_hosts file; a line libssh2 cannot parse is skipped with a
  /// warning instead of ending the file (libssh2 1.10's own reader stops at the first bad line).
  static func load(_ known: KnownHostsBox, bytes: [UInt8], path: String, logger: Logger) {
    var number = 0
    for rawLine in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
      number += 1
      let line = String(decoding: rawLine, as: UTF8.self).trimmingWhitespace()
      if line.isEmpty || line.hasPrefix("#") { continue }
      if line.hasPrefix("@") {
        logger.warning(
          "skipping a known_hosts line with a marker (@cert-authority/@revoked are not supported)",
          metadata: ["file": "\(path)", "line": .stringConvertible(number)])
        continue
      }
      if LibSSH2.knownHostsReadLine(known.pointer, line) != 0 {
        logger.warning(
          "skipping a known_hosts line libssh2 cannot parse",
          metadata: ["file": "\(path)", "line": .stringConvertible(number)])
      }
    }
  }

  /// The key types recorded for `hostName` (plain or hashed entries), most preferred first.
  static func knownKeyTypes(_ known: KnownHostsBox, hostName: String) -> [HostKeyType] {
    var found: [HostKeyType] = []
    for entry in LibSSH2.knownHostsEntries(known.pointer) where !found.contains(entry.type) {
      // An entry is for this host when checking the host with the entry's own key matches.
      if LibSSH2.knownHostsCheck(
        known.pointer, hostName: hostName, keyBase64: entry.keyBase64, type: entry.type)
        == LibSSH2.checkMatch
      {
        found.append(entry.type)
      }
    }
    let order: [HostKeyType] = [.ed25519, .ecdsa256, .ecdsa384, .ecdsa521, .rsa, .dss]
    return order.filter { found.contains($0) }
  }
}

extension String {
  func trimmingWhitespace() -> String {
    let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
    guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) })
    else {
      return ""
    }
    return String(self[first...last])
  }
}
