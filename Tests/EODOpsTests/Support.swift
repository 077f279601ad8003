import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// A fresh temporary directory, removed by `cleanup()`.
struct TemporaryDirectory {
  let path: String

  init() throws {
    let base = FileManager.default.temporaryDirectory.path + "/eodops-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    path = base
  }

  func file(_ name: String) -> String { path + "/" + name }

  func write(_ name: String, _ text: String, mode: Int = 0o600) throws -> String {
    let target = file(name)
    try FileManager.default.createDirectory(
      atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data(text.utf8).write(to: URL(fileURLWithPath: target))
    try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: target)
    return target
  }

  func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs a program to completion and returns its exit status and standard output.
func run(_ executable: String, _ arguments: [String], stdin: Data? = nil) throws -> (
  status: Int32, output: String
) {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = arguments
  let output = Pipe()
  process.standardOutput = output
  let input = Pipe()
  if stdin != nil { process.standardInput = input }
  try process.run()
  if let stdin {
    input.fileHandleForWriting.write(stdin)
    try input.fileHandleForWriting.close()
  }
  let data = output.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Whether `python3 -c "import MODULE"` works.
func pythonHas(_ module: String) -> Bool {
  (try? run("/usr/bin/env", ["python3", "-c", "import \(module)"]).status) == 0
}

/// Collects lines written by a log sink.
final class LineCollector: Sendable {
  private let storage = Mutex<[String]>([])
  var lines: [String] { storage.withLock { $0 } }
  func append(_ line: String) { storage.withLock { $0.append(line) } }
}

/// Runs the jobs of the tasks that prefer it on a dispatch queue of its own instead of Swift
/// concurrency's shared threads (as many as cores). A test that measures real waits (webhook
/// retries against a real server) is then not slowed by other suites' tests that block those
/// threads on child processes, and its time bounds measure the code, not the test machine's load.
final class DedicatedExecutor: TaskExecutor {
  static let shared = DedicatedExecutor()
  private let queue = DispatchQueue(label: "eod.tests.dedicated-executor")

  func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    let executor = asUnownedTaskExecutor()
    queue.async { job.runSynchronously(on: executor) }
  }
}
