/// Where to connect and as whom.
public struct SFTPEndpoint: Sendable, Hashable, CustomStringConvertible {
  public var host: String
  public var port: Int
  public var user: String

  public init(host: String, port: Int = 22, user: String) {
    self.host = host
    self.port = port
    self.user = user
  }

  /// The host as OpenSSH writes it in known_hosts: `host` for port 22, else `[host]:port`.
  public var knownHostsName: String {
    let name = host.lowercased()
    return port == 22 ? name : "[\(name)]:\(port)"
  }

  /// `user@host:port` (IPv6 addresses in brackets).
  public var description: String {
    let shownHost = host.contains(":") ? "[\(host)]" : host
    return "\(user)@\(shownHost):\(port)"
  }
}

/// The key to log in with: a private key file (ed25519 or ECDSA) and its optional passphrase.
///
/// The private key file must not be readable by group or others (mode 0600 or stricter).
/// RSA keys need libssh2 1.11 or later (for rsa-sha2 signatures); with libssh2 1.10 a modern
/// OpenSSH server refuses them, so use ed25519 or ECDSA keys.
public struct SFTPIdentity: Sendable, CustomStringConvertible {
  public var privateKeyPath: String
  /// The passphrase, if the key is encrypted. Read it from an environment variable or a file;
  /// never take it from the command line.
  public var passphrase: String?

  public init(privateKeyPath: String, passphrase: String? = nil) {
    self.privateKeyPath = privateKeyPath
    self.passphrase = passphrase
  }

  /// Neither the key's path nor the passphrase: descriptions reach logs (docs/sftp.md).
  public var description: String {
    passphrase == nil ? "identity file" : "identity file (with passphrase)"
  }
}

/// How the server's host key is verified.
public struct SFTPHostKeyPolicy: Sendable {
  /// An OpenSSH known_hosts file (plain or hashed entries; `[host]:port` for ports other than 22).
  public var knownHostsPath: String
  /// Accept and record (append to `knownHostsPath`) the key of a host that has no entry yet.
  /// A host whose key changed is refused regardless. Off by default.
  public var trustOnFirstUse: Bool

  public init(knownHostsPath: String, trustOnFirstUse: Bool = false) {
    self.knownHostsPath = knownHostsPath
    self.trustOnFirstUse = trustOnFirstUse
  }
}

/// The defaults of delivering over SFTP, one constant each: the client's (``SFTPTimeouts``, the
/// delivery's retry policy) and the configuration's (`retry.*`, `timeouts.*` in EODOps, which
/// reads them from here), so the nightly run and a run without a configuration behave alike.
/// Documented in docs/operations.md (configuration keys) and docs/sftp.md (options); a test
/// checks the configuration's defaults equal the client's.
public enum SFTPDefaults {
  /// Attempts per delivered file, the first included (`retry.delivery_attempts`).
  public static let deliveryAttempts = 5
  /// The first backoff between attempts; doubles per attempt, with jitter (`retry.base_delay_seconds`).
  public static let retryBaseDelay: Duration = .seconds(2)
  /// The longest backoff between attempts (`retry.max_delay_seconds`).
  public static let retryMaxDelay: Duration = .seconds(60)
  /// The TCP connect (`timeouts.connect_seconds`).
  public static let connectTimeout: Duration = .seconds(30)
  /// Each protocol step (handshake, authentication, mkdir, stat, rename, each 1 MB written or
  /// read) must make progress within this (`timeouts.operation_seconds`).
  public static let operationTimeout: Duration = .seconds(600)
  /// The whole night's deliveries, from a configuration (`timeouts.overall_seconds`): each
  /// delivery is given it as its overall timeout and its retries' total time.
  public static let nightOverallTimeout: Duration = .seconds(3 * 3600)
  /// One delivery's bound without a configuration (`run --destination`, `verify sftp://`).
  public static let deliveryOverallTimeout: Duration = .seconds(1800)
  /// Without a configuration, no retry starts once this much time has passed since the delivery
  /// began (with one, the night's overall bound).
  public static let retryMaxTotalTime: Duration = .seconds(600)
}

/// Time bounds for one connection.
public struct SFTPTimeouts: Sendable, Equatable {
  /// TCP connect.
  public var connect: Duration
  /// Each protocol step (handshake, authentication, each mkdir/stat/rename, each 1 MB write or read)
  /// must make progress within this.
  public var operation: Duration
  /// How often to send an SSH keepalive while waiting on the server.
  public var keepaliveInterval: Duration

  public init(
    connect: Duration = SFTPDefaults.connectTimeout, operation: Duration = SFTPDefaults.operationTimeout,
    keepaliveInterval: Duration = .seconds(15)
  ) {
    self.connect = connect
    self.operation = operation
    self.keepaliveInterval = keepaliveInterval
  }
}

/// What `stat` tells about a remote path.
public struct SFTPAttributes: Sendable, Equatable {
  /// Size in bytes, if the server said.
  public var size: Int?
  /// The POSIX mode bits (file type and permissions), if the server said.
  public var mode: Int?

