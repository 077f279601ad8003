import Foundation
import Testing

/// Sharded nights (docs/kubernetes.md): `plan`, `run --shard K/N` / `--shards N`, `finalize`,
/// through the built binary on real SQLite stores and local destinations.
@Suite struct ShardTests {
  static let firms = ["FIRM001", "FIRM002", "FIRM003", "FIRM004"]
  /// A fixed clock: manifests' `generated_at` equal across runs.
  static let now = ["EOD_NOW": "2026-10-02T01:15:00Z"]

  func plan(_ job: OpsJob, _ more: [String]) throws -> Binary.Result {
    try Binary.run(["plan", "--config", job.config, "--date", OpsJob.date] + more)
  }

  func finalize(_ job: OpsJob) throws -> Binary.Result {
    try Binary.run(["finalize", "--config", job.config, "--date", OpsJob.date])
  }

  /// Every file under a job's output tree (summaries excluded) with its SHA-256; a manifest's
  /// run_id and generated_at lines are dropped first (they name the run, not the data).
  static func tree(_ root: String) throws -> [String: String] {
    var out: [String: String] = [:]
    let enumerator = FileManager.default.enumerator(atPath: root)
    while let relative = enumerator?.nextObject() as? String {
      let path = root + "/" + relative
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
        !relative.hasPrefix("night-")
      else { continue }
      if relative.contains("_manifest_") {
        let text = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
          .filter { !$0.contains("\"run_id\"") && !$0.contains("\"generated_at\"") }.joined(separator: "\n")
        out[relative] = "manifest:" + text
      } else {
        out[relative] = sha256(path) ?? "unreadable"
      }
    }
    return out
  }

