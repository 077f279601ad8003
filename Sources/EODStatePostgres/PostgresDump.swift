import EODState
import PostgresNIO

/// ``StateDump`` (`eod-extract state export|import`) in PostgreSQL.
extension PostgresStateStore {
  /// Rows read per statement while exporting.
  static let exportPage = 20_000

  public func dumpRows(_ table: StateDump.Table, _ each: ([StateDump.Cell]) throws -> Void) throws {
    let step = "export"
    let order = table.order.replacingOccurrences(of: StateDump.insertionOrder, with: "id")
    let columns = table.columns.map { column in
      switch column.kind {
      case .int: return column.name + "::bigint"
      case .real, .optionalReal: return column.name + "::float8"
      case .bool: return column.name + "::boolean"
      case .text, .optionalText: return column.name + "::text"
      }
    }.joined(separator: ", ")
    var offset: Int64 = 0
    while true {
      let rows = try session.query(
        step, "SELECT \(columns) FROM \(table.name) ORDER BY \(order) LIMIT $1 OFFSET $2",
        [.int(Int64(Self.exportPage)), .int(offset)])
      for row in rows {
        let cells = Cells(row, session, step)
        var out: [StateDump.Cell] = []
        for (index, column) in table.columns.enumerated() {
          switch column.kind {
          case .int: out.append(.int(try cells.int(index)))
          case .bool: out.append(.bool(try cells.value(index, Bool.self)))
          case .real: out.append(.real(try cells.real(index)))
          case .optionalReal: out.append(try cells.optionalReal(index).map { .real($0) } ?? .null)
          case .text: out.append(.text(try cells.text(index)))
          case .optionalText: out.append(try cells.optionalText(index).map { .text($0) } ?? .null)
          }
        }
        try each(out)
      }
      if rows.count < Self.exportPage { return }
      offset += Int64(rows.count)
    }
  }

  public func loadRows(_ table: StateDump.Table, _ rows: [[StateDump.Cell]]) throws(StateStoreError) {
    let step = "import"
    let width = table.columns.count
    let perStatement = max(1, 30_000 / width)
    var start = 0
    while start < rows.count {
      let chunk = rows[start..<min(rows.count, start + perStatement)]
      var values: [SQLValue] = []
      values.reserveCapacity(chunk.count * width)
      for row in chunk {
        for cell in row {
          switch cell {
          case .null: values.append(.null)
          case .int(let value): values.append(.int(value))
          case .bool(let value): values.append(.bool(value))
          case .real(let value): values.append(.real(value))
          case .text(let value): values.append(.text(value))
          }
        }
      }
      let tuples = (0..<chunk.count).map { row in
        "(" + (1...width).map { "$\(row * width + $0)" }.joined(separator: ",") + ")"
      }.joined(separator: ",")
      try session.query(step, "INSERT INTO \(table.name)(\(table.columnList)) VALUES \(tuples)", values)
      start += chunk.count
    }
    if table.name == "accounts" {
      // New accounts after the import get keys above the imported ones.
      try session.query(
        step,
        "SELECT setval(pg_get_serial_sequence('accounts', 'account_key'), "
          + "GREATEST((SELECT MAX(account_key) FROM accounts), 1))")
    }
  }

  public func isEmptyStore() throws(StateStoreError) -> Bool {
    let step = "import"
    guard
      let row = try session.query(
        step, "SELECT (SELECT COUNT(*) FROM accounts) + (SELECT COUNT(*) FROM runs)"
      ).first
    else { return true }
    return try Cells(row, session, step).int(0) == 0
  }
}
