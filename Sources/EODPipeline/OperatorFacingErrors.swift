import EODOps
import EODRender
import EODState

// The exit codes of the errors of modules that sit below EODOps (they know nothing of processes
// and exit codes): declared here, where the job turns them into its own failures. Each is a
// refusal of the run's inputs (exit 2); see ``OperatorFacingError`` and docs/operations.md.

extension StateStoreError: OperatorFacingError {
  public var exitCode: EODExitCode { .nothingDone }
  /// `state-store-` and the store's own code (`state-store-missing`, `state-store-not-a-state-store`).
  public var errorCode: String { "state-store-\(code.rawValue)" }
}

extension TemplateError: OperatorFacingError {
  public var exitCode: EODExitCode { .nothingDone }
}
