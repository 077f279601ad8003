import EODCore
import EODRender
import Foundation
import Testing

/// History for the row writers' valuation: a previous record, a 1Y window start, earlier flows.
private struct KnownHistory: PerformanceHistory {
  var record: PerformanceRecord
  func previous(_ accountID: String) -> PerformanceRecord? { record }
  func windowStart(_ accountID: String, onOrBefore date: CivilDate) -> Performance.WindowStart? {
    Performance.WindowStart(index: 1.05, zeroFactors: 0)
  }
  func flows(_ accountID: String, after origin: CivilDate) -> [(date: CivilDate, flow: Money)] {
    [(CivilDate("2025-01-10") ?? record.date, ExactDecimal(significand: 2000, scale: 2))]
  }
  func baselineValue(_ accountID: String, origin: CivilDate) -> Money? {
    ExactDecimal(significand: 3000, scale: 2)
  }
}

/// Each row writer's columns, by field name, for every template in `templates/`: every field of
/// a writer has a value of its own in the valuation below (all different), and each template
/// column must show the value of the field it names. A column added to, dropped from or moved in
/// a writer or a field list without the other fails here.
@Suite struct RowWriterTests {
  static func decimal(_ text: String) -> ExactDecimal {
    guard let value = ExactDecimal(text) else { fatalError("bad decimal literal \(text)") }
    return value
  }
  static func date(_ text: String) -> CivilDate {
    guard let value = CivilDate(text) else { fatalError("bad date literal \(text)") }
    return value
  }

  static let businessDate = date("2026-10-05")
  static let context = RowContext(date: businessDate, firmID: "FIRM001", firmName: "Firm One Ltd")

  /// One account with one position, one cash balance and one transaction, every value distinct.
  static func valuation() throws -> AccountValuation {
    let instrument = Instrument(
      id: "INS1", isin: "GB00INS1", sedol: "SED1", name: "Instrument One", assetClass: "EQUITY",
      currency: "USD",
      quoteFactor: decimal("0.5"),
      price: SelectedPrice(price: decimal("40"), date: date("2026-10-02"), status: .ok))
    var fx = FXTable(businessDate: businessDate)
    fx.offer(date: businessDate, base: "GBP", quote: "USD", rate: decimal("1.25"))
    fx.offer(date: businessDate, base: "EUR", quote: "GBP", rate: decimal("0.9"))
    let account = Account(
      id: "AC1", firmID: "FIRM001", clientID: "CL1", wrapper: "ISA", currency: "GBP",
      openedOn: date("2024-01-15"),
      closedOn: date("2026-12-31"), externalRef: "ACREF", clientExternalRef: "CLREF", clientKnown: true)
    let previous = PerformanceRecord(
      date: date("2026-10-02"), kind: .regular, value: decimal("50.00"), flow: decimal("0.00"),
      flowIn: decimal("0.00"), dailyReturn: 0.01, undefinedReturn: false, growthMonth: 1.1,
      growthQuarter: 1.2,
      growthYear: 1.3, index: 1.4, zeroFactors: 0, startDate: date("2024-06-03"),
      flowOrigin: date("2024-06-02"))
    return try AccountValuation.value(
      account: account,
      positions: [
        Position(instrumentID: "INS1", quantity: decimal("3"), bookCost: decimal("41"), externalRef: "POSREF")
      ],
      cash: [CashBalance(currency: "EUR", balance: decimal("20"))],
      transactions: [
        Transaction(
          id: "T1", type: "DEPOSIT", status: "SETTLED", tradeDate: date("2026-10-04"),
          settleDate: date("2026-10-06"),
          instrumentID: "INS1", quantity: decimal("2"), amount: decimal("10"), currency: "USD",
          externalRef: "TXREF")
      ],
      reference: ReferenceData(businessDate: businessDate, instruments: ["INS1": instrument], fx: fx),
      date: businessDate, history: KnownHistory(record: previous))
  }

