import EODCore

/// What every row of a firm's extracts for one business date carries besides the account's
/// figures: the date, the firm's id and name. Made once per firm and date, shared by its row
/// writers.
public struct RowContext: Sendable {
  /// `business_date`, as written.
  public let dateText: String
  public let firmID: String
  public let firmName: String

  public init(date: CivilDate, firmID: String, firmName: String) {
    dateText = date.description
    self.firmID = firmID
    self.firmName = firmName
  }
}

extension RowBuffer {
  /// The eight columns positions and valuations rows start with: business_date, firm_id,
  /// client_id, client_external_ref, account_id, account_external_ref, wrapper, account_currency.
  mutating func appendAccountColumns(_ valuation: AccountValuation, _ context: RowContext) {
    append(context.dateText)
    append(context.firmID)
    append(valuation.account.clientID)
    append(valuation.clientReference)
    append(valuation.account.id)
    append(valuation.accountReference)
    append(valuation.account.wrapper)
    append(valuation.account.currency)
  }
}
