import EODCore

/// Writes the `transactions` rows of an account from its valuation: one per transaction, in the
/// order valued (shown or not), one value per field of ``ExtractKind/transactions`` in
/// ``fields`` order.
public struct TransactionsRowWriter: Sendable {
  /// The fields each row has, in the order written.
  public static let fields = [
    "business_date", "firm_id", "client_id", "account_id", "account_external_ref", "transaction_id",
    "transaction_external_ref", "type", "status", "trade_date", "settle_date", "instrument_id", "isin",
    "quantity", "amount", "currency", "amount_account_currency", "client_external_ref", "account_currency",
    "fx_rate", "firm_name",
  ]

  public let context: RowContext

  public init(context: RowContext) { self.context = context }

  /// Appends the account's rows to `rows`.
  public func write(_ valuation: AccountValuation, into rows: inout RowBuffer) {
    let account = valuation.account
    let transactions = valuation.transactions
    for valued in valuation.valuedTransactions {
      let transaction = transactions[valued.index]
      rows.append(context.dateText)
      rows.append(context.firmID)
      rows.append(account.clientID)
      rows.append(account.id)
      rows.append(valuation.accountReference)
      rows.append(transaction.id)
      // An invalid reference is withheld.
      rows.append(valued.referenceWithheld ? nil : transaction.externalRef)
      rows.append(transaction.type)
      rows.append(transaction.status)
      rows.append(transaction.tradeDate)
      rows.append(transaction.settleDate)
      rows.append(transaction.instrumentID)
      rows.append(valued.instrument?.isin)
      rows.append(transaction.quantity)
      rows.append(transaction.amount)
      rows.append(transaction.currency)
      rows.append(valued.amountInAccountCurrency)
      rows.append(valuation.clientReference)
      rows.append(account.currency)
      rows.append(valued.fxRate)
      rows.append(context.firmName)
      rows.endRow()
    }
  }
}
