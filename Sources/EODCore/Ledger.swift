/// An instrument with the price chosen for the business date. A class: one instrument is shared
/// by every position that holds it, without copying its strings.
public final class Instrument: Sendable {
  public let id: String
  public let isin: String?
  public let sedol: String?
  public let name: String
  public let assetClass: String
  /// The currency the price is quoted in (may be `GBX`, pence sterling).
  public let currency: String
  /// The factor a price is multiplied by to value one unit (1 for most instruments).
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

/// An account of a client, with its client's reference.
public struct Account: Sendable {
  public var id: String
  public var firmID: String
  public var clientID: String
  /// `ISA`, `SIPP`, `GIA`.
  public var wrapper: String
  /// The currency the account is valued in.
  public var currency: String
  public var openedOn: CivilDate
  public var closedOn: CivilDate?
  /// The raw reference (validated when valued: an invalid one is withheld).
  public var externalRef: String?
  /// The client's raw reference, nil when NULL or when the client is unknown.
  public var clientExternalRef: String?
  /// False when `client_id` names no client, or a client of another firm.
  public var clientKnown: Bool

  public init(
    id: String, firmID: String, clientID: String, wrapper: String, currency: String, openedOn: CivilDate,
    closedOn: CivilDate?, externalRef: String?, clientExternalRef: String?, clientKnown: Bool
  ) {
    self.id = id
    self.firmID = firmID
    self.clientID = clientID
    self.wrapper = wrapper
    self.currency = currency
    self.openedOn = openedOn
    self.closedOn = closedOn
    self.externalRef = externalRef
    self.clientExternalRef = clientExternalRef
    self.clientKnown = clientKnown
  }

  /// Shown while open on the business date or closed on it.
  public func isShown(on date: CivilDate) -> Bool {
    openedOn <= date && (closedOn.map { $0 >= date } ?? true)
  }
}

/// A holding of one instrument in an account.
public struct Position: Sendable {
  public var instrumentID: String
  public var quantity: ExactDecimal
  /// In the account currency.
  public var bookCost: ExactDecimal
  public var externalRef: String?

  public init(instrumentID: String, quantity: ExactDecimal, bookCost: ExactDecimal, externalRef: String?) {
    self.instrumentID = instrumentID
    self.quantity = quantity
    self.bookCost = bookCost
    self.externalRef = externalRef
  }
}

/// An account's balance in one currency.
public struct CashBalance: Sendable {
  public var currency: String
  public var balance: ExactDecimal

  public init(currency: String, balance: ExactDecimal) {
    self.currency = currency
    self.balance = balance
  }
}

/// A transaction of an account, as the ledger holds it.
public struct Transaction: Sendable {
  public var id: String
  /// `DEPOSIT`, `WITHDRAWAL`, `TRANSFER_IN`, `TRANSFER_OUT` (external flows), `BUY`, `SELL`, …
  public var type: String
  /// `SETTLED`, `PENDING`, `CANCELLED`, …
  public var status: String
  public var tradeDate: CivilDate
  public var settleDate: CivilDate
  public var instrumentID: String?
  public var quantity: ExactDecimal?
  public var amount: ExactDecimal
  /// The currency of `amount`.
  public var currency: String
  public var externalRef: String?

  public init(
    id: String, type: String, status: String, tradeDate: CivilDate, settleDate: CivilDate,
    instrumentID: String?, quantity: ExactDecimal?, amount: ExactDecimal, currency: String,
    externalRef: String?
  ) {
    self.id = id
    self.type = type
    self.status = status
    self.tradeDate = tradeDate
    self.settleDate = settleDate
    self.instrumentID = instrumentID
    self.quantity = quantity
    self.amount = amount
    self.currency = currency
    self.externalRef = externalRef
  }
}

/// The reference data of one business date: instruments with their chosen prices, and FX rates.
public struct ReferenceData: Sendable {
  public var businessDate: CivilDate
  /// By instrument_id.
  public var instruments: [String: Instrument]
  public var fx: FXTable

  public init(businessDate: CivilDate, instruments: [String: Instrument], fx: FXTable) {
    self.businessDate = businessDate
    self.instruments = instruments
    self.fx = fx
  }
}
