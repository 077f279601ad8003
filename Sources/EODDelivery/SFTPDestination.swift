import Crypto
import EODCore
import EODSFTP
import Foundation
import Logging

/// When and how often a failed SFTP delivery is tried again.
///
/// Only transient failures are retried (connection refused or lost, timeouts, size mismatch after
/// upload). The wait after the n-th failed attempt is `baseDelay * 2^(n-1)`, capped at `maxDelay`,
/// then passed through `jitter`.
public struct SFTPRetryPolicy: Sendable {
  /// Attempts per file, including the first. 1 means no retry.
  public var maxAttempts: Int
  public var baseDelay: Duration
  public var maxDelay: Duration
  /// No retry starts once this much time has passed since the delivery began.
  public var maxTotalTime: Duration
  /// Turns the capped exponential delay into the delay actually waited. The default picks a
  /// random delay between half and all of it; tests inject a deterministic function.
  public var jitter: @Sendable (Duration) -> Duration

  public init(
    maxAttempts: Int = SFTPDefaults.deliveryAttempts, baseDelay: Duration = SFTPDefaults.retryBaseDelay,
    maxDelay: Duration = SFTPDefaults.retryMaxDelay,
    maxTotalTime: Duration = SFTPDefaults.retryMaxTotalTime,
    jitter: @escaping @Sendable (Duration) -> Duration = SFTPRetryPolicy.equalJitter
  ) {
    self.maxAttempts = maxAttempts
    self.baseDelay = baseDelay
    self.maxDelay = maxDelay
    self.maxTotalTime = maxTotalTime
    self.jitter = jitter
  }

  /// A random delay between half of `delay` and `delay`.
  @Sendable public static func equalJitter(_ delay: Duration) -> Duration {
    let nanoseconds = delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000
    guard nanoseconds > 1 else { return delay }
    return .nanoseconds(Int64.random(in: (nanoseconds / 2)...nanoseconds))
  }

  /// The wait after `failedAttempts` failures (1 for the first failure).
  public func delay(afterFailedAttempts failedAttempts: Int) -> Duration {
    var delay = baseDelay
    var step = 1
    while step < failedAttempts && delay < maxDelay {
      delay = delay * 2
      step += 1
    }
    return jitter(min(delay, maxDelay))
  }
}

/// Delivers a firm's extract set to an SFTP server.
///
/// Layout: `BASE/<firm_id>/<business_date>/<file>`. Each file is written under
/// `.<name>.part-<run_id>` in the target directory, flushed (when the server offers
/// `fsync@openssh.com`), size-checked with `stat`, then renamed to its final name, so nothing
/// partial ever shows under a final name. The manifest goes last, after every data file is in place.
///
/// A final name that already holds the same bytes (same size and SHA-256) is left alone
/// (`.alreadyPresent`); different bytes are a `.conflictingFile` error unless `resend` is true, in
/// which case the old file is removed and the new one renamed into place. The manifest's final
/// name is looked at before anything is sent (``Destination``): a manifest of the same set is
/// recognised (nothing sent), any other one stops the delivery unless `resend`.
public struct SFTPDestination: Destination {
  public struct Configuration: Sendable {
    public var endpoint: SFTPEndpoint
    /// The remote base directory.
    public var remoteBase: String
    public var identity: SFTPIdentity
    public var hostKeys: SFTPHostKeyPolicy
    /// Create missing remote directories (`BASE/<firm>/<date>`); off by default, so a missing
    /// directory is an error.
    public var allowCreateDirectories: Bool
    public var timeouts: SFTPTimeouts
    /// A bound on the whole delivery of one set, retries included.
    public var overallTimeout: Duration
    public var retry: SFTPRetryPolicy
    /// Permission bits for uploaded files.
    public var filePermissions: Int
    /// Files go to `remoteBase/<firm_id>/<business_date>/` (the local layout); when false, to
    /// `remoteBase` itself (a firm's configured directory, its `{date}` already filled in).
    public var mirrorLocalLayout = true

