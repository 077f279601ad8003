// Exact fixed-point helpers and civil dates for the generator.
//
// Money is held as scaled integers: amounts in hundredths (scale 2), prices in ten-thousandths
// (scale 4), FX rates in millionths (scale 6), quantities in thousandths (scale 3). Products are
// formed in Int128 and rounded once, half to even.

/// Scale constants (powers of ten) used by the simulation.
enum Scale {
  static let amount: Int64 = 100
  static let price: Int64 = 10_000
  static let rate: Int64 = 1_000_000
  static let quantity: Int64 = 1_000
}

/// `numerator / denominator` rounded half to even; `denominator` must be positive.
@inline(__always)
func divideHalfEven(_ numerator: Int128, _ denominator: Int128) -> Int128 {
  let negative = numerator < 0
  let magnitude = negative ? -numerator : numerator
  var quotient = magnitude / denominator
  let twiceRemainder = (magnitude % denominator) * 2
  if twiceRemainder > denominator || (twiceRemainder == denominator && quotient % 2 == 1) {
    quotient += 1
  }
  return negative ? -quotient : quotient
}

/// An exact positive rational, used for FX conversion factors (an inverse rate is `10^6 / rate`).
struct Ratio {
  var numerator: Int128
  var denominator: Int128
  static let one = Ratio(numerator: 1, denominator: 1)
}

/// Writes a scaled integer as plain decimal text: optional `-`, digits, and, when `scale > 0`,
/// a `.` and between `minimumFraction` and `scale` fraction digits (trailing zeros trimmed down to
/// `minimumFraction`). Zero is never written with a sign.
func formatDecimal(_ value: Int64, scale: Int, minimumFraction: Int) -> String {
  var magnitude = value.magnitude
  var kept = scale
  while kept > minimumFraction && magnitude % 10 == 0 {
    magnitude /= 10
    kept -= 1
  }
  let capacity = 40
  return String(unsafeUninitializedCapacity: capacity) { buffer in
    var position = capacity
    var rest = magnitude
    for _ in 0..<kept {
      position -= 1
      buffer[position] = UInt8(48 + rest % 10)
      rest /= 10
    }
    if kept > 0 {
      position -= 1
      buffer[position] = UInt8(ascii: ".")
    }
    repeat {
      position -= 1
      buffer[position] = UInt8(48 + rest % 10)
      rest /= 10
    } while rest > 0
    if value < 0 {
      position -= 1
      buffer[position] = UInt8(ascii: "-")
    }
    let count = capacity - position
    for index in 0..<count { buffer[index] = buffer[position + index] }
    return count
  }
}

/// A money amount in hundredths, always with two decimals: `1234.56`, `-0.50`, `0.00`.
@inline(__always)
func formatAmount(_ cents: Int64) -> String { formatDecimal(cents, scale: 2, minimumFraction: 2) }

/// A price in ten-thousandths, with two to four decimals: `12.30`, `38.2877`.
@inline(__always)
func formatPrice(_ value: Int64) -> String { formatDecimal(value, scale: 4, minimumFraction: 2) }

/// An FX rate in millionths, with four to six decimals: `1.2650`, `1.171834`.
@inline(__always)
func formatRate(_ value: Int64) -> String { formatDecimal(value, scale: 6, minimumFraction: 4) }

/// A quantity in thousandths, with no more decimals than needed: `100`, `-0.5`, `12.125`.
@inline(__always)
func formatQuantity(_ value: Int64) -> String { formatDecimal(value, scale: 3, minimumFraction: 0) }

/// A proleptic Gregorian calendar date held as days since 1970-01-01.
struct CivilDate: Comparable, Hashable {
  var dayNumber: Int

  static func < (lhs: CivilDate, rhs: CivilDate) -> Bool { lhs.dayNumber < rhs.dayNumber }

  init(dayNumber: Int) { self.dayNumber = dayNumber }

  /// From a year, month (1–12) and day (1–31), without validation (Hinnant's algorithm).
  init(year: Int, month: Int, day: Int) {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let mp = (month + 9) % 12
    let doy = (153 * mp + 2) / 5 + day - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    dayNumber = era * 146_097 + doe - 719_468
  }

  /// Parses `YYYY-MM-DD` strictly; nil for anything else or for a date that does not exist.
  init?(iso text: String) {
    let bytes = Array(text.utf8)
    guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else {
      return nil
    }
    func number(_ range: Range<Int>) -> Int? {
      var value = 0
      for index in range {
        let byte = bytes[index]
        guard byte >= 48 && byte <= 57 else { return nil }
        value = value * 10 + Int(byte - 48)
      }
      return value
    }
    guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
      (1...12).contains(month), day >= 1
    else { return nil }
    let date = CivilDate(year: year, month: month, day: day)
    guard date.components == (year, month, day) else { return nil }
    self = date
  }

  /// The year, month and day.
  var components: (year: Int, month: Int, day: Int) {
    let z = dayNumber + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let day = doy - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
  }

  /// 0 = Monday … 6 = Sunday.
  var weekday: Int {
    // 1970-01-01 was a Thursday (3).
    ((dayNumber % 7) + 7 + 3) % 7
  }

  var isBusinessDay: Bool { weekday < 5 }

  func adding(days: Int) -> CivilDate { CivilDate(dayNumber: dayNumber + days) }

  /// The date `count` business days (Mon–Fri) later.
  func addingBusinessDays(_ count: Int) -> CivilDate {
    var date = self
    var left = count
    while left > 0 {
      date = date.adding(days: 1)
      if date.isBusinessDay { left -= 1 }
    }
    return date
  }

  /// `YYYY-MM-DD`.
  var iso: String {
    let (year, month, day) = components
    func pad(_ value: Int, _ width: Int) -> String {
      let text = String(value)
      return String(repeating: "0", count: max(0, width - text.count)) + text
    }
    return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
  }
}
