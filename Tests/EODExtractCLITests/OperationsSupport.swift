import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// A child process started in the background, its output going to files (no pipe can fill up).
final class Launched {
  let process: Process
  let stdoutPath: String
  let stderrPath: String

  init(_ arguments: [String], environment: [String: String], executable: String, logs: String) throws {
    stdoutPath = logs + ".out"
    stderrPath = logs + ".err"
    _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
    _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
    process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = environment
    process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
    process.standardError = FileHandle(forWritingAtPath: stderrPath)
    process.standardInput = FileHandle.nullDevice
    try process.run()
  }

  var pid: Int32 { process.processIdentifier }
  var isRunning: Bool { process.isRunning }

  /// Waits for the process to end and returns what it printed.
  func wait() -> Binary.Result {
    process.waitUntilExit()
    return Binary.Result(
      status: process.terminationStatus,
      stdout: (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "",
      stderr: (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "")
  }

  /// What it printed so far, without waiting.
  var printed: String {
    ((try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "")
      + ((try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "")
  }

  /// SIGKILL, then waits: the process gets no chance to clean up. (SIGTERM would not do:
  /// children of the test runner's worker threads inherit a mask that blocks it.)
  func kill() {
    if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
  }

}

/// Polls `condition` every 5 ms until it holds or `seconds` pass.
func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
  let deadline = Date().addingTimeInterval(seconds)
  while Date() < deadline {
    if condition() { return true }
    usleep(5_000)
  }
  return condition()
}

/// A job in a temporary folder: snapshots, a configuration file, a state store, a staging
/// folder and one local destination folder per firm.
struct OpsJob {
  let dir: String
  static let date = "2026-10-01"

  var state: String { dir + "/state/state.sqlite" }
  var out: String { dir + "/out" }
  var config: String { dir + "/config.yaml" }
  var metrics: String { dir + "/metrics/eod_extract.prom" }
  var templates: String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("templates").path
  }

  /// The `local_dir` configured for a firm.
  func destination(_ firm: String) -> String { dir + "/dest/" + firm }
  /// Where a firm's set for a date lands: `local_dir/<firm>/<date>/`.
  func delivered(_ firm: String, _ date: String = OpsJob.date) -> String {
    destination(firm) + "/" + firm + "/" + date
  }
  func staged(_ firm: String, _ date: String = OpsJob.date) -> String { out + "/" + firm + "/" + date }
  static func manifestName(_ firm: String, _ date: String = OpsJob.date) -> String {
    "\(firm)_manifest_\(date.replacingOccurrences(of: "-", with: "")).json"
  }

  /// Makes the folder and `days` snapshots from 2026-10-01.
  static func make(_ name: String, accounts: Int = 40, firms: Int = 2, days: Int = 1) throws -> OpsJob {
    let job = OpsJob(dir: try Binary.scratch("ops-" + name))
    for sub in ["state", "dest", "metrics"] {
      try FileManager.default.createDirectory(atPath: job.dir + "/" + sub, withIntermediateDirectories: true)
    }
    let generated = try Binary.run([
      "generate", job.dir + "/snap", "--days", "\(days)", "--accounts", "\(accounts)", "--firms", "\(firms)",
      "--instruments", "60",
    ])
    try #require(generated.status == 0, "generate failed: \(generated.stderr)")
    return job
  }

  func remove() { try? FileManager.default.removeItem(atPath: dir) }

  struct LockNotHeld: Error, CustomStringConvertible {
    var path: String
    var description: String { "the helper process did not take the lock \(path) within 5 s" }
  }

  /// Another process holding the state store's run lock: a shell that takes `flock` on the lock
  /// file and then becomes `sleep` (SIGKILL releases it: SIGTERM is blocked in children of the
  /// test runner). Returns once the lock is held.
  func holdStateLock() throws -> Launched {
    let lockPath = state + ".lock"
    let holder = try Launched(
      ["-c", "exec 9>>'\(lockPath)' && /usr/bin/flock -x 9 && touch '\(lockPath).held' && exec sleep 30"],
      environment: OpsJob.environment([:]), executable: "/bin/sh", logs: dir + "/holder")
    guard waitUntil(seconds: 5, { FileManager.default.fileExists(atPath: lockPath + ".held") }) else {
      holder.kill()
      throw LockNotHeld(path: lockPath)
    }
    return holder
  }

  /// Writes the configuration: the firms with local destinations (or the given `local_dir`s),
  /// plus any extra top-level YAML; the state store is ``state`` (created when missing), or the
  /// PostgreSQL store at `stateURL`.
  func writeConfig(
    firms: [String], localDirs: [String: String] = [:], extra: String = "", stateURL: String? = nil
  ) throws {
    var yaml = """
      version: 1
      snapshot: \(dir)/snap/ledger-{date}.sqlite
      state_store: \(stateURL.map { "{url: \($0)}" } ?? "{path: \(state), create: true}")
      output_dir: \(out)
      templates_dir: \(templates)
      compression: 1
      metrics_file: \(metrics)

      """
    yaml += extra
    yaml += "firms:\n"
    for firm in firms {
      yaml +=
        "  - firm_id: \(firm)\n    destination:\n      local_dir: \(localDirs[firm] ?? destination(firm))\n"
    }
    try yaml.write(toFile: config, atomically: true, encoding: .utf8)
  }

  /// `eod-extract run --config` for a date, with more arguments and environment.
  func run(
    _ more: [String] = [], date: String = OpsJob.date, environment: [String: String] = [:]
  ) throws -> Binary.Result {
    try start(more, date: date, environment: environment, name: "run-\(UUID().uuidString.prefix(6))").wait()
  }

  func start(
    _ more: [String] = [], date: String = OpsJob.date, environment: [String: String] = [:], name: String
  ) throws -> Launched {
    try Launched(
      ["run", "--config", config, "--date", date] + more, environment: OpsJob.environment(environment),
      executable: Binary.path, logs: dir + "/" + name)
  }

  /// The inherited environment without a fixed clock, plus `extra`.
  static func environment(_ extra: [String: String]) -> [String: String] {
    var environment = ProcessInfo.processInfo.environment
    environment["EOD_NOW"] = nil
    environment["EOD_TEMPLATES"] = nil
    for (key, value) in extra { environment[key] = value }
    return environment
  }

  /// The delivery journal as CSV lines (header dropped).
  func journal() throws -> [String] {
    let result = try Binary.run(["deliveries", "--state", state])
    #expect(result.status == 0, "deliveries: \(result.stderr)")
    return result.stdout.split(separator: "\n").dropFirst().map(String.init)
  }

  /// The manifest JSON object at a path.
  static func manifest(at path: String) throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
  }

  static func fileEntries(_ manifest: [String: Any]) -> [[String: Any]] {
    manifest["files"] as? [[String: Any]] ?? []
  }

  /// Checks a firm's delivered set: every file the manifest lists is there with the bytes it
  /// claims, identical to the staged file; nothing else is visible; no temporary file is left.
  func expectCompleteSet(
    _ firm: String, date: String = OpsJob.date, manifestMatchesStaging: Bool = true,
    sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let folder = delivered(firm, date)
    let manifestPath = folder + "/" + OpsJob.manifestName(firm, date)
    guard FileManager.default.fileExists(atPath: manifestPath) else {
      Issue.record("\(firm): no manifest at \(manifestPath)", sourceLocation: sourceLocation)
      return
    }
    let manifest = try OpsJob.manifest(at: manifestPath)
    #expect(manifest["firm_id"] as? String == firm, sourceLocation: sourceLocation)
    let entries = OpsJob.fileEntries(manifest)
    #expect(!entries.isEmpty, "\(firm): the manifest lists no files", sourceLocation: sourceLocation)
    var expected: Set<String> = [OpsJob.manifestName(firm, date)]
    for entry in entries {
      guard let name = entry["name"] as? String, let sha = entry["sha256"] as? String,
        let bytes = entry["bytes"] as? Int
      else {
        Issue.record("\(firm): malformed file entry \(entry)", sourceLocation: sourceLocation)
        continue
      }
      expected.insert(name)
      let path = folder + "/" + name
      let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
      #expect(
        size == bytes, "\(firm): \(name) is \(size ?? -1) bytes, manifest says \(bytes)",
        sourceLocation: sourceLocation)
      #expect(
        sha256(path) == sha, "\(firm): \(name) does not hash to the manifest's sha256",
        sourceLocation: sourceLocation)
      #expect(
        FileManager.default.contentsEqual(atPath: path, andPath: staged(firm, date) + "/" + name),
        "\(firm): delivered \(name) differs from the staged file", sourceLocation: sourceLocation)
    }
    if manifestMatchesStaging {
      #expect(
        FileManager.default.contentsEqual(
          atPath: manifestPath, andPath: staged(firm, date) + "/" + OpsJob.manifestName(firm, date)),
        "\(firm): delivered manifest differs from the staged one", sourceLocation: sourceLocation)
    }
    let present = try FileManager.default.contentsOfDirectory(atPath: folder)
    let visible = Set(present.filter { !$0.hasPrefix(".") })
    #expect(
      visible == expected, "\(firm): visible files \(visible.sorted()) vs \(expected.sorted())",
      sourceLocation: sourceLocation)
    let temporary = present.filter { $0.contains(".part-") }
    #expect(temporary.isEmpty, "\(firm): temporary files left: \(temporary)", sourceLocation: sourceLocation)
  }
}

