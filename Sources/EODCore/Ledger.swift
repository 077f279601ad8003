/// An instrument with the price chosen for the business date. A class: one instrument is shared
/// by every position that holds it, without copying its strings.
public final class Instrument: Sendable {
  /// `instrument_id`.
  public let id: String
  /// The ISIN, if the ledger has one.
  public let isin: String?
  /// The SEDOL, if the ledger has one.
  public let sedol: String?
  /// The instrument's name (free text).
  public let name: String
  /// `EQUITY`, `FUND`, `BOND`, …
  public let assetClass: String
  /// The currency the price is quoted in (may be `GBX`, pence sterling).
  public let currency: String
  /// The factor a price is multiplied by to value one unit (1 for most instruments).
  public let quoteFactor: ExactDecimal
  /// The latest price on or before the business date, if any.
  public let price: SelectedPrice?

  /// An instrument with the price chosen for the business date (nil: none on or before it).
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
  /// `account_id`.
  public var id: String
  /// The firm the account belongs to.
  public var firmID: String
  /// The client the account belongs to.
  public var clientID: String
  /// `ISA`, `SIPP`, `GIA`.
  public var wrapper: String
  /// The currency the account is valued in.
  public var currency: String
  /// The date the account opened: it is shown from that date.
  public var openedOn: CivilDate
  /// The date it closed, if it did: it is shown on that date, not after.
  public var closedOn: CivilDate?
  /// The raw reference (validated when valued: an invalid one is withheld).
  public var externalRef: String?
  /// The client's raw reference, nil when NULL or when the client is unknown.
  public var clientExternalRef: String?
  /// False when `client_id` names no client, or a client of another firm.
  public var clientKnown: Bool

  /// An account as the ledger holds it.
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
  /// The instrument held.
  public var instrumentID: String
  /// The quantity held (negative for a short or a booking error).
  public var quantity: ExactDecimal
  /// In the account currency.
  public var bookCost: ExactDecimal
  /// The firm's own reference for the position (validated when valued).
  public var externalRef: String?

  /// A position as the ledger holds it.
  public init(instrumentID: String, quantity: ExactDecimal, bookCost: ExactDecimal, externalRef: String?) {
    self.instrumentID = instrumentID
    self.quantity = quantity
    self.bookCost = bookCost
    self.externalRef = externalRef
  }
}

/// An account's balance in one currency.
public struct CashBalance: Sendable {
  /// The balance's currency.
  public var currency: String
  /// The balance, in ``currency``.
  public var balance: ExactDecimal

  /// A cash balance as the ledger holds it.
  public init(currency: String, balance: ExactDecimal) {
    self.currency = currency
    self.balance = balance
  }
}

/// A transaction of an account, as the ledger holds it.
public struct Transaction: Sendable {
  /// `transaction_id`.
  public var id: String
  /// `DEPOSIT`, `WITHDRAWAL`, `TRANSFER_IN`, `TRANSFER_OUT` (external flows), `BUY`, `SELL`, …
  public var type: String
  /// `SETTLED`, `PENDING`, `CANCELLED`, …
  public var status: String
  /// The trade date.
  public var tradeDate: CivilDate
  /// The settlement date.
  public var settleDate: CivilDate
  /// The instrument traded, if any.
  public var instrumentID: String?
  /// The quantity traded, if any.
  public var quantity: ExactDecimal?
  /// The amount, in ``currency`` (signed: money in is positive).
  public var amount: ExactDecimal
  /// The currency of `amount`.
  public var currency: String
  /// The firm's own reference for the transaction (validated when valued).
  public var externalRef: String?

  /// A transaction as the ledger holds it.
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
  /// The business date the prices and rates were chosen for.
  public var businessDate: CivilDate
  /// By instrument_id.
  public var instruments: [String: Instrument]
  /// The FX rates in force on the business date.
  public var fx: FXTable

  /// Reference data for a business date.
  public init(businessDate: CivilDate, instruments: [String: Instrument], fx: FXTable) {
    self.businessDate = businessDate
    self.instruments = instruments
    self.fx = fx
  }
}
