import RealModule

/// What the job keeps for one account at one business date: enough to compute that date's
/// returns and the next date's, without reading older history (only the 1Y window start and
/// the external flows, for XIRR, are looked up).
public struct PerformanceRecord: Sendable, Equatable {
  public enum Kind: String, Sendable {
    /// First seen but opened earlier: no return, performance measured from this close.
    case baseline
    /// Opens on this date: starts from a value of 0.
    case opening
    /// A later day.
    case regular
  }

  public var date: CivilDate
  public var kind: Kind
  /// Total value at the close (V1).
  public var value: Money
  /// Net external flow of the day (F), in the account currency.
  public var flow: Money
  /// Sum of the day's positive external flows (F_in).
  public var flowIn: Money
  /// The daily return; nil on a baseline day or when undefined.
  public var dailyReturn: Double?
  /// `V0 + F_in` was 0 with a non-zero numerator: the return is undefined (counted as 0 when linking).
  public var undefinedReturn: Bool
  /// prod(1 + r) over this calendar month's business dates so far.
  public var growthMonth: Double
  /// … this quarter's.
  public var growthQuarter: Double
  /// … this year's.
  public var growthYear: Double
  /// prod(1 + r) since performance started, over factors that are not 0.
  public var index: Double
  /// How many factors (1 + r) were exactly 0 since performance started.
  public var zeroFactors: Int
  /// `performance_start_date`.
  public var startDate: CivilDate
  /// The first date of the money-weighted cash flows: the baseline or opening date.
  public var flowOrigin: CivilDate

  public init(
    date: CivilDate, kind: Kind, value: Money, flow: Money, flowIn: Money, dailyReturn: Double?,
    undefinedReturn: Bool, growthMonth: Double, growthQuarter: Double, growthYear: Double, index: Double,
    zeroFactors: Int, startDate: CivilDate, flowOrigin: CivilDate
  ) {
    self.date = date
    self.kind = kind
    self.value = value
    self.flow = flow
    self.flowIn = flowIn
    self.dailyReturn = dailyReturn
    self.undefinedReturn = undefinedReturn
    self.growthMonth = growthMonth
    self.growthQuarter = growthQuarter
    self.growthYear = growthYear
    self.index = index
    self.zeroFactors = zeroFactors
    self.startDate = startDate
    self.flowOrigin = flowOrigin
  }

  /// Growth since performance started, prod(1 + r).
  public var growthSinceStart: Double { zeroFactors > 0 ? 0 : index }
}

/// A day's external flows, in the account currency.
public struct ExternalFlows: Sendable, Equatable {
  /// F: the sum of the day's flows, each rounded to 2 places.
  public var net: Money
  /// F_in: the sum of the positive ones.
  public var inflow: Money

  public static let none = ExternalFlows(
    net: Money(significand: 0, scale: 2), inflow: Money(significand: 0, scale: 2))

  public init(net: Money, inflow: Money) {
    self.net = net
    self.inflow = inflow
  }

  /// Transaction types that are external flows.
  public static let flowTypes: Set<String> = ["DEPOSIT", "WITHDRAWAL", "TRANSFER_IN", "TRANSFER_OUT"]

  /// Whether a transaction is an external flow: a flow type whose status is not CANCELLED.
  public static func isFlow(type: String, status: String) -> Bool {
    flowTypes.contains(type) && status != "CANCELLED"
  }
}

/// The result of the daily return formula.
public enum DailyReturn: Sendable, Equatable {
  case value(Double)
  /// `V0 + F_in` is 0 and the numerator is not.
  case undefined
}

public enum Performance {
  /// `r = (V1 - V0 - F) / (V0 + F_in)`; 0 when both are 0, undefined when only the divisor is.
  public static func dailyReturn(previousValue v0: Money, value v1: Money, flows: ExternalFlows)
    -> DailyReturn
  {
    guard let numerator = v1.subtracting(v0)?.subtracting(flows.net),
      let denominator = v0.adding(flows.inflow)
    else { return .undefined }
    if denominator.isZero { return numerator.isZero ? .value(0) : .undefined }
    return .value(numerator.doubleValue / denominator.doubleValue)
  }

  /// The record for `date`, from the account's previous record (nil when first seen).
  /// `opensToday` is whether the account's `opened_on` is `date`.
  public static func advance(
    previous: PerformanceRecord?, date: CivilDate, value: Money, flows: ExternalFlows, opensToday: Bool
  ) -> PerformanceRecord {
    guard let previous else {
      if opensToday {
        let zero = Money(significand: 0, scale: 2)
        let r = dailyReturn(previousValue: zero, value: value, flows: flows)
        return chain(
          base: nil, date: date, kind: .opening, value: value, flows: flows, r: r, startDate: date,
          flowOrigin: date)
      }
      return PerformanceRecord(
        date: date, kind: .baseline, value: value, flow: flows.net, flowIn: flows.inflow, dailyReturn: nil,
        undefinedReturn: false, growthMonth: 1, growthQuarter: 1, growthYear: 1, index: 1, zeroFactors: 0,
        startDate: date.adding(days: 1), flowOrigin: date)
    }
    let r = dailyReturn(previousValue: previous.value, value: value, flows: flows)
    return chain(
      base: previous, date: date, kind: .regular, value: value, flows: flows, r: r,
      startDate: previous.startDate, flowOrigin: previous.flowOrigin)
  }