  static func ratio(_ x: Double?) -> String? { x.flatMap { RatioFormat.fixed($0, places: 8) } }

  /// What each field of each extract must show for ``valuation()``, by name.
  static func expected(_ valuation: AccountValuation) -> [ExtractKind: [String: String?]] {
    let account: [String: String?] = [
      "business_date": "2026-10-05", "firm_id": "FIRM001", "client_id": "CL1", "client_external_ref": "CLREF",
      "account_id": "AC1", "account_external_ref": "ACREF", "wrapper": "ISA", "account_currency": "GBP",
      "firm_name": "Firm One Ltd",
    ]
    let returns = valuation.returns
    return [
      .positions: account.merging([
        "instrument_id": "INS1", "isin": "GB00INS1", "sedol": "SED1", "instrument_name": "Instrument One",
        "asset_class": "EQUITY", "quantity": "3", "price": "40", "price_currency": "USD",
        "price_date": "2026-10-02",
        "price_status": "OK", "fx_rate": "0.8000000000", "market_value": "48.00", "book_cost": "41",
        "unrealised_gain_loss": "7.00", "weight": "0.727273", "position_external_ref": "POSREF",
        "quote_factor": "0.5",
      ]) { $1 },
      .cash: account.merging([
        "currency": "EUR", "balance": "20", "fx_rate": "0.9000000000", "value": "18.00",
      ]) { $1 },
      .transactions: account.filter { $0.key != "wrapper" }.merging([
        "transaction_id": "T1", "transaction_external_ref": "TXREF", "type": "DEPOSIT", "status": "SETTLED",
        "trade_date": "2026-10-04", "settle_date": "2026-10-06", "instrument_id": "INS1", "isin": "GB00INS1",
        "quantity": "2", "amount": "10", "currency": "USD", "amount_account_currency": "8.00",
        "fx_rate": "0.8000000000",
      ]) { $1 },
      .valuations: account.merging([
        "positions_value": "48.00", "cash_value": "18.00", "total_value": "66.00", "unpriced_positions": "0",
        "net_external_flow": "8.00", "return_1d": ratio(returns.daily),
        "return_mtd": ratio(returns.monthToDate),
        "return_qtd": ratio(returns.quarterToDate), "return_ytd": ratio(returns.yearToDate),
        "return_1y": ratio(returns.oneYear), "return_itd": ratio(returns.inceptionToDate),
        "return_itd_annualised": ratio(returns.inceptionToDateAnnualised),
        "mwr_itd": ratio(returns.moneyWeighted),
        "mwr_itd_annualised": ratio(returns.moneyWeightedAnnualised), "performance_start_date": "2024-06-03",
        "opened_on": "2024-01-15", "closed_on": "2026-12-31",
      ]) { $1 },
      .dataQuality: [
        "business_date": "2026-10-05", "firm_id": "FIRM001", "severity": "WARNING", "code": "MISSING_PRICE",
        "resource_type": "POSITION", "resource_id": "AC1/INS1", "field": "price", "message": "no price here",
      ],
    ]
  }

  /// The fields a writer writes, in its order.
  static func fields(_ kind: ExtractKind) -> [String] {
    switch kind {
    case .positions: return PositionsRowWriter.fields
    case .cash: return CashRowWriter.fields
    case .transactions: return TransactionsRowWriter.fields
    case .valuations: return ValuationsRowWriter.fields
    case .dataQuality: return DataQualityRowWriter.fields
    }
  }

  /// The writer's rows for `valuation` (after its fields were checked against the field list: a
  /// row of another length would stop the test process).
  static func rows(_ kind: ExtractKind, _ valuation: AccountValuation) -> RowBuffer {
    var rows = RowBuffer(fieldCount: kind.fields.count)
    switch kind {
    case .positions: PositionsRowWriter(context: context).write(valuation, into: &rows)
    case .cash: CashRowWriter(context: context).write(valuation, into: &rows)
    case .transactions: TransactionsRowWriter(context: context).write(valuation, into: &rows)
    case .valuations: ValuationsRowWriter(context: context).write(valuation, into: &rows)
    case .dataQuality:
      let finding = DataQualityIssue(
        severity: .warning, code: .missingPrice, resourceType: .position, resourceID: "AC1/INS1",
        field: "price",
        message: "no price here")
      DataQualityRowWriter(context: context).write(finding, into: &rows)
    }
    return rows
  }

