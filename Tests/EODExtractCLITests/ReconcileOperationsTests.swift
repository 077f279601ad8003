import Foundation
import Testing

/// `eod-extract reconcile --config`: the `recon.completed` webhook and the open-breaks metrics.
@Suite(.serialized) struct ReconcileOperationsTests {
  /// Our positions file of a delivered set, without the rows of `drop` (0-based), as a plain CSV
  /// read with the default profile of `profile` (our column names).
  static func theirs(from folder: String, extract: String, dropping drop: Set<Int>, to path: String) throws {
    let rows = try ReconcileTests.ourRows(folder: folder, extract, date: OpsJob.date)
    let fields = ["account_external_ref", extract == "cash" ? "currency" : "isin", "account_id"]
    var text = fields.joined(separator: ",") + "\n"
    for (index, row) in rows.enumerated() where !drop.contains(index) {
      text += fields.map { row[$0, default: ""] }.joined(separator: ",") + "\n"
    }
    try ReconcileTests.write(path, text)
  }

  static func profile(_ extract: String) -> String {
    let key = extract == "cash" ? "currency" : "isin"
    return """
      extract: \(extract)
      columns: {account_external_ref: account_external_ref, \(key): \(key), account_id: account_id}
      keys: [account_id, \(key)]
      """
  }

  @Test func aConfiguredReconcileSendsRecon_completedAndWritesOpenBreakMetrics() throws {
    let job = try OpsJob.make("recon-ops", firms: 1)
    defer { job.remove() }
    let receiver = try WebhookReceiver(mode: "script", in: job.dir)
    defer { receiver.stop() }
    try job.writeConfig(firms: ["FIRM001"], extra: receiver.configuration(maxAttempts: 4))
    let environment = ["OPS_HOOK_SECRET": WebhookReceiver.secret]
    let run = try job.run(environment: environment)
    #expect(run.status == 0, "\(run.stderr)")
    let runEvents = receiver.requests().count

    let set = job.staged("FIRM001")
    func reconcile(_ extract: String, drop: Set<Int>) throws -> Binary.Result {
      let theirs = job.dir + "/theirs-\(extract).csv"
      try Self.theirs(from: set, extract: extract, dropping: drop, to: theirs)
      let profile = job.dir + "/\(extract).yaml"
      try ReconcileTests.write(profile, Self.profile(extract))
      return try Launched(
        [
          "reconcile", "--config", job.config, "--ours", set, "--extract", extract, "--theirs", theirs,
          "--profile", profile, "--out", job.dir + "/recon", "--state", job.state,
        ], environment: OpsJob.environment(environment), executable: Binary.path,
        logs: job.dir + "/reconcile-\(extract)"
      ).wait()
    }
    let positions = try reconcile("positions", drop: [0, 3])
    #expect(positions.status == 1, "\(positions.stdout)\(positions.stderr)")

    // The webhook: signed, retried as the job's are (500, 429, then 200), carrying the summary.
    let requests = Array(receiver.requests().dropFirst(runEvents))
    #expect(requests.map { $0["status"] as? Int } == [500, 429, 200])
    #expect(requests.allSatisfy { $0["signature_ok"] as? Bool == true })
    #expect(Set(requests.compactMap { $0["id"] as? String }).count == 1, "one event id across retries")
    let body = try #require(requests.last?["body"] as? String)
    let event = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
    #expect(event["type"] as? String == "recon.completed")
    #expect(event["firm_id"] as? String == "FIRM001")
    #expect(event["business_date"] as? String == OpsJob.date)
    #expect(!(event["run_id"] as? String ?? "").isEmpty)
    let recon = try #require(event["recon"] as? NSDictionary)
    let written = try #require(
      try JSONSerialization.jsonObject(
        with: Data(contentsOf: URL(fileURLWithPath: job.dir + "/recon/FIRM001_recon_positions_20261001.json"))
      )
        as? [String: Any])
    #expect(recon.isEqual(to: written), "the event carries the summary as written")
    #expect((recon["breaks_by_type"] as? [String: Int])?["MISSING_THEIRS"] == 2)

