import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Why metrics could not be recorded or written.
public struct MetricsError: Error, CustomStringConvertible, Sendable {
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
    /// The labels given do not match the metric's label names.
    public static let labelMismatch = Code("label-mismatch")
    /// The same metric name was described twice with different help, type or labels.
    public static let conflictingDescriptor = Code("conflicting-descriptor")
    /// The file could not be written (temporary file, fsync or rename).
    public static let writeFailed = Code("write-failed")
  }

  public var code: Code
  /// The metric or file concerned.
  public var subject: String
  public var detail: String

  public init(code: Code, subject: String, detail: String) {
    self.code = code
    self.subject = subject
    self.detail = detail
  }

  public var description: String { "metrics: \(subject) (\(code)): \(detail)" }
}

/// A metric family: name, type, help text and label names.
public struct MetricDescriptor: Sendable, Hashable {
  public enum Kind: String, Sendable { case gauge, counter }
  public var name: String
  public var kind: Kind
  public var help: String
  public var labelNames: [String]

  public init(name: String, kind: Kind, help: String, labelNames: [String]) {
    self.name = name
    self.kind = kind
    self.help = help
    self.labelNames = labelNames
  }

  /// Unix time of the last successful delivery of a firm's extract set.
  public static let lastSuccessTimestamp = MetricDescriptor(
    name: "eod_last_success_timestamp_seconds", kind: .gauge,
    help: "Unix time of the last successful delivery of a firm's extract set.", labelNames: ["firm"])
  /// Rows in an extract of the last run.
  public static let extractRows = MetricDescriptor(
    name: "eod_extract_rows", kind: .gauge, help: "Rows in an extract of the last run.",
    labelNames: ["firm", "extract"])
  /// Bytes (as delivered, compressed) of an extract of the last run.
  public static let extractBytes = MetricDescriptor(
    name: "eod_extract_bytes", kind: .gauge, help: "Delivered bytes of an extract of the last run.",
    labelNames: ["firm", "extract"])
  /// Seconds a step took for a firm in the last run.
  public static let stepDuration = MetricDescriptor(
    name: "eod_step_duration_seconds", kind: .gauge, help: "Seconds a step took for a firm in the last run.",
    labelNames: ["firm", "step"])
  /// Data-quality issues found for a firm in the last run, by code.
  public static let dataQualityIssues = MetricDescriptor(
    name: "eod_data_quality_issues", kind: .gauge,
    help: "Data-quality issues found for a firm in the last run, by code.", labelNames: ["firm", "code"])
  /// Delivery attempts made in the last run (1 per file when nothing had to be retried).
  public static let deliveryAttempts = MetricDescriptor(
    name: "eod_delivery_attempts_total", kind: .counter,
    help: "Delivery attempts made in the last run, by firm and destination.",
    labelNames: ["firm", "destination"])
  /// The exit code of the last run.
  public static let runExitCode = MetricDescriptor(
    name: "eod_run_exit_code", kind: .gauge, help: "Exit code of the last eod-extract run.", labelNames: [])

  /// Unix time of the last failure of a firm (its extract or delivery, or a run that stopped
  /// before any firm: exit 2 or 70).
  public static let lastFailureTimestamp = MetricDescriptor(
    name: "eod_last_failure_timestamp_seconds", kind: .gauge,
    help: "Unix time of the last failure of a firm's extract or delivery (or of a run that did nothing).",
    labelNames: ["firm"])
  /// Unix time of the last run's start, whatever its outcome.
  public static let lastAttemptTimestamp = MetricDescriptor(
    name: "eod_run_last_attempt_timestamp_seconds", kind: .gauge,
    help: "Unix time the last eod-extract run started, whatever its outcome.", labelNames: [])

  /// The metrics with a `firm` label: what one firm's run says about it.
  public static let perFirm: [MetricDescriptor] = [
    .lastSuccessTimestamp, .extractRows, .extractBytes, .stepDuration, .dataQualityIssues, .deliveryAttempts,
    .lastFailureTimestamp,
  ]

  /// Every metric `eod-extract` writes.
  public static let standard: [MetricDescriptor] = [
    .lastSuccessTimestamp, .extractRows, .extractBytes, .stepDuration, .dataQualityIssues,
    .deliveryAttempts, .runExitCode, .lastFailureTimestamp, .lastAttemptTimestamp,
  ]
}

