/// Why an amount could not be valued in the account currency.
public enum ValuationProblem: Sendable, Equatable {
  /// No price on or before the business date.
  case missingPrice
  /// The price is negative: unusable (`price_status` INVALID).
  case invalidPrice
  /// No rate from `from` to `to`, either way.
  case missingFX(from: String, to: String)
  /// No usable rate from `from` to `to` because the latest rate of a direction is zero or below
  /// (and the other direction has none usable): unconverted like ``missingFX(from:to:)``, and
  /// reported as `INVALID_FX` as well.
  case invalidFX(from: String, to: String)
  /// The value, rounded, does not fit in 38 digits.
  case outOfRange
}

/// A conversion of an amount into the account currency.
public struct ConvertedAmount: Sendable, Equatable {
  /// The multiplier from the (GBX-normalised) source currency to the account currency, if known.
  public var conversion: FXConversion?
  /// The converted amount rounded half-even to 2 places, if it could be valued.
  public var value: Money?
  public var problem: ValuationProblem?

  public init(conversion: FXConversion?, value: Money?, problem: ValuationProblem?) {
    self.conversion = conversion
    self.value = value
    self.problem = problem
  }
}

public enum Valuation {
  /// The largest significand a value may have: 38 digits, what a snapshot value may have too.
  static let largestSignificand = UInt128(ExactDecimal.pow10(38) - 1)

  /// Converts `amount` in `currency` to `accountCurrency`: GBX times 0.01 first, then FX;
  /// exact until one half-even rounding to 2 places.
  public static func convert(
    _ amount: ExactDecimal, currency: String, accountCurrency: String, fx: FXTable
  ) -> ConvertedAmount {
    exactly(amount, currency: currency, accountCurrency: accountCurrency, fx: fx)
  }

  /// The product of the factors (in `currency`) converted to `accountCurrency` and rounded once,
  /// exactly at any intermediate size: the product in 128 bits when it fits (no array is made),
  /// else all the factors at once (``FXConversion/convert(product:places:)``). Out of range only
  /// when the rounded value itself does not fit in 38 digits.
  static func exactly(
    _ first: ExactDecimal, _ second: ExactDecimal? = nil, _ third: ExactDecimal? = nil, currency: String,
    accountCurrency: String, fx: FXTable
  ) -> ConvertedAmount {
    let (source, pence) = Currencies.normalise(currency)
    guard let conversion = fx.conversion(from: source, to: accountCurrency) else {
      let problem: ValuationProblem =
        fx.hasUnusableRate(from: source, to: accountCurrency)
        ? .invalidFX(from: source, to: accountCurrency) : .missingFX(from: source, to: accountCurrency)
      return ConvertedAmount(conversion: nil, value: nil, problem: problem)
    }
    var exact: ExactDecimal? = first
    if let second { exact = exact?.multiplying(second) }
    if let third { exact = exact?.multiplying(third) }
    if let pence { exact = exact?.multiplying(pence) }
    let value =
      if let exact { conversion.convert(exact) } else {
        conversion.convert(product: [first, second, third, pence].compactMap { $0 })
      }
    guard let value, value.significand.magnitude <= Valuation.largestSignificand else {
      return ConvertedAmount(conversion: conversion, value: nil, problem: .outOfRange)
    }
    return ConvertedAmount(conversion: conversion, value: value, problem: nil)
  }

  /// `market_value = round2(quantity * price * quote_factor * fx)`, with GBX prices in pence.
  /// Nil price means the position is unpriced (`.missingPrice`), a negative one that it is
  /// unusable (`.invalidPrice`); either way the FX conversion is still reported when known.
  public static func marketValue(
    quantity: ExactDecimal, price: ExactDecimal?, quoteFactor: ExactDecimal, priceCurrency: String,
    accountCurrency: String, fx: FXTable
  ) -> ConvertedAmount {
    guard let price, !price.isNegative else {
      let (source, _) = Currencies.normalise(priceCurrency)
      return ConvertedAmount(
        conversion: fx.conversion(from: source, to: accountCurrency), value: nil,
        problem: price == nil ? .missingPrice : .invalidPrice)
    }
    return exactly(
      quantity, price, quoteFactor, currency: priceCurrency, accountCurrency: accountCurrency, fx: fx)
  }

  /// `market_value / total_value` to 6 places, or nil if either is missing or the total is 0.
  public static func weight(marketValue: Money?, totalValue: Money?) -> ExactDecimal? {
    guard let marketValue, let totalValue, !totalValue.isZero else { return nil }
    return marketValue.divided(by: totalValue, places: 6)
  }
}

/// A value a ledger may hold but should be looked at: valued, with a warning.
public enum PositionWarning: Sendable, Equatable {
  /// The price used is 0: the position values at 0 (`ZERO_PRICE`).
  case zeroPrice
  /// The quantity is below 0 (a short or a booking error): valued as it is (`NEGATIVE_QUANTITY`).
  case negativeQuantity

  /// The warnings for a position of `quantity` priced at `price` (nil: unpriced).
  public static func warnings(quantity: ExactDecimal, price: ExactDecimal?) -> [PositionWarning] {
    var out: [PositionWarning] = []
    if let price, price.isZero { out.append(.zeroPrice) }
    if quantity.isNegative { out.append(.negativeQuantity) }
    return out
  }
}
