import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Issue 11, the file-system side: firm ids that would be paths, symlinks planted in the output
/// tree and beside the state store, modes, what a refused run removes, the state store removed
/// while the job runs, and open files with many firms. Each through the built binary.
@Suite(.serialized) struct OutputTreeTests {
  static let date = "2026-10-01"

  /// A folder with a generated one-day series.
  static func series(_ name: String, accounts: Int = 30, firms: Int = 2) throws -> String {
    let dir = try Binary.scratch(name)
    let generated = try Binary.run([
      "generate", dir + "/snap", "--days", "1", "--accounts", "\(accounts)", "--firms", "\(firms)",
    ])
    try #require(generated.status == 0, "\(generated.stderr)")
    return dir
  }

  static func snapshot(_ dir: String) -> String { dir + "/snap/ledger-\(date).sqlite" }

  static func run(_ dir: String, _ more: [String] = [], state: String? = nil, out: String? = nil) throws
    -> Binary.Result
  {
    try Binary.run(
      [
        "run", "--init-state", "--snapshot", snapshot(dir), "--state", state ?? dir + "/state.sqlite",
        "--out",
        out ?? dir + "/out",
      ]
        + more)
  }

  /// Runs a shell command line with `$BIN` set to the binary.
  /// Output goes to files (a run's logs can fill a pipe).
  static func shell(_ script: String, cwd: String) throws -> Binary.Result {
    try Launched(
      ["-c", "cd '\(cwd)' && BIN='\(Binary.path)'; " + script],
      environment: ProcessInfo.processInfo.environment,
      executable: "/bin/bash", logs: cwd + "/shell-\(UUID().uuidString.prefix(6))"
    ).wait()
  }

  static func renameFirm(_ dir: String, _ from: String, to expression: String) throws {
    _ = try sqlite(
      snapshot(dir),
      """
      PRAGMA foreign_keys=OFF; UPDATE firms SET firm_id=\(expression) WHERE firm_id='\(from)';
      UPDATE clients SET firm_id=\(expression) WHERE firm_id='\(from)';
      UPDATE accounts SET firm_id=\(expression) WHERE firm_id='\(from)';
      """)
  }

  static func mode(_ path: String) -> Int? {
    var info = stat()
    guard lstat(path, &info) == 0 else { return nil }
    return Int(info.st_mode & 0o7777)
  }

  static func entries(_ path: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
  }

  /// Invalid UTF-8 in a firm id is a broken snapshot (the contract's integrity rule), so the whole
  /// snapshot is refused: exit 2, the table named, nothing made under OUT (the adversarial case
  /// `firm-id-invalid-utf8` checks that no raw byte is shown).
  @Test func aFirmIdOfInvalidUTF8RefusesTheSnapshot() throws {
    let dir = try Self.series("firm-id-utf8")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Self.renameFirm(dir, "FIRM002", to: "CAST(X'4649524DFF' AS TEXT)")
    try FileManager.default.createDirectory(atPath: dir + "/a/b/out", withIntermediateDirectories: true)
    let run = try Self.run(dir, out: dir + "/a/b/out")
    #expect(run.status == 2, "\(run.stdout)\(run.stderr)")
    #expect(run.stderr.contains("invalid-utf8") && run.stderr.contains("firm_id"), "\(run.stderr)")
    #expect(Self.entries(dir + "/a/b/out").isEmpty)
    #expect(run.stderr.contains("table firms"), "\(run.stderr)")
  }

  @Test(arguments: [
    "'./../../x/owned'", "'..'", "'.'", "''", "'\(String(repeating: "F", count: 65))'",
    "'FIRM' || char(10) || '2026-10-01 FIRM009: ok'", "'FIRM' || char(8238) || '200'",
  ])
  func aFirmWhoseIdIsNotAPlainNameFailsAloneAndMakesNoPath(_ id: String) throws {
    let dir = try Self.series("firm-id")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Self.renameFirm(dir, "FIRM002", to: id)
    try FileManager.default.createDirectory(atPath: dir + "/a/b/out", withIntermediateDirectories: true)
    let run = try Self.run(dir, out: dir + "/a/b/out")
    #expect(run.status == 1, "\(run.stdout)\(run.stderr)")
    #expect(Self.entries(dir).sorted() == ["a", "snap", "state.sqlite", "state.sqlite.lock"].sorted())
    #expect(Self.entries(dir + "/a") == ["b"])
    #expect(Self.entries(dir + "/a/b") == ["out"])
    #expect(Self.entries(dir + "/a/b/out") == ["FIRM001"])
    #expect(Self.entries(dir + "/a/b/out/FIRM001/\(Self.date)").count == 6)
    let lines = run.stdout.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
    #expect(lines.count == 2, "\(run.stdout)")
    #expect(lines.filter { $0.contains("FAILED: [invalid-firm-id]") }.count == 1, "\(run.stdout)")
    for scalar in (run.stdout + run.stderr).unicodeScalars where scalar != "\n" {
      #expect(scalar.value >= 0x20 && scalar.value != 0x7F && !(0x202A...0x202E).contains(scalar.value))
    }
  }

