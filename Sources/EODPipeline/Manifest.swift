import EODCore
import EODRender

/// The manifest: the set's control document, written and delivered last.
public enum Manifest {
  /// 1.1 adds, per file, `control_totals_by_currency`, `accounts` and `key_columns`; nothing of
  /// 1 is removed or renamed.
  public static let schemaVersion = "1.1"

  static func string(_ value: String) -> String {
    var bytes: [UInt8] = []
    RowEncoder.appendJSONString(value, to: &bytes)
    return String(decoding: bytes, as: UTF8.self)
  }

  /// Deterministic JSON (fixed key order, two-space indent) apart from run_id and generated_at.
  static func render(
    firmID: String, date: CivilDate, runID: String, generatedAt: String, files: [ExtractFileSummary],
    snapshotGeneratedAt: String?, errors: Int, warnings: Int
  ) -> String {
    var lines: [String] = ["{"]
    lines.append("  \"firm_id\": \(string(firmID)),")
    lines.append("  \"business_date\": \(string(date.description)),")
    lines.append("  \"run_id\": \(string(runID)),")
    lines.append("  \"generated_at\": \(string(generatedAt)),")
    lines.append("  \"schema_version\": \(string(schemaVersion)),")
    lines.append("  \"snapshot_schema_version\": \"1\",")
    if let snapshotGeneratedAt {
      lines.append("  \"snapshot_generated_at\": \(string(snapshotGeneratedAt)),")
    }
    let templates = files.map { "    \(string($0.extract.rawValue)): \(string($0.template))" }
    lines.append("  \"template_versions\": {\n" + templates.joined(separator: ",\n") + "\n  },")
    var fileTexts: [String] = []
    for file in files {
      var parts: [String] = [
        "\"name\": \(string(file.name))", "\"extract\": \(string(file.extract.rawValue))",
        "\"template\": \(string(file.template))", "\"format\": \(string(file.format.rawValue))",
        "\"compression\": \(string(file.compression))", "\"rows\": \(file.rows)", "\"bytes\": \(file.bytes)",
        "\"sha256\": \(string(file.sha256))",
      ]
      let totals = file.controlTotals.map { "\(string($0.0)): \(string($0.1))" }.joined(separator: ", ")
      parts.append("\"control_totals\": {\(totals)}")
      if let figures = file.figures, let name = ControlFigures.totalName(file.extract) {
        // Sorted by currency code: deterministic.
        let byCurrency = figures.byCurrency.keys.sorted().map { currency in
          let entry = figures.byCurrency[currency] ?? ControlFigures.CurrencyFigures()
          return
            "\(string(currency)): {\(string(name)): \(string(entry.total.description)), \"rows\": \(entry.rows)}"
        }
        parts.append("\"control_totals_by_currency\": {\(byCurrency.joined(separator: ", "))}")
        parts.append("\"accounts\": \(figures.accounts)")
      }
      parts.append("\"key_columns\": [\(file.keyColumns.map(string).joined(separator: ", "))]")
      fileTexts.append("    {" + parts.joined(separator: ", ") + "}")
    }
    lines.append("  \"files\": [\n" + fileTexts.joined(separator: ",\n") + "\n  ],")
    lines.append("  \"data_quality\": {\"errors\": \(errors), \"warnings\": \(warnings)}")
    lines.append("}")
    return lines.joined(separator: "\n") + "\n"
  }
}

/// A file's control figures (manifest schema 1.1): the exact sum of its amount column, that sum
/// and the row count per account currency, and the number of distinct accounts with rows in it.
public struct ControlFigures: Sendable, Equatable {
  public struct CurrencyFigures: Sendable, Equatable {
    public var total = MoneySum()
    public var rows = 0
  }

  /// The figures of the currency of the account added last, kept in the struct itself (with
  /// what an account updates next to them): a firm's accounts are mostly in one currency, so most
  /// accounts touch no array (at 999 firms each account finds its firm's figures cold in the
  /// cache, and every array was one more miss).
  private var currentFigures = CurrencyFigures()
  /// The distinct accounts with rows in the file.
  public private(set) var accounts = 0
  private var current: String?
  /// The other currencies seen, in the order they were left.
  private var others: [(currency: String, figures: CurrencyFigures)] = []

  public init() {}

  /// Every currency's total together (adds different currencies: kept for schema 1). Exact, so
  /// the same as adding every row in turn.
  public var total: MoneySum {
    others.reduce(currentFigures.total) { $0.adding($1.figures.total) }
  }

  /// Per account currency: the sum and the rows.
  public var byCurrency: [String: CurrencyFigures] {
    var figures = Dictionary(others, uniquingKeysWith: { first, _ in first })
    if let current { figures[current] = currentFigures }
    return figures
  }

  public static func == (lhs: ControlFigures, rhs: ControlFigures) -> Bool {
    lhs.total == rhs.total && lhs.accounts == rhs.accounts && lhs.byCurrency == rhs.byCurrency
  }

  /// Adds one account's rows (all in its `currency`) and the sum of their amounts.
  mutating func add(_ amount: MoneySum?, rows: Int, currency: String) {
    guard rows > 0 else { return }
    accounts += 1
    if currency != current { switchCurrency(to: currency) }
    if let amount { currentFigures.total.add(amount) }
    currentFigures.rows += rows
  }

  /// Parks the current currency's figures and takes `currency`'s (new or parked).
  private mutating func switchCurrency(to currency: String) {
    if let current { others.append((current, currentFigures)) }
    if let index = others.firstIndex(where: { $0.currency == currency }) {
      currentFigures = others.remove(at: index).figures
    } else {
      currentFigures = CurrencyFigures()
    }
    current = currency
  }

  /// The column a file's control total adds up.
  public static func totalName(_ extract: ExtractKind) -> String? {
    switch extract {
    case .positions: return "market_value"
    case .cash: return "value"
    case .transactions: return "amount_account_currency"
    case .valuations: return "total_value"
    case .dataQuality: return nil
    }
  }

  /// The fields that identify a row of `extract`: its sort key in the contract.
  public static func keyFields(_ extract: ExtractKind) -> [String] {
    switch extract {
    case .positions: return ["account_id", "instrument_id"]
    case .cash: return ["account_id", "currency"]
    case .transactions: return ["account_id", "trade_date", "transaction_id"]
    case .valuations: return ["account_id"]
    case .dataQuality: return ["severity", "code", "resource_type", "resource_id"]
    }
  }

  /// The key fields as the file names them (CSV header, or JSON key), for those the template
  /// shows.
  static func keyColumns(_ template: Template, format: ExtractFormat) -> [String] {
    keyFields(template.extract).compactMap { name in
      guard let column = template.columns.first(where: { $0.field.name == name }) else { return nil }
      if format == .csv || column.header != column.field.name { return column.header }
      return column.field.jsonKey
    }
  }
}
