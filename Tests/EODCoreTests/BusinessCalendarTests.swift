import EODCore
import Foundation
import Testing

private func civil(_ text: String) throws -> CivilDate { try #require(CivilDate(text)) }

@Suite struct BusinessCalendarTests {
  /// The England and Wales file shipped in cron/, as an operator installs it.
  static var shippedFile: String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("cron/holidays-england-wales.txt").path
  }

  @Test func oneDateALineWithCommentsAndCRLF() throws {
    let text = "# bank holidays\r\n2026-12-25  # Christmas Day\r\n\r\n  2026-12-28\t\r\n2027-01-01"
    let calendar = try BusinessCalendar.parse(text, source: "h.txt")
    #expect(calendar.holidays == [try civil("2026-12-25"), try civil("2026-12-28"), try civil("2027-01-01")])
    #expect(calendar.coveredYears == 2026...2027)
    #expect(!calendar.isBusinessDay(try civil("2026-12-25")))
    #expect(!calendar.isBusinessDay(try civil("2026-12-26")))  // Saturday
    #expect(calendar.isBusinessDay(try civil("2026-12-29")))
    // Thursday 24 December, then Christmas, the weekend, the Boxing Day substitute.
    #expect(calendar.nextBusinessDay(after: try civil("2026-12-24")) == (try civil("2026-12-29")))
    #expect(calendar.previousBusinessDay(before: try civil("2026-12-29")) == (try civil("2026-12-24")))
    #expect(calendar.previousBusinessDay(before: try civil("2027-01-04")) == (try civil("2026-12-31")))
    #expect(calendar.covers(try civil("2027-06-01")))
    #expect(!calendar.covers(try civil("2028-01-04")))
  }

  @Test func aLineThatIsNotADateIsRefusedWithItsNumber() throws {
    for bad in [
      "2026-12-25\n25/12/2026\n", "2026-12-25\n2026-02-30\n", "2026-12-25\n2026-12-26 Boxing Day\n",
    ] {
      #expect(throws: BusinessCalendarError.self) { try BusinessCalendar.parse(bad, source: "h.txt") }
      do { _ = try BusinessCalendar.parse(bad, source: "h.txt") } catch { #expect(error.line == 2) }
    }
  }

  @Test func iCalendarAllDayEvents() throws {
    // As the UK government publishes it: folded lines, CRLF, DTEND exclusive.
    let text = [
      "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//example//EN",
      "BEGIN:VEVENT", "DTEND;VALUE=DATE:20270102", "SUMMARY:New Year’s Day", "DTSTART;VALUE=DATE:20270101",
      "UID:a@example", "END:VEVENT",
      "BEGIN:VEVENT", "DTSTART;VALUE=DATE:2027", " 0326", "SUMMARY:Good Friday", "END:VEVENT",
      "BEGIN:VEVENT", "DTSTART;VALUE=DATE:20271227", "DTEND;VALUE=DATE:20271229", "END:VEVENT",
      "END:VCALENDAR", "",
    ].joined(separator: "\r\n")
    let calendar = try BusinessCalendar.parse(text, source: "h.ics")
    #expect(
      calendar.holidays == [
        try civil("2027-01-01"), try civil("2027-03-26"), try civil("2027-12-27"), try civil("2027-12-28"),
      ])
  }

  @Test func iCalendarTimedEventsAreRefused() throws {
    let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20270101T090000Z\nEND:VEVENT\nEND:VCALENDAR\n"
    do {
      _ = try BusinessCalendar.parse(text, source: "h.ics")
      Issue.record("a timed event was accepted")
    } catch {
      #expect(error.line == 3)
      #expect(error.description.contains("all-day"))
    }
  }

  /// The shipped England and Wales file: every bank holiday of 2025-2028, substitutes included.
  @Test func shippedEnglandAndWalesHolidays() throws {
    let text = try String(contentsOfFile: Self.shippedFile, encoding: .utf8)
    let calendar = try BusinessCalendar.parse(text, source: Self.shippedFile)
    let expected = [
      "2025-01-01", "2025-04-18", "2025-04-21", "2025-05-05", "2025-05-26", "2025-08-25", "2025-12-25",
      "2025-12-26", "2026-01-01", "2026-04-03", "2026-04-06", "2026-05-04", "2026-05-25", "2026-08-31",
      "2026-12-25", "2026-12-28", "2027-01-01", "2027-03-26", "2027-03-29", "2027-05-03", "2027-05-31",
      "2027-08-30", "2027-12-27", "2027-12-28", "2028-01-03", "2028-04-14", "2028-04-17", "2028-05-01",
      "2028-05-29", "2028-08-28", "2028-12-25", "2028-12-26",
    ]
    #expect(calendar.holidays == Set(try expected.map(civil)))
    #expect(calendar.coveredYears == 2025...2028)
    // Every listed holiday is a weekday (substitute days applied).
    #expect(calendar.holidays.allSatisfy { !$0.isWeekend })
  }
}
