import EODCore
import Testing

/// A history held in memory: the previous record of each account, and what was asked.
final class FakeHistory: PerformanceHistory {
  var records: [String: PerformanceRecord] = [:]
  var window: Performance.WindowStart?
  var earlierFlows: [(date: CivilDate, flow: Money)] = []
  var baseline: Money?
  private(set) var asked: [String] = []

  init(_ records: [String: PerformanceRecord] = [:]) { self.records = records }

  func previous(_ accountID: String) -> PerformanceRecord? {
    asked.append(accountID)
    return records[accountID]
  }
  func windowStart(_ accountID: String, onOrBefore date: CivilDate) -> Performance.WindowStart? { window }
  func flows(_ accountID: String, after origin: CivilDate) -> [(date: CivilDate, flow: Money)] {
    earlierFlows
  }
  func baselineValue(_ accountID: String, origin: CivilDate) -> Money? { baseline }
}

/// The valuation of one account, rule by rule, without files: reference data and history in memory.
@Suite struct AccountValuationTests {
  static let date = day("2026-10-05")

  /// An account in `currency`, opened a year before the business date unless said otherwise.
  static func account(
    _ currency: String = "GBP", openedOn: CivilDate = day("2025-10-01"), closedOn: CivilDate? = nil,
    externalRef: String? = "ACREF1", clientExternalRef: String? = "CLREF1", clientKnown: Bool = true
  ) -> Account {
    Account(
      id: "AC1", firmID: "FIRM001", clientID: "CL1", wrapper: "ISA", currency: currency, openedOn: openedOn,
      closedOn: closedOn, externalRef: externalRef, clientExternalRef: clientExternalRef,
      clientKnown: clientKnown)
  }

  static func instrument(
    _ id: String = "INS1", currency: String = "GBP", price: String? = "10", priceDate: CivilDate = date,
    quoteFactor: String = "1"
  ) -> Instrument {
    Instrument(
      id: id, isin: "GB00\(id)", sedol: nil, name: "Instrument \(id)", assetClass: "EQUITY",
      currency: currency,
      quoteFactor: d(quoteFactor),
      price: price.map {
        SelectedPrice(
          price: d($0), date: priceDate,
          status: PriceSelection.status(price: d($0), priceDate: priceDate, businessDate: date))
      })
  }

  /// Reference data with `instruments` and `rates` as (base, quote, rate) quoted on the date.
  static func reference(_ instruments: [Instrument], rates: [(String, String, String)] = []) -> ReferenceData
  {
    var fx = FXTable(businessDate: date)
    for (base, quote, rate) in rates { fx.offer(date: date, base: base, quote: quote, rate: d(rate)) }
    return ReferenceData(
      businessDate: date, instruments: Dictionary(uniqueKeysWithValues: instruments.map { ($0.id, $0) }),
      fx: fx)
  }

  static func position(_ instrumentID: String = "INS1", _ quantity: String, bookCost: String = "0")
    -> Position
  {
    Position(instrumentID: instrumentID, quantity: d(quantity), bookCost: d(bookCost), externalRef: nil)
  }

  static func transaction(
    _ id: String, _ type: String, _ amount: String, currency: String = "GBP", status: String = "SETTLED"
  ) -> Transaction {
    Transaction(
      id: id, type: type, status: status, tradeDate: date, settleDate: date, instrumentID: nil, quantity: nil,
      amount: d(amount), currency: currency, externalRef: nil)
  }

  /// Values one position of `quantity` in `instrument` for a GBP account (by default).
  static func valueOne(
    _ instrument: Instrument, quantity: String = "3", rates: [(String, String, String)] = [],
    account: Account = account()
  ) throws -> AccountValuation {
    try AccountValuation.value(
      account: account, positions: [position(instrument.id, quantity)], cash: [], transactions: [],
      reference: reference([instrument], rates: rates), date: date, history: FakeHistory())
  }

  static func codes(_ valuation: AccountValuation) -> [String] { valuation.findings.map(\.code.rawValue) }

