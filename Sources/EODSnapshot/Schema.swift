/// Snapshot schema version 1, described once: every table, column, kind, null rule, key,
/// reference and index. The reader checks a snapshot against it, the generator creates its
/// tables from ``ddl`` (which renders the contract's DDL byte for byte), and a test checks
/// docs/snapshot-format.md against it column by column.
public enum SnapshotSchema {
  public static let version = "1"

  /// A column, the syntax its values must have, and how the DDL declares it.
  public struct Column: Sendable, Equatable {
    /// The syntax of a value. Every column is `TEXT` in SQL; decimals and dates are checked.
    public enum Kind: String, Sendable { case text, decimal, date }
    public var name: String
    public var kind: Kind
    /// Whether NULL is allowed. A key column never allows it, even where SQL would (a one-column
    /// `TEXT PRIMARY KEY` is not `NOT NULL` in SQLite): the reader refuses it.
    public var nullable: Bool
    /// The DDL's `DEFAULT`, as an SQL literal (`'1'`).
    public var defaultValue: String?
    /// The row of another table the value names, as the DDL's `REFERENCES` declares it.
    public var reference: Reference?
    /// The DDL's comment after the column, without `-- `.
    public var comment: String?

    /// The declared SQL type: `TEXT` for every column of version 1.
    public var sqlType: String { "TEXT" }
  }

  /// A column's `REFERENCES table(column)`.
  public struct Reference: Sendable, Equatable {
    public var table: String
    public var column: String
    /// Whether a value that names no row refuses the snapshot. References to `instruments` do
    /// not: an unknown instrument is a data-quality finding of the firm.
    public var refused: Bool
  }

  public struct Table: Sendable {
    public var name: String
    /// The primary key's columns (also what error messages name a row by).
    public var key: [String]
    public var columns: [Column]
    /// Comment lines the DDL has above the table, without `-- `.
    public var comment: [String] = []
    /// Where the DDL's column comments start (0-based character position), as laid out in the
    /// contract; a longer declaration is followed by two spaces.
    var commentPosition = 39

    /// Columns whose value must name a row of another table (by its one-column key): column →
    /// table. Every such value must exist there; references to instruments are not listed (see
    /// ``Reference/refused``).
    public var references: [String: String] {
      var out: [String: String] = [:]
      for column in columns {
        if let reference = column.reference, reference.refused { out[column.name] = reference.table }
      }
      return out
    }

    /// The column named `name`.
    public func column(_ name: String) -> Column? { columns.first { $0.name == name } }
  }

  /// A `CREATE INDEX`: the generator creates these after the rows are in.
  public struct Index: Sendable, Equatable {
    public var name: String
    public var table: String
    public var columns: [String]
  }

  static func c(
    _ name: String, _ kind: Column.Kind = .text, nullable: Bool = false, default value: String? = nil,
    references: String? = nil, refused: Bool = true, comment: String? = nil
  ) -> Column {
    // Every reference of version 1 names the other table's key column, which has the same name.
    let reference = references.map { Reference(table: $0, column: name, refused: refused) }
    return Column(
      name: name, kind: kind, nullable: nullable, defaultValue: value, reference: reference, comment: comment)
  }

  /// The comment lines at the top of the DDL.
  public static let header = [
    "End-of-day ledger snapshot, schema version 1.",
    "One SQLite file per business date; it may hold many firms.",
    "Every decimal is TEXT in plain notation: optional '-', digits, optional '.'",
    "and digits (no exponent, no thousands separator, no '+'). Dates are",
    "'YYYY-MM-DD'. Currencies are ISO 4217 codes, plus 'GBX' (pence sterling).",
  ]

