import Foundation
import PostgresTestServer
import Testing

/// The built binary with its state in PostgreSQL: the same nights as with SQLite, byte for byte;
/// the schema migrated once and refused before; a second writer of a firm's date exits 3 naming
/// the holder, and a killed holder's lock is freed by the server.
@Suite(.serialized) struct PostgresStateBinaryTests {
  /// Every file under `root` but the manifests (they name their run), by relative path.
  func extracts(_ root: String) throws -> [String: Data] {
    var out: [String: Data] = [:]
    let enumerator = FileManager.default.enumerator(atPath: root)
    while let path = enumerator?.nextObject() as? String {
      var isDirectory: ObjCBool = false
      FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory)
      if isDirectory.boolValue || path.contains("_manifest_") { continue }
      out[path] = FileManager.default.contents(atPath: root + "/" + path)
    }
    return out
  }

  func database(_ name: String) throws -> String {
    let server = try PostgresTestServer.started()
    return try server.database(name)
  }

  @Test func nightsOnPostgresWriteTheSameExtractsAsOnSQLite() throws {
    let dir = try Binary.scratch("pg-nights")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let generated = try Binary.run([
      "generate", dir + "/snap", "--days", "3", "--accounts", "40", "--firms", "2", "--edge",
    ])
    #expect(generated.status == 0, "\(generated.stderr)")
    let url = try database("nights")
    let unmigrated = try Binary.run([
      "run", "--snapshot", "\(dir)/snap/ledger-2026-10-01.sqlite", "--state", url, "--out", dir + "/pg",
    ])
    #expect(unmigrated.status == 2, "\(unmigrated.stderr)")
    #expect(unmigrated.stderr.contains("eod-extract migrate-state --state \(url)"), "\(unmigrated.stderr)")
    let withPassword = try Binary.run([
      "run", "--snapshot", "\(dir)/snap/ledger-2026-10-01.sqlite", "--state",
      url.replacingOccurrences(of: "eod@", with: "eod:secret@"), "--out", dir + "/pg",
    ])
    #expect(withPassword.status == 2)
    #expect(withPassword.stderr.contains("PGPASSWORD") && !withPassword.stderr.contains("secret"))
    let migrated = try Binary.run(["migrate-state", "--state", url])
    #expect(migrated.status == 0, "\(migrated.stderr)")
    #expect(migrated.stdout.contains("to 2"), "\(migrated.stdout)")
    for day in ["2026-10-01", "2026-10-02", "2026-10-05"] {
      let snapshot = "\(dir)/snap/ledger-\(day).sqlite"
      guard FileManager.default.fileExists(atPath: snapshot) else { continue }
      let sqlite = try Binary.run([
        "run", "--init-state", "--snapshot", snapshot, "--state", dir + "/state.sqlite", "--out",
        dir + "/sqlite",
      ])
      #expect(sqlite.status == 0, "\(sqlite.stderr)")
      let postgres = try Binary.run(["run", "--snapshot", snapshot, "--state", url, "--out", dir + "/pg"])
      #expect(postgres.status == 0, "\(postgres.stderr)")
    }
    let expected = try extracts(dir + "/sqlite")
    #expect(expected.count >= 20)
    let found = try extracts(dir + "/pg")
    #expect(found.keys.sorted() == expected.keys.sorted())
    for (path, bytes) in expected { #expect(found[path] == bytes, "\(path) differs") }
    let history = try Binary.run(["history", "--state", url, "--account", "AC00000001"])
    let sqliteHistory = try Binary.run([
      "history", "--state", dir + "/state.sqlite", "--account", "AC00000001",
    ])
    #expect(history.status == 0, "\(history.stderr)")
    #expect(history.stdout == sqliteHistory.stdout)
  }

  /// A SQLite store moved into PostgreSQL (export, import) and back: the next nights on each give
  /// the same extracts.
  @Test func aStoreMovedBetweenBackendsGoesOnWithTheSameExtracts() throws {
    let dir = try Binary.scratch("pg-move")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    _ = try Binary.run([
      "generate", dir + "/snap", "--days", "3", "--accounts", "30", "--firms", "2", "--edge",
    ])
    let days = ["2026-10-01", "2026-10-02", "2026-10-05"].filter {
      FileManager.default.fileExists(atPath: "\(dir)/snap/ledger-\($0).sqlite")
    }
    #expect(days.count == 3)
    let first = try Binary.run([
      "run", "--init-state", "--snapshot", "\(dir)/snap/ledger-\(days[0]).sqlite", "--state",
      dir + "/a.sqlite",
      "--out", dir + "/first",
    ])
    #expect(first.status == 0, "\(first.stderr)")
    let exported = try Binary.run(["state", "export", "--state", dir + "/a.sqlite", "--to", dir + "/a.jsonl"])
    #expect(exported.status == 0, "\(exported.stderr)")
    let url = try database("move")
    #expect(try Binary.run(["migrate-state", "--state", url]).status == 0)
    let imported = try Binary.run(["state", "import", "--state", url, "--from", dir + "/a.jsonl"])
    #expect(imported.status == 0, "\(imported.stderr)")
    // Imported once: a second import into the same store is refused.
    #expect(try Binary.run(["state", "import", "--state", url, "--from", dir + "/a.jsonl"]).status == 2)
    // And back: PostgreSQL to a new SQLite file, through a second export.
    #expect(try Binary.run(["state", "export", "--state", url, "--to", dir + "/b.jsonl"]).status == 0)
    #expect(
      try String(contentsOfFile: dir + "/b.jsonl", encoding: .utf8)
        == (try String(contentsOfFile: dir + "/a.jsonl", encoding: .utf8)))
    let back = try Binary.run([
      "state", "import", "--init-state", "--state", dir + "/c.sqlite", "--from", dir + "/b.jsonl",
    ])
    #expect(back.status == 0, "\(back.stderr)")
    for (state, out) in [(dir + "/a.sqlite", "/sqlite"), (url, "/pg"), (dir + "/c.sqlite", "/back")] {
      for day in days.dropFirst() {
        let run = try Binary.run([
          "run", "--snapshot", "\(dir)/snap/ledger-\(day).sqlite", "--state", state, "--out", dir + out,
        ])
        #expect(run.status == 0, "\(out): \(run.stderr)")
      }
    }
    let expected = try extracts(dir + "/sqlite")
    #expect(expected.count >= 20)
    for out in ["/pg", "/back"] {
      let found = try extracts(dir + out)
      #expect(found.keys.sorted() == expected.keys.sorted())
      for (path, bytes) in expected { #expect(found[path] == bytes, "\(out): \(path) differs") }
    }
  }

  @Test func aSecondWriterExitsThreeNamingTheHolderAndAKilledHoldersLockIsFreed() throws {
    let dir = try Binary.scratch("pg-lock")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    _ = try Binary.run(["generate", dir + "/snap", "--days", "1", "--accounts", "12", "--firms", "1"])
    let url = try database("lock")
    #expect(try Binary.run(["migrate-state", "--state", url]).status == 0)
    let server = try PostgresTestServer.started()
    // A holder: another process with the firm's date locked, its session idle (as a worker's
    // between statements), fed from a pipe that stays open.
    // The store's advisory lock key of FIRM001's 2026-10-01: FNV-1a 64 of
    // "eod-extract/firm/FIRM001/2026-10-01" (Sources/EODStatePostgres/PostgresLocks.swift),
    // pinned as a number so that a change of the key (which two binaries must agree on) fails here.
    let key: Int64 = -4_813_041_035_330_363_175
    let database = URL(string: url)?.lastPathComponent ?? ""
    let holder = Process()
    holder.executableURL = URL(fileURLWithPath: PostgresTestServer.binaries + "/psql")
    holder.arguments = ["-h", "127.0.0.1", "-p", "\(server.port)", "-U", server.user, "-d", database, "-Xq"]
    var environment = ProcessInfo.processInfo.environment
    environment["PGPASSWORD"] = server.password
    holder.environment = environment
    let input = Pipe()
    holder.standardInput = input
    holder.standardOutput = FileHandle.nullDevice
    try holder.run()
    input.fileHandleForWriting.write(
      Data(
        ("SELECT pg_advisory_lock(\(key));\n"
          + "INSERT INTO lock_holders VALUES (\(key), 'firm FIRM001', 'holder-host', 4242, 'holder-run', 'now', "
          + "pg_backend_pid());\n").utf8))
    var held = false
    for _ in 0..<100 where !held {
      held =
        (try? server.sql(
          "SELECT count(*) FROM lock_holders WHERE run_id = 'holder-run'", database: database
        ))?.hasPrefix("1") == true
      if !held { usleep(100_000) }
    }
    #expect(held)
    let refused = try Binary.run([
      "run", "--snapshot", dir + "/snap/ledger-2026-10-01.sqlite", "--state", url, "--out", dir + "/out",
    ])
    #expect(refused.status == 3, "\(refused.stderr)")
    #expect(refused.stderr.contains("holder-host") && refused.stderr.contains("4242"), "\(refused.stderr)")
    // The holder dies without a word: the server ends its session and frees the lock.
    kill(holder.processIdentifier, SIGKILL)
    holder.waitUntilExit()
    var status: Int32 = -1
    for _ in 0..<50 where status != 0 {
      status = try Binary.run([
        "run", "--snapshot", dir + "/snap/ledger-2026-10-01.sqlite", "--state", url, "--out", dir + "/out",
      ]).status
      if status != 0 { usleep(200_000) }
    }
    #expect(status == 0)
  }

  /// `run --config` with `state_store: {url: ...}`: the night runs on PostgreSQL and delivers; a
  /// second run of the same firms and date, while the first is paused before its second delivery,
  /// exits 3 at once naming the first's host, pid and run id; the first killed (SIGKILL, no
  /// chance to clean up), the server frees its locks and the date runs to completion.
  @Test func aConfiguredPostgresStoreLocksEachFirmsDateUntilItsWriterDies() throws {
    let job = try OpsJob.make("pg-config", accounts: 40, firms: 2)
    defer { job.remove() }
    let url = try database("config")
    #expect(try Binary.run(["migrate-state", "--state", url]).status == 0)
    let firms = ["FIRM001", "FIRM002"]
    try job.writeConfig(firms: firms, stateURL: url)
    let checked = try Binary.run(["check-config", job.config])
    #expect(checked.status == 0, "\(checked.stdout)\(checked.stderr)")
    let marker = job.dir + "/paused"
    let first = try job.start(
      [], environment: ["EOD_TEST_PAUSE_BEFORE_SECOND_DELIVERY": marker], name: "first")
    defer { first.kill() }
    try #require(
      waitUntil(seconds: 60) { FileManager.default.fileExists(atPath: marker) || !first.isRunning },
      "the first run never paused: \(first.printed)")
    try #require(first.isRunning, "\(first.printed)")
    let server = try PostgresTestServer.started()
    let database = URL(string: url)?.lastPathComponent ?? ""
    let recorded = try server.sql(
      "SELECT host || ' ' || run_id FROM lock_holders WHERE pid = \(first.pid) ORDER BY what LIMIT 1",
      database: database
    ).trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").map(String.init)
    try #require(recorded.count == 2, "no lock_holders row for pid \(first.pid): \(recorded)")
    let second = try job.run()
    #expect(second.status == 3, "\(second.stdout)\(second.stderr)")
    #expect(
      second.stderr.contains(
        "firm FIRM001 on \(OpsJob.date) is being written by another run (held by host \(recorded[0]), "
          + "pid \(first.pid), run \(recorded[1]) since"), "\(second.stderr)")
    #expect(!FileManager.default.fileExists(atPath: job.delivered("FIRM002")), "the second run delivered")
    first.kill()
    #expect(first.process.terminationReason == .uncaughtSignal)
    var retried = Binary.Result(status: -1, stdout: "", stderr: "")
    for _ in 0..<50 where retried.status != 0 {
      retried = try job.run()
      if retried.status == 3 { usleep(200_000) } else { break }
    }
    #expect(retried.status == 0, "\(retried.stdout)\(retried.stderr)")
    for firm in firms { try job.expectCompleteSet(firm, manifestMatchesStaging: false) }
    let journal = try Binary.run(["deliveries", "--state", url])
    #expect(
      journal.status == 0 && journal.stdout.split(separator: "\n").count == 1 + 2 * 6, "\(journal.stdout)")
  }

  /// A binary older than the store's schema refuses it: the run and migrate-state exit 2 naming
  /// both versions, and nothing is written.
  @Test func aBinaryOlderThanTheSchemaRefusesTheStore() throws {
    let dir = try Binary.scratch("pg-newer")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    _ = try Binary.run(["generate", dir + "/snap", "--days", "1", "--accounts", "12", "--firms", "1"])
    let url = try database("newer")
    #expect(try Binary.run(["migrate-state", "--state", url]).status == 0)
    let server = try PostgresTestServer.started()
    let database = URL(string: url)?.lastPathComponent ?? ""
    try server.sql(
      "INSERT INTO schema_versions(version, applied_at, applied_by) VALUES (3, 'later', 'a newer eod-extract')",
      database: database)
    let run = try Binary.run([
      "run", "--snapshot", dir + "/snap/ledger-2026-10-01.sqlite", "--state", url, "--out", dir + "/out",
    ])
    #expect(run.status == 2, "\(run.stderr)")
    #expect(run.stderr.contains("schema is version 3, newer than this binary's version 2"), "\(run.stderr)")
    let migrate = try Binary.run(["migrate-state", "--state", url])
    #expect(migrate.status == 2, "\(migrate.stderr)")
    #expect(
      migrate.stderr.contains("version 3") && migrate.stderr.contains("nothing changed"), "\(migrate.stderr)")
    let counts = try server.sql(
      "SELECT (SELECT count(*) FROM runs) + (SELECT count(*) FROM history) + (SELECT count(*) FROM accounts)",
      database: database)
    #expect(counts.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "\(counts)")
  }
}
