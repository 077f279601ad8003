import EODCore
import Testing

/// Values a ledger should not hold (contract 1.1) and sums at any size.
@Suite struct LedgerValuesTests {
  func fx(_ quotes: [(String, String, String)]) -> FXTable {
    var table = FXTable(businessDate: day("2026-10-05"))
    for (base, quote, rate) in quotes {
      table.offer(date: day("2026-10-05"), base: base, quote: quote, rate: d(rate))
    }
    return table
  }

  @Test func aNegativePriceIsInvalidAndNotValued() {
    let selected = PriceSelection.select([(day("2026-10-05"), d("-1.50"))], businessDate: day("2026-10-05"))
    #expect(selected?.status == .invalid)
    #expect(selected?.status.isUsable == false)
    #expect(
      PriceSelection.status(price: d("-0.01"), priceDate: day("2026-09-01"), businessDate: day("2026-10-05"))
        == .invalid)
    let value = Valuation.marketValue(
      quantity: d("10"), price: d("-1.50"), quoteFactor: d("1"), priceCurrency: "GBP", accountCurrency: "GBP",
      fx: fx([]))
    #expect(value.value == nil)
    #expect(value.problem == .invalidPrice)
  }

  @Test func aZeroPriceValuesAtZeroWithAWarning() {
    #expect(
      PriceSelection.status(price: d("0"), priceDate: day("2026-10-05"), businessDate: day("2026-10-05"))
        == .ok)
    let value = Valuation.marketValue(
      quantity: d("10"), price: d("0.00"), quoteFactor: d("1"), priceCurrency: "GBP", accountCurrency: "GBP",
      fx: fx([]))
    #expect(value.value?.description == "0.00")
    #expect(value.problem == nil)
    #expect(PositionWarning.warnings(quantity: d("10"), price: d("0.00")) == [.zeroPrice])
  }

  @Test func aNegativeQuantityIsValuedWithAWarning() {
    let value = Valuation.marketValue(
      quantity: d("-10"), price: d("2.25"), quoteFactor: d("1"), priceCurrency: "GBP", accountCurrency: "GBP",
      fx: fx([]))
    #expect(value.value?.description == "-22.50")
    #expect(PositionWarning.warnings(quantity: d("-10"), price: d("2.25")) == [.negativeQuantity])
    #expect(PositionWarning.warnings(quantity: d("10"), price: d("2.25")).isEmpty)
  }

  @Test(arguments: ["0", "-1", "-0.0001"])
  func aDirectRateAtOrBelowZeroFallsBackToTheInverse(_ rate: String) {
    let table = fx([("USD", "GBP", rate), ("GBP", "USD", "1.25")])
    #expect(table.conversion(from: "USD", to: "GBP") == .inverse(d("1.25")))
    let value = Valuation.convert(d("100"), currency: "USD", accountCurrency: "GBP", fx: table)
    #expect(value.value?.description == "80.00")
    #expect(value.problem == nil)
  }

  @Test(arguments: ["0", "-1"])
  func aDirectRateAtOrBelowZeroWithoutAnInverseIsInvalidFX(_ rate: String) {
    let table = fx([("USD", "GBP", rate)])
    #expect(table.conversion(from: "USD", to: "GBP") == nil)
    #expect(table.hasUnusableRate(from: "USD", to: "GBP"))
    let value = Valuation.convert(d("100"), currency: "USD", accountCurrency: "GBP", fx: table)
    #expect(value.value == nil)
    #expect(value.problem == .invalidFX(from: "USD", to: "GBP"))
    // Both directions unusable: still INVALID_FX; none at all: MISSING_FX.
    #expect(fx([("USD", "GBP", rate), ("GBP", "USD", "-2")]).conversion(from: "USD", to: "GBP") == nil)
    let none = Valuation.convert(d("100"), currency: "CHF", accountCurrency: "GBP", fx: table)
    #expect(none.problem == .missingFX(from: "CHF", to: "GBP"))
  }

  @Test func anInverseRateBelowZeroIsInvalidToo() {
    let value = Valuation.convert(
      d("100"), currency: "USD", accountCurrency: "GBP", fx: fx([("GBP", "USD", "-1.25")]))
    #expect(value.problem == .invalidFX(from: "USD", to: "GBP"))
  }

  @Test func aValueBeyond38DigitsAtTwoPlacesIsOutOfRange() {
    // A 38-digit whole amount needs 40 digits at 2 places: out of range, never shown at scale 0.
    let whole = Valuation.convert(
      d("99999999999999999999999999999999999999"), currency: "GBP", accountCurrency: "GBP", fx: fx([]))
    #expect(whole.value == nil)
    #expect(whole.problem == .outOfRange)
    let fits = Valuation.convert(
      d("999999999999999999999999999999999999.99"), currency: "GBP", accountCurrency: "GBP", fx: fx([]))
    #expect(fits.value?.description == "999999999999999999999999999999999999.99")
    // 39 digits at 2 places fit in 128 bits but not in 38 digits.
    let over = Valuation.marketValue(
      quantity: d("999999999999999999999999999999999999.99"), price: d("2"), quoteFactor: d("1"),
      priceCurrency: "GBP", accountCurrency: "GBP", fx: fx([]))
    #expect(over.problem == .outOfRange)
  }

  @Test func sumsAreExactPast64BitsAnd38Digits() {
    let big = d("999999999999999999999999999999999999.99")  // 38 digits
    var sum = MoneySum()
    sum.add(big)
    #expect(sum.money == big)
    sum.add(big)
    #expect(sum.money == nil)  // 39 digits: no row can show it
    #expect(sum.description == "1999999999999999999999999999999999999.98")
    for _ in 0..<1000 { sum.add(big) }
    #expect(sum.description == "1001999999999999999999999999999999999989.98")
    // Past 2^127 hundredths and back down by negatives: exact all the way.
    for _ in 0..<1002 { sum.add(big.negated()) }
    #expect(sum.isZero)
    #expect(sum.description == "0.00")
    // 38-digit whole amounts (scale 0) are scaled up in 256 bits.
    var whole = MoneySum()
    whole.add(d("99999999999999999999999999999999999999"))
    whole.add(d("99999999999999999999999999999999999999"))
    #expect(whole.description == "199999999999999999999999999999999999998.00")
    // Many rows past 2^63 cents.
    var cents = MoneySum()
    for _ in 0..<3 { cents.add(d("50000000000000000.01")) }
    #expect(cents.money?.description == "150000000000000000.03")
    var negative = MoneySum(d("-0.05"))
    #expect(negative.description == "-0.05")
    negative.add(d("-12345678901234567890123456789012345678"))
    #expect(negative.description == "-12345678901234567890123456789012345678.05")
    #expect(negative.isNegative)
  }
}