    public init(
      endpoint: SFTPEndpoint, remoteBase: String, identity: SFTPIdentity, hostKeys: SFTPHostKeyPolicy,
      allowCreateDirectories: Bool = false, timeouts: SFTPTimeouts = SFTPTimeouts(),
      overallTimeout: Duration = SFTPDefaults.deliveryOverallTimeout,
      retry: SFTPRetryPolicy = SFTPRetryPolicy(),
      filePermissions: Int = 0o644
    ) {
      self.endpoint = endpoint
      self.remoteBase = remoteBase
      self.identity = identity
      self.hostKeys = hostKeys
      self.allowCreateDirectories = allowCreateDirectories
      self.timeouts = timeouts
      self.overallTimeout = overallTimeout
      self.retry = retry
      self.filePermissions = filePermissions
    }

    /// A configuration from an `sftp://USER@HOST:PORT/PATH` URL.
    public init(
      url: String, identity: SFTPIdentity, hostKeys: SFTPHostKeyPolicy, allowCreateDirectories: Bool = false
    ) throws(SFTPError) {
      let parsed = try SFTPURL(parsing: url)
      self.init(
        endpoint: parsed.endpoint, remoteBase: parsed.path, identity: identity, hostKeys: hostKeys,
        allowCreateDirectories: allowCreateDirectories)
    }
  }

  /// Progress notices, for logs and tests. Called on the delivery's own thread.
  public enum Event: Sendable {
    case connecting(attempt: Int)
    case connected(hostKeyFingerprint: String)
    /// A file is about to be uploaded under its temporary name.
    case uploading(fileName: String, temporaryPath: String, attempt: Int)
    /// Bytes of the current file accepted by the server so far.
    case progress(fileName: String, bytesSent: Int)
    /// A file is in place under its final name (or already was).
    case placed(fileName: String, remotePath: String, outcome: DeliveredFile.Outcome)
    /// A transient failure; the file is tried again after `delay` on a new connection.
    case retrying(fileName: String, failedAttempts: Int, delay: Duration, error: SFTPError)
  }

  public var configuration: Configuration
  public var observer: (@Sendable (Event) -> Void)?

  public init(configuration: Configuration, observer: (@Sendable (Event) -> Void)? = nil) {
    self.configuration = configuration
    self.observer = observer
  }

  /// `sftp://user@host:port/base` (no key path, no passphrase).
  public var displayName: String {
    SFTPURL(endpoint: configuration.endpoint, path: configuration.remoteBase).description
  }

  public func deliver(_ set: DeliverySet, resend: Bool, logger: Logger) async throws(DeliveryError)
    -> [DeliveredFile]
  {
    // libssh2 work blocks (bounded by the timeouts), so it runs on its own thread rather than on
    // the cooperative pool.
    let result: Result<[DeliveredFile], DeliveryError> = await withCheckedContinuation { continuation in
      let thread = Thread {
        continuation.resume(returning: self.deliverBlocking(set, resend: resend, logger: logger))
      }
      thread.name = "sftp-delivery"
      thread.start()
    }
    return try result.get()
  }

  // MARK: The delivery

  private enum Failure: Error {
    case sftp(SFTPError)
    case delivery(DeliveryError.Code, String)
    /// A refusal about another file than the one being placed.
    case deliveryOf(String, DeliveryError.Code, String)
  }

