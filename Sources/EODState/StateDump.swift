import Foundation

/// The portable form of a state store (`eod-extract state export|import`): every table of the
/// contract, row by row, in JSON Lines, the same whichever backend wrote it. The first line says
/// what the file is; then one line per row, `{"table": NAME, "row": [cells in column order]}`.
/// Reals are written as text (Swift's shortest exact form), so a double comes back bit for bit.
public enum StateDump {
  public static let header = #"{"format":"eod-extract-state","version":1}"#

  /// A column's kind in the dump (each backend maps it to its own type).
  public enum Kind: Sendable {
    case int, real, text, bool, optionalReal, optionalText
  }

  /// One cell.
  public enum Cell: Sendable, Equatable {
    case int(Int64), real(Double), text(String), bool(Bool), null
  }

  public struct Table: Sendable {
    public let name: String
    public let columns: [(name: String, kind: Kind)]
    /// The export's order (a key of the table): the same file from the same contents.
    public let order: String
    public var columnList: String { columns.map(\.name).joined(separator: ", ") }
  }

  static let record: [(name: String, kind: Kind)] = [
    ("day", .int), ("kind", .int), ("value", .int), ("flow", .int), ("flow_in", .int),
    ("daily_return", .optionalReal), ("undefined", .bool), ("g_month", .real), ("g_quarter", .real),
    ("g_year", .real), ("idx", .real), ("zeros", .int), ("start_day", .int), ("origin_day", .int),
  ]

  static func texts(_ names: String) -> [(name: String, kind: Kind)] {
    names.split(separator: " ").map { (String($0), Kind.text) }
  }

  /// Every table of the contract, in an order that loads (accounts before their rows).
  public static let tables: [Table] = [
    Table(
      name: "accounts", columns: [("account_key", .int)] + texts("account_id firm_id"), order: "account_key"),
    Table(name: "history", columns: [("account_key", .int)] + record, order: "day, account_key"),
    Table(name: "latest", columns: [("account_key", .int)] + record, order: "account_key"),
    Table(
      name: "flows", columns: [("account_key", .int), ("day", .int), ("flow", .int)],
      order: "account_key, day"),
    Table(
      name: "runs",
      columns: texts("business_date firm_id run_id snapshot completed_at")
        + [("gap_carried", .bool), ("manifest_sha256", .optionalText)],
      order: "business_date, firm_id"),
    Table(
      name: "deliveries",
      columns: texts("firm_id business_date destination file_name sha256 remote_path") + [("attempts", .int)]
        + texts("outcome delivered_at run_id"),
      order: "firm_id, business_date, destination, file_name"),
    Table(
      name: "idempotency",
      columns: texts("key fingerprint") + [("created_at", .int)] + texts("result") + [("exit_code", .int)]
        + texts("failed_firms report"),
      order: "key"),
    Table(
      name: "failures",
      columns: texts("firm_id business_date run_id step error failed_at") + [("exit_code", .int)],
      order: "failed_at, \(insertionOrder)"),
    Table(
      name: "recon_runs", columns: texts("firm_id extract business_date"),
      order: "firm_id, extract, business_date"),
    Table(
      name: "breaks",
      columns: texts("break_id firm_id extract break_type key field first_seen last_seen")
        + [("closed", .optionalText)] + texts("ours theirs difference"),
      order: "break_id"),
    Table(
      name: "break_days", columns: texts("break_id business_date ours theirs difference"),
      order: "break_id, business_date"),
  ]

  /// Stands for the backend's insertion order in ``Table/order`` (SQLite's rowid, an identity
  /// column elsewhere).
  public static let insertionOrder = "{insertion}"

