import Logging

/// An authenticated SFTP connection over libssh2.
///
/// Every operation is bounded in time: libssh2 runs non-blocking and this class waits on the
/// socket itself with `poll`, so a server that stops answering (or is stopped with SIGSTOP)
/// produces a `.timedOut` error after ``SFTPTimeouts/operation`` instead of hanging. While
/// waiting it sends SSH keepalives every ``SFTPTimeouts/keepaliveInterval``.
///
/// After a timeout or a lost connection the connection is unusable (``isUsable`` is false) and
/// every further call fails at once with `.connectionLost`; make a new connection.
///
/// Not thread-safe: use one connection from one thread at a time.
public final class SFTPConnection {
  /// Bytes per `libssh2_sftp_write` call: libssh2 1.10 pipelines only within one call, in
  /// 30,000-byte packets, so each call passes 34 packets' worth.
  public static let writeChunkSize = 1_020_000
  /// Bytes per read request batch.
  public static let readChunkSize = 1_020_000

  public let endpoint: SFTPEndpoint
  public let timeouts: SFTPTimeouts
  /// The server's host key as OpenSSH shows it: `SHA256:` and base64 without padding.
  public let hostKeyFingerprint: String
  /// The server's host-key algorithm, e.g. `ssh-ed25519`.
  public let hostKeyAlgorithm: String
  /// An absolute bound on every operation (for example the end of an overall delivery budget).
  public var deadline: ContinuousClock.Instant?
  /// Whether the server flushes files on request (`fsync@openssh.com`); nil until first tried.
  public private(set) var serverSupportsFsync: Bool?

  let session: SessionBox
  let sftp: SFTPBox
  let logger: Logger
  private var closed = false

  private init(
    endpoint: SFTPEndpoint, timeouts: SFTPTimeouts, fingerprint: String, algorithm: String,
    deadline: ContinuousClock.Instant?, session: SessionBox, sftp: SFTPBox, logger: Logger
  ) {
    self.endpoint = endpoint
    self.timeouts = timeouts
    self.hostKeyFingerprint = fingerprint
    self.hostKeyAlgorithm = algorithm
    self.deadline = deadline
    self.session = session
    self.sftp = sftp
    self.logger = logger
  }

  /// Whether the connection can still be used.
  public var isUsable: Bool { !closed && !session.broken }

  /// The running libssh2 version, e.g. `1.10.0`.
  public static var libssh2Version: String { LibSSH2.version }

  // MARK: Connecting