  @Test func aFirmIdNamingAnotherFirmsFolderDoesNotReplaceItsFiles() throws {
    let dir = try Self.series("firm-id-firm001")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Self.renameFirm(dir, "FIRM002", to: "'\(dir)/out/FIRM001/\(Self.date)/FIRM001'")
    let run = try Self.run(dir)
    #expect(run.status == 1)
    let manifest = try String(
      contentsOfFile: dir + "/out/FIRM001/\(Self.date)/FIRM001_manifest_20261001.json", encoding: .utf8)
    #expect(manifest.contains("\"firm_id\": \"FIRM001\"") || manifest.contains("\"firm_id\":\"FIRM001\""))
    #expect(Self.entries(dir + "/out/FIRM001/\(Self.date)").count == 6)
    #expect(Self.entries(dir + "/out") == ["FIRM001"])
  }

  @Test func aSymlinkedFirmFolderIsNeverFollowed() throws {
    let dir = try Self.series("symlink-firm")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let elsewhere = dir + "/elsewhere"
    try FileManager.default.createDirectory(
      atPath: elsewhere + "/\(Self.date)", withIntermediateDirectories: true)
    // A file a run would otherwise delete there (it looks like a leftover temporary file).
    try "keep".write(toFile: elsewhere + "/\(Self.date)/.x.part-old", atomically: false, encoding: .utf8)
    try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
    try FileManager.default.createSymbolicLink(atPath: dir + "/out/FIRM001", withDestinationPath: elsewhere)
    let run = try Self.run(dir)
    #expect(run.status == 1, "\(run.stdout)\(run.stderr)")
    #expect(run.stdout.contains("FIRM001: FAILED") && run.stdout.contains("symbolic link"), "\(run.stdout)")
    #expect(Self.entries(elsewhere + "/\(Self.date)") == [".x.part-old"])
    #expect(Self.entries(dir + "/out/FIRM002/\(Self.date)").count == 6)
  }

  @Test func aSymlinkedLockFileIsRefusedAndItsTargetLeftAlone() throws {
    let dir = try Self.series("symlink-lock")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try "precious\n".write(toFile: dir + "/precious", atomically: false, encoding: .utf8)
    try FileManager.default.createSymbolicLink(
      atPath: dir + "/state.sqlite.lock", withDestinationPath: dir + "/precious")
    let run = try Self.run(dir)
    #expect(run.status == 2, "\(run.stdout)\(run.stderr)")
    #expect(run.stderr.contains("symbolic link"))
    #expect(try String(contentsOfFile: dir + "/precious", encoding: .utf8) == "precious\n")
  }

  @Test func aSymlinkAliasOfTheStateFileTakesTheSameLock() throws {
    let dir = try Self.series("state-alias")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let first = try Self.run(dir)
    #expect(first.status == 0)
    try FileManager.default.createSymbolicLink(
      atPath: dir + "/alias.sqlite", withDestinationPath: dir + "/state.sqlite")
    // Another run holds the state store's lock (as the real path names it).
    let holder = Process()
    holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
    holder.arguments = ["-x", dir + "/state.sqlite.lock", "sleep", "4"]
    try holder.run()
    defer {
      kill(holder.processIdentifier, SIGKILL)
      holder.waitUntilExit()
    }
    usleep(300_000)
    let second = try Self.run(dir, state: dir + "/alias.sqlite", out: dir + "/out2")
    #expect(second.status == 3, "\(second.stdout)\(second.stderr)")
    #expect(!FileManager.default.fileExists(atPath: dir + "/alias.sqlite.lock"))
  }

  @Test func theMetricsTemporaryNameIsNeverFollowed() throws {
    let job = try OpsJob.make("metrics-symlink")
    defer { job.remove() }
    try job.writeConfig(firms: ["FIRM001", "FIRM002"])
    try "precious\n".write(toFile: job.dir + "/precious", atomically: false, encoding: .utf8)
    // The job's PID is the shell's ($$, kept by exec): plant the old temporary name.
    let result = try Self.shell(
      "ln -s '\(job.dir)/precious' '\(job.dir)/metrics/.eod_extract.prom.tmp.'$$; "
        + "exec \"$BIN\" run --config '\(job.config)' --date \(OpsJob.date)", cwd: job.dir)
    #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    #expect(try String(contentsOfFile: job.dir + "/precious", encoding: .utf8) == "precious\n")
    #expect(FileManager.default.fileExists(atPath: job.metrics))
  }

