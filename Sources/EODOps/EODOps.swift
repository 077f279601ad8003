// EODOps: the building blocks of nightly operations for `eod-extract`.
//
// - ``RunLock``: one run per state store, released by the kernel if the process dies.
// - ``IdempotencyKey``: UUIDv4 keys for on-demand runs and the request fingerprint.
// - ``WebhookSender``: signed, retried webhook delivery of ``WebhookEvent``s.
// - ``MetricsFile``: a Prometheus textfile, written atomically.
// - ``EODLogging``: human-readable or JSON-lines log handlers for swift-log.
// - ``JobConfiguration``: the YAML configuration file, its offline validation and plan.
// - ``EODExitCode``: the process exit codes of `eod-extract run`.

/// The exit codes of `eod-extract run` (and `check-config`). Operators alert on them; keep them stable.
public enum EODExitCode: Int32, Sendable, CaseIterable, CustomStringConvertible {
  /// Every firm selected was extracted and delivered.
  case success = 0
  /// Some firms failed; the others were delivered.
  case someFirmsFailed = 1
  /// Nothing was done: bad configuration, unusable snapshot, state store or output directory.
  case nothingDone = 2
  /// Another run holds the state store's lock.
  case alreadyRunning = 3
  /// The command line is wrong (an unknown option, a bad value, options that do not go together):
  /// sysexits' EX_USAGE, as the argument parser gives.
  case usage = 64
  /// An internal error (a bug): nothing can be assumed about the run.
  case internalError = 70

  public var description: String {
    switch self {
    case .success: "all ok"
    case .someFirmsFailed: "some firms failed"
    case .nothingDone: "nothing done"
    case .alreadyRunning: "already running"
    case .usage: "usage error"
    case .internalError: "internal error"
    }
  }
}
