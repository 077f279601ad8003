/// The exit codes of `eod-extract` (every command: `run`, `check-config`, `backfill`, …). Operators
/// alert on them; keep them stable.
///
/// This enum is the one source of the exit-code table: ``meaning`` is the text of each row, and
/// ``markdownTable`` and ``helpTable`` are the table as the README and docs/operations.md show it
/// and as `eod-extract --help` prints it (a test checks the three are the same).
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
  /// An internal error (a bug): an error the job does not expect, nothing can be assumed about
  /// the run. Sysexits' EX_SOFTWARE. The code of every error that is not an
  /// ``OperatorFacingError``.
  case internalError = 70

  /// The code of an error that ends the process: the one mapping from error to exit code.
  ///
  /// An ``OperatorFacingError`` says its own code; any other error is unexpected and exits 70
  /// (``internalError``), never 1: exit 1 promises that the other firms were written, which
  /// nothing can promise after an error nobody planned for.
  public init(for error: any Error) {
    self = (error as? any OperatorFacingError)?.exitCode ?? .internalError
  }

  /// What a person reads for an error that ends the process: Foundation's errors in words
  /// (``SystemErrorText``), an unexpected error marked as such.
  public static func message(for error: any Error) -> String {
    let words = SystemErrorText.words(error)
    return EODExitCode(for: error) == .internalError ? "internal error: \(words)" : words
  }

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

  /// What the code means, as the exit-code table says it (README, `--help`, docs/operations.md);
  /// short enough for `--help`'s 80 columns (a help line is two spaces, four for the code, this).
  public var meaning: String {
    switch self {
    case .success: "every selected firm was written (and delivered), or not a business day"
    case .someFirmsFailed: "some firms failed; the others were written (each failure is printed)"
    case .nothingDone: "nothing done: snapshot, configuration, template, state or output refused"
    case .alreadyRunning:
      "another run holds the state store's lock (STATE.lock) or a firm's date"
    case .usage: "usage: an unknown option, a bad value, options that do not go together"
    case .internalError: "internal error: an error the job does not expect (a bug); report it"
    }
  }

  /// The exit-code table in Markdown, as the README and docs/operations.md carry it.
  public static var markdownTable: String {
    var lines = ["| code | meaning |", "| --- | --- |"]
    for code in allCases { lines.append("| \(code.rawValue) | \(code.meaning) |") }
    return lines.joined(separator: "\n")
  }

  /// The exit-code table as `eod-extract --help` prints it: a heading line, then one indented line
  /// per code.
  public static var helpTable: String {
    var lines = ["Exit codes:"]
    for code in allCases {
      let number = String(code.rawValue)
      lines.append("  " + number + String(repeating: " ", count: max(1, 4 - number.count)) + code.meaning)
    }
    return lines.joined(separator: "\n")
  }
}

/// An error the job expects and explains to the operator: it says which exit code it ends the
/// process with and the short code its log line carries (`error_code`).
///
/// Adopted by the errors that can end a command: ``RunLockError`` (3 when another run holds the
/// lock, else 2), ``ConfigurationError`` (2), `PipelineError` (2, or 70 for its `internal-error`
/// code), `StateStoreError` and `TemplateError` (2; declared in EODPipeline, since their modules
/// sit below this one), ``RunRefusal`` (its code: the night's preparation and the command line) and the argument
/// parser's `ValidationError` (64). An error that does not adopt it is a bug: exit 70
/// (``EODExitCode/init(for:)``).
public protocol OperatorFacingError: Error {
  /// The exit code this error ends the process with.
  var exitCode: EODExitCode { get }
  /// The error's kind in the run's last log line (`error_code`): kebab-case, stable (alerts match
  /// on it). Default: `refused` (a refusal of the configuration or the command line).
  var errorCode: String { get }
}

extension OperatorFacingError {
  public var errorCode: String { exitCode == .internalError ? "internal-error" : "refused" }
}