  public static let tables: [Table] = [
    Table(
      name: "snapshot_info", key: ["key"],
      columns: [
        c("key", comment: "schema_version ('1'), business_date, generated_at (RFC 3339), source"), c("value"),
      ],
      commentPosition: 28),
    Table(name: "firms", key: ["firm_id"], columns: [c("firm_id"), c("name"), c("base_currency")]),
    Table(
      name: "clients", key: ["client_id"],
      columns: [
        c("client_id"), c("firm_id", references: "firms"),
        c("client_type", comment: "INDIVIDUAL | JOINT | CORPORATE | TRUST"),
        c("external_ref", nullable: true, comment: "the firm's own reference; may be NULL"),
      ]),
    Table(
      name: "accounts", key: ["account_id"],
      columns: [
        c("account_id"), c("firm_id", references: "firms"), c("client_id", references: "clients"),
        c("wrapper", comment: "ISA | JISA | LISA | SIPP | GIA | OFFSHORE_BOND"),
        c("currency", comment: "the account's reporting currency"), c("opened_on", .date),
        c("closed_on", .date, nullable: true, comment: "NULL while open"), c("external_ref", nullable: true),
      ]),
    Table(
      name: "instruments", key: ["instrument_id"],
      columns: [
        c("instrument_id"), c("isin", nullable: true), c("sedol", nullable: true), c("name"),
        c("asset_class", comment: "EQUITY | FUND | ETF | BOND | CASH_FUND"),
        c("currency", comment: "currency the price is quoted in (may be GBX)"),
        c(
          "quote_factor", .decimal, default: "'1'",
          comment: "value = quantity * price * quote_factor ('0.01' for bonds priced per 100 nominal)"),
      ]),
    Table(
      name: "prices", key: ["instrument_id", "price_date"],
      columns: [
        c("instrument_id", references: "instruments", refused: false), c("price_date", .date),
        c("price", .decimal),
      ]),
    Table(
      name: "fx_rates", key: ["rate_date", "base_currency", "quote_currency"],
      columns: [
        c("rate_date", .date),
        c("base_currency", comment: "1 unit of base_currency = rate units of quote_currency"),
        c("quote_currency"), c("rate", .decimal),
      ]),
    Table(
      name: "positions", key: ["account_id", "instrument_id"],
      columns: [
        c("account_id", references: "accounts"),
        c("instrument_id", references: "instruments", refused: false),
        c("quantity", .decimal), c("book_cost", .decimal, comment: "in the account's currency"),
        c("external_ref", nullable: true),
      ]),
    Table(
      name: "cash_balances", key: ["account_id", "currency"],
      columns: [c("account_id", references: "accounts"), c("currency"), c("balance", .decimal)]),
    Table(
      name: "transactions", key: ["transaction_id"],
      columns: [
        c("transaction_id"), c("account_id", references: "accounts"),
        c(
          "type",
          comment:
            "DEPOSIT | WITHDRAWAL | TRANSFER_IN | TRANSFER_OUT | BUY | SELL | DIVIDEND | INTEREST | FEE | TAX"
        ),
        c("status", comment: "SETTLED | PENDING | CANCELLED"), c("trade_date", .date),
        c("settle_date", .date),
        c(
          "instrument_id", nullable: true, references: "instruments", refused: false,
          comment: "BUY, SELL, DIVIDEND, and in-specie TRANSFER_IN/OUT"),
        c(
          "quantity", .decimal, nullable: true,
          comment: "BUY, SELL, in-specie transfers; signed: + units in, - units out"),
        c(
          "amount", .decimal,
          comment:
            "signed, from the account's side: + money in, - money out; for in-specie transfers the market value moved"
        ),
        c("currency"), c("external_ref", nullable: true),
      ],
      comment: [
        "The transactions booked since the previous snapshot (trade_date in",
        "(previous business_date, business_date]).",
      ]),
  ]

  public static let indexes: [Index] = [
    Index(name: "positions_by_account", table: "positions", columns: ["account_id"]),
    Index(name: "transactions_by_account", table: "transactions", columns: ["account_id"]),
    Index(name: "accounts_by_firm", table: "accounts", columns: ["firm_id"]),
  ]

  /// The table named `name` (one of ``tables``).
  public static func table(_ name: String) -> Table? { tables.first { $0.name == name } }

  // MARK: The DDL

  /// The header comment and every `CREATE TABLE`, each followed by a blank line.
  public static var tablesDDL: String {
    var out = header.map { "-- \($0)\n" }.joined() + "\n"
    for table in tables { out += table.ddl + "\n\n" }
    return out
  }

  /// Every `CREATE INDEX`, one a line.
  public static var indexesDDL: String {
    indexes.map { "CREATE INDEX \($0.name) ON \($0.table)(\($0.columns.joined(separator: ", ")));\n" }
      .joined()
  }

  /// The whole DDL of schema version 1, as the contract states it (and docs/snapshot-format.md
  /// shows it): ``tablesDDL`` then ``indexesDDL``.
  public static var ddl: String { tablesDDL + indexesDDL }
}

extension SnapshotSchema.Table {
  /// The table's `CREATE TABLE` statement with the comment lines above it, without a final newline.
  public var ddl: String {
    let width = (columns.map(\.name.count).max() ?? 0) + 1
    let compositeKey = key.count > 1
    var lines: [String] = []
    for (index, column) in columns.enumerated() {
      var line =
        "  " + column.name + String(repeating: " ", count: width - column.name.count) + column.sqlType
      if key == [column.name] {
        line += " PRIMARY KEY"
      } else if !column.nullable {
        line += " NOT NULL"
      }
      if let value = column.defaultValue { line += " DEFAULT \(value)" }
      if let reference = column.reference { line += " REFERENCES \(reference.table)(\(reference.column))" }
      if index < columns.count - 1 || compositeKey { line += "," }
      if let comment = column.comment {
        line += String(repeating: " ", count: max(2, commentPosition - line.count)) + "-- " + comment
      }
      lines.append(line)
    }
    if compositeKey { lines.append("  PRIMARY KEY (\(key.joined(separator: ", ")))") }
    return (comment.map { "-- \($0)\n" }.joined()) + "CREATE TABLE \(name) (\n"
      + lines.joined(separator: "\n")
      + "\n);"
  }
}
