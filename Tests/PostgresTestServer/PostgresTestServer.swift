import Foundation
import Synchronization

/// A real PostgreSQL 15 for the tests, started by the tests themselves: `initdb` into a temporary
/// folder (as the `postgres` user when the tests run as root: the server refuses root), the
/// server on a free loopback port with its unix socket in that folder, a login role with a
/// password (SCRAM over TCP, as a production server would ask), one database per test. Stopped
/// and deleted when the test process exits. `PGPASSWORD` is set in the test process.
///
/// Missing binaries make ``shared`` nil (the PostgreSQL cases are skipped, and say so), unless
/// `EOD_REQUIRE_POSTGRES=1` (set by `.ci/run`), which the tests turn into a failure.
public final class PostgresTestServer: Sendable {
  public static let binaries = "/usr/lib/postgresql/15/bin"
  public let folder: String
  public let port: Int
  public let user = "eod"
  public let password = "eod-test-password"
  private let owner: String?

  /// Whether a missing PostgreSQL must fail the tests (`EOD_REQUIRE_POSTGRES=1`).
  public static var required: Bool { ProcessInfo.processInfo.environment["EOD_REQUIRE_POSTGRES"] == "1" }

  /// The server, started on first use; nil when PostgreSQL 15 is not installed (or would not start:
  /// then ``startFailure`` says why).
  public static let shared: PostgresTestServer? = {
    guard FileManager.default.isExecutableFile(atPath: binaries + "/initdb") else {
      startFailureText.withLock { $0 = "PostgreSQL 15 is not installed (\(binaries))" }
      return nil
    }
    do { return try PostgresTestServer() } catch {
      startFailureText.withLock { $0 = "PostgreSQL would not start: \(error)" }
      return nil
    }
  }()
  private static let startFailureText = Mutex("")
  /// Why ``shared`` is nil.
  public static var startFailure: String { startFailureText.withLock { $0 } }

  init() throws {
    let template = NSTemporaryDirectory() + "eod-pg-XXXXXX"
    var bytes = Array(template.utf8CString)
    guard mkdtemp(&bytes) != nil else { throw Failure("mkdtemp: \(String(cString: strerror(errno)))") }
    folder = String(cString: bytes)
    owner = getuid() == 0 ? "postgres" : nil
    if owner != nil {
      try Self.run("/bin/chown", ["-R", "postgres:postgres", folder])
    }
    port = try Self.freePort()
    try command(
      "initdb",
      [
        "-D", folder + "/data", "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
        "--no-sync", "-E", "UTF8",
      ])
    try command(
      "pg_ctl",
      [
        "-D", folder + "/data", "-l", folder + "/server.log", "-w", "-t", "60", "-o",
        "-p \(port) -k \(folder) -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
          + "-c full_page_writes=off -c max_connections=200",
        "start",
      ])
    let folder = folder
    let owner = owner
    Self.stopAtExit.withLock { $0 = (folder, owner) }
    atexit {
      guard let (folder, owner) = PostgresTestServer.stopAtExit.withLock({ $0 }) else { return }
      let stop = [PostgresTestServer.binaries + "/pg_ctl", "-D", folder + "/data", "-m", "immediate", "stop"]
      _ = try? PostgresTestServer.run(
        owner == nil ? stop[0] : "/usr/sbin/runuser",
        owner == nil ? Array(stop.dropFirst()) : ["-u", "postgres", "--"] + stop)
      try? FileManager.default.removeItem(atPath: folder)
    }
    try sql("CREATE ROLE \(user) LOGIN CREATEDB PASSWORD '\(password)'")
    // Once, while the server is made (before any test reads it): the role's password for this
    // process and the binaries it starts, as an operator gives it.
    setenv("PGPASSWORD", password, 1)
  }
  private static let stopAtExit = Mutex<(String, String?)?>(nil)

  /// A new, empty database owned by the test role; returns its URL (no password: give
  /// ``password`` in `PGPASSWORD`).
  public func database(_ name: String) throws -> String {
    let cleaned = String(name.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }.prefix(40))
    let suffix = UUID().uuidString.prefix(8).lowercased()
    let database = "t_\(cleaned)_\(suffix)"
    try sql("CREATE DATABASE \(database) OWNER \(user)")
    return "postgres://\(user)@127.0.0.1:\(port)/\(database)"
  }

  /// Runs SQL as the superuser over the unix socket; returns what psql printed (unaligned).
  @discardableResult
  public func sql(_ text: String, database: String = "postgres") throws -> String {
    try command(
      "psql", ["-h", folder, "-p", "\(port)", "-U", "postgres", "-d", database, "-XAtq", "-c", text])
  }

  @discardableResult
  func command(_ name: String, _ arguments: [String]) throws -> String {
    let program = Self.binaries + "/" + name
    if owner != nil {
      return try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", program] + arguments)
    }
    return try Self.run(program, arguments)
  }

  struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
  }

  @discardableResult
  static func run(_ program: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
    // Output through a file, not a pipe: the server pg_ctl starts would hold a pipe open.
    let path = NSTemporaryDirectory() + "eod-pg-output-\(UUID().uuidString)"
    guard FileManager.default.createFile(atPath: path, contents: nil),
      let output = FileHandle(forWritingAtPath: path)
    else { throw Failure("cannot create \(path)") }
    defer { try? FileManager.default.removeItem(atPath: path) }
    process.standardOutput = output
    process.standardError = output
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    try? output.close()
    let text = String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
    guard process.terminationStatus == 0 else {
      throw Failure(
        "\(program) \(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(text)")
    }
    return text
  }

  /// A loopback port nothing listens on now.
  static func freePort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw Failure("socket: \(String(cString: strerror(errno)))") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
        bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
      }
    }
    guard bound else { throw Failure("bind: \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: address.sin_port))
  }
}