  @Test func filesAre0640AndDirectories0750WhateverTheUmask() throws {
    let dir = try Self.series("modes")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let run = try Self.shell(
      "umask 000; exec \"$BIN\" run --init-state --snapshot '\(Self.snapshot(dir))' --state '\(dir)/state.sqlite' --out '\(dir)/new/out'",
      cwd: dir)
    #expect(run.status == 0, "\(run.stderr)")
    for path in ["/new", "/new/out", "/new/out/FIRM001", "/new/out/FIRM001/\(Self.date)"] {
      #expect(Self.mode(dir + path) == 0o750, "\(path)")
    }
    for name in Self.entries(dir + "/new/out/FIRM001/\(Self.date)") {
      #expect(Self.mode(dir + "/new/out/FIRM001/\(Self.date)/" + name) == 0o640, "\(name)")
    }
    // Configurable: the options.
    let chosen = try Self.shell(
      "umask 000; exec \"$BIN\" run --init-state --snapshot '\(Self.snapshot(dir))' --state '\(dir)/state2.sqlite' --out '\(dir)/out2' --file-mode 0600 --directory-mode 0700",
      cwd: dir)
    #expect(chosen.status == 0, "\(chosen.stderr)")
    #expect(Self.mode(dir + "/out2/FIRM002") == 0o700)
    #expect(Self.mode(dir + "/out2/FIRM002/\(Self.date)/FIRM002_manifest_20261001.json") == 0o600)
    let bad = try Self.run(dir, ["--file-mode", "0044"], state: dir + "/state3.sqlite", out: dir + "/out3")
    #expect(bad.status != 0 && bad.status != 1)
  }

  @Test func theConfigurationSetsTheModes() throws {
    let job = try OpsJob.make("modes-config")
    defer { job.remove() }
    try job.writeConfig(firms: ["FIRM001"], extra: "file_mode: \"0600\"\ndirectory_mode: \"0700\"\n")
    let result = try Self.shell(
      "umask 022; exec \"$BIN\" run --config '\(job.config)' --date \(OpsJob.date)", cwd: job.dir)
    #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    #expect(Self.mode(job.out + "/FIRM001") == 0o700)
    #expect(Self.mode(job.staged("FIRM001") + "/" + OpsJob.manifestName("FIRM001")) == 0o600)
  }

  @Test func aRefusedSnapshotRemovesOnlyWhatTheRunMade() throws {
    let dir = try Self.series("refused")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for folder in ["/out/FIRM001", "/out/empty"] {
      try FileManager.default.createDirectory(atPath: dir + folder, withIntermediateDirectories: true)
    }
    _ = try sqlite(
      Self.snapshot(dir),
      "UPDATE positions SET quantity = '1,5' WHERE rowid = (SELECT MAX(rowid) FROM positions)")
    let run = try Self.run(dir)
    #expect(run.status == 2, "\(run.stdout)\(run.stderr)")
    #expect(Self.entries(dir + "/out") == ["FIRM001", "empty"])
    #expect(Self.entries(dir + "/out/FIRM001") == [])
    // A refused run into a new folder leaves nothing of it.
    let fresh = try Self.run(dir, state: dir + "/s2.sqlite", out: dir + "/new/out")
    #expect(fresh.status == 2)
    #expect(!FileManager.default.fileExists(atPath: dir + "/new"))
  }

  @Test func theStateStoreRemovedWhileTheJobRunsIsAFailure() throws {
    let dir = try Self.series("state-removed", accounts: 10000, firms: 2)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try FileManager.default.createDirectory(atPath: dir + "/state", withIntermediateDirectories: true)
    let launched = try Launched(
      [
        "run", "--init-state", "--snapshot", Self.snapshot(dir), "--state", dir + "/state/state.sqlite",
        "--out",
        dir + "/out",
      ],
      environment: ProcessInfo.processInfo.environment, executable: Binary.path, logs: dir + "/run")
    // The firms' folders are made once the store is open, before the pass over the snapshot.
    let started = waitUntil(seconds: 60) {
      FileManager.default.fileExists(atPath: dir + "/out/FIRM002/\(Self.date)")
    }
    #expect(started)
    #expect(launched.isRunning, "the run ended before the store could be removed")
    try FileManager.default.removeItem(atPath: dir + "/state")
    let result = launched.wait()
    #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
    #expect(result.stdout.contains("history was not recorded"), "\(result.stdout)")
    #expect(result.stdout.contains("removed while the job ran"), "\(result.stdout)")
  }

  @Test func threeHundredFirmsUnderAFileLimitOf256() throws {
    let dir = try Self.series("many-firms", accounts: 600, firms: 300)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let run = try Self.shell(
      "ulimit -n 256; exec \"$BIN\" run --init-state --snapshot '\(Self.snapshot(dir))' --state '\(dir)/state.sqlite' --out '\(dir)/out'",
      cwd: dir)
    #expect(
      run.status == 0, "\(run.stdout.split(separator: "\n").filter { $0.contains("FAILED") }.prefix(3))")
    #expect(Self.entries(dir + "/out").count == 300)
    #expect(run.stdout.split(separator: "\n").filter { $0.contains("FAILED") }.isEmpty)
  }
}