    // The metrics: beside the job's file, every type and age bucket of the firm and extract.
    let metricsPath = job.dir + "/metrics/eod_extract.reconcile.prom"
    func samples() throws -> [String: String] {
      let text = try String(contentsOfFile: metricsPath, encoding: .utf8)
      var result: [String: String] = [:]
      for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        let parts = line.split(separator: " ")
        result[String(parts[0])] = String(parts[1])
      }
      return result
    }
    var found = try samples()
    func open(_ extract: String, _ type: String, _ age: String) -> String? {
      found["eod_recon_open_breaks{firm=\"FIRM001\",extract=\"\(extract)\",type=\"\(type)\",age=\"\(age)\"}"]
    }
    #expect(open("positions", "MISSING_THEIRS", "0") == "2")
    #expect(open("positions", "MISSING_THEIRS", "1") == "0")
    #expect(open("positions", "FIELD_MISMATCH", "21+") == "0")
    #expect(found.keys.filter { $0.hasPrefix("eod_recon_open_breaks{") }.count == 6 * 5)
    #expect(
      found.keys.contains("eod_recon_last_run_timestamp_seconds{firm=\"FIRM001\",extract=\"positions\"}"))
    let jobMetrics = try String(contentsOfFile: job.metrics, encoding: .utf8)
    #expect(!jobMetrics.contains("eod_recon_"), "the job's own metrics file is left to the job")

    // Another extract's reconciliation keeps the positions samples; a clean one reports zeros.
    let cash = try reconcile("cash", drop: [])
    #expect(cash.status == 0, "\(cash.stdout)\(cash.stderr)")
    found = try samples()
    #expect(open("positions", "MISSING_THEIRS", "0") == "2")
    #expect(open("cash", "MISSING_THEIRS", "0") == "0")
    #expect(found.keys.filter { $0.hasPrefix("eod_recon_open_breaks{") }.count == 2 * 6 * 5)
    let extracts = receiver.requests().dropFirst(runEvents).compactMap { request -> String? in
      let body = Data((request["body"] as? String ?? "").utf8)
      let event = try? JSONSerialization.jsonObject(with: body) as? [String: Any]
      return (event?["recon"] as? [String: Any])?["extract"] as? String
    }
    #expect(extracts == ["positions", "positions", "positions", "cash", "cash", "cash"])
  }

  /// A night of FIRM001 (checked to succeed), their positions file made from it with the first
  /// row dropped, a positions profile (their paths), and the `reconcile` arguments that match them (`--out`
  /// `DIR/recon`, no `--state`).
  static func nightAndTheirPositions(_ name: String) throws -> (
    job: OpsJob, theirs: String, profile: String, arguments: [String]
  ) {
    let job = try OpsJob.make(name, firms: 1)
    try job.writeConfig(firms: ["FIRM001"])
    let run = try job.run()
    #expect(run.status == 0, "\(run.stderr)")
    let theirs = job.dir + "/theirs.csv"
    try Self.theirs(from: job.staged("FIRM001"), extract: "positions", dropping: [0], to: theirs)
    let profile = job.dir + "/p.yaml"
    try ReconcileTests.write(profile, Self.profile("positions"))
    return (
      job, theirs, profile,
      [
        "reconcile", "--ours", job.staged("FIRM001"), "--extract", "positions", "--theirs", theirs,
        "--profile", profile, "--out", job.dir + "/recon",
      ]
    )
  }

  /// With `--state`, a store whose run lock another process holds is exit 3, and nothing is
  /// written (no outputs, no break recorded).
  @Test func aHeldStateLockIsExitThreeAndNothingIsWritten() throws {
    let (job, _, _, reconcile) = try Self.nightAndTheirPositions("recon-lock")
    defer { job.remove() }
    let arguments = reconcile + ["--state", job.state]
    let holder = try job.holdStateLock()
    let held = try Binary.run(arguments)
    holder.kill()
    #expect(held.status == 3, "\(held.stdout)\(held.stderr)")
    #expect(!FileManager.default.fileExists(atPath: job.dir + "/recon/FIRM001_breaks_positions_20261001.csv"))
    let listed = try Binary.run(["breaks", "--state", job.state, "--firm", "FIRM001"])
    #expect(
      listed.status == 0 && !listed.stdout.contains("MISSING_THEIRS"), "\(listed.stdout)\(listed.stderr)")
    // Once the lock is free, the same command reconciles and records.
    let free = try Binary.run(arguments)
    #expect(free.status == 1, "\(free.stdout)\(free.stderr)")
    #expect(
      try Binary.run(["breaks", "--state", job.state, "--firm", "FIRM001"]).stdout.contains("MISSING_THEIRS"))
  }

  @Test func withoutConfigNoWebhookAndNoMetrics() throws {
    let (job, theirs, profile, reconcile) = try Self.nightAndTheirPositions("recon-noconfig")
    defer { job.remove() }
    let result = try Binary.run(reconcile)
    #expect(result.status == 1)
    #expect(!FileManager.default.fileExists(atPath: job.dir + "/metrics/eod_extract.reconcile.prom"))
    // A configuration that cannot be read is exit 2, nothing reconciled.
    let bad = try Binary.run([
      "reconcile", "--config", job.dir + "/nope.yaml", "--ours", job.staged("FIRM001"), "--extract",
      "positions", "--theirs", theirs, "--profile", profile, "--out", job.dir + "/recon2",
    ])
    #expect(bad.status == 2, "\(bad.stderr)")
    #expect(!FileManager.default.fileExists(atPath: job.dir + "/recon2"))
  }
}
