/// Whether a position could be priced, and how fresh the price is.
public enum PriceStatus: String, Sendable {
  /// Priced within 5 calendar days of the business date.
  case ok = "OK"
  /// Priced, but the latest price is more than 5 calendar days old. Still valued.
  case stale = "STALE"
  /// No price on or before the business date. Not valued.
  case missing = "MISSING"
  /// The latest price on or before the business date is negative: unusable, not valued
  /// (contract 1.1; data_quality error `INVALID_PRICE`).
  case invalid = "INVALID"

  /// Whether a position with this status is valued (OK and STALE are; MISSING and INVALID not).
  public var isUsable: Bool { self == .ok || self == .stale }
}

/// A price chosen for a business date.
public struct SelectedPrice: Sendable, Equatable {
  public var price: ExactDecimal
  public var date: CivilDate
  public var status: PriceStatus

  public init(price: ExactDecimal, date: CivilDate, status: PriceStatus) {
    self.price = price
    self.date = date
    self.status = status
  }
}

public enum PriceSelection {
  /// Calendar days a price stays `OK`.
  public static let freshDays = 5

  /// The status of a price dated `priceDate` used on `businessDate`, by its age alone.
  public static func status(priceDate: CivilDate, businessDate: CivilDate) -> PriceStatus {
    priceDate.days(to: businessDate) <= freshDays ? .ok : .stale
  }

  /// The status of `price`, dated `priceDate`, used on `businessDate`: `INVALID` when the price
  /// is negative (a ledger should not hold one), else by its age. A zero price is usable (it
  /// values at 0, with a `ZERO_PRICE` warning).
  public static func status(price: ExactDecimal, priceDate: CivilDate, businessDate: CivilDate)
    -> PriceStatus
  {
    price.isNegative ? .invalid : status(priceDate: priceDate, businessDate: businessDate)
  }

  /// The latest price on or before the business date, from (date, price) pairs in any order.
  public static func select(
    _ prices: [(date: CivilDate, price: ExactDecimal)], businessDate: CivilDate
  ) -> SelectedPrice? {
    var best: (date: CivilDate, price: ExactDecimal)?
    for candidate in prices where candidate.date <= businessDate {
      if let current = best, current.date >= candidate.date { continue }
      best = candidate
    }
    guard let best else { return nil }
    return SelectedPrice(
      price: best.price, date: best.date,
      status: status(price: best.price, priceDate: best.date, businessDate: businessDate))
  }
}

/// ISO 4217 codes plus `GBX`, pence sterling.
public enum Currencies {
  public static let pence = "GBX"
  public static let sterling = "GBP"
  /// 0.01: a GBX amount times this is GBP.
  public static let penceToPounds = ExactDecimal(significand: 1, scale: 2)

  /// The currency an amount is converted from, and the factor that takes it there
  /// (GBX is converted to GBP before any FX).
  public static func normalise(_ currency: String) -> (currency: String, factor: ExactDecimal?) {
    currency == pence ? (sterling, penceToPounds) : (currency, nil)
  }
}

/// How one currency converts to another on a business date.
public enum FXConversion: Sendable, Equatable {
  /// Same currency.
  case identity
  /// Multiply by the quoted rate `from->to`.
  case direct(ExactDecimal)
  /// Divide by the quoted rate `to->from`.
  case inverse(ExactDecimal)

  /// Decimal places shown for a rate in the extracts.
  public static let displayPlaces = 10

  /// The multiplier as shown in an extract, 10 places, half-even.
  public var displayRate: ExactDecimal? {
    switch self {
    case .identity: return ExactDecimal.one.rounded(places: FXConversion.displayPlaces)
    case .direct(let rate): return rate.rounded(places: FXConversion.displayPlaces)
    case .inverse(let rate): return ExactDecimal.one.divided(by: rate, places: FXConversion.displayPlaces)
    }
  }

  /// `amount` converted and rounded once, half-even, to `places`, exactly at any intermediate
  /// size. Nil when the result does not fit or the rate is zero.
  public func convert(_ amount: ExactDecimal, places: Int = 2) -> ExactDecimal? {
    switch self {
    // Fewer places than `places`: scaled up exactly, nil when that does not fit (never the
    // amount left at its own scale).
    case .identity:
      return amount.scale <= places ? amount.rescaled(to: places) : amount.rounded(places: places)
    case .direct(let rate):
      return amount.multiplying(rate)?.rounded(places: places) ?? convert(product: [amount], places: places)
    case .inverse(let rate): return amount.divided(by: rate, places: places)
    }
  }

  /// The product of `factors` converted and rounded once, half-even, to `places`, by
  /// ``ExactDecimal/roundedProduct(_:dividedBy:places:)``: for a product too long for 128 bits.
  /// Nil when the result does not fit or the rate is zero.
  public func convert(product factors: [ExactDecimal], places: Int = 2) -> ExactDecimal? {
    switch self {
    case .identity: return ExactDecimal.roundedProduct(factors, places: places)
    case .direct(let rate): return ExactDecimal.roundedProduct(factors + [rate], places: places)
    case .inverse(let rate): return ExactDecimal.roundedProduct(factors, dividedBy: rate, places: places)
    }
  }
}

/// The FX rates in force on a business date: for each pair, the latest on or before it.
public struct FXTable: Sendable {
  private var rates: [String: (date: CivilDate, rate: ExactDecimal)] = [:]
  public let businessDate: CivilDate

  public init(businessDate: CivilDate) { self.businessDate = businessDate }

  private static func key(_ base: String, _ quote: String) -> String { base + "/" + quote }

  /// Offers one quoted rate; kept if it is on or before the business date and the latest so far.
  public mutating func offer(date: CivilDate, base: String, quote: String, rate: ExactDecimal) {
    guard date <= businessDate else { return }
    let key = FXTable.key(base, quote)
    if let existing = rates[key], existing.date >= date { return }
    rates[key] = (date, rate)
  }

  /// How to convert `from` (already normalised: GBX is GBP here) to `to`, or nil if no usable
  /// rate either way. The latest rate of a direction that is zero or below is unusable: that
  /// direction counts as having no rate (contract 1.1), so the inverse is used if it is usable.
  public func conversion(from: String, to: String) -> FXConversion? {
    if from == to { return .identity }
    if let direct = rates[FXTable.key(from, to)], direct.rate.signum > 0 { return .direct(direct.rate) }
    if let inverse = rates[FXTable.key(to, from)], inverse.rate.signum > 0 { return .inverse(inverse.rate) }
    return nil
  }

  /// Whether the latest rate of either direction between `from` and `to` is zero or below: when
  /// ``conversion(from:to:)`` is nil, this says the pair is unconverted because of an unusable
  /// rate (`INVALID_FX`) rather than for want of any rate.
  public func hasUnusableRate(from: String, to: String) -> Bool {
    guard from != to else { return false }
    if let direct = rates[FXTable.key(from, to)], direct.rate.signum <= 0 { return true }
    if let inverse = rates[FXTable.key(to, from)], inverse.rate.signum <= 0 { return true }
    return false
  }
}
