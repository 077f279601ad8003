/// One account valued on a business date: its positions and cash in the account currency, its
/// transactions and the day's external flows, the totals, the performance record and returns,
/// and every data-quality finding, computed by one call and independent of any extract layout.
///
/// ```swift
/// let valuation = try AccountValuation.value(
///   account: account, positions: positions, cash: cash, transactions: transactions,
///   reference: reference, date: businessDate, history: history)
/// valuation.totals.totalValue        // total_value, exact, or nil when it does not fit 38 digits
/// valuation.returns.daily            // return_1d
/// valuation.record                   // what to keep in the history for this date
/// ```
///
/// The rules are those of the extracts contract (version 1.1):
/// - A position is valued as `round2(quantity × price × quote_factor × fx)`, exactly: a `GBX`
///   price is in pence (times 0.01 to GBP before any FX); an FX pair is used as quoted, or its
///   inverse when only that is quoted, and a rate of zero or below is unusable (`INVALID_FX`,
///   besides `MISSING_FX`). No price is `MISSING_PRICE`; a negative one is `INVALID_PRICE`; both
///   leave the position unvalued and counted in ``Totals/unpricedPositions``. A zero price values
///   at 0 (`ZERO_PRICE`); a negative quantity is valued as it is (`NEGATIVE_QUANTITY`); a price
///   more than ``PriceSelection/freshDays`` days old is still used (`STALE_PRICE`). An instrument
///   the reference data lacks is `UNKNOWN_INSTRUMENT`.
/// - A value or total that does not fit in 38 digits is left empty (`VALUE_OUT_OF_RANGE`);
///   sums are exact at any size (``MoneySum``).
/// - External flows are `DEPOSIT`, `WITHDRAWAL`, `TRANSFER_IN`, `TRANSFER_OUT` not `CANCELLED`
///   (``ExternalFlows/isFlow(type:status:)``); a flow that cannot be converted is left out of
///   the net flow and the return (an error finding).
/// - An account is shown (positions, cash, totals, returns) while open on the date or closed on
///   it; its transactions are converted either way. An account opened on the date starts from 0;
///   one first seen later starts a baseline (no return that day).
/// - An invalid external reference (account, client, position, transaction) is withheld, with
///   `INVALID_EXTERNAL_REF`.
///
/// Findings are in the order they are found: the account's own, then each position's, each cash
/// balance's and each transaction's (each item's findings together, see
/// ``ValuedPosition/findings``), then the totals' and the performance's.
public struct AccountValuation: Sendable {
  /// The account valued.
  public private(set) var account: Account
  /// The business date.
  public private(set) var date: CivilDate
  /// Whether the account is shown on the date (open on it, or closed on it): only then are its
  /// positions, cash, totals and returns valued.
  public private(set) var isShown: Bool
  /// The account's external reference, or nil when it has none or it is withheld (invalid).
  public private(set) var accountReference: String?
  /// The client's external reference, or nil when it has none, it is withheld (invalid) or the
  /// client is unknown.
  public private(set) var clientReference: String?
  /// The positions as given (``ValuedPosition/index`` points into them).
  public private(set) var positions: [Position]
  /// Every position, valued, in the order given; empty when the account is not shown.
  public private(set) var valuedPositions: [ValuedPosition]
  /// The cash balances as given (``ValuedCash/index`` points into them).
  public private(set) var cash: [CashBalance]
  /// Every cash balance, converted, in the order given; empty when the account is not shown.
  public private(set) var valuedCash: [ValuedCash]
  /// The transactions as given (``ValuedTransaction/index`` points into them).
  public private(set) var transactions: [Transaction]
  /// Every transaction, converted, in the order given (whether the account is shown or not).
  public private(set) var valuedTransactions: [ValuedTransaction]
  /// The account's totals and the day's external flows.
  public private(set) var totals: Totals
  /// The performance record for the date (what the history keeps), or nil when the account is
  /// not shown or its figures do not fit the history (64-bit cents).
  public private(set) var record: PerformanceRecord?
  /// The returns of ``record`` (empty on a baseline day, when not shown, or without a record).
  public private(set) var returns: Performance.Figures
  /// Every data-quality finding, in the order found.
  public private(set) var findings: [DataQualityIssue]
  /// Positions plus cash as summed (what a position's weight is of), or nil when the account is
  /// not shown or the sum does not fit in 38 digits.
  public private(set) var summedTotal: Money?

