import EODCore
import Testing

func d(_ text: String) -> ExactDecimal {
  guard let value = ExactDecimal(text) else { fatalError("bad decimal literal \(text)") }
  return value
}

func day(_ text: String) -> CivilDate {
  guard let value = CivilDate(text) else { fatalError("bad date literal \(text)") }
  return value
}

@Suite struct ExactDecimalTests {
  @Test(arguments: ["0", "-0.5", "1234.5600", "38.2877", "-4553.500", "99999999999999999999.123456789"])
  func parsesPlainNotationAndKeepsItsDigits(_ text: String) throws {
    let value = try #require(ExactDecimal(text))
    #expect(value.description == (text == "-0" ? "0" : text))
  }

  @Test(arguments: [
    "", "-", "+1", "1e5", "1.", ".5", "-.5", "1,000", " 1", "1 ", "1.2.3", "--1", "1-", "0x10", "١",
  ])
  func refusesAnythingElse(_ text: String) {
    #expect(ExactDecimal(text) == nil)
  }

  @Test(arguments: [
    ("0.125", "0.12"), ("0.135", "0.14"), ("-0.125", "-0.12"), ("-0.135", "-0.14"), ("2.5", "2.50"),
    ("0.005", "0.00"), ("0.015", "0.02"), ("1.0049999", "1.00"), ("-2.675", "-2.68"),
  ])
  func roundsHalfToEven(_ input: String, _ expected: String) {
    #expect(d(input).rounded(places: 2).description == expected)
  }

  /// Plain notation against a reading of the digits as a String: every scale, small and
  /// 128-bit significands, both signs, and round trips through `parse`.
  @Test func plainNotationMatchesTheDigitsForEveryScale() throws {
    var generator = SystemRandomNumberGenerator()
    var magnitudes: [UInt128] = [
      0, 1, 9, 10, 99, 100, 101, 999_999, UInt128(UInt64.max), UInt128(UInt64.max) + 1,
    ]
    for _ in 0..<300 { magnitudes.append(UInt128(UInt64.random(in: 0...UInt64.max, using: &generator))) }
    for _ in 0..<60 { magnitudes.append(UInt128.random(in: 0...(UInt128(1) << 126), using: &generator)) }
    for magnitude in magnitudes {
      for scale in 0...ExactDecimal.maxScale {
        for negative in [false, true] {
          let significand = negative ? -Int128(magnitude) : Int128(magnitude)
          let value = ExactDecimal(significand: significand, scale: scale)
          var digits = String(magnitude)
          if digits.count <= scale {
            digits = String(repeating: "0", count: scale + 1 - digits.count) + digits
          }
          if scale > 0 { digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -scale)) }
          let expected = (negative && magnitude != 0 ? "-" : "") + digits
          #expect(value.description == expected)
          var bytes: [UInt8] = []
          value.write(into: &bytes)
          #expect(bytes == Array(expected.utf8))
          #expect(Array(expected.utf8).withUnsafeBufferPointer { ExactDecimal.parse($0) } == value)
        }
      }
    }
  }

  @Test func dividesExactlyBeforeOneRounding() throws {
    // 1 / 1.2650 = 0.790513833992094861660…
    #expect(try #require(d("1").divided(by: d("1.2650"), places: 10)).description == "0.7905138340")
    // 100 / 8 = 12.5 exactly: a tie, to even.
    #expect(try #require(d("100").divided(by: d("8"), places: 0)).description == "12")
    #expect(try #require(d("-100").divided(by: d("8"), places: 0)).description == "-12")
    #expect(d("1").divided(by: d("0"), places: 2) == nil)
  }

  @Test func reportsOverflowInsteadOfTrapping() {
    let huge = d("99999999999999999999999999999999999999")
    #expect(huge.multiplying(d("10")) == nil)
    #expect(huge.adding(huge) == nil)
  }

  @Test func sumsWithoutLosingCents() throws {
    let values = Array(repeating: d("0.10"), count: 10)
    #expect(try #require(ExactDecimal.sum(values)).description == "1.00")
  }
}

@Suite struct ValuationTests {
  func table(_ date: String = "2026-10-05") -> FXTable {
    var fx = FXTable(businessDate: day(date))
    fx.offer(date: day("2026-10-02"), base: "GBP", quote: "USD", rate: d("1.2650"))
    fx.offer(date: day("2026-10-05"), base: "GBP", quote: "USD", rate: d("1.2700"))
    // After the business date: ignored.
    fx.offer(date: day("2026-10-06"), base: "GBP", quote: "USD", rate: d("9.9999"))
    fx.offer(date: day("2026-10-05"), base: "EUR", quote: "USD", rate: d("1.0790"))
    return fx
  }

  @Test func gbxIsPenceConvertedToPoundsBeforeFX() throws {
    let value = Valuation.marketValue(
      quantity: d("14032"), price: d("8490.2221"), quoteFactor: d("1"), priceCurrency: "GBX",
      accountCurrency: "GBP",
      fx: table())
    #expect(value.value?.description == "1191347.97")
    #expect(value.conversion?.displayRate?.description == "1.0000000000")
  }

