import Foundation
import PostgresTestServer
import Testing

/// Sharded nights with the state in PostgreSQL (docs/kubernetes.md), through the built binary:
/// shard processes against one server started by the test harness make exactly the files of a
/// single night on SQLite; a second writer of a shard's firms exits 3 naming the holder; a shard
/// killed (SIGKILL) mid-night frees its firms' advisory locks with its connection, finalize says
/// incomplete, its re-run completes the night with nothing journaled twice, and finalize then
/// says complete.
@Suite(.serialized) struct PostgresShardTests {
  func environment(_ index: Int, _ more: [String: String] = [:]) -> [String: String] {
    ShardTests.now.merging(["JOB_COMPLETION_INDEX": "\(index)"].merging(more) { $1 }) { $1 }
  }

  /// The delivery journal of the store at `url` as CSV lines (header dropped).
  func journal(_ url: String) throws -> [String] {
    let result = try Binary.run(["deliveries", "--state", url])
    #expect(result.status == 0, "deliveries: \(result.stderr)")
    return result.stdout.split(separator: "\n").dropFirst().map(String.init)
  }

  @Test func shardsOnPostgresMakeASingleSQLiteNightsFilesAndAKilledShardsRerunCompletesIt() throws {
    let firms = ShardTests.firms
    let single = try OpsJob.make("pg-single", accounts: 240, firms: firms.count)
    let sharded = try OpsJob.make("pg-sharded", accounts: 240, firms: firms.count)
    defer {
      single.remove()
      sharded.remove()
    }
    let url = try PostgresTestServer.started().database("shards")
    try single.writeConfig(firms: firms)
    try sharded.writeConfig(firms: firms, stateURL: url)
    let whole = try single.run(environment: ShardTests.now)
    #expect(whole.status == 0, "\(whole.stderr)")
    let unmigrated = try Binary.run([
      "plan", "--config", sharded.config, "--date", OpsJob.date, "--shards", "2",
    ])
    #expect(unmigrated.status == 2, "\(unmigrated.stdout)\(unmigrated.stderr)")
    #expect(unmigrated.stderr.contains("migrate-state"), "\(unmigrated.stderr)")
    let migrated = try Binary.run(["migrate-state", "--state", url])
    #expect(migrated.status == 0, "\(migrated.stderr)")

    let planned = try Binary.run([
      "plan", "--config", sharded.config, "--date", OpsJob.date, "--shards", "2", "--json",
    ])
    #expect(planned.status == 0, "\(planned.stderr)")
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(planned.stdout.utf8)) as? [String: Any])
    let shards = try #require(object["shards"] as? [[String: Any]]).map { $0["firms"] as? [String] ?? [] }
    #expect(shards.flatMap { $0 }.sorted() == firms, "\(shards)")
    // The shard to kill after its first firm is delivered: one with two firms or more.
    let victim = try #require(shards.firstIndex { $0.count >= 2 }, "\(shards)")

    let marker = sharded.dir + "/paused"
    let killed = try sharded.start(
      ["--shards", "2", "--finalize-if-last"],
      environment: environment(victim, ["EOD_TEST_PAUSE_BEFORE_SECOND_DELIVERY": marker]), name: "killed")
    defer { killed.kill() }
    let others = try shards.indices.filter { $0 != victim }.map {
      try sharded.start(
        ["--shards", "2", "--finalize-if-last"], environment: environment($0), name: "shard\($0)")
    }
    try #require(
      waitUntil(seconds: 120) { FileManager.default.fileExists(atPath: marker) || !killed.isRunning },
      "the shard never paused: \(killed.printed)")
    try #require(killed.isRunning, "\(killed.printed)")
    // Its firms are held (advisory locks, holder from lock_holders): a second writer exits 3.
    let second = try sharded.run(["--shard", "\(victim)/2"], environment: ShardTests.now)
    #expect(second.status == 3, "\(second.stdout)\(second.stderr)")
    #expect(second.stderr.contains("pid \(killed.pid)"), "\(second.stderr)")
    #expect(second.stderr.contains("is being written by another run"), "\(second.stderr)")
    killed.kill()
    #expect(killed.process.terminationReason == .uncaughtSignal)
    for (index, shard) in others.enumerated() {
      let result = shard.wait()
      #expect(result.status == 0, "shard \(index): \(result.stdout)\(result.stderr)")
      // The killed shard never finished: nobody is the last of the night.
      #expect(!result.stdout.contains("night \(OpsJob.date)"), "\(result.stdout)")
    }

    // One firm of the killed shard delivered and journaled, its others not.
    let before = try journal(url)
    let deliveredFirms = Set(before.map { String($0.split(separator: ",")[0]) })
    let missing = shards[victim].filter { !deliveredFirms.contains($0) }
    #expect(missing.count == shards[victim].count - 1, "\(before)")
    #expect(before.count == (firms.count - missing.count) * 6, "\(before)")
    let incomplete = try Binary.run(["finalize", "--config", sharded.config, "--date", OpsJob.date])
    #expect(incomplete.status == 1, "\(incomplete.stdout)\(incomplete.stderr)")
    for firm in missing {
      #expect(incomplete.stdout.contains("\(firm) (shard \(victim)/2)"), "\(incomplete.stdout)")
    }

    // Its locks went with its connection: the re-run of its index takes them and skips the firm
    // already complete and delivered.
    let retry = try sharded.run(["--shards", "2", "--finalize-if-last"], environment: environment(victim))
    #expect(retry.status == 0, "\(retry.stdout)\(retry.stderr)")
    #expect(retry.stdout.contains("complete and delivered already"), "\(retry.stdout)")
    // The finalize above claimed the night (its verdict recorded): the last finish claims nothing.
    #expect(retry.stdout.contains("shard \(victim)/2: finished\n"), "\(retry.stdout)")
    #expect(!retry.stdout.contains("night \(OpsJob.date)"), "\(retry.stdout)")
    let after = try journal(url)
    #expect(after.count == firms.count * 6, "\(after)")
    for line in before { #expect(after.contains(line), "journal line changed: \(line)") }
    let keys = after.map { $0.split(separator: ",").prefix(4).joined(separator: ",") }
    #expect(Set(keys).count == keys.count, "duplicate journal rows: \(after)")
    for firm in firms { try sharded.expectCompleteSet(firm) }
    let expected = try ShardTests.tree(single.out)
    #expect(expected.count == firms.count * 6)
    #expect(try ShardTests.tree(sharded.out) == expected, "the shards' union differs from the SQLite night")

    let complete = try Binary.run(["finalize", "--config", sharded.config, "--date", OpsJob.date])
    #expect(complete.status == 0, "\(complete.stdout)\(complete.stderr)")
  }
}