  /// The totals of an account and the day's external flows, in the account currency.
  public struct Totals: Sendable, Equatable {
    /// The exact sum of the valued positions' market values (the positions' control total).
    public var positionsSum = MoneySum()
    /// The exact sum of the converted cash balances (the cash control total).
    public var cashSum = MoneySum()
    /// The exact sum of the transactions converted without a problem, flows or not (the
    /// transactions' control total).
    public var transactionsSum = MoneySum()
    /// The exact net external flow `F`: the sum of the converted flows.
    public var netFlowSum = MoneySum()
    /// The exact sum of the positive converted flows, `F_in`.
    public var inflowSum = MoneySum()
    /// `positions_value`, or nil when not shown or out of range (38 digits).
    public var positionsValue: Money?
    /// `cash_value`, or nil when not shown or out of range.
    public var cashValue: Money?
    /// `total_value` (positions plus cash), or nil when not shown or out of range.
    public var totalValue: Money?
    /// `net_external_flow`, or nil when not shown or out of range.
    public var netExternalFlow: Money?
    /// `unpriced_positions`: positions not valued (no price, an invalid one, no usable FX, out of
    /// range, or an unknown instrument).
    public var unpricedPositions = 0

    public init() {}
  }

  /// An empty valuation, to be filled in place by
  /// ``revalue(account:positions:cash:transactions:reference:date:history:)`` (which keeps its
  /// memory from one account to the next).
  public init() {
    account = Account(
      id: "", firmID: "", clientID: "", wrapper: "", currency: "", openedOn: CivilDate(dayNumber: 0),
      closedOn: nil, externalRef: nil, clientExternalRef: nil, clientKnown: true)
    date = CivilDate(dayNumber: 0)
    isShown = false
    positions = []
    valuedPositions = []
    cash = []
    valuedCash = []
    transactions = []
    valuedTransactions = []
    totals = Totals()
    returns = .empty
    findings = []
  }

  /// Values an account on `date`.
  ///
  /// - Parameters:
  ///   - account: the account (its currency is the one everything is valued in).
  ///   - positions: its positions, in the order they are to be shown.
  ///   - cash: its cash balances, in order.
  ///   - transactions: its transactions, in order; the external flows among them are the day's.
  ///   - reference: the instruments with their prices chosen for `date`, and the FX rates.
  ///   - date: the business date.
  ///   - history: the account's earlier performance (read only for an account shown on `date`).
  /// - Throws: only what `history` throws.
  public static func value<History: PerformanceHistory>(
    account: Account, positions: [Position], cash: [CashBalance], transactions: [Transaction],
    reference: ReferenceData, date: CivilDate, history: History
  ) throws(History.Failure) -> AccountValuation {
    var valuation = AccountValuation()
    try valuation.revalue(
      account: account, positions: positions, cash: cash, transactions: transactions, reference: reference,
      date: date, history: history)
    return valuation
  }

  /// Values an account on `date` in place: the same as
  /// ``value(account:positions:cash:transactions:reference:date:history:)``, reusing this
  /// value's memory (a job valuing accounts one after another makes no new arrays per account).
  public mutating func revalue<History: PerformanceHistory>(
    account: Account, positions: [Position], cash: [CashBalance], transactions: [Transaction],
    reference: ReferenceData, date: CivilDate, history: History
  ) throws(History.Failure) {
    self.account = account
    self.date = date
    self.positions = positions
    self.cash = cash
    self.transactions = transactions
    valuedPositions.removeAll(keepingCapacity: true)
    valuedCash.removeAll(keepingCapacity: true)
    valuedTransactions.removeAll(keepingCapacity: true)
    findings.removeAll(keepingCapacity: true)
    totals = Totals()
    record = nil
    returns = .empty
    summedTotal = nil
    let shown = account.isShown(on: date)
    isShown = shown

    // The account's and client's references, reported only when the extracts show them.
    let reported = shown || !transactions.isEmpty
    accountReference = checkReference(account.externalRef, .account, account.id, report: reported)
    if account.clientKnown {
      clientReference = checkReference(account.clientExternalRef, .client, account.clientID, report: reported)
    } else {
      clientReference = nil
      if reported {
        finding(
          .error, .unknownClient, .account, account.id, "client_id",
          "client \(account.clientID) is not a client of \(account.firmID) in the snapshot")
      }
    }
    if shown {
      valuePositions(reference)
      valueCash(reference)
      summedTotal = totals.positionsSum.adding(totals.cashSum).money
    }
    valueTransactions(reference)
    guard shown else { return }
    try valueTotals(history)
  }

