import EODCore
import Foundation
import Testing

/// The worked example of the DocC catalog (Sources/EODCore/EODCore.docc/ValuingAnAccount.md) is
/// this test's code: the lines between the `article` markers below are the article's code block,
/// character for character (`articleIsThisCode` checks it), so the example cannot rot.
@Suite struct DocumentationExampleTests {
  @Test("The article's example values an account over two days and computes its returns")
  func valueAnAccountAndComputeItsReturns() throws {
    // article: begin
    struct BadLiteral: Error { var text: String }
    func decimal(_ text: String) throws -> ExactDecimal {
      guard let value = ExactDecimal(text) else { throw BadLiteral(text: text) }
      return value
    }
    func date(_ text: String) throws -> CivilDate {
      guard let value = CivilDate(text) else { throw BadLiteral(text: text) }
      return value
    }

    /// A holding: units of an instrument priced in `currency`, with its price history.
    struct Holding {
      var quantity: ExactDecimal
      var currency: String
      var quoteFactor: ExactDecimal
      var prices: [(date: CivilDate, price: ExactDecimal)]
    }

    /// The account's value at the close of `day`: each holding at its latest price on or before
    /// `day`, converted and rounded once to 2 places, plus the cash; and what could not be valued.
    func accountValue(
      on day: CivilDate, holdings: [Holding], cash: [(currency: String, balance: Money)],
      accountCurrency: String, fx: FXTable
    ) -> (total: MoneySum, problems: [ValuationProblem]) {
      var total = MoneySum()
      var problems: [ValuationProblem] = []
      for holding in holdings {
        let price = PriceSelection.select(holding.prices, businessDate: day)
        let value = Valuation.marketValue(
          quantity: holding.quantity, price: price?.price, quoteFactor: holding.quoteFactor,
          priceCurrency: holding.currency, accountCurrency: accountCurrency, fx: fx)
        if let money = value.value { total.add(money) }
        if let problem = value.problem { problems.append(problem) }
      }
      for (currency, balance) in cash {
        let value = Valuation.convert(balance, currency: currency, accountCurrency: accountCurrency, fx: fx)
        if let money = value.value { total.add(money) }
        if let problem = value.problem { problems.append(problem) }
      }
      return (total, problems)
    }

    // Day 1: a sterling account holds US shares (priced in dollars) and UK shares (priced in pence).
    let day1 = try date("2026-10-01")
    var fx1 = FXTable(businessDate: day1)
    fx1.offer(date: day1, base: "GBP", quote: "USD", rate: try decimal("1.25"))
    var usShares = Holding(
      quantity: try decimal("100"), currency: "USD", quoteFactor: .one,
      prices: [(try date("2026-09-30"), try decimal("10.00")), (day1, try decimal("10.50"))])
    var ukShares = Holding(
      quantity: try decimal("250"), currency: "GBX", quoteFactor: .one,
      prices: [(day1, try decimal("412.5"))])
    let close1 = accountValue(
      on: day1, holdings: [usShares, ukShares], cash: [("GBP", try decimal("500.00"))],
      accountCurrency: "GBP", fx: fx1)
    // 100 × 10.50 USD / 1.25 = 840.00, 250 × 412.5 GBX = 1031.25, cash 500.00: 2371.25 GBP.
    guard let value1 = close1.total.money else { throw BadLiteral(text: close1.total.description) }

    // The account opened before its history starts: day 1 is its baseline (no return yet).
    let record1 = Performance.advance(
      previous: nil, date: day1, value: value1, flows: .none, opensToday: false)

    // Day 2, the next business day: prices move, the pound weakens, the client deposits 100.00.
    let day2 = BusinessCalendar.weekendsOnly.nextBusinessDay(after: day1)
    var fx2 = FXTable(businessDate: day2)
    fx2.offer(date: day2, base: "GBP", quote: "USD", rate: try decimal("1.20"))
    usShares.prices.append((day2, try decimal("10.80")))
    ukShares.prices.append((day2, try decimal("420")))
    let close2 = accountValue(
      on: day2, holdings: [usShares, ukShares], cash: [("GBP", try decimal("600.00"))],
      accountCurrency: "GBP", fx: fx2)
    // 900.00 + 1050.00 + 600.00 = 2550.00 GBP.
    guard let value2 = close2.total.money else { throw BadLiteral(text: close2.total.description) }

    // A deposit is an external flow: it is not performance.
    let deposit = try decimal("100.00")
    let record2 = Performance.advance(
      previous: record1, date: day2, value: value2, flows: ExternalFlows(net: deposit, inflow: deposit),
      opensToday: false)
    let returns = Performance.figures(
      for: record2, windowStart: nil, cashFlows: [(day2, deposit)], baselineValue: record1.value)
    // Daily (time-weighted): (2550.00 - 2371.25 - 100.00) / (2371.25 + 100.00) = 3.19 %.
    let daily = returns.daily.flatMap { RatioFormat.fixed($0, places: 8) }  // "0.03186646"
    // Money-weighted (XIRR over the day): (2550.00 - 100.00) / 2371.25 - 1 = 3.32 %.
    let moneyWeighted = returns.moneyWeighted.flatMap { RatioFormat.fixed($0, places: 8) }  // "0.03321033"
    // article: end

    #expect(close1.total.description == "2371.25")
    #expect(close1.problems.isEmpty)
    #expect(record1.kind == .baseline)
    #expect(close2.total.description == "2550.00")
    #expect(close2.problems.isEmpty)
    #expect(record2.kind == .regular)
    #expect(daily == "0.03186646")
    #expect(moneyWeighted == "0.03321033")
    // One day of performance: month to date and since inception are the day's return.
    #expect(returns.monthToDate.flatMap { RatioFormat.fixed($0, places: 8) } == daily)
    #expect(returns.inceptionToDate.flatMap { RatioFormat.fixed($0, places: 8) } == daily)
    #expect(returns.startDate == day2)
  }

  /// The code block of the article, without its `import EODCore` line.
  static func articleCode() throws -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let article = try String(
      contentsOf: root.appendingPathComponent("Sources/EODCore/EODCore.docc/ValuingAnAccount.md"),
      encoding: .utf8)
    let blocks = article.components(separatedBy: "```swift\n")
    try #require(blocks.count == 2, "the article has one swift code block")
    let block = try #require(blocks[1].components(separatedBy: "\n```").first)
    let prefix = "import EODCore\n\n"
    try #require(block.hasPrefix(prefix), "the article's code starts with `import EODCore`")
    return String(block.dropFirst(prefix.count))
  }

  /// The lines of this file between the markers, less the test body's indentation.
  static func testCode() throws -> String {
    let source = try String(contentsOfFile: #filePath, encoding: .utf8)
    let lines = source.components(separatedBy: "\n")
    let begin = try #require(lines.firstIndex { $0.hasSuffix("// article: begin") })
    let end = try #require(lines.firstIndex { $0.hasSuffix("// article: end") })
    return lines[(begin + 1)..<end].map { $0.hasPrefix("    ") ? String($0.dropFirst(4)) : $0 }
      .joined(separator: "\n")
  }

  @Test("The article's code block is the example test's code, line for line")
  func articleIsThisCode() throws {
    let article = try Self.articleCode().components(separatedBy: "\n")
    let test = try Self.testCode().components(separatedBy: "\n")
    for (index, (a, t)) in zip(article, test).enumerated() where a != t {
      Issue.record(
        "line \(index + 1) of the article's code differs from the test:\n  article: \(a)\n  test:    \(t)")
      return
    }
    #expect(
      article.count == test.count, "the article's code has \(article.count) lines, the test's \(test.count)")
  }
}
