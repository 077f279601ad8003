import EODOps
import EODState
import Foundation
import Logging

/// An on-demand request's idempotency key and what the request asked (its fingerprint).
public struct IdempotencyRequest: Sendable {
  public var key: IdempotencyKey
  /// ``IdempotencyKey/requestFingerprint(firmIDs:businessDate:options:)`` of the request.
  public var fingerprint: String

  public init(key: IdempotencyKey, fingerprint: String) {
    self.key = key
    self.fingerprint = fingerprint
  }
}

/// The first and last stage of a night asked for with an idempotency key: a replay of a completed request
/// reports what it printed and delivers nothing; a retry of a request that failed does again only
/// what failed; the outcome is saved under the key at the end.
enum Idempotency {
  /// The key claimed by this run, and what an earlier run under it left.
  struct Claim {
    var request: IdempotencyRequest
    var firstUsedAt: Date
    var previous: (outcome: IdempotencyOutcome, manifests: String)?
  }

  enum Decision {
    /// Run (firms: the ones to run again, when retrying a failed request).
    case proceed(Claim, retryFirms: [String]?)
    /// Completed before: its output, and its exit code.
    case replay(output: String, exitCode: EODExitCode)
    /// The key was used for a different request.
    case conflict(String)
  }

  static func check(
    _ request: IdempotencyRequest, store: any StateStoring, now: Date, logger: Logger
  ) throws -> Decision {
    let key = request.key
    let stored = try store.idempotencyRecord(key.rawValue)
    switch IdempotencyKey.decide(
      stored: stored.map {
        IdempotencyKey.Record(key: key, fingerprint: $0.fingerprint, firstUsedAt: $0.createdAt)
      },
      fingerprint: request.fingerprint, now: now)
    {
    case .replay:
      let outcome =
        try store.idempotencyOutcome(key.rawValue)
        ?? IdempotencyOutcome(exitCode: 0, failedFirms: [], report: "")
      if outcome.exitCode == 0 || outcome.failedFirms.isEmpty {
        // Completed: what it printed, as it printed it (a key stored before outcomes were
        // kept: its manifests); nothing is sent again.
        let text = outcome.report.isEmpty ? stored?.result ?? "" : outcome.report
        logger.notice(
          "idempotency key seen before: the completed run's output is repeated, nothing delivered",
          metadata: [
            "idempotency_key": "\(key)", "first_exit_code": .stringConvertible(outcome.exitCode),
          ])
        return .replay(output: text, exitCode: outcome.exitCode == 0 ? .success : .someFirmsFailed)
      }
      logger.notice(
        "idempotency key seen before: the first run did not complete; doing again what failed",
        metadata: [
          "idempotency_key": "\(key)", "first_exit_code": .stringConvertible(outcome.exitCode),
          "firms": .array(outcome.failedFirms.map { .string($0) }),
        ])
      let claim = Claim(
        request: request, firstUsedAt: stored?.createdAt ?? now, previous: (outcome, stored?.result ?? ""))
      return .proceed(claim, retryFirms: outcome.failedFirms)
    case .conflict:
      return .conflict("idempotency key \(key) was used for a different request within 72 hours")
    case .proceed:
      return .proceed(Claim(request: request, firstUsedAt: now), retryFirms: nil)
    }
  }

  /// How a night with ``Night/idempotency`` starts: it runs (only the firms that failed, when
  /// retrying a failed request), or it is finished already (a replay: what the completed run
  /// printed; a conflict: refused, exit 2).
  enum Start {
    case run(JobOptions, Claim?)
    case finished(NightReport)
  }

  /// The first stage of a night: without a key it runs as asked.
  static func begin(_ night: Night) throws -> Start {
    guard let request = night.idempotency else { return .run(night.job, nil) }
    var report = NightReport()
    switch try check(request, store: night.store, now: night.clock(), logger: night.logger) {
    case .replay(let output, let exitCode):
      report.replayedOutput = output
      report.exitCode = exitCode
      return .finished(report)
    case .conflict(let refusal):
      report.refusal = refusal
      report.exitCode = .nothingDone
      return .finished(report)
    case .proceed(let claim, let retryFirms):
      var job = night.job
      if let retryFirms {
        // A configured firm missing from the snapshot fails alone (docs/operations.md).
        job.firmIDs = retryFirms
        job.missingFirmsFailAlone = true
      }
      return .run(job, claim)
    }
  }

  /// The outcome the key stands for: what every run under it printed, in order; the manifests of
  /// the firms whose sets are complete (delivered, when delivering); the firms still failed.
  static func save(
    _ claim: Claim, report night: NightReport, extract report: RunReport, store: any StateStoring
  )
    throws
  {
    let failed = night.failedFirms
    let exitCode = night.exitCode
    let result =
      (claim.previous?.manifests ?? "")
      + report.firms.filter { !failed.contains($0.firmID) }.compactMap(\.manifest).joined(separator: "")
    let lines = night.lines.map { $0 + "\n" }.joined()
    let key = claim.request.key
    try store.saveIdempotencyRecord(
      key.rawValue, fingerprint: claim.request.fingerprint, createdAt: claim.firstUsedAt, result: result)
    try store.saveIdempotencyOutcome(
      key.rawValue,
      IdempotencyOutcome(
        exitCode: Int(exitCode.rawValue), failedFirms: failed.sorted(),
        report: (claim.previous?.outcome.report ?? "") + lines))
  }
}
