import EODCore
import EODState
import Foundation

/// The 64-bit keys of the store's advisory locks: FNV-1a of a fixed text, so every binary and
/// every host computes the same key for the same firm and date.
enum LockKey {
  static func hash(_ text: String) -> Int64 {
    var value: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
      value ^= UInt64(byte)
      value = value &* 0x0000_0100_0000_01b3
    }
    return Int64(bitPattern: value)
  }

  /// A writer of one firm's business date.
  static func firm(_ firmID: String, date: CivilDate) -> Int64 { hash("eod-extract/firm/\(firmID)/\(date)") }
  /// A writer of the whole store (the run lock of a command that is not per firm and date).
  static let store = hash("eod-extract/store")
  /// A sharded night's plan, finishes and fan-in of one business date (transaction-level).
  static func night(_ businessDate: String) -> Int64 { hash("eod-extract/night/\(businessDate)") }
  /// Schema migrations (transaction-level).
  static let migration = hash("eod-extract/migrate-state")
}

extension PostgresStateStore {
  /// Takes the session-level advisory lock `key` for this connection, at once or not at all:
  /// another holder makes it throw ``StateStoreError/Code/locked`` naming the holder (host, pid,
  /// run id, since when) from `lock_holders`. The server releases the lock when this connection
  /// ends, whatever ends it (a killed process included); ``unlock(_:)`` releases it earlier.
  func lock(_ key: Int64, what: String, runID: String) throws(StateStoreError) {
    if heldLocks.contains(key) { return }
    let step = "lock \(what)"
    let rows = try session.query(step, "SELECT pg_try_advisory_lock($1)", [.int(key)])
    guard let row = rows.first, try Cells(row, session, step).value(0, Bool.self) else {
      let who = try holder(key, step: step)
      throw StateStoreError(
        code: .locked, path: location, step: step,
        detail: "\(what) is being written by another run (\(who)): this run exits")
    }
    heldLocks.insert(key)
    try session.query(
      step,
      """
      INSERT INTO lock_holders(lock_key, what, host, pid, run_id, since, backend_pid)
      VALUES ($1, $2, $3, $4, $5, $6, pg_backend_pid())
      ON CONFLICT (lock_key) DO UPDATE SET what = excluded.what, host = excluded.host, pid = excluded.pid,
        run_id = excluded.run_id, since = excluded.since, backend_pid = excluded.backend_pid
      """,
      [
        .int(key), .text(what), .text(ProcessInfo.processInfo.hostName),
        .int(Int64(ProcessInfo.processInfo.processIdentifier)), .text(runID),
        .text(ISO8601DateFormatter().string(from: Date())),
      ])
  }

  /// The holder of `key` in words: its row in `lock_holders` when the backend that wrote it is the
  /// one holding the lock now, else the backend's pid alone.
  func holder(_ key: Int64, step: String) throws(StateStoreError) -> String {
    let bits = UInt64(bitPattern: key)
    let rows = try session.query(
      step,
      """
      SELECT l.pid::bigint, h.host, h.pid::bigint, h.run_id, h.since FROM pg_locks l
      LEFT JOIN lock_holders h ON h.lock_key = $1 AND h.backend_pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = $2 AND l.objid::bigint = $3
        AND l.objsubid = 1
      LIMIT 1
      """, [.int(key), .int(Int64(bits >> 32)), .int(Int64(bits & 0xffff_ffff))])
    guard let row = rows.first else { return "a holder that has just let go: try again" }
    let cells = Cells(row, session, step)
    guard let host = try cells.optionalText(1) else {
      let backend = try cells.int(0)
      return "database backend pid \(backend), no holder recorded"
    }
    let pid = try cells.int(2)
    let run = try cells.text(3)
    let since = try cells.text(4)
    return "held by host \(host), pid \(pid), run \(run) since \(since)"
  }

  /// Releases an advisory lock this connection holds.
  func unlock(_ key: Int64) {
    guard heldLocks.remove(key) != nil else { return }
    _ = try? session.query("unlock", "SELECT pg_advisory_unlock($1)", [.int(key)])
  }
}
