import EODSQLite
import Foundation
import Testing

/// `executeRetryingBusy` runs statements again while SQLite answers `SQLITE_BUSY` without waiting
/// (what a connection switching a new file to WAL meets), and gives up after its bound. The
/// connection's busy timeout is set to 0 here so that every contention answers busy at once.
@Suite struct SQLiteBusyRetryTests {
  /// Another connection holds the write lock for `holdMilliseconds` (on a thread of its own),
  /// then commits; calls `body` on this thread once the lock is held.
  func whileLocked(
    _ path: String, holdMilliseconds: UInt32, _ body: (SQLiteConnection) throws -> Void
  ) throws {
    let setup = try SQLiteConnection(path: path, mode: .create)
    try setup.execute("CREATE TABLE IF NOT EXISTS t(x INTEGER)")
    let held = DispatchSemaphore(value: 0)
    let done = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
      defer { done.signal() }
      guard let holder = try? SQLiteConnection(path: path, mode: .readWrite) else {
        held.signal()
        return
      }
      _ = try? holder.execute("BEGIN EXCLUSIVE")
      held.signal()
      usleep(holdMilliseconds * 1000)
      _ = try? holder.execute("COMMIT")
    }
    held.wait()
    defer { done.wait() }
    let waiter = try SQLiteConnection(path: path, mode: .readWrite)
    try waiter.execute("PRAGMA busy_timeout = 0")
    try body(waiter)
  }

  @Test func aStatementMetWithBusyRunsAgainUntilTheLockIsFree() throws {
    let scratch = try Fixtures.scratch("busy-retry")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let path = scratch + "/db.sqlite"
    try whileLocked(path, holdMilliseconds: 400) { waiter in
      // Without the retry the same statement is refused at once.
      #expect(throws: SQLiteError.self) { try waiter.execute("CREATE TABLE IF NOT EXISTS u(y INTEGER)") }
      let started = Date()
      try waiter.executeRetryingBusy("CREATE TABLE IF NOT EXISTS u(y INTEGER)", seconds: 30)
      #expect(Date().timeIntervalSince(started) > 0.1, "it waited for the other connection's commit")
    }
    let check = try SQLiteConnection(path: path, mode: .readOnly)
    #expect(try check.scalarInt("SELECT count(*) FROM sqlite_master WHERE name = 'u'") == 1)
  }

  @Test func busyForLongerThanTheBoundIsAnError() throws {
    let scratch = try Fixtures.scratch("busy-bound")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let path = scratch + "/db.sqlite"
    try whileLocked(path, holdMilliseconds: 2500) { waiter in
      let started = Date()
      var caught: SQLiteError?
      do throws(SQLiteError) {
        try waiter.executeRetryingBusy("CREATE TABLE IF NOT EXISTS u(y INTEGER)", seconds: 1)
      } catch {
        caught = error
      }
      let elapsed = Date().timeIntervalSince(started)
      let error = try #require(caught)
      #expect(error.code & 0xff == 5, "SQLITE_BUSY")
      #expect(elapsed >= 0.9 && elapsed < 2.4, "gave up after about its bound: \(elapsed) s")
    }
  }
}
