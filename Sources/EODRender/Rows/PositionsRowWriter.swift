import EODCore

/// Writes the `positions` rows of an account from its valuation: one per valued position, in
/// the order valued, one value per field of ``ExtractKind/positions`` in ``fields`` order (the
/// template then picks its columns by field name). Nothing for an account not shown.
///
/// `RowWriterTests` proves, for every template in `templates/`, that each column shows the value
/// of the field it names.
public struct PositionsRowWriter: Sendable {
  /// The fields each row has, in the order written.
  public static let fields = [
    "business_date", "firm_id", "client_id", "client_external_ref", "account_id", "account_external_ref",
    "wrapper", "account_currency", "instrument_id", "isin", "sedol", "instrument_name", "asset_class",
    "quantity", "price", "price_currency", "price_date", "price_status", "fx_rate", "market_value",
    "book_cost", "unrealised_gain_loss", "weight", "position_external_ref", "firm_name", "quote_factor",
  ]

  public let context: RowContext

  public init(context: RowContext) { self.context = context }

  /// Appends the account's rows to `rows`.
  public func write(_ valuation: AccountValuation, into rows: inout RowBuffer) {
    let positions = valuation.positions
    let total = valuation.summedTotal
    for valued in valuation.valuedPositions {
      let position = positions[valued.index]
      let instrument = valued.instrument
      let price = instrument?.price
      let value = valued.marketValue
      rows.appendAccountColumns(valuation, context)
      rows.append(position.instrumentID)
      rows.append(instrument?.isin)
      rows.append(instrument?.sedol)
      rows.append(instrument?.name)
      rows.append(instrument?.assetClass)
      rows.append(valued.quantity)
      rows.append(price?.price)
      rows.append(instrument?.currency)
      rows.append(price?.date)
      rows.append(valued.priceStatus.rawValue)
      rows.append(valued.fxRate)
      rows.append(value)
      rows.append(valued.bookCost)
      rows.append(valued.unrealisedGainLoss)
      rows.append(Valuation.weight(marketValue: value, totalValue: total))
      // An invalid reference is withheld.
      rows.append(valued.referenceWithheld ? nil : position.externalRef)
      rows.append(context.firmName)
      rows.append(instrument?.quoteFactor)
      rows.endRow()
    }
  }
}
