import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Issue 5, "Nightly operations": the built binary run as cron/systemd would, with a
/// configuration file, in a temporary folder.
@Suite(.serialized) struct OperationsTests {
  /// The tests run the binary built with them (same scratch path), not a stale one.
  @Test func theBinaryIsTheOneBuiltWithTheseTests() throws {
    #expect(FileManager.default.isExecutableFile(atPath: Binary.path))
    let running = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    #expect(URL(fileURLWithPath: Binary.path).deletingLastPathComponent().path == running.path)
  }

  // MARK: 1. Overlapping runs

  @Test func aRunWhileTheStateLockIsHeldExitsThreeAtOnce() throws {
    let job = try OpsJob.make("flock")
    defer { job.remove() }
    try job.writeConfig(firms: ["FIRM001", "FIRM002"])
    let lockPath = job.state + ".lock"
    let holder = try job.holdStateLock()
    defer { holder.kill() }
    let started = Date()
    let run = try job.run()
    let elapsed = Date().timeIntervalSince(started)
    #expect(run.status == 3, "\(run.stdout)\(run.stderr)")
    #expect(elapsed < 5, "a refused run must not wait for the lock (took \(elapsed) s)")
    #expect(run.stderr.contains(lockPath), "the message names the lock: \(run.stderr)")
    #expect(!FileManager.default.fileExists(atPath: job.out), "nothing written by the refused run")
    #expect(!FileManager.default.fileExists(atPath: job.state), "the state store was not even opened")
  }

  /// The first run is held in its webhook step by a receiver that does not answer, so it is
  /// certainly still running (and holding the lock) when the second starts.
  @Test func twoOverlappingRunsTheSecondExitsThreeAndTheFirstFinishes() throws {
    let job = try OpsJob.make("overlap")
    defer { job.remove() }
    let receiver = try WebhookReceiver(mode: "hang", in: job.dir)
    defer { receiver.stop() }
    try job.writeConfig(
      firms: ["FIRM001", "FIRM002"],
      extra: receiver.configuration(maxAttempts: 1, requestTimeout: 10, total: 12))
    let environment = ["OPS_HOOK_SECRET": WebhookReceiver.secret]
    let first = try job.start(environment: environment, name: "first")
    defer { first.kill() }
    let inFlight = waitUntil(seconds: 20) {
      FileManager.default.fileExists(atPath: job.state + ".lock")
        && FileManager.default.fileExists(atPath: job.out) && !receiver.requests().isEmpty
    }
    try #require(inFlight, "the first run did not reach its webhook step: \(first.printed)")
    try #require(first.isRunning)

    let started = Date()
    let second = try job.run(environment: environment)
    let elapsed = Date().timeIntervalSince(started)
    #expect(second.status == 3, "\(second.stdout)\(second.stderr)")
    #expect(elapsed < 5, "the second run must exit at once (took \(elapsed) s)")
    #expect(second.stderr.contains("PID \(first.pid)"), "names the holder: \(second.stderr)")
    #expect(first.isRunning, "the first run was still running during the second")
    #expect(!second.stdout.contains("delivered"), "the second run did nothing: \(second.stdout)")

    // Let the first run go: its webhook fails (receiver gone), which changes nothing.
    receiver.stop()
    let result = first.wait()
    #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    for firm in ["FIRM001", "FIRM002"] { try job.expectCompleteSet(firm) }
    // Afterwards the lock is free again.
    let third = try job.run(environment: environment)
    #expect(third.status == 0, "\(third.stderr)")
    #expect(third.stdout.contains("already delivered"))
  }

  // MARK: 2. Crash and re-run

