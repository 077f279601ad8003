import ChildProcess
import Foundation
import Synchronization
import Testing

/// A real PostgreSQL 15 for the tests, started by the tests themselves: `initdb` into a temporary
/// folder (as the `postgres` user when the tests run as root: the server refuses root), the
/// server on a free loopback port with its unix socket in that folder, a login role with a
/// password (SCRAM over TCP, as a production server would ask), one database per test. Stopped
/// and deleted when the test process exits. `PGPASSWORD` is set in the test process.
///
/// Missing binaries skip the PostgreSQL cases (recorded), unless `EOD_REQUIRE_POSTGRES=1` (set by
/// `.ci/run`), which makes them fail: ``started()``.
public final class PostgresTestServer: Sendable {
  public static let binaries = "/usr/lib/postgresql/15/bin"
  public let folder: String
  public let port: Int
  public let user = "eod"
  public let password = "eod-test-password"
  private let owner: String?

  /// Whether a missing PostgreSQL must fail the tests (`EOD_REQUIRE_POSTGRES=1`).
  public static var required: Bool { ProcessInfo.processInfo.environment["EOD_REQUIRE_POSTGRES"] == "1" }

  /// The server, started on first use inside a test body (never while tests are listed or their
  /// arguments made: starting a server there would hold up discovery). When PostgreSQL 15 is not
  /// installed the calling test is cancelled (recorded as skipped, with the reason), unless
  /// `EOD_REQUIRE_POSTGRES=1`, which makes it a failure; a server that would not start is a failure
  /// naming why (with pg_ctl's log).
  public static func started() throws -> PostgresTestServer {
    let outcome = startOutcome.withLock { outcome -> Result<PostgresTestServer?, Failure> in
      if let outcome { return outcome }
      let made: Result<PostgresTestServer?, Failure>
      if !FileManager.default.isExecutableFile(atPath: binaries + "/initdb") {
        made = .success(nil)
      } else {
        do { made = .success(try PostgresTestServer()) } catch let failure as Failure {
          made = .failure(failure)
        } catch { made = .failure(Failure("\(error)")) }
      }
      outcome = made
      return made
    }
    guard let server = try outcome.get() else {
      let missing = "PostgreSQL 15 is not installed (\(binaries))"
      if required { throw Failure("EOD_REQUIRE_POSTGRES=1: \(missing)") }
      try Test.cancel("skipped: \(missing)")
    }
    return server
  }
  private static let startOutcome = Mutex<Result<PostgresTestServer?, Failure>?>(nil)

  init() throws {
    let template = NSTemporaryDirectory() + "eod-pg-XXXXXX"
    var bytes = Array(template.utf8CString)
    guard mkdtemp(&bytes) != nil else { throw Failure("mkdtemp: \(String(cString: strerror(errno)))") }
    folder = String(cString: bytes)
    owner = getuid() == 0 ? "postgres" : nil
    if owner != nil {
      try Self.run("/bin/chown", ["-R", "postgres:postgres", folder])
    }
    port = try ChildProcess.freeLoopbackPort()
    try command(
      "initdb",
      [
        "-D", folder + "/data", "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
        "--no-sync", "-E", "UTF8",
      ])
    do {
      try command(
        "pg_ctl",
        [
          "-D", folder + "/data", "-l", folder + "/server.log", "-w", "-t", "30", "-o",
          "-p \(port) -k \(folder) -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
            + "-c full_page_writes=off -c max_connections=200",
          "start",
        ])
    } catch {
      let log = String(
        decoding: FileManager.default.contents(atPath: folder + "/server.log") ?? Data(), as: UTF8.self)
      throw Failure("\(error)\nserver log (\(folder)/server.log):\n\(log)")
    }
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

  struct Failure: Error, CustomStringConvertible, Sendable {
    var description: String
    init(_ description: String) { self.description = description }
  }

  /// Runs a program to its end; its output (through a file) is returned, or thrown when it fails.
  /// Started by ``ChildProcess``, which closes every descriptor above stderr in the child: the
  /// server that `pg_ctl` leaves running must hold no descriptor of this process (Foundation's
  /// `Process` learns of an exit through one, and another test's copied binary could not be run
  /// while a child held its write descriptor: "Text file busy").
  @discardableResult
  static func run(_ program: String, _ arguments: [String]) throws -> String {
    let (status, text) = try ChildProcess.run(program, arguments)
    // Exited normally with 0 (the low seven bits are the signal, the next eight the code).
    guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
      throw Failure("\(program) \(arguments.joined(separator: " ")) ended with status \(status): \(text)")
    }
    return text
  }
}