  private static func chain(
    base: PerformanceRecord?, date: CivilDate, kind: PerformanceRecord.Kind, value: Money,
    flows: ExternalFlows, r: DailyReturn, startDate: CivilDate, flowOrigin: CivilDate
  ) -> PerformanceRecord {
    let returnValue: Double?
    let factor: Double
    switch r {
    case .value(let x):
      returnValue = x
      factor = 1 + x
    case .undefined:
      returnValue = nil
      factor = 1
    }
    let today = date.components
    var month = factor
    var quarter = factor
    var year = factor
    var index = 1.0
    var zeros = 0
    if let base {
      let before = base.date.components
      if before.year == today.year {
        year = base.growthYear * factor
        if (before.month - 1) / 3 == (today.month - 1) / 3 { quarter = base.growthQuarter * factor }
        if before.month == today.month { month = base.growthMonth * factor }
      }
      index = base.index
      zeros = base.zeroFactors
    }
    if factor == 0 { zeros += 1 } else { index *= factor }
    return PerformanceRecord(
      date: date, kind: kind, value: value, flow: flows.net, flowIn: flows.inflow, dailyReturn: returnValue,
      undefinedReturn: r == .undefined, growthMonth: month, growthQuarter: quarter, growthYear: year,
      index: index, zeroFactors: zeros, startDate: startDate, flowOrigin: flowOrigin)
  }

  /// The point a 1Y return is measured from: growth since start as it stood at the close of the
  /// same day a year earlier.
  public struct WindowStart: Sendable, Equatable {
    public var index: Double
    public var zeroFactors: Int
    public init(index: Double, zeroFactors: Int) {
      self.index = index
      self.zeroFactors = zeroFactors
    }
    /// Before performance started: growth 1.
    public static let origin = WindowStart(index: 1, zeroFactors: 0)
  }

  /// The date whose record a 1Y return at `date` is measured from, and whether the history can
  /// cover the window: `performance_start_date` must be on or before the day after it.
  public static func oneYearWindowStart(for date: CivilDate) -> CivilDate { date.oneYearEarlier }

  /// Every return field of a valuations row.
  public struct Figures: Sendable, Equatable {
    public var daily: Double?
    public var monthToDate: Double?
    public var quarterToDate: Double?
    public var yearToDate: Double?
    public var oneYear: Double?
    public var inceptionToDate: Double?
    public var inceptionToDateAnnualised: Double?
    public var moneyWeighted: Double?
    public var moneyWeightedAnnualised: Double?
    public var startDate: CivilDate?

    public static let empty = Figures()
  }

  /// The returns for a record.
  /// - Parameters:
  ///   - record: the account's record at the date the figures are for (a baseline gives none).
  ///   - windowStart: for 1Y, the record at or before `oneYearWindowStart(for:)`, or `.origin`
  ///     when performance starts the day after that date; nil when the history does not cover it
  ///     (the function also checks the start date).
  ///   - cashFlows: for XIRR, the external flows after the flow origin, as (date, F).
  ///   - baselineValue: for XIRR, the value at the flow origin (the baseline's close), taken as
  ///     the first outflow; nil for an account that opened in the history (it starts from 0).
  public static func figures(
    for record: PerformanceRecord, windowStart: WindowStart?, cashFlows: [(date: CivilDate, flow: Money)],
    baselineValue: Money?
  ) -> Figures {
    if record.kind == .baseline { return .empty }
    var figures = Figures()
    figures.startDate = record.startDate
    figures.daily = record.dailyReturn
    figures.monthToDate = record.growthMonth - 1
    figures.quarterToDate = record.growthQuarter - 1
    figures.yearToDate = record.growthYear - 1
    let itd = record.growthSinceStart - 1
    figures.inceptionToDate = itd
    let yearAgo = oneYearWindowStart(for: record.date)
    if let windowStart, record.startDate <= yearAgo.adding(days: 1) {
      if record.zeroFactors > windowStart.zeroFactors {
        figures.oneYear = -1
      } else if windowStart.index != 0 {
        figures.oneYear = record.index / windowStart.index - 1
      }
    }
    let days = record.startDate.days(to: record.date) + 1
    if days >= 365 {
      let growth = 1 + itd
      if growth >= 0 {
        let annualised = Double.pow(growth, 365.0 / Double(days)) - 1
        if annualised.isFinite { figures.inceptionToDateAnnualised = annualised }
      }
    }
    var flows: [XIRR.CashFlow] = []
    if let baselineValue {
      flows.append(XIRR.CashFlow(day: record.flowOrigin.dayNumber, amount: -baselineValue.doubleValue))
    }
    for item in cashFlows where !item.flow.isZero {
      flows.append(XIRR.CashFlow(day: item.date.dayNumber, amount: -item.flow.doubleValue))
    }
    flows.append(XIRR.CashFlow(day: record.date.dayNumber, amount: record.value.doubleValue))
    // From v = ln(1 + x): over a few days an ordinary change is an extreme yearly x (a 10 % fall
    // in a day is within 1e-16 of -100 % a year), which a Double cannot carry back to the period.
    if let v = XIRR.logRate(flows) {
      let first = flows.map(\.day).min() ?? record.date.dayNumber
      let span = Double(record.date.dayNumber - first)
      let periodRate = Double.expMinusOne(v * span / 365)
      if periodRate.isFinite { figures.moneyWeighted = periodRate }
      let rate = Double.expMinusOne(v)
      if days >= 365, rate.isFinite { figures.moneyWeightedAnnualised = rate }
    }
    return figures
  }
}

/// Formats ratios as extract text.
public enum RatioFormat {
  /// `x` rounded half-to-even to `places` (≤ 15) decimal places, never `-0`.
  public static func fixed(_ x: Double, places: Int = 8) -> String? {
    guard x.isFinite else { return nil }
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    let scaled = (x * scale).rounded(.toNearestOrEven)
    guard abs(scaled) < 1e30 else { return nil }
    let digits = ExactDecimal(significand: Int128(scaled), scale: places)
    return digits.description
  }
}