/// Gauges and counters with labels, written in the Prometheus text exposition format for
/// node_exporter's textfile collector.
///
/// Output is deterministic: families sorted by name, each with `# HELP` and `# TYPE`, samples
/// sorted by label values; label values escaped (`\\`, `\"`, `\n`). ``write(to:)`` is atomic:
/// a temporary file in the same directory (named `.<name>.tmp.<pid>`, which the collector
/// ignores as it reads only `*.prom`), fsync, rename, fsync of the directory.
public struct MetricsFile: Sendable {
  private var descriptors: [String: MetricDescriptor] = [:]
  /// name → (label values in label-name order) → value
  private var samples: [String: [[String]: Double]] = [:]

  /// Creates an empty set, with the standard `eod_*` descriptors known.
  public init(descriptors: [MetricDescriptor] = MetricDescriptor.standard) {
    for descriptor in descriptors { self.descriptors[descriptor.name] = descriptor }
  }

  /// Sets a sample's value (gauges, or a counter's total).
  public mutating func set(_ metric: MetricDescriptor, labels: [String: String] = [:], _ value: Double)
    throws(MetricsError)
  {
    let key = try register(metric, labels: labels)
    samples[metric.name, default: [:]][key] = value
  }

  /// Adds to a sample's value (starting from 0).
  public mutating func add(_ metric: MetricDescriptor, labels: [String: String] = [:], _ value: Double)
    throws(MetricsError)
  {
    let key = try register(metric, labels: labels)
    samples[metric.name, default: [:]][key, default: 0] += value
  }

  /// The current value of a sample, if set.
  public func value(_ metric: MetricDescriptor, labels: [String: String] = [:]) -> Double? {
    let key = metric.labelNames.map { labels[$0] ?? "" }
    return samples[metric.name]?[key]
  }

  private mutating func register(_ metric: MetricDescriptor, labels: [String: String]) throws(MetricsError)
    -> [String]
  {
    if let known = descriptors[metric.name], known != metric {
      throw MetricsError(
        code: .conflictingDescriptor, subject: metric.name,
        detail: "already described with type \(known.kind.rawValue) and labels \(known.labelNames)")
    }
    guard Set(labels.keys) == Set(metric.labelNames) else {
      throw MetricsError(
        code: .labelMismatch, subject: metric.name,
        detail: "expected labels \(metric.labelNames.sorted()), got \(labels.keys.sorted())")
    }
    descriptors[metric.name] = metric
    return metric.labelNames.map { labels[$0] ?? "" }
  }

  /// Keeps, for samples of each of `metrics` not set in this run, the values found in a previous
  /// file (e.g. `eod_last_success_timestamp_seconds` of firms that failed today), reading the file
  /// once. A missing or unreadable previous file carries nothing forward.
  public mutating func carryForward(_ metrics: MetricDescriptor..., fromFileAt path: String) {
    carryForward(metrics, fromFileAt: path)
  }

  /// ``carryForward(_:fromFileAt:)`` for the samples whose labels `keep` accepts.
  public mutating func carryForward(
    _ metrics: [MetricDescriptor], fromFileAt path: String,
    where keep: ([String: String]) -> Bool = { _ in true }
  ) {
    guard let data = Self.readRegularFile(path) else { return }
    carryForward(metrics, from: Self.parse(String(decoding: data, as: UTF8.self)), where: keep)
  }

  /// The largest metrics file read back (a run's file is a few hundred bytes per firm).
  static let readLimit = 64 << 20

  /// The bytes of the file at `path` when it is a regular file, as the job writes its metrics
  /// files: opened without following a symlink and without blocking, so a symlink, FIFO or device
  /// planted at the name is neither followed nor waited on; nil (nothing carried forward) for those,
  /// a missing or unreadable file, or one larger than ``readLimit``.
  static func readRegularFile(_ path: String) -> Data? {
    let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, Int(info.st_size) <= readLimit else {
      return nil
    }
    var data = Data()
    var buffer = [UInt8](repeating: 0, count: 64 << 10)
    while true {
      let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if count < 0 && errno == EINTR { continue }
      guard count >= 0, data.count + count <= readLimit else { return nil }
      if count == 0 { return data }
      data.append(contentsOf: buffer[0..<count])
    }
  }