  /// Every template in the repository's `templates/` folder.
  static func templates() throws -> [Template] {
    let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("templates")
    let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter {
      $0.hasSuffix(".tmpl")
    }
    return try names.sorted().map { name in
      let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
      return try Template.parse(text, file: name)
    }
  }

  @Test(arguments: ExtractKind.allCases)
  func eachWriterWritesTheFieldListByName(_ kind: ExtractKind) throws {
    let valuation = try Self.valuation()
    let expected = try #require(Self.expected(valuation)[kind])
    let fields = Self.fields(kind)
    // The writer's order is the extract's field list, name for name.
    try #require(fields == kind.fields.map(\.name))
    let rows = Self.rows(kind, valuation)
    // Every field has an expectation, and no two fields show the same value (so a swap shows).
    #expect(Set(expected.keys) == Set(fields))
    let shown = expected.values.compactMap { $0 }
    #expect(shown.count == expected.count, "a field expected empty")
    #expect(Set(shown).count == shown.count, "two fields with the same value: \(shown.sorted())")
    #expect(rows.rowCount == 1)
    #expect(rows.bytes.isEmpty == false)
    for (index, name) in fields.enumerated() {
      #expect(rows.value(row: 0, field: index) == expected[name] ?? nil, "\(kind.rawValue).\(name)")
    }
  }

  @Test func everyTemplateColumnShowsTheFieldItNames() throws {
    let valuation = try Self.valuation()
    let expected = Self.expected(valuation)
    let templates = try Self.templates()
    #expect(templates.count >= ExtractKind.allCases.count)
    for template in templates {
      let fields = Self.fields(template.extract)
      try #require(fields == template.extract.fields.map(\.name), "\(template.name)")
      let rows = Self.rows(template.extract, valuation)
      let values = try #require(expected[template.extract])
      for column in template.columns {
        #expect(
          rows.value(row: 0, field: column.fieldIndex) == values[column.field.name] ?? nil,
          "\(template.name) column \(column.header)")
        // And the column's field is where the writer writes it.
        #expect(
          fields.firstIndex(of: column.field.name) == column.fieldIndex, "\(template.name) \(column.header)")
      }
      // Encoded, the row has one value per template column.
      let encoder = RowEncoder(template: template, format: .json)
      var bytes: [UInt8] = []
      encoder.rows(rows, into: &bytes)
      let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
      #expect(object?.count == template.columns.count, "\(template.name)")
    }
  }

  @Test func anAccountNotShownHasNoPositionsCashOrValuationRow() throws {
    let account = Account(
      id: "AC2", firmID: "FIRM001", clientID: "CL1", wrapper: "ISA", currency: "GBP",
      openedOn: Self.date("2024-01-15"), closedOn: Self.date("2026-01-01"), externalRef: nil,
      clientExternalRef: nil, clientKnown: true)
    let valuation = try AccountValuation.value(
      account: account,
      positions: [Position(instrumentID: "X", quantity: .one, bookCost: .zero, externalRef: nil)],
      cash: [CashBalance(currency: "GBP", balance: .one)], transactions: [],
      reference: ReferenceData(
        businessDate: Self.businessDate, instruments: [:], fx: FXTable(businessDate: Self.businessDate)),
      date: Self.businessDate, history: KnownHistory(record: try #require(try Self.valuation().record)))
    for kind in [ExtractKind.positions, .cash, .valuations] {
      #expect(Self.rows(kind, valuation).rowCount == 0, "\(kind.rawValue)")
    }
  }
}
