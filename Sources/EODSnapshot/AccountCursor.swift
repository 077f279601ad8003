import EODCore
import EODSQLite

/// Streams accounts one at a time (see ``SnapshotReader/accounts(ofFirms:)``).
public final class AccountCursor {
  let reader: SnapshotReader
  let accounts: SQLiteStatement
  let positions: SQLiteStatement
  let cash: SQLiteStatement
  let transactions: SQLiteStatement
  /// Firms whose accounts are returned; nil is every firm.
  let wanted: Set<String>?
  /// Whether every row of positions and cash balances the cursor reads is checked as
  /// ``SnapshotReader/validate(skipping:)`` would check it, before it is used or skipped: a bad
  /// value ends the cursor with that refusal (over several firms, the first in key order). A cursor
  /// over several firms reads every row, and so checks the whole of both tables.
  public let checksRows: Bool

  /// Whether a cursor over `firmIDs` (nil: every firm) reads, and so checks, every row
  /// (``checksRows``): known before the cursor is made.
  public static func checksRows(firmIDs: Set<String>?) -> Bool { firmIDs?.count != 1 }
  private let positionsCheck: RowCheck?
  private let cashCheck: RowCheck?
  /// The key of the previous positions and cash row, when the table does not enforce its key and
  /// the cursor checks rows: a repeated key is adjacent in key order.
  private var positionsKeys: RepeatedKey?
  private var cashKeys: RepeatedKey?
  /// The decimals of the positions and cash rows the cursor is on, parsed by the check.
  private var positionsDecimals: [ExactDecimal?] = Array(repeating: nil, count: 5)
  private var cashDecimals: [ExactDecimal?] = Array(repeating: nil, count: 3)
  var positionsPending: Bool
  var cashPending: Bool
  var transactionsPending: Bool

  /// Rows are checked when the cursor reads every row (``checksRows(firmIDs:)``).
  init(reader: SnapshotReader, firmIDs: Set<String>?) throws(SnapshotError) {
    self.reader = reader
    let db = reader.db
    wanted = firmIDs
    checksRows = AccountCursor.checksRows(firmIDs: firmIDs)
    let positionsCheck = checksRows ? SnapshotSchema.table("positions").map(RowCheck.init) : nil
    let cashCheck = checksRows ? SnapshotSchema.table("cash_balances").map(RowCheck.init) : nil
    self.positionsCheck = positionsCheck
    self.cashCheck = cashCheck
    // SQLite keeps a key unique where it has a unique index on it: no check needed there.
    if let check = positionsCheck, try !reader.enforcesKey(check.table) { positionsKeys = RepeatedKey() }
    if let check = cashCheck, try !reader.enforcesKey(check.table) { cashKeys = RepeatedKey() }
    do {
      let accountColumns = """
        a.account_id, a.client_id, a.wrapper, a.currency, a.opened_on, a.closed_on, a.external_ref,
        c.external_ref, c.client_id IS NOT NULL AND c.firm_id = a.firm_id, a.firm_id
        """
      if let firmIDs, firmIDs.count == 1, let firmID = firmIDs.first {
        // One firm: its rows only, through the accounts_by_firm index.
        accounts = try db.prepare(
          """
          SELECT \(accountColumns)
          FROM accounts a LEFT JOIN clients c ON c.client_id = a.client_id
          WHERE a.firm_id = ?1 ORDER BY a.account_id
          """)
        positions = try db.prepare(
          """
          SELECT p.account_id, p.instrument_id, p.quantity, p.book_cost, p.external_ref
          FROM accounts a JOIN positions p ON p.account_id = a.account_id
          WHERE a.firm_id = ?1 ORDER BY p.account_id, p.instrument_id
          """)
        cash = try db.prepare(
          """
          SELECT b.account_id, b.currency, b.balance
          FROM accounts a JOIN cash_balances b ON b.account_id = a.account_id
          WHERE a.firm_id = ?1 ORDER BY b.account_id, b.currency
          """)
        transactions = try db.prepare(
          """
          SELECT t.account_id, t.transaction_id, t.type, t.status, t.trade_date, t.settle_date, t.instrument_id,
                 t.quantity, t.amount, t.currency, t.external_ref
          FROM accounts a JOIN transactions t ON t.account_id = a.account_id
          WHERE a.firm_id = ?1 ORDER BY t.account_id, t.trade_date, t.transaction_id
          """)
        for statement in [accounts, positions, cash, transactions] { try statement.bind([.text(firmID)]) }
      } else {
        // Several firms: one scan of each table in primary-key order. Rows of accounts that are
        // not in the accounts table are skipped by the merge, as the per-firm join leaves them out.
        accounts = try db.prepare(
          """
          SELECT \(accountColumns)
          FROM accounts a LEFT JOIN clients c ON c.client_id = a.client_id
          ORDER BY a.account_id
          """)
        positions = try db.prepare(
          """
          SELECT account_id, instrument_id, quantity, book_cost, external_ref
          FROM positions ORDER BY account_id, instrument_id
          """)
        cash = try db.prepare(
          "SELECT account_id, currency, balance FROM cash_balances ORDER BY account_id, currency")
        transactions = try db.prepare(
          """
          SELECT account_id, transaction_id, type, status, trade_date, settle_date, instrument_id,
                 quantity, amount, currency, external_ref
          FROM transactions ORDER BY account_id, trade_date, transaction_id
          """)
      }
      positionsPending = try positions.step()
      cashPending = try cash.step()
      transactionsPending = try transactions.step()
    } catch {
      throw SnapshotError(code: .unreadable, path: reader.path, detail: error.message)
    }
    try checkPositionsRow()
    try checkCashRow()
  }