  // MARK: - The rules

  private var dateText: String { date.description }

  private mutating func finding(
    _ severity: DataQualityIssue.Severity, _ code: DataQualityIssue.Code,
    _ type: DataQualityIssue.ResourceType, _ id: String, _ field: String, _ message: String
  ) {
    findings.append(
      DataQualityIssue(
        severity: severity, code: code, resourceType: type, resourceID: id, field: field, message: message))
  }

  /// The reference if valid; an invalid one is withheld (nil) with a finding when `report`.
  private mutating func checkReference(
    _ reference: String?, _ type: DataQualityIssue.ResourceType, _ id: String, report: Bool
  ) -> String? {
    guard let reference else { return nil }
    if let problem = ExternalReference.problem(reference) {
      if report { finding(.warning, .invalidExternalRef, type, id, "external_ref", "\(problem); withheld") }
      return nil
    }
    return reference
  }

  /// `MISSING_FX` for an amount left unconverted (`then` ends the message), and `INVALID_FX`
  /// besides when a rate of zero or below is why (`invalid`).
  private mutating func unconverted(
    _ severity: DataQualityIssue.Severity, _ type: DataQualityIssue.ResourceType, _ id: String,
    _ field: String, _ from: String, _ to: String, invalid: Bool, _ then: String
  ) {
    finding(
      severity, .missingFX, type, id, field,
      "no \(invalid ? "usable " : "")FX rate \(from)->\(to) or \(to)->\(from) on or before \(dateText)" + then
    )
    guard invalid else { return }
    finding(
      .error, .invalidFX, type, id, field,
      "the latest FX rate \(from)->\(to) or \(to)->\(from) on or before \(dateText) is zero or below; "
        + "not converted")
  }

  private mutating func valuePositions(_ reference: ReferenceData) {
    let accountID = account.id
    let currency = account.currency
    // A local copy (one retain): its rows are read without retaining their strings while `self`
    // changes.
    let positions = self.positions
    for index in positions.indices {
      let position = positions[index]
      let first = findings.count
      var resource: String { "\(accountID)/\(position.instrumentID)" }
      // Valued as they are, with a warning (contract 1.1). A negative price is INVALID, not 0.
      let known = reference.instruments[position.instrumentID]
      for warning in PositionWarning.warnings(quantity: position.quantity, price: known?.price?.price) {
        switch warning {
        case .zeroPrice:
          finding(
            .warning, .zeroPrice, .position, resource, "price",
            "latest price for \(position.instrumentID) is 0; valued at 0")
        case .negativeQuantity:
          finding(
            .warning, .negativeQuantity, .position, resource, "quantity",
            "quantity \(position.quantity) is below 0; valued as it is")
        }
      }
      guard let instrument = known else {
        finding(
          .error, .unknownInstrument, .position, resource, "instrument_id",
          "instrument \(position.instrumentID) is not in the snapshot; position not valued")
        totals.unpricedPositions += 1
        valuedPositions.append(
          ValuedPosition(
            index: index, instrument: nil, quantity: position.quantity, bookCost: position.bookCost,
            converted: ConvertedAmount(conversion: nil, value: nil, problem: .missingPrice),
            referenceWithheld: false, findings: first..<findings.count))
        continue
      }
      let converted = Valuation.marketValue(
        quantity: position.quantity, price: instrument.price?.price, quoteFactor: instrument.quoteFactor,
        priceCurrency: instrument.currency, accountCurrency: currency, fx: reference.fx)
      switch converted.problem {
      case .missingPrice:
        finding(
          .warning, .missingPrice, .position, resource, "price",
          "no price for \(instrument.id) on or before \(dateText); not valued")
      case .invalidPrice:
        finding(
          .error, .invalidPrice, .position, resource, "price",
          "latest price for \(instrument.id) (\(instrument.price?.date.description ?? "")) is negative: "
            + "\(instrument.price?.price.description ?? ""); not valued")
      case .missingFX(let from, let to):
        unconverted(.warning, .position, resource, "fx_rate", from, to, invalid: false, "; not valued")
      case .invalidFX(let from, let to):
        unconverted(.warning, .position, resource, "fx_rate", from, to, invalid: true, "; not valued")
      case .outOfRange:
        finding(
          .error, .valueOutOfRange, .position, resource, "market_value",
          "the value does not fit in 38 digits; not valued")
      case nil: break
      }
      if let price = instrument.price, price.status == .stale {
        finding(
          .warning, .stalePrice, .position, resource, "price",
          "latest price for \(instrument.id) is from \(price.date) (more than \(PriceSelection.freshDays) days old)"
        )
      }
      if let value = converted.value {
        totals.positionsSum.add(value)
      } else {
        totals.unpricedPositions += 1
      }
      var withheld = false
      if let ref = position.externalRef, let problem = ExternalReference.problem(ref) {
        finding(.warning, .invalidExternalRef, .position, resource, "external_ref", "\(problem); withheld")
        withheld = true
      }
      valuedPositions.append(
        ValuedPosition(
          index: index, instrument: instrument, quantity: position.quantity, bookCost: position.bookCost,
          converted: converted, referenceWithheld: withheld, findings: first..<findings.count))
    }
  }