  /// Connects, verifies the host key, authenticates with the key, and opens the SFTP channel.
  ///
  /// - Host key: checked against `hostKeys.knownHostsPath` before authentication. Unknown or
  ///   changed keys are refused (`.hostKeyUnknown`, `.hostKeyChanged`) unless trust-on-first-use
  ///   is on and the host has no entry at all, in which case the key is appended to the file.
  /// - Key file: refused with `.privateKeyPermissions` if readable by group or others.
  ///
  /// The host-key checks are in HostKeyVerification.swift, the key-file checks in KeyFile.swift.
  public static func connect(
    to endpoint: SFTPEndpoint, identity: SFTPIdentity, hostKeys: SFTPHostKeyPolicy,
    timeouts: SFTPTimeouts = SFTPTimeouts(), deadline: ContinuousClock.Instant? = nil, logger: Logger
  ) throws(SFTPError) -> SFTPConnection {
    func fail(_ code: SFTPError.Code, _ step: SFTPError.Step, path: String? = nil, _ detail: String)
      -> SFTPError
    {
      SFTPError(code: code, step: step, host: endpoint.host, port: endpoint.port, path: path, detail: detail)
    }
    func bound(_ duration: Duration) -> ContinuousClock.Instant {
      let local = ContinuousClock.now + duration
      if let deadline, deadline < local { return deadline }
      return local
    }
    guard LibSSH2.ensureInitialized() else { throw fail(.library, .connect, "libssh2_init failed") }
    guard !endpoint.host.isEmpty, !endpoint.user.isEmpty, (1...65535).contains(endpoint.port) else {
      throw fail(.invalidArgument, .connect, "host, user and a port in 1...65535 are required")
    }

    // The private key must be ours alone.
    let keyPath = identity.privateKeyPath
    if let refusal = KeyFile.refusal(privateKeyPath: keyPath) {
      throw fail(refusal.code, .authenticate, refusal.detail)
    }

    // The known_hosts file (a missing file is an empty one).
    let knownHostsBytes: [UInt8]
    switch HostKeyVerification.readKnownHosts(hostKeys.knownHostsPath) {
    case .success(let bytes): knownHostsBytes = bytes
    case .failure(let refusal):
      throw fail(refusal.code, .hostKey, path: hostKeys.knownHostsPath, refusal.detail)
    }

    let socket = try TCP.connect(host: endpoint.host, port: endpoint.port, deadline: bound(timeouts.connect))
    guard let pointer = LibSSH2.sessionInit() else {
      TCP.closeSocket(socket)
      throw fail(.library, .handshake, "libssh2 could not create a session")
    }
    let session = SessionBox(
      pointer: pointer, socket: socket, host: endpoint.host, port: endpoint.port, timeouts: timeouts)
    LibSSH2.setBlocking(pointer, false)

    guard let knownPointer = LibSSH2.knownHostsInit(pointer) else {
      throw fail(.library, .hostKey, "libssh2 could not create a known-hosts collection")
    }
    let known = KnownHostsBox(pointer: knownPointer, session: session)
    HostKeyVerification.load(known, bytes: knownHostsBytes, path: hostKeys.knownHostsPath, logger: logger)
    let hostName = endpoint.knownHostsName
    let knownTypes = HostKeyVerification.knownKeyTypes(known, hostName: hostName)
    if !knownTypes.isEmpty {
      // A key of another type than the recorded one would read as "not found", so ask only for
      // the recorded types.
      let methods = knownTypes.map(\.methodName).joined(separator: ",")
      let rc = LibSSH2.preferHostKeyMethods(pointer, methods)
      if rc != 0 {
        logger.warning(
          "libssh2 did not accept the host key method preference",
          metadata: ["methods": "\(methods)", "code": .stringConvertible(rc)])
      }
    }

    // Handshake.
    let handshake = try session.call(.handshake, path: nil, deadline: bound(timeouts.operation)) {
      LibSSH2.handshake(pointer, socket: socket)
    }
    if handshake != 0 {
      if !knownTypes.isEmpty
        && (handshake == LibSSH2.errorKexFailure || handshake == LibSSH2.errorMethodNotSupported)
      {
        throw session.error(
          .hostKeyChanged, .handshake, path: hostKeys.knownHostsPath, rc: handshake,
          "host \(endpoint.host) port \(endpoint.port) does not offer the host key type known for it "
            + "(\(knownTypes.map(\.methodName).joined(separator: ", "))) in \(hostKeys.knownHostsPath)")
      }
      throw session.failure(.handshake, path: nil, rc: handshake)
    }

    // Host key, before authentication.
    let (fingerprint, keyType) = try HostKeyVerification.verify(
      session: session, known: known, endpoint: endpoint, hostKeys: hostKeys, knownTypes: knownTypes,
      knownHostsBytes: knownHostsBytes, logger: logger)

    // Authentication.
    // The key's path is never put in an error (errors reach the logs): "the identity file".
    let auth = try session.call(.authenticate, path: nil, deadline: bound(timeouts.operation)) {
      LibSSH2.authenticate(
        pointer, user: endpoint.user, privateKeyPath: keyPath, passphrase: identity.passphrase)
    }
    if auth != 0 {
      var hint = ""
      if !LibSSH2.supportsRSASHA2 && KeyFile.looksLikeRSA(keyPath) {
        hint =
          " This is an RSA key: RSA keys need libssh2 1.11 or later (rsa-sha2 signatures) and this "
          + "system has libssh2 \(LibSSH2.version); use an ed25519 or ECDSA key."
      }
      if auth == LibSSH2.errorFile {
        throw session.error(
          .privateKeyUnreadable, .authenticate, path: nil, rc: auth,
          "could not load the private key (wrong passphrase, or an unsupported key format)." + hint)
      }
      if auth == LibSSH2.errorAuthenticationFailed || auth == LibSSH2.errorPublicKeyUnverified {
        throw session.error(
          .authenticationFailed, .authenticate, path: nil, rc: auth,
          "the server refused public-key authentication for user \(endpoint.user)." + hint)
      }
      throw session.failure(.authenticate, path: nil, rc: auth)
    }

    let interval = Int(timeouts.keepaliveInterval.components.seconds)
    LibSSH2.configureKeepalive(pointer, wantReply: true, intervalSeconds: max(interval, 1))
    session.keepaliveActive = true

    // The SFTP channel.
    guard
      let sftpPointer = try session.callForPointer(
        .sftpInit, path: nil, deadline: bound(timeouts.operation),
        {
          LibSSH2.sftpInit(pointer)
        })
    else {
      let rc = LibSSH2.lastErrno(pointer)
      let error = session.failure(.sftpInit, path: nil, rc: rc)
      throw error
    }
    let sftp = SFTPBox(pointer: sftpPointer, session: session)
    logger.debug(
      "sftp connected", metadata: ["endpoint": "\(endpoint)", "fingerprint": "\(fingerprint)"])
    return SFTPConnection(
      endpoint: endpoint, timeouts: timeouts, fingerprint: fingerprint, algorithm: keyType.methodName,
      deadline: deadline, session: session, sftp: sftp, logger: logger)
  }

