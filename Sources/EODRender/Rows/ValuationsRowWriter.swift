import EODCore

/// Writes the `valuations` row of an account from its valuation: one row for an account shown
/// on the date, none otherwise; one value per field of ``ExtractKind/valuations`` in ``fields``
/// order. Returns are rounded half-even to 8 places.
public struct ValuationsRowWriter: Sendable {
  /// The fields each row has, in the order written.
  public static let fields = [
    "business_date", "firm_id", "client_id", "client_external_ref", "account_id", "account_external_ref",
    "wrapper", "account_currency", "positions_value", "cash_value", "total_value", "unpriced_positions",
    "net_external_flow", "return_1d", "return_mtd", "return_qtd", "return_ytd", "return_1y", "return_itd",
    "return_itd_annualised", "mwr_itd", "mwr_itd_annualised", "performance_start_date", "firm_name",
    "opened_on", "closed_on",
  ]

  public let context: RowContext

  public init(context: RowContext) { self.context = context }

  /// Appends the account's row to `rows` (none when the account is not shown).
  public func write(_ valuation: AccountValuation, into rows: inout RowBuffer) {
    guard valuation.isShown else { return }
    let totals = valuation.totals
    let returns = valuation.returns
    func ratio(_ x: Double?) -> String? { x.flatMap { RatioFormat.fixed($0, places: 8) } }
    rows.appendAccountColumns(valuation, context)
    rows.append(totals.positionsValue)
    rows.append(totals.cashValue)
    rows.append(totals.totalValue)
    rows.append(integer: totals.unpricedPositions)
    rows.append(totals.netExternalFlow)
    rows.append(ratio(returns.daily))
    rows.append(ratio(returns.monthToDate))
    rows.append(ratio(returns.quarterToDate))
    rows.append(ratio(returns.yearToDate))
    rows.append(ratio(returns.oneYear))
    rows.append(ratio(returns.inceptionToDate))
    rows.append(ratio(returns.inceptionToDateAnnualised))
    rows.append(ratio(returns.moneyWeighted))
    rows.append(ratio(returns.moneyWeightedAnnualised))
    rows.append(returns.startDate)
    rows.append(context.firmName)
    rows.append(valuation.account.openedOn)
    rows.append(valuation.account.closedOn)
    rows.endRow()
  }
}
