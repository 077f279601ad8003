import Foundation
import Testing

/// Runs the built `eod-extract` binary, as an operator or cron would.
struct Binary {
  /// The binary built with these tests: beside the test bundle, in the products directory of
  /// whichever scratch path is in use; `.build/debug` otherwise.
  static let path: String = {
    var folders = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
    if let executable = Bundle.main.executableURL { folders.append(executable.deletingLastPathComponent()) }
    let running = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    folders.append(running.deletingLastPathComponent())
    for folder in folders {
      let candidate = folder.appendingPathComponent("eod-extract").path
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    return root.appendingPathComponent(".build/debug/eod-extract").path
  }()

  struct Result: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
  }

  static func run(_ arguments: [String], cwd: String? = nil) throws -> Result {
    try run(program: path, arguments, cwd: cwd)
  }

  /// Runs another program (a tool the tests call) the same way.
  static func run(program: String, _ arguments: [String], cwd: String? = nil) throws -> Result {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
    if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    // Standard output through a pipe, standard error through a file: two pipes read one after the
    // other deadlock once the program writes more than a pipe holds to the second.
    let out = Pipe()
    let errPath = NSTemporaryDirectory() + "eod-cli-stderr-\(UUID().uuidString)"
    guard FileManager.default.createFile(atPath: errPath, contents: nil),
      let err = FileHandle(forWritingAtPath: errPath)
    else { throw CocoaError(.fileWriteUnknown) }
    defer { try? FileManager.default.removeItem(atPath: errPath) }
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    try err.close()
    let errData = FileManager.default.contents(atPath: errPath) ?? Data()
    return Result(
      status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
      stderr: String(decoding: errData, as: UTF8.self))
  }

  static func scratch(_ name: String) throws -> String {
    let path = NSTemporaryDirectory() + "eod-cli-\(name)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }
}

/// Runs blocking work (child processes a test waits for) on a thread of its own instead of one of
/// Swift concurrency's shared threads, of which there are as many as cores: a test that waits
/// minutes on one of them starves the async tests beside it (webhook retries that wait in real
/// time), which then fail on their time bounds.
func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
  try await withCheckedThrowingContinuation { continuation in
    Thread.detachNewThread { continuation.resume(with: Swift.Result { try work() }) }
  }
}

@Suite(.serialized) struct BinaryTests {
  @Test func helpNamesTheCommandsAndExitCodes() throws {
    let result = try Binary.run(["--help"])
    #expect(result.status == 0)
    for word in ["run", "demo", "generate", "backfill", "history", "Exit codes"] {
      #expect(result.stdout.contains(word), "help lacks \(word)")
    }
  }

