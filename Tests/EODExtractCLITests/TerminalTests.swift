import Foundation
import Testing

/// What a person sees on a real terminal (tmux, read back with capture-pane): a progress bar and
/// no per-firm info lines by default; every line with `--verbose`.
@Suite(.serialized) struct TerminalTests {
  static let tmux = ["/usr/bin/tmux", "/usr/local/bin/tmux"].first {
    FileManager.default.isExecutableFile(atPath: $0)
  }

  /// Runs `command` in a detached tmux session of 120×40 and returns the screen once the command
  /// has printed `EXIT=<code>`.
  static func screen(of command: String, in dir: String) throws -> String {
    let tmux = try #require(Self.tmux, "tmux is not installed (scripts/setup.sh installs it)")
    let socket = "eod-test-\(UUID().uuidString.prefix(8))"
    // The tmux server outlives this call and would inherit Foundation's descriptors (and then
    // Process would wait for it): python3 starts the client with every other descriptor closed.
    func tmuxRun(_ arguments: [String]) throws -> Binary.Result {
      try Binary.run(
        program: "/usr/bin/python3",
        [
          "-c",
          "import subprocess, sys; r = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, capture_output=True, close_fds=True); sys.stdout.write(r.stdout.decode()); sys.exit(r.returncode)",
          tmux,
        ] + arguments)
    }
    let started = try tmuxRun([
      "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "120", "-y", "40",
      // The pane stays until the test has read it (then the file `release` ends it, and with it the
      // server: signals may be blocked in processes started from the test runner).
      "cd '\(dir)' && \(command); echo EXIT=$?; for i in $(seq 1200); do [ -e release ] && break; sleep 0.1; done",
    ])
    try #require(started.status == 0, "tmux: \(started.stderr)")
    defer {
      FileManager.default.createFile(atPath: dir + "/release", contents: Data())
      Thread.sleep(forTimeInterval: 0.3)
      try? FileManager.default.removeItem(atPath: dir + "/release")
    }
    var screen = ""
    let deadline = Date().addingTimeInterval(120)
    while Date() < deadline {
      screen = try tmuxRun(["-L", socket, "capture-pane", "-p", "-t", "t"]).stdout
      if screen.contains("EXIT=") { break }
      Thread.sleep(forTimeInterval: 0.2)
    }
    return screen
  }

  @Test func aBackfillOnATerminalShowsProgressNotEveryFirm() throws {
    let dir = try Binary.scratch("terminal")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let generated = try Binary.run([
      "generate", dir + "/snap", "--days", "6", "--accounts", "60", "--firms", "3",
    ])
    try #require(generated.status == 0)
    let quietScreen = try Self.screen(
      of: "'\(Binary.path)' backfill --snapshots snap --state s.sqlite --init-state", in: dir)
    #expect(quietScreen.contains("EXIT=0"), "\(quietScreen)")
    #expect(quietScreen.contains("6/6 dates") && quietScreen.contains("dates/s"), "\(quietScreen)")
    #expect(quietScreen.contains("done in"), "\(quietScreen)")
    #expect(quietScreen.contains("creating a new, empty state store"), "\(quietScreen)")
    #expect(!quietScreen.contains("firm done"), "per-firm info lines on the terminal:\n\(quietScreen)")
    #expect(!quietScreen.contains("snapshot read"), "\(quietScreen)")
    // The screen is short: the bar is redrawn in place, not one line per date or firm.
    let lines = quietScreen.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
    #expect(lines.count <= 4, "\(quietScreen)")

    let verboseScreen = try Self.screen(
      of:
        "'\(Binary.path)' backfill --snapshots snap --state v.sqlite --init-state --verbose --to 2026-10-01",
      in: dir)
    #expect(verboseScreen.contains("EXIT=0"), "\(verboseScreen)")
    #expect(verboseScreen.contains("firm done"), "\(verboseScreen)")

    let silent = try Self.screen(
      of: "'\(Binary.path)' backfill --snapshots snap --state q.sqlite --init-state --quiet", in: dir)
    let silentLines = silent.split(separator: "\n").filter {
      !$0.trimmingCharacters(in: .whitespaces).isEmpty
    }
    #expect(silentLines == ["EXIT=0"], "\(silent)")
  }
}
