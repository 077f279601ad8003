/// Business days: Monday to Friday, less the holidays of an installation's calendar file.
///
/// The calendar knows which years its holidays file covers (from the first to the last year it
/// lists a holiday in); outside them only weekends are non-business days, and
/// ``covers(_:)`` says so, so that a caller can warn about a year missing from the file.
public struct BusinessCalendar: Sendable, Hashable {
  /// The holidays (a holiday on a weekend changes nothing).
  public let holidays: Set<CivilDate>
  /// The years the holidays file covers, nil when it lists none (weekends only).
  public let coveredYears: ClosedRange<Int>?

  /// Weekends only: no holidays.
  public static let weekendsOnly = BusinessCalendar(holidays: [])

  public init(holidays: Set<CivilDate>, coveredYears: ClosedRange<Int>? = nil) {
    self.holidays = holidays
    if let coveredYears {
      self.coveredYears = coveredYears
    } else if let first = holidays.min(), let last = holidays.max() {
      self.coveredYears = first.year...last.year
    } else {
      self.coveredYears = nil
    }
  }

  /// Monday to Friday and not a holiday.
  public func isBusinessDay(_ date: CivilDate) -> Bool { !date.isWeekend && !holidays.contains(date) }

  /// Why `date` is not a business day ("a Saturday", "a holiday"), nil when it is one.
  public func reasonNotBusinessDay(_ date: CivilDate) -> String? {
    if date.isWeekend { return date.isoWeekday == 6 ? "a Saturday" : "a Sunday" }
    if holidays.contains(date) { return "a holiday in the calendar" }
    return nil
  }

  /// Whether the holidays file covers `date`'s year (false for a calendar without holidays).
  public func covers(_ date: CivilDate) -> Bool { coveredYears?.contains(date.year) ?? false }

  /// The last business day before `date`.
  public func previousBusinessDay(before date: CivilDate) -> CivilDate { addingBusinessDays(-1, to: date) }

  /// The first business day after `date`.
  public func nextBusinessDay(after date: CivilDate) -> CivilDate { addingBusinessDays(1, to: date) }

  /// The date `count` business days later, or earlier when `count` is negative (zero: `date`).
  public func addingBusinessDays(_ count: Int, to date: CivilDate) -> CivilDate {
    let step = count < 0 ? -1 : 1
    var day = date
    var left = count.magnitude
    while left > 0 {
      day = day.adding(days: step)
      if isBusinessDay(day) { left -= 1 }
    }
    return day
  }

  /// The business days from `first` to `last`, both included.
  public func businessDays(from first: CivilDate, through last: CivilDate) -> [CivilDate] {
    guard first <= last else { return [] }
    return (first.dayNumber...last.dayNumber).map(CivilDate.init(dayNumber:)).filter(isBusinessDay)
  }

  // MARK: Reading a holidays file

  /// Parses a holidays file's text: either one date `YYYY-MM-DD` a line (blank lines and `#`
  /// comments allowed, also after the date), or an iCalendar file (RFC 5545) of all-day events
  /// (`DTSTART;VALUE=DATE:YYYYMMDD`, with an optional `DTEND;VALUE=DATE`, exclusive). A text
  /// starting with `BEGIN:VCALENDAR` is read as iCalendar.
  ///
  /// - Parameters:
  ///   - text: The file's contents.
  ///   - source: The file's name, for errors.
  public static func parse(_ text: String, source: String) throws(BusinessCalendarError) -> BusinessCalendar {
    let trimmed = text.drop(while: { $0 == "\u{FEFF}" || $0.isWhitespace })
    if trimmed.hasPrefix("BEGIN:VCALENDAR") { return try parseICalendar(text, source: source) }
    var holidays: Set<CivilDate> = []
    var number = 0
    for rawLine in text.calendarLines {
      number += 1
      var line = rawLine
      if number == 1 { line = line.drop(while: { $0 == "\u{FEFF}" }) }
      if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
      let content = line.trimmingASCIIWhitespace()
      if content.isEmpty { continue }
      guard let date = CivilDate(String(content)) else {
        throw BusinessCalendarError(
          source: source, line: number,
          detail: "'\(content.prefix(40))' is not a date YYYY-MM-DD (one holiday a line, # for comments)")
      }
      holidays.insert(date)
    }
    return BusinessCalendar(holidays: holidays)
  }

