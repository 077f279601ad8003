/// An unsigned integer of any size, for the few exact results whose intermediate does not fit in
/// 128 bits (a product of several long decimals before its one rounding). Simple and slow:
/// 32-bit limbs, schoolbook multiplication, bit-by-bit division; used only when the 128-bit
/// arithmetic overflows.
struct WideUInt: Equatable {
  /// Least significant first, no zero limbs at the top (zero is empty).
  private(set) var limbs: [UInt32]

  init(_ value: UInt128) {
    limbs = []
    var rest = value
    while rest != 0 {
      limbs.append(UInt32(truncatingIfNeeded: rest))
      rest >>= 32
    }
  }

  private init(limbs: [UInt32]) {
    self.limbs = limbs
    trim()
  }

  private mutating func trim() {
    while let last = limbs.last, last == 0 { limbs.removeLast() }
  }

  var isZero: Bool { limbs.isEmpty }
  var isOdd: Bool { (limbs.first ?? 0) & 1 == 1 }
  private var bitWidth: Int { limbs.last.map { limbs.count * 32 - $0.leadingZeroBitCount } ?? 0 }

  /// The value, if it fits in 128 bits.
  var uint128: UInt128? {
    guard limbs.count <= 4 else { return nil }
    var value: UInt128 = 0
    for limb in limbs.reversed() { value = value << 32 | UInt128(limb) }
    return value
  }

  static func * (a: WideUInt, b: WideUInt) -> WideUInt {
    guard !a.isZero, !b.isZero else { return WideUInt(0) }
    var out = [UInt32](repeating: 0, count: a.limbs.count + b.limbs.count)
    for i in 0..<a.limbs.count {
      var carry: UInt64 = 0
      for j in 0..<b.limbs.count {
        let sum = UInt64(a.limbs[i]) * UInt64(b.limbs[j]) + UInt64(out[i + j]) + carry
        out[i + j] = UInt32(truncatingIfNeeded: sum)
        carry = sum >> 32
      }
      out[i + b.limbs.count] = UInt32(truncatingIfNeeded: carry)
    }
    return WideUInt(limbs: out)
  }

  /// 10 to the power `exponent`.
  static func powerOfTen(_ exponent: Int) -> WideUInt {
    var value = WideUInt(1)
    var left = exponent
    while left > 0 {
      let step = min(left, 19)
      var power: UInt128 = 1
      for _ in 0..<step { power *= 10 }
      value = value * WideUInt(power)
      left -= step
    }
    return value
  }

  static func compare(_ a: WideUInt, _ b: WideUInt) -> Int {
    if a.limbs.count != b.limbs.count { return a.limbs.count < b.limbs.count ? -1 : 1 }
    for index in stride(from: a.limbs.count - 1, through: 0, by: -1) where a.limbs[index] != b.limbs[index] {
      return a.limbs[index] < b.limbs[index] ? -1 : 1
    }
    return 0
  }

  /// `a - b`, for `a >= b`.
  static func - (a: WideUInt, b: WideUInt) -> WideUInt {
    var out = a.limbs
    var borrow: Int64 = 0
    for index in 0..<out.count {
      var difference = Int64(out[index]) - borrow - (index < b.limbs.count ? Int64(b.limbs[index]) : 0)
      borrow = 0
      if difference < 0 {
        difference += 1 << 32
        borrow = 1
      }
      out[index] = UInt32(truncatingIfNeeded: difference)
    }
    precondition(borrow == 0, "WideUInt subtraction below zero")
    return WideUInt(limbs: out)
  }

  static func + (a: WideUInt, b: WideUInt) -> WideUInt {
    var out = [UInt32](repeating: 0, count: max(a.limbs.count, b.limbs.count) + 1)
    var carry: UInt64 = 0
    for index in 0..<out.count {
      let sum =
        (index < a.limbs.count ? UInt64(a.limbs[index]) : 0)
        + (index < b.limbs.count ? UInt64(b.limbs[index]) : 0)
        + carry
      out[index] = UInt32(truncatingIfNeeded: sum)
      carry = sum >> 32
    }
    return WideUInt(limbs: out)
  }

  private func bit(_ index: Int) -> Bool { limbs[index / 32] >> UInt32(index % 32) & 1 == 1 }

  /// `self << 1 | low`.
  private func doubled(plus low: Bool) -> WideUInt {
    var out = [UInt32](repeating: 0, count: limbs.count + 1)
    var carry: UInt32 = low ? 1 : 0
    for index in 0..<limbs.count {
      out[index] = limbs[index] << 1 | carry
      carry = limbs[index] >> 31
    }
    out[limbs.count] = carry
    return WideUInt(limbs: out)
  }

  /// Quotient and remainder of `self / divisor` (divisor not zero).
  func quotientAndRemainder(dividingBy divisor: WideUInt) -> (quotient: WideUInt, remainder: WideUInt) {
    precondition(!divisor.isZero, "WideUInt division by zero")
    var quotient = [UInt32](repeating: 0, count: limbs.count)
    var remainder = WideUInt(0)
    for index in stride(from: bitWidth - 1, through: 0, by: -1) {
      remainder = remainder.doubled(plus: bit(index))
      if WideUInt.compare(remainder, divisor) >= 0 {
        remainder = remainder - divisor
        quotient[index / 32] |= 1 << UInt32(index % 32)
      }
    }
    return (WideUInt(limbs: quotient), remainder)
  }
}

extension ExactDecimal {
  /// The product of `factors`, divided by `divisor` when given, rounded half-to-even to `places`
  /// fractional digits: computed exactly at whatever size the intermediate takes (the 128-bit
  /// operations give up on a product of several long decimals whose result is an ordinary
  /// amount). Nil when the divisor is zero or the result does not fit.
  public static func roundedProduct(
    _ factors: [ExactDecimal], dividedBy divisor: ExactDecimal? = nil, places: Int
  ) -> ExactDecimal? {
    precondition(places >= 0 && places <= maxScale, "places out of range")
    if let divisor, divisor.isZero { return nil }
    var negative = false
    var numerator = WideUInt(1)
    var exponent = places
    for factor in factors {
      if factor.significand < 0 { negative.toggle() }
      numerator = numerator * WideUInt(factor.significand.magnitude)
      exponent -= factor.scale
    }
    var denominator = WideUInt(1)
    if let divisor {
      if divisor.significand < 0 { negative.toggle() }
      denominator = WideUInt(divisor.significand.magnitude)
      exponent += divisor.scale
    }
    // value * 10^places = numerator * 10^exponent / denominator
    if exponent >= 0 {
      numerator = numerator * WideUInt.powerOfTen(exponent)
    } else {
      denominator = denominator * WideUInt.powerOfTen(-exponent)
    }
    var (quotient, remainder) = numerator.quotientAndRemainder(dividingBy: denominator)
    let half = WideUInt.compare(remainder + remainder, denominator)
    if half > 0 || (half == 0 && quotient.isOdd) { quotient = quotient + WideUInt(1) }
    guard let magnitude = quotient.uint128, magnitude <= UInt128(Int128.max) else { return nil }
    let significand = Int128(magnitude)
    return ExactDecimal(significand: negative ? -significand : significand, scale: places)
  }
}
