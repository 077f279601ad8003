/// A refusal that ends a command with a documented exit code and a message for the operator: the
/// night's preparation (configuration, date, snapshot file, output directory, state store,
/// shards) and the command line's own checks throw it. Its code is the exit code; `usage` (64)
/// is a wrong command line, which the command line prints with its usage.
public struct RunRefusal: Error, CustomStringConvertible, OperatorFacingError, Sendable {
  public var code: EODExitCode
  public var message: String
  /// The error that made the refusal (a template's, the file system's, the SFTP client's), kept
  /// as it was thrown; its words are in ``message`` already.
  public var cause: (any Error)?

  public init(_ code: EODExitCode, _ message: String, cause: (any Error)? = nil) {
    self.code = code
    self.message = message
    self.cause = cause
  }

  public var description: String { message }
  public var exitCode: EODExitCode { code }
}
