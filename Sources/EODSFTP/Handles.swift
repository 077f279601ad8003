// Final classes that own libssh2's C handles and free them in deinit. Each holds a strong reference
// to the handle it depends on, so the session is always freed last.
#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Owns the libssh2 session and its socket, and waits (with poll) whenever libssh2 says EAGAIN.
final class SessionBox {
  let pointer: LibSSH2.Session
  let socket: Int32
  let host: String
  let port: Int
  let keepaliveInterval: Duration
  /// How long teardown may wait for a polite goodbye.
  let teardownBound: Duration
  /// Keepalives are only sent once the session is authenticated.
  var keepaliveActive = false
  private(set) var broken = false
  private var released = false

  init(pointer: LibSSH2.Session, socket: Int32, host: String, port: Int, timeouts: SFTPTimeouts) {
    self.pointer = pointer
    self.socket = socket
    self.host = host
    self.port = port
    self.keepaliveInterval = timeouts.keepaliveInterval
    self.teardownBound = min(timeouts.operation, .seconds(5))
  }

  deinit { release() }

  /// Marks the connection unusable and shuts the socket down, so nothing waits on it any more.
  func markBroken() {
    guard !broken else { return }
    broken = true
    TCP.shutdownBoth(socket)
  }

  func error(
    _ code: SFTPError.Code, _ step: SFTPError.Step, path: String?, rc: Int? = nil, status: Int? = nil,
    _ detail: String
  ) -> SFTPError {
    let message = rc.map { _ in LibSSH2.lastError(pointer).message }
    return SFTPError(
      code: code, step: step, host: host, port: port, path: path, libssh2Code: rc, libssh2Message: message,
      sftpStatus: status, detail: detail)
  }

  /// Turns a failed libssh2 return code into an `SFTPError`, marking the connection broken when
  /// the failure means it is gone.
  func failure(_ step: SFTPError.Step, path: String?, rc: Int, sftp: LibSSH2.SFTP? = nil) -> SFTPError {
    if rc == LibSSH2.errorSFTPProtocol, let sftp {
      let status = LibSSH2.sftpLastError(sftp)
      let code: SFTPError.Code
      switch status {
      case LibSSH2.statusNoSuchFile, LibSSH2.statusNoSuchPath: code = .noSuchFile
      case LibSSH2.statusPermissionDenied, LibSSH2.statusWriteProtect: code = .permissionDenied
      case LibSSH2.statusConnectionLost, LibSSH2.statusNoConnection:
        markBroken()
        code = .connectionLost
      default: code = .remoteFailure
      }
      return error(
        code, step, path: path, rc: rc, status: status,
        "the server answered \(SFTPError.statusName(status))")
    }
    if LibSSH2.connectionErrors.contains(rc) {
      markBroken()
      return error(.connectionLost, step, path: path, rc: rc, "the connection was lost")
    }
    return error(.library, step, path: path, rc: rc, "libssh2 reported an error")
  }

  /// Waits until the socket is ready in the direction libssh2 is blocked on, sending keepalives
  /// while waiting; throws `timedOut` (and marks the session broken) once `deadline` passes.
  func wait(_ step: SFTPError.Step, path: String?, deadline: ContinuousClock.Instant) throws(SFTPError) {
    while true {
      if broken { throw error(.connectionLost, step, path: path, "the connection had already failed") }
      if TCP.milliseconds(until: deadline) == 0 {
        markBroken()
        throw error(.timedOut, step, path: path, "no progress from the server within the time bound")
      }
      let directions = LibSSH2.blockDirections(pointer)
      let neither = !directions.inbound && !directions.outbound
      let slice: Duration = neither ? .milliseconds(20) : keepaliveActive ? keepaliveInterval : .seconds(3600)
      let timeout = TCP.milliseconds(until: deadline, cap: slice)
      let result = TCP.wait(
        socket, readable: directions.inbound || neither, writable: directions.outbound, timeout: timeout)
      if let code = result.error {
        markBroken()
        throw error(.connectionLost, step, path: path, "poll failed: \(TCP.errorText(code))")
      }
      if result.ready || neither { return }
      if keepaliveActive {
        let (rc, _) = LibSSH2.sendKeepalive(pointer)
        if rc < 0 && rc != LibSSH2.eagain {
          markBroken()
          throw error(.connectionLost, step, path: path, rc: rc, "sending a keepalive failed")
        }
      }
    }
  }

