import Foundation
import Testing

@testable import EODOps

/// An independent, strict parser for the text exposition format, for the test only.
struct StrictExpositionParser {
  struct Family {
    var help: String?
    var type: String?
    var samples: [(labels: [String: String], value: String)] = []
  }

  enum Failure: Error { case bad(line: Int, String) }

  static func parse(_ text: String) throws -> [String: Family] {
    var families: [String: Family] = [:]
    var order: [String] = []
    guard text.hasSuffix("\n") else { throw Failure.bad(line: 0, "no final newline") }
    for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
      .enumerated()
    {
      if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
        let parts = line.split(separator: " ", maxSplits: 3)
        guard parts.count == 4 else { throw Failure.bad(line: number, "short comment") }
        let name = String(parts[2])
        if families[name] == nil { order.append(name) }
        if parts[1] == "HELP" {
          families[name, default: Family()].help = String(parts[3])
        } else {
          guard ["gauge", "counter"].contains(parts[3]) else { throw Failure.bad(line: number, "type") }
          families[name, default: Family()].type = String(parts[3])
        }
        continue
      }
      let regex = #/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/#
      guard let match = try regex.wholeMatch(in: String(line)) else {
        throw Failure.bad(line: number, String(line))
      }
      let name = String(match.1)
      guard families[name]?.type != nil else { throw Failure.bad(line: number, "sample before # TYPE") }
      var labels: [String: String] = [:]
      if let body = match.3 {
        var rest = Substring(body)
        while !rest.isEmpty {
          let pair = #/^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\[\\"n])*)",?/#
          guard let labelMatch = try pair.prefixMatch(in: rest) else {
            throw Failure.bad(line: number, "labels")
          }
          var value = ""
          var escaping = false
          for character in labelMatch.2 {
            if escaping {
              value.append(character == "n" ? "\n" : character)
              escaping = false
            } else if character == "\\" {
              escaping = true
            } else {
              value.append(character)
            }
          }
          labels[String(labelMatch.1)] = value
          rest = rest[labelMatch.range.upperBound...]
        }
      }
      guard Double(match.4) != nil || ["+Inf", "-Inf", "NaN"].contains(match.4) else {
        throw Failure.bad(line: number, "value")
      }
      families[name]?.samples.append((labels, String(match.4)))
    }
    return families
  }
}

@Suite struct MetricsFileTests {
  func sampleMetrics() throws -> MetricsFile {
    var metrics = MetricsFile()
    try metrics.set(.runExitCode, 1)
    try metrics.set(.extractRows, labels: ["firm": "F002", "extract": "positions"], 120)
    try metrics.set(.extractRows, labels: ["firm": "F001", "extract": "positions"], 42)
    try metrics.set(.extractRows, labels: ["firm": "F001", "extract": "cash"], 7)
    try metrics.set(.extractBytes, labels: ["firm": "F001", "extract": "positions"], 1234)
    try metrics.set(.lastSuccessTimestamp, labels: ["firm": "F001"], 1_735_780_500)
    try metrics.set(.stepDuration, labels: ["firm": "F001", "step": "render"], 0.125)
    try metrics.set(.dataQualityIssues, labels: ["firm": "F001", "code": "MISSING_PRICE"], 3)
    try metrics.add(.deliveryAttempts, labels: ["firm": "F001", "destination": "sftp://eod@h:22/in"], 1)
    try metrics.add(.deliveryAttempts, labels: ["firm": "F001", "destination": "sftp://eod@h:22/in"], 2)
    try metrics.set(.dataQualityIssues, labels: ["firm": "we\"ird\\firm\nx", "code": "X"], 1)
    return metrics
  }

