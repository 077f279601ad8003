import Logging

/// One file of a firm's extract set, already written and checksummed locally.
public struct DeliveryItem: Sendable, Equatable {
  /// The complete local file to send.
  public var localPath: String
  /// The final file name at the destination (no directory part).
  public var fileName: String
  /// Lower-case hex SHA-256 of the file's bytes.
  public var sha256: String
  /// The file's size in bytes.
  public var byteCount: Int

  public init(localPath: String, fileName: String, sha256: String, byteCount: Int) {
    self.localPath = localPath
    self.fileName = fileName
    self.sha256 = sha256
    self.byteCount = byteCount
  }
}

/// A firm's extract set for one business date: data files, then the manifest, which goes last.
public struct DeliverySet: Sendable {
  public var firmID: String
  /// `YYYY-MM-DD`.
  public var businessDate: String
  public var runID: String
  /// The data files still to deliver (the manifest is not among them).
  public var files: [DeliveryItem]
  /// Delivered only after every data file is in place at the destination.
  public var manifest: DeliveryItem

  public init(
    firmID: String, businessDate: String, runID: String, files: [DeliveryItem], manifest: DeliveryItem
  ) {
    self.firmID = firmID
    self.businessDate = businessDate
    self.runID = runID
    self.files = files
    self.manifest = manifest
  }
}

/// What happened to one file.
public struct DeliveredFile: Sendable, Equatable {
  public enum Outcome: String, Sendable, Equatable {
    /// Written under a temporary name, size-checked, then renamed into place.
    case delivered
    /// The final name already held these exact bytes; nothing was sent.
    case alreadyPresent
  }
  public var fileName: String
  public var remotePath: String
  public var sha256: String
  public var attempts: Int
  public var outcome: Outcome

  public init(fileName: String, remotePath: String, sha256: String, attempts: Int, outcome: Outcome) {
    self.fileName = fileName
    self.remotePath = remotePath
    self.sha256 = sha256
    self.attempts = attempts
    self.outcome = outcome
  }
}

/// A failed delivery: which destination, which file, at which step, and why.
public struct DeliveryError: Error, CustomStringConvertible, Sendable {
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
    /// Could not connect, or the connection dropped, and retries ran out.
    public static let unreachable = Code("unreachable")
    /// The host key is unknown or changed.
    public static let hostKeyRejected = Code("host-key-rejected")
    /// The server refused our credentials.
    public static let authenticationFailed = Code("authentication-failed")
    /// The remote side refused a file operation (permissions, missing directory).
    public static let remoteRefused = Code("remote-refused")
    /// The final name already holds different bytes and re-sending was not asked for.
    public static let conflictingFile = Code("conflicting-file")
    /// The operation did not finish within its time bound.
    public static let timedOut = Code("timed-out")
    /// The local file could not be read, or is not what the set says.
    public static let localFile = Code("local-file")
    /// The destination is not configured correctly.
    public static let configuration = Code("configuration")
  }

  public var code: Code
  /// The destination, e.g. `sftp://user@host:22/path`.
  public var destination: String
  /// The file concerned, if any.
  public var fileName: String?
  /// Files that did reach the destination before the failure.
  public var completed: [DeliveredFile]
  public var detail: String

  public init(
    code: Code, destination: String, fileName: String?, completed: [DeliveredFile] = [], detail: String
  ) {
    self.code = code
    self.destination = destination
    self.fileName = fileName
    self.completed = completed
    self.detail = detail
  }

  public var description: String {
    var text = "delivery to \(destination) failed (\(code))"
    if let fileName { text += " for \(fileName)" }
    return text + ": \(detail)"
  }
}

/// Where a firm's extract set goes. Implementations never show a partial file under its final
/// name and put the manifest in place only after every data file.
public protocol Destination: Sendable {
  /// A description without secrets, for logs and the delivery journal.
  var displayName: String { get }

  /// Delivers the set. With `resend`, a final name holding different bytes is replaced;
  /// without it, that is a `.conflictingFile` error. A final name holding the same bytes is skipped.
  func deliver(_ set: DeliverySet, resend: Bool, logger: Logger) async throws(DeliveryError)
    -> [DeliveredFile]
}
