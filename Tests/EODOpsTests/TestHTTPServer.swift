import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// A minimal HTTP/1.1 server on 127.0.0.1 (POSIX sockets, one connection at a time) that answers
/// with scripted responses and records the requests it received.
final class TestHTTPServer: Sendable {
  struct Request: Sendable {
    var method: String
    var path: String
    /// Lower-cased names.
    var headers: [String: String]
    var body: Data
    var receivedAt: Date
  }

  struct Response: Sendable {
    var status: Int
    var headers: [String: String] = [:]
    var body: String = ""
  }

  struct State {
    var script: [Response]
    var requests: [Request] = []
    var stopped = false
  }

  let port: UInt16
  private let listener: Int32
  private let state: Mutex<State>

  init(responses: [Response]) throws {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EIO) }
    var yes: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard bound == 0, listen(fd, 16) == 0 else {
      close(fd)
      throw POSIXError(.EADDRINUSE)
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    port = UInt16(bigEndian: address.sin_port)
    listener = fd
    state = Mutex(State(script: responses))
    Thread.detachNewThread { [self] in self.serve() }
  }

  var url: URL {
    get throws {
      guard let url = URL(string: "http://127.0.0.1:\(port)/hooks/eod") else { throw POSIXError(.EINVAL) }
      return url
    }
  }

  var requests: [Request] { state.withLock { $0.requests } }

  func stop() {
    state.withLock { $0.stopped = true }
  }

  private func serve() {
    defer { close(listener) }
    while !state.withLock({ $0.stopped }) {
      var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
      guard poll(&poller, 1, 50) > 0 else { continue }
      let connection = accept(listener, nil, nil)
      guard connection >= 0 else { continue }
      handle(connection)
      close(connection)
    }
  }

  private func handle(_ connection: Int32) {
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var buffer = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 65536)
    let separator: [UInt8] = Array("\r\n\r\n".utf8)
    var headerEnd: Int?
    var contentLength = 0
    while true {
      if headerEnd == nil, let range = buffer.firstRange(of: separator) {
        headerEnd = range.upperBound
        let head = String(decoding: buffer[..<range.lowerBound], as: UTF8.self)
        for line in head.split(separator: "\r\n").dropFirst() {
          let parts = line.split(separator: ":", maxSplits: 1)
          if parts.count == 2, parts[0].lowercased() == "content-length" {
            contentLength = Int(parts[1].trimmingCharacters(in: .whitespaces)) ?? 0
          }
        }
      }
      if let headerEnd, buffer.count >= headerEnd + contentLength { break }
      let count = chunk.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
      if count <= 0 { return }
      buffer.append(contentsOf: chunk[0..<count])
    }
    guard let headerEnd else { return }
    let head = String(decoding: buffer[..<(headerEnd - 4)], as: UTF8.self)
    let lines = head.split(separator: "\r\n")
    let requestLine = lines.first.map { $0.split(separator: " ") } ?? []
    var headers: [String: String] = [:]
    for line in lines.dropFirst() {
      let parts = line.split(separator: ":", maxSplits: 1)
      if parts.count == 2 {
        headers[parts[0].lowercased()] = parts[1].trimmingCharacters(in: .whitespaces)
      }
    }
    let request = Request(
      method: requestLine.count > 0 ? String(requestLine[0]) : "",
      path: requestLine.count > 1 ? String(requestLine[1]) : "",
      headers: headers, body: Data(buffer[headerEnd..<(headerEnd + contentLength)]), receivedAt: Date())
    let response = state.withLock { state -> Response in
      state.requests.append(request)
      return state.script.isEmpty ? Response(status: 500) : state.script.removeFirst()
    }
    var text = "HTTP/1.1 \(response.status) Status\r\n"
    for (name, value) in response.headers { text += "\(name): \(value)\r\n" }
    text += "Content-Length: \(response.body.utf8.count)\r\nConnection: close\r\n\r\n\(response.body)"
    let bytes = Array(text.utf8)
    var sent = 0
    while sent < bytes.count {
      let count = bytes[sent...].withUnsafeBytes {
        send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
      }
      if count <= 0 { return }
      sent += count
    }
  }
}