  private func deliverBlocking(_ set: DeliverySet, resend: Bool, logger: Logger) -> Result<
    [DeliveredFile], DeliveryError
  > {
    var logger = logger
    logger[metadataKey: "destination"] = "\(displayName)"
    logger[metadataKey: "firm_id"] = "\(set.firmID)"
    let started = ContinuousClock.now
    let overallDeadline = started + configuration.overallTimeout
    var delivered: [DeliveredFile] = []

    func reject(
      _ code: DeliveryError.Code, _ fileName: String?, _ detail: String, cause: (any Error)? = nil
    ) -> DeliveryError {
      DeliveryError(
        code: code, destination: displayName, fileName: fileName, completed: delivered, detail: detail,
        cause: cause)
    }

    for name in [set.firmID, set.businessDate, set.runID] + (set.files + [set.manifest]).map(\.fileName)
    where !Self.isSafeName(name) {
      return .failure(reject(.configuration, nil, "'\(name)' cannot be used as a remote path component"))
    }
    if Set(set.files.map(\.fileName) + [set.manifest.fileName]).count != set.files.count + 1 {
      return .failure(reject(.configuration, nil, "the set names the same file twice"))
    }
    if SFTPURL.climbs(configuration.remoteBase) {
      return .failure(
        reject(.configuration, nil, "the remote base path must not contain a '..' component (remote_dir)"))
    }
    let directory =
      configuration.mirrorLocalLayout
      ? Self.join(configuration.remoteBase, set.firmID, set.businessDate) : configuration.remoteBase

    var connection: SFTPConnection?
    var directoryReady = false
    var manifestChecked = false
    defer { connection?.disconnect() }

    for item in set.files + [set.manifest] {
      var attempts = 0
      while true {
        attempts += 1
        let temporary = Self.join(directory, ".\(item.fileName).part-\(set.runID)")
        do {
          if connection?.isUsable != true {
            connection?.disconnect()
            connection = nil
            directoryReady = false
            observer?(.connecting(attempt: attempts))
            let fresh = try wrap {
              () throws(SFTPError) in
              try SFTPConnection.connect(
                to: configuration.endpoint, identity: configuration.identity,
                hostKeys: configuration.hostKeys,
                timeouts: configuration.timeouts, deadline: overallDeadline, logger: logger)
            }
            connection = fresh
            observer?(.connected(hostKeyFingerprint: fresh.hostKeyFingerprint))
          }
          guard let connection else { continue }
          if !directoryReady {
            try prepareDirectory(directory, on: connection)
            directoryReady = true
          }
          if !manifestChecked {
            if let found = try checkManifest(
              set, in: directory, resend: resend, on: connection, logger: logger)
            {
              for file in found {
                observer?(
                  .placed(fileName: file.fileName, remotePath: file.remotePath, outcome: file.outcome))
              }
              return .success(found)
            }
            manifestChecked = true
          }
          let outcome = try place(
            item, in: directory, temporary: temporary, attempt: attempts, resend: resend, on: connection,
            logger: logger)
          let remotePath = Self.join(directory, item.fileName)
          delivered.append(
            DeliveredFile(
              fileName: item.fileName, remotePath: remotePath, sha256: item.sha256, attempts: attempts,
              outcome: outcome))
          observer?(.placed(fileName: item.fileName, remotePath: remotePath, outcome: outcome))
          logger.info(
            "file placed",
            metadata: [
              "file": "\(item.fileName)", "outcome": "\(outcome.rawValue)",
              "attempts": .stringConvertible(attempts),
            ])
          break
        } catch {
          // Leave no temporary file behind while the connection still allows removing it.
          if let connection, connection.isUsable { try? connection.remove(temporary) }
          switch error {
          case .delivery(let code, let detail):
            return .failure(reject(code, item.fileName, detail))
          case .deliveryOf(let fileName, let code, let detail):
            return .failure(reject(code, fileName, detail))
          case .sftp(let sftpError):
            let elapsed = ContinuousClock.now - started
            let delay = configuration.retry.delay(afterFailedAttempts: attempts)
            let retryable =
              sftpError.isTransient && attempts < configuration.retry.maxAttempts
              && elapsed + delay < configuration.retry.maxTotalTime
              && ContinuousClock.now + delay < overallDeadline
            if !retryable {
              let suffix = attempts > 1 ? " (after \(attempts) attempts)" : ""
              return .failure(
                reject(
                  Self.deliveryCode(for: sftpError), item.fileName, "\(sftpError)\(suffix)", cause: sftpError)
              )
            }
            logger.warning(
              "transient failure, retrying on a new connection",
              metadata: [
                "file": "\(item.fileName)", "attempt": .stringConvertible(attempts), "delay": "\(delay)",
                "error": "\(sftpError)",
              ])
            observer?(
              .retrying(fileName: item.fileName, failedAttempts: attempts, delay: delay, error: sftpError))
            connection?.disconnect()
            connection = nil
            Self.sleep(delay)
          }
        }
      }
    }
    return .success(delivered)
  }

