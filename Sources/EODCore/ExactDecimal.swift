/// An exact decimal number: an integer significand and a count of fractional digits.
///
/// Quantities, prices, rates and amounts are carried as `ExactDecimal` from the snapshot text to
/// the extract text; no binary floating point touches them. Arithmetic that would overflow the
/// 128-bit significand returns `nil` instead of trapping or losing digits.
public struct ExactDecimal: Sendable, Hashable, CustomStringConvertible {
  /// The value is `significand / 10^scale`.
  public let significand: Int128
  /// The number of fractional digits (0…36).
  public let scale: Int

  /// The largest scale kept; beyond it digits are not representable.
  public static let maxScale = 36

  public static let zero = ExactDecimal(significand: 0, scale: 0)
  public static let one = ExactDecimal(significand: 1, scale: 0)

  public init(significand: Int128, scale: Int) {
    precondition(scale >= 0 && scale <= ExactDecimal.maxScale, "scale out of range")
    self.significand = significand
    self.scale = scale
  }

  /// An integer value.
  public init(_ integer: Int) {
    self.init(significand: Int128(integer), scale: 0)
  }

  static let powersOfTen: [Int128] = {
    var powers: [Int128] = [1]
    for _ in 1...38 { powers.append(powers[powers.count - 1] * 10) }
    return powers
  }()

  /// 10^exponent, for 0…38.
  static func pow10(_ exponent: Int) -> Int128 {
    powersOfTen[exponent]
  }

  /// Parses plain decimal notation: an optional `-`, one or more digits, and optionally `.`
  /// followed by one or more digits. No exponent, `+`, spaces or separators.
  /// Returns nil for anything else, or for more than 36 fractional or 38 total digits.
  public init?(_ text: String) {
    var text = text
    let parsed = text.withUTF8 { ExactDecimal.parse($0) }
    guard let parsed else { return nil }
    self = parsed
  }

  /// Parses plain decimal notation from UTF-8 bytes (see ``init(_:)-(String)``).
  public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> ExactDecimal? {
    var index = 0
    let count = bytes.count
    guard count > 0 else { return nil }
    var negative = false
    if bytes[0] == UInt8(ascii: "-") {
      negative = true
      index = 1
    }
    // Accumulate in 64 bits while it cannot overflow (18 digits), then in 128.
    var small: UInt64 = 0
    var significand: Int128 = 0
    var wide = false
    var digits = 0
    var integerDigits = 0
    var scale = 0
    var seenPoint = false
    while index < count {
      let byte = bytes[index]
      if byte == UInt8(ascii: ".") {
        if seenPoint || integerDigits == 0 { return nil }
        seenPoint = true
      } else if byte >= 48 && byte <= 57 {
        if digits >= 38 { return nil }
        if !wide && digits < 18 {
          small = small &* 10 &+ UInt64(byte - 48)
        } else {
          if !wide {
            significand = Int128(small)
            wide = true
          }
          significand = significand * 10 + Int128(byte - 48)
        }
        if small != 0 || significand != 0 || seenPoint { digits += 1 }
        if seenPoint { scale += 1 } else { integerDigits += 1 }
      } else {
        return nil
      }
      index += 1
    }
    if integerDigits == 0 || (seenPoint && scale == 0) || scale > maxScale { return nil }
    if !wide { significand = Int128(small) }
    return ExactDecimal(significand: negative ? -significand : significand, scale: scale)
  }

  /// Plain notation with exactly `scale` fractional digits, e.g. `-0.50`.
  public var description: String {
    withFormatted { String(decoding: $0, as: UTF8.self) }
  }

  /// Appends the plain notation (``description``'s bytes) to `out`, without making a String.
  public func write(into out: inout [UInt8]) {
    withFormatted { out.append(contentsOf: $0) }
  }

