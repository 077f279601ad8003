// TCP connect with a bound on time: getaddrinfo, then a non-blocking connect per address + poll.
#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

enum TCP {
  /// Milliseconds from now until `deadline`, at least 0, at most `cap`.
  static func milliseconds(until deadline: ContinuousClock.Instant, cap: Duration? = nil) -> Int32 {
    var remaining = deadline - .now
    if let cap, cap < remaining { remaining = cap }
    if remaining <= .zero { return 0 }
    let (seconds, attoseconds) = remaining.components
    let ms = seconds * 1000 + attoseconds / 1_000_000_000_000_000
    return Int32(clamping: max(ms, 1))
  }

  static func errorText(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return String(cString: text)
  }

  /// Connects to `host:port` (IPv4 or IPv6), trying each resolved address until one answers or
  /// `deadline` passes. Returns a non-blocking, close-on-exec socket.
  static func connect(host: String, port: Int, deadline: ContinuousClock.Instant) throws(SFTPError)
    -> Int32
  {
    func fail(_ code: SFTPError.Code, _ step: SFTPError.Step, _ detail: String) -> SFTPError {
      SFTPError(code: code, step: step, host: host, port: port, detail: detail)
    }
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    #if canImport(Glibc) || canImport(Musl)
      hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    #else
      hints.ai_socktype = SOCK_STREAM
    #endif
    hints.ai_flags = AI_ADDRCONFIG
    var list: UnsafeMutablePointer<addrinfo>?
    let rc = getaddrinfo(host, String(port), &hints, &list)
    guard rc == 0, let list else {
      let text = gai_strerror(rc).map { String(cString: $0) } ?? "error \(rc)"
      // A temporary resolver failure may clear up; a name that does not exist will not.
      let code: SFTPError.Code = rc == EAI_AGAIN ? .connectFailed : .resolveFailed
      throw fail(code, .resolve, "cannot resolve host: \(text)")
    }
    defer { freeaddrinfo(list) }

    var failures: [String] = []
    var current: UnsafeMutablePointer<addrinfo>? = list
    while let info = current {
      current = info.pointee.ai_next
      #if canImport(Glibc) || canImport(Musl)
        let type = Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue)
      #else
        let type = SOCK_STREAM
      #endif
      let fd = socket(info.pointee.ai_family, type, info.pointee.ai_protocol)
      if fd < 0 {
        failures.append("socket: \(errorText(errno))")
        continue
      }
      var one: Int32 = 1
      _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
      if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return fd }
      if errno != EINPROGRESS {
        failures.append(errorText(errno))
        close(fd)
        continue
      }
      var pollDescriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
      var ready: Int32 = -1
      repeat {
        let timeout = milliseconds(until: deadline)
        if timeout == 0 {
          ready = 0
          break
        }
        ready = poll(&pollDescriptor, 1, timeout)
      } while ready < 0 && errno == EINTR
      if ready == 0 {
        close(fd)
        throw fail(.timedOut, .connect, "TCP connect did not complete in time")
      }
      var socketError: Int32 = 0
      var length = socklen_t(MemoryLayout<Int32>.size)
      if getsockopt(fd, SOL_SOCKET, SO_ERROR, &socketError, &length) != 0 { socketError = errno }
      if socketError == 0 { return fd }
      failures.append(errorText(socketError))
      close(fd)
    }
    throw fail(.connectFailed, .connect, "cannot connect: \(failures.joined(separator: "; "))")
  }

  /// Waits until `fd` is ready for `events` or `timeout` milliseconds pass; true if ready.
  static func wait(_ fd: Int32, readable: Bool, writable: Bool, timeout: Int32) -> (
    ready: Bool, error: Int32?
  ) {
    var events: Int16 = 0
    if readable { events |= Int16(POLLIN) }
    if writable { events |= Int16(POLLOUT) }
    var descriptor = pollfd(fd: fd, events: events, revents: 0)
    let rc = poll(&descriptor, 1, timeout)
    if rc < 0 { return (false, errno == EINTR ? nil : errno) }
    return (rc > 0, nil)
  }

  /// Stops all traffic on the socket so that libssh2 fails fast instead of waiting.
  static func shutdownBoth(_ fd: Int32) { _ = shutdown(fd, Int32(SHUT_RDWR)) }

  static func closeSocket(_ fd: Int32) { _ = close(fd) }
}
