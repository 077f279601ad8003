import ArgumentParser
import EODOps
import EODPipeline
import EODRender
import EODSnapshot
import Foundation
import Logging

/// What `--version` prints: the job's version and the formats it reads and writes.
enum VersionText {
  static let version = "1.1.0"

  static var text: String {
    var lines = [
      "eod-extract \(version)",
      "extract contract: 1.1",
      "snapshot schema read: \(SnapshotSchema.version)",
      "manifest schema written: \(Manifest.schemaVersion)",
    ]
    if let directory = try? OutputOptions.standardTemplatesDirectory(),
      let names = try? FileManager.default.contentsOfDirectory(atPath: directory)
    {
      let templates = names.filter { $0.hasSuffix(".tmpl") }.map { String($0.dropLast(".tmpl".count)) }
        .sorted()
      lines.append("templates: \(templates.joined(separator: ", ")) (\(directory))")
    } else {
      lines.append("templates: none found (see --templates)")
    }
    return lines.joined(separator: "\n")
  }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// How much a command shows: `--quiet`, `--verbose`, `--log-level`.
///
/// On a terminal the default shows a progress bar, warnings and errors (and notices, such as a
/// new state store); each firm's info lines appear with `--verbose`. When standard error is not
/// a terminal (cron, systemd) every info line is logged as JSON, as before.
struct LoggingOptions: ParsableArguments {
  @Flag(name: .shortAndLong, help: "Show errors only: no progress bar, no warnings.")
  var quiet = false

  @Flag(name: .shortAndLong, help: "Show every log line on a terminal, each firm's info lines included.")
  var verbose = false

  @Option(
    help: "Lowest log level shown: trace, debug, info, notice, warning, error, critical (overrides -q/-v).")
  var logLevel: Logger.Level?

  func validate() throws {
    if quiet && verbose { throw ValidationError("--quiet and --verbose do not go together") }
  }

  static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }

  var level: Logger.Level {
    if let logLevel { return logLevel }
    if quiet { return .error }
    if verbose { return .info }
    return LoggingOptions.stderrIsTerminal ? .notice : .info
  }

  /// A progress bar on standard error: on a terminal, unless quiet or verbose.
  var showsProgress: Bool { LoggingOptions.stderrIsTerminal && !quiet && !verbose && logLevel == nil }

  func makeLogger() -> Logger {
    EODLogging.bootstrap(level: level)
    return Logger(label: "eod-extract")
  }
}

/// A one-line progress bar on standard error: items done, rate and time left.
struct ProgressBar {
  let total: Int
  let unit: String
  var started = Date()

  /// Draws the bar after `done` items, `label` naming the last.
  func draw(_ done: Int, label: String) {
    let width = 30
    let filled = width * min(done, total) / max(1, total)
    let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
    let elapsed = Date().timeIntervalSince(started)
    var line = "\r\u{1B}[K[\(bar)] \(done)/\(total) \(unit) \(label)"
    if done > 0, elapsed > 0 {
      let rate = Double(done) / elapsed
      let left = Double(total - done) / rate
      line += "  " + String(format: "%.1f", rate) + " \(unit)/s"
      line +=
        done < total ? "  \(ProgressBar.duration(left)) left" : "  done in \(ProgressBar.duration(elapsed))"
    }
    if done >= total { line += "\n" }
    FileHandle.standardError.write(Data(line.utf8))
  }

  /// Prints a line above the bar (a failure), then leaves the bar to be drawn again.
  func note(_ text: String) {
    FileHandle.standardError.write(Data("\r\u{1B}[K\(text)\n".utf8))
  }

  static func duration(_ seconds: Double) -> String {
    let whole = Int(seconds.rounded())
    if whole < 60 { return "\(whole)s" }
    if whole < 3600 { return "\(whole / 60)m\(String(format: "%02d", whole % 60))s" }
    return "\(whole / 3600)h\(String(format: "%02d", whole / 60 % 60))m"
  }
}
