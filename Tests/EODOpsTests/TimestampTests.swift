import EODOps
import Foundation
import Testing

/// Every time the job writes: RFC 3339 in UTC, written without a formatter; to the second, the
/// same text the Foundation formatter writes.
@Suite struct TimestampTests {
  @Test(arguments: [
    0, 1, 59.999, 86_399.5, 86_400, 1_790_000_000.25, 1_798_761_599, 1_798_761_600, 951_782_400,
    -1, -0.5, -86_400, -86_401, 253_402_300_799,
  ])
  func writtenAsTheFoundationFormatterWritesIt(_ seconds: Double) {
    let date = Date(timeIntervalSince1970: seconds)
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    formatter.timeZone = TimeZone(identifier: "UTC")
    #expect(Timestamp.rfc3339(date) == formatter.string(from: date))
  }

  @Test func aKnownInstant() {
    #expect(Timestamp.rfc3339(Date(timeIntervalSince1970: 1_790_000_000)) == "2026-09-21T14:13:20Z")
  }
}
