/// An exact sum of amounts at 2 decimal places, at any size a run can reach: a signed 256-bit
/// count of hundredths. Rows are at most 38 digits (``ExactDecimal``), so 2^127 of them cannot
/// overflow it; a control total is never a wrong number, however many rows it adds.
///
/// ``money`` gives the sum back as an ``ExactDecimal`` when it fits in 38 digits (what an extract
/// row can show); ``description`` is the exact plain notation whatever its size (what a manifest
/// shows).
public struct MoneySum: Sendable, Equatable, CustomStringConvertible {
  /// The value is `(high * 2^128 + low) / 100`, two's complement.
  private var high: Int128 = 0
  private var low: UInt128 = 0

  public static let zero = MoneySum()

  public init() {}

  /// The sum of one amount (rounded half-even to 2 places first, as every extract amount is).
  public init(_ amount: ExactDecimal) {
    add(amount)
  }

  public var isZero: Bool { high == 0 && low == 0 }
  public var isNegative: Bool { high < 0 }

  /// Adds `amount`, rounded half-even to 2 places if it has more (extract amounts never do).
  public mutating func add(_ amount: ExactDecimal) {
    let value = amount.scale > 2 ? amount.rounded(places: 2) : amount
    if value.scale == 2 {
      add(high: value.significand < 0 ? -1 : 0, low: UInt128(truncatingIfNeeded: value.significand))
    } else {
      // Fewer places: scale up in 256 bits (a 38-digit integer times 100 does not fit in 128).
      let wide = value.significand.multipliedFullWidth(by: ExactDecimal.pow10(2 - value.scale))
      add(high: wide.high, low: wide.low)
    }
  }

  /// Adds another sum.
  public mutating func add(_ other: MoneySum) {
    add(high: other.high, low: other.low)
  }

  /// `self + other`.
  public func adding(_ other: MoneySum) -> MoneySum {
    var sum = self
    sum.add(other)
    return sum
  }

  private mutating func add(high otherHigh: Int128, low otherLow: UInt128) {
    let (sum, carry) = low.addingReportingOverflow(otherLow)
    low = sum
    high = high &+ otherHigh &+ (carry ? 1 : 0)
  }

  /// The largest significand an extract shows: 38 digits.
  static let maxSignificand: Int128 = ExactDecimal.pow10(38) - 1

  /// The sum as an amount with 2 places, or nil when it does not fit in 38 digits (an extract
  /// row then shows the field empty and data_quality has `VALUE_OUT_OF_RANGE`).
  public var money: Money? {
    let value = Int128(truncatingIfNeeded: low)
    guard high == (value < 0 ? -1 : 0), value.magnitude <= MoneySum.maxSignificand.magnitude else {
      return nil
    }
    return Money(significand: value, scale: 2)
  }

  /// Exact plain notation with 2 places (`-12.30`, `200000000000000000000000000000000000000.00`).
  public var description: String {
    // Magnitude, as two unsigned halves.
    var hi = UInt128(truncatingIfNeeded: high)
    var lo = low
    let negative = high < 0
    if negative {
      hi = ~hi
      lo = ~lo
      let (sum, carry) = lo.addingReportingOverflow(1)
      lo = sum
      if carry { hi &+= 1 }
    }
    // Chunks of 19 digits, least significant first.
    let chunk: UInt128 = 10_000_000_000_000_000_000
    var chunks: [UInt128] = []
    repeat {
      let (quotientHigh, remainderHigh) = hi.quotientAndRemainder(dividingBy: chunk)
      let (quotientLow, remainder) = chunk.dividingFullWidth((high: remainderHigh, low: lo))
      chunks.append(remainder)
      hi = quotientHigh
      lo = quotientLow
    } while hi != 0 || lo != 0
    var digits = String(chunks[chunks.count - 1])
    for part in chunks.dropLast().reversed() {
      let text = String(part)
      digits += String(repeating: "0", count: 19 - text.count) + text
    }
    if digits.count < 3 { digits = String(repeating: "0", count: 3 - digits.count) + digits }
    let point = digits.index(digits.endIndex, offsetBy: -2)
    return (negative ? "-" : "") + digits[..<point] + "." + digits[point...]
  }
}
