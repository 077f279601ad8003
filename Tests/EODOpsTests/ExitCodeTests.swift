import Foundation
import Testing

@testable import EODOps

/// The one mapping from an error to the process's exit code, and the one exit-code table.
@Suite struct ExitCodeTests {
  /// An error no part of the job declares.
  struct Unexpected: Error {}

  @Test func anErrorThatDoesNotSayItsCodeIsAnInternalError() {
    #expect(EODExitCode(for: Unexpected()) == .internalError)
    #expect(EODExitCode(for: Unexpected()).rawValue == 70)
    #expect(EODExitCode(for: CocoaError(.fileNoSuchFile)) == .internalError)
  }

  @Test func operatorFacingErrorsSayTheirOwnCode() {
    let held = RunLockError(code: .alreadyRunning, lockPath: "/s.lock", holderPID: 12, detail: "held")
    #expect(EODExitCode(for: held) == .alreadyRunning)
    #expect(held.errorCode == "already-running")
    let unopenable = RunLockError(code: .cannotOpen, lockPath: "/s.lock", detail: "no")
    #expect(EODExitCode(for: unopenable) == .nothingDone)
    let configuration = ConfigurationError(code: .invalid, file: "c.yaml", detail: "bad")
    #expect(EODExitCode(for: configuration) == .nothingDone)
    #expect(configuration.errorCode == "refused")
  }

  @Test func theHelpTableHasOneLinePerCodeWithTheSameMeaning() {
    let lines = EODExitCode.helpTable.split(separator: "\n").map(String.init)
    #expect(lines.first == "Exit codes:")
    #expect(lines.count == EODExitCode.allCases.count + 1)
    for (line, code) in zip(lines.dropFirst(), EODExitCode.allCases) {
      let number = String(code.rawValue)
      #expect(line.hasPrefix("  \(number) "), "\(line)")
      #expect(line.dropFirst(2 + number.count).trimmingCharacters(in: .whitespaces) == code.meaning)
      #expect(line.count <= 80, "the argument parser wraps --help at 80 columns: \(line)")
    }
    #expect(EODExitCode.allCases.map(\.rawValue) == [0, 1, 2, 3, 64, 70])
  }

  /// The README and docs/operations.md carry the table exactly as generated (the binary's
  /// `--help` prints it from the same source; Tests/EODExtractCLITests checks all three agree).
  @Test func theDocsCarryTheGeneratedTable() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    for document in ["README.md", "docs/operations.md"] {
      let text = try String(contentsOf: root.appendingPathComponent(document), encoding: .utf8)
      #expect(text.contains("\n" + EODExitCode.markdownTable + "\n"), "\(document) lacks the generated table")
    }
  }
}