  @Test func aPricedPositionIsValuedThroughTheInverseRate() throws {
    let valuation = try Self.valueOne(Self.instrument(currency: "USD"), rates: [("GBP", "USD", "1.25")])
    let position = try #require(valuation.valuedPositions.first)
    #expect(position.marketValue == d("24.00"))
    #expect(position.marketValueInInstrumentCurrency == d("30.00"))
    #expect(position.fxRate == d("0.8000000000"))
    #expect(position.priceStatus == .ok)
    #expect(position.price?.date == Self.date)
    #expect(valuation.totals.positionsValue == d("24.00"))
    #expect(valuation.totals.totalValue == d("24.00"))
    #expect(valuation.totals.unpricedPositions == 0)
    #expect(valuation.findings.isEmpty)
  }

  @Test func aPositionWithoutAPriceIsNotValued() throws {
    let valuation = try Self.valueOne(Self.instrument(price: nil))
    let position = try #require(valuation.valuedPositions.first)
    #expect(position.marketValue == nil)
    #expect(position.priceStatus == .missing)
    #expect(valuation.totals.unpricedPositions == 1)
    #expect(valuation.totals.totalValue == d("0.00"))
    #expect(Self.codes(valuation) == ["MISSING_PRICE"])
    #expect(valuation.findings(position.findings).map(\.resourceID) == ["AC1/INS1"])
  }

  @Test func aZeroPriceValuesAtZeroWithAWarning() throws {
    let valuation = try Self.valueOne(Self.instrument(price: "0"))
    let position = try #require(valuation.valuedPositions.first)
    #expect(position.marketValue == d("0.00"))
    #expect(valuation.totals.unpricedPositions == 0)
    #expect(Self.codes(valuation) == ["ZERO_PRICE"])
    #expect(valuation.findings.first?.severity == .warning)
  }

  @Test func aNegativePriceIsInvalidAndNotValued() throws {
    let valuation = try Self.valueOne(Self.instrument(price: "-1.5"))
    let position = try #require(valuation.valuedPositions.first)
    #expect(position.marketValue == nil)
    #expect(position.priceStatus == .invalid)
    #expect(position.fxRate == nil)
    #expect(valuation.totals.unpricedPositions == 1)
    #expect(Self.codes(valuation) == ["INVALID_PRICE"])
    #expect(valuation.findings.first?.severity == .error)
  }

  @Test func aMissingRateLeavesThePositionUnvalued() throws {
    let valuation = try Self.valueOne(Self.instrument(currency: "USD"))
    #expect(valuation.valuedPositions.first?.marketValue == nil)
    #expect(valuation.totals.unpricedPositions == 1)
    #expect(Self.codes(valuation) == ["MISSING_FX"])
  }

  @Test func aZeroRateIsInvalidUnlessTheInverseIsUsable() throws {
    let invalid = try Self.valueOne(Self.instrument(currency: "USD"), rates: [("USD", "GBP", "0")])
    #expect(invalid.valuedPositions.first?.marketValue == nil)
    #expect(Self.codes(invalid) == ["MISSING_FX", "INVALID_FX"])
    #expect(invalid.findings.map(\.severity) == [.warning, .error])
    let inverse = try Self.valueOne(
      Self.instrument(currency: "USD"), rates: [("USD", "GBP", "0"), ("GBP", "USD", "2")])
    #expect(inverse.valuedPositions.first?.marketValue == d("15.00"))
    #expect(inverse.findings.isEmpty)
  }

  @Test func aNegativeQuantityIsValuedAsItIs() throws {
    let valuation = try Self.valueOne(Self.instrument(), quantity: "-2")
    #expect(valuation.valuedPositions.first?.marketValue == d("-20.00"))
    #expect(valuation.totals.unpricedPositions == 0)
    #expect(Self.codes(valuation) == ["NEGATIVE_QUANTITY"])
  }

  @Test func aPencePriceIsInPoundsTimesTheQuoteFactor() throws {
    let valuation = try Self.valueOne(
      Self.instrument(currency: "GBX", price: "250", quoteFactor: "2"), quantity: "10")
    let position = try #require(valuation.valuedPositions.first)
    #expect(position.marketValue == d("50.00"))
    #expect(position.marketValueInInstrumentCurrency == d("5000.00"))
    #expect(position.fxRate == d("1.0000000000"))
    #expect(valuation.findings.isEmpty)
  }

