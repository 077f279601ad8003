import EODCore
import EODRender

/// Parses one file's decompressed bytes as they stream in and recomputes what the manifest
/// claims: rows, header, control totals (exact: ``MoneySum``), per-currency totals and rows, and
/// distinct accounts.
final class ContentChecker {
  let entry: ManifestEntry
  let format: ExtractFormatName
  let template: Result<Template, TemplateProblem>
  /// The header (CSV) or keys (JSON) the template gives, in order.
  let expected: [String]?
  /// The field the control total adds up (the manifest's `control_totals` key).
  let totalField: String?
  let totalColumn: String?
  let currencyColumn: String?
  let accountColumn: String?

  private var csv = CSVRecordReader()
  private var json = JSONLinesReader()
  private var header: [String]?
  private var totalIndex: Int?
  private var currencyIndex: Int?
  private var accountIndex: Int?

  private(set) var rows = 0
  private var parseProblem: String?
  private var headerProblem: String?
  private var headerMismatches = 0
  private var total = MoneySum()
  private var byCurrency: [String: (total: MoneySum, rows: Int)] = [:]
  private var accounts = 0
  private var lastAccount: [UInt8]?
  private var cellProblem: String?
  private var cellProblems = 0
  /// More distinct account currencies than any real file has (ISO 4217 has under 200).
  static let maxCurrencies = 1000
  private var tooManyCurrencies = false

  init(entry: ManifestEntry, format: ExtractFormatName, template: Result<Template, TemplateProblem>) {
    self.entry = entry
    self.format = format
    self.template = template
    let columns = try? template.get().columns
    func name(_ column: Template.Column) -> String {
      if format == .csv || column.header != column.field.name { return column.header }
      return column.field.jsonKey
    }
    expected = columns?.map(name)
    /// A field's column as the file names it: by the template, else the standard naming.
    func column(_ field: String) -> String? {
      guard let columns else { return format == .csv ? field : Field.camelCase(field) }
      return columns.first { $0.field.name == field }.map(name)
    }
    totalField = entry.controlTotals.keys.sorted().first
    totalColumn = totalField.flatMap(column)
    currencyColumn = column("account_currency")
    accountColumn = column("account_id")
  }

  func feed(_ bytes: UnsafeRawBufferPointer) {
    switch format {
    case .csv: csv.feed(bytes, csvRecord)
    case .json: json.feed(bytes, jsonObject)
    }
  }

  func finish() {
    switch format {
    case .csv: csv.finish(csvRecord)
    case .json: json.finish()
    }
    if parseProblem == nil { parseProblem = format == .csv ? csv.error : json.error }
    if format == .csv && header == nil && parseProblem == nil {
      parseProblem = "the file is empty: no header row"
    }
  }

  /// The reader stopped on malformed input: the counts cover only the part before it.
  private var stopped: Bool {
    (format == .csv ? csv.error : json.error) != nil || (format == .csv && header == nil)
  }

  private func csvRecord(_ fields: [[UInt8]], _ line: Int) {
    guard let header else {
      let names = fields.map { String(decoding: $0, as: UTF8.self) }
      self.header = names
      if let expected, names != expected {
        headerProblem = Self.difference(found: names, expected: expected, what: "the header")
      }
      totalIndex = totalColumn.flatMap { names.firstIndex(of: $0) }
      currencyIndex = currencyColumn.flatMap { names.firstIndex(of: $0) }
      accountIndex = accountColumn.flatMap { names.firstIndex(of: $0) }
      return
    }
    rows += 1
    if fields.count != header.count, parseProblem == nil {
      parseProblem = "record \(rows) (line \(line)) has \(fields.count) fields, the header \(header.count)"
    }
    func cell(_ index: Int?) -> [UInt8]? {
      guard let index, index < fields.count, !fields[index].isEmpty else { return nil }
      return fields[index]
    }
    add(total: cell(totalIndex), currency: cell(currencyIndex), account: cell(accountIndex), line: line)
  }