  /// Calls `body` until it stops returning EAGAIN, waiting on the socket in between.
  func call(
    _ step: SFTPError.Step, path: String?, deadline: ContinuousClock.Instant, _ body: () -> Int
  ) throws(SFTPError) -> Int {
    while true {
      if broken { throw error(.connectionLost, step, path: path, "the connection had already failed") }
      let rc = body()
      if rc != LibSSH2.eagain { return rc }
      try wait(step, path: path, deadline: deadline)
    }
  }

  /// Like `call`, for functions that return a handle (nil with EAGAIN means "call again").
  func callForPointer(
    _ step: SFTPError.Step, path: String?, deadline: ContinuousClock.Instant,
    _ body: () -> OpaquePointer?
  ) throws(SFTPError) -> OpaquePointer? {
    while true {
      if broken { throw error(.connectionLost, step, path: path, "the connection had already failed") }
      if let pointer = body() { return pointer }
      if LibSSH2.lastErrno(pointer) != LibSSH2.eagain { return nil }
      try wait(step, path: path, deadline: deadline)
    }
  }

  /// Runs a freeing call during teardown: politely (bounded) while the connection works, else with
  /// the socket shut down so it cannot wait on the peer.
  func teardownCall(_ body: () -> Int) {
    if !broken {
      let deadline = ContinuousClock.now + teardownBound
      if (try? call(.disconnect, path: nil, deadline: deadline, body)) != nil { return }
    }
    markBroken()
    var spins = 0
    while body() == LibSSH2.eagain && spins < 200 {
      spins += 1
      _ = poll(nil, 0, 1)
    }
  }

  func release() {
    guard !released else { return }
    released = true
    if !broken {
      let deadline = ContinuousClock.now + teardownBound
      _ = try? call(.disconnect, path: nil, deadline: deadline) {
        LibSSH2.disconnect(pointer, reason: "eod-extract done")
      }
    }
    markBroken()
    var spins = 0
    while LibSSH2.sessionFree(pointer) == LibSSH2.eagain && spins < 200 {
      spins += 1
      _ = poll(nil, 0, 1)
    }
    TCP.closeSocket(socket)
  }
}

/// Owns the SFTP subsystem channel.
final class SFTPBox {
  let pointer: LibSSH2.SFTP
  let session: SessionBox
  private var released = false

  init(pointer: LibSSH2.SFTP, session: SessionBox) {
    self.pointer = pointer
    self.session = session
  }

  deinit { release() }

  func release() {
    guard !released else { return }
    released = true
    session.teardownCall { LibSSH2.sftpShutdown(pointer) }
  }
}

/// Owns one open remote file.
final class FileBox {
  let pointer: LibSSH2.Handle
  let sftp: SFTPBox
  let path: String
  private var closed = false

  init(pointer: LibSSH2.Handle, sftp: SFTPBox, path: String) {
    self.pointer = pointer
    self.sftp = sftp
    self.path = path
  }

  deinit {
    if !closed { sftp.session.teardownCall { LibSSH2.closeHandle(pointer) } }
  }

  /// Closes the handle and reports a failure to do so (for writes, the server's last word).
  func close(deadline: ContinuousClock.Instant) throws(SFTPError) {
    guard !closed else { return }
    closed = true
    let rc = try sftp.session.call(.close, path: path, deadline: deadline) { LibSSH2.closeHandle(pointer) }
    if rc != 0 { throw sftp.session.failure(.close, path: path, rc: rc, sftp: sftp.pointer) }
  }
}

/// Owns a libssh2 known-hosts collection.
final class KnownHostsBox {
  let pointer: LibSSH2.KnownHosts
  let session: SessionBox

  init(pointer: LibSSH2.KnownHosts, session: SessionBox) {
    self.pointer = pointer
    self.session = session
  }

  deinit { LibSSH2.knownHostsFree(pointer) }
}
