import ArgumentParser
import EODOps
import EODPipeline
import EODState
import Foundation
import Logging

/// The one mapping from an error to the documented exit code (docs/operations.md, "Exit codes"):
/// the code an ``OperatorFacingError`` says; any other error is unexpected: 70.
func exitCode(for error: any Error) -> EODExitCode { EODExitCode(for: error) }

/// The argument parser's refusal of the command line: usage (64).
extension ValidationError: OperatorFacingError {
  public var exitCode: EODExitCode { .usage }
}

/// An error no part of the job declares, thrown by the test hook `EOD_TEST_INTERNAL_ERROR=1` (used
/// only by the tests, documented in docs/operations.md): it is not an ``OperatorFacingError``,
/// so it proves that an unexpected error exits 70 through the one mapping.
struct InjectedTestFailure: Error, CustomStringConvertible {
  var description: String { "internal error forced by EOD_TEST_INTERNAL_ERROR (a test hook)" }
}

/// What a person reads for an error: Foundation's errors in words (``SystemErrorText``), an
/// unexpected error marked as such.
func message(for error: any Error) -> String { EODExitCode.message(for: error) }

/// Opens an existing state store to read it (history, deliveries): never creates one
/// (``StateAccess/openForReading(_:logger:)`` with the commands' logger).
func openStateForReading(_ path: String) throws -> any StateStoring {
  try StateAccess.openForReading(path, logger: makeLogger())
}