  /// ``carryForward(_:fromFileAt:where:)`` from samples already parsed.
  private mutating func carryForward(
    _ metrics: [MetricDescriptor], from parsed: [Sample], where keep: ([String: String]) -> Bool
  ) {
    let wanted = Dictionary(metrics.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    for sample in parsed {
      guard let metric = wanted[sample.name], Set(sample.labels.keys) == Set(metric.labelNames),
        keep(sample.labels)
      else {
        continue
      }
      let key = metric.labelNames.map { sample.labels[$0] ?? "" }
      descriptors[metric.name] = descriptors[metric.name] ?? metric
      if samples[metric.name]?[key] == nil { samples[metric.name, default: [:]][key] = sample.value }
    }
  }

  /// The metrics every run of the job writes, whatever its outcome: the last success and last
  /// failure of each firm carried from the file at `path`, the run's start and exit code, and
  /// `failedAt` as the last failure of each of `failedFirms`.
  public static func run(
    previousFileAt path: String, started: Date, exitCode: Int, failedFirms: [String], failedAt: Date
  ) throws(MetricsError) -> MetricsFile {
    var metrics = MetricsFile()
    metrics.carryForward(.lastSuccessTimestamp, .lastFailureTimestamp, fromFileAt: path)
    try metrics.set(.runExitCode, Double(exitCode))
    try metrics.set(.lastAttemptTimestamp, started.timeIntervalSince1970)
    for firm in failedFirms {
      try metrics.set(.lastFailureTimestamp, labels: ["firm": firm], failedAt.timeIntervalSince1970)
    }
    return metrics
  }

  /// Keeps, from the file at `path`, every per-firm sample (the families labelled `firm`) of the
  /// firms not in `ran` that this set does not have: a retried shard's file keeps what its
  /// earlier attempts wrote for the firms it did not run again.
  public mutating func carryFirms(fromFileAt path: String, except ran: Set<String>) {
    carryForward(MetricDescriptor.perFirm, fromFileAt: path) { !ran.contains($0["firm"] ?? "") }
  }

  /// The job's metrics for a sharded night, made by its fan-in from the shards' files
  /// (`fragments`, each written by one shard as a run writes `metrics_file`, with the firms of
  /// that shard): every firm's samples from its shard's file; `exitCode` (the night's verdict)
  /// and the earliest start of the shards; `failedAt` as the last failure of each of
  /// `failedFirms` (the night's missing firms); the last success of each of `succeeded` (the
  /// complete firms, at their delivery: a firm a killed shard delivered has none in the shard's
  /// file); the last success and failure of every other firm carried from the file at
  /// `previousFileAt`.
  public static func night(
    fragments: [(path: String, firms: Set<String>)], previousFileAt path: String, exitCode: Int,
    failedFirms: [String], failedAt: Date, succeeded: [String: Date]
  ) throws(MetricsError) -> MetricsFile {
    var metrics = MetricsFile()
    var started: Double?
    for (fragment, firms) in fragments {
      // Each shard's file read and parsed once: its firms' samples and its start.
      guard let data = readRegularFile(fragment) else { continue }
      let parsed = parse(String(decoding: data, as: UTF8.self))
      metrics.carryForward(MetricDescriptor.perFirm, from: parsed) { firms.contains($0["firm"] ?? "") }
      for sample in parsed where sample.name == MetricDescriptor.lastAttemptTimestamp.name {
        started = min(started ?? sample.value, sample.value)
      }
    }
    try metrics.set(.runExitCode, Double(exitCode))
    try metrics.set(.lastAttemptTimestamp, started ?? failedAt.timeIntervalSince1970)
    for firm in failedFirms {
      try metrics.set(.lastFailureTimestamp, labels: ["firm": firm], failedAt.timeIntervalSince1970)
    }
    for (firm, at) in succeeded {
      try metrics.set(.lastSuccessTimestamp, labels: ["firm": firm], at.timeIntervalSince1970)
    }
    metrics.carryForward(.lastSuccessTimestamp, .lastFailureTimestamp, fromFileAt: path)
    return metrics
  }

  /// The file's text: every family with at least one sample, sorted.
  public func render() -> String {
    var out = ""
    for name in samples.keys.sorted() {
      guard let descriptor = descriptors[name], let family = samples[name], !family.isEmpty else { continue }
      out += "# HELP \(name) \(Self.escapeHelp(descriptor.help))\n"
      out += "# TYPE \(name) \(descriptor.kind.rawValue)\n"
      for key in family.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
        out += name
        if !descriptor.labelNames.isEmpty {
          let pairs = zip(descriptor.labelNames, key).map { "\($0)=\"\(Self.escapeLabel($1))\"" }
          out += "{" + pairs.joined(separator: ",") + "}"
        }
        out += " \(Self.format(family[key] ?? 0))\n"
      }
    }
    return out
  }

