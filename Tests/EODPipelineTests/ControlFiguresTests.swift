import EODCore
import Testing

@testable import EODPipeline

/// A file's control figures per account currency, whatever order the accounts' currencies come
/// in (the last currency used is tried first, the others found by a search).
@Suite struct ControlFiguresTests {
  @Test func figuresPerCurrencyAddUpWhateverTheOrderOfCurrencies() throws {
    var figures = ControlFigures()
    var expected: [String: (total: Int, rows: Int)] = [:]
    var accounts = 0
    var grand = 0
    // Runs of one currency, a return to an earlier one, a new one, accounts without rows.
    let accountsSeen: [(String, Int, Int)] = [
      ("GBP", 100, 2), ("GBP", 250, 1), ("USD", 7, 3), ("GBP", -50, 1), ("EUR", 1, 1), ("USD", 3, 0),
      ("USD", 10, 2), ("EUR", 4, 5), ("GBP", 5, 1),
    ]
    for (currency, cents, rows) in accountsSeen {
      let amount = MoneySum(Money(significand: Int128(cents), scale: 2))
      figures.add(amount, rows: rows, currency: currency)
      guard rows > 0 else { continue }
      accounts += 1
      grand += cents
      expected[currency, default: (0, 0)].total += cents
      expected[currency, default: (0, 0)].rows += rows
    }
    let byCurrency = figures.byCurrency
    #expect(Set(byCurrency.keys) == Set(expected.keys))
    for (currency, want) in expected {
      #expect(byCurrency[currency]?.rows == want.rows, "\(currency)")
      #expect(
        byCurrency[currency]?.total == MoneySum(Money(significand: Int128(want.total), scale: 2)),
        "\(currency)")
    }
    #expect(figures.accounts == accounts)
    #expect(figures.total == MoneySum(Money(significand: Int128(grand), scale: 2)))
    // The same accounts in another order give equal figures.
    var reordered = ControlFigures()
    for (currency, cents, rows) in accountsSeen.sorted(by: { $0.0 < $1.0 }) {
      reordered.add(MoneySum(Money(significand: Int128(cents), scale: 2)), rows: rows, currency: currency)
    }
    #expect(reordered == figures)
  }

  /// Many currencies in a random order, with long runs and quick switches (the current one kept
  /// in the struct, the others parked and taken back): every currency's figures, the accounts
  /// and the total are those of a plain dictionary of the same accounts.
  @Test func figuresMatchADictionaryOverRandomSwitchesOfCurrency() {
    var random = SystemRandomNumberGenerator()
    let codes = ["GBP", "USD", "EUR", "JPY", "CHF", "A-CURRENCY-NAME-LONGER-THAN-FIFTEEN-BYTES"]
    for _ in 0..<20 {
      var figures = ControlFigures()
      var expected: [String: (total: MoneySum, rows: Int)] = [:]
      var accounts = 0
      var currency = codes[0]
      for _ in 0..<500 {
        if Int.random(in: 0..<4, using: &random) == 0 {
          currency = codes.randomElement(using: &random) ?? "GBP"
        }
        let rows = Int.random(in: 0..<4, using: &random)
        let cents = Int128(Int64.random(in: -1_000_000_000...1_000_000_000, using: &random))
        let amount = Bool.random(using: &random) ? MoneySum(Money(significand: cents, scale: 2)) : nil
        figures.add(amount, rows: rows, currency: currency)
        guard rows > 0 else { continue }
        accounts += 1
        expected[currency, default: (MoneySum(), 0)].total.add(amount ?? MoneySum())
        expected[currency, default: (MoneySum(), 0)].rows += rows
      }
      let byCurrency = figures.byCurrency
      #expect(Set(byCurrency.keys) == Set(expected.keys))
      for (code, want) in expected {
        #expect(byCurrency[code]?.total == want.total && byCurrency[code]?.rows == want.rows, "\(code)")
      }
      #expect(figures.accounts == accounts)
      #expect(figures.total == expected.values.reduce(MoneySum()) { $0.adding($1.total) })
    }
  }
}
