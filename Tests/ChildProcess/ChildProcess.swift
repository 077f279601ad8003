import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Starts the programs of the test harnesses (sshd, PostgreSQL and their tools, the built binary)
/// with `posix_spawn`, giving the child nothing of the test process but standard input
/// (`/dev/null`) and standard output and error (a file): every other descriptor is closed in the
/// child before it becomes the program (`posix_spawn_file_actions_addclosefrom_np`).
///
/// Why: the tests share one process, and descriptors opened without `O_CLOEXEC` (Foundation's
/// `FileManager.copyItem` opens its copy that way) would be inherited by any child started while
/// they are open. A child that keeps a copy of a file open for writing makes every `execve` of
/// that file fail with ETXTBSY ("Text file busy") — the built binary copied by one test and run
/// at once, while another test's server or tool held the copy's descriptor.
public enum ChildProcess {
  public struct Failure: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
  }

  /// Starts `program` with `arguments`, its standard output and error written to `outputPath`
  /// (appended to, or the file truncated first); returns its pid, for ``wait(_:)`` or a signal.
  public static func spawn(
    _ program: String, _ arguments: [String], outputPath: String, append: Bool = true
  ) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(
      &actions, 1, outputPath, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let added = try closeFrom(&actions, 3)
    guard added == 0 else {
      throw Failure("\(program): closing descriptors: \(String(cString: strerror(added)))")
    }
    let argv = ([program] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid = pid_t()
    let spawned = posix_spawn(&pid, program, &actions, nil, argv, environ)
    guard spawned == 0 else {
      throw Failure("cannot start \(program): \(String(cString: strerror(spawned)))")
    }
    return pid
  }

  /// Waits for the child to end; returns its wait status (0: exited normally with code 0).
  public static func wait(_ pid: pid_t) throws -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
      guard errno == EINTR else { throw Failure("waitpid \(pid): \(String(cString: strerror(errno)))") }
    }
    return status
  }

  /// Runs `program` to its end, its output through a temporary file; returns the wait status and
  /// what it printed.
  public static func run(_ program: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let path = NSTemporaryDirectory() + "eod-child-output-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: path) }
    let status = try wait(spawn(program, arguments, outputPath: path, append: false))
    return (status, String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self))
  }

  /// glibc 2.34's `posix_spawn_file_actions_addclosefrom_np`, which Swift's Glibc module does not
  /// declare: looked up by name (Debian 12 has glibc 2.36). Its absence is an error, not a
  /// silent leak of descriptors.
  private static func closeFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32)
    throws
    -> Int32
  {
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else {
      throw Failure("posix_spawn_file_actions_addclosefrom_np is missing (glibc 2.34 or later is needed)")
    }
    return unsafeBitCast(symbol, to: AddCloseFrom.self)(actions, from)
  }

  /// A loopback port nothing listens on now.
  public static func freeLoopbackPort() throws -> Int {
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