  @discardableResult
  private func wrap<T>(_ body: () throws(SFTPError) -> T) throws(Failure) -> T {
    do {
      return try body()
    } catch {
      throw .sftp(error)
    }
  }

  private func prepareDirectory(_ directory: String, on connection: SFTPConnection) throws(Failure) {
    if let attributes = try wrap({ () throws(SFTPError) in try connection.attributes(of: directory) }) {
      guard attributes.isDirectory else {
        throw .delivery(.remoteRefused, "remote path \(directory) exists and is not a directory")
      }
      return
    }
    guard configuration.allowCreateDirectories else {
      throw .delivery(
        .remoteRefused,
        "remote directory \(directory) does not exist and creating directories is not allowed "
          + "(create it on the server, or allow creating it: --create-dirs on the command line, "
          + "allow_create_dirs: true in the firm's sftp destination in the configuration)")
    }
    try wrap { () throws(SFTPError) in try connection.createDirectories(directory) }
  }

  /// Looks at the manifest's final name before anything is sent (``Destination/deliver(_:resend:logger:)``).
  /// Nothing there: nil, the delivery goes on. With `resend`, a different manifest there is removed
  /// (before any data file is replaced) and the delivery goes on. Without it, a manifest of the
  /// same set with every data file in place is the delivery's result (nothing sent); anything
  /// else stops the delivery.
  private func checkManifest(
    _ set: DeliverySet, in directory: String, resend: Bool, on connection: SFTPConnection, logger: Logger
  ) throws(Failure) -> [DeliveredFile]? {
    let manifest = set.manifest
    let target = Self.join(directory, manifest.fileName)
    guard let attributes = try wrap({ () throws(SFTPError) in try connection.attributes(of: target) }) else {
      return nil
    }
    guard !attributes.isDirectory else {
      throw .deliveryOf(manifest.fileName, .remoteRefused, "the final name \(target) is a directory")
    }
    // A manifest is a few kilobytes; anything far larger is not one of ours, and is not read.
    var existing: [UInt8] = []
    if (attributes.size ?? 0) <= 16 << 20 {
      try wrap { () throws(SFTPError) in try connection.read(target) { existing.append(contentsOf: $0) } }
    }
    if resend {
      if Hex.lowercase(SHA256.hash(data: existing)) != manifest.sha256 {
        try wrap { () throws(SFTPError) in try connection.remove(target) }
        logger.notice(
          "resend: removed the previous manifest first", metadata: ["file": "\(manifest.fileName)"])
      }
      return nil
    }
    guard let ours = FileManager.default.contents(atPath: manifest.localPath) else {
      throw .deliveryOf(manifest.fileName, .localFile, "cannot read \(manifest.localPath)")
    }
    let decision = try ManifestRecognition.decide(
      set, existing: existing, ours: Array(ours), target: target, path: { Self.join(directory, $0) },
      logger: logger
    ) { (item, path) throws(Failure) -> String? in
      let attributes = try wrap { () throws(SFTPError) in try connection.attributes(of: path) }
      guard let attributes else { return "is missing" }
      guard !attributes.isDirectory, try holdsSameBytes(path, size: attributes.size, as: item, on: connection)
      else { return "holds different bytes" }
      return nil
    }
    switch decision {
    case .recognised(let found): return found
    case .refused(let fileName, let detail): throw .deliveryOf(fileName, .conflictingFile, detail)
    }
  }

