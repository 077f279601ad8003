/// A calendar date (proleptic Gregorian), with no time zone: a business date, a price date.
public struct CivilDate: Sendable, Hashable, Comparable, CustomStringConvertible {
  /// Days since 1970-01-01.
  public let dayNumber: Int

  public init(dayNumber: Int) { self.dayNumber = dayNumber }

  /// A date from its parts, or nil if it does not exist (2026-02-29).
  public init?(year: Int, month: Int, day: Int) {
    guard (1...9999).contains(year), (1...12).contains(month),
      day >= 1 && day <= CivilDate.daysInMonth(year: year, month: month)
    else { return nil }
    // Howard Hinnant's days_from_civil.
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let mp = (month + 9) % 12
    let doy = (153 * mp + 2) / 5 + day - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    self.dayNumber = era * 146097 + doe - 719468
  }

  /// Parses `YYYY-MM-DD` exactly; nil for anything else or an impossible date.
  public init?(_ text: String) {
    var text = text
    guard let date = text.withUTF8({ CivilDate.parse($0) }) else { return nil }
    self = date
  }

  /// Parses `YYYY-MM-DD` from UTF-8 bytes.
  public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> CivilDate? {
    guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return nil }
    func number(_ range: Range<Int>) -> Int? {
      var value = 0
      for index in range {
        let byte = bytes[index]
        guard byte >= 48 && byte <= 57 else { return nil }
        value = value * 10 + Int(byte - 48)
      }
      return value
    }
    guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10) else { return nil }
    return CivilDate(year: year, month: month, day: day)
  }

  public static func isLeap(_ year: Int) -> Bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
  }

  public static func daysInMonth(year: Int, month: Int) -> Int {
    switch month {
    case 2: return isLeap(year) ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
  }

  /// (year, month, day).
  public var components: (year: Int, month: Int, day: Int) {
    let z = dayNumber + 719468
    let era = (z >= 0 ? z : z - 146096) / 146097
    let doe = z - era * 146097
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
    let y = yoe + era * 400
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    return (m <= 2 ? y + 1 : y, m, d)
  }

  public var year: Int { components.year }
  public var month: Int { components.month }
  /// 1…4.
  public var quarter: Int { (components.month - 1) / 3 + 1 }

  /// Monday = 1 … Sunday = 7.
  public var isoWeekday: Int {
    let w = (dayNumber + 3) % 7  // 1970-01-01 was a Thursday (isoWeekday 4)
    return (w < 0 ? w + 7 : w) + 1
  }

  public var isWeekend: Bool { isoWeekday >= 6 }

  public func adding(days: Int) -> CivilDate { CivilDate(dayNumber: dayNumber + days) }

  /// The date `count` weekdays (Monday to Friday) later, or earlier when `count` is negative:
  /// `addingWeekdays(1)` is the next weekday, `addingWeekdays(-1)` the previous one.
  public func addingWeekdays(_ count: Int) -> CivilDate {
    let step = count < 0 ? -1 : 1
    var date = self
    var left = count.magnitude
    while left > 0 {
      date = date.adding(days: step)
      if !date.isWeekend { left -= 1 }
    }
    return date
  }

  /// The same month and day a year earlier; 29 February becomes 28 February.
  public var oneYearEarlier: CivilDate {
    let (y, m, d) = components
    return CivilDate(year: y - 1, month: m, day: d) ?? CivilDate(year: y - 1, month: m, day: d - 1)
      ?? adding(days: -365)
  }

  /// Calendar days from `self` to `other` (positive when `other` is later).
  public func days(to other: CivilDate) -> Int { other.dayNumber - dayNumber }

  /// `YYYY-MM-DD`.
  public var description: String {
    // Ten ASCII bytes: a small string, built without interpolation.
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 10) { buffer in
      format(into: buffer)
      return String(decoding: UnsafeBufferPointer(buffer), as: UTF8.self)
    }
  }

  /// Appends `YYYY-MM-DD` to `out`, without making a String.
  public func write(into out: inout [UInt8]) {
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 10) { buffer in
      format(into: buffer)
      out.append(contentsOf: UnsafeBufferPointer(buffer))
    }
  }

  private func format(into buffer: UnsafeMutableBufferPointer<UInt8>) {
    let (y, m, d) = components
    buffer[0] = UInt8(48 + (y / 1000) % 10)
    buffer[1] = UInt8(48 + (y / 100) % 10)
    buffer[2] = UInt8(48 + (y / 10) % 10)
    buffer[3] = UInt8(48 + y % 10)
    buffer[4] = UInt8(ascii: "-")
    buffer[5] = UInt8(48 + m / 10)
    buffer[6] = UInt8(48 + m % 10)
    buffer[7] = UInt8(ascii: "-")
    buffer[8] = UInt8(48 + d / 10)
    buffer[9] = UInt8(48 + d % 10)
  }

  /// `YYYYMMDD`, as used in file names.
  public var compact: String { description.filter { $0 != "-" } }

  public static func < (lhs: CivilDate, rhs: CivilDate) -> Bool { lhs.dayNumber < rhs.dayNumber }
}
