import EODCore
import EODOps
import Foundation
import Testing

/// `calendar:` in the configuration: read, checked, and loaded.
@Suite struct CalendarConfigurationTests {
  static func yaml(_ calendar: String) -> String {
    """
    version: 1
    snapshot: /data/ledger-{date}.sqlite
    state_store: /var/lib/eod/state.sqlite
    output_dir: /var/lib/eod/out
    \(calendar)
    firms:
      - firm_id: F1
        destination:
          local_dir: /srv/x

    """
  }

  @Test func readWithDefaults() throws {
    let none = try JobConfiguration.parse(yaml: Self.yaml(""))
    #expect(none.calendar == nil)
    let zoneOnly = try JobConfiguration.parse(yaml: Self.yaml("calendar: {time_zone: Europe/London}"))
    #expect(zoneOnly.calendar == CalendarConfiguration(holidaysFile: nil, timeZone: "Europe/London"))
    #expect(try zoneOnly.calendar?.load() == .weekendsOnly)
    let relative = try JobConfiguration.parse(
      yaml: Self.yaml("calendar:\n  holidays: holidays.txt"), baseDirectory: "/etc/eod")
    #expect(
      relative.calendar == CalendarConfiguration(holidaysFile: "/etc/eod/holidays.txt", timeZone: "UTC"))
  }

  @Test func anUnknownZoneOrKeyIsAProblemWithItsPath() throws {
    for (text, path, words) in [
      ("calendar: {time_zone: Europe/Londres}", "calendar.time_zone", "unknown time zone 'Europe/Londres'"),
      ("calendar: {holiday: /etc/h.txt}", "calendar.holiday", "did you mean 'holidays'"),
    ] {
      do {
        _ = try JobConfiguration.parse(yaml: Self.yaml(text))
        Issue.record("accepted: \(text)")
      } catch {
        #expect(error.problems.contains { $0.path == path && $0.message.contains(words) }, "\(error)")
      }
    }
  }

  /// "Today" in the configured zone: 23:30 UTC on 6 April 2027 is 7 April in London.
  @Test func civilDateInTheZone() throws {
    let instant = try #require(ISO8601DateFormatter().date(from: "2027-04-06T23:30:00Z"))
    #expect(
      CalendarConfiguration(timeZone: "Europe/London").civilDate(at: instant) == CivilDate("2027-04-07"))
    #expect(CalendarConfiguration(timeZone: "UTC").civilDate(at: instant) == CivilDate("2027-04-06"))
  }
}
