import ChildProcess
import EODDelivery
import EODSFTP
import Foundation
import Logging

/// A real OpenSSH server on 127.0.0.1 for tests: fresh ed25519 host and user keys in a temp dir,
/// its own sshd_config, `internal-sftp`, started as a child process and killed afterwards.
final class TestSSHServer: @unchecked Sendable {
  let directory: String
  let port: Int
  let hostKeyPath: String
  let userKeyPath: String
  let configPath: String
  let knownHostsPath: String
  let logPath: String
  private let lock = NSLock()
  private var pid: pid_t?

  /// `extraConfig` is appended to sshd_config; `sftpSubsystem` replaces `internal-sftp`.
  init(sftpSubsystem: String = "internal-sftp", extraConfig: String = "") throws {
    directory = try makeTemporaryDirectory("sshd")
    port = try ChildProcess.freeLoopbackPort()
    hostKeyPath = directory + "/host_ed25519"
    userKeyPath = directory + "/user_ed25519"
    configPath = directory + "/sshd_config"
    knownHostsPath = directory + "/known_hosts"
    logPath = directory + "/sshd.log"
    try run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKeyPath])
    try run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", userKeyPath])
    try FileManager.default.copyItem(atPath: userKeyPath + ".pub", toPath: directory + "/authorized_keys")
    let config = """
      ListenAddress 127.0.0.1
      Port \(port)
      HostKey \(hostKeyPath)
      AuthorizedKeysFile \(directory)/authorized_keys
      Subsystem sftp \(sftpSubsystem)
      PasswordAuthentication no
      KbdInteractiveAuthentication no
      PubkeyAuthentication yes
      PermitRootLogin yes
      StrictModes no
      UsePAM no
      PidFile \(directory)/sshd.pid
      LogLevel ERROR
      \(extraConfig)

      """
    try config.write(toFile: configPath, atomically: true, encoding: .utf8)
    // The default: the host's key in the `[127.0.0.1]:PORT` form.
    try (knownHostsLine() + "\n").write(toFile: knownHostsPath, atomically: true, encoding: .utf8)
    try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
    try start()
  }

  deinit {
    stopAll()
    try? FileManager.default.removeItem(atPath: directory)
  }

  /// The user name to log in as (the tests run as root in CI).
  static var userName: String { ProcessInfo.processInfo.environment["USER"] ?? NSUserName() }

  var endpoint: SFTPEndpoint { SFTPEndpoint(host: "127.0.0.1", port: port, user: TestSSHServer.userName) }

  /// The host public key line (`ssh-ed25519 AAAA...`).
  func hostPublicKey() throws -> String {
    try String(contentsOfFile: hostKeyPath + ".pub", encoding: .utf8).split(separator: " ").prefix(2)
      .joined(separator: " ")
  }

  func knownHostsLine(hostForm: String? = nil) throws -> String {
    "\(hostForm ?? "[127.0.0.1]:\(port)") \(try hostPublicKey())"
  }

  /// Starts sshd and waits until the port accepts connections.
  func start() throws {
    let pid = try spawn("/usr/sbin/sshd", ["-D", "-e", "-f", configPath], outputPath: logPath)
    lock.withLock { self.pid = pid }
    let deadline = Date().addingTimeInterval(10)
    while Date() < deadline {
      if portAccepts(port) { return }
      var status: Int32 = 0
      if waitpid(pid, &status, WNOHANG) == pid {
        lock.withLock { self.pid = nil }
        break
      }
      usleep(20_000)
    }
    throw HarnessError("sshd did not start; log:\n\(logText())")
  }

  func logText() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

  /// The listener and all of its descendants (the per-connection sshd processes).
  func processTree() -> [pid_t] {
    guard let root = lock.withLock({ pid }) else { return [] }
    var parents: [pid_t: pid_t] = [:]
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
      guard let pid = pid_t(entry),
        let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
      else { continue }
      let fields = stat[stat.index(after: close)...].split(separator: " ")
      if fields.count > 1, let ppid = pid_t(fields[1]) { parents[pid] = ppid }
    }
    var tree: [pid_t] = [root]
    var changed = true
    while changed {
      changed = false
      for (pid, ppid) in parents where tree.contains(ppid) && !tree.contains(pid) {
        tree.append(pid)
        changed = true
      }
    }
    return tree
  }

  func signalAll(_ signal: Int32) {
    for pid in processTree() { kill(pid, signal) }
  }

  /// Kills sshd and every session it serves (as a crash would).
  func killAll() {
    let tree = processTree()
    for pid in tree { kill(pid, SIGKILL) }
    if let pid = lock.withLock({ self.pid }) {
      var status: Int32 = 0
      _ = waitpid(pid, &status, 0)
    }
    lock.withLock { self.pid = nil }
  }

  func stopAll() {
    signalAll(SIGCONT)
    killAll()
  }
}