  private mutating func valueCash(_ reference: ReferenceData) {
    let accountID = account.id
    let currency = account.currency
    let cash = self.cash
    for index in cash.indices {
      let balance = cash[index]
      let first = findings.count
      let converted = Valuation.convert(
        balance.balance, currency: balance.currency, accountCurrency: currency, fx: reference.fx)
      var resource: String { "\(accountID)/\(balance.currency)" }
      switch converted.problem {
      case .missingFX(let from, let to):
        unconverted(.warning, .cash, resource, "fx_rate", from, to, invalid: false, "; not valued")
      case .invalidFX(let from, let to):
        unconverted(.warning, .cash, resource, "fx_rate", from, to, invalid: true, "; not valued")
      case .outOfRange:
        finding(.error, .valueOutOfRange, .cash, resource, "value", "the value does not fit in 38 digits")
      case .missingPrice, .invalidPrice, nil: break
      }
      if let value = converted.value { totals.cashSum.add(value) }
      valuedCash.append(
        ValuedCash(
          index: index, balance: balance.balance, converted: converted, findings: first..<findings.count))
    }
  }

  /// All the transactions given, and the day's external flows among them.
  private mutating func valueTransactions(_ reference: ReferenceData) {
    let currency = account.currency
    let transactions = self.transactions
    for index in transactions.indices {
      let transaction = transactions[index]
      let first = findings.count
      let converted = Valuation.convert(
        transaction.amount, currency: transaction.currency, accountCurrency: currency, fx: reference.fx)
      let isFlow = ExternalFlows.isFlow(type: transaction.type, status: transaction.status)
      let leftOut = isFlow ? "; the flow is left out of net_external_flow and the return" : ""
      switch converted.problem {
      case nil:
        if let value = converted.value {
          totals.transactionsSum.add(value)
          if isFlow {
            totals.netFlowSum.add(value)
            if value.signum > 0 { totals.inflowSum.add(value) }
          }
        }
      case .missingFX(let from, let to), .invalidFX(let from, let to):
        let invalid = converted.problem == .invalidFX(from: from, to: to)
        unconverted(
          isFlow ? .error : .warning, .transaction, transaction.id, "amount_account_currency", from, to,
          invalid: invalid, leftOut)
      case .outOfRange:
        finding(
          .error, .valueOutOfRange, .transaction, transaction.id, "amount_account_currency",
          "the converted amount does not fit in 38 digits; not converted" + leftOut)
      case .missingPrice, .invalidPrice: break
      }
      var withheld = false
      if let ref = transaction.externalRef, let problem = ExternalReference.problem(ref) {
        finding(
          .warning, .invalidExternalRef, .transaction, transaction.id, "external_ref", "\(problem); withheld")
        withheld = true
      }
      let instrument = transaction.instrumentID.flatMap { reference.instruments[$0] }
      valuedTransactions.append(
        ValuedTransaction(
          index: index, instrument: instrument, converted: converted, isFlow: isFlow,
          referenceWithheld: withheld, findings: first..<findings.count))
    }
  }

