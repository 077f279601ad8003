import EODCore

/// A firm whose clients the snapshot holds.
public struct Firm: Sendable, Equatable {
  public var id: String
  public var name: String
  public var baseCurrency: String
}

/// An instrument with the price chosen for the business date. A class: one instrument is shared
/// by every position that holds it, without copying its strings.
public final class Instrument: Sendable {
  public let id: String
  public let isin: String?
  public let sedol: String?
  public let name: String
  public let assetClass: String
  /// The currency the price is quoted in (may be GBX).
  public let currency: String
  public let quoteFactor: ExactDecimal
  /// The latest price on or before the business date, if any.
  public let price: SelectedPrice?

  public init(
    id: String, isin: String?, sedol: String?, name: String, assetClass: String, currency: String,
    quoteFactor: ExactDecimal, price: SelectedPrice?
  ) {
    self.id = id
    self.isin = isin
    self.sedol = sedol
    self.name = name
    self.assetClass = assetClass
    self.currency = currency
    self.quoteFactor = quoteFactor
    self.price = price
  }
}

/// An account with its client's reference.
public struct Account: Sendable {
  public var id: String
  public var firmID: String
  public var clientID: String
  public var wrapper: String
  public var currency: String
  public var openedOn: CivilDate
  public var closedOn: CivilDate?
  /// The raw reference (validated by the renderer).
  public var externalRef: String?
  /// The client's raw reference, nil when NULL or when the client is unknown.
  public var clientExternalRef: String?
  /// False when `client_id` names no client, or a client of another firm.
  public var clientKnown: Bool

  /// Shown while open on the business date or closed on it.
  public func isShown(on date: CivilDate) -> Bool {
    openedOn <= date && (closedOn.map { $0 >= date } ?? true)
  }
}

public struct Position: Sendable {
  public var instrumentID: String
  public var quantity: ExactDecimal
  /// In the account currency.
  public var bookCost: ExactDecimal
  public var externalRef: String?
}

public struct CashBalance: Sendable {
  public var currency: String
  public var balance: ExactDecimal
}

public struct Transaction: Sendable {
  public var id: String
  public var type: String
  public var status: String
  public var tradeDate: CivilDate
  public var settleDate: CivilDate
  public var instrumentID: String?
  public var quantity: ExactDecimal?
  public var amount: ExactDecimal
  public var currency: String
  public var externalRef: String?
}

/// One account and everything the snapshot holds for it, in extract order.
public struct AccountBundle: Sendable {
  public var account: Account
  /// Sorted by instrument_id.
  public var positions: [Position]
  /// Sorted by currency.
  public var cash: [CashBalance]
  /// Sorted by trade_date, transaction_id.
  public var transactions: [Transaction]
}

/// The snapshot's reference data for one business date.
public struct ReferenceData: Sendable {
  public var businessDate: CivilDate
  public var instruments: [String: Instrument]
  public var fx: FXTable
}