  /// Writes every table of `store` to `path`; returns the rows written per table.
  public static func export(_ store: any StateStoring, to path: String) throws -> [String: Int] {
    guard FileManager.default.createFile(atPath: path, contents: nil),
      let file = FileHandle(forWritingAtPath: path)
    else {
      throw StateStoreError(
        code: .unavailable, path: path, step: "export", detail: "cannot create the file")
    }
    defer { try? file.close() }
    var buffer = header + "\n"
    var counts: [String: Int] = [:]
    for table in tables {
      var count = 0
      try store.dumpRows(table) { row in
        buffer += #"{"table":"\#(table.name)","row":["# + row.map(json).joined(separator: ",") + "]}\n"
        count += 1
        if buffer.utf8.count > 1 << 20 {
          file.write(Data(buffer.utf8))
          buffer = ""
        }
      }
      counts[table.name] = count
    }
    file.write(Data(buffer.utf8))
    return counts
  }

  /// Loads a file written by ``export(_:to:)`` into `store`, which must hold no history, runs
  /// or accounts yet (a store is moved, never merged); returns the rows loaded per table.
  public static func load(_ path: String, into store: any StateStoring) throws -> [String: Int] {
    func refuse(_ why: String) -> StateStoreError {
      StateStoreError(code: .unavailable, path: path, step: "import", detail: why)
    }
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
      throw refuse("cannot be read")
    }
    var lines = text.split(separator: "\n", omittingEmptySubsequences: true).makeIterator()
    guard lines.next().map(String.init) == header else {
      throw refuse("is not a state export (its first line is not \(header))")
    }
    guard try store.isEmptyStore() else {
      throw StateStoreError(
        code: .unavailable, path: store.location, step: "import",
        detail: "the store already holds accounts or runs: import into a new, empty store")
    }
    let byName = Dictionary(uniqueKeysWithValues: tables.map { ($0.name, $0) })
    // Every table, as the export counts them (an empty table is 0, not missing).
    var counts = Dictionary(uniqueKeysWithValues: tables.map { ($0.name, 0) })
    try store.transaction("import") {
      // Rows go in chunks, table by table as the file lists them.
      var chunk: (table: Table, rows: [[Cell]])?
      var number = 1
      while let line = lines.next() {
        number += 1
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
          let name = object["table"] as? String, let table = byName[name],
          let values = object["row"] as? [Any],
          values.count == table.columns.count
        else { throw refuse("line \(number) is not a row of a known table") }
        var row: [Cell] = []
        for (value, column) in zip(values, table.columns) {
          guard let cell = cell(value, column.kind) else {
            throw refuse("line \(number): column \(column.name) of \(name) has an unexpected value")
          }
          row.append(cell)
        }
        if let current = chunk, current.table.name != name || current.rows.count >= 2000 {
          try store.loadRows(current.table, current.rows)
          chunk = nil
        }
        if chunk == nil { chunk = (table, []) }
        chunk?.rows.append(row)
        counts[name, default: 0] += 1
      }
      if let current = chunk { try store.loadRows(current.table, current.rows) }
    }
    return counts
  }

  static func json(_ cell: Cell) -> String {
    switch cell {
    case .null: return "null"
    case .int(let value): return String(value)
    case .bool(let value): return value ? "true" : "false"
    case .real(let value): return quoted(value.description)
    case .text(let value): return quoted(value)
    }
  }

  static func quoted(_ text: String) -> String {
    let data =
      (try? JSONSerialization.data(withJSONObject: [text], options: [.fragmentsAllowed]))
      ?? Data("[\"\"]".utf8)
    return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
  }

  static func cell(_ value: Any, _ kind: Kind) -> Cell? {
    if value is NSNull { return kind == .optionalReal || kind == .optionalText ? .null : nil }
    switch kind {
    case .int: return (value as? NSNumber).map { .int($0.int64Value) }
    case .bool: return (value as? Bool).map { .bool($0) }
    case .real, .optionalReal: return (value as? String).flatMap(Double.init).map { .real($0) }
    case .text, .optionalText: return (value as? String).map { .text($0) }
    }
  }
}
