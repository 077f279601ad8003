import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// What an operator meets first (issue 12): the state store is never created by a typo nor
/// written into a file that is not one, every path works, the demo and a bad output directory
/// destroy nothing, the exit codes are the documented ones, and an installed binary finds its
/// templates.
@Suite(.serialized) struct OperatorSafetyTests {
  /// A scratch folder with a one-day, two-firm series in `snap/`.
  static func series(_ name: String, days: Int = 1) throws -> String {
    let dir = try Binary.scratch(name)
    let generated = try Binary.run([
      "generate", dir + "/snap", "--days", "\(days)", "--accounts", "20", "--firms", "2",
    ])
    try #require(generated.status == 0, "\(generated.stderr)")
    return dir
  }

  static func sha256(_ path: String) throws -> String {
    let result = try Binary.run(program: "/usr/bin/sha256sum", [path])
    try #require(result.status == 0, "sha256sum: \(result.stderr)")
    return String(result.stdout.prefix(64))
  }

  static func sqlite(_ database: String, _ sql: String) throws -> String {
    let result = try Binary.run(program: "/usr/bin/sqlite3", [database, sql])
    try #require(result.status == 0, "sqlite3: \(result.stderr)")
    return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  static let rawFoundation = ["NSCocoaErrorDomain", "Code=", "error 512", "error 260", "NSError"]

  // MARK: The state store

  @Test func aFileThatIsNotAStateStoreIsRefusedAndLeftByteIdentical() throws {
    let dir = try Self.series("foreign-state")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let snapshot = dir + "/snap/ledger-2026-10-01.sqlite"
    let other = dir + "/other.sqlite"
    _ = try Self.sqlite(
      other, "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes(body) VALUES ('x');")
    let text = dir + "/notes.txt"
    try "not a database\n".write(toFile: text, atomically: true, encoding: .utf8)
    let empty = dir + "/empty.sqlite"
    FileManager.default.createFile(atPath: empty, contents: Data())
    let copy = dir + "/copy-of-snapshot.sqlite"
    try FileManager.default.copyItem(atPath: snapshot, toPath: copy)
    for target in [copy, other, text, empty] {
      let before = try Self.sha256(target)
      let run = try Binary.run([
        "run", "--init-state", "--snapshot", snapshot, "--state", target, "--out", dir + "/out",
      ])
      #expect(run.status == 2, "\(target): exit \(run.status) \(run.stderr)")
      #expect(run.stderr.contains(target) && run.stderr.contains("not a state store"), "\(run.stderr)")
      #expect(try Self.sha256(target) == before, "\(target) was changed")
      #expect(!FileManager.default.fileExists(atPath: target + ".lock"), "a lock file beside \(target)")
      #expect(!FileManager.default.fileExists(atPath: target + "-wal"))
      #expect(!FileManager.default.fileExists(atPath: dir + "/out"), "files were written")
    }
    // backfill and history refuse it the same way.
    let before = try Self.sha256(copy)
    let backfill = try Binary.run(["backfill", "--init-state", "--snapshots", dir + "/snap", "--state", copy])
    #expect(backfill.status == 2 && backfill.stderr.contains("not a state store"), "\(backfill.stderr)")
    let history = try Binary.run(["history", "--state", copy, "--account", "AC00000001"])
    #expect(history.status == 2 && history.stderr.contains("not a state store"), "\(history.stderr)")
    #expect(try Self.sha256(copy) == before)
  }

  @Test func aMissingStateStoreIsCreatedOnlyWhenAsked() throws {
    let dir = try Self.series("missing-state", days: 2)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let day1 = dir + "/snap/ledger-2026-10-01.sqlite"
    let day2 = dir + "/snap/ledger-2026-10-02.sqlite"
    let typo = dir + "/sate/state.sqlite"
    let refused = try Binary.run(["run", "--snapshot", day1, "--state", typo, "--out", dir + "/out"])
    #expect(refused.status == 2, "\(refused.stderr)")
    #expect(refused.stderr.contains(typo) && refused.stderr.contains("--init-state"), "\(refused.stderr)")
    #expect(!FileManager.default.fileExists(atPath: dir + "/sate"), "the missing folder was created")
    #expect(!FileManager.default.fileExists(atPath: dir + "/out"))
    let backfill = try Binary.run(["backfill", "--snapshots", dir + "/snap", "--state", typo])
    #expect(backfill.status == 2 && backfill.stderr.contains(typo), "\(backfill.stderr)")
    #expect(!FileManager.default.fileExists(atPath: dir + "/sate"))

    // Asked for: created, and the log says so.
    let state = dir + "/state/state.sqlite"
    let created = try Binary.run([
      "run", "--init-state", "--snapshot", day1, "--state", state, "--out", dir + "/out",
    ])
    #expect(created.status == 0, "\(created.stderr)")
    #expect(created.stderr.contains("creating a new, empty state store") && created.stderr.contains(state))
    #expect(try Self.sqlite(state, "PRAGMA application_id") == "\(0x454F_4453)")
    // The next night needs no flag, and says nothing about creating.
    let next = try Binary.run(["run", "--snapshot", day2, "--state", state, "--out", dir + "/out"])
    #expect(next.status == 0, "\(next.stderr)")
    #expect(!next.stderr.contains("creating a new"))
  }

  @Test func theConfigurationCreatesTheStoreOnlyWithCreateTrue() throws {
    let job = try OpsJob.make("config-create", accounts: 20, firms: 1, days: 1)
    defer { job.remove() }
    try job.writeConfig(firms: ["FIRM001"])
    var yaml = try String(contentsOfFile: job.config, encoding: .utf8)
    yaml = yaml.replacingOccurrences(
      of: "state_store: {path: \(job.state), create: true}", with: "state_store: \(job.state)")
    try yaml.write(toFile: job.config, atomically: true, encoding: .utf8)
    let refused = try job.run()
    #expect(refused.status == 2 && refused.stderr.contains(job.state), "\(refused.stderr)")
    #expect(!FileManager.default.fileExists(atPath: job.state))
    let checked = try Binary.run(["check-config", job.config])
    #expect(checked.stdout.contains("state_store.create"), "\(checked.stdout)")
    yaml = yaml.replacingOccurrences(
      of: "state_store: \(job.state)", with: "state_store:\n  path: \(job.state)\n  create: true")
    try yaml.write(toFile: job.config, atomically: true, encoding: .utf8)
    let created = try job.run()
    #expect(created.status == 0, "\(created.stderr)")
    #expect(created.stderr.contains("creating a new, empty state store"))
    #expect(FileManager.default.fileExists(atPath: job.state))
  }

  @Test func aStoreOfAnEarlierVersionStillOpensAndIsStamped() throws {
    let dir = try Self.series("legacy-state", days: 2)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let state = dir + "/state.sqlite"
    let first = try Binary.run([
      "run", "--init-state", "--snapshot", dir + "/snap/ledger-2026-10-01.sqlite", "--state", state, "--out",
      dir + "/out",
    ])
    try #require(first.status == 0, "\(first.stderr)")
    // As an earlier version left it: format 2, no application_id.
    _ = try Self.sqlite(state, "PRAGMA application_id = 0")
    #expect(try Self.sqlite(state, "PRAGMA application_id") == "0")
    let next = try Binary.run([
      "run", "--snapshot", dir + "/snap/ledger-2026-10-02.sqlite", "--state", state, "--out", dir + "/out",
    ])
    #expect(next.status == 0, "\(next.stderr)")
    #expect(try Self.sqlite(state, "PRAGMA application_id") == "\(0x454F_4453)")
    let history = try Binary.run(["history", "--state", state, "--account", "AC00000001"])
    #expect(history.status == 0 && history.stdout.split(separator: "\n").count == 3, "\(history.stdout)")
  }

  // MARK: Paths

  @Test func everyPathTheSystemAcceptsWorks() throws {
    let dir = try Self.series("paths")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let snapshot = dir + "/snap/ledger-2026-10-01.sqlite"
    // One character, relative to the working directory.
    try FileManager.default.copyItem(atPath: snapshot, toPath: dir + "/a")
    let short = try Binary.run(
      ["run", "--init-state", "--snapshot", "a", "--state", "s", "--out", "o"], cwd: dir)
    #expect(short.status == 0, "exit \(short.status): \(short.stderr)")
    #expect(
      FileManager.default.fileExists(atPath: dir + "/o/FIRM001/2026-10-01/FIRM001_manifest_20261001.json"))
    #expect(FileManager.default.fileExists(atPath: dir + "/s"))
    // Spaces and non-ASCII, relative with folders.
    try FileManager.default.createDirectory(atPath: dir + "/snap shot é", withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: snapshot, toPath: dir + "/snap shot é/ledger ü.sqlite")
    let odd = try Binary.run(
      [
        "run", "--init-state", "--snapshot", "snap shot é/ledger ü.sqlite", "--state",
        "état du jour/s t.sqlite",
        "--out", "sortie ø/o p",
      ], cwd: dir)
    #expect(odd.status == 0, "exit \(odd.status): \(odd.stderr)")
    #expect(
      FileManager.default.fileExists(
        atPath: dir + "/sortie ø/o p/FIRM002/2026-10-01/FIRM002_manifest_20261001.json"))
    #expect(FileManager.default.fileExists(atPath: dir + "/état du jour/s t.sqlite"))
    // Absolute, with the same names.
    let absolute = try Binary.run([
      "run", "--snapshot", dir + "/snap shot é/ledger ü.sqlite", "--state", dir + "/état du jour/s t.sqlite",
      "--out",
      dir + "/sortie ø/o p",
    ])
    #expect(absolute.status == 0, "exit \(absolute.status): \(absolute.stderr)")
  }

  // MARK: The demo

  @Test func theDemoWritesOnlyIntoAnEmptyOrEarlierDemoFolder() throws {
    let dir = try Binary.scratch("demo-folder")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let folder = dir + "/mine"
    try FileManager.default.createDirectory(atPath: folder + "/sub", withIntermediateDirectories: true)
    try "keep me\n".write(toFile: folder + "/notes.txt", atomically: true, encoding: .utf8)
    try "and me\n".write(toFile: folder + "/sub/more.txt", atomically: true, encoding: .utf8)
    let refused = try Binary.run(["demo", "--out", folder, "--days", "2"])
    #expect(refused.status == 2, "\(refused.stdout)\(refused.stderr)")
    #expect(refused.stderr.contains(folder), "\(refused.stderr)")
    #expect(try String(contentsOfFile: folder + "/notes.txt", encoding: .utf8) == "keep me\n")
    #expect(try String(contentsOfFile: folder + "/sub/more.txt", encoding: .utf8) == "and me\n")
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["notes.txt", "sub"])

    // A new folder, then the same folder again (an earlier demo's): both fine.
    let demo = dir + "/demo"
    let first = try Binary.run(["demo", "--out", demo, "--days", "2"])
    #expect(first.status == 0, "\(first.stderr)")
    #expect(FileManager.default.fileExists(atPath: demo + "/.eod-extract-demo"))
    try "mine\n".write(toFile: demo + "/my-notes.txt", atomically: true, encoding: .utf8)
    let again = try Binary.run(["demo", "--out", demo, "--days", "2"])
    #expect(again.status == 0, "\(again.stderr)")
    #expect(try String(contentsOfFile: demo + "/my-notes.txt", encoding: .utf8) == "mine\n")
    // An empty folder is fine too.
    try FileManager.default.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: true)
    let empty = try Binary.run(["demo", "--out", dir + "/empty", "--days", "2"])
    #expect(empty.status == 0, "\(empty.stderr)")
  }

  // MARK: The output directory

  @Test func anUnusableOutputDirectoryStopsTheRunBeforeAnythingIsRead() throws {
    let dir = try Self.series("bad-out")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let snapshot = dir + "/snap/ledger-2026-10-01.sqlite"
    let file = dir + "/a-file"
    try "x\n".write(toFile: file, atomically: true, encoding: .utf8)
    for out in [file, file + "/below"] {
      let run = try Binary.run([
        "run", "--init-state", "--snapshot", snapshot, "--state", dir + "/state.sqlite", "--out", out,
      ])
      #expect(run.status == 2, "\(out): exit \(run.status) \(run.stderr)")
      #expect(run.stderr.contains("is not a directory") && run.stderr.contains(out), "\(run.stderr)")
      for raw in Self.rawFoundation { #expect(!run.stderr.contains(raw), "\(run.stderr)") }
      #expect(!FileManager.default.fileExists(atPath: dir + "/state.sqlite"), "the state store was touched")
    }
    let backfill = try Binary.run([
      "backfill", "--init-state", "--snapshots", dir + "/snap", "--state", dir + "/state.sqlite", "--out",
      file,
    ])
    #expect(backfill.status == 2 && backfill.stderr.contains("is not a directory"), "\(backfill.stderr)")
  }

  // MARK: Exit codes

  /// Every case of the exit-code table (README, `--help`, docs/operations.md), through the binary.
  @Test func everyDocumentedExitCode() throws {
    let dir = try Self.series("exit-codes", days: 2)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let day1 = dir + "/snap/ledger-2026-10-01.sqlite"
    let state = dir + "/state.sqlite"
    func code(_ arguments: [String]) throws -> Int32 { try Binary.run(arguments).status }

    // 0: every firm written.
    #expect(
      try code(["run", "--init-state", "--snapshot", day1, "--state", state, "--out", dir + "/out"]) == 0)
    // 1: a firm failed, the other written (a file where its folder goes), said in words.
    let day2 = dir + "/snap/ledger-2026-10-02.sqlite"
    try FileManager.default.removeItem(atPath: dir + "/out/FIRM002")
    try "x".write(toFile: dir + "/out/FIRM002", atomically: true, encoding: .utf8)
    let partial = try Binary.run(["run", "--snapshot", day2, "--state", state, "--out", dir + "/out"])
    #expect(partial.status == 1, "\(partial.stdout)\(partial.stderr)")
    #expect(
      partial.stdout.contains("FIRM002: FAILED") && partial.stdout.contains("Not a directory"),
      "\(partial.stdout)")
    for raw in Self.rawFoundation {
      #expect(!(partial.stdout + partial.stderr).contains(raw), "\(partial.stdout)\(partial.stderr)")
    }
    // 2: nothing done (a missing snapshot, a missing state store, an output that is a file).
    #expect(
      try code(["run", "--snapshot", dir + "/nope.sqlite", "--state", state, "--out", dir + "/out"]) == 2)
    #expect(
      try code(["run", "--snapshot", day1, "--state", dir + "/typo.sqlite", "--out", dir + "/out"]) == 2)
    #expect(
      try code(["run", "--snapshot", day1, "--state", state, "--out", dir + "/out/FIRM002/2026-10-02"]) == 2)
    // 3: another run holds the lock.
    let lock = open(state + ".lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
    try #require(lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) == 0)
    #expect(try code(["run", "--snapshot", day1, "--state", state, "--out", dir + "/out"]) == 3)
    close(lock)
    // 64: usage, everywhere.
    let usage: [[String]] = [
      ["run", "--snapshot", day1],
      ["run", "--bogus"],
      ["run", "--snapshot", day1, "--state", state, "--out", dir + "/out", "--compression", "11"],
      ["generate", dir + "/g", "--days", "0"],
      ["generate", dir + "/g", "--start", "2026-13-01"],
      [
        "backfill", "--snapshots", dir + "/snap", "--state", state, "--from", "2026-10-05", "--to",
        "2026-10-01",
      ],
      ["backfill", "--snapshots", dir + "/snap", "--state", state, "--from", "tuesday"],
      ["run", "--quiet", "--verbose", "--snapshot", day1, "--state", state, "--out", dir + "/out"],
      ["nosuchcommand"],
    ]
    for arguments in usage {
      #expect(try code(arguments) == 64, "\(arguments)")
    }
    // 70: an error no part of the job declares (the test-only hook throws one): 70 by default,
    // not 1, and said to be an internal error.
    let unexpected = try Binary.run(
      program: "/usr/bin/env",
      [
        "EOD_TEST_INTERNAL_ERROR=1", Binary.path, "run", "--snapshot", day1, "--state", state, "--out",
        dir + "/out",
      ])
    #expect(unexpected.status == 70, "\(unexpected.stdout)\(unexpected.stderr)")
    #expect(unexpected.stderr.contains("internal-error"), "\(unexpected.stderr)")
    // One case above per row of the table, and no row without one.
    #expect(try Self.exitCodeTables().help.map(\.code) == ["0", "1", "2", "3", "64", "70"])
  }

  /// The exit-code table of `--help`, the README and docs/operations.md, as (code, meaning) rows.
  static func exitCodeTables() throws -> (
    help: [ExitCodeRow], readme: [ExitCodeRow], operations: [ExitCodeRow]
  ) {
    let help = try Binary.run(["--help"]).stdout
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
    let operations = try String(
      contentsOf: root.appendingPathComponent("docs/operations.md"), encoding: .utf8)
    // --help: the lines after "Exit codes:" up to the first blank line, "  CODE  MEANING".
    var helpRows: [ExitCodeRow] = []
    var lines = help.split(separator: "\n", omittingEmptySubsequences: false).makeIterator()
    while let line = lines.next(), line.trimmingCharacters(in: .whitespaces) != "Exit codes:" {}
    while let line = lines.next(), !line.trimmingCharacters(in: .whitespaces).isEmpty {
      let words = line.trimmingCharacters(in: .whitespaces)
      guard let space = words.firstIndex(of: " ") else { break }
      helpRows.append(
        ExitCodeRow(
          code: String(words[..<space]), meaning: words[space...].trimmingCharacters(in: .whitespaces)))
    }
    // Markdown: the first table after the heading "Exit codes".
    func markdownRows(_ text: String, heading: String) -> [ExitCodeRow] {
      guard let start = text.range(of: heading + "\n") else { return [] }
      var rows: [ExitCodeRow] = []
      var inTable = false
      for line in text[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
        guard line.hasPrefix("|") else {
          if inTable { break }
          continue
        }
        inTable = true
        let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        guard cells.count == 2, cells[0] != "code", cells[0] != "---" else { continue }
        rows.append(ExitCodeRow(code: cells[0], meaning: cells[1]))
      }
      return rows
    }
    return (
      helpRows, markdownRows(readme, heading: "### Exit codes"),
      markdownRows(operations, heading: "## Exit codes")
    )
  }

  struct ExitCodeRow: Equatable, CustomStringConvertible {
    var code: String
    var meaning: String
    var description: String { "\(code): \(meaning)" }
  }

  /// `--help`, the README and docs/operations.md show the same exit-code table, row for row.
  @Test func theThreeExitCodeTablesAreIdentical() throws {
    let tables = try Self.exitCodeTables()
    #expect(tables.help.count == 6, "\(tables.help)")
    #expect(tables.readme == tables.help, "README: \(tables.readme)\n--help: \(tables.help)")
    #expect(tables.operations == tables.help, "operations.md: \(tables.operations)\n--help: \(tables.help)")
  }

  // MARK: Installing

  @Test func anInstalledBinaryFindsItsTemplatesFromAnyDirectory() throws {
    let dir = try Binary.scratch("install")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let prefix = dir + "/prefix"
    let installed = try Binary.run(
      program: "/usr/bin/env",
      [
        "EOD_INSTALL_NO_GENERATE_MANUAL=1", root.appendingPathComponent("scripts/install.sh").path,
        "--binary", Binary.path, prefix,
      ])
    try #require(installed.status == 0, "\(installed.stdout)\(installed.stderr)")
    let bin = prefix + "/bin/eod-extract"
    for file in [
      "share/eod-extract/templates/positions.v1.tmpl", "share/eod-extract/cron/eod-extract.timer",
      "share/eod-extract/cron/eod-extract.example.yaml", "share/man/man1/eod-extract.1",
      "share/bash-completion/completions/eod-extract",
    ] {
      #expect(FileManager.default.fileExists(atPath: prefix + "/" + file), "not installed: \(file)")
    }
    let manual = try String(contentsOfFile: prefix + "/share/man/man1/eod-extract.1", encoding: .utf8)
    for word in [".TH EOD-EXTRACT 1", "backfill", "--init-state", "Exit codes"] {
      #expect(manual.contains(word), "the man page lacks \(word)")
    }
    let elsewhere = dir + "/elsewhere"
    try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
    func installedRun(_ arguments: [String]) throws -> Binary.Result {
      try Binary.run(program: "/usr/bin/env", ["-u", "EOD_TEMPLATES", bin] + arguments, cwd: elsewhere)
    }
    let version = try installedRun(["--version"])
    #expect(
      version.status == 0 && version.stdout.contains(prefix + "/share/eod-extract/templates"),
      "\(version.stdout)")
    for word in ["snapshot schema", "manifest schema", "positions.v1"] {
      #expect(version.stdout.contains(word))
    }
    let demo = try installedRun(["demo", "--out", "d", "--days", "2"])
    #expect(demo.status == 0, "\(demo.stderr)")
    // run --config from another directory, no templates_dir in the file.
    let generated = try installedRun(["generate", "snap", "--days", "1", "--accounts", "10", "--firms", "1"])
    try #require(generated.status == 0)
    let config = elsewhere + "/config.yaml"
    try """
    version: 1
    snapshot: snap/ledger-{date}.sqlite
    state_store: {path: state/state.sqlite, create: true}
    output_dir: staging
    firms:
      - firm_id: FIRM001
        destination:
          local_dir: delivered
    """.write(toFile: config, atomically: true, encoding: .utf8)
    try FileManager.default.createDirectory(atPath: elsewhere + "/state", withIntermediateDirectories: true)
    let run = try Binary.run(
      program: "/usr/bin/env",
      ["-u", "EOD_TEMPLATES", bin, "run", "--config", config, "--date", "2026-10-01"], cwd: "/")
    #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
    #expect(
      FileManager.default.fileExists(
        atPath: elsewhere + "/delivered/FIRM001/2026-10-01/FIRM001_manifest_20261001.json"))

    // Without templates anywhere: the error lists every place searched, in words.
    let lone = dir + "/lone/bin"
    try FileManager.default.createDirectory(atPath: lone, withIntermediateDirectories: true)
    // Copied by cp, not FileManager.copyItem: the copy's write descriptor then never exists in
    // this process, where a child another test starts meanwhile could inherit it and make the run
    // below fail with "Text file busy".
    let copied = try Binary.run(program: "/bin/cp", [bin, lone + "/eod-extract"])
    try #require(copied.status == 0, "\(copied.stderr)")
    let missing = try Binary.run(
      program: "/usr/bin/env", ["-u", "EOD_TEMPLATES", lone + "/eod-extract", "demo", "--out", "d2"],
      cwd: elsewhere)
    #expect(missing.status == 2, "\(missing.stderr)")
    #expect(
      missing.stderr.contains("searched:")
        && missing.stderr.contains(dir + "/lone/share/eod-extract/templates"))
    #expect(missing.stderr.contains(elsewhere + "/templates"), "\(missing.stderr)")
    for raw in Self.rawFoundation { #expect(!missing.stderr.contains(raw), "\(missing.stderr)") }
  }
}
