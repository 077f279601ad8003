import RealModule

/// The internal rate of return of dated cash flows (Actual/365), as Excel's XIRR defines it:
/// the rate `x` with `sum(a_i * (1 + x)^(-(d_i - d_0) / 365)) = 0`.
public enum XIRR {
  public struct CashFlow: Sendable, Equatable {
    /// Days since 1970-01-01.
    public var day: Int
    public var amount: Double
    public init(day: Int, amount: Double) {
      self.day = day
      self.amount = amount
    }
  }

  /// The root nearest 0, found by bracketing in `v = ln(1 + x)` and a guarded Newton step.
  /// Nil when every flow falls on one date, the flows do not change sign, or there is no root
  /// (never -100 % or a value that does not solve the equation).
  ///
  /// For a short span a modest change is an extreme yearly rate (a 10 % fall in one day is
  /// `x = 0.9^365 - 1`, within 1e-16 of -1), which a Double holds poorly: use ``logRate(_:)``
  /// and take the period's rate from `v` instead.
  public static func solve(_ flows: [CashFlow]) -> Double? {
    guard let v = logRate(flows) else { return nil }
    let x = Double.expMinusOne(v)
    guard x.isFinite, x > -1 else { return nil }
    return x
  }

  /// The rate of ``solve(_:)`` as `v = ln(1 + x)`, the continuously compounded yearly rate, which
  /// stays accurate where `x` cannot (`x` near -1 or beyond 1e300): the rate over `T` days is
  /// `expm1(v * T / 365)`. Roots are looked for with `|v|` up to 10,000 (a one-day change of up
  /// to a factor of about e^27 either way).
  public static func logRate(_ flows: [CashFlow]) -> Double? {
    guard let firstDay = flows.map(\.day).min(), let lastDay = flows.map(\.day).max(), lastDay > firstDay
    else { return nil }
    let scale = flows.map { abs($0.amount) }.max() ?? 0
    guard scale > 0, scale.isFinite else { return nil }
    let times = flows.map { Double($0.day - firstDay) / 365 }
    let amounts = flows.map { $0.amount / scale }
    guard amounts.contains(where: { $0 > 0 }), amounts.contains(where: { $0 < 0 }) else { return nil }

    // f(v) = sum a_i exp(-v t_i); f'(v) = -sum t_i a_i exp(-v t_i).
    func value(_ v: Double) -> (f: Double, df: Double) {
      var f = 0.0
      var df = 0.0
      for index in 0..<amounts.count {
        let term = amounts[index] * Double.exp(-v * times[index])
        f += term
        df -= times[index] * term
      }
      return (f, df)
    }

    // Search outwards from v = 0 for the nearest sign change, each point evaluated once.
    let steps: [Double] = [
      0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 50,
      75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10000,
    ]
    var bracket: (Double, Double)?
    let origin = value(0).f
    if origin == 0 { return 0 }
    var previous = (up: (v: 0.0, f: origin), down: (v: 0.0, f: origin))
    search: for step in steps {
      for sign in [1.0, -1.0] {
        let v = sign * step
        let f = value(v).f
        let last = sign > 0 ? previous.up : previous.down
        if f.isFinite {
          if f == 0 { return v }
          if last.f.isFinite && (last.f < 0) != (f < 0) {
            bracket = (last.v, v)
            break search
          }
        }
        if sign > 0 { previous.up = (v, f) } else { previous.down = (v, f) }
      }
    }
    guard var (low, high) = bracket else { return nil }
    if low > high { swap(&low, &high) }
    var fLow = value(low).f
    var v = (low + high) / 2
    for _ in 0..<200 {
      let (f, df) = value(v)
      if f == 0 { break }
      if (f < 0) == (fLow < 0) {
        low = v
        fLow = f
      } else {
        high = v
      }
      var next = df != 0 ? v - f / df : (low + high) / 2
      if !(next > low && next < high) { next = (low + high) / 2 }
      if abs(next - v) <= 1e-15 * max(1, abs(v)) || high - low <= 1e-15 * max(1, abs(v)) {
        v = next
        break
      }
      v = next
    }
    let check = value(v).f
    guard check.isFinite, abs(check) < 1e-9, v.isFinite else { return nil }
    return v
  }
}