  private func checkPositionsRow() throws(SnapshotError) {
    if positionsPending, let check = positionsCheck {
      try reader.checkRow(positions, check, decimals: &positionsDecimals)
      if positionsKeys != nil, positionsKeys?.repeats(positions) == true {
        throw reader.duplicateRow(positions, check.table)
      }
    }
  }

  private func checkCashRow() throws(SnapshotError) {
    if cashPending, let check = cashCheck {
      try reader.checkRow(cash, check, decimals: &cashDecimals)
      if cashKeys != nil, cashKeys?.repeats(cash) == true { throw reader.duplicateRow(cash, check.table) }
    }
  }

  /// A positions or cash row whose account_id is in no account (the merge passed it): refused
  /// when the cursor checks rows.
  private func orphan(_ statement: SQLiteStatement, _ check: RowCheck?) -> SnapshotError? {
    guard let check else { return nil }
    return reader.unknownAccount(statement, check.table)
  }

  /// Every row the cursor lands on is checked once, whether it is used or skipped.
  private func stepPositions() throws {
    positionsPending = try positions.step()
    try checkPositionsRow()
  }

  private func stepCash() throws {
    cashPending = try cash.step()
    try checkCashRow()
  }

  /// Steps every child cursor past the rows of the account `id` (not wanted).
  private func skipRows(of id: [UInt8]) throws {
    while positionsPending, let order = positions.compareText(0, id), order <= 0 {
      if order < 0, let error = orphan(positions, positionsCheck) { throw error }
      try stepPositions()
    }
    while cashPending, let order = cash.compareText(0, id), order <= 0 {
      if order < 0, let error = orphan(cash, cashCheck) { throw error }
      try stepCash()
    }
    while transactionsPending, let order = transactions.compareText(0, id), order <= 0 {
      transactionsPending = try transactions.step()
    }
  }

  /// The next account, or nil at the end.
  public func next() throws(SnapshotError) -> AccountBundle? {
    let r = reader
    do {
      var id = ""
      var firmID = ""
      while true {
        guard try accounts.step() else {
          // Rows after the last account are of no account: refused when rows are checked.
          if positionsPending, let error = orphan(positions, positionsCheck) { throw error }
          if cashPending, let error = orphan(cash, cashCheck) { throw error }
          return nil
        }
        id = accounts.text(0) ?? ""
        firmID = accounts.text(9) ?? ""
        if wanted?.contains(firmID) ?? true { break }
        try skipRows(of: Array(id.utf8))
      }
      // Child rows are matched to the account byte-wise, in SQLite's (BINARY) order.
      let idBytes = Array(id.utf8)
      let account = Account(
        id: id, firmID: firmID, clientID: accounts.text(1) ?? "", wrapper: accounts.text(2) ?? "",
        currency: accounts.text(3) ?? "",
        openedOn: try r.date(accounts, 4, table: "accounts", key: id, column: "opened_on"),
        closedOn: accounts.isNull(5)
          ? nil : try r.date(accounts, 5, table: "accounts", key: id, column: "closed_on"),
        externalRef: accounts.text(6), clientExternalRef: accounts.text(7),
        clientKnown: accounts.int64(8) != 0)
      var bundle = AccountBundle(account: account, positions: [], cash: [], transactions: [])
      while positionsPending, let order = positions.compareText(0, idBytes), order <= 0 {
        if order < 0, let error = orphan(positions, positionsCheck) { throw error }
        if order == 0 {
          let instrument = positions.text(1) ?? ""
          bundle.positions.append(
            Position(
              instrumentID: instrument,
              // Parsed by the row's check when there is one.
              quantity: try positionsDecimals[2]
                ?? r.decimal(positions, 2, table: "positions", key: "\(id)/\(instrument)", column: "quantity"),
              bookCost: try positionsDecimals[3]
                ?? r.decimal(
                  positions, 3, table: "positions", key: "\(id)/\(instrument)", column: "book_cost"),
              externalRef: positions.text(4)))
        }
        try stepPositions()
      }
      while cashPending, let order = cash.compareText(0, idBytes), order <= 0 {
        if order < 0, let error = orphan(cash, cashCheck) { throw error }
        if order == 0 {
          let currency = cash.text(1) ?? ""
          bundle.cash.append(
            CashBalance(
              currency: currency,
              balance: try cashDecimals[2]
                ?? r.decimal(cash, 2, table: "cash_balances", key: "\(id)/\(currency)", column: "balance")))
        }
        try stepCash()
      }
      while transactionsPending, let order = transactions.compareText(0, idBytes), order <= 0 {
        if order == 0 {
          let txID = transactions.text(1) ?? ""
          bundle.transactions.append(
            Transaction(
              id: txID, type: transactions.text(2) ?? "", status: transactions.text(3) ?? "",
              tradeDate: try r.date(transactions, 4, table: "transactions", key: txID, column: "trade_date"),
              settleDate: try r.date(
                transactions, 5, table: "transactions", key: txID, column: "settle_date"),
              instrumentID: transactions.text(6),
              quantity: try r.optionalDecimal(
                transactions, 7, table: "transactions", key: txID, column: "quantity"),
              amount: try r.decimal(transactions, 8, table: "transactions", key: txID, column: "amount"),
              currency: transactions.text(9) ?? "", externalRef: transactions.text(10)))
        }
        transactionsPending = try transactions.step()
      }
      return bundle
    } catch {
      throw r.snapshotError(error, table: nil)
    }
  }
}
