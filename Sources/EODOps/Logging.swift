import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// How log lines look.
public enum EODLogFormat: String, Sendable, CaseIterable {
  /// `2025-01-02T01:15:00.123Z info  message  key=value ...`, for people at a terminal.
  case human
  /// One JSON object per line, for log collectors.
  case json
  /// ``human`` when the output is a terminal (`isatty`), else ``json``.
  case automatic
}

/// Where log lines go. Each line is written whole with one `write(2)`, serialized in-process.
public struct LogSink: Sendable {
  let emit: @Sendable (String) -> Void
  /// Whether the sink is a terminal (decides ``EODLogFormat/automatic``).
  public let isTerminal: Bool

  /// A sink that calls `emit` with each line (including its trailing newline).
  public init(isTerminal: Bool = false, emit: @escaping @Sendable (String) -> Void) {
    self.isTerminal = isTerminal
    self.emit = emit
  }

  /// A file descriptor, e.g. `STDERR_FILENO`.
  public static func fileDescriptor(_ fd: Int32) -> LogSink {
    LogSink(isTerminal: isatty(fd) == 1) { line in
      logWriteLock.withLock { _ in
        var bytes = Array(line.utf8)[...]
        while !bytes.isEmpty {
          let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
          if written < 0 {
            if errno == EINTR { continue }
            return
          }
          bytes = bytes.dropFirst(written)
        }
      }
    }
  }

  /// Standard error, where `eod-extract` logs.
  public static var standardError: LogSink { fileDescriptor(STDERR_FILENO) }
}

private let logWriteLock = Mutex<Void>(())

/// Logging set-up for `eod-extract`: handlers and the one-time bootstrap.
///
/// Metadata conventions: `run_id`, `firm`, `date`, `step`, `duration_ms`, `extract`,
/// `destination`, `attempt`, `error`.
public enum EODLogging {
  /// Makes a handler for `label` writing to `sink` in `format` (``EODLogFormat/automatic`` looks at the sink).
  public static func makeHandler(
    label: String, format: EODLogFormat = .automatic, sink: LogSink = .standardError,
    level: Logger.Level = .info, metadataProvider: Logger.MetadataProvider? = nil
  ) -> any LogHandler {
    let resolved: EODLogFormat =
      format == .automatic ? (sink.isTerminal ? .human : .json) : format
    if resolved == .human {
      var handler = HumanLogHandler(label: label, sink: sink)
      handler.logLevel = level
      handler.metadataProvider = metadataProvider
      return handler
    }
    var handler = JSONLogHandler(label: label, sink: sink)
    handler.logLevel = level
    handler.metadataProvider = metadataProvider
    return handler
  }

  /// Bootstraps swift-log for the process (call once, first thing in `main`): logs go to
  /// standard error, human-readable on a terminal and JSON lines otherwise (or as `format` says).
  public static func bootstrap(format: EODLogFormat = .automatic, level: Logger.Level = .info) {
    let sink = LogSink.standardError
    LoggingSystem.bootstrap { label in
      makeHandler(label: label, format: format, sink: sink, level: level)
    }
  }
}

/// The handler's metadata, then the provider's, then the event's own (later wins), and the
/// event's error under `error` unless that key is taken.
func mergedMetadata(
  handler: Logger.Metadata, provider: Logger.MetadataProvider?, event: LogEvent
) -> Logger.Metadata {
  var merged = handler
  if let provided = provider?.get() { merged.merge(provided) { _, new in new } }
  if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
  if let error = event.error, merged["error"] == nil { merged["error"] = "\(error)" }
  return merged
}

/// Writes one JSON object per line: `timestamp` (RFC 3339 UTC, ms), `level`, `message`,
/// `logger` (the label), `source`, then the metadata flattened as top-level keys (a metadata key
/// that collides with those gets a `meta_` prefix). Integer and floating-point metadata values
/// are JSON numbers; lists and dictionaries nest; everything else is a string.
public struct JSONLogHandler: LogHandler {
  public var metadata: Logger.Metadata = [:]
  public var logLevel: Logger.Level = .info
  public var metadataProvider: Logger.MetadataProvider?
  public let label: String
  private let sink: LogSink
  private let clock: @Sendable () -> Date

