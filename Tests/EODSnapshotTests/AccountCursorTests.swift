import EODCore
import EODSQLite
import EODSnapshot
import EODSnapshotGen
import Foundation
import Testing

/// One pass over the snapshot for several firms gives each firm what a pass of its own gives.
@Suite struct AccountCursorTests {
  func snapshot(_ name: String) throws -> String {
    try freshSnapshot(
      "cursor-\(name)", GeneratorOptions(days: 2, firms: 3, accounts: 60, instruments: 40, edge: true))
  }

  /// Everything a bundle carries, as text, to compare bundles read two ways.
  func signature(_ bundle: AccountBundle) -> String {
    let a = bundle.account
    var parts = [
      a.id, a.firmID, a.clientID, a.wrapper, a.currency, a.openedOn.description,
      a.closedOn?.description ?? "-",
      a.externalRef ?? "-", a.clientExternalRef ?? "-", "\(a.clientKnown)",
    ]
    for p in bundle.positions {
      parts.append("P \(p.instrumentID) \(p.quantity) \(p.bookCost) \(p.externalRef ?? "-")")
    }
    for c in bundle.cash { parts.append("C \(c.currency) \(c.balance)") }
    for t in bundle.transactions {
      parts.append(
        "T \(t.id) \(t.type) \(t.status) \(t.tradeDate) \(t.settleDate) \(t.instrumentID ?? "-") "
          + "\(t.quantity?.description ?? "-") \(t.amount) \(t.currency) \(t.externalRef ?? "-")")
    }
    return parts.joined(separator: "|")
  }

  func read(_ cursor: AccountCursor) throws -> [AccountBundle] {
    var out: [AccountBundle] = []
    while let bundle = try cursor.next() { out.append(bundle) }
    return out
  }

  @Test func onePassGivesEveryFirmItsOwnAccountsInOrder() throws {
    let path = try snapshot("one-pass")
    let reader = try SnapshotReader(path: path)
    let firms = try reader.firms().map(\.id)
    #expect(firms.count == 3)
    let all = try read(reader.accounts(ofFirms: nil))
    #expect(all.map(\.account.id) == all.map(\.account.id).sorted())
    var total = 0
    for firm in firms {
      let own = try read(reader.accounts(ofFirm: firm)).map(signature)
      #expect(!own.isEmpty)
      #expect(all.filter { $0.account.firmID == firm }.map(signature) == own, "firm \(firm)")
      total += own.count
    }
    #expect(all.count == total)
    // A selection of two firms: exactly their accounts, still in one pass.
    let two = Set(firms.prefix(2))
    let selected = try read(reader.accounts(ofFirms: two))
    #expect(selected.map(signature) == all.filter { two.contains($0.account.firmID) }.map(signature))
  }

  /// Rows whose account is not in the accounts table, sorting before, between and after real
  /// accounts, are refused by a pass that reads every row (all firms, or several; a pass of one
  /// firm reads only its accounts' rows, and the syntax-check thread refuses them), whether the
  /// account around them is wanted or skipped: never dropped in silence.
  @Test(arguments: ["AA-ORPHAN", "AC00000010-ORPHAN", "ZZ-ORPHAN"], ["positions", "cash_balances"])
  func aRowOfNoAccountIsRefusedByThePass(orphan: String, table: String) throws {
    let path = try snapshot("orphan-\(orphan)-\(table)")
    let db = try SQLiteConnection(path: path, mode: .readWrite)
    if table == "positions" {
      try db.execute(
        """
        INSERT INTO positions(account_id, instrument_id, quantity, book_cost, external_ref)
          SELECT '\(orphan)', instrument_id, '1', '1.00', NULL FROM instruments LIMIT 2
        """)
    } else {
      try db.execute(
        "INSERT INTO cash_balances(account_id, currency, balance) VALUES ('\(orphan)', 'GBP', '5.00')")
    }
    let reader = try SnapshotReader(path: path)
    let firms = try reader.firms().map(\.id)
    for wanted in [nil, Set(firms.suffix(2))] as [Set<String>?] {
      do {
        _ = try read(reader.accounts(ofFirms: wanted))
        Issue.record("\(wanted.map { $0.sorted() } ?? []): the row of \(orphan) was dropped in silence")
      } catch let error as SnapshotError {
        #expect(error.code == .unknownReference)
        #expect(error.table == table && error.column == "account_id")
        #expect(error.rowKey?.hasPrefix(orphan + "/") == true, "\(error)")
      }
    }
    // The full check says the same of the table.
    #expect(throws: SnapshotError.self) { try SnapshotReader(path: path).validate() }
  }
}