/// Lower-case hex SHA-256 of a file, by `sha256sum`.
func sha256(_ path: String) -> String? {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
  process.arguments = [path]
  let out = Pipe()
  process.standardOutput = out
  process.standardError = FileHandle.nullDevice
  do { try process.run() } catch { return nil }
  let data = out.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  guard process.terminationStatus == 0 else { return nil }
  return String(decoding: data, as: UTF8.self).split(separator: " ").first.map(String.init)
}

/// Runs `sqlite3 DB SQL` and returns its output.
@discardableResult
func sqlite(_ database: String, _ sql: String) throws -> String {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
  process.arguments = [database, sql]
  let out = Pipe()
  process.standardOutput = out
  try process.run()
  let data = out.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  try #require(process.terminationStatus == 0, "sqlite3 \(sql) failed")
  return String(decoding: data, as: UTF8.self)
}

/// A local HTTP receiver for webhooks (python3's http.server on 127.0.0.1, port 0). It checks
/// each request's `Webhook-Signature` itself with `hmac` and logs one JSON line per request.
///
/// Modes: `script` answers 500, then 429 with `Retry-After: 1`, then 200, per event id;
/// `fail` always answers 500; `hang` logs the request and answers only after 60 s; `redirect`
/// answers 307 to `/stolen` on itself (which would answer 500 and log the re-posted body).
final class WebhookReceiver {
  let process: Process
  let logPath: String
  let port: Int
  static let secret = "s3cr3t-for-tests-\u{00e9}"

