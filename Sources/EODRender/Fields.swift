/// The five standard extracts.
public enum ExtractKind: String, Sendable, CaseIterable, Comparable {
  case positions
  case cash
  case transactions
  case valuations
  case dataQuality = "data_quality"

  public static func < (lhs: ExtractKind, rhs: ExtractKind) -> Bool {
    allCases.firstIndex(of: lhs) ?? 0 < allCases.firstIndex(of: rhs) ?? 0
  }

  /// The fields a template for this extract may use, in the order rows supply them.
  public var fields: [Field] {
    switch self {
    case .positions: return Field.positions
    case .cash: return Field.cash
    case .transactions: return Field.transactions
    case .valuations: return Field.valuations
    case .dataQuality: return Field.dataQuality
    }
  }
}

/// A field that rows of an extract supply, and how formats write it.
public struct Field: Sendable, Equatable {
  public enum Kind: Sendable, Equatable {
    /// Text; JSON string.
    case text
    /// An exact decimal; a JSON string.
    case decimal
    /// A whole number; a JSON number.
    case integer
  }

  public var name: String
  public var kind: Kind
  /// Free text the firm or platform typed (names, messages). Formula neutralising applies to every
  /// text field, not only these (a spreadsheet runs a formula in an identifier as well).
  public var freeText: Bool

  init(_ name: String, _ kind: Kind = .text, freeText: Bool = false) {
    self.name = name
    self.kind = kind
    self.freeText = freeText
  }

  /// camelCase of the snake_case name, the JSON key.
  public var jsonKey: String { Field.camelCase(name) }

  public static func camelCase(_ name: String) -> String {
    var out = ""
    var upper = false
    for character in name {
      if character == "_" {
        upper = true
      } else if upper {
        out += character.uppercased()
        upper = false
      } else {
        out.append(character)
      }
    }
    return out
  }

  static let positions: [Field] = [
    Field("business_date"), Field("firm_id"), Field("client_id"), Field("client_external_ref"),
    Field("account_id"), Field("account_external_ref"), Field("wrapper"), Field("account_currency"),
    Field("instrument_id"), Field("isin"), Field("sedol"), Field("instrument_name", freeText: true),
    Field("asset_class"), Field("quantity", .decimal), Field("price", .decimal), Field("price_currency"),
    Field("price_date"), Field("price_status"), Field("fx_rate", .decimal), Field("market_value", .decimal),
    Field("book_cost", .decimal), Field("unrealised_gain_loss", .decimal), Field("weight", .decimal),
    Field("position_external_ref"),
    // Beyond the standard layout, for firms' own templates.
    Field("firm_name", freeText: true), Field("quote_factor", .decimal),
  ]

  static let cash: [Field] = [
    Field("business_date"), Field("firm_id"), Field("client_id"), Field("client_external_ref"),
    Field("account_id"), Field("account_external_ref"), Field("account_currency"), Field("currency"),
    Field("balance", .decimal), Field("fx_rate", .decimal), Field("value", .decimal),
    Field("wrapper"), Field("firm_name", freeText: true),
  ]

  static let transactions: [Field] = [
    Field("business_date"), Field("firm_id"), Field("client_id"), Field("account_id"),
    Field("account_external_ref"), Field("transaction_id"), Field("transaction_external_ref"), Field("type"),
    Field("status"), Field("trade_date"), Field("settle_date"), Field("instrument_id"), Field("isin"),
    Field("quantity", .decimal), Field("amount", .decimal), Field("currency"),
    Field("amount_account_currency", .decimal),
    Field("client_external_ref"), Field("account_currency"), Field("fx_rate", .decimal),
    Field("firm_name", freeText: true),
  ]

  static let valuations: [Field] = [
    Field("business_date"), Field("firm_id"), Field("client_id"), Field("client_external_ref"),
    Field("account_id"), Field("account_external_ref"), Field("wrapper"), Field("account_currency"),
    Field("positions_value", .decimal), Field("cash_value", .decimal), Field("total_value", .decimal),
    Field("unpriced_positions", .integer), Field("net_external_flow", .decimal), Field("return_1d", .decimal),
    Field("return_mtd", .decimal), Field("return_qtd", .decimal), Field("return_ytd", .decimal),
    Field("return_1y", .decimal), Field("return_itd", .decimal), Field("return_itd_annualised", .decimal),
    Field("mwr_itd", .decimal), Field("mwr_itd_annualised", .decimal), Field("performance_start_date"),
    Field("firm_name", freeText: true), Field("opened_on"), Field("closed_on"),
  ]

  static let dataQuality: [Field] = [
    Field("business_date"), Field("firm_id"), Field("severity"), Field("code"), Field("resource_type"),
    Field("resource_id"), Field("field"), Field("message", freeText: true),
  ]
}