struct HarnessError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// A new folder under the temporary directory (`TMPDIR`: scripts/test.sh gives each test run its
/// own, removed afterwards).
func makeTemporaryDirectory(_ prefix: String) throws -> String {
  var template = Array((NSTemporaryDirectory() + "eod-sftp-\(prefix)-XXXXXX").utf8CString)
  guard let result = mkdtemp(&template) else { throw HarnessError("mkdtemp failed") }
  return String(cString: result)
}

/// Starts `executable` with stdout and stderr appended to `outputPath` (posix_spawn: Foundation's
/// Process blocks its monitor thread on long-lived children such as sshd), inheriting no other
/// descriptor of the test process (``ChildProcess``).
func spawn(_ executable: String, _ arguments: [String], outputPath: String) throws -> pid_t {
  try ChildProcess.spawn(executable, arguments, outputPath: outputPath)
}

/// Runs a short command to completion and returns its output; throws if it fails.
@discardableResult
func run(_ executable: String, _ arguments: [String]) throws -> String {
  let (status, output) = try ChildProcess.run(executable, arguments)
  guard status == 0 else { throw HarnessError("\(executable) \(arguments) failed (\(status)): \(output)") }
  return output
}

func portAccepts(_ port: Int) -> Bool {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  guard fd >= 0 else { return false }
  defer { close(fd) }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  address.sin_port = UInt16(port).bigEndian
  let rc = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
    }
  }
  return rc == 0
}

/// Writes local files and builds a `DeliverySet` for them (SHA-256 from `sha256sum`).
func makeSet(
  in directory: String, firm: String, date: String = "2024-03-28", runID: String = "run-1",
  files: [(String, [UInt8])], manifest: [UInt8]? = nil
) throws -> DeliverySet {
  func item(_ name: String, _ bytes: [UInt8]) throws -> DeliveryItem {
    let path = directory + "/" + firm + "-" + name
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return DeliveryItem(localPath: path, fileName: name, sha256: try sha256(path), byteCount: bytes.count)
  }
  let items = try files.map { try item($0.0, $0.1) }
  let manifestItem = try item("manifest.json", manifest ?? Array("{\"firm_id\":\"\(firm)\"}".utf8))
  return DeliverySet(firmID: firm, businessDate: date, runID: runID, files: items, manifest: manifestItem)
}

func sha256(_ path: String) throws -> String {
  String(try run("/usr/bin/sha256sum", [path]).prefix(64))
}

/// Deterministic pseudo-random bytes.
func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
  var state = seed &* 6_364_136_223_846_793_005 &+ 1
  var out = [UInt8](repeating: 0, count: count)
  for index in 0..<count {
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    out[index] = UInt8(truncatingIfNeeded: state >> 33)
  }
  return out
}

func fileBytes(_ path: String) -> [UInt8]? {
  FileManager.default.contents(atPath: path).map { Array($0) }
}

func listing(_ path: String) -> [String] {
  ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
}

/// Thread-safe recording of destination events.
final class EventLog: @unchecked Sendable {
  private let lock = NSLock()
  private var events: [SFTPDestination.Event] = []
  func append(_ event: SFTPDestination.Event) { lock.withLock { events.append(event) } }
  var all: [SFTPDestination.Event] { lock.withLock { events } }
  var placedOrder: [String] {
    all.compactMap { if case .placed(let name, _, _) = $0 { name } else { nil } }
  }
}

let testLogger: Logger = {
  var logger = Logger(label: "eod.sftp.test")
  logger.logLevel = .warning
  return logger
}()

/// A configuration for `server` with fast retries and short timeouts.
func configuration(
  for server: TestSSHServer, base: String, allowCreate: Bool = true, maxAttempts: Int = 3,
  operationTimeout: Duration = .seconds(10)
) -> SFTPDestination.Configuration {
  SFTPDestination.Configuration(
    endpoint: server.endpoint, remoteBase: base,
    identity: SFTPIdentity(privateKeyPath: server.userKeyPath),
    hostKeys: SFTPHostKeyPolicy(knownHostsPath: server.knownHostsPath),
    allowCreateDirectories: allowCreate,
    timeouts: SFTPTimeouts(connect: .seconds(5), operation: operationTimeout, keepaliveInterval: .seconds(5)),
    overallTimeout: .seconds(60),
    retry: SFTPRetryPolicy(
      maxAttempts: maxAttempts, baseDelay: .milliseconds(100), maxDelay: .milliseconds(400),
      maxTotalTime: .seconds(30), jitter: { $0 }))
}