  /// Each total exactly, or empty with `VALUE_OUT_OF_RANGE` when it does not fit in 38 digits.
  private mutating func fitting(_ sum: MoneySum, _ field: String) -> Money? {
    if let money = sum.money { return money }
    finding(
      .error, .valueOutOfRange, .account, account.id, field,
      "\(field) \(sum) does not fit in 38 digits; left empty")
    return nil
  }

  /// The totals, the performance record for the date and its returns.
  private mutating func valueTotals<History: PerformanceHistory>(_ history: History) throws(History.Failure) {
    let accountID = account.id
    totals.positionsValue = fitting(totals.positionsSum, "positions_value")
    totals.cashValue = fitting(totals.cashSum, "cash_value")
    totals.totalValue = fitting(totals.positionsSum.adding(totals.cashSum), "total_value")
    totals.netExternalFlow = fitting(totals.netFlowSum, "net_external_flow")
    // The history keeps values and flows in 64-bit cents: an account beyond that has no
    // performance today (and no history row) rather than failing its firm.
    guard let total = totals.totalValue, let net = totals.netExternalFlow,
      let inflow = totals.inflowSum.money,
      Int64(exactly: total.significand) != nil, Int64(exactly: net.significand) != nil,
      Int64(exactly: inflow.significand) != nil
    else {
      finding(
        .error, .valueOutOfRange, .account, accountID, "return_1d",
        "the account's value or external flows do not fit the performance history (64-bit cents); "
          + "no returns today and no history row for \(dateText)")
      return
    }
    let flows = ExternalFlows(net: net, inflow: inflow)
    let previous = try history.previous(accountID)
    let record = Performance.advance(
      previous: previous, date: date, value: total, flows: flows, opensToday: account.openedOn == date)
    self.record = record
    guard record.kind != .baseline else { return }
    let yearAgo = Performance.oneYearWindowStart(for: date)
    var window: Performance.WindowStart?
    if record.startDate <= yearAgo.adding(days: 1) {
      window = try history.windowStart(accountID, onOrBefore: yearAgo) ?? .origin
    }
    var cashFlows = try history.flows(accountID, after: record.flowOrigin)
    if record.kind == .opening {
      cashFlows = [(date, record.flow)]
    } else if !record.flow.isZero {
      cashFlows.append((date, record.flow))
    }
    let baselineValue = try history.baselineValue(accountID, origin: record.flowOrigin)
    returns = Performance.figures(
      for: record, windowStart: window, cashFlows: cashFlows, baselineValue: baselineValue)
    if record.undefinedReturn {
      finding(
        .warning, .performanceUndefined, .account, accountID, "return_1d",
        "previous value plus inflows is 0 but the value changed; the daily return is undefined")
    }
  }

  // MARK: - Reading it

  /// The position a valued position is of.
  public func position(_ valued: ValuedPosition) -> Position { positions[valued.index] }

  /// The findings of one position, cash balance or transaction (a slice of ``findings``).
  public func findings(_ range: Range<Int>) -> ArraySlice<DataQualityIssue> { findings[range] }

  /// `weight`: the position's market value over ``summedTotal``, 6 places; nil when either is
  /// missing or the total is 0.
  public func weight(of valued: ValuedPosition) -> ExactDecimal? {
    Valuation.weight(marketValue: valued.marketValue, totalValue: summedTotal)
  }

}

/// A position valued in its account's currency.
public struct ValuedPosition: Sendable {
  /// Where the position is in ``AccountValuation/positions``.
  public var index: Int
  /// The instrument, or nil when the reference data does not have it (`UNKNOWN_INSTRUMENT`).
  public var instrument: Instrument?
  /// The quantity held (valued as it is when negative).
  public var quantity: ExactDecimal
  /// `book_cost`, in the account currency.
  public var bookCost: ExactDecimal
  /// The market value in the account currency, the FX conversion used, or why there is none.
  public var converted: ConvertedAmount
  /// Whether the position's external reference is withheld (invalid).
  public var referenceWithheld: Bool
  /// This position's findings in ``AccountValuation/findings``.
  public var findings: Range<Int>