  /// Writes ``render()`` to `path` atomically (temporary file, fsync, rename, directory fsync).
  public func write(to path: String) throws(MetricsError) {
    let url = URL(fileURLWithPath: path)
    let directory = url.deletingLastPathComponent().path
    // A fresh name, created exclusively and never through a symlink: a file or link planted
    // under the name is refused (the write fails, naming it), never followed or overwritten.
    let temporary =
      directory + "/." + url.lastPathComponent + ".tmp.\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
    let bytes = Array(render().utf8)
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
      throw Self.failure(path, "cannot create \(temporary) (created exclusively, never followed)")
    }
    var written = 0
    while written < bytes.count {
      let result = bytes.withUnsafeBytes { buffer in
        posixWrite(fd, UnsafeRawBufferPointer(rebasing: buffer[written...]))
      }
      if result < 0 {
        if errno == EINTR { continue }
        let error = Self.failure(path, "cannot write \(temporary)")
        close(fd)
        unlink(temporary)
        throw error
      }
      written += result
    }
    _ = fchmod(fd, 0o644)
    if fsync(fd) != 0 {
      let error = Self.failure(path, "cannot fsync \(temporary)")
      close(fd)
      unlink(temporary)
      throw error
    }
    close(fd)
    if rename(temporary, path) != 0 {
      let error = Self.failure(path, "cannot rename \(temporary) into place")
      unlink(temporary)
      throw error
    }
    let directoryFD = open(directory, O_RDONLY | O_CLOEXEC)
    if directoryFD >= 0 {
      _ = fsync(directoryFD)
      close(directoryFD)
    }
  }

  private static func failure(_ path: String, _ what: String) -> MetricsError {
    MetricsError(code: .writeFailed, subject: path, detail: "\(what): \(String(cString: strerror(errno)))")
  }

  static func escapeLabel(_ value: String) -> String {
    var out = ""
    for character in value {
      switch character {
      case "\\": out += "\\\\"
      case "\"": out += "\\\""
      case "\n": out += "\\n"
      default: out.append(character)
      }
    }
    return out
  }

  static func escapeHelp(_ value: String) -> String {
    value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
  }

  /// Integers without a fraction; `NaN`, `+Inf`, `-Inf`; otherwise the shortest round-trip form.
  static func format(_ value: Double) -> String {
    if value.isNaN { return "NaN" }
    if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
    if value == value.rounded(), abs(value) < 9_007_199_254_740_992 { return String(Int64(value)) }
    return "\(value)"
  }

  /// One sample read back from a textfile.
  public struct Sample: Sendable, Equatable {
    public var name: String
    public var labels: [String: String]
    public var value: Double
  }

  /// Parses the samples of a text-format file (comments skipped; timestamps ignored).
  /// Lines that do not parse are skipped.
  public static func parse(_ text: String) -> [Sample] {
    var result: [Sample] = []
    for rawLine in text.split(separator: "\n", omittingEmptySubsequences: true) {
      let line = Array(rawLine)
      if line.first == "#" { continue }
      var index = 0
      var name = ""
      while index < line.count, line[index] != "{", line[index] != " " {
        name.append(line[index])
        index += 1
      }
      var labels: [String: String] = [:]
      if index < line.count, line[index] == "{" {
        index += 1
        var ok = false
        while index < line.count {
          if line[index] == "}" {
            index += 1
            ok = true
            break
          }
          if line[index] == "," || line[index] == " " {
            index += 1
            continue
          }
          var label = ""
          while index < line.count, line[index] != "=" {
            label.append(line[index])
            index += 1
          }
          index += 2  // ="
          var value = ""
          while index < line.count, line[index] != "\"" {
            if line[index] == "\\", index + 1 < line.count {
              index += 1
              value.append(line[index] == "n" ? "\n" : line[index])
            } else {
              value.append(line[index])
            }
            index += 1
          }
          index += 1
          labels[label] = value
        }
        guard ok else { continue }
      }
      let rest = String(line[min(index, line.count)...]).split(separator: " ")
      guard let first = rest.first else { continue }
      let value: Double?
      switch first {
      case "+Inf": value = .infinity
      case "-Inf": value = -.infinity
      case "NaN": value = .nan
      default: value = Double(first)
      }
      guard let value, !name.isEmpty else { continue }
      result.append(Sample(name: name, labels: labels, value: value))
    }
    return result
  }
}

private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Int {
  write(fd, buffer.baseAddress, buffer.count)
}