  @Test func gbxIntoAnotherCurrencyUsesTheSterlingRate() throws {
    let value = Valuation.marketValue(
      quantity: d("100"), price: d("250"), quoteFactor: d("1"), priceCurrency: "GBX", accountCurrency: "USD",
      fx: table())
    #expect(value.value?.description == "317.50")  // 100 × 250p = £250 × 1.27
    #expect(value.conversion?.displayRate?.description == "1.2700000000")
  }

  @Test func quoteFactorScalesBondPrices() {
    let value = Valuation.marketValue(
      quantity: d("28600"), price: d("97.6828"), quoteFactor: d("0.01"), priceCurrency: "GBP",
      accountCurrency: "GBP",
      fx: table())
    #expect(value.value?.description == "27937.28")
  }

  @Test func inverseRateDividesExactlyThenRoundsOnce() throws {
    // USD price into a GBP account: only GBP->USD is quoted, so divide by 1.2700.
    let value = Valuation.marketValue(
      quantity: d("3"), price: d("10.01"), quoteFactor: d("1"), priceCurrency: "USD", accountCurrency: "GBP",
      fx: table())
    #expect(value.value?.description == "23.65")  // 30.03 / 1.27 = 23.6456… -> 23.65
    #expect(value.conversion?.displayRate?.description == "0.7874015748")
  }

  @Test func theLatestRateOnOrBeforeTheDateIsUsed() {
    #expect(table().conversion(from: "GBP", to: "USD") == .direct(d("1.2700")))
    #expect(table("2026-10-02").conversion(from: "GBP", to: "USD") == .direct(d("1.2650")))
  }

  @Test func missingFXLeavesTheRowUnvalued() {
    let value = Valuation.marketValue(
      quantity: d("100"), price: d("87.30"), quoteFactor: d("1"), priceCurrency: "CHF",
      accountCurrency: "GBP",
      fx: table())
    #expect(value.value == nil)
    #expect(value.problem == .missingFX(from: "CHF", to: "GBP"))
  }

  @Test func missingPriceLeavesTheRowUnvalued() {
    let value = Valuation.marketValue(
      quantity: d("100"), price: nil, quoteFactor: d("1"), priceCurrency: "GBP", accountCurrency: "GBP",
      fx: table())
    #expect(value.value == nil)
    #expect(value.problem == .missingPrice)
  }

  @Test func priceStatusIsOKForFiveDaysThenStale() {
    let prices = [(date: day("2026-09-28"), price: d("1.00")), (date: day("2026-10-07"), price: d("2.00"))]
    let onFirst = PriceSelection.select(prices, businessDate: day("2026-10-03"))
    #expect(onFirst?.status == .ok)
    #expect(onFirst?.price == d("1.00"))
    #expect(PriceSelection.select(prices, businessDate: day("2026-10-04"))?.status == .stale)
    #expect(PriceSelection.select(prices, businessDate: day("2026-09-27")) == nil)
    #expect(PriceSelection.select(prices, businessDate: day("2026-10-07"))?.price == d("2.00"))
  }

  @Test func weightIsSixPlacesAndEmptyWhenTheTotalIsZero() {
    #expect(
      Valuation.weight(marketValue: d("50483.06"), totalValue: d("2901570.43"))?.description == "0.017399")
    #expect(Valuation.weight(marketValue: d("1.00"), totalValue: d("0.00")) == nil)
    #expect(Valuation.weight(marketValue: nil, totalValue: d("10.00")) == nil)
  }
}

