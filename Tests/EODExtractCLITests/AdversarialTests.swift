import Foundation
import Testing

/// The hostile-input cases of `scripts/adversarial.sh`, each run against the built binary as its
/// own test: the case's line must say `safe`.
struct AdversarialTests {
  static let script: String = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    return root.appendingPathComponent("scripts/adversarial.sh").path
  }()

  /// The case names, as the script lists them.
  static let cases: [String] = {
    guard let listed = try? Binary.run(program: "/bin/bash", [script, "--list"]), listed.status == 0 else {
      return ["(the script could not list its cases)"]
    }
    return listed.stdout.split(separator: "\n").map(String.init)
  }()

  @Test(arguments: cases) func caseIsSafe(_ name: String) async throws {
    let script = Self.script
    let result = try await offPool {
      try Binary.run(program: "/bin/bash", [script, "--bin", Binary.path, "--case", name])
    }
    let line = result.stdout.split(separator: "\n").first {
      $0.contains(" \(name) ") || $0.hasSuffix(" \(name)")
    }
    #expect(line?.hasPrefix("safe ") == true, "\(result.stdout)\(result.stderr)")
    #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    #expect(result.stdout.contains("1 safe, 0 DEFECT"), "\(result.stdout)")
  }
}