  @Test func aRunKilledMidExtractIsCompletedByTheNextRun() throws {
    let firms = ["FIRM001", "FIRM002", "FIRM003"]
    let job = try OpsJob.make("crash", accounts: 3000, firms: 3)
    defer { job.remove() }
    try job.writeConfig(firms: firms)
    let run = try job.start(name: "killed")
    // Kill it as soon as one firm's set is complete in staging (its history recorded), while
    // the others are still being written and nothing has been delivered.
    func stagedManifests() -> [String] {
      firms.filter {
        FileManager.default.fileExists(atPath: job.staged($0) + "/" + OpsJob.manifestName($0))
      }
    }
    let midway = waitUntil(seconds: 30) { !stagedManifests().isEmpty || !run.isRunning }
    let wasRunning = run.isRunning
    run.kill()
    try #require(midway && wasRunning, "the run ended before it could be killed: \(run.printed)")
    #expect(run.process.terminationReason == .uncaughtSignal)
    // Nothing half-made is visible: some firm has no manifest yet, nothing was delivered.
    #expect(stagedManifests().count < firms.count, "the kill came after extraction")
    for firm in firms {
      #expect(!FileManager.default.fileExists(atPath: job.delivered(firm)), "delivery comes after extraction")
      let staged = (try? FileManager.default.contentsOfDirectory(atPath: job.staged(firm))) ?? []
      let visibleParts = staged.filter { $0.contains(".part-") && !$0.hasPrefix(".") }
      #expect(visibleParts.isEmpty, "temporary files under final names: \(visibleParts)")
    }

    let rerun = try job.run()
    #expect(rerun.status == 0, "\(rerun.stdout)\(rerun.stderr)")
    for firm in firms { try job.expectCompleteSet(firm) }
    // The journal holds each delivered file once.
    let journal = try job.journal()
    #expect(journal.count == firms.count * 6, "\(journal)")
    let keys = journal.map { $0.split(separator: ",").prefix(4).joined(separator: ",") }
    #expect(Set(keys).count == keys.count, "duplicate journal rows: \(journal)")
    // The history has one row per account and date.
    for account in ["AC00000001", "AC00000002", "AC00000003"] {
      let history = try Binary.run(["history", "--state", job.state, "--account", account])
      #expect(history.status == 0, "\(history.stderr)")
      let rows = history.stdout.split(separator: "\n").dropFirst()
      #expect(rows.count == 1, "\(account): \(rows)")
      let dates = rows.map { $0.split(separator: ",").first ?? "" }
      #expect(Set(dates).count == dates.count, "duplicate history rows for \(account)")
    }
  }

