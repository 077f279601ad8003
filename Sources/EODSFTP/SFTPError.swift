/// A failed SFTP or SSH operation: what went wrong, at which step, against which host, and why.
///
/// The libssh2 error code and message and the SFTP status code are carried as plain integers and
/// strings so callers never see a C type.
public struct SFTPError: Error, CustomStringConvertible, Sendable {
  /// What kind of failure this is. Extensible: new codes may be added.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// The host name did not resolve.
    public static let resolveFailed = Code("resolve-failed")
    /// The TCP connection was refused or the host was unreachable.
    public static let connectFailed = Code("connect-failed")
    /// An operation did not finish within its time bound.
    public static let timedOut = Code("timed-out")
    /// The connection dropped (EOF, reset, socket error, channel failure) or the SSH protocol broke.
    public static let connectionLost = Code("connection-lost")
    /// The server's host key is not in the known_hosts file (and trust-on-first-use is off).
    public static let hostKeyUnknown = Code("host-key-unknown")
    /// The server's host key differs from the one in the known_hosts file.
    public static let hostKeyChanged = Code("host-key-changed")
    /// The known_hosts file could not be read or written.
    public static let knownHostsFile = Code("known-hosts-file")
    /// The server refused our public key.
    public static let authenticationFailed = Code("authentication-failed")
    /// The private key file is readable by group or others, so it is refused.
    public static let privateKeyPermissions = Code("private-key-permissions")
    /// The private key file is missing, unreadable, or could not be decrypted.
    public static let privateKeyUnreadable = Code("private-key-unreadable")
    /// The server refused the operation for lack of permission (or a read-only server).
    public static let permissionDenied = Code("permission-denied")
    /// A remote file or directory does not exist.
    public static let noSuchFile = Code("no-such-file")
    /// Any other failure status from the SFTP server (for example renaming onto an existing name).
    public static let remoteFailure = Code("remote-failure")
    /// The uploaded file's size on the server is not what was sent.
    public static let sizeMismatch = Code("size-mismatch")
    /// A local file could not be read.
    public static let localFile = Code("local-file")
    /// Invalid arguments (an empty host, a bad URL, a path with a NUL byte).
    public static let invalidArgument = Code("invalid-argument")
    /// libssh2 failed in a way not covered above.
    public static let library = Code("library")
  }

  /// A step of a connection's life, for error reports.
  public struct Step: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    public static let resolve = Step("resolve")
    public static let connect = Step("connect")
    public static let handshake = Step("handshake")
    public static let hostKey = Step("host-key-check")
    public static let authenticate = Step("authenticate")
    public static let sftpInit = Step("sftp-init")
    public static let mkdir = Step("mkdir")
    public static let stat = Step("stat")
    public static let open = Step("open")
    public static let write = Step("write")
    public static let fsync = Step("fsync")
    public static let close = Step("close")
    public static let rename = Step("rename")
    public static let remove = Step("remove")
    public static let read = Step("read")
    public static let list = Step("list")
    public static let readLocal = Step("read-local")
    public static let disconnect = Step("disconnect")
    public static let parse = Step("parse")
  }

  public var code: Code
  /// The step that failed.
  public var step: Step
  /// The host (as configured) and port.
  public var host: String
  public var port: Int
  /// The remote or local path concerned, if any.
  public var path: String?
  /// libssh2's error code (negative `LIBSSH2_ERROR_*` value), if libssh2 reported one.
  public var libssh2Code: Int?
  /// libssh2's error message, if any.
  public var libssh2Message: String?
  /// The SFTP status code (`SSH_FX_*`) when the server answered with a failure status.
  public var sftpStatus: Int?
  /// A readable explanation.
  public var detail: String

  public init(
    code: Code, step: Step, host: String, port: Int, path: String? = nil, libssh2Code: Int? = nil,
    libssh2Message: String? = nil, sftpStatus: Int? = nil, detail: String
  ) {
    self.code = code
    self.step = step
    self.host = host
    self.port = port
    self.path = path
    self.libssh2Code = libssh2Code
    self.libssh2Message = libssh2Message
    self.sftpStatus = sftpStatus
    self.detail = detail
  }

  /// Whether retrying (on a new connection) may succeed: connection problems and timeouts are
  /// transient; authentication, host keys, permissions and missing paths are not.
  public var isTransient: Bool {
    switch code {
    case .connectFailed, .timedOut, .connectionLost, .sizeMismatch: true
    default: false
    }
  }

  public var description: String {
    var text = "sftp \(step) on \(host):\(port)"
    if let path { text += " (\(path))" }
    text += " failed [\(code)]: \(detail)"
    if let sftpStatus { text += "; SFTP status \(sftpStatus) (\(SFTPError.statusName(sftpStatus)))" }
    if let libssh2Code {
      text += "; libssh2 error \(libssh2Code)"
      if let libssh2Message, !libssh2Message.isEmpty { text += ": \(libssh2Message)" }
    }
    return text
  }

  /// The SFTP protocol name of a status code.
  public static func statusName(_ status: Int) -> String {
    switch status {
    case 0: "SSH_FX_OK"
    case 1: "SSH_FX_EOF"
    case 2: "SSH_FX_NO_SUCH_FILE"
    case 3: "SSH_FX_PERMISSION_DENIED"
    case 4: "SSH_FX_FAILURE"
    case 5: "SSH_FX_BAD_MESSAGE"
    case 6: "SSH_FX_NO_CONNECTION"
    case 7: "SSH_FX_CONNECTION_LOST"
    case 8: "SSH_FX_OP_UNSUPPORTED"
    case 10: "SSH_FX_NO_SUCH_PATH"
    case 11: "SSH_FX_FILE_ALREADY_EXISTS"
    case 12: "SSH_FX_WRITE_PROTECT"
    case 14: "SSH_FX_NO_SPACE_ON_FILESYSTEM"
    case 15: "SSH_FX_QUOTA_EXCEEDED"
    default: "status \(status)"
    }
  }
}
