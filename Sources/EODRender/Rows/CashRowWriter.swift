import EODCore

/// Writes the `cash` rows of an account from its valuation: one per cash balance, in the order
/// valued, one value per field of ``ExtractKind/cash`` in ``fields`` order. Nothing for an
/// account not shown.
public struct CashRowWriter: Sendable {
  /// The fields each row has, in the order written.
  public static let fields = [
    "business_date", "firm_id", "client_id", "client_external_ref", "account_id", "account_external_ref",
    "account_currency", "currency", "balance", "fx_rate", "value", "wrapper", "firm_name",
  ]

  public let context: RowContext

  public init(context: RowContext) { self.context = context }

  /// Appends the account's rows to `rows`.
  public func write(_ valuation: AccountValuation, into rows: inout RowBuffer) {
    let account = valuation.account
    let cash = valuation.cash
    for valued in valuation.valuedCash {
      rows.append(context.dateText)
      rows.append(context.firmID)
      rows.append(account.clientID)
      rows.append(valuation.clientReference)
      rows.append(account.id)
      rows.append(valuation.accountReference)
      rows.append(account.currency)
      rows.append(cash[valued.index].currency)
      rows.append(valued.balance)
      rows.append(valued.fxRate)
      rows.append(valued.value)
      rows.append(account.wrapper)
      rows.append(context.firmName)
      rows.endRow()
    }
  }
}