  // MARK: Operations

  private func stepDeadline() -> ContinuousClock.Instant {
    let local = ContinuousClock.now + timeouts.operation
    if let deadline, deadline < local { return deadline }
    return local
  }

  private func ensureOpen(_ step: SFTPError.Step, path: String?) throws(SFTPError) {
    if closed { throw session.error(.connectionLost, step, path: path, "the connection was closed") }
    if session.broken {
      throw session.error(.connectionLost, step, path: path, "the connection had already failed")
    }
    if path?.contains("\0") == true { throw session.error(.invalidArgument, step, path: path, "NUL in path") }
  }

  /// The attributes of `path`, or nil if it does not exist.
  public func attributes(of path: String) throws(SFTPError) -> SFTPAttributes? {
    try ensureOpen(.stat, path: path)
    var result: (code: Int, size: UInt64?, permissions: UInt?) = (0, nil, nil)
    let rc = try session.call(.stat, path: path, deadline: stepDeadline()) {
      result = LibSSH2.stat(sftp.pointer, path: path)
      return result.code
    }
    if rc != 0 {
      let error = session.failure(.stat, path: path, rc: rc, sftp: sftp.pointer)
      if error.code == .noSuchFile { return nil }
      throw error
    }
    return SFTPAttributes(
      size: result.size.map { Int(clamping: $0) }, mode: result.permissions.map { Int($0) })
  }

  /// Creates `path` and any missing parents (like `mkdir -p`).
  public func createDirectories(_ path: String, permissions: Int = 0o755) throws(SFTPError) {
    try ensureOpen(.mkdir, path: path)
    let parts = path.split(separator: "/")
    var current = path.hasPrefix("/") ? "" : "."
    for part in parts {
      current += "/" + part
      if let existing = try attributes(of: current) {
        if !existing.isDirectory {
          throw session.error(.remoteFailure, .mkdir, path: current, "exists and is not a directory")
        }
        continue
      }
      let rc = try session.call(.mkdir, path: current, deadline: stepDeadline()) {
        LibSSH2.mkdir(sftp.pointer, path: current, mode: permissions)
      }
      if rc != 0 {
        let error = session.failure(.mkdir, path: current, rc: rc, sftp: sftp.pointer)
        // Someone else may have made it meanwhile.
        if error.code == .remoteFailure, try attributes(of: current)?.isDirectory == true { continue }
        throw error
      }
    }
  }

  /// Uploads a local file to `remotePath` (created or truncated), in writes of
  /// ``writeChunkSize`` bytes, then asks the server to flush it to disk when it offers
  /// `fsync@openssh.com`, then closes it. `written` sees each chunk after the server took it.
  public func upload(
    from localPath: String, to remotePath: String, permissions: Int = 0o644,
    written: (UnsafeRawBufferPointer) -> Void = { _ in }
  ) throws(SFTPError) -> SFTPUploadReport {
    try ensureOpen(.open, path: remotePath)
    let reader: LocalFile.Reader
    do {
      reader = try LocalFile.Reader(path: localPath)
    } catch {
      throw session.error(
        .localFile, .readLocal, path: localPath, "cannot open: \(LocalFile.describe(error))")
    }
    guard
      let handle = try session.callForPointer(
        .open, path: remotePath, deadline: stepDeadline(),
        {
          LibSSH2.openForWriting(sftp.pointer, path: remotePath, mode: permissions)
        })
    else {
      throw session.failure(
        .open, path: remotePath, rc: LibSSH2.lastErrno(session.pointer), sftp: sftp.pointer)
    }
    let file = FileBox(pointer: handle, sftp: sftp, path: remotePath)
    let buffer = UnsafeMutableRawBufferPointer.allocate(
      byteCount: SFTPConnection.writeChunkSize, alignment: 16)
    defer { buffer.deallocate() }
    var total = 0
    while true {
      let count: Int
      do {
        count = try reader.fill(buffer)
      } catch {
        throw session.error(
          .localFile, .readLocal, path: localPath, "read failed: \(LocalFile.describe(error))")
      }
      if count == 0 { break }
      let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
      var offset = 0
      while offset < count {
        // Each call pipelines the rest of the chunk; on EAGAIN it must be repeated unchanged.
        let rc = try session.call(.write, path: remotePath, deadline: stepDeadline()) {
          LibSSH2.write(handle, UnsafeRawBufferPointer(rebasing: chunk[offset...]))
        }
        if rc < 0 { throw session.failure(.write, path: remotePath, rc: rc, sftp: sftp.pointer) }
        offset += rc
      }
      total += count
      written(chunk)
    }
    var synced = false
    if serverSupportsFsync != false {
      let rc = try session.call(.fsync, path: remotePath, deadline: stepDeadline()) { LibSSH2.fsync(handle) }
      if rc == 0 {
        synced = true
        serverSupportsFsync = true
      } else if rc == LibSSH2.errorSFTPProtocol
        && LibSSH2.sftpLastError(sftp.pointer) == LibSSH2.statusOpUnsupported
      {
        serverSupportsFsync = false
        logger.info("the server does not offer fsync@openssh.com; files are not flushed explicitly")
      } else {
        throw session.failure(.fsync, path: remotePath, rc: rc, sftp: sftp.pointer)
      }
    }
    try file.close(deadline: stepDeadline())
    return SFTPUploadReport(bytesWritten: total, synced: synced)
  }

