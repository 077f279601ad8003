import EODCore
import EODSQLite

/// The SQLite store is the contract's embedded backend: everything else it needs is its own API.
extension StateStore: StateStoring {
  public var location: String { path }

  public func openReader(small: Bool) throws(StateStoreError) -> any StateStoring {
    // Never through `identify`: its close would drop this process's locks on the file.
    try StateStore(anotherConnectionTo: self, cacheKibibytes: small ? 2000 : 8000)
  }

  /// The run lock (`STATE.lock`, taken by the command before opening the store) covers every
  /// firm and date of the file.
  public func lockWriters(firmIDs: [String], date: CivilDate, runID: String) throws(StateStoreError) {}

  /// Nothing to do: SQLite runs in the process, each read costs no trip.
  public func readAhead(accountIDs: [String], date: CivilDate) {}

  /// One look-up (or insert) per account: SQLite runs in the process, a statement costs no trip.
  public func accountKeys(_ accounts: [(accountID: String, firmID: String)]) throws(StateStoreError)
    -> [Int64]
  {
    var keys: [Int64] = []
    keys.reserveCapacity(accounts.count)
    for (id, firmID) in accounts { keys.append(try accountKey(id, firmID: firmID, remember: false)) }
    return keys
  }
}

extension StateStore {
  public func dumpRows(_ table: StateDump.Table, _ each: ([StateDump.Cell]) throws -> Void) throws {
    try wrap("export") {
      try ensureOutcomeSchema()
      try ensureBreakSchema()
      let order = table.order.replacingOccurrences(of: StateDump.insertionOrder, with: "rowid")
      let s = try db.prepare("SELECT \(table.columnList) FROM \(table.name) ORDER BY \(order)")
      while try s.step() {
        var row: [StateDump.Cell] = []
        for (index, column) in table.columns.enumerated() {
          if s.isNull(index) {
            row.append(.null)
            continue
          }
          switch column.kind {
          case .int: row.append(.int(s.int64(index)))
          case .bool: row.append(.bool(s.int64(index) != 0))
          case .real, .optionalReal: row.append(.real(s.double(index)))
          case .text, .optionalText: row.append(.text(s.text(index) ?? ""))
          }
        }
        try each(row)
      }
    }
  }

  public func loadRows(_ table: StateDump.Table, _ rows: [[StateDump.Cell]]) throws(StateStoreError) {
    try wrap("import") {
      try ensureOutcomeSchema()
      try ensureBreakSchema()
      let marks = Array(repeating: "?", count: table.columns.count).joined(separator: ",")
      let insert = try statement("INSERT INTO \(table.name)(\(table.columnList)) VALUES (\(marks))")
      for row in rows {
        try insert.run(
          row.map { cell -> SQLiteValue in
            switch cell {
            case .null: return .null
            case .int(let value): return .integer(value)
            case .bool(let value): return .integer(value ? 1 : 0)
            case .real(let value): return .real(value)
            case .text(let value): return .text(value)
            }
          })
      }
    }
  }

  public func isEmptyStore() throws(StateStoreError) -> Bool {
    try wrap("import") {
      try db.scalarInt("SELECT (SELECT COUNT(*) FROM accounts) + (SELECT COUNT(*) FROM runs)") == 0
    }
  }
}