  @Test func aStalePriceIsUsedWithAWarning() throws {
    let valuation = try Self.valueOne(Self.instrument(priceDate: day("2026-09-28")))
    let position = try #require(valuation.valuedPositions.first)
    #expect(position.priceStatus == .stale)
    #expect(position.marketValue == d("30.00"))
    #expect(Self.codes(valuation) == ["STALE_PRICE"])
  }

  @Test func anUnknownInstrumentIsAnErrorAndUnpriced() throws {
    let valuation = try AccountValuation.value(
      account: Self.account(), positions: [Self.position("NOPE", "1")], cash: [], transactions: [],
      reference: Self.reference([]), date: Self.date, history: FakeHistory())
    #expect(valuation.valuedPositions.first?.instrument == nil)
    #expect(valuation.totals.unpricedPositions == 1)
    #expect(Self.codes(valuation) == ["UNKNOWN_INSTRUMENT"])
  }

  @Test func aValueBeyond38DigitsIsLeftEmpty() throws {
    let valuation = try Self.valueOne(
      Self.instrument(price: "99999999999999999999"), quantity: "99999999999999999999")
    #expect(valuation.valuedPositions.first?.marketValue == nil)
    #expect(valuation.totals.unpricedPositions == 1)
    #expect(Self.codes(valuation) == ["VALUE_OUT_OF_RANGE"])
  }