  /// Puts one file in place; see the type's documentation for the protocol.
  private func place(
    _ item: DeliveryItem, in directory: String, temporary: String, attempt: Int, resend: Bool,
    on connection: SFTPConnection, logger: Logger
  ) throws(Failure) -> DeliveredFile.Outcome {
    let final = Self.join(directory, item.fileName)

    var replacing = false
    if let existing = try wrap({ () throws(SFTPError) in try connection.attributes(of: final) }) {
      if existing.isDirectory {
        throw .delivery(.remoteRefused, "the final name \(final) is a directory")
      }
      if try holdsSameBytes(final, size: existing.size, as: item, on: connection) {
        return .alreadyPresent
      }
      guard resend else {
        throw .delivery(
          .conflictingFile,
          "\(final) already exists with different content (\(existing.size.map(String.init) ?? "?") bytes; "
            + "expected \(item.byteCount) bytes, sha256 \(item.sha256)); not replaced without resend")
      }
      replacing = true
    }

    observer?(.uploading(fileName: item.fileName, temporaryPath: temporary, attempt: attempt))
    var hasher = SHA256()
    var sent = 0
    let observer = self.observer
    let report = try wrap { () throws(SFTPError) in
      try connection.upload(from: item.localPath, to: temporary, permissions: configuration.filePermissions) {
        chunk in
        hasher.update(bufferPointer: chunk)
        sent += chunk.count
        observer?(.progress(fileName: item.fileName, bytesSent: sent))
      }
    }
    let localDigest = Hex.lowercase(hasher.finalize())
    guard report.bytesWritten == item.byteCount, localDigest == item.sha256 else {
      throw .delivery(
        .localFile,
        "\(item.localPath) is not what the set says: \(report.bytesWritten) bytes with sha256 \(localDigest), "
          + "expected \(item.byteCount) bytes with sha256 \(item.sha256)")
    }
    let uploaded = try wrap { () throws(SFTPError) in try connection.attributes(of: temporary) }
    guard let size = uploaded?.size, size == item.byteCount else {
      throw .sftp(
        SFTPError(
          code: .sizeMismatch, step: .stat, host: configuration.endpoint.host,
          port: configuration.endpoint.port,
          path: temporary,
          detail:
            "the uploaded file has \(uploaded?.size.map(String.init) ?? "no") bytes, expected \(item.byteCount)"
        ))
    }
    if replacing {
      do {
        try connection.remove(final)
      } catch  where error.code == .noSuchFile {
        // Already gone.
      } catch {
        throw .sftp(error)
      }
      logger.notice("resend: removed the previous final file", metadata: ["file": "\(item.fileName)"])
    }
    do {
      try connection.rename(temporary, to: final)
    } catch  where error.code == .remoteFailure {
      // The final name appeared meanwhile (OpenSSH will not rename over it).
      guard let now = try wrap({ () throws(SFTPError) in try connection.attributes(of: final) }) else {
        throw .sftp(error)
      }
      if try holdsSameBytes(final, size: now.size, as: item, on: connection) {
        try? connection.remove(temporary)
        return .alreadyPresent
      }
      throw .delivery(.conflictingFile, "\(final) appeared with different content while uploading")
    } catch {
      throw .sftp(error)
    }
    return .delivered
  }

  private func holdsSameBytes(
    _ path: String, size: Int?, as item: DeliveryItem, on connection: SFTPConnection
  )
    throws(Failure) -> Bool
  {
    guard size == item.byteCount else { return false }
    var hasher = SHA256()
    try wrap { () throws(SFTPError) in
      try connection.read(path) { hasher.update(bufferPointer: $0) }
    }
    return Hex.lowercase(hasher.finalize()) == item.sha256
  }

  // MARK: Helpers

  static func deliveryCode(for error: SFTPError) -> DeliveryError.Code {
    switch error.code {
    case .hostKeyUnknown, .hostKeyChanged: .hostKeyRejected
    case .authenticationFailed: .authenticationFailed
    case .privateKeyPermissions, .privateKeyUnreadable, .knownHostsFile, .invalidArgument: .configuration
    case .permissionDenied, .noSuchFile, .remoteFailure, .sizeMismatch: .remoteRefused
    case .timedOut: .timedOut
    case .localFile: .localFile
    default: .unreachable
    }
  }

  static func isSafeName(_ name: String) -> Bool {
    !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\0")
  }

  static func join(_ parts: String...) -> String {
    var result = ""
    for part in parts {
      if result.isEmpty {
        result = part
      } else {
        while result.count > 1 && result.hasSuffix("/") { result.removeLast() }
        result += result.hasSuffix("/") ? part : "/" + part
      }
    }
    return result
  }

  static func sleep(_ duration: Duration) {
    let (seconds, attoseconds) = duration.components
    guard seconds > 0 || attoseconds > 0 else { return }
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
  }
}
