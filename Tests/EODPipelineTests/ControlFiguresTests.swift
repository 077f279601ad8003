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
}
