// Exact fixed-point helpers for the generator (dates and half-even rounding are EODCore's).
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
