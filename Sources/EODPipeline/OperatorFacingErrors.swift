import EODOps
import EODRender
import EODState

// The exit codes of the errors of modules that sit below EODOps (they know nothing of processes
// and exit codes): declared here, where the job turns them into its own failures. Each is a
// refusal of the run's inputs (exit 2); see ``OperatorFacingError`` and docs/operations.md.

extension StateStoreError: OperatorFacingError {
  /// 3 when another writer holds the lock (as the run lock), else 2.
  public var exitCode: EODExitCode { code == .locked ? .alreadyRunning : .nothingDone }
  /// `state-store-` and the store's own code (`state-store-missing`, `state-store-not-a-state-store`).
  public var errorCode: String { "state-store-\(code.rawValue)" }
}

extension TemplateError: OperatorFacingError {
  public var exitCode: EODExitCode { .nothingDone }
}