  /// Reads the whole remote file, handing each chunk to `chunk`; returns the byte count.
  @discardableResult
  public func read(_ remotePath: String, chunk: (UnsafeRawBufferPointer) -> Void) throws(SFTPError) -> Int {
    try ensureOpen(.open, path: remotePath)
    guard
      let handle = try session.callForPointer(
        .open, path: remotePath, deadline: stepDeadline(),
        {
          LibSSH2.openForReading(sftp.pointer, path: remotePath)
        })
    else {
      throw session.failure(
        .open, path: remotePath, rc: LibSSH2.lastErrno(session.pointer), sftp: sftp.pointer)
    }
    let file = FileBox(pointer: handle, sftp: sftp, path: remotePath)
    let buffer = UnsafeMutableRawBufferPointer.allocate(
      byteCount: SFTPConnection.readChunkSize, alignment: 16)
    defer { buffer.deallocate() }
    var total = 0
    while true {
      let rc = try session.call(.read, path: remotePath, deadline: stepDeadline()) {
        LibSSH2.read(handle, buffer)
      }
      if rc < 0 { throw session.failure(.read, path: remotePath, rc: rc, sftp: sftp.pointer) }
      if rc == 0 { break }
      chunk(UnsafeRawBufferPointer(rebasing: buffer[0..<rc]))
      total += rc
    }
    try file.close(deadline: stepDeadline())
    return total
  }

  /// The entries of a remote directory (without `.` and `..`), in the server's order, each with
  /// its attributes as the server gives them (OpenSSH: of the entry itself, a link not followed).
  public func list(_ directory: String) throws(SFTPError) -> [SFTPDirectoryEntry] {
    try ensureOpen(.list, path: directory)
    guard
      let handle = try session.callForPointer(
        .list, path: directory, deadline: stepDeadline(),
        {
          LibSSH2.openDirectory(sftp.pointer, path: directory)
        })
    else {
      throw session.failure(
        .list, path: directory, rc: LibSSH2.lastErrno(session.pointer), sftp: sftp.pointer)
    }
    let box = FileBox(pointer: handle, sftp: sftp, path: directory)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
    defer { buffer.deallocate() }
    var entries: [SFTPDirectoryEntry] = []
    while true {
      var entry: (code: Int, size: UInt64?, permissions: UInt?) = (0, nil, nil)
      let rc = try session.call(.list, path: directory, deadline: stepDeadline()) {
        entry = LibSSH2.readDirectory(handle, buffer)
        return entry.code
      }
      if rc < 0 { throw session.failure(.list, path: directory, rc: rc, sftp: sftp.pointer) }
      if rc == 0 { break }
      let name = String(decoding: UnsafeRawBufferPointer(rebasing: buffer[0..<rc]), as: UTF8.self)
      if name == "." || name == ".." { continue }
      entries.append(
        SFTPDirectoryEntry(
          name: name,
          attributes: SFTPAttributes(
            size: entry.size.map { Int(clamping: $0) }, mode: entry.permissions.map { Int($0) })))
    }
    try box.close(deadline: stepDeadline())
    return entries
  }

  /// Renames `source` to `target`. SFTP v3 (OpenSSH) refuses when `target` exists.
  public func rename(_ source: String, to target: String) throws(SFTPError) {
    try ensureOpen(.rename, path: source)
    let rc = try session.call(.rename, path: source, deadline: stepDeadline()) {
      LibSSH2.rename(sftp.pointer, from: source, to: target)
    }
    if rc != 0 {
      var error = session.failure(.rename, path: source, rc: rc, sftp: sftp.pointer)
      error.detail += " (renaming to \(target))"
      throw error
    }
  }

  /// Removes a remote file.
  public func remove(_ path: String) throws(SFTPError) {
    try ensureOpen(.remove, path: path)
    let rc = try session.call(.remove, path: path, deadline: stepDeadline()) {
      LibSSH2.unlink(sftp.pointer, path: path)
    }
    if rc != 0 { throw session.failure(.remove, path: path, rc: rc, sftp: sftp.pointer) }
  }

  /// Closes the SFTP channel and the session (politely if the connection still works; bounded).
  public func disconnect() {
    guard !closed else { return }
    closed = true
    sftp.release()
    session.release()
  }
}
