import Foundation
import Testing

/// Every `@unchecked Sendable` in Sources states its reason on the line above its declaration (or
/// on the line itself), and docs/threading.md lists exactly those types: the compiler does not
/// check them, so each must say what makes sharing it safe.
@Suite struct UncheckedSendableTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  /// (type, file, reason line) of every declaration marked `@unchecked Sendable`.
  static func declarations() throws -> [(type: String, file: String, reason: String?)] {
    var out: [(type: String, file: String, reason: String?)] = []
    let sources = root.appendingPathComponent("Sources")
    let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)
    while let url = files?.nextObject() as? URL {
      guard url.pathExtension == "swift" else { continue }
      let lines = try String(contentsOf: url, encoding: .utf8).components(separatedBy: "\n")
      for (index, line) in lines.enumerated() {
        let code = line.components(separatedBy: "//")[0]
        guard code.contains("@unchecked Sendable") else { continue }
        let words = code.split(whereSeparator: { " :<,{".contains($0) })
        guard
          let keyword = words.firstIndex(where: { ["class", "struct", "enum", "extension"].contains($0) }),
          keyword + 1 < words.count
        else {
          Issue.record(
            "\(url.lastPathComponent):\(index + 1): @unchecked Sendable outside a declaration line")
          continue
        }
        let sameLine = line.dropFirst(code.count)
        let above = index > 0 ? lines[index - 1] : ""
        let reason =
          above.contains("`@unchecked Sendable`:") ? above : sameLine.contains("//") ? String(sameLine) : nil
        out.append((String(words[keyword + 1]), url.lastPathComponent, reason))
      }
    }
    return out.sorted { $0.type < $1.type }
  }

  @Test("Every @unchecked Sendable has its reason on the line above, and docs/threading.md lists each")
  func everyOneIsExplainedAndListed() throws {
    let found = try Self.declarations()
    for declaration in found where declaration.reason == nil {
      let message =
        "\(declaration.type) (\(declaration.file)) is @unchecked Sendable without a reason on the line above"
      Issue.record("\(message) (/// `@unchecked Sendable`: why sharing it is safe)")
    }
    let page = try String(contentsOf: Self.root.appendingPathComponent("docs/threading.md"), encoding: .utf8)
    let section = try #require(page.components(separatedBy: "## Sendable and").last)
    let listed = section.components(separatedBy: "\n").filter { $0.hasPrefix("| `") }.compactMap {
      $0.split(separator: "`").dropFirst().first.map(String.init)
    }
    #expect(
      Set(listed) == Set(found.map(\.type)),
      "docs/threading.md lists \(listed.sorted()), the sources have \(found.map(\.type))")
    #expect(listed.count == found.count, "each type listed once")
  }
}