  /// A valued position (``AccountValuation`` makes them; tests and other programs may too).
  public init(
    index: Int, instrument: Instrument?, quantity: ExactDecimal, bookCost: ExactDecimal,
    converted: ConvertedAmount, referenceWithheld: Bool, findings: Range<Int>
  ) {
    self.index = index
    self.instrument = instrument
    self.quantity = quantity
    self.bookCost = bookCost
    self.converted = converted
    self.referenceWithheld = referenceWithheld
    self.findings = findings
  }

  /// The price used: the latest on or before the business date (nil: none, or an unknown
  /// instrument). Its ``SelectedPrice/date`` is `price_date`.
  public var price: SelectedPrice? { instrument?.price }

  /// `price_status`: an unknown instrument has no price either (`MISSING`).
  public var priceStatus: PriceStatus { price?.status ?? .missing }

  /// `fx_rate`, the multiplier used to 10 places; none where no usable price is (MISSING,
  /// INVALID), and none without a usable rate.
  public var fxRate: ExactDecimal? {
    price?.status.isUsable == true ? converted.conversion?.displayRate : nil
  }

  /// `market_value` in the account currency, or nil when not valued.
  public var marketValue: Money? { converted.value }

  /// The market value in the instrument's price currency as quoted (pence for `GBX`):
  /// `round2(quantity × price × quote_factor)`, or nil when not valued there (no usable price,
  /// out of range). Not an extract field; computed when asked.
  public var marketValueInInstrumentCurrency: Money? {
    guard let instrument, let price = instrument.price?.price, !price.isNegative else { return nil }
    let factors = [quantity, price, instrument.quoteFactor]
    let exact = quantity.multiplying(price)?.multiplying(instrument.quoteFactor)
    let value =
      if let exact { FXConversion.identity.convert(exact) } else {
        FXConversion.identity.convert(product: factors)
      }
    guard let value, value.significand.magnitude <= Valuation.largestSignificand else { return nil }
    return value
  }

  /// `unrealised_gain_loss`: market value less book cost, or nil when not valued.
  public var unrealisedGainLoss: Money? {
    marketValue.flatMap { $0.subtracting(bookCost)?.rounded(places: 2) }
  }
}

/// A cash balance converted to its account's currency.
public struct ValuedCash: Sendable {
  /// Where the balance is in ``AccountValuation/cash``.
  public var index: Int
  /// The balance, in its own currency.
  public var balance: ExactDecimal
  /// The value in the account currency, the FX conversion used, or why there is none.
  public var converted: ConvertedAmount
  /// This balance's findings in ``AccountValuation/findings``.
  public var findings: Range<Int>

  /// A converted cash balance.
  public init(index: Int, balance: ExactDecimal, converted: ConvertedAmount, findings: Range<Int>) {
    self.index = index
    self.balance = balance
    self.converted = converted
    self.findings = findings
  }

  /// `fx_rate`, the multiplier used to 10 places, or nil without a usable rate.
  public var fxRate: ExactDecimal? { converted.conversion?.displayRate }

  /// `value` in the account currency, or nil when not converted.
  public var value: Money? { converted.value }
}

/// A transaction converted to its account's currency.
public struct ValuedTransaction: Sendable {
  /// Where the transaction is in ``AccountValuation/transactions``.
  public var index: Int
  /// The instrument it names, when the reference data has it.
  public var instrument: Instrument?
  /// The amount in the account currency, the FX conversion used, or why there is none.
  public var converted: ConvertedAmount
  /// Whether it is an external flow (counted in the net flow when converted).
  public var isFlow: Bool
  /// Whether its external reference is withheld (invalid).
  public var referenceWithheld: Bool
  /// This transaction's findings in ``AccountValuation/findings``.
  public var findings: Range<Int>

  /// A converted transaction.
  public init(
    index: Int, instrument: Instrument?, converted: ConvertedAmount, isFlow: Bool, referenceWithheld: Bool,
    findings: Range<Int>
  ) {
    self.index = index
    self.instrument = instrument
    self.converted = converted
    self.isFlow = isFlow
    self.referenceWithheld = referenceWithheld
    self.findings = findings
  }

  /// `amount_account_currency`, or nil when not converted.
  public var amountInAccountCurrency: Money? { converted.value }

  /// `fx_rate`, the multiplier used to 10 places, or nil without a usable rate.
  public var fxRate: ExactDecimal? { converted.conversion?.displayRate }
}