  /// A kill after the destination put a firm's manifest in place and before the journal
  /// recorded it leaves exactly this state: the set at the destination, no journal rows. The
  /// next run recognises the set (its manifest differs only in run_id and generated_at) and
  /// records it; the manifest a consumer may have taken is not replaced.
  @Test func aRunKilledBetweenPlacingTheSetAndJournalingItIsCompletedByTheNextRun() throws {
    let job = try OpsJob.make("journal-gap")
    defer { job.remove() }
    try job.writeConfig(firms: ["FIRM001", "FIRM002"])
    let first = try job.run(environment: ["EOD_NOW": "2026-10-02T01:15:00Z"])
    #expect(first.status == 0, "\(first.stderr)")
    try sqlite(job.state, "DELETE FROM deliveries WHERE firm_id = 'FIRM001'")
    let manifest = job.delivered("FIRM001") + "/" + OpsJob.manifestName("FIRM001")
    let seen = try Data(contentsOf: URL(fileURLWithPath: manifest))

    let rerun = try job.run(environment: ["EOD_NOW": "2026-10-02T01:25:00Z"])
    #expect(rerun.status == 0, "the re-run must complete FIRM001's delivery: \(rerun.stdout)\(rerun.stderr)")
    #expect(rerun.stdout.contains("FIRM001: delivered to "), "\(rerun.stdout)")
    #expect(rerun.stdout.contains("nothing sent, now recorded"), "\(rerun.stdout)")
    try job.expectCompleteSet("FIRM001", manifestMatchesStaging: false)
    #expect(
      try Data(contentsOf: URL(fileURLWithPath: manifest)) == seen, "the delivered manifest was replaced")
    #expect(try job.journal().filter { $0.hasPrefix("FIRM001,") }.count == 6)
  }

  /// `concurrency` is the number of threads valuing and rendering firms while the snapshot is
  /// read once for all of them: the run says how many it used, and the extract files are the same
  /// bytes whatever the number.
  @Test func theConfiguredConcurrencyIsTheProcessingThreadsAndDoesNotChangeTheFiles() throws {
    let firms = ["FIRM001", "FIRM002", "FIRM003"]
    var filesByThreads: [Int: [String: Data]] = [:]
    for threads in [1, 3] {
      let job = try OpsJob.make("concurrency-\(threads)", accounts: 900, firms: 3)
      defer { job.remove() }
      try job.writeConfig(firms: firms, extra: "concurrency: \(threads)\n")
      let run = try job.run()
      #expect(run.status == 0, "\(run.stderr)")
      let readLine = run.stderr.split(separator: "\n").first { $0.contains("\"snapshot read\"") }
      let object = try readLine.flatMap {
        try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
      }
      #expect(object?["processing_threads"] as? Int == threads, "a number: \(run.stderr)")
      var files: [String: Data] = [:]
      for firm in firms {
        let dir = job.staged(firm)
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) where name.hasSuffix(".gz") {
          files[name] = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
        }
      }
      #expect(files.count == 15)
      filesByThreads[threads] = files
    }
    #expect(filesByThreads[1] == filesByThreads[3])
  }

  // MARK: 3. One firm failing

  @Test func oneFirmFailingDoesNotStopTheOthers() throws {
    let firms = ["FIRM001", "FIRM002", "FIRM003"]
    let job = try OpsJob.make("partial", firms: 3, days: 2)
    defer { job.remove() }
    // Day 1 goes well for everyone.
    try job.writeConfig(firms: firms)
    let day1 = try job.run()
    #expect(day1.status == 0, "\(day1.stderr)")
    let before = try PrometheusText.parse(String(contentsOfFile: job.metrics, encoding: .utf8))
    let firm2Success = before.first {
      $0.name == "eod_last_success_timestamp_seconds" && $0.labels["firm"] == "FIRM002"
    }

    // Day 2: FIRM002's destination folder cannot be created (a regular file is in the way; the
    // tests run as root, so permissions would not stop the write). check-config cannot see it.
    let blocked = job.dir + "/blocked"
    try FileManager.default.createDirectory(atPath: blocked, withIntermediateDirectories: true)
    try Data("not a folder\n".utf8).write(to: URL(fileURLWithPath: blocked + "/FIRM002"))
    try job.writeConfig(firms: firms, localDirs: ["FIRM002": blocked])
    let day2 = try job.run(date: "2026-10-02")
    #expect(day2.status == 1, "\(day2.stdout)\(day2.stderr)")
    try job.expectCompleteSet("FIRM001", date: "2026-10-02")
    try job.expectCompleteSet("FIRM003", date: "2026-10-02")
    let report = day2.stdout + day2.stderr
    #expect(
      day2.stdout.contains("2026-10-02 FIRM002: DELIVERY FAILED"), "the failing firm is reported: \(report)")
    #expect(report.contains(blocked + "/FIRM002"), "the failure names the path: \(report)")
    #expect(
      !day2.stdout.contains("FIRM001: DELIVERY FAILED") && !day2.stdout.contains("FIRM003: DELIVERY FAILED"))
    #expect(try job.journal().filter { $0.hasPrefix("FIRM002,2026-10-02") }.isEmpty)

    // Metrics: FIRM002's last success is the one of day 1, carried forward; exit code 1.
    let after = try PrometheusText.parse(String(contentsOfFile: job.metrics, encoding: .utf8))
    let success = after.filter { $0.name == "eod_last_success_timestamp_seconds" }
    #expect(Set(success.compactMap { $0.labels["firm"] }) == Set(firms))
    #expect(firm2Success != nil)
    #expect(success.first { $0.labels["firm"] == "FIRM002" }?.value == firm2Success?.value)
    #expect(after.first { $0.name == "eod_run_exit_code" }?.value == "1")

    // Fixed, the next run delivers FIRM002 only; the others are already there.
    try FileManager.default.removeItem(atPath: blocked + "/FIRM002")
    let retry = try job.run(["--firm", "FIRM002"], date: "2026-10-02")
    #expect(retry.status == 0, "\(retry.stdout)\(retry.stderr)")
    let manifest = blocked + "/FIRM002/2026-10-02/" + OpsJob.manifestName("FIRM002", "2026-10-02")
    #expect(FileManager.default.fileExists(atPath: manifest), "\(retry.stdout)")
  }

  /// `all_firms: true`: a firm in the snapshot but not listed goes to `default_destination`
  /// (its own `{firm}` folder), never nowhere and never to a listed firm's destination.
  @Test func allFirmsDeliversUnlistedFirmsToTheDefaultDestination() throws {
    let job = try OpsJob.make("all-firms")
    defer { job.remove() }
    let unlisted = job.dir + "/unlisted"
    try FileManager.default.createDirectory(atPath: unlisted, withIntermediateDirectories: true)
    try job.writeConfig(
      firms: ["FIRM001"], extra: "all_firms: true\ndefault_destination:\n  local_dir: \(unlisted)/{firm}\n")
    let checked = try Binary.run(["check-config", job.config])
    #expect(checked.status == 0, "\(checked.stdout)")
    let run = try job.run()
    #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
    try job.expectCompleteSet("FIRM001")
    let found = FileManager.default.enumerator(atPath: unlisted + "/FIRM002")?.allObjects as? [String] ?? []
    #expect(
      found.contains { $0.hasSuffix(OpsJob.manifestName("FIRM002")) },
      "FIRM002's set is not under \(unlisted)/FIRM002: \(found)")
    #expect(!FileManager.default.fileExists(atPath: job.destination("FIRM001") + "/FIRM002"))
  }

  // MARK: 4. Idempotency keys

  @Test func theSameKeyReturnsTheFirstResultAndDeliversNothing() throws {
    let job = try OpsJob.make("idem")
    defer { job.remove() }
    try job.writeConfig(firms: ["FIRM001", "FIRM002"])
    let key = "7d444840-9dc0-4a1e-b8c4-2b2a6f1c3e5d"
    let t0 = ["EOD_NOW": "2026-10-02T08:00:00Z"]
    let first = try job.run(["--firm", "FIRM001", "--idempotency-key", key], environment: t0)
    #expect(first.status == 0, "\(first.stderr)")
    try job.expectCompleteSet("FIRM001")
    let manifest = try String(
      contentsOfFile: job.delivered("FIRM001") + "/" + OpsJob.manifestName("FIRM001"), encoding: .utf8)
    let journal = try job.journal()
    #expect(journal.count == 6)
    #expect(!FileManager.default.fileExists(atPath: job.delivered("FIRM002")), "--firm restricts the run")

    // The same request again, an hour later, after the delivered files were taken away.
    try FileManager.default.removeItem(atPath: job.destination("FIRM001"))
    let replay = try job.run(
      ["--firm", "FIRM001", "--idempotency-key", key.uppercased()],
      environment: ["EOD_NOW": "2026-10-02T09:00:00Z"])
    #expect(replay.status == 0, "\(replay.stderr)")
    // A replay of a completed request repeats what it printed (docs/operations.md).
    #expect(replay.stdout == first.stdout)
    #expect(!manifest.isEmpty)
    #expect(replay.stderr.contains("seen before"))
    #expect(
      !FileManager.default.fileExists(atPath: job.destination("FIRM001")), "the replay delivered nothing")
    #expect(try job.journal() == journal, "the replay journaled nothing")

    // The same key for another request within 72 hours: refused, nothing done.
    let other = try job.run(
      ["--firm", "FIRM002", "--idempotency-key", key], environment: ["EOD_NOW": "2026-10-04T08:00:00Z"])
    #expect(other.status == 2, "\(other.stdout)\(other.stderr)")
    #expect(other.stderr.contains(key) && other.stderr.contains("different request"), "\(other.stderr)")
    #expect(!FileManager.default.fileExists(atPath: job.delivered("FIRM002")))
    #expect(try job.journal() == journal)

    // Malformed keys: refused before anything is done.
    for bad in [
      "not-a-key", "{7d444840-9dc0-4a1e-b8c4-2b2a6f1c3e5d}", "urn:uuid:7d444840-9dc0-4a1e-b8c4-2b2a6f1c3e5d",
      "7d444840-9dc0-1a1e-b8c4-2b2a6f1c3e5d",  // version 1
      "7d444840-9dc0-4a1e-c8c4-2b2a6f1c3e5d",  // variant c
    ] {
      let malformed = try job.run(["--firm", "FIRM002", "--idempotency-key", bad], environment: t0)
      #expect(malformed.status == 2, "\(bad): \(malformed.stdout)\(malformed.stderr)")
      #expect(!FileManager.default.fileExists(atPath: job.delivered("FIRM002")), "\(bad) delivered something")
    }

    // 73 hours after its first use the key is forgotten: another request is accepted.
    let later = try job.run(
      ["--firm", "FIRM002", "--idempotency-key", key], environment: ["EOD_NOW": "2026-10-05T09:00:00Z"])
    #expect(later.status == 0, "\(later.stdout)\(later.stderr)")
    try job.expectCompleteSet("FIRM002")
    // ...and it now stands for the new request.
    let again = try job.run(
      ["--firm", "FIRM001", "--idempotency-key", key], environment: ["EOD_NOW": "2026-10-05T10:00:00Z"])
    #expect(again.status == 2, "\(again.stdout)\(again.stderr)")
  }

  @Test func aKeyExpiresAfterSeventyTwoHoursNotBefore() throws {
    let job = try OpsJob.make("expiry")
    defer { job.remove() }
    try job.writeConfig(firms: ["FIRM001", "FIRM002"])
    let key = "0b6f1e2a-3c4d-4e5f-9a0b-1c2d3e4f5a6b"
    let first = try job.run(
      ["--firm", "FIRM001", "--idempotency-key", key], environment: ["EOD_NOW": "2026-10-02T00:00:00Z"])
    #expect(first.status == 0, "\(first.stderr)")
    let justBefore = try job.run(
      ["--firm", "FIRM002", "--idempotency-key", key], environment: ["EOD_NOW": "2026-10-04T23:59:00Z"])
    #expect(justBefore.status == 2, "71h59m later the key still holds: \(justBefore.stderr)")
    let after = try job.run(
      ["--firm", "FIRM002", "--idempotency-key", key], environment: ["EOD_NOW": "2026-10-05T01:00:00Z"])
    #expect(after.status == 0, "73 h later the key is free: \(after.stdout)\(after.stderr)")
    try job.expectCompleteSet("FIRM002")
  }

  /// A key stands for the whole request: asking for other extracts under the same key is a
  /// different request, not a replay of the first one's result.
  @Test func theSameKeyForOtherExtractsIsADifferentRequest() throws {
    let job = try OpsJob.make("idem-extract")
    defer { job.remove() }
    let key = "5f0c2a9e-8b7d-4c3e-a1f2-9e8d7c6b5a40"
    let flags = [
      "run", "--init-state", "--snapshot", job.dir + "/snap/ledger-\(OpsJob.date).sqlite", "--state",
      job.state, "--out",
      job.out,
      "--idempotency-key", key,
    ]
    let first = try Binary.run(flags)
    #expect(first.status == 0, "\(first.stderr)")
    let positionsOnly = try Binary.run(flags + ["--extract", "positions"])
    #expect(positionsOnly.status == 2, "another request under the same key: \(positionsOnly.stdout)")
  }

  /// With `--config`, the extracts come from the file: `--extract` is either honoured or refused,
  /// never silently ignored.
  @Test func extractOnTheCommandLineIsNotSilentlyIgnoredWithAConfiguration() throws {
    let job = try OpsJob.make("config-extract")
    defer { job.remove() }
    try job.writeConfig(firms: ["FIRM001", "FIRM002"])
    let run = try job.run(["--firm", "FIRM001", "--extract", "positions"])
    let folder = job.delivered("FIRM001")
    let delivered = Set((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
    if run.status == 0 {
      #expect(
        delivered == ["FIRM001_positions_20261001.csv.gz", OpsJob.manifestName("FIRM001")],
        "--extract positions was ignored: \(delivered.sorted())")
    } else {
      #expect(run.status == 2 || run.status == 64, "\(run.stderr)")
      #expect(run.stderr.contains("--extract"), "the refusal names the flag: \(run.stderr)")
      #expect(delivered.isEmpty)
    }
  }

  // MARK: 5. Webhooks

  @Test func webhooksAreSignedRetriedAndCarryTheManifest() throws {
    let job = try OpsJob.make("webhook")
    defer { job.remove() }
    let receiver = try WebhookReceiver(mode: "script", in: job.dir)
    defer { receiver.stop() }
    try job.writeConfig(firms: ["FIRM001", "FIRM002"], extra: receiver.configuration(maxAttempts: 4))
    let run = try job.run(environment: ["OPS_HOOK_SECRET": WebhookReceiver.secret])
    #expect(run.status == 0, "a webhook that needed retries does not change the exit code: \(run.stderr)")
    let requests = receiver.requests()
    #expect(requests.count == 6, "two events, three attempts each: \(requests.count)")
    let byEvent = Dictionary(grouping: requests) { $0["id"] as? String ?? "" }
    #expect(byEvent.count == 2)
    #expect(!byEvent.keys.contains(""), "every attempt carries Webhook-Id")
    var firmsSeen: Set<String> = []
    for (id, attempts) in byEvent {
      #expect(attempts.map { $0["status"] as? Int } == [500, 429, 200], "\(id)")
      for attempt in attempts {
        #expect(
          attempt["signature_ok"] as? Bool == true,
          "bad Webhook-Signature on \(id) #\(attempt["attempt"] ?? "")")
        #expect((attempt["content_type"] as? String)?.hasPrefix("application/json") == true)
        let stamp = Double(attempt["timestamp"] as? String ?? "") ?? 0
        let received = attempt["time"] as? Double ?? 0
        #expect(abs(received - stamp) < 60, "Webhook-Timestamp is the time of the attempt")
      }
      // The 429 said Retry-After: 1, and that wait was kept.
      if attempts.count == 3, let t1 = attempts[1]["time"] as? Double, let t2 = attempts[2]["time"] as? Double
      {
        #expect(t2 - t1 >= 0.9, "Retry-After: 1 was not honoured (\(t2 - t1) s)")
      }
      // Every attempt sends the same event; the last one is checked against the delivered set.
      let bodies = Set(attempts.compactMap { $0["body"] as? String })
      #expect(bodies.count == 1, "the body changed between attempts")
      let body = try #require(bodies.first)
      let event = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
      #expect(event["type"] as? String == "extract.delivered")
      #expect(event["id"] as? String == id)
      #expect(event["business_date"] as? String == OpsJob.date)
      let firm = try #require(event["firm_id"] as? String)
      firmsSeen.insert(firm)
      let manifest = try #require(event["manifest"] as? [String: Any])
      #expect(manifest["firm_id"] as? String == firm)
      let delivered = try OpsJob.manifest(at: job.delivered(firm) + "/" + OpsJob.manifestName(firm))
      #expect(
        NSDictionary(dictionary: manifest).isEqual(to: delivered), "the event carries the delivered manifest")
      #expect(!OpsJob.fileEntries(manifest).isEmpty)
    }
    #expect(firmsSeen == ["FIRM001", "FIRM002"])
  }

  @Test func aWebhookThatAlwaysFailsChangesNothingDelivered() throws {
    let job = try OpsJob.make("webhook-fail")
    defer { job.remove() }
    let receiver = try WebhookReceiver(mode: "fail", in: job.dir)
    defer { receiver.stop() }
    try job.writeConfig(firms: ["FIRM001", "FIRM002"], extra: receiver.configuration(maxAttempts: 3))
    let run = try job.run(environment: ["OPS_HOOK_SECRET": WebhookReceiver.secret])
    #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
    for firm in ["FIRM001", "FIRM002"] { try job.expectCompleteSet(firm) }
    let requests = receiver.requests()
    #expect(requests.count == 6, "max_attempts 3 per event: \(requests.count)")
    #expect(requests.allSatisfy { $0["signature_ok"] as? Bool == true })
    #expect(run.stderr.contains("webhook"), "the failed webhook is logged: \(run.stderr)")
    #expect(try job.journal().count == 12)
    let metrics = try PrometheusText.parse(String(contentsOfFile: job.metrics, encoding: .utf8))
    #expect(metrics.first { $0.name == "eod_run_exit_code" }?.value == "0")
  }

  // MARK: 6. Metrics

  @Test func theMetricsFileIsPrometheusText() throws {
    let job = try OpsJob.make("metrics")
    defer { job.remove() }
    try job.writeConfig(firms: ["FIRM001", "FIRM002"])
    let started = Date().timeIntervalSince1970
    let run = try job.run()
    #expect(run.status == 0, "\(run.stderr)")
    let text = try String(contentsOfFile: job.metrics, encoding: .utf8)
    let samples = try PrometheusText.parse(text)
    #expect(text.contains("# TYPE eod_last_success_timestamp_seconds gauge"))
    #expect(text.contains("# HELP eod_extract_rows "))
    for firm in ["FIRM001", "FIRM002"] {
      let success = samples.first {
        $0.name == "eod_last_success_timestamp_seconds" && $0.labels == ["firm": firm]
      }
      let seconds = try #require(success?.number, "no last-success time for \(firm)")
      #expect(seconds >= started - 1 && seconds <= Date().timeIntervalSince1970 + 1)
      let manifest = try OpsJob.manifest(at: job.delivered(firm) + "/" + OpsJob.manifestName(firm))
      for entry in OpsJob.fileEntries(manifest) {
        let extract = try #require(entry["extract"] as? String)
        let rows = samples.first {
          $0.name == "eod_extract_rows" && $0.labels == ["firm": firm, "extract": extract]
        }
        #expect(rows?.value == "\((entry["rows"] as? Int) ?? -1)", "\(firm) \(extract) rows")
      }
    }
    #expect(samples.first { $0.name == "eod_run_exit_code" }?.value == "0")
    // No temporary file is left beside it.
    let folder = (job.metrics as NSString).deletingLastPathComponent
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["eod_extract.prom"])
  }

  @Test func thePrometheusParserRefusesMalformedText() {
    let good =
      "# HELP a_b A.\n# TYPE a_b gauge\na_b{x=\"1\",y=\"q\\\"\"} 1.5e3\na_b{x=\"2\"} -3\nc 0 1700000000\n"
    #expect((try? PrometheusText.parse(good))?.count == 3)
    for bad in [
      "a_b 1", "a-b 1\n", "a_b{x=1} 1\n", "a_b{x=\"1\"} one\n", "a_b  1\n", "a 1\nb 1\na 2\n",
      "a 1\na 1\n", "a 1\n# TYPE a gauge\n", "# TYPE a gauge\n# TYPE a counter\n", "# TYPE a kind\n",
      "a{x=\"1\\t\"} 1\n",
    ] {
      #expect(throws: PrometheusText.ParseError.self, "\(bad.debugDescription)") {
        try PrometheusText.parse(bad)
      }
    }
  }

  // MARK: 7. check-config

  @Test func checkConfigAcceptsAGoodFileAndNamesEachProblem() throws {
    let job = try OpsJob.make("check")
    defer { job.remove() }
    try job.writeConfig(firms: ["FIRM001", "FIRM002"])
    let good = try Binary.run(["check-config", job.config])
    #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
    for word in ["FIRM001", "FIRM002", job.state, job.out, "exits with code 3"] {
      #expect(good.stdout.contains(word), "the plan lacks \(word): \(good.stdout)")
    }
    let valid = try String(contentsOfFile: job.config, encoding: .utf8)
    let cases: [(String, String, [String])] = [
      (
        "unknown key", valid.replacingOccurrences(of: "output_dir:", with: "output_dri:"),
        ["output_dri", "output_dir"]
      ),
      (
        "inline secret",
        valid.replacingOccurrences(
          of: "firms:\n",
          with:
            "webhooks:\n  endpoints:\n    - url: https://hooks.example.com/x\n      secret: hunter2\nfirms:\n"
        ),
        ["secret", "inline"]
      ),
      ("missing firm_id", valid.replacingOccurrences(of: "- firm_id: FIRM002\n   ", with: "-"), ["firm_id"]),
      (
        "duplicate firm", valid.replacingOccurrences(of: "FIRM002", with: "FIRM001"), ["FIRM001", "uplicate"]
      ),
    ]
    for (what, text, words) in cases {
      let path = job.dir + "/bad.yaml"
      try text.write(toFile: path, atomically: true, encoding: .utf8)
      let checked = try Binary.run(["check-config", path])
      #expect(checked.status == 2, "\(what): \(checked.stdout)\(checked.stderr)")
      let said = checked.stdout + checked.stderr
      for word in words { #expect(said.contains(word), "\(what): no \(word) in \(said)") }
      #expect(!said.contains("hunter2"), "\(what): the secret is echoed")
      // A run with the same file refuses it too, before doing anything.
      let run = try Binary.run(["run", "--config", path, "--date", OpsJob.date])
      #expect(run.status == 2, "\(what): run exited \(run.status)")
      #expect(!FileManager.default.fileExists(atPath: job.out), "\(what): the run wrote something")
    }
    // A firm the configuration does not cover: usage error (64), nothing done.
    let unknown = try job.run(["--firm", "FIRM003"])
    #expect(unknown.status == 64 && unknown.stderr.contains("FIRM003"), "\(unknown.stderr)")
    #expect(!FileManager.default.fileExists(atPath: job.out))
  }

  // MARK: 8. Re-running a delivered date

  @Test func reRunningADeliveredDateSendsNothingAndResendSendsAgain() throws {
    let job = try OpsJob.make("rerun")
    defer { job.remove() }
    try job.writeConfig(firms: ["FIRM001", "FIRM002"])
    let first = try job.run(environment: ["EOD_NOW": "2026-10-02T01:15:00Z"])
    #expect(first.status == 0, "\(first.stderr)")
    let journal = try job.journal()
    #expect(journal.count == 12)
    let manifestPath = job.delivered("FIRM001") + "/" + OpsJob.manifestName("FIRM001")
    let deliveredManifest = try Data(contentsOf: URL(fileURLWithPath: manifestPath))

    let again = try job.run(environment: ["EOD_NOW": "2026-10-02T02:15:00Z"])
    #expect(again.status == 0, "\(again.stderr)")
    for firm in ["FIRM001", "FIRM002"] {
      #expect(again.stdout.contains("\(firm): already delivered"), "\(again.stdout)")
    }
    #expect(!again.stdout.contains("files sent"))
    #expect(try job.journal() == journal, "nothing new journaled")
    #expect(try Data(contentsOf: URL(fileURLWithPath: manifestPath)) == deliveredManifest, "nothing replaced")

    let resend = try job.run(["--resend"], environment: ["EOD_NOW": "2026-10-02T03:15:00Z"])
    #expect(resend.status == 0, "\(resend.stdout)\(resend.stderr)")
    #expect(resend.stdout.contains("files sent"), "\(resend.stdout)")
    let resent = try job.journal()
    #expect(resent.count == 12)
    #expect(
      resent.allSatisfy { $0.contains(",2026-10-02T03:15:00Z,") }, "every file journaled again: \(resent)")
    // The set at the destination is the resend's, complete and consistent.
    for firm in ["FIRM001", "FIRM002"] { try job.expectCompleteSet(firm) }
    let manifest = try OpsJob.manifest(at: manifestPath)
    let runID = try #require(resent.first { $0.hasPrefix("FIRM001,") }?.split(separator: ",").last)
    #expect(manifest["run_id"] as? String == String(runID))
  }
}