  /// A sharded night's metrics_file, made by the fan-in: each firm from its own shard's file only
  /// (a shard's file may name other firms: an exit 2 records every configured firm's failure),
  /// the complete firms' success at their delivery, the missing ones failed, the night's verdict
  /// as exit code, the earliest shard's start; the previous file's other firms carried.
  @Test func aNightIsMergedFromItsShardsFiles() throws {
    let folder = try TemporaryDirectory()
    defer { folder.cleanup() }
    func shard(_ firms: [String], started: Double, stray: String) throws -> String {
      var metrics = MetricsFile()
      try metrics.set(.lastAttemptTimestamp, started)
      try metrics.set(.runExitCode, 0)
      for firm in firms {
        try metrics.set(.extractRows, labels: ["firm": firm, "extract": "positions"], 10)
        try metrics.set(.lastSuccessTimestamp, labels: ["firm": firm], started + 5)
      }
      try metrics.set(.lastFailureTimestamp, labels: ["firm": stray], 1)
      let path = folder.file("m.prom.2026-10-01.shard-\(firms[0])")
      try metrics.write(to: path)
      return path
    }
    let zero = try shard(["A", "B"], started: 1000, stray: "C")
    let one = try shard(["C"], started: 900, stray: "A")
    var previous = MetricsFile()
    try previous.set(.lastSuccessTimestamp, labels: ["firm": "OLD"], 50)
    try previous.set(.lastSuccessTimestamp, labels: ["firm": "C"], 60)
    try previous.write(to: folder.file("m.prom"))
    let night = try MetricsFile.night(
      fragments: [(zero, ["A", "B"]), (one, ["C"])], previousFileAt: folder.file("m.prom"), exitCode: 1,
      failedFirms: ["C"], failedAt: Date(timeIntervalSince1970: 2000),
      succeeded: ["A": Date(timeIntervalSince1970: 1500)])
    #expect(night.value(.extractRows, labels: ["firm": "B", "extract": "positions"]) == 10)
    #expect(night.value(.extractRows, labels: ["firm": "C", "extract": "positions"]) == 10)
    #expect(night.value(.lastSuccessTimestamp, labels: ["firm": "A"]) == 1500)
    #expect(night.value(.lastSuccessTimestamp, labels: ["firm": "B"]) == 1005)
    #expect(night.value(.lastSuccessTimestamp, labels: ["firm": "C"]) == 905)
    #expect(night.value(.lastSuccessTimestamp, labels: ["firm": "OLD"]) == 50)
    #expect(night.value(.lastFailureTimestamp, labels: ["firm": "C"]) == 2000)
    #expect(
      night.value(.lastFailureTimestamp, labels: ["firm": "A"]) == nil, "taken from another shard's file")
    #expect(night.value(.runExitCode) == 1)
    #expect(night.value(.lastAttemptTimestamp) == 900)
    _ = try StrictExpositionParser.parse(night.render())
  }

  @Test func rendersSortedEscapedExposition() throws {
    let text = try sampleMetrics().render()
    let expected = """
      # HELP eod_data_quality_issues Data-quality issues found for a firm in the last run, by code.
      # TYPE eod_data_quality_issues gauge
      eod_data_quality_issues{firm="F001",code="MISSING_PRICE"} 3
      eod_data_quality_issues{firm="we\\"ird\\\\firm\\nx",code="X"} 1
      # HELP eod_delivery_attempts_total Delivery attempts made in the last run, by firm and destination.
      # TYPE eod_delivery_attempts_total counter
      eod_delivery_attempts_total{firm="F001",destination="sftp://eod@h:22/in"} 3
      # HELP eod_extract_bytes Delivered bytes of an extract of the last run.
      # TYPE eod_extract_bytes gauge
      eod_extract_bytes{firm="F001",extract="positions"} 1234
      # HELP eod_extract_rows Rows in an extract of the last run.
      # TYPE eod_extract_rows gauge
      eod_extract_rows{firm="F001",extract="cash"} 7
      eod_extract_rows{firm="F001",extract="positions"} 42
      eod_extract_rows{firm="F002",extract="positions"} 120
      # HELP eod_last_success_timestamp_seconds Unix time of the last successful delivery of a firm's extract set.
      # TYPE eod_last_success_timestamp_seconds gauge
      eod_last_success_timestamp_seconds{firm="F001"} 1735780500
      # HELP eod_run_exit_code Exit code of the last eod-extract run.
      # TYPE eod_run_exit_code gauge
      eod_run_exit_code 1
      # HELP eod_step_duration_seconds Seconds a step took for a firm in the last run.
      # TYPE eod_step_duration_seconds gauge
      eod_step_duration_seconds{firm="F001",step="render"} 0.125

      """
    #expect(text == expected)
  }

  @Test func strictParserReadsItBack() throws {
    let families = try StrictExpositionParser.parse(try sampleMetrics().render())
    #expect(families.count == 7)
    #expect(families["eod_extract_rows"]?.samples.count == 3)
    #expect(families["eod_delivery_attempts_total"]?.type == "counter")
    let weird = families["eod_data_quality_issues"]?.samples.first { $0.labels["code"] == "X" }
    #expect(weird?.labels["firm"] == "we\"ird\\firm\nx")
    #expect(families["eod_run_exit_code"]?.samples.first?.value == "1")
  }

  /// Set by .ci/run: there a missing `prometheus_client` fails the test instead of skipping it.
  static let prometheusClientRequired =
    ProcessInfo.processInfo.environment["EOD_REQUIRE_PROMETHEUS_CLIENT"] == "1"

  @Test(
    .enabled(
      if: pythonHas("prometheus_client") || prometheusClientRequired,
      "python3 with prometheus_client is not installed (scripts/setup.sh installs it); EOD_REQUIRE_PROMETHEUS_CLIENT=1 makes this a failure"
    ))
  func prometheusClientParsesIt() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let path = dir.file("eod_extract.prom")
    try sampleMetrics().write(to: path)
    let script = """
      import json, sys
      from prometheus_client.parser import text_string_to_metric_families
      out = []
      for family in text_string_to_metric_families(open(sys.argv[1]).read()):
          for s in family.samples:
              out.append([family.name, family.type, s.name, s.labels, s.value])
      print(json.dumps(sorted(out, key=lambda x: (x[2], sorted(x[3].items())))))
      """
    let result = try run("/usr/bin/env", ["python3", "-c", script, path])
    try #require(result.status == 0)
    let parsed = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [[Any]])
    #expect(parsed.count == 10)
    let names = Set(parsed.compactMap { $0[2] as? String })
    #expect(names.contains("eod_delivery_attempts_total"))
    #expect(names.contains("eod_last_success_timestamp_seconds"))
    let attempts = parsed.first { ($0[2] as? String) == "eod_delivery_attempts_total" }
    #expect(attempts?[1] as? String == "counter")
    #expect(attempts?[4] as? Double == 3)
    let weird = parsed.first { (($0[3] as? [String: String])?["code"]) == "X" }
    #expect((weird?[3] as? [String: String])?["firm"] == "we\"ird\\firm\nx")
    let duration = parsed.first { ($0[2] as? String) == "eod_step_duration_seconds" }
    #expect(duration?[4] as? Double == 0.125)
  }

  @Test func writesAtomicallyAndReplaces() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let path = dir.file("eod_extract.prom")
    _ = try dir.write("eod_extract.prom", "old content\n", mode: 0o600)
    let metrics = try sampleMetrics()
    try metrics.write(to: path)
    #expect(try String(contentsOfFile: path, encoding: .utf8) == metrics.render())
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["eod_extract.prom"])
    let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
    #expect(mode == 0o644)
  }

  @Test func writeIntoMissingDirectoryFails() throws {
    let error = #expect(throws: MetricsError.self) {
      try MetricsFile().write(to: "/nonexistent-\(UUID())/x.prom")
    }
    #expect(error?.code == .writeFailed)
  }

  @Test func wrongLabelsAreRefused() {
    var metrics = MetricsFile()
    let error = #expect(throws: MetricsError.self) {
      try metrics.set(.extractRows, labels: ["firm": "F1"], 1)
    }
    #expect(error?.code == .labelMismatch)
    let conflicting = MetricDescriptor(
      name: "eod_extract_rows", kind: .counter, help: "x", labelNames: ["firm"])
    #expect(throws: MetricsError.self) { try metrics.set(conflicting, labels: ["firm": "F1"], 1) }
  }

  /// A shard's file, or the previous metrics file, is read back only when it is a regular file:
  /// a symlink planted at its name is not followed and a FIFO is not waited on (finalize would
  /// hang); both carry nothing forward, as a missing file does.
  @Test func aSymlinkOrFIFOAtAMetricsFilesNameIsNotReadBack() throws {
    let folder = try TemporaryDirectory()
    defer { folder.cleanup() }
    var shard = MetricsFile()
    try shard.set(.extractRows, labels: ["firm": "A", "extract": "positions"], 10)
    try shard.set(.lastSuccessTimestamp, labels: ["firm": "A"], 100)
    let real = folder.file("elsewhere.prom")
    try shard.write(to: real)
    let link = folder.file("m.prom.2026-10-01.shard-0-of-2")
    let fifo = folder.file("m.prom.2026-10-01.shard-1-of-2")
    #expect(symlink(real, link) == 0)
    #expect(mkfifo(fifo, 0o600) == 0)
    let night = try MetricsFile.night(
      fragments: [(link, ["A"]), (fifo, ["B"]), (real, ["A"])], previousFileAt: fifo, exitCode: 0,
      failedFirms: [], failedAt: Date(timeIntervalSince1970: 2000), succeeded: [:])
    // Only the regular file's samples arrive (the same file through the symlink adds nothing).
    #expect(night.value(.extractRows, labels: ["firm": "A", "extract": "positions"]) == 10)
    var through = MetricsFile()
    through.carryForward(.lastSuccessTimestamp, fromFileAt: link)
    #expect(through.value(.lastSuccessTimestamp, labels: ["firm": "A"]) == nil, "read through a symlink")
    through.carryForward(.lastSuccessTimestamp, fromFileAt: real)
    #expect(through.value(.lastSuccessTimestamp, labels: ["firm": "A"]) == 100)
  }

  @Test func carriesLastSuccessForward() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let path = dir.file("eod.prom")
    var yesterday = MetricsFile()
    try yesterday.set(.lastSuccessTimestamp, labels: ["firm": "F001"], 100)
    try yesterday.set(.lastSuccessTimestamp, labels: ["firm": "F002"], 100)
    try yesterday.set(.runExitCode, 0)
    try yesterday.write(to: path)

    var today = MetricsFile()
    try today.set(.lastSuccessTimestamp, labels: ["firm": "F001"], 200)  // F002 failed today
    try today.set(.runExitCode, 1)
    today.carryForward(.lastSuccessTimestamp, fromFileAt: path)
    #expect(today.value(.lastSuccessTimestamp, labels: ["firm": "F001"]) == 200)
    #expect(today.value(.lastSuccessTimestamp, labels: ["firm": "F002"]) == 100)
    #expect(today.value(.runExitCode) == 1)
    today.carryForward(.lastSuccessTimestamp, fromFileAt: dir.file("missing.prom"))
  }

  @Test func formatsSpecialValues() {
    #expect(MetricsFile.format(3) == "3")
    #expect(MetricsFile.format(-2) == "-2")
    #expect(MetricsFile.format(0.5) == "0.5")
    #expect(MetricsFile.format(.nan) == "NaN")
    #expect(MetricsFile.format(.infinity) == "+Inf")
    #expect(MetricsFile.format(-.infinity) == "-Inf")
    #expect(Double(MetricsFile.format(1e300)) == 1e300)
  }
}
