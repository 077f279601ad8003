import EODCore

/// A firm whose clients the snapshot holds.
public struct Firm: Sendable, Equatable {
  public var id: String
  public var name: String
  public var baseCurrency: String
}

// Instrument, Account, Position, CashBalance, Transaction and ReferenceData are EODCore types
// (Ledger.swift): the reader makes them directly, and the valuation takes them as they are.

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