  private func jsonObject(_ object: [(String, JSONScalar)], _ line: Int) {
    rows += 1
    let keys = object.map(\.0)
    if let expected, keys != expected {
      headerMismatches += 1
      if headerProblem == nil {
        headerProblem = Self.difference(found: keys, expected: expected, what: "the keys of line \(line)")
      }
    }
    func cell(_ key: String?) -> [UInt8]? {
      guard let key, let value = object.first(where: { $0.0 == key })?.1.cell, !value.isEmpty else {
        return nil
      }
      return value
    }
    add(total: cell(totalColumn), currency: cell(currencyColumn), account: cell(accountColumn), line: line)
  }

  private func add(total cell: [UInt8]?, currency: [UInt8]?, account: [UInt8]?, line: Int) {
    var amount: ExactDecimal?
    if let cell {
      amount = cell.withUnsafeBufferPointer { ExactDecimal.parse($0) }
      if amount == nil {
        cellProblems += 1
        if cellProblem == nil {
          cellProblem =
            "line \(line): \(totalColumn ?? "") is '\(String(decoding: cell.prefix(64), as: UTF8.self))', not a decimal"
        }
      }
    }
    if let amount { total.add(amount) }
    if let currency, !tooManyCurrencies {
      let code = String(decoding: currency, as: UTF8.self)
      if byCurrency[code] == nil && byCurrency.count == Self.maxCurrencies {
        // Hostile input: the figures kept per currency stay bounded.
        tooManyCurrencies = true
      } else {
        var figures = byCurrency[code] ?? (MoneySum(), 0)
        if let amount { figures.total.add(amount) }
        figures.rows += 1
        byCurrency[code] = figures
      }
    }
    if let account, account != lastAccount {
      accounts += 1
      lastAccount = account
    }
  }

  /// Where two column lists first differ.
  static func difference(found: [String], expected: [String], what: String) -> String {
    for index in 0..<max(found.count, expected.count) {
      let left = index < found.count ? "'\(found[index])'" : "nothing"
      let right = index < expected.count ? "'\(expected[index])'" : "nothing"
      if left != right {
        return "\(what): column \(index + 1) is \(left) where the template has \(right)"
          + " (\(found.count) columns, the template \(expected.count))"
      }
    }
    return "\(what) differ from the template"
  }

  /// The content checks, in order.
  func checks(schema: String) -> [Check] {
    var out: [Check] = []
    let what = format == .csv ? "records" : "JSON objects"
    if let parseProblem {
      out.append(Check("parse", .failed, parseProblem))
    } else {
      out.append(Check("parse", .passed, "\(rows) \(what), \(format == .csv ? "RFC 4180" : "JSON Lines")"))
    }
    switch template {
    case .failure(let problem):
      out.append(Check("header", .failed, problem.detail))
    case .success(let template):
      var problem = headerProblem
      if let first = problem, headerMismatches > 1 {
        problem = first + " (and \(headerMismatches - 1) more lines)"
      }
      if problem == nil, let expected, let keys = entry.keyColumns {
        if let missing = keys.first(where: { !expected.contains($0) }) {
          problem = "key column '\(missing)' named in the manifest is not a column of \(template.name)"
        }
      }
      if let problem {
        out.append(Check("header", .failed, problem))
      } else if format == .json && rows == 0 {
        out.append(Check("header", .passed, "no rows: \(template.name) not compared"))
      } else {
        out.append(Check("header", .passed, template.name))
      }
    }
    guard !stopped else {
      for name in ["rows", "control_total", "control_totals_by_currency", "accounts"] {
        out.append(Check(name, .skipped, "not checked: the file does not parse"))
      }
      return out
    }
    out.append(
      Check(
        "rows", rows == entry.rows ? .passed : .failed,
        rows == entry.rows ? "\(rows)" : "manifest says \(entry.rows) rows, the file has \(rows)"))
    out.append(totalCheck())
    out.append(currencyCheck(schema: schema))
    out.append(accountsCheck(schema: schema))
    return out
  }

  private func located(_ column: String?) -> Bool {
    guard let column else { return false }
    if format == .csv { return header?.contains(column) ?? false }
    return expected?.contains(column) ?? true
  }