  static func parseICalendar(_ text: String, source: String) throws(BusinessCalendarError) -> BusinessCalendar
  {
    // Unfold: a line starting with a space or a tab continues the one before.
    var lines: [(number: Int, text: String)] = []
    var number = 0
    for rawLine in text.calendarLines {
      number += 1
      let line = rawLine
      if let first = line.first, first == " " || first == "\t", !lines.isEmpty {
        lines[lines.count - 1].text += line.dropFirst()
      } else {
        lines.append((number, String(line)))
      }
    }
    var holidays: Set<CivilDate> = []
    var inEvent = false
    var start: (CivilDate, Int)?
    var end: CivilDate?
    func date(_ line: (number: Int, text: String), _ name: String) throws(BusinessCalendarError) -> CivilDate
    {
      guard let colon = line.text.firstIndex(of: ":") else {
        throw BusinessCalendarError(source: source, line: line.number, detail: "\(name) has no value")
      }
      let parameters = line.text[..<colon].split(separator: ";").dropFirst().map { $0.uppercased() }
      let value = line.text[line.text.index(after: colon)...].trimmingASCIIWhitespace()
      let bytes = Array(value.utf8)
      guard parameters.contains("VALUE=DATE"), bytes.count == 8, bytes.allSatisfy({ $0 >= 48 && $0 <= 57 })
      else {
        throw BusinessCalendarError(
          source: source, line: line.number,
          detail:
            "\(name) '\(value.prefix(40))' is not an all-day date (\(name);VALUE=DATE:YYYYMMDD); a holiday is a whole day"
        )
      }
      func digits(_ range: Range<Int>) -> Int { bytes[range].reduce(0) { $0 * 10 + Int($1 - 48) } }
      guard let parsed = CivilDate(year: digits(0..<4), month: digits(4..<6), day: digits(6..<8)) else {
        throw BusinessCalendarError(
          source: source, line: line.number, detail: "\(name) '\(value)' is not a real date")
      }
      return parsed
    }
    for line in lines {
      let name = line.text.prefix(while: { $0 != ":" && $0 != ";" }).uppercased()
      switch name {
      case "BEGIN" where line.text.uppercased() == "BEGIN:VEVENT":
        inEvent = true
        start = nil
        end = nil
      case "END" where line.text.uppercased() == "END:VEVENT":
        guard let (first, beganAt) = start else {
          throw BusinessCalendarError(source: source, line: line.number, detail: "a VEVENT without DTSTART")
        }
        let last = end.map { $0.adding(days: -1) } ?? first
        guard last >= first, first.days(to: last) < 366 else {
          throw BusinessCalendarError(
            source: source, line: beganAt, detail: "DTEND must be after DTSTART and within a year of it")
        }
        for day in first.dayNumber...last.dayNumber { holidays.insert(CivilDate(dayNumber: day)) }
        inEvent = false
      case "DTSTART" where inEvent: start = (try date(line, "DTSTART"), line.number)
      case "DTEND" where inEvent: end = try date(line, "DTEND")
      default: continue
      }
    }
    if inEvent {
      throw BusinessCalendarError(source: source, line: number, detail: "the last VEVENT has no END:VEVENT")
    }
    return BusinessCalendar(holidays: holidays)
  }
}

/// A holidays file that cannot be read as one: where and why.
public struct BusinessCalendarError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The file.
  public var source: String
  /// The 1-based line.
  public var line: Int
  public var detail: String

  public init(source: String, line: Int, detail: String) {
    self.source = source
    self.line = line
    self.detail = detail
  }

  public var description: String { "holidays file \(source), line \(line): \(detail)" }
}

extension Substring {
  fileprivate func trimmingASCIIWhitespace() -> Substring {
    let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
    guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) })
    else {
      return ""
    }
    return self[first...last]
  }
}

extension String {
  /// Lines split at LF, CRLF (one Character in Swift) or CR, empty ones kept.
  fileprivate var calendarLines: [Substring] {
    split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
  }
}