  /// Calls `body` with the plain notation's ASCII bytes, formatted on the stack.
  @inline(__always)
  private func withFormatted<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
    // At most 39 digits, a sign, a point and a leading zero: 48 bytes, on the stack.
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 48) { buffer in
      var end = 48
      var written = 0
      func put(_ byte: UInt8) {
        end -= 1
        buffer[end] = byte
      }
      let magnitude = significand.magnitude
      if magnitude <= UInt128(UInt64.max), scale <= 19 {
        // Two digits per 64-bit division: the fraction (exactly `scale` digits), the point,
        // then the whole part (at least one digit).
        func putPair(_ pair: UInt64) {
          put(UInt8(truncatingIfNeeded: pair % 10) + 48)
          put(UInt8(truncatingIfNeeded: pair / 10) + 48)
        }
        var whole = UInt64(magnitude)
        if scale > 0 {
          let divisor = ExactDecimal.pow10UInt64(scale)
          var fraction = whole % divisor
          whole /= divisor
          var left = scale
          while left >= 2 {
            putPair(fraction % 100)
            fraction /= 100
            left -= 2
          }
          if left == 1 { put(UInt8(truncatingIfNeeded: fraction) + 48) }
          put(UInt8(ascii: "."))
        }
        while whole >= 100 {
          putPair(whole % 100)
          whole /= 100
        }
        if whole >= 10 {
          putPair(whole)
        } else {
          put(UInt8(truncatingIfNeeded: whole) + 48)
        }
      } else if magnitude <= UInt128(UInt64.max) {
        var small = UInt64(magnitude)
        repeat {
          put(UInt8(small % 10) + 48)
          small /= 10
          written += 1
          if written == scale { put(UInt8(ascii: ".")) }
        } while small > 0 || written <= scale
      } else {
        var large = magnitude
        repeat {
          put(UInt8(large % 10) + 48)
          large /= 10
          written += 1
          if written == scale { put(UInt8(ascii: ".")) }
        } while large > 0 || written <= scale
      }
      if significand < 0 { put(UInt8(ascii: "-")) }
      return body(UnsafeBufferPointer(rebasing: buffer[end..<48]))
    }
  }

  /// 10^exponent for 0...19.
  @inline(__always)
  static func pow10UInt64(_ exponent: Int) -> UInt64 {
    var value: UInt64 = 1
    for _ in 0..<exponent { value &*= 10 }
    return value
  }

  public var isZero: Bool { significand == 0 }
  public var isNegative: Bool { significand < 0 }
  public var signum: Int { significand == 0 ? 0 : (significand < 0 ? -1 : 1) }

  /// The same value with `newScale` fractional digits, if no digit is lost and it fits.
  public func rescaled(to newScale: Int) -> ExactDecimal? {
    if newScale == scale { return self }
    if newScale > scale {
      guard newScale <= ExactDecimal.maxScale else { return nil }
      let (value, overflow) = significand.multipliedReportingOverflow(
        by: ExactDecimal.pow10(newScale - scale))
      return overflow ? nil : ExactDecimal(significand: value, scale: newScale)
    }
    let divisor = ExactDecimal.pow10(scale - newScale)
    guard significand % divisor == 0 else { return nil }
    return ExactDecimal(significand: significand / divisor, scale: newScale)
  }

  /// Rounds half-to-even to `places` fractional digits (never adds digits beyond what it has,
  /// but always reports exactly `places` digits).
  public func rounded(places: Int) -> ExactDecimal {
    if places >= scale {
      return rescaled(to: places) ?? self
    }
    let divisor = ExactDecimal.pow10(scale - places)
    return ExactDecimal(significand: ExactDecimal.divideHalfEven(significand, divisor), scale: places)
  }

  /// Integer division rounded half-to-even. `denominator` must not be zero.
  public static func divideHalfEven(_ numerator: Int128, _ denominator: Int128) -> Int128 {
    // 64-bit fast path: 128-bit division is a library call.
    if let n = Int64(exactly: numerator), let d = Int64(exactly: denominator), n != Int64.min, d != Int64.min
    {
      var quotient = n / d
      let remainder = n % d
      if remainder == 0 { return Int128(quotient) }
      let twice = remainder.magnitude * 2
      let magnitude = d.magnitude
      if twice > magnitude || (twice == magnitude && quotient % 2 != 0) {
        quotient += (n < 0) != (d < 0) ? -1 : 1
      }
      return Int128(quotient)
    }
    var quotient = numerator / denominator
    let remainder = numerator % denominator
    if remainder == 0 { return quotient }
    let twiceRemainder = remainder.magnitude * 2
    let magnitude = denominator.magnitude
    let negative = (numerator < 0) != (denominator < 0)
    if twiceRemainder > magnitude || (twiceRemainder == magnitude && quotient % 2 != 0) {
      quotient += negative ? -1 : 1
    }
    return quotient
  }

  /// Exact sum, or nil on overflow.
  public func adding(_ other: ExactDecimal) -> ExactDecimal? {
    let target = Swift.max(scale, other.scale)
    guard let a = rescaled(to: target), let b = other.rescaled(to: target) else { return nil }
    let (sum, overflow) = a.significand.addingReportingOverflow(b.significand)
    return overflow ? nil : ExactDecimal(significand: sum, scale: target)
  }

  /// Exact difference, or nil on overflow.
  public func subtracting(_ other: ExactDecimal) -> ExactDecimal? {
    adding(other.negated())
  }

  public func negated() -> ExactDecimal {
    ExactDecimal(significand: -significand, scale: scale)
  }

  /// Exact product, or nil on overflow. Trailing zeros are shed to keep the scale small.
  public func multiplying(_ other: ExactDecimal) -> ExactDecimal? {
    if scale + other.scale <= ExactDecimal.maxScale {
      let (product, overflow) = significand.multipliedReportingOverflow(by: other.significand)
      if !overflow { return ExactDecimal(significand: product, scale: scale + other.scale) }
    }
    let a = self.normalized()
    let b = other.normalized()
    let (product, overflow) = a.significand.multipliedReportingOverflow(by: b.significand)
    guard !overflow else { return nil }
    var scale = a.scale + b.scale
    var value = product
    while scale > ExactDecimal.maxScale {
      guard value % 10 == 0 else { return nil }
      value /= 10
      scale -= 1
    }
    return ExactDecimal(significand: value, scale: scale)
  }

  /// `self / divisor` rounded half-to-even to `places` fractional digits, computed exactly
  /// before that one rounding: in 128 bits, or where those overflow by
  /// ``roundedProduct(_:dividedBy:places:)``. Nil when the divisor is zero or the result does not
  /// fit.
  public func divided(by divisor: ExactDecimal, places: Int) -> ExactDecimal? {
    guard !divisor.isZero else { return nil }
    func wide() -> ExactDecimal? { ExactDecimal.roundedProduct([self], dividedBy: divisor, places: places) }
    let a = self.normalized()
    let b = divisor.normalized()
    // self/divisor * 10^places = a.sig * 10^(places + b.scale - a.scale) / b.sig
    let exponent = places + b.scale - a.scale
    var numerator = a.significand
    var denominator = b.significand
    if exponent >= 0 {
      guard exponent <= 38 else { return wide() }
      let (value, overflow) = numerator.multipliedReportingOverflow(by: ExactDecimal.pow10(exponent))
      guard !overflow else { return wide() }
      numerator = value
    } else {
      guard -exponent <= 38 else { return wide() }
      let (value, overflow) = denominator.multipliedReportingOverflow(by: ExactDecimal.pow10(-exponent))
      guard !overflow else { return wide() }
      denominator = value
    }
    return ExactDecimal(significand: ExactDecimal.divideHalfEven(numerator, denominator), scale: places)
  }

  /// The same value with trailing fractional zeros removed.
  public func normalized() -> ExactDecimal {
    if scale == 0 { return self }
    if let small = Int64(exactly: significand) {
      var value = small
      var scale = self.scale
      while scale > 0 && value % 10 == 0 {
        value /= 10
        scale -= 1
      }
      return ExactDecimal(significand: Int128(value), scale: scale)
    }
    var value = significand
    var scale = self.scale
    while scale > 0 && value % 10 == 0 {
      value /= 10
      scale -= 1
    }
    return ExactDecimal(significand: value, scale: scale)
  }

  /// The nearest Double, for ratios only (returns, weights); never for money.
  public var doubleValue: Double {
    // The generic Int128 conversion is slow; almost every value fits in 64 bits.
    let value = Int64(exactly: significand).map { Double($0) } ?? Double(significand)
    return value / pow10Double(scale)
  }

  private func pow10Double(_ exponent: Int) -> Double {
    var result = 1.0
    for _ in 0..<exponent { result *= 10 }
    return result
  }
}

