import EODSQLite
import Foundation

/// A stored on-demand request.
public struct IdempotencyEntry: Sendable {
  public var fingerprint: String
  public var createdAt: Date
  /// What the first request returned (its manifests).
  public var result: String

  public init(fingerprint: String, createdAt: Date, result: String) {
    self.fingerprint = fingerprint
    self.createdAt = createdAt
    self.result = result
  }
}

extension StateStore {
  public func idempotencyRecord(_ key: String) throws(StateStoreError) -> IdempotencyEntry? {
    try wrap("read idempotency key") {
      let s = try statement("SELECT fingerprint, created_at, result FROM idempotency WHERE key = ?")
      defer { s.reset() }
      try s.bind([.text(key)])
      guard try s.step() else { return nil }
      return IdempotencyEntry(
        fingerprint: s.text(0) ?? "", createdAt: Date(timeIntervalSince1970: Double(s.int64(1))),
        result: s.text(2) ?? "")
    }
  }

  /// Stores (or, once the old one expired, replaces) a key's request and result.
  public func saveIdempotencyRecord(_ key: String, fingerprint: String, createdAt: Date, result: String)
    throws(StateStoreError)
  {
    releaseReads()
    try wrap("write idempotency key") {
      try statement(
        "INSERT OR REPLACE INTO idempotency(key, fingerprint, created_at, result) VALUES (?,?,?,?)"
      ).run([
        .text(key), .text(fingerprint), .integer(Int64(createdAt.timeIntervalSince1970)), .text(result),
      ])
    }
  }
}