  private func totalCheck() -> Check {
    guard let field = totalField, let claimed = entry.controlTotals[field] else {
      return Check("control_total", .notApplicable, "the manifest has no control total for \(entry.extract)")
    }
    guard located(totalColumn) else {
      return Check("control_total", .skipped, "the file has no \(field) column: \(claimed) not recomputed")
    }
    if let cellProblem {
      return Check(
        "control_total", .failed, cellProblem + (cellProblems > 1 ? " (and \(cellProblems - 1) more)" : ""))
    }
    let found = total.description
    return found == claimed
      ? Check("control_total", .passed, "\(field) \(found)")
      : Check("control_total", .failed, "manifest says \(field) \(claimed), the rows add up to \(found)")
  }

  private func currencyCheck(schema: String) -> Check {
    let name = "control_totals_by_currency"
    guard let claimed = entry.byCurrency else {
      if entry.controlTotals.isEmpty {
        return Check(name, .notApplicable, "no control totals for \(entry.extract)")
      }
      return Check(name, .skipped, "schema \(schema) manifest: no per-currency totals to check")
    }
    guard located(currencyColumn), located(totalColumn) else {
      // Not recomputable from this file's columns: the figures must at least add up to the
      // single total and the rows.
      var sum = MoneySum()
      var rowSum = 0
      for figures in claimed.values {
        guard let amount = ExactDecimal(figures.total) else {
          return Check(name, .failed, "a per-currency total '\(figures.total)' is not a decimal")
        }
        sum.add(amount)
        rowSum += figures.rows
      }
      let single = totalField.flatMap { entry.controlTotals[$0] } ?? ""
      guard sum.description == single, rowSum == entry.rows else {
        return Check(
          name, .failed,
          "the per-currency figures add up to \(sum.description) over \(rowSum) rows; the manifest's total is "
            + "\(single) over \(entry.rows) rows")
      }
      return Check(
        name, .skipped,
        "the file has no account_currency column: only checked that the figures add up to the total and rows")
    }
    if tooManyCurrencies {
      return Check(
        name, .failed, "the file has more than \(Self.maxCurrencies) distinct account_currency values")
    }
    var problems: [String] = []
    for currency in Set(claimed.keys).union(byCurrency.keys).sorted() {
      let found = byCurrency[currency].map { ($0.total.description, $0.rows) }
      let said = claimed[currency].map { ($0.total, $0.rows) }
      switch (said, found) {
      case (let said?, let found?):
        if said.0 != found.0 || said.1 != found.1 {
          problems.append(
            "\(currency): manifest says \(said.0) over \(said.1) rows, the file \(found.0) over \(found.1)")
        }
      case (let said?, nil):
        problems.append("\(currency): manifest says \(said.0) over \(said.1) rows, the file has none")
      case (nil, let found?):
        problems.append("\(currency): the file has \(found.0) over \(found.1) rows, the manifest lists none")
      case (nil, nil): break
      }
    }
    if problems.isEmpty {
      let list = claimed.keys.sorted().map { "\($0) \(claimed[$0]?.total ?? "")" }.joined(separator: ", ")
      return Check(name, .passed, list.isEmpty ? "no rows" : list)
    }
    return Check(name, .failed, problems.joined(separator: "; "))
  }

  private func accountsCheck(schema: String) -> Check {
    guard let claimed = entry.accounts else {
      if entry.controlTotals.isEmpty {
        return Check("accounts", .notApplicable, "no accounts for \(entry.extract)")
      }
      return Check("accounts", .skipped, "schema \(schema) manifest: no account count to check")
    }
    guard located(accountColumn) else {
      return Check("accounts", .skipped, "the file has no account_id column: \(claimed) not recounted")
    }
    return claimed == accounts
      ? Check("accounts", .passed, "\(accounts)")
      : Check(
        "accounts", .failed,
        "manifest says \(claimed) accounts, the file has \(accounts) (counted as runs of account_id: the file is "
          + "sorted by it)")
  }
}