extension ExactDecimal: Comparable {
  public static func < (lhs: ExactDecimal, rhs: ExactDecimal) -> Bool {
    let target = Swift.max(lhs.scale, rhs.scale)
    if let a = lhs.rescaled(to: target), let b = rhs.rescaled(to: target) {
      return a.significand < b.significand
    }
    return lhs.doubleValue < rhs.doubleValue
  }

  /// Numeric equality: `1.50 == 1.5`.
  public static func == (lhs: ExactDecimal, rhs: ExactDecimal) -> Bool {
    let a = lhs.normalized()
    let b = rhs.normalized()
    return a.significand == b.significand && a.scale == b.scale
  }

  public func hash(into hasher: inout Hasher) {
    let n = normalized()
    hasher.combine(n.significand)
    hasher.combine(n.scale)
  }
}

/// An amount rounded to 2 decimal places, as every amount in an extract is.
public typealias Money = ExactDecimal

extension ExactDecimal {
  /// Sum of values, or nil on overflow. The empty sum is `0.00` at `places`.
  public static func sum<S: Sequence>(_ values: S, places: Int = 2) -> ExactDecimal?
  where S.Element == ExactDecimal {
    var total = ExactDecimal(significand: 0, scale: places)
    for value in values {
      guard let next = total.adding(value) else { return nil }
      total = next
    }
    return total
  }
}