  @Test func cashIsConvertedAndAddedToTheTotal() throws {
    let valuation = try AccountValuation.value(
      account: Self.account(), positions: [Self.position("INS1", "1")],
      cash: [CashBalance(currency: "EUR", balance: d("10")), CashBalance(currency: "JPY", balance: d("5"))],
      transactions: [], reference: Self.reference([Self.instrument()], rates: [("EUR", "GBP", "0.5")]),
      date: Self.date, history: FakeHistory())
    #expect(valuation.valuedCash.map(\.value) == [d("5.00"), nil])
    #expect(valuation.totals.cashValue == d("5.00"))
    #expect(valuation.totals.totalValue == d("15.00"))
    #expect(Self.codes(valuation) == ["MISSING_FX"])
    #expect(valuation.findings.first?.resourceType == .cash)
    let weight = valuation.weight(of: try #require(valuation.valuedPositions.first))
    #expect(weight == d("0.666667"))
  }

  @Test func theDaysExternalFlowsAreTheConvertedFlowsNotCancelled() throws {
    let transactions = [
      Self.transaction("T1", "DEPOSIT", "100"),
      Self.transaction("T2", "WITHDRAWAL", "-30", currency: "USD"),
      Self.transaction("T3", "DEPOSIT", "1000", status: "CANCELLED"),
      Self.transaction("T4", "BUY", "-7"),
      Self.transaction("T5", "TRANSFER_IN", "50", currency: "CHF"),
    ]
    let valuation = try AccountValuation.value(
      account: Self.account(), positions: [], cash: [], transactions: transactions,
      reference: Self.reference([], rates: [("GBP", "USD", "1.25")]), date: Self.date, history: FakeHistory())
    #expect(valuation.valuedTransactions.map(\.isFlow) == [true, true, false, false, true])
    #expect(valuation.totals.netExternalFlow == d("76.00"))
    #expect(valuation.totals.inflowSum.money == d("100.00"))
    // Every converted amount, flow or not, is in the control total.
    #expect(valuation.totals.transactionsSum.money == d("1069.00"))
    // The unconvertible flow is left out, as an error.
    #expect(Self.codes(valuation) == ["MISSING_FX"])
    #expect(valuation.findings.first?.severity == .error)
    #expect(valuation.findings.first?.resourceID == "T5")
    #expect(valuation.record?.flow == d("76.00"))
  }

  @Test func anAccountOpenedTodayStartsFromZero() throws {
    let valuation = try AccountValuation.value(
      account: Self.account(openedOn: Self.date), positions: [Self.position("INS1", "11")], cash: [],
      transactions: [Self.transaction("T1", "DEPOSIT", "100")],
      reference: Self.reference([Self.instrument()]),
      date: Self.date, history: FakeHistory())
    let record = try #require(valuation.record)
    #expect(record.kind == .opening)
    #expect(record.startDate == Self.date)
    // (110 - 0 - 100) / (0 + 100)
    #expect(valuation.returns.daily == 0.1)
    #expect(valuation.returns.startDate == Self.date)
  }

  @Test func anAccountFirstSeenAfterItOpenedIsABaseline() throws {
    let valuation = try Self.valueOne(Self.instrument())
    #expect(valuation.record?.kind == .baseline)
    #expect(valuation.returns == .empty)
  }

  @Test func thePreviousRecordFromTheHistoryDrivesTheReturns() throws {
    let yesterday = day("2026-10-02")
    let previous = Performance.advance(
      previous: nil, date: yesterday, value: d("100.00"), flows: .none, opensToday: false)
    let history = FakeHistory(["AC1": previous])
    let valuation = try AccountValuation.value(
      account: Self.account(), positions: [Self.position("INS1", "11")], cash: [], transactions: [],
      reference: Self.reference([Self.instrument()]), date: Self.date, history: history)
    #expect(history.asked == ["AC1"])
    let record = try #require(valuation.record)
    #expect(record.kind == .regular)
    #expect(record.value == d("110.00"))
    #expect(valuation.returns.daily == 0.1)
    #expect(valuation.returns.startDate == day("2026-10-03"))
    #expect(valuation.findings.isEmpty)
  }

  @Test func aZeroPreviousValueWithAChangeHasAnUndefinedReturn() throws {
    let previous = Performance.advance(
      previous: nil, date: day("2026-10-02"), value: d("0.00"), flows: .none, opensToday: false)
    let valuation = try AccountValuation.value(
      account: Self.account(), positions: [Self.position("INS1", "1")], cash: [], transactions: [],
      reference: Self.reference([Self.instrument()]), date: Self.date, history: FakeHistory(["AC1": previous])
    )
    #expect(valuation.returns.daily == nil)
    #expect(Self.codes(valuation) == ["PERFORMANCE_UNDEFINED"])
  }

  @Test func anAccountNotShownHasTransactionsButNoValueNorHistoryRead() throws {
    let history = FakeHistory()
    let valuation = try AccountValuation.value(
      account: Self.account(closedOn: day("2026-10-01")), positions: [Self.position("INS1", "1")], cash: [],
      transactions: [Self.transaction("T1", "WITHDRAWAL", "-5")],
      reference: Self.reference([Self.instrument()]),
      date: Self.date, history: history)
    #expect(!valuation.isShown)
    #expect(valuation.valuedPositions.isEmpty)
    #expect(valuation.valuedTransactions.count == 1)
    #expect(valuation.totals.totalValue == nil)
    #expect(valuation.record == nil)
    #expect(history.asked.isEmpty)
  }

  @Test func invalidReferencesAreWithheldAndAnUnknownClientIsAnError() throws {
    var position = Self.position("INS1", "1")
    position.externalRef = "bad;ref"
    let valuation = try AccountValuation.value(
      account: Self.account(externalRef: "", clientExternalRef: nil, clientKnown: false),
      positions: [position],
      cash: [], transactions: [], reference: Self.reference([Self.instrument()]), date: Self.date,
      history: FakeHistory())
    #expect(valuation.accountReference == nil)
    #expect(valuation.valuedPositions.first?.referenceWithheld == true)
    #expect(Self.codes(valuation) == ["INVALID_EXTERNAL_REF", "UNKNOWN_CLIENT", "INVALID_EXTERNAL_REF"])
    #expect(valuation.findings.map(\.resourceType) == [.account, .account, .position])
  }

  @Test func revaluingInPlaceForgetsThePreviousAccount() throws {
    var valuation = try Self.valueOne(Self.instrument(price: nil))
    try valuation.revalue(
      account: Self.account(), positions: [Self.position("INS1", "2")], cash: [], transactions: [],
      reference: Self.reference([Self.instrument()]), date: Self.date, history: FakeHistory())
    #expect(valuation.findings.isEmpty)
    #expect(valuation.totals.unpricedPositions == 0)
    #expect(valuation.totals.totalValue == d("20.00"))
  }
}