  public init(size: Int?, mode: Int?) {
    self.size = size
    self.mode = mode
  }

  /// Whether the path is a directory.
  public var isDirectory: Bool { mode.map { $0 & 0o170000 == 0o040000 } ?? false }
}

/// One entry of a remote directory.
public struct SFTPDirectoryEntry: Sendable, Equatable {
  public var name: String
  public var attributes: SFTPAttributes

  public init(name: String, attributes: SFTPAttributes) {
    self.name = name
    self.attributes = attributes
  }

  /// Whether the entry is a regular file (not a link, folder or device), as the server said.
  public var isRegularFile: Bool { attributes.mode.map { $0 & 0o170000 == 0o100000 } ?? false }
}

/// What an upload did.
public struct SFTPUploadReport: Sendable, Equatable {
  /// Bytes written to the server.
  public var bytesWritten: Int
  /// Whether the server flushed the file to disk (`fsync@openssh.com`); false when it does not
  /// offer that extension.
  public var synced: Bool
}

/// An `sftp://USER@HOST[:PORT]/PATH` location.
public struct SFTPURL: Sendable, Hashable, CustomStringConvertible {
  public var endpoint: SFTPEndpoint
  /// The absolute remote path (`/` if none was given).
  public var path: String

  public init(endpoint: SFTPEndpoint, path: String) {
    self.endpoint = endpoint
    self.path = path
  }

  /// Parses `sftp://USER@HOST[:PORT]/PATH`. IPv6 hosts go in brackets; the port defaults to 22.
  /// Passwords in the URL are refused (keys only); `%XX` escapes in user and path are decoded.
  public init(parsing text: String) throws(SFTPError) {
    func bad(_ why: String) -> SFTPError {
      SFTPError(
        code: .invalidArgument, step: .parse, host: "", port: 0, detail: "bad sftp URL '\(text)': \(why)")
    }
    let scheme = "sftp://"
    guard text.lowercased().hasPrefix(scheme) else { throw bad("it must start with sftp://") }
    let rest = text.dropFirst(scheme.count)
    let authority: Substring
    let rawPath: Substring
    if let slash = rest.firstIndex(of: "/") {
      authority = rest[..<slash]
      rawPath = rest[slash...]
    } else {
      authority = rest
      rawPath = "/"
    }
    guard let at = authority.lastIndex(of: "@") else { throw bad("a user name is required (USER@HOST)") }
    let rawUser = authority[..<at]
    if rawUser.contains(":") { throw bad("passwords are not accepted in the URL; use a key") }
    guard let user = SFTPURL.percentDecode(rawUser), !user.isEmpty else { throw bad("empty or invalid user") }
    let hostPort = authority[authority.index(after: at)...]
    var host: Substring
    var portText: Substring?
    if hostPort.hasPrefix("[") {
      guard let close = hostPort.firstIndex(of: "]") else { throw bad("unclosed '[' in host") }
      host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
      let after = hostPort[hostPort.index(after: close)...]
      if !after.isEmpty {
        guard after.hasPrefix(":") else { throw bad("unexpected text after ']'") }
        portText = after.dropFirst()
      }
    } else if let colon = hostPort.firstIndex(of: ":") {
      host = hostPort[..<colon]
      portText = hostPort[hostPort.index(after: colon)...]
    } else {
      host = hostPort
    }
    guard !host.isEmpty else { throw bad("empty host") }
    var port = 22
    if let portText {
      guard let value = Int(portText), (1...65535).contains(value) else {
        throw bad("invalid port '\(portText)'")
      }
      port = value
    }
    guard let path = SFTPURL.percentDecode(rawPath), !path.contains("\0") else { throw bad("invalid path") }
    if SFTPURL.climbs(path) {
      throw bad("the destination's base path must not contain a '..' component")
    }
    self.endpoint = SFTPEndpoint(host: String(host), port: port, user: user)
    self.path = path
  }

  /// `sftp://user@host:port/path`.
  public var description: String {
    let shownHost = endpoint.host.contains(":") ? "[\(endpoint.host)]" : endpoint.host
    return "sftp://\(endpoint.user)@\(shownHost):\(endpoint.port)\(path.hasPrefix("/") ? "" : "/")\(path)"
  }

  /// Whether a remote path has a `..` component (refused: a base path never climbs out of
  /// where the receiving firm put it).
  public static func climbs(_ path: String) -> Bool {
    path.split(separator: "/", omittingEmptySubsequences: true).contains("..")
  }

  static func percentDecode(_ text: Substring) -> String? {
    var bytes: [UInt8] = []
    var iterator = Array(text.utf8)[...]
    while let byte = iterator.popFirst() {
      if byte == UInt8(ascii: "%") {
        guard iterator.count >= 2,
          let value = UInt8(String(decoding: iterator.prefix(2), as: UTF8.self), radix: 16)
        else { return nil }
        bytes.append(value)
        iterator = iterator.dropFirst(2)
      } else {
        bytes.append(byte)
      }
    }
    return String(validating: bytes, as: UTF8.self)
  }
}
