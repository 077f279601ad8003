import Foundation
import Logging
import Testing

@testable import EODOps

#if canImport(Glibc)
  import Glibc
#endif

@Suite struct RunLockTests {
  let logger = Logger(label: "test")

  @Test func secondLockInSameProcessFailsAndReleaseFreesIt() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let state = dir.file("state.sqlite")
    let first = try RunLock.acquire(stateStorePath: state, logger: logger)
    #expect(first.lockPath == state + ".lock")
    #expect(first.isHeld)
    let pidText = try String(contentsOfFile: first.lockPath, encoding: .utf8)
    #expect(pidText == "\(getpid())\n")

    let error = #expect(throws: RunLockError.self) {
      try RunLock.acquire(stateStorePath: state, logger: logger)
    }
    #expect(error?.code == .alreadyRunning)
    #expect(error?.holderPID == getpid())
    #expect(error?.description.contains(state + ".lock") == true)

    first.release()
    #expect(!first.isHeld)
    let second = try RunLock.acquire(stateStorePath: state, logger: logger)
    #expect(second.isHeld)
    second.release()
  }

  @Test func lockIsFreedWhenObjectIsDropped() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let state = dir.file("state.sqlite")
    do { _ = try RunLock.acquire(stateStorePath: state, logger: logger) }
    let again = try RunLock.acquire(stateStorePath: state, logger: logger)
    #expect(again.isHeld)
  }

  @Test func unopenableLockFileIsReported() throws {
    let error = #expect(throws: RunLockError.self) {
      try RunLock.acquire(stateStorePath: "/nonexistent-dir-\(UUID())/state.sqlite", logger: logger)
    }
    #expect(error?.code == .cannotOpen)
  }

  /// Another process holds the lock with flock(1); we fail at once and name its PID; after the
  /// holder is SIGKILLed the kernel has released the lock and we get it.
  @Test func lockHeldByAnotherProcessIsFreedWhenItIsKilled() throws {
    let flockPath = "/usr/bin/flock"
    try #require(
      FileManager.default.isExecutableFile(atPath: flockPath), "flock(1) from util-linux is needed")
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let state = dir.file("state.sqlite")
    let lockPath = RunLock.lockPath(forStateStore: state)

    let holder = Process()
    holder.executableURL = URL(fileURLWithPath: "/bin/sh")
    holder.arguments = [
      "-c", "exec 9<>\"$1\"; \(flockPath) -n 9 || exit 9; echo $$ > \"$1\"; exec sleep 60", "holder",
      lockPath,
    ]
    try holder.run()
    defer { if holder.isRunning { kill(holder.processIdentifier, SIGKILL) } }

    // Wait until the holder has the lock and wrote its PID.
    let deadline = Date().addingTimeInterval(10)
    while Date() < deadline {
      if let text = try? String(contentsOfFile: lockPath, encoding: .utf8),
        text.hasPrefix("\(holder.processIdentifier)")
      {
        break
      }
      try #require(holder.isRunning, "the lock holder exited early")
      usleep(20_000)
    }

    let started = Date()
    let error = #expect(throws: RunLockError.self) {
      try RunLock.acquire(stateStorePath: state, logger: logger)
    }
    #expect(Date().timeIntervalSince(started) < 1, "the second lock must fail at once, not wait")
    #expect(error?.code == .alreadyRunning)
    #expect(error?.holderPID == holder.processIdentifier)

    kill(holder.processIdentifier, SIGKILL)
    holder.waitUntilExit()
    #expect(holder.terminationReason == .uncaughtSignal)

    let lock = try RunLock.acquire(stateStorePath: state, logger: logger)
    #expect(lock.isHeld)
    lock.release()
  }
}
