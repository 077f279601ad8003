import EODCore
import EODPipeline
import EODRender
import EODSQLite
import EODSnapshotGen
import EODState
import Foundation
import Testing

private func d(_ text: String) -> ExactDecimal { ExactDecimal(text) ?? .zero }

/// Values a ledger should not hold, sums at any size and formula cells, through the job on
/// generated snapshots edited with SQLite (issue 11, contract 1.1, manifest schema 1.1).
@Suite struct LedgerValuesPipelineTests {
  struct Run {
    var report: RunReport
    var firm: FirmOutcome
    /// Every account's currency, from the snapshot.
    var currencies: [String: String]
    func rows(_ kind: String) throws -> [[String]] {
      let file = try #require(firm.files.first { $0.name.contains("_\(kind)_") })
      return parseCSV(try readGzipText(file.path))
    }
    /// Rows as dictionaries by header.
    func records(_ kind: String) throws -> [[String: String]] {
      let rows = try rows(kind)
      return rows.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(rows[0], $0)) }
    }
    func findings(_ resource: String) throws -> Set<String> {
      Set(try records("data_quality").filter { $0["resource_id"] == resource }.map { $0["code"] ?? "" })
    }
    func manifest() throws -> [String: Any] {
      let path = try #require(firm.manifestPath)
      let data = try #require(FileManager.default.contents(atPath: path))
      return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
  }

  /// A one-day series, edited by `sql` (with `$A`, `$B`: two GBP accounts of `$F` open before the
  /// date, `$D`: the date), then run.
  func run(_ name: String, formulaSafe: Bool = false, _ sql: String) throws -> (Run, [String: String]) {
    let (scratch, paths) = try Fixtures.series(
      name,
      GeneratorOptions(
        days: 1, firms: 2, accounts: 60, instruments: 80, positions: 4, activity: 0.4, seed: 11, edge: true))
    let path = try #require(paths.first)
    let db = try SQLiteConnection(path: path, mode: .readWrite)
    let date = try #require(try db.scalarText("SELECT value FROM snapshot_info WHERE key = 'business_date'"))
    let open = "FROM accounts WHERE currency = 'GBP' AND closed_on IS NULL AND opened_on < '\(date)'"
    let a = try #require(try db.scalarText("SELECT account_id \(open) ORDER BY account_id LIMIT 1"))
    let firm = try #require(
      try db.scalarText("SELECT firm_id FROM accounts WHERE account_id = ?", [.text(a)]))
    let b = try #require(
      try db.scalarText(
        "SELECT account_id \(open) AND firm_id = ? AND account_id > ? ORDER BY account_id LIMIT 1",
        [.text(firm), .text(a)]))
    let names = ["$A": a, "$B": b, "$F": firm, "$D": date]
    var text = sql
    for (key, value) in names { text = text.replacingOccurrences(of: key, with: value) }
    try db.execute("PRAGMA foreign_keys = OFF; " + text)
    var currencies: [String: String] = [:]
    let statement = try db.prepare("SELECT account_id, currency FROM accounts")
    while try statement.step() { currencies[statement.text(0) ?? ""] = statement.text(1) ?? "" }
    let library = try Fixtures.library()
    let options = JobOptions(
      snapshotPath: path, outputDirectory: scratch + "/out", templates: library,
      defaultSettings: FirmSettings(formulaSafe: formulaSafe), workerCount: 2)
    let report = try ExtractJob.run(
      options, store: try StateStore(path: scratch + "/state.sqlite"), logger: Fixtures.logger)
    let outcome = try #require(report.firms.first { $0.firmID == firm })
    return (Run(report: report, firm: outcome, currencies: currencies), names)
  }

  @Test func valuesALedgerShouldNotHoldAreFindings() throws {
    let (run, names) = try run(
      "ledger-values",
      """
      INSERT INTO instruments VALUES ('XNEG', 'GB00XNEG0001', NULL, 'Negative plc', 'EQUITY', 'GBP', '1');
      INSERT INTO instruments VALUES ('XZERO', NULL, NULL, 'Zero plc', 'EQUITY', 'GBP', '1');
      INSERT INTO instruments VALUES ('XSHORT', NULL, NULL, 'Short plc', 'EQUITY', 'GBP', '1');
      INSERT INTO instruments VALUES ('XQA', NULL, NULL, 'QA fund', 'FUND', 'QAA', '1');
      INSERT INTO instruments VALUES ('XQB', NULL, NULL, 'QB fund', 'FUND', 'QBB', '1');
      INSERT INTO instruments VALUES ('XQC', NULL, NULL, 'QC fund', 'FUND', 'QCC', '1');
      INSERT INTO instruments VALUES ('XQN', NULL, NULL, 'QN fund', 'FUND', 'QNN', '1');
      INSERT INTO prices VALUES ('XNEG', '$D', '-1.50'), ('XZERO', '$D', '0'), ('XSHORT', '$D', '2.00'),
        ('XQA', '$D', '10'), ('XQB', '$D', '10'), ('XQC', '$D', '10'), ('XQN', '$D', '10');
      INSERT INTO fx_rates VALUES ('$D', 'QAA', 'GBP', '0'), ('$D', 'GBP', 'QAA', '2'),
        ('$D', 'QBB', 'GBP', '-1'), ('$D', 'QCC', 'GBP', '0'), ('$D', 'QNN', 'GBP', '-1'), ('$D', 'GBP', 'QNN', '4');
      INSERT INTO positions VALUES ('$A', 'XNEG', '10', '0', NULL), ('$A', 'XZERO', '10', '0', NULL),
        ('$A', 'XSHORT', '-10', '0', NULL), ('$A', 'XQA', '10', '0', NULL), ('$A', 'XQB', '10', '0', NULL),
        ('$A', 'XQC', '10', '0', NULL), ('$A', 'XQN', '10', '0', NULL);
      INSERT INTO cash_balances VALUES ('$A', 'QBB', '100'), ('$A', 'QAA', '50');
      INSERT INTO transactions VALUES ('TXQB', '$A', 'DEPOSIT', 'SETTLED', '$D', '$D', NULL, NULL, '100', 'QBB',
        NULL), ('TXQC', '$A', 'FEE', 'SETTLED', '$D', '$D', NULL, NULL, '-5', 'QCC', NULL);
      """)
    let a = try #require(names["$A"])
    #expect(run.firm.error == nil)
    let positions = try run.records("positions").filter { $0["account_id"] == a }
    func position(_ id: String) throws -> [String: String] {
      try #require(positions.first { $0["instrument_id"] == id }, "\(id)")
    }
    // A negative price: INVALID, not valued, INVALID_PRICE (not MISSING_PRICE).
    #expect(try position("XNEG")["price_status"] == "INVALID")
    #expect(try position("XNEG")["market_value"] == "")
    #expect(try position("XNEG")["fx_rate"] == "")
    #expect(try run.findings("\(a)/XNEG") == ["INVALID_PRICE"])
    // A zero price values at 0, with ZERO_PRICE; a negative quantity is valued, NEGATIVE_QUANTITY.
    #expect(try position("XZERO")["market_value"] == "0.00")
    #expect(try position("XZERO")["price_status"] == "OK")
    #expect(try run.findings("\(a)/XZERO") == ["ZERO_PRICE"])
    #expect(try position("XSHORT")["market_value"] == "-20.00")
    #expect(try run.findings("\(a)/XSHORT") == ["NEGATIVE_QUANTITY"])
    // FX 0 on the direct rate with an inverse: the inverse, no finding.
    #expect(try position("XQA")["market_value"] == "50.00")
    #expect(try position("XQA")["fx_rate"] == "0.5000000000")
    #expect(try run.findings("\(a)/XQA").isEmpty)
    // FX -1 on the direct rate with an inverse: the inverse too.
    #expect(try position("XQN")["market_value"] == "25.00")
    #expect(try position("XQN")["fx_rate"] == "0.2500000000")
    #expect(try run.findings("\(a)/XQN").isEmpty)
    // FX -1 and 0 without an inverse: unconverted, MISSING_FX and INVALID_FX.
    #expect(try position("XQB")["market_value"] == "")
    #expect(try run.findings("\(a)/XQB") == ["MISSING_FX", "INVALID_FX"])
    #expect(try position("XQC")["market_value"] == "")
    #expect(try run.findings("\(a)/XQC") == ["MISSING_FX", "INVALID_FX"])
    // Cash and transactions the same way.
    let cash = try run.records("cash").filter { $0["account_id"] == a }
    #expect(cash.first { $0["currency"] == "QAA" }?["value"] == "25.00")
    #expect(cash.first { $0["currency"] == "QBB" }?["value"] == "")
    #expect(try run.findings("\(a)/QBB") == ["MISSING_FX", "INVALID_FX"])
    #expect(try run.findings("\(a)/QAA").isEmpty)
    let transactions = try run.records("transactions")
    #expect(transactions.first { $0["transaction_id"] == "TXQB" }?["amount_account_currency"] == "")
    #expect(try run.findings("TXQB") == ["MISSING_FX", "INVALID_FX"])
    #expect(try run.findings("TXQC") == ["MISSING_FX", "INVALID_FX"])
    let severities = try run.records("data_quality").filter {
      $0["code"] == "INVALID_FX" || $0["code"] == "INVALID_PRICE"
    }
    #expect(severities.count == 6)
    #expect(severities.allSatisfy { $0["severity"] == "ERROR" })
    let valuation = try #require(try run.records("valuations").first { $0["account_id"] == a })
    #expect((Int(valuation["unpriced_positions"] ?? "") ?? 0) >= 3)
  }

  /// 38-digit amounts: each row exact, every control total exact past 2^63 cents and past 10^38,
  /// an account too large for a row or for the history marked VALUE_OUT_OF_RANGE, its firm written.
  @Test func sumsAreExactAtAnySize() throws {
    let big = "999999999999999999999999999999999999.99"
    var transactions: [String] = []
    for index in 0..<150 {
      transactions.append(
        "('TXBIG\(index)', '$B', 'DIVIDEND', 'SETTLED', '$D', '$D', NULL, NULL, '\(big)', 'GBP', NULL)")
    }
    let (run, names) = try run(
      "ledger-sums",
      """
      INSERT INTO instruments VALUES ('XBIG', NULL, NULL, 'Big plc', 'EQUITY', 'GBP', '1');
      INSERT INTO instruments VALUES ('XBIG2', NULL, NULL, 'Big two plc', 'EQUITY', 'GBP', '1');
      INSERT INTO instruments VALUES ('XHUGE', NULL, NULL, 'Huge plc', 'EQUITY', 'GBP', '1');
      INSERT INTO prices VALUES ('XBIG', '$D', '1'), ('XBIG2', '$D', '1'), ('XHUGE', '$D', '10');
      INSERT INTO positions VALUES ('$A', 'XBIG', '\(big)', '0', NULL), ('$A', 'XBIG2', '\(big)', '0', NULL),
        ('$B', 'XHUGE', '100000000000000000', '0', NULL);
      UPDATE cash_balances SET balance = '\(big)' WHERE account_id = '$A' AND currency = 'GBP';
      INSERT OR IGNORE INTO cash_balances VALUES ('$A', 'GBP', '\(big)');
      INSERT INTO transactions VALUES ('TXTOOBIG', '$B', 'FEE', 'SETTLED', '$D', '$D', NULL, NULL,
        '99999999999999999999999999999999999999', 'USD', NULL), \(transactions.joined(separator: ", "));
      """)
    let a = try #require(names["$A"])
    let b = try #require(names["$B"])
    #expect(run.firm.error == nil, "\(String(describing: run.firm.error))")
    // Rows exact; the account's sums that do not fit in 38 digits are empty and reported.
    let positions = try run.records("positions")
    #expect(
      positions.first { $0["account_id"] == a && $0["instrument_id"] == "XBIG" }?["market_value"] == big)
    let valuations = try run.records("valuations")
    let va = try #require(valuations.first { $0["account_id"] == a })
    #expect(va["positions_value"] == "")
    #expect(va["total_value"] == "")
    #expect(va["cash_value"] == big)
    let findings = try run.records("data_quality").filter { $0["resource_id"] == a }
    #expect(findings.contains { $0["code"] == "VALUE_OUT_OF_RANGE" && $0["field"] == "positions_value" })
    #expect(findings.contains { $0["code"] == "VALUE_OUT_OF_RANGE" && $0["field"] == "total_value" })
    // Beyond 64-bit cents but within 38 digits: shown, no returns, no history row; firm written.
    let vb = try #require(valuations.first { $0["account_id"] == b })
    #expect(try #require(ExactDecimal(vb["positions_value"] ?? "")) > d("1000000000000000000"))
    #expect(vb["return_1d"] == "")
    #expect(try run.findings(b).contains("VALUE_OUT_OF_RANGE"))
    // A converted amount too long for 38 digits: empty, VALUE_OUT_OF_RANGE (USD into GBP).
    let transactionRows = try run.records("transactions")
    #expect(transactionRows.first { $0["transaction_id"] == "TXTOOBIG" }?["amount_account_currency"] == "")
    #expect(try run.findings("TXTOOBIG") == ["VALUE_OUT_OF_RANGE"])
    // Every control total is the exact sum of its rows, overall and per account currency.
    let manifest = try run.manifest()
    #expect(manifest["schema_version"] as? String == "1.1")
    let files = try #require(manifest["files"] as? [[String: Any]])
    for (kind, column) in [
      ("positions", "market_value"), ("cash", "value"), ("transactions", "amount_account_currency"),
      ("valuations", "total_value"),
    ] {
      let entry = try #require(files.first { $0["extract"] as? String == kind })
      let records = try run.records(kind)
      var total = MoneySum()
      var byCurrency: [String: (MoneySum, Int)] = [:]
      for record in records {
        let currency = run.currencies[record["account_id"] ?? ""] ?? "?"
        byCurrency[currency, default: (MoneySum(), 0)].1 += 1
        guard let value = ExactDecimal(record[column] ?? "") else { continue }
        total.add(value)
        byCurrency[currency, default: (MoneySum(), 0)].0.add(value)
      }
      let totals = try #require(entry["control_totals"] as? [String: String])
      #expect(totals[column] == total.description, "\(kind)")
      let perCurrency = try #require(entry["control_totals_by_currency"] as? [String: [String: Any]])
      #expect(Set(perCurrency.keys) == Set(byCurrency.keys), "\(kind)")
      for (currency, figures) in byCurrency {
        #expect(perCurrency[currency]?[column] as? String == figures.0.description, "\(kind) \(currency)")
        #expect(perCurrency[currency]?["rows"] as? Int == figures.1, "\(kind) \(currency)")
      }
      #expect(entry["accounts"] as? Int == Set(records.map { $0["account_id"] ?? "" }).count, "\(kind)")
    }
    let transactionTotal = try #require(
      (files.first { $0["extract"] as? String == "transactions" }?["control_totals"] as? [String: String])?[
        "amount_account_currency"])
    #expect(transactionTotal.count > 40)  // past 10^38
    let keys = files.map { ($0["extract"] as? String ?? "", $0["key_columns"] as? [String] ?? []) }
    #expect(keys.first { $0.0 == "positions" }?.1 == ["account_id", "instrument_id"])
    #expect(keys.first { $0.0 == "transactions" }?.1 == ["account_id", "trade_date", "transaction_id"])
    #expect(keys.first { $0.0 == "data_quality" }?.1 == ["severity", "code", "resource_type", "resource_id"])
  }

  /// With `formula_safe_csv`, every text cell that starts like a formula is neutralised, in every
  /// extract; decimal columns (a negative quantity or amount) stay numbers.
  @Test func formulaSafeCoversEveryTextCell() throws {
    let (run, _) = try run(
      "ledger-formulas", formulaSafe: true,
      """
      UPDATE accounts SET account_id = '=HYPERLINK("http://x")', external_ref = '-A1-B1', wrapper = '+W'
        WHERE account_id = '$A';
      UPDATE positions SET account_id = '=HYPERLINK("http://x")' WHERE account_id = '$A';
      UPDATE cash_balances SET account_id = '=HYPERLINK("http://x")' WHERE account_id = '$A';
      UPDATE transactions SET account_id = '=HYPERLINK("http://x")' WHERE account_id = '$A';
      UPDATE clients SET client_id = '@SUM(1+1)', external_ref = '-1'
        WHERE client_id = (SELECT client_id FROM accounts WHERE account_id = '=HYPERLINK("http://x")');
      UPDATE accounts SET client_id = '@SUM(1+1)' WHERE account_id = '=HYPERLINK("http://x")';
      INSERT INTO instruments VALUES ('=1+1', '+1+cmd|x', '@s', '-name', '=EQ', 'GBP', '1');
      INSERT INTO prices VALUES ('=1+1', '$D', '2');
      INSERT INTO positions VALUES ('=HYPERLINK("http://x")', '=1+1', '-3', '-7.5', '-ref');
      INSERT INTO transactions VALUES ('-2+3', '=HYPERLINK("http://x")', '+FEE', '@S', '$D', '$D', '=1+1', '-1',
        '-12.34', 'GBP', '-A');
      UPDATE firms SET name = '=cmd' WHERE firm_id = '$F';
      """)
    #expect(run.firm.error == nil)
    var seen = 0
    for kind in ["positions", "cash", "transactions", "valuations", "data_quality"] {
      let rows = try run.rows(kind)
      let header = rows[0]
      let fields = try #require(ExtractKind(rawValue: kind)?.fields)
      for row in rows.dropFirst() {
        for (index, cell) in row.enumerated() {
          let field = try #require(fields.first { $0.name == header[index] })
          guard let first = cell.unicodeScalars.first else { continue }
          if field.kind == .text {
            #expect(!["=", "+", "-", "@", "\t", "\r"].contains(first), "\(kind) \(header[index]): \(cell)")
            if first == "'" { seen += 1 }
          } else if cell.hasPrefix("-") {
            #expect(ExactDecimal(cell) != nil, "\(kind) \(header[index]): \(cell)")
          }
        }
      }
    }
    #expect(seen > 10)
    let positions = try run.records("positions")
    let row = try #require(positions.first { $0["instrument_id"] == "'=1+1" })
    #expect(row["account_id"] == "'=HYPERLINK(\"http://x\")")
    #expect(row["client_id"] == "'@SUM(1+1)")
    #expect(row["isin"] == "'+1+cmd|x")
    #expect(row["account_external_ref"] == "'-A1-B1")
    #expect(row["quantity"] == "-3")
    #expect(row["market_value"] == "-6.00")
    let transaction = try #require(try run.records("transactions").first { $0["transaction_id"] == "'-2+3" })
    #expect(transaction["amount"] == "-12.34")
  }
}