  public init(label: String, sink: LogSink, clock: @escaping @Sendable () -> Date = { Date() }) {
    self.label = label
    self.sink = sink
    self.clock = clock
  }

  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  public func log(event: LogEvent) {
    var line = "{\"timestamp\":\(JSONText.string(Timestamp.rfc3339(clock(), milliseconds: true)))"
    line += ",\"level\":\(JSONText.string(event.level.rawValue))"
    line += ",\"message\":\(JSONText.string(event.message.description))"
    line += ",\"logger\":\(JSONText.string(label))"
    line += ",\"source\":\(JSONText.string(event.source))"
    let merged = mergedMetadata(handler: metadata, provider: metadataProvider, event: event)
    let reserved: Set<String> = ["timestamp", "level", "message", "logger", "source"]
    for key in merged.keys.sorted() {
      guard let value = merged[key] else { continue }
      let name = reserved.contains(key) ? "meta_" + key : key
      line += ",\(JSONText.string(name)):\(Self.json(value))"
    }
    sink.emit(line + "}\n")
  }

  static func json(_ value: Logger.Metadata.Value) -> String {
    switch value {
    case .string(let text): return JSONText.string(text)
    case .stringConvertible(let convertible):
      if let integer = convertible as? any BinaryInteger { return "\(integer)" }
      if let double = convertible as? Double, double.isFinite { return "\(double)" }
      if let bool = convertible as? Bool { return bool ? "true" : "false" }
      return JSONText.string(convertible.description)
    case .array(let values): return "[" + values.map(json).joined(separator: ",") + "]"
    case .dictionary(let dictionary):
      let pairs = dictionary.keys.sorted().compactMap { key in
        dictionary[key].map { "\(JSONText.string(key)):\(json($0))" }
      }
      return "{" + pairs.joined(separator: ",") + "}"
    }
  }
}

/// Writes `2025-01-02T01:15:00.123Z info     message  key=value key2="with space"` lines, the
/// metadata sorted by key, values quoted when they hold spaces, quotes or control characters.
public struct HumanLogHandler: LogHandler {
  public var metadata: Logger.Metadata = [:]
  public var logLevel: Logger.Level = .info
  public var metadataProvider: Logger.MetadataProvider?
  public let label: String
  private let sink: LogSink
  private let clock: @Sendable () -> Date

  public init(label: String, sink: LogSink, clock: @escaping @Sendable () -> Date = { Date() }) {
    self.label = label
    self.sink = sink
    self.clock = clock
  }

  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  public func log(event: LogEvent) {
    let merged = mergedMetadata(handler: metadata, provider: metadataProvider, event: event)
    let level = event.level.rawValue
    var line =
      Timestamp.rfc3339(clock(), milliseconds: true) + " " + level
      + String(repeating: " ", count: max(1, 9 - level.count))
    line += Self.clean(event.message.description)
    for key in merged.keys.sorted() {
      guard let value = merged[key] else { continue }
      line += "  \(key)=\(Self.quoted(Self.text(value)))"
    }
    sink.emit(line + "\n")
  }

  static func text(_ value: Logger.Metadata.Value) -> String {
    switch value {
    case .string(let text): text
    case .stringConvertible(let convertible): convertible.description
    case .array(let values): "[" + values.map(text).joined(separator: ", ") + "]"
    case .dictionary(let dictionary):
      "{"
        + dictionary.keys.sorted().map { "\($0): \(dictionary[$0].map(text) ?? "")" }.joined(separator: ", ")
        + "}"
    }
  }

  static func clean(_ text: String) -> String {
    text.unicodeScalars.contains { $0.value < 0x20 }
      ? String(JSONText.string(text).dropFirst().dropLast()) : text
  }

  static func quoted(_ text: String) -> String {
    let needsQuotes =
      text.isEmpty || text.unicodeScalars.contains { $0 == " " || $0 == "\"" || $0 == "=" || $0.value < 0x20 }
    return needsQuotes ? JSONText.string(text) : text
  }
}
