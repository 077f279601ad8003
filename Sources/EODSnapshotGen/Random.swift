/// A small, fast, deterministic pseudo-random generator: xoshiro256** seeded through SplitMix64.
///
/// The same seed gives the same stream on every platform: every draw is integer arithmetic,
/// except ``unit()`` which converts 53 random bits to a `Double` exactly.
struct SeededRandom {
  private var s0: UInt64
  private var s1: UInt64
  private var s2: UInt64
  private var s3: UInt64

  init(seed: UInt64) {
    var sm = seed
    func splitMix(_ state: inout UInt64) -> UInt64 {
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    s0 = splitMix(&sm)
    s1 = splitMix(&sm)
    s2 = splitMix(&sm)
    s3 = splitMix(&sm)
  }

  @inline(__always)
  private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

  /// The next 64 random bits.
  @inline(__always)
  mutating func next() -> UInt64 {
    let result = SeededRandom.rotl(s1 &* 5, 7) &* 9
    let t = s1 << 17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = SeededRandom.rotl(s3, 45)
    return result
  }

  /// A uniform integer in `0..<n` (n > 0), by multiply-high (bias below 2^-40 for our ranges).
  @inline(__always)
  mutating func below(_ n: Int) -> Int {
    let product = next().multipliedFullWidth(by: UInt64(n))
    return Int(product.high)
  }

  /// A uniform integer in `range` (both ends included).
  @inline(__always)
  mutating func int(_ range: ClosedRange<Int>) -> Int {
    range.lowerBound + below(range.upperBound - range.lowerBound + 1)
  }

  /// A uniform `Double` in [0, 1): for probabilities only, never for money.
  @inline(__always)
  mutating func unit() -> Double {
    Double(next() >> 11) * 0x1.0p-53
  }

  /// One element of a non-empty array.
  @inline(__always)
  mutating func choice<T>(_ items: [T]) -> T {
    items[below(items.count)]
  }

  /// An approximately standard normal draw, scaled by 2^20 and exact in integers:
  /// the sum of twelve uniform 20-bit draws minus their mean (Irwin–Hall), in -6·2^20…6·2^20.
  mutating func gaussian20() -> Int64 {
    var sum: Int64 = 0
    for _ in 0..<4 {
      let bits = next()
      sum += Int64(bits & 0xFFFFF) + Int64((bits >> 20) & 0xFFFFF) + Int64((bits >> 40) & 0xFFFFF)
    }
    return sum - 6 * (1 << 20)
  }
}