/// Values whose exact intermediate does not fit in 128 bits (long quantities, prices and rates):
/// computed exactly anyway, rounded once. Expected figures from Python's `decimal` at 200 digits.
@Suite struct WideExactValueTests {
  @Test func longFactorsAreValuedExactly() throws {
    var fx = FXTable(businessDate: day("2026-10-05"))
    fx.offer(date: day("2026-10-05"), base: "NZD", quote: "GBP", rate: d("0.471234567890123456"))
    fx.offer(date: day("2026-10-05"), base: "SGD", quote: "GBP", rate: d("0.5712345678901234"))
    fx.offer(date: day("2026-10-05"), base: "GBP", quote: "AUD", rate: d("2.122083417171234567"))
    fx.offer(date: day("2026-10-05"), base: "GBP", quote: "EUR", rate: d("1.234567890123456789"))
    func value(_ q: String, _ p: String, _ ccy: String, _ account: String = "GBP") -> String? {
      Valuation.marketValue(
        quantity: d(q), price: d(p), quoteFactor: d("1"), priceCurrency: ccy, accountCurrency: account, fx: fx
      ).value?.description
    }
    // 42 digits before the one rounding (direct rates).
    #expect(value("150000.12345678", "1234.12345678", "NZD") == "87234316.88")
    #expect(value("15000000.123456", "101.12345678", "SGD") == "866478219.19")
    // Inverse: divided exactly, then rounded.
    #expect(value("150000.12345678", "1234.12345678", "AUD") == "87234398.70")
    // GBX pence into another currency.
    #expect(value("987654.32109876", "12345.6789012", "GBX", "EUR") == "150534111.16")
    // 1 / a rate of 31 digits, to 10 places: 10^40 does not fit in 128 bits.
    #expect(
      FXConversion.inverse(d("1.234567890123456789012345678901")).displayRate?.description == "0.8100000073")
    // Cash and transactions take the same path.
    let cash = Valuation.convert(d("1234567.123456789012"), currency: "NZD", accountCurrency: "GBP", fx: fx)
    #expect(cash.value?.description == "581770.70")
  }

  @Test func halfEvenTiesBeyond128Bits() throws {
    // 2^-36 × 2^36 = 1 exactly, but 123456.785 × 2^-36 has 39 decimal places: only the wide
    // path can carry it to the tie.
    let small = d("0.000000000014551915228366851806640625")
    let large = d("68719476736")
    #expect(d("123456.785").multiplying(small) == nil)
    #expect(ExactDecimal.roundedProduct([d("123456.785"), small, large], places: 2) == d("123456.78"))
    #expect(ExactDecimal.roundedProduct([d("123456.775"), small, large], places: 2) == d("123456.78"))
    #expect(ExactDecimal.roundedProduct([d("-123456.785"), small, large], places: 2) == d("-123456.78"))
    #expect(ExactDecimal.roundedProduct([d("123456.7851"), small, large], places: 2) == d("123456.79"))
    #expect(ExactDecimal.roundedProduct([d("123456.785"), small], dividedBy: d("0"), places: 2) == nil)
    // A result that does not fit is still refused.
    let big = d("99999999999999999999999999999999999999")
    #expect(ExactDecimal.roundedProduct([big, big], places: 0) == nil)
  }

  @Test func divisionBeyond128BitsIsExact() {
    // 170.12… / 200 = 0.85…: the scaled divisor (200 × 10^36) does not fit in 128 bits.
    let long = ExactDecimal(significand: 170_123_456_789_012_345_678_901_234_567_890_123_457, scale: 36)
    #expect(long.divided(by: d("200"), places: 0) == d("1"))
    #expect(long.divided(by: d("-200"), places: 2) == d("-0.85"))
    // 1 / a 31-digit rate to 10 places: 10^40 does not fit.
    #expect(d("1").divided(by: d("1.234567890123456789012345678901"), places: 10) == d("0.8100000073"))
  }

  @Test func theWidePathAgreesWithThe128BitOne() throws {
    var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
    func next() -> UInt64 {
      seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return seed >> 11
    }
    func decimal() -> ExactDecimal {
      let digits = Int(next() % 18) + 1
      var significand: Int128 = 0
      for _ in 0..<digits { significand = significand * 10 + Int128(next() % 10) }
      if next() % 3 == 0 { significand = -significand }
      return ExactDecimal(significand: significand, scale: Int(next() % 13))
    }
    var compared = 0
    for _ in 0..<3000 {
      let (a, b, c) = (decimal(), decimal(), decimal())
      let places = Int(next() % 9)
      // (`rounded(places:)` keeps fewer places where padding would not fit: not compared.)
      if let fast = a.multiplying(b)?.multiplying(c)?.rounded(places: places), fast.scale == places {
        #expect(
          ExactDecimal.roundedProduct([a, b, c], places: places) == fast,
          "\(a) × \(b) × \(c) places \(places)")
        compared += 1
      }
      if !c.isZero, let fast = a.multiplying(b)?.divided(by: c, places: places), fast.scale == places {
        #expect(
          ExactDecimal.roundedProduct([a, b], dividedBy: c, places: places) == fast, "\(a) × \(b) / \(c)")
        compared += 1
      }
    }
    #expect(compared > 3000)
  }
}

@Suite struct ExternalReferenceTests {
  @Test(arguments: ["A-0000000 A_482", "x", String(repeating: "a", count: 256), "-123", "___"])
  func validReferencesAreCarried(_ reference: String) {
    #expect(ExternalReference.problem(reference) == nil)
    #expect(ExternalReference.validated(reference) == reference)
  }

  @Test(arguments: [
    "", "REF,WITH,COMMAS", "quote\"inside", "=HYPERLINK(\"x\")", String(repeating: "x", count: 257),
    "café-ref",
    "tab\there", "line\nbreak", "semi;colon",
  ])
  func invalidReferencesAreWithheld(_ reference: String) {
    #expect(ExternalReference.problem(reference) != nil)
    #expect(ExternalReference.validated(reference) == nil)
  }

  @Test func nullIsSimplyAbsent() {
    #expect(ExternalReference.validated(nil) == nil)
  }
}