  static let script = #"""
    import hashlib, hmac, json, os, sys, threading, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    log_path, port_path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    secret = os.environ["HOOK_SECRET"].encode("utf-8")
    attempts = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def read_body(self):
            if "Content-Length" in self.headers:
                return self.rfile.read(int(self.headers["Content-Length"]))
            body = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()

        def do_POST(self):
            body = self.read_body()
            stamp = self.headers.get("Webhook-Timestamp", "")
            given = self.headers.get("Webhook-Signature", "")
            expected = "v1=" + hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            event_id = self.headers.get("Webhook-Id", "")
            with lock:
                n = attempts.get(event_id, 0) + 1
                attempts[event_id] = n
            if mode == "redirect" and self.path != "/stolen":
                status = 307
            elif mode == "fail":
                status = 500
            elif mode == "hang":
                status = 200
            else:
                status = [500, 429, 200][min(n, 3) - 1]
            record = {
                "id": event_id, "attempt": n, "status": status, "time": time.time(),
                "timestamp": stamp, "signature_ok": hmac.compare_digest(expected, given),
                "content_type": self.headers.get("Content-Type", ""), "path": self.path,
                "body": body.decode("utf-8"),
            }
            with lock:
                with open(log_path, "a") as log:
                    log.write(json.dumps(record) + "\n")
            if mode == "hang":
                time.sleep(60)
            self.send_response(status)
            if status == 307:
                self.send_header("Location", "http://127.0.0.1:%d/stolen" % self.server.server_address[1])
            if status == 429:
                self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(port_path + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(port_path + ".tmp", port_path)
    server.serve_forever()
    """#

  init(mode: String, in dir: String) throws {
    let scriptPath = dir + "/receiver.py"
    try WebhookReceiver.script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
    logPath = dir + "/receiver-\(mode).log"
    let portPath = dir + "/receiver-\(mode).port"
    process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", scriptPath, logPath, portPath, mode]
    var environment = ProcessInfo.processInfo.environment
    environment["HOOK_SECRET"] = WebhookReceiver.secret
    process.environment = environment
    try process.run()
    let started = waitUntil(seconds: 10) { FileManager.default.fileExists(atPath: portPath) }
    try #require(started, "the webhook receiver did not start")
    port = Int((try String(contentsOfFile: portPath, encoding: .utf8))) ?? 0
    try #require(port > 0)
  }

  var url: String { "http://127.0.0.1:\(port)/hooks/eod" }

  /// Every request received so far, in order.
  func requests() -> [[String: Any]] {
    guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return [] }
    return text.split(separator: "\n").compactMap {
      try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
  }

  /// SIGKILL: children of the test runner inherit a signal mask that blocks SIGTERM.
  func stop() {
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
  }

  /// The `webhooks:` block pointing at this receiver, with small retry bounds.
  /// `allowPrivate`: the receiver is on loopback, which webhooks refuse unless allowed.
  func configuration(
    maxAttempts: Int, requestTimeout: Double = 5, total: Double = 15, allowPrivate: Bool = true
  ) -> String {
    """
    webhooks:
      allow_private_addresses: \(allowPrivate)
      max_attempts: \(maxAttempts)
      base_delay_seconds: 0.1
      max_delay_seconds: 0.4
      total_seconds: \(total)
      request_timeout_seconds: \(requestTimeout)
      endpoints:
        - url: \(url)
          secret_env: OPS_HOOK_SECRET

    """
  }
}

/// One sample of a Prometheus text exposition.
struct PrometheusSample: Equatable {
  var name: String
  var labels: [String: String]
  var value: String

  var number: Double? {
    switch value {
    case "+Inf": .infinity
    case "-Inf": -.infinity
    case "NaN": .nan
    default: Double(value)
    }
  }
}

/// A strict parser of the Prometheus text format (version 0.0.4): `# HELP`, `# TYPE`, samples
/// `name{label="value",...} value [timestamp]`; families contiguous, TYPE before samples, no
/// duplicate series.
enum PrometheusText {
  struct ParseError: Error, CustomStringConvertible {
    var line: Int
    var text: String
    var reason: String
    var description: String { "line \(line) \"\(text)\": \(reason)" }
  }

  static func isMetricName(_ name: Substring) -> Bool {
    guard let first = name.first, first.isASCII, first.isLetter || first == "_" || first == ":" else {
      return false
    }
    return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":") }
  }

  static func isLabelName(_ name: Substring) -> Bool {
    guard let first = name.first, first.isASCII, first.isLetter || first == "_" else { return false }
    return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
  }

  static func isValue(_ text: Substring) -> Bool {
    if ["+Inf", "-Inf", "NaN"].contains(text) { return true }
    var rest = text[...]
    if rest.first == "-" || rest.first == "+" { rest = rest.dropFirst() }
    let mantissa = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
    guard !mantissa.isEmpty, mantissa.filter({ $0 == "." }).count <= 1, mantissa != "." else { return false }
    rest = rest.dropFirst(mantissa.count)
    if rest.isEmpty { return true }
    guard rest.first == "e" || rest.first == "E" else { return false }
    rest = rest.dropFirst()
    if rest.first == "-" || rest.first == "+" { rest = rest.dropFirst() }
    return !rest.isEmpty && rest.allSatisfy { $0.isASCII && $0.isNumber }
  }

  /// The family a sample belongs to (summary/histogram suffixes fold into it).
  static func family(_ name: String, types: [String: String]) -> String {
    for suffix in ["_bucket", "_count", "_sum"] where name.hasSuffix(suffix) {
      let base = String(name.dropLast(suffix.count))
      if let type = types[base], type == "histogram" || type == "summary" { return base }
    }
    return name
  }

  static func parse(_ text: String) throws -> [PrometheusSample] {
    guard text.isEmpty || text.hasSuffix("\n") else {
      throw ParseError(line: 0, text: "", reason: "the last line is not terminated by a newline")
    }
    var samples: [PrometheusSample] = []
    var types: [String: String] = [:]
    var helps: Set<String> = []
    var finished: Set<String> = []
    var current: String?
    var series: Set<String> = []
    for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().enumerated()
    {
      let line = index + 1
      func fail(_ reason: String) -> ParseError { ParseError(line: line, text: String(raw), reason: reason) }
      if raw.isEmpty { continue }
      if raw.hasPrefix("#") {
        let parts = raw.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0] == "#" else { continue }
        if parts[1] == "HELP" || parts[1] == "TYPE" {
          guard parts.count >= 3, isMetricName(parts[2]) else { throw fail("bad metric name") }
          let name = String(parts[2])
          guard !samples.contains(where: { family($0.name, types: types) == name }) else {
            throw fail("\(parts[1]) for \(name) after its samples")
          }
          if parts[1] == "HELP" {
            guard helps.insert(name).inserted else { throw fail("second HELP for \(name)") }
          } else {
            guard parts.count == 4,
              ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3])
            else { throw fail("bad TYPE") }
            guard types[name] == nil else { throw fail("second TYPE for \(name)") }
            types[name] = String(parts[3])
          }
        }
        continue
      }
      // name{labels} value [timestamp]
      var rest = raw[...]
      let name = rest.prefix { $0 != "{" && $0 != " " }
      guard isMetricName(name) else { throw fail("bad metric name") }
      rest = rest.dropFirst(name.count)
      var labels: [String: String] = [:]
      if rest.first == "{" {
        rest = rest.dropFirst()
        while rest.first != "}" {
          let labelName = rest.prefix { $0 != "=" }
          guard isLabelName(labelName) else { throw fail("bad label name") }
          rest = rest.dropFirst(labelName.count)
          guard rest.hasPrefix("=\"") else { throw fail("label \(labelName) has no quoted value") }
          rest = rest.dropFirst(2)
          var value = ""
          while true {
            guard let character = rest.first else { throw fail("unterminated label value") }
            rest = rest.dropFirst()
            if character == "\"" { break }
            if character == "\\" {
              guard let escaped = rest.first else { throw fail("bad escape") }
              rest = rest.dropFirst()
              switch escaped {
              case "\\": value.append("\\")
              case "\"": value.append("\"")
              case "n": value.append("\n")
              default: throw fail("bad escape \\\(escaped)")
              }
            } else {
              value.append(character)
            }
          }
          guard labels.updateValue(value, forKey: String(labelName)) == nil else {
            throw fail("label \(labelName) twice")
          }
          if rest.first == "," {
            rest = rest.dropFirst()
          } else if rest.first != "}" {
            throw fail("expected , or } after a label")
          }
        }
        rest = rest.dropFirst()
      }
      guard rest.first == " " else { throw fail("no space before the value") }
      let fields = rest.dropFirst().split(separator: " ", omittingEmptySubsequences: false)
      guard fields.count == 1 || fields.count == 2, isValue(fields[0]) else { throw fail("bad value") }
      if fields.count == 2 {
        guard Int64(fields[1]) != nil else { throw fail("bad timestamp") }
      }
      let sample = PrometheusSample(name: String(name), labels: labels, value: String(fields[0]))
      let sampleFamily = family(sample.name, types: types)
      if current != sampleFamily {
        if let current { finished.insert(current) }
        guard !finished.contains(sampleFamily) else {
          throw fail("samples of \(sampleFamily) are not together")
        }
        current = sampleFamily
      }
      let key =
        sample.name + "|"
        + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
          separator: ",")
      guard series.insert(key).inserted else { throw fail("duplicate series") }
      samples.append(sample)
    }
    return samples
  }
}
