import Crypto
import EODCore
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
    /// The manifest's final name already held the manifest of this same set from an earlier run
    /// (equal but for `run_id` and `generated_at`: ``ManifestComparison``), every data file beside
    /// it with these bytes: that run placed the set but never journaled it. Nothing was sent and
    /// the earlier manifest was left in place, so a consumer that has seen it sees nothing new.
    case recognized
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
  /// The error underneath, when there was one (an `SFTPError` with its step and libssh2's code),
  /// kept typed; ``detail`` already says it in words.
  public var cause: (any Error)?

  public init(
    code: Code, destination: String, fileName: String?, completed: [DeliveredFile] = [], detail: String,
    cause: (any Error)? = nil
  ) {
    self.code = code
    self.destination = destination
    self.fileName = fileName
    self.completed = completed
    self.detail = detail
    self.cause = cause
  }

  public var description: String {
    var text = "delivery to \(destination) failed (\(code))"
    if let fileName { text += " for \(fileName)" }
    return text + ": \(detail)"
  }
}

/// How a manifest already at a destination's final name compares with the one a delivery would
/// put there. "The same set" is decided on the manifest alone, byte for byte, after dropping the
/// two members that name the run rather than the data (`"run_id"` and `"generated_at"`, which
/// the job writes as top-level lines of their own); everything else — the files with their
/// sizes, SHA-256 and control totals, template versions, data quality — must be equal. A
/// manifest of another version of the job, or edited at the destination, is a different one.
public enum ManifestComparison: Sendable, Equatable {
  case identical
  /// Equal but for `run_id` and `generated_at`.
  case sameSet
  case different

  /// The members that name the run, not the set: the job's manifests hold each as one line
  /// indented by two spaces.
  static let runMembers = ["  \"run_id\": ", "  \"generated_at\": "]

  public static func compare(existing: [UInt8], ours: [UInt8]) -> ManifestComparison {
    if existing == ours { return .identical }
    guard let theirs = setLines(existing), let mine = setLines(ours), theirs == mine else {
      return .different
    }
    return .sameSet
  }

  /// The manifest's lines without its run members; nil when it does not hold each exactly once.
  private static func setLines(_ bytes: [UInt8]) -> [Substring]? {
    let text = String(decoding: bytes, as: UTF8.self)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    let kept = lines.filter { line in !runMembers.contains { line.hasPrefix($0) } }
    return lines.count - kept.count == runMembers.count ? kept : nil
  }

  /// Why a delivery stops at a manifest already at `target` (not resending): nothing is sent
  /// and nothing replaced, so a consumer never sees a second manifest for the date.
  public static func conflictDetail(target: String) -> String {
    "\(target) already holds a manifest of a different set for this firm and date (another run's data, "
      + "or a file not made by this job); nothing was sent and nothing replaced. Check what the "
      + "destination holds; pass --resend to replace the set"
  }

  /// Why a delivery stops at a data file missing or different beside a manifest of the same set.
  public static func incompleteDetail(target: String, manifest: String, file: String, found: String) -> String
  {
    "\(target) \(found), but \(manifest) beside it already describes this set: nothing was sent, "
      + "as a consumer may have taken the set already (\(file) is never sent after its manifest); "
      + "pass --resend to send the set again"
  }
}

/// What a delivery without `resend` makes of a manifest already at its final name: the set it
/// describes recognised (nothing is sent), or a refusal naming the file.
public enum ManifestRecognition: Sendable {
  /// The destination holds this set (the manifest's entry `.recognized`, or `.alreadyPresent`
  /// when byte-identical; every data file `.alreadyPresent`).
  case recognised([DeliveredFile])
  /// Another set's manifest, or a data file missing or different beside a manifest of this set.
  case refused(fileName: String, detail: String)

  /// The one decision of every destination: `existing` is what `target` (the manifest's final
  /// name) holds, `ours` the manifest this delivery would place; `path` gives a data file's final
  /// name; `dataFile` says what the destination holds there: nil for the item's very bytes, else
  /// why not (`is missing`, `holds different bytes`).
  public static func decide<E: Error>(
    _ set: DeliverySet, existing: [UInt8], ours: [UInt8], target: String, path: (String) -> String,
    logger: Logger, dataFile: (DeliveryItem, String) throws(E) -> String?
  ) throws(E) -> ManifestRecognition {
    let manifest = set.manifest
    let comparison = ManifestComparison.compare(existing: existing, ours: ours)
    guard comparison != .different else {
      return .refused(fileName: manifest.fileName, detail: ManifestComparison.conflictDetail(target: target))
    }
    var found: [DeliveredFile] = []
    for item in set.files {
      let itemPath = path(item.fileName)
      if let why = try dataFile(item, itemPath) {
        return .refused(
          fileName: item.fileName,
          detail: ManifestComparison.incompleteDetail(
            target: itemPath, manifest: manifest.fileName, file: item.fileName, found: why))
      }
      found.append(
        DeliveredFile(
          fileName: item.fileName, remotePath: itemPath, sha256: item.sha256, attempts: 0,
          outcome: .alreadyPresent))
    }
    found.append(
      DeliveredFile(
        fileName: manifest.fileName, remotePath: target, sha256: manifest.sha256, attempts: 0,
        outcome: comparison == .identical ? .alreadyPresent : .recognized))
    if comparison == .sameSet {
      let sha = Hex.lowercase(SHA256.hash(data: existing))
      logger.notice(
        "the destination already holds this set from an earlier run; recorded, nothing sent",
        metadata: ["file": "\(target)", "sha256_found": "\(sha)"])
    }
    return .recognised(found)
  }
}

/// Where a firm's extract set goes. Implementations never show a partial file under its final
/// name and put the manifest in place only after every data file.
public protocol Destination: Sendable {
  /// A description without secrets, for logs and the delivery journal.
  var displayName: String { get }

  /// Delivers the set. With `resend`, a final name holding different bytes is replaced (a
  /// different manifest is removed first, before any data file is replaced); without it, that is
  /// a `.conflictingFile` error. A final name holding the same bytes is skipped. Without
  /// `resend`, the manifest's final name is looked at first: a manifest of the same set
  /// (``ManifestComparison``) with every data file in place is ``DeliveredFile/Outcome/recognized``
  /// and nothing is sent; any other manifest there stops the delivery before anything is sent.
  func deliver(_ set: DeliverySet, resend: Bool, logger: Logger) async throws(DeliveryError)
    -> [DeliveredFile]
}
