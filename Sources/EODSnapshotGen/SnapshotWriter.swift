import EODCore
import EODSQLite
import EODSnapshot
import Foundation

/// Writes one day of the simulated ledger as a schema-version-1 SQLite file.
enum SnapshotWriter {
  /// The `CREATE TABLE` part of ``SnapshotGenerator/schemaSQL``.
  static let tablesSQL: String = SnapshotSchema.tablesDDL
  /// The `CREATE INDEX` part of ``SnapshotGenerator/schemaSQL``, run after the rows are in.
  static let indexesSQL: String = SnapshotSchema.indexesDDL

  struct Counts: Sendable {
    var accounts = 0
    var positions = 0
    var transactions = 0
  }

  static func write(
    world: World, day: CivilDate, transactions: [Transaction], to path: String
  ) throws(GeneratorError) -> Counts {
    let partial = path + ".partial"
    try remove(partial)
    try remove(partial + "-journal")
    let counts: Counts
    do {
      counts = try fill(partial, world: world, day: day, transactions: transactions)
    } catch {
      try? remove(partial)
      throw GeneratorError(
        code: .database, message: "cannot write the snapshot for \(day.description)", path: path,
        underlying: error)
    }
    try remove(path)
    guard rename(partial, path) == 0 else {
      let reason = String(cString: strerror(errno))
      throw GeneratorError(
        code: .fileSystem, message: "cannot rename \(partial) into place (\(reason))", path: path)
    }
    return counts
  }

  private static func remove(_ path: String) throws(GeneratorError) {
    guard unlink(path) == 0 || errno == ENOENT else {
      let reason = String(cString: strerror(errno))
      throw GeneratorError(code: .fileSystem, message: "cannot remove the old file (\(reason))", path: path)
    }
  }

  private static func fill(
    _ path: String, world: World, day: CivilDate, transactions: [Transaction]
  ) throws(SQLiteError) -> Counts {
    let db = try SQLiteConnection(path: path, mode: .create)
    // A snapshot is written once, by one writer, and renamed into place only when complete, so
    // journaling and syncing buy nothing here; bigger pages and cache make the bulk insert cheaper.
    try db.execute(
      """
      PRAGMA page_size=16384; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
      PRAGMA locking_mode=EXCLUSIVE; PRAGMA cache_size=-131072; PRAGMA temp_store=MEMORY;
      """)
    try db.execute(tablesSQL)
    try db.execute("BEGIN")
    var counts = Counts(transactions: transactions.count)
    let dayText = day.description

    func text(_ value: String?) -> SQLiteValue { value.map { .text($0) } ?? .null }

    let info = try db.prepare("INSERT INTO snapshot_info VALUES (?,?)")
    for (key, value) in [
      ("schema_version", "1"), ("business_date", dayText), ("generated_at", "\(dayText)T22:15:00Z"),
      ("source", "EODSnapshotGen seed \(world.options.seed)"),
    ] {
      try info.run([.text(key), .text(value)])
    }

    let firms = try db.prepare("INSERT INTO firms VALUES (?,?,?)")
    for firm in world.firms {
      try firms.run([.text(firm.id), .text(firm.name), .text("GBP")])
    }

    let clients = try db.prepare("INSERT INTO clients VALUES (?,?,?,?)")
    for client in world.clients {
      try clients.run([
        .text(client.id), .text(world.firms[client.firm].id), .text(client.type), text(client.reference),
      ])
    }

    let instruments = try db.prepare("INSERT INTO instruments VALUES (?,?,?,?,?,?,?)")
    for instrument in world.instruments {
      try instruments.run([
        .text(instrument.id), text(instrument.isin), text(instrument.sedol), .text(instrument.name),
        .text(instrument.assetClass), .text(instrument.currency.code),
        .text(instrument.perHundred ? "0.01" : "1"),
      ])
    }

    let prices = try db.prepare("INSERT INTO prices VALUES (?,?,?)")
    for instrument in world.instruments {
      for entry in instrument.history {
        try prices.run([.text(instrument.id), .text(entry.date.description), .text(formatPrice(entry.price))])
      }
    }

    let rates = try db.prepare("INSERT INTO fx_rates VALUES (?,?,?,?)")
    for entry in world.fxHistory {
      let date = entry.date.description
      for (index, pair) in World.fxPairs.enumerated() {
        try rates.run([
          .text(date), .text(pair.base.code), .text(pair.quote.code), .text(formatRate(entry.rates[index])),
        ])
      }
    }

    let accounts = try db.prepare("INSERT INTO accounts VALUES (?,?,?,?,?,?,?,?)")
    let positions = try db.prepare("INSERT INTO positions VALUES (?,?,?,?,?)")
    let cash = try db.prepare("INSERT INTO cash_balances VALUES (?,?,?)")
    for account in world.accounts where account.opened <= day {
      counts.accounts += 1
      try accounts.run([
        .text(account.id), .text(world.firms[account.firm].id), .text(world.clients[account.client].id),
        .text(account.wrapper), .text(account.currency.code), .text(account.openedText),
        text(account.closed?.description), text(account.reference),
      ])
      for holding in account.holdings {
        counts.positions += 1
        try positions.run([
          .text(account.id), .text(world.instruments[Int(holding.instrument)].id),
          .text(formatQuantity(holding.quantity)), .text(formatAmount(holding.bookCost)),
          text(holding.reference),
        ])
      }
      for currency in Currency.cashSlotCurrencies {
        if let balance = account.cash[currency.cashSlot] {
          try cash.run([.text(account.id), .text(currency.code), .text(formatAmount(balance))])
        }
      }
    }

    let booked = try db.prepare("INSERT INTO transactions VALUES (?,?,?,?,?,?,?,?,?,?,?)")
    for transaction in transactions {
      try booked.run([
        .text("TX\(zeroPadded(transaction.sequence, 10))"), .text(world.accounts[transaction.account].id),
        .text(transaction.type), .text(transaction.status), .text(transaction.tradeDate.description),
        .text(transaction.settleDate.description),
        text(transaction.instrument.map { world.instruments[$0].id }),
        text(transaction.quantity.map(formatQuantity)), .text(formatAmount(transaction.amount)),
        .text(transaction.currency.code), text(transaction.reference),
      ])
    }

    try db.execute(indexesSQL)
    try db.execute("COMMIT")
    return counts
  }
}
