import EODCore
import Foundation
import Testing

/// Digests are written as lower-case hex everywhere (manifests, records, messages).
@Suite struct HexTests {
  @Test func everyByteIsTwoLowerCaseDigits() {
    let all = (0...255).map { UInt8($0) }
    let text = Hex.lowercase(all)
    #expect(text == all.map { String(format: "%02x", $0) }.joined())
    #expect(text.utf8.count == 512)
    #expect(Hex.lowercase([UInt8]()) == "")
    #expect(Hex.lowercase([0x00, 0x0F, 0xA0, 0xFF]) == "000fa0ff")
  }
}
