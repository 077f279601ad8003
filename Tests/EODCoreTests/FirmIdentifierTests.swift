import EODCore
import Testing

/// A firm id names folders and files: 1-64 of [A-Za-z0-9_-], anything else shown escaped.
@Suite struct FirmIdentifierTests {
  @Test(arguments: ["FIRM001", "a", "A-b_9", String(repeating: "x", count: 64)])
  func validIds(_ id: String) {
    #expect(FirmIdentifier.isValid(id))
    #expect(FirmIdentifier.displayed(id) == id)
  }

  @Test(arguments: [
    "", ".", "..", "./../../x/owned", "FIRM 1", "FIRM/1", String(repeating: "x", count: 65), "FIRM\n1",
    "FIRM\u{202E}1", "FIRM\u{FFFD}", "FÏRM", "FIRM\u{0}",
  ])
  func invalidIds(_ id: String) {
    #expect(!FirmIdentifier.isValid(id))
    let shown = FirmIdentifier.displayed(id)
    #expect(shown.hasPrefix("\"") && shown.hasSuffix("\""))
    #expect(shown.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7F || $0 == "…" })
    #expect(!FirmIdentifier.isValid(shown))
  }

  @Test func problemsSayWhy() {
    #expect(FirmIdentifier.problem("") == .empty)
    #expect(FirmIdentifier.problem(String(repeating: "x", count: 65)) == .tooLong(length: 65))
    #expect(FirmIdentifier.problem("ab/c") == .invalidCharacter(offset: 2))
    #expect(FirmIdentifier.displayed("A\nB\u{202E}\"\\") == #""A\nB\u{202E}\"\\""#)
  }
}
