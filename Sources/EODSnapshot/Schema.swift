/// Snapshot schema version 1, as the reader checks it.
public enum SnapshotSchema {
  public static let version = "1"

  /// A column and the syntax its values must have.
  public struct Column: Sendable {
    public enum Kind: Sendable { case text, decimal, date }
    public var name: String
    public var kind: Kind
    public var nullable: Bool
  }

  public struct Table: Sendable {
    public var name: String
    /// The columns that make a row's key, for error messages.
    public var key: [String]
    public var columns: [Column]
    /// Columns that name a row of another table by its (one-column) key: column → table. Every
    /// such value must exist there (instruments are not listed: an unknown instrument is a
    /// data-quality finding of the firm, not a refusal).
    public var references: [String: String] = [:]
  }

  static func c(_ name: String, _ kind: Column.Kind = .text, nullable: Bool = false) -> Column {
    Column(name: name, kind: kind, nullable: nullable)
  }

  public static let tables: [Table] = [
    Table(name: "snapshot_info", key: ["key"], columns: [c("key"), c("value")]),
    Table(name: "firms", key: ["firm_id"], columns: [c("firm_id"), c("name"), c("base_currency")]),
    Table(
      name: "clients", key: ["client_id"],
      columns: [c("client_id"), c("firm_id"), c("client_type"), c("external_ref", nullable: true)],
      references: ["firm_id": "firms"]),
    Table(
      name: "accounts", key: ["account_id"],
      columns: [
        c("account_id"), c("firm_id"), c("client_id"), c("wrapper"), c("currency"), c("opened_on", .date),
        c("closed_on", .date, nullable: true), c("external_ref", nullable: true),
      ],
      references: ["firm_id": "firms", "client_id": "clients"]),
    Table(
      name: "instruments", key: ["instrument_id"],
      columns: [
        c("instrument_id"), c("isin", nullable: true), c("sedol", nullable: true), c("name"),
        c("asset_class"),
        c("currency"), c("quote_factor", .decimal),
      ]),
    Table(
      name: "prices", key: ["instrument_id", "price_date"],
      columns: [c("instrument_id"), c("price_date", .date), c("price", .decimal)]),
    Table(
      name: "fx_rates", key: ["rate_date", "base_currency", "quote_currency"],
      columns: [c("rate_date", .date), c("base_currency"), c("quote_currency"), c("rate", .decimal)]),
    Table(
      name: "positions", key: ["account_id", "instrument_id"],
      columns: [
        c("account_id"), c("instrument_id"), c("quantity", .decimal), c("book_cost", .decimal),
        c("external_ref", nullable: true),
      ],
      references: ["account_id": "accounts"]),
    Table(
      name: "cash_balances", key: ["account_id", "currency"],
      columns: [c("account_id"), c("currency"), c("balance", .decimal)],
      references: ["account_id": "accounts"]),
    Table(
      name: "transactions", key: ["transaction_id"],
      columns: [
        c("transaction_id"), c("account_id"), c("type"), c("status"), c("trade_date", .date),
        c("settle_date", .date), c("instrument_id", nullable: true), c("quantity", .decimal, nullable: true),
        c("amount", .decimal), c("currency"), c("external_ref", nullable: true),
      ],
      references: ["account_id": "accounts"]),
  ]

  /// The table named `name` (one of ``tables``).
  static func table(_ name: String) -> Table? { tables.first { $0.name == name } }
}
