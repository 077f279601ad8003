import ArgumentParser
import EODOps
import EODPipeline
import Foundation
import Logging

/// What `run` does with an error that stops it. The night has logged, measured and recorded it
/// already (``NightStop``, in the library); a usage error goes to the argument parser, which
/// prints the usage and exits 64; any other is printed once more for a person at a terminal (the
/// log line is the only one where logs are JSON) and ends the process with its code.
func shownStop(_ error: any Error) -> any Error {
  if error is ValidationError || error is ExitCode || error is CleanExit { return error }
  if let refusal = error as? RunRefusal, refusal.code == .usage { return ValidationError(refusal.message) }
  let (code, _, message) = NightStop.classify(error)
  // At a terminal the log line is for a person too: the message as it reads (several lines for
  // a configuration's problems). Where logs are JSON, the JSON line is the only one.
  if isatty(STDERR_FILENO) == 1 { FileHandle.standardError.write(Data("eod-extract: \(message)\n".utf8)) }
  return Reported(code: code)
}