  @Test func thePlanIsDeterministicBalancedAndNotReplacedUnlessAsked() throws {
    let job = try OpsJob.make("plan", accounts: 400, firms: 6)
    defer { job.remove() }
    let firms = (1...6).map { "FIRM00\($0)" }
    try job.writeConfig(firms: firms)
    let first = try plan(job, ["--shards", "3", "--json"])
    #expect(first.status == 0, "\(first.stderr)")
    let again = try plan(job, ["--shards", "3", "--json"])
    #expect(again.status == 0, "\(again.stderr)")
    #expect(first.stdout == again.stdout, "the same snapshot gives the same plan")
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any])
    let shards = try #require(object["shards"] as? [[String: Any]])
    let weights = try #require(object["weights"] as? [String: Int])
    #expect(shards.count == 3)
    let members = shards.flatMap { $0["firms"] as? [String] ?? [] }
    #expect(members.sorted() == firms, "every firm in exactly one shard: \(members)")
    #expect(weights.values.allSatisfy { $0 > 0 }, "weights are accounts + positions: \(weights)")
    // Longest processing time first: no shard exceeds another by more than the heaviest firm.
    let loads = shards.map { $0["weight"] as? Int ?? 0 }
    #expect(loads.reduce(0, +) == weights.values.reduce(0, +))
    #expect((loads.max() ?? 0) - (loads.min() ?? 0) <= weights.values.max() ?? 0, "\(loads)")
    // The text form names each shard.
    let text = try plan(job, ["--shards", "3"])
    #expect(text.status == 0 && text.stdout.contains("shard 2/3: weight"), "\(text.stdout)")
    // Another plan for the same date is refused unless --replace.
    let other = try plan(job, ["--shards", "2"])
    #expect(other.status == 2, "\(other.stdout)\(other.stderr)")
    #expect(other.stderr.contains("--replace"), "\(other.stderr)")
    let replaced = try plan(job, ["--shards", "2", "--replace"])
    #expect(replaced.status == 0, "\(replaced.stderr)")
    // A shard run with another N than the stored plan's is a usage error.
    let mismatch = try job.run(["--shards", "3"], environment: ["JOB_COMPLETION_INDEX": "0"])
    #expect(mismatch.status == 64, "\(mismatch.stdout)\(mismatch.stderr)")
    #expect(mismatch.stderr.contains("2 shards, not 3"), "\(mismatch.stderr)")
  }

  @Test func aBadShardIndexIsAUsageError() throws {
    let job = try OpsJob.make("index")
    defer { job.remove() }
    try job.writeConfig(firms: ["FIRM001", "FIRM002"])
    for index in ["4", "-1", "abc", ""] {
      let result = try job.run(["--shards", "4"], environment: ["JOB_COMPLETION_INDEX": index])
      #expect(result.status == 64, "JOB_COMPLETION_INDEX=\(index): \(result.stdout)\(result.stderr)")
      #expect(result.stderr.contains("JOB_COMPLETION_INDEX"), "\(result.stderr)")
    }
    let missing = try job.run(["--shards", "4"])
    #expect(missing.status == 64, "\(missing.stderr)")
    for shard in ["4/4", "1", "a/b", "0/0"] {
      let result = try job.run(["--shard", shard])
      #expect(result.status == 64, "--shard \(shard): \(result.stderr)")
    }
    // Nothing ran: no plan stored, nothing written.
    #expect(!FileManager.default.fileExists(atPath: job.out + "/FIRM001"))
  }

  @Test func twoShardsMakeExactlyTheFilesOfAnUnshardedNight() throws {
    let single = try OpsJob.make("single", accounts: 300, firms: 4)
    let sharded = try OpsJob.make("sharded", accounts: 300, firms: 4)
    defer {
      single.remove()
      sharded.remove()
    }
    try single.writeConfig(firms: Self.firms)
    try sharded.writeConfig(firms: Self.firms)
    let whole = try single.run(environment: Self.now)
    #expect(whole.status == 0, "\(whole.stderr)")
    let shards = try (0..<2).map {
      try sharded.start(["--shard", "\($0)/2"], environment: Self.now, name: "shard\($0)")
    }
    for (index, shard) in shards.enumerated() {
      let result = shard.wait()
      #expect(result.status == 0, "shard \(index): \(result.stdout)\(result.stderr)")
    }
    let expected = try Self.tree(single.out)
    let union = try Self.tree(sharded.out)
    #expect(expected.count == Self.firms.count * 6, "\(expected.keys.sorted())")
    #expect(union == expected, "the shards' union differs from the unsharded night")
    for firm in Self.firms { try sharded.expectCompleteSet(firm) }
    let finalized = try finalize(sharded)
    #expect(finalized.status == 0, "\(finalized.stdout)\(finalized.stderr)")
  }

  @Test func aSecondWriterOfTheSameFirmAndDateExits3NamingTheHolder() throws {
    let job = try OpsJob.make("holder", accounts: 60, firms: 2)
    defer { job.remove() }
    try job.writeConfig(firms: ["FIRM001", "FIRM002"])
    let marker = job.dir + "/paused"
    let first = try job.start(
      ["--shard", "0/1"], environment: ["EOD_TEST_PAUSE_BEFORE_SECOND_DELIVERY": marker], name: "first")
    defer { first.kill() }
    try #require(
      waitUntil(seconds: 60) { FileManager.default.fileExists(atPath: marker) || !first.isRunning },
      "the first shard never paused: \(first.printed)")
    try #require(first.isRunning, "\(first.printed)")
    let second = try job.run(["--shard", "0/1"])
    #expect(second.status == 3, "\(second.stdout)\(second.stderr)")
    #expect(second.stderr.contains("PID \(first.pid)"), "\(second.stderr)")
    #expect(second.stderr.contains("host=") && second.stderr.contains("run_id="), "\(second.stderr)")
    #expect(second.stderr.contains("is being written by another run"), "\(second.stderr)")
    // An unsharded run is refused too while a shard holds the store's lock shared.
    let unsharded = try job.run()
    #expect(unsharded.status == 3, "\(unsharded.stderr)")
  }

  @Test func aKilledShardIsCompletedByItsRetryAndFinalizeSaysSo() throws {
    let job = try OpsJob.make("killed", accounts: 90, firms: 3)
    defer { job.remove() }
    let firms = ["FIRM001", "FIRM002", "FIRM003"]
    try job.writeConfig(firms: firms)
    let marker = job.dir + "/paused"
    let killed = try job.start(
      ["--shard", "0/1"], environment: ["EOD_TEST_PAUSE_BEFORE_SECOND_DELIVERY": marker], name: "killed")
    try #require(
      waitUntil(seconds: 60) { FileManager.default.fileExists(atPath: marker) || !killed.isRunning },
      "the shard never paused: \(killed.printed)")
    killed.kill()
    #expect(killed.process.terminationReason == .uncaughtSignal)
    // One firm delivered and journaled, the others not.
    let before = try job.journal()
    let deliveredFirms = Set(before.map { String($0.split(separator: ",")[0]) })
    try #require(deliveredFirms.count == 1, "\(before)")
    let done = try #require(deliveredFirms.first)
    #expect(before.count == 6, "\(before)")

    let incomplete = try finalize(job)
    #expect(incomplete.status == 1, "\(incomplete.stdout)\(incomplete.stderr)")
    for firm in firms where firm != done {
      #expect(incomplete.stdout.contains("\(firm) (shard 0/1)"), "\(incomplete.stdout)")
    }
    let summaryPath = job.out + "/night-\(OpsJob.date).summary.json"
    let partial = try OpsJob.manifest(at: summaryPath)
    #expect(partial["complete"] as? Bool == false)
    #expect((partial["missing"] as? [String])?.sorted() == firms.filter { $0 != done })
    let metrics = try String(
      contentsOfFile: job.metrics.replacingOccurrences(of: ".prom", with: ".night.prom"), encoding: .utf8)
    #expect(metrics.contains("eod_night_complete{business_date=\"\(OpsJob.date)\"} 0"), "\(metrics)")

    let retry = try job.run(["--shard", "0/1"])
    #expect(retry.status == 0, "\(retry.stdout)\(retry.stderr)")
    #expect(retry.stdout.contains("\(done): complete and delivered already"), "\(retry.stdout)")
    for firm in firms { try job.expectCompleteSet(firm) }
    // Nothing delivered twice: the first firm's journal lines are untouched, every file once.
    let after = try job.journal()
    #expect(after.count == firms.count * 6, "\(after)")
    for line in before { #expect(after.contains(line), "journal line changed: \(line)") }
    let keys = after.map { $0.split(separator: ",").prefix(4).joined(separator: ",") }
    #expect(Set(keys).count == keys.count, "duplicate journal rows: \(after)")

    let complete = try finalize(job)
    #expect(complete.status == 0, "\(complete.stdout)\(complete.stderr)")
    #expect(
      complete.stdout.contains("night \(OpsJob.date): complete: 3 firms in 1 shards"), "\(complete.stdout)")
    let summary = try OpsJob.manifest(at: summaryPath)
    #expect(summary["complete"] as? Bool == true)
    #expect(summary["files"] as? Int == firms.count * 5)
  }

  /// A shard killed after the destination held a firm's set (manifest included) and before the
  /// journal recorded it: its retry recognises the set, records it and sends nothing; the
  /// manifest a consumer polling for it may have taken is the same file as before.
  @Test func aShardKilledAfterPlacingAManifestRecognisesItOnRetry() throws {
    let job = try OpsJob.make("placed", accounts: 60, firms: 2)
    defer { job.remove() }
    let firms = ["FIRM001", "FIRM002"]
    try job.writeConfig(firms: firms)
    let marker = job.dir + "/paused"
    let killed = try job.start(
      ["--shard", "0/1"], environment: ["EOD_TEST_PAUSE_AFTER_FIRST_DELIVERY": marker], name: "killed")
    try #require(
      waitUntil(seconds: 60) { FileManager.default.fileExists(atPath: marker) || !killed.isRunning },
      "the shard never paused: \(killed.printed)")
    killed.kill()
    #expect(try job.journal().isEmpty, "the kill came before the journal")
    let placed = try #require(
      firms.first {
        FileManager.default.fileExists(atPath: job.delivered($0) + "/" + OpsJob.manifestName($0))
      })
    let manifest = job.delivered(placed) + "/" + OpsJob.manifestName(placed)
    let seen = try Data(contentsOf: URL(fileURLWithPath: manifest))
    let inode = try FileManager.default.attributesOfItem(atPath: manifest)[.systemFileNumber] as? Int

    let retry = try job.run(["--shard", "0/1"])
    #expect(retry.status == 0, "\(retry.stdout)\(retry.stderr)")
    #expect(retry.stdout.contains("\(placed): delivered to "), "\(retry.stdout)")
    #expect(retry.stdout.contains("by an earlier run that did not record it"), "\(retry.stdout)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: manifest)) == seen, "the placed manifest was replaced")
    #expect(try FileManager.default.attributesOfItem(atPath: manifest)[.systemFileNumber] as? Int == inode)
    let journal = try job.journal()
    #expect(journal.count == firms.count * 6, "\(journal)")
    let line = try #require(journal.first { $0.hasPrefix(placed + ",") && $0.contains("_manifest_") })
    #expect(line.contains(",recognized,"), "\(line)")
    try job.expectCompleteSet(placed, manifestMatchesStaging: false)
    for firm in firms where firm != placed { try job.expectCompleteSet(firm) }
    let finalized = try finalize(job)
    #expect(finalized.status == 0, "\(finalized.stdout)\(finalized.stderr)")
  }

  @Test func concurrentShardsFinalizeTheNightExactlyOnce() throws {
    let job = try OpsJob.make("last", accounts: 200, firms: 4)
    defer { job.remove() }
    try job.writeConfig(firms: Self.firms)
    let stored = try plan(job, ["--shards", "4"])
    #expect(stored.status == 0, "\(stored.stderr)")
    let shards = try (0..<4).map {
      try job.start(
        ["--shards", "4", "--finalize-if-last"], environment: ["JOB_COMPLETION_INDEX": "\($0)"],
        name: "pod\($0)")
    }
    let results = shards.map { $0.wait() }
    for (index, result) in results.enumerated() {
      #expect(result.status == 0, "pod \(index): \(result.stdout)\(result.stderr)")
    }
    let finalizers = results.filter { $0.stdout.contains("night \(OpsJob.date): complete") }
    #expect(finalizers.count == 1, "\(results.map(\.stdout))")
    #expect(results.filter { $0.stdout.contains("(the last of the night)") }.count == 1)
    #expect(FileManager.default.fileExists(atPath: job.out + "/night-\(OpsJob.date).summary.json"))
    // A retried shard after the night is complete runs nothing and does not finalize again.
    let late = try job.run(
      ["--shards", "4", "--finalize-if-last"], environment: ["JOB_COMPLETION_INDEX": "2"])
    #expect(late.status == 0, "\(late.stderr)")
    #expect(!late.stdout.contains("night \(OpsJob.date)"), "\(late.stdout)")
  }

  /// Shards never write the job's metrics_file (they would replace each other's firms): each
  /// writes its own file, which the textfile collector does not read, and the fan-in writes
  /// metrics_file with every firm of the night and the night's verdict.
  @Test func theNightsMetricsFileHasEveryShardsFirms() throws {
    let job = try OpsJob.make("metrics", accounts: 120, firms: 4)
    defer { job.remove() }
    try job.writeConfig(firms: Self.firms)
    let stored = try plan(job, ["--shards", "2"])
    #expect(stored.status == 0, "\(stored.stderr)")
    let first = try job.run(["--shard", "0/2"])
    #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
    #expect(!FileManager.default.fileExists(atPath: job.metrics), "a shard wrote the job's metrics_file")
    let shardFile = job.metrics + ".\(OpsJob.date).shard-0-of-2"
    let own = try String(contentsOfFile: shardFile, encoding: .utf8)
    #expect(own.contains("eod_run_exit_code 0"), "\(own)")
    // A shard's file of an earlier night is removed by this night's finalize; a later one stays.
    let earlier = job.metrics + ".2026-09-30.shard-1-of-2"
    let later = job.metrics + ".2026-10-02.shard-1-of-2"
    for path in [earlier, later] {
      try Data("eod_run_exit_code 0\n".utf8).write(to: URL(fileURLWithPath: path))
    }
    let second = try job.run(["--shard", "1/2", "--finalize-if-last"])
    #expect(second.status == 0, "\(second.stdout)\(second.stderr)")
    #expect(second.stdout.contains("night \(OpsJob.date): complete"), "\(second.stdout)")
    let night = try String(contentsOfFile: job.metrics, encoding: .utf8)
    for firm in Self.firms {
      #expect(night.contains("eod_extract_rows{firm=\"\(firm)\",extract=\"positions\"}"), "\(firm): \(night)")
      #expect(night.contains("eod_last_success_timestamp_seconds{firm=\"\(firm)\"}"), "\(firm): \(night)")
      #expect(!night.contains("eod_last_failure_timestamp_seconds{firm=\"\(firm)\"}"), "\(firm): \(night)")
    }
    #expect(night.contains("eod_run_exit_code 0"), "\(night)")
    // What node_exporter's textfile collector reads (*.prom): the job's file and the night's only.
    let collected = try FileManager.default.contentsOfDirectory(atPath: job.dir + "/metrics")
      .filter { $0.hasSuffix(".prom") }.sorted()
    #expect(collected == ["eod_extract.night.prom", "eod_extract.prom"], "\(collected)")
    #expect(!FileManager.default.fileExists(atPath: earlier))
    #expect(FileManager.default.fileExists(atPath: later))
    #expect(
      FileManager.default.fileExists(atPath: shardFile), "this night's shard files stay for a later finalize")
  }

  @Test func finalizeWithoutAPlanExits2() throws {
    let job = try OpsJob.make("noplan")
    defer { job.remove() }
    try job.writeConfig(firms: ["FIRM001"])
    #expect(try job.run().status == 0)
    let result = try finalize(job)
    #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
    #expect(result.stderr.contains("no shard plan"), "\(result.stderr)")
  }
}
