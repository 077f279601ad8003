import Foundation
import Testing

@testable import EODOps

@Suite struct IdempotencyKeyTests {
  @Test func acceptsVersion4AndNormalisesCase() throws {
    let key = try IdempotencyKey(parsing: "3F2504E0-4F89-41D3-9A0C-0305E82C3301")
    #expect(key.rawValue == "3f2504e0-4f89-41d3-9a0c-0305e82c3301")
    for variant in ["8", "9", "a", "b"] {
      _ = try IdempotencyKey(parsing: "3f2504e0-4f89-41d3-\(variant)a0c-0305e82c3301")
    }
    let generated = UUID().uuidString
    #expect(try IdempotencyKey(parsing: generated).rawValue == generated.lowercased())
  }

  @Test(arguments: [
    ("", IdempotencyKeyError.Code.malformed),
    ("3f2504e0-4f89-41d3-9a0c-0305e82c330", .malformed),
    ("{3f2504e0-4f89-41d3-9a0c-0305e82c3301}", .malformed),
    ("urn:uuid:3f2504e0-4f89-41d3-9a0c-0305e82c3301", .malformed),
    (" 3f2504e0-4f89-41d3-9a0c-0305e82c3301", .malformed),
    ("3f2504e04f8941d39a0c0305e82c3301", .malformed),
    ("3f2504e0-4f89-41d3-9a0c-0305e82c330g", .malformed),
    ("3f2504e0_4f89-41d3-9a0c-0305e82c3301", .malformed),
    ("3f2504e0-4f89-11d3-9a0c-0305e82c3301", .notVersion4),
    ("3f2504e0-4f89-71d3-9a0c-0305e82c3301", .notVersion4),
    ("3f2504e0-4f89-41d3-ca0c-0305e82c3301", .wrongVariant),
    ("3f2504e0-4f89-41d3-7a0c-0305e82c3301", .wrongVariant),
    ("00000000-0000-0000-0000-000000000000", .notVersion4),
  ])
  func refusesMalformed(input: String, code: IdempotencyKeyError.Code) {
    let error = #expect(throws: IdempotencyKeyError.self) { try IdempotencyKey(parsing: input) }
    #expect(error?.code == code)
    #expect(error?.description.contains("idempotency key") == true)
  }

  @Test func errorEscapesControlCharacters() {
    let error = #expect(throws: IdempotencyKeyError.self) {
      try IdempotencyKey(parsing: "bad\nkey\u{1b}[31m")
    }
    #expect(error?.input.contains("\n") == false)
    #expect(error?.input.contains("\u{1b}") == false)
  }

  @Test func fingerprintIsCanonicalAndUnambiguous() {
    let a = IdempotencyKey.requestFingerprint(["firms": "F1,F2", "date": "2025-01-02"])
    let b = IdempotencyKey.requestFingerprint(["date": "2025-01-02", "firms": "F1,F2"])
    #expect(a == b)
    #expect(a.count == 64)
    #expect(a.allSatisfy { $0.isHexDigit && !$0.isUppercase })
    #expect(
      IdempotencyKey.requestFingerprint(["a": "b=1:c"])
        != IdempotencyKey.requestFingerprint(["a": "b", "c": ""]))
    #expect(
      IdempotencyKey.requestFingerprint(firmIDs: ["F2", "F1", "F1"], businessDate: "2025-01-02")
        == IdempotencyKey.requestFingerprint(firmIDs: ["F1", "F2"], businessDate: "2025-01-02"))
    #expect(
      IdempotencyKey.requestFingerprint(firmIDs: ["F1"], businessDate: "2025-01-02")
        != IdempotencyKey.requestFingerprint(firmIDs: ["F1"], businessDate: "2025-01-03"))
  }

  @Test func fingerprintMatchesAnIndependentSHA256() throws {
    let fields = ["firms": "F1,F2", "date": "2025-01-02", "resend": "false"]
    let canonical = "4:date=10:2025-01-02\n5:firms=5:F1,F2\n6:resend=5:false\n"
    let result = try run(
      "/usr/bin/env",
      ["python3", "-c", "import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())"],
      stdin: Data(canonical.utf8))
    try #require(result.status == 0)
    #expect(
      IdempotencyKey.requestFingerprint(fields)
        == result.output.trimmingCharacters(in: .whitespacesAndNewlines))
  }

  @Test func decisionWithinAndAfterRetention() throws {
    let key = try IdempotencyKey(parsing: "3f2504e0-4f89-41d3-9a0c-0305e82c3301")
    let first = Date(timeIntervalSince1970: 1_700_000_000)
    let record = IdempotencyKey.Record(key: key, fingerprint: "aaa", firstUsedAt: first)
    #expect(IdempotencyKey.decide(stored: nil, fingerprint: "aaa", now: first) == .proceed)
    #expect(
      IdempotencyKey.decide(stored: record, fingerprint: "aaa", now: first.addingTimeInterval(71 * 3600))
        == .replay(record))
    #expect(
      IdempotencyKey.decide(stored: record, fingerprint: "bbb", now: first.addingTimeInterval(3600))
        == .conflict(record))
    #expect(
      IdempotencyKey.decide(stored: record, fingerprint: "bbb", now: first.addingTimeInterval(72 * 3600))
        == .proceed)
  }

  @Test func codableRoundTripValidates() throws {
    let key = try IdempotencyKey(parsing: "3f2504e0-4f89-41d3-9a0c-0305e82c3301")
    let data = try JSONEncoder().encode([key])
    #expect(try JSONDecoder().decode([IdempotencyKey].self, from: data) == [key])
    #expect(throws: DecodingError.self) {
      try JSONDecoder().decode([IdempotencyKey].self, from: Data("[\"nope\"]".utf8))
    }
  }
}
