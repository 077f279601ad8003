import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Issues 11 and 12, the operations side: webhooks that redirect or point inside the machine,
/// idempotency retries, SFTP paths and key paths, every outcome visible (metrics and one JSON
/// log line on every exit), `status`, and a configured firm missing from the snapshot.
@Suite(.serialized) struct OutcomeTests {
  static func metrics(_ job: OpsJob) throws -> [PrometheusSample] {
    try PrometheusText.parse(try String(contentsOfFile: job.metrics, encoding: .utf8))
  }

  static func value(_ samples: [PrometheusSample], _ name: String, _ labels: [String: String] = [:])
    -> Double?
  {
    samples.first { $0.name == name && $0.labels == labels }?.number
  }

  /// Every stderr line of a run whose stderr is not a terminal is a JSON object.
  static func jsonLines(_ stderr: String, sourceLocation: SourceLocation = #_sourceLocation) -> [[String:
    Any]]
  {
    stderr.split(separator: "\n").compactMap { line in
      let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
      #expect(object != nil, "not a JSON log line: \(line)", sourceLocation: sourceLocation)
      return object
    }
  }

  // MARK: Webhooks

  @Test func aWebhookThatRedirectsIsAPermanentFailureAndTheBodyGoesNowhereElse() throws {
    let job = try OpsJob.make("redirect")
    defer { job.remove() }
    let receiver = try WebhookReceiver(mode: "redirect", in: job.dir)
    defer { receiver.stop() }
    try job.writeConfig(firms: ["FIRM001"], extra: receiver.configuration(maxAttempts: 3))
    let run = try job.run(environment: ["OPS_HOOK_SECRET": WebhookReceiver.secret])
    #expect(run.status == 0, "a webhook failure does not change the run: \(run.stdout)\(run.stderr)")
    let requests = receiver.requests()
    #expect(requests.count == 1, "one attempt, not retried, not followed: \(requests)")
    #expect(!requests.contains { ($0["path"] as? String) == "/stolen" }, "the redirect was followed")
    #expect(run.stderr.contains("redirect") && run.stderr.contains("307"), "\(run.stderr)")
    #expect(!run.stderr.contains("\"webhook delivered\""), "logged as delivered: \(run.stderr)")
    _ = Self.jsonLines(run.stderr)
  }

  @Test func theCloudMetadataAddressAndLoopbackAreRefusedWithoutTheAllowKey() throws {
    let job = try OpsJob.make("metadata")
    defer { job.remove() }
    for url in ["https://169.254.169.254/latest/meta-data", "http://127.0.0.1:9/h", "http://[::1]:9/h"] {
      try job.writeConfig(
        firms: ["FIRM001"],
        extra: """
          webhooks:
            endpoints:
              - url: \(url)
                secret_env: OPS_HOOK_SECRET

          """)
      let check = try Binary.run(["check-config", job.config])
      // Never let a run try the address (on code that would accept it): required first.
      try #require(check.status == 2, "\(url): \(check.stdout)\(check.stderr)")
      #expect(
        check.stdout.contains("webhooks.endpoints[0].url") && check.stdout.contains("refused"),
        "\(check.stdout)")
      let run = try job.run(environment: ["OPS_HOOK_SECRET": "x"])
      #expect(run.status == 2, "\(url): the run refuses the configuration: \(run.stdout)\(run.stderr)")
      #expect(!FileManager.default.fileExists(atPath: job.delivered("FIRM001")), "nothing done")
    }
    // Allowed explicitly, by a network list: accepted.
    try job.writeConfig(
      firms: ["FIRM001"],
      extra: """
        webhooks:
          allowed_cidrs: [127.0.0.0/8]
          endpoints:
            - url: http://127.0.0.1:9/h
              secret_env: OPS_HOOK_SECRET

        """)
    let allowed = try Binary.run(["check-config", job.config])
    #expect(!allowed.stdout.contains("webhooks.endpoints[0].url"), "\(allowed.stdout)")
  }

  // MARK: Idempotency

  @Test func aRetryUnderAKeyWhoseFirstRunFailedDeliversWhatWasMissingAndOnlyThat() throws {
    let job = try OpsJob.make("idem-retry")
    defer { job.remove() }
    // FIRM001's set cannot be placed (a file stands where its folder goes); FIRM002's can.
    let blocked = job.destination("FIRM001") + "/FIRM001"
    try FileManager.default.createDirectory(
      atPath: job.destination("FIRM001"), withIntermediateDirectories: true)
    try Data("x".utf8).write(to: URL(fileURLWithPath: blocked))
    try job.writeConfig(firms: ["FIRM001", "FIRM002"])
    let key = "3b1f7c2e-9a4d-4e8b-8c6f-1d2e3f4a5b6c"
    let first = try job.run(["--idempotency-key", key], environment: ["EOD_NOW": "2026-10-02T08:00:00Z"])
    #expect(first.status == 1, "\(first.stdout)\(first.stderr)")
    #expect(first.stdout.contains("FIRM001: DELIVERY FAILED"))
    try job.expectCompleteSet("FIRM002")
    let journalAfterFirst = try job.journal()
    #expect(!journalAfterFirst.contains { $0.hasPrefix("FIRM001,") })

    // The destination is fixed; the same request again.
    try FileManager.default.removeItem(atPath: blocked)
    let retry = try job.run(["--idempotency-key", key], environment: ["EOD_NOW": "2026-10-02T09:00:00Z"])
    #expect(retry.status == 0, "\(retry.stdout)\(retry.stderr)")
    #expect(retry.stdout.contains("FIRM001: delivered to"), "\(retry.stdout)")
    #expect(!retry.stdout.contains("FIRM002"), "only the failed firm is done again: \(retry.stdout)")
    try job.expectCompleteSet("FIRM001")
    let journal = try job.journal()
    #expect(
      journal.filter { $0.hasPrefix("FIRM002,") } == journalAfterFirst.filter { $0.hasPrefix("FIRM002,") },
      "FIRM002 was not sent again")
    #expect(journal.filter { $0.hasPrefix("FIRM001,") }.count == 6)

    // Now complete: a replay repeats what happened (both runs' lines) and sends nothing.
    let replay = try job.run(["--idempotency-key", key], environment: ["EOD_NOW": "2026-10-02T10:00:00Z"])
    #expect(replay.status == 0, "\(replay.stderr)")
    #expect(replay.stdout == first.stdout + retry.stdout, "\(replay.stdout)")
    #expect(try job.journal() == journal)
  }

  /// A replay never reports a delivery that did not happen: a failed request replayed while the
  /// fault is still there fails again (exit 1) and says so.
  @Test func aRetryWhileTheFaultPersistsStillFails() throws {
    let job = try OpsJob.make("idem-still")
    defer { job.remove() }
    let blocked = job.destination("FIRM001") + "/FIRM001"
    try FileManager.default.createDirectory(
      atPath: job.destination("FIRM001"), withIntermediateDirectories: true)
    try Data("x".utf8).write(to: URL(fileURLWithPath: blocked))
    try job.writeConfig(firms: ["FIRM001"])
    let key = "0c9e8d7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f"
    let first = try job.run(["--idempotency-key", key])
    #expect(first.status == 1)
    let again = try job.run(["--idempotency-key", key])
    #expect(again.status == 1, "\(again.stdout)\(again.stderr)")
    #expect(again.stdout.contains("DELIVERY FAILED"), "\(again.stdout)")
    #expect(!again.stdout.contains("\"firm_id\""), "no manifest is reported: \(again.stdout)")
  }

  // MARK: SFTP paths and key paths

  @Test func parentComponentsAreRefusedInSFTPPathsAndKeyPathsStayOutOfTheLogs() throws {
    let job = try OpsJob.make("sftp-paths")
    defer { job.remove() }
    let snapshot = job.dir + "/snap/ledger-\(OpsJob.date).sqlite"
    let key = job.dir + "/very-secret-key-location/id_ed25519"
    try FileManager.default.createDirectory(
      atPath: (key as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data("not a key".utf8).write(to: URL(fileURLWithPath: key))
    chmod(key, 0o644)
    let knownHosts = job.dir + "/known_hosts"
    try Data().write(to: URL(fileURLWithPath: knownHosts))
    for url in ["sftp://u@127.0.0.1:1/inbound/../other", "sftp://u@127.0.0.1:1/%2e%2e/x"] {
      let run = try Binary.run([
        "run", "--init-state", "--snapshot", snapshot, "--state", job.state, "--out", job.out,
        "--destination", url,
        "--identity", key, "--known-hosts", knownHosts,
      ])
      #expect(run.status == 2, "\(url): \(run.stdout)\(run.stderr)")
      #expect(run.stderr.contains("--destination") && run.stderr.contains(".."), "\(run.stderr)")
      #expect(!FileManager.default.fileExists(atPath: job.out), "nothing written")
    }
    try job.writeConfig(firms: ["FIRM001"])
    var yaml = try String(contentsOfFile: job.config, encoding: .utf8)
    yaml = yaml.replacingOccurrences(
      of: "      local_dir: \(job.destination("FIRM001"))\n",
      with: """
              sftp:
                host: 127.0.0.1
                port: 1
                user: u
                remote_dir: /inbound/../../etc
                identity_file: \(key)
                known_hosts: \(knownHosts)

        """)
    try yaml.write(toFile: job.config, atomically: true, encoding: .utf8)
    let check = try Binary.run(["check-config", job.config])
    #expect(check.status == 2)
    #expect(check.stdout.contains("remote_dir") && check.stdout.contains(".."), "\(check.stdout)")

    // A key readable by others: the delivery fails before any connection, and neither the
    // output nor the logs name the key's path.
    let run = try Binary.run([
      "run", "--init-state", "--snapshot", snapshot, "--state", job.state, "--out", job.out, "--destination",
      "sftp://u@127.0.0.1:1/inbound", "--identity", key, "--known-hosts", knownHosts,
    ])
    #expect(run.status == 1, "\(run.stdout)\(run.stderr)")
    #expect(run.stdout.contains("DELIVERY FAILED"))
    #expect(!(run.stdout + run.stderr).contains("very-secret-key-location"), "\(run.stdout)\(run.stderr)")
  }

  // MARK: Every outcome visible

  @Test func metricsAndOneJSONLineAfterExitTwoThreeAndSeventy() throws {
    let job = try OpsJob.make("outcomes")
    defer { job.remove() }
    try job.writeConfig(firms: ["FIRM001", "FIRM002"])
    let ok = try job.run()
    #expect(ok.status == 0, "\(ok.stderr)")
    // Every log line parses, and numbers are numbers.
    let lines = Self.jsonLines(ok.stderr)
    let extract = lines.first { $0["message"] as? String == "firm extracted" || $0["duration_ms"] != nil }
    #expect(extract?["duration_ms"] is Int, "duration_ms is a number: \(ok.stderr)")
    for line in lines {
      for key in ["duration_ms", "read_ms", "rows", "files", "pid", "value_ms"] where line[key] != nil {
        #expect(line[key] is Int, "\(key) is not a number in \(line)")
      }
    }
    let success = try #require(
      Self.value(try Self.metrics(job), "eod_last_success_timestamp_seconds", ["firm": "FIRM001"]))

    func expectOutcome(_ run: Binary.Result, _ code: Int32, failedFirms: Bool) throws {
      #expect(run.status == code, "\(run.stdout)\(run.stderr)")
      let lines = Self.jsonLines(run.stderr)
      let fatal = lines.first { $0["message"] as? String == "run failed" }
      #expect(fatal?["exit_code"] as? Int == Int(code), "\(run.stderr)")
      #expect((fatal?["run_id"] as? String)?.count == 36, "\(run.stderr)")
      #expect((fatal?["error"] as? String)?.isEmpty == false)
      let samples = try Self.metrics(job)
      #expect(Self.value(samples, "eod_run_exit_code") == Double(code), "\(samples)")
      #expect(Self.value(samples, "eod_run_last_attempt_timestamp_seconds") != nil)
      #expect(
        Self.value(samples, "eod_last_success_timestamp_seconds", ["firm": "FIRM001"]) == success,
        "the last success is kept")
      #expect(
        (Self.value(samples, "eod_last_failure_timestamp_seconds", ["firm": "FIRM001"]) != nil) == failedFirms
      )
    }

    // Exit 2: the date's snapshot is not there.
    try expectOutcome(try job.run(date: "2026-10-05"), 2, failedFirms: true)
    // Exit 70: the test-only hook.
    try expectOutcome(try job.run(environment: ["EOD_TEST_INTERNAL_ERROR": "1"]), 70, failedFirms: true)
    // Exit 3: another process holds the lock.
    let holder = try job.holdStateLock()
    defer { holder.kill() }
    try expectOutcome(try job.run(), 3, failedFirms: true)
    holder.kill()

    // status shows what was delivered and the whole-run failures (exit 3 is not recorded: the
    // store belonged to the other run).
    let status = try Binary.run(["status", "--state", job.state, "--json"])
    #expect(status.status == 0, "\(status.stderr)")
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
    let firms = try #require(object["firms"] as? [[String: Any]])
    #expect(firms.map { $0["firm_id"] as? String } == ["FIRM001", "FIRM002"])
    #expect(firms.first?["last_delivered_date"] as? String == OpsJob.date)
    #expect((firms.first?["last_delivered_run_id"] as? String)?.count == 36)
    let lastRun = try #require(object["last_run_failure"] as? [String: Any])
    #expect(lastRun["exit_code"] as? Int == 70, "\(lastRun)")
  }

  // MARK: Isolation

  @Test func aConfiguredFirmMissingFromTheSnapshotFailsAlone() throws {
    let job = try OpsJob.make("missing-firm")
    defer { job.remove() }
    let receiver = try WebhookReceiver(mode: "script", in: job.dir)
    defer { receiver.stop() }
    try job.writeConfig(firms: ["FIRM001", "FIRM009", "FIRM002"])
    let check = try Binary.run(["check-config", job.config, "--date", OpsJob.date])
    #expect(check.status == 2, "\(check.stdout)")
    #expect(check.stdout.contains("firms[1].firm_id: FIRM009 is not in the snapshot"), "\(check.stdout)")
    let fine = try Binary.run(["check-config", job.config, "--date", "2026-10-02"])
    #expect(fine.status == 0, "no snapshot for that date yet: nothing to report: \(fine.stdout)")
    try job.writeConfig(
      firms: ["FIRM001", "FIRM009", "FIRM002"], extra: receiver.configuration(maxAttempts: 3))
    let run = try job.run(environment: ["OPS_HOOK_SECRET": WebhookReceiver.secret])
    #expect(run.status == 1, "\(run.stdout)\(run.stderr)")
    #expect(run.stdout.contains("FIRM009: FAILED"), "\(run.stdout)")
    for firm in ["FIRM001", "FIRM002"] { try job.expectCompleteSet(firm) }
    let samples = try Self.metrics(job)
    #expect(Self.value(samples, "eod_run_exit_code") == 1)
    #expect(Self.value(samples, "eod_last_failure_timestamp_seconds", ["firm": "FIRM009"]) != nil)
    #expect(Self.value(samples, "eod_last_success_timestamp_seconds", ["firm": "FIRM002"]) != nil)
    let failed = receiver.requests().filter {
      ($0["body"] as? String)?.contains("extract.failed") == true
        && ($0["body"] as? String)?.contains("FIRM009") == true
    }
    #expect(!failed.isEmpty, "an extract.failed webhook for FIRM009: \(receiver.requests())")
    // Every log line of a run with failures and retried webhooks parses; numbers are numbers.
    let lines = Self.jsonLines(run.stderr)
    let delivered = lines.filter { $0["message"] as? String == "webhook delivered" }
    #expect(!delivered.isEmpty && delivered.allSatisfy { $0["status"] is Int && $0["attempts"] is Int })
    let status = try Binary.run(["status", "--state", job.state])
    #expect(status.stdout.contains("FIRM009: never delivered; last failure"), "\(status.stdout)")
    #expect(status.stdout.contains("FIRM001: delivered \(OpsJob.date)"), "\(status.stdout)")
  }
}