  @Test func generateRunAndHistoryEndToEnd() throws {
    let dir = try Binary.scratch("e2e")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let generated = try Binary.run([
      "generate", dir + "/snap", "--days", "2", "--accounts", "30", "--firms", "2", "--edge",
    ])
    #expect(generated.status == 0, "\(generated.stderr)")
    for day in ["2026-10-01", "2026-10-02"] {
      let run = try Binary.run([
        "run", "--init-state", "--snapshot", "\(dir)/snap/ledger-\(day).sqlite", "--state",
        dir + "/state/state.sqlite",
        "--out",
        dir + "/out",
      ])
      #expect(run.status == 0, "\(run.stderr)")
      #expect(run.stdout.contains("FIRM001"))
    }
    let manifest = dir + "/out/FIRM002/2026-10-02/FIRM002_manifest_20261002.json"
    #expect(FileManager.default.fileExists(atPath: manifest))
    #expect(
      FileManager.default.fileExists(
        atPath: dir + "/out/FIRM002/2026-10-02/FIRM002_positions_20261002.csv.gz"))
    let gunzip = Process()
    gunzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
    gunzip.arguments = ["-t", dir + "/out/FIRM001/2026-10-02/FIRM001_valuations_20261002.csv.gz"]
    try gunzip.run()
    gunzip.waitUntilExit()
    #expect(gunzip.terminationStatus == 0)
    let history = try Binary.run([
      "history", "--state", dir + "/state/state.sqlite", "--account", "AC00000001",
    ])
    #expect(history.status == 0, "\(history.stderr)")
    let lines = history.stdout.split(separator: "\n")
    #expect(lines.count == 3)
    #expect(lines[1].hasPrefix("2026-10-01,baseline"))
    let unknown = try Binary.run(["history", "--state", dir + "/state/state.sqlite", "--account", "NOPE"])
    #expect(unknown.status == 2)
  }

  @Test func badInputExitsTwoAndNamesWhere() throws {
    let dir = try Binary.scratch("bad")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    _ = try Binary.run(["generate", dir + "/snap", "--days", "1", "--accounts", "12", "--firms", "1"])
    let snapshot = dir + "/snap/ledger-2026-10-01.sqlite"
    let sqlite = Process()
    sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    sqlite.arguments = [
      snapshot, "UPDATE fx_rates SET rate = '1.2.3' WHERE base_currency = 'GBP' AND quote_currency = 'USD'",
    ]
    try sqlite.run()
    sqlite.waitUntilExit()
    let run = try Binary.run([
      "run", "--init-state", "--snapshot", snapshot, "--state", dir + "/state.sqlite", "--out", dir + "/out",
    ])
    #expect(run.status == 2)
    #expect(run.stderr.contains("fx_rates"))
    #expect(run.stderr.contains("rate"))
    #expect(!FileManager.default.fileExists(atPath: dir + "/out"))
    let missing = try Binary.run([
      "run", "--init-state", "--snapshot", dir + "/nope.sqlite", "--state", dir + "/state.sqlite", "--out",
      dir + "/out",
    ])
    #expect(missing.status == 2)
    let usage = try Binary.run(["run", "--init-state", "--snapshot", snapshot])
    #expect(usage.status == 64)
  }

  @Test func anUnknownFirmExitsTwo() throws {
    let dir = try Binary.scratch("firm")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    _ = try Binary.run(["generate", dir + "/snap", "--days", "1", "--accounts", "12", "--firms", "1"])
    let run = try Binary.run([
      "run", "--init-state", "--snapshot", dir + "/snap/ledger-2026-10-01.sqlite", "--state",
      dir + "/state.sqlite", "--out",
      dir + "/out", "--firm", "FIRM999",
    ])
    #expect(run.status == 2)
    #expect(run.stderr.contains("FIRM999"))
  }

  @Test func aSecondRunOnTheSameStateExitsThree() throws {
    let dir = try Binary.scratch("lock")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    _ = try Binary.run(["generate", dir + "/snap", "--days", "1", "--accounts", "12", "--firms", "1"])
    // Another process holds the state store's lock.
    let holder = Process()
    holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
    holder.arguments = ["-x", dir + "/state.sqlite.lock", "sleep", "30"]
    try holder.run()
    defer {
      kill(holder.processIdentifier, SIGKILL)
      holder.waitUntilExit()
    }
    var attempts = 0
    while !FileManager.default.fileExists(atPath: dir + "/state.sqlite.lock") && attempts < 50 {
      attempts += 1
      usleep(100_000)
    }
    usleep(200_000)
    let run = try Binary.run([
      "run", "--init-state", "--snapshot", dir + "/snap/ledger-2026-10-01.sqlite", "--state",
      dir + "/state.sqlite", "--out",
      dir + "/out",
    ])
    #expect(run.status == 3, "\(run.stderr)")
    #expect(!FileManager.default.fileExists(atPath: dir + "/out"))
  }

  @Test func theDemoRunsAndSaysWhereTheFilesAre() throws {
    let dir = try Binary.scratch("demo")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let demo = try Binary.run(["demo", "--out", dir + "/demo", "--days", "3"])
    #expect(demo.status == 0, "\(demo.stderr)")
    #expect(demo.stdout.contains("Extracts:"))
    #expect(
      FileManager.default.fileExists(
        atPath: dir + "/demo/extracts/FIRM001/2026-10-05/FIRM001_manifest_20261005.json"))
  }
}
