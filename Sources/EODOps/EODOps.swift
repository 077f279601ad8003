// EODOps: the building blocks of nightly operations for `eod-extract`.
//
// - ``RunLock``: one run per state store, released by the kernel if the process dies.
// - ``IdempotencyKey``: UUIDv4 keys for on-demand runs and the request fingerprint.
// - ``WebhookSender``: signed, retried webhook delivery of ``WebhookEvent``s.
// - ``MetricsFile``: a Prometheus textfile, written atomically.
// - ``EODLogging``: human-readable or JSON-lines log handlers for swift-log.
// - ``JobConfiguration``: the YAML configuration file, its offline validation and plan.
// - ``EODExitCode``, ``OperatorFacingError``: the process exit codes, and the one mapping from an
//   error to its code (ExitCode.swift).
