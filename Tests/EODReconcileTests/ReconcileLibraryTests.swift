import EODCore
import EODReconcile
import Foundation
import Testing

func decimal(_ text: String) -> ExactDecimal {
  guard let value = ExactDecimal(text) else { fatalError("bad decimal in a test: \(text)") }
  return value
}

@Suite struct ToleranceTests {
  @Test func absoluteAtJustInsideAndJustOutsideItsBound() {
    let tolerance = Tolerance(absolute: decimal("0.01"))
    #expect(tolerance.holds(ours: decimal("100.00"), theirs: decimal("100.01")))
    #expect(tolerance.holds(ours: decimal("100.01"), theirs: decimal("100.00")))
    #expect(tolerance.holds(ours: decimal("100.000"), theirs: decimal("100.009")))
    #expect(!tolerance.holds(ours: decimal("100.000"), theirs: decimal("100.011")))
    #expect(!tolerance.holds(ours: decimal("100.00"), theirs: decimal("99.98")))
  }

  @Test func relativeIsAFractionOfTheirValue() {
    let tolerance = Tolerance(relative: decimal("0.001"))
    // 0.001 × 2000 = 2: the bound is exactly 2.
    #expect(tolerance.holds(ours: decimal("2002"), theirs: decimal("2000")))
    #expect(tolerance.holds(ours: decimal("2001.999"), theirs: decimal("2000")))
    #expect(!tolerance.holds(ours: decimal("2002.001"), theirs: decimal("2000")))
    #expect(tolerance.holds(ours: decimal("-2002"), theirs: decimal("-2000")))
  }

  @Test func absoluteAndRelativeAdd() {
    let tolerance = Tolerance(absolute: decimal("0.5"), relative: decimal("0.01"))
    #expect(tolerance.holds(ours: decimal("101.5"), theirs: decimal("100")))
    #expect(!tolerance.holds(ours: decimal("101.51"), theirs: decimal("100")))
  }

  @Test func noToleranceMeansExact() {
    #expect(Tolerance().holds(ours: decimal("1.50"), theirs: decimal("1.5")))
    #expect(!Tolerance().holds(ours: decimal("1.5"), theirs: decimal("1.5000000001")))
  }
}

@Suite struct ProfileTests {
  static let full = """
    version: 1
    extract: positions
    delimiter: ";"
    header: true
    quote: '"'
    encoding: latin-1
    decimal_separator: ","
    date_format: DD/MM/YYYY
    columns:
      Konto: account_external_ref
      ISIN: isin
      Menge: quantity
      Kurs: price
      Datum: price_date
    keys: [account_external_ref, isin]
    transforms:
      isin: [strip, upper]
      price: [gbx_to_gbp]
      quantity:
        - scale: "0.001"
    tolerances:
      quantity: {absolute: "0.001", relative: "0.0001"}
      price: {absolute: "0.01"}
    """

  @Test func readsEveryKey() throws {
    let profile = try ProfileReader.parse(Self.full, source: "full.yaml")
    #expect(profile.extract == .positions)
    #expect(profile.delimiter == UInt8(ascii: ";"))
    #expect(profile.encoding == .latin1)
    #expect(profile.decimalSeparator == UInt8(ascii: ","))
    #expect(profile.dateFormat == .dayMonthYear)
    #expect(profile.columns.map(\.theirs) == ["Konto", "ISIN", "Menge", "Kurs", "Datum"])
    #expect(profile.keys == ["account_external_ref", "isin"])
    #expect(profile.comparedFields == ["quantity", "price", "price_date"])
    #expect(profile.transforms["isin"] == [.strip, .upper])
    #expect(profile.transforms["quantity"] == [.scale(decimal("0.001"))])
    #expect(
      profile.tolerances["quantity"] == Tolerance(absolute: decimal("0.001"), relative: decimal("0.0001")))
  }

  @Test func defaultKeysPerExtract() throws {
    let cash = try ProfileReader.parse(
      "extract: cash\ncolumns: {acct: account_external_ref, ccy: currency, bal: balance}\n", source: "c")
    #expect(cash.keys == ["account_external_ref", "currency"])
    let transactions = try ProfileReader.parse(
      "extract: transactions\ncolumns: {ref: transaction_external_ref, amt: amount}\n", source: "t")
    #expect(transactions.keys == ["transaction_external_ref"])
  }

  @Test func unknownKeysAndBadValuesAreErrorsWithTheirLine() {
    let text = """
      extract: positions
      delimiter: ";"
      colums:
        a: isin
      columns:
        a: account_external_ref
        b: isin
        c: not_a_field
      tolerances:
        quantity: {absolute: "0.1", relativ: "1"}
        isin: {absolute: "1"}
      transforms:
        price: [double]
      """
    #expect {
      _ = try ProfileReader.parse(text, source: "bad.yaml")
    } throws: { error in
      guard let error = error as? ProfileError else { return false }
      let lines = Dictionary(grouping: error.problems, by: { $0.line ?? 0 })
      return lines[3]?.first?.message.contains("unknown key 'colums'") == true
        && lines[8]?.first?.message.contains("not_a_field") == true
        && lines[10]?.first?.message.contains("unknown key 'relativ'") == true
        && lines[11]?.first?.message.contains("number field") == true
        && lines[13]?.first?.message.contains("unknown transform") == true
        && error.description.contains("line 3:")
    }
  }

  @Test func aKeyThatIsNotMappedIsAnError() {
    #expect(throws: ProfileError.self) {
      _ = try ProfileReader.parse("extract: positions\ncolumns: {a: isin}\n", source: "p")
    }
  }
}

@Suite struct ValueAndMatchTests {
  @Test func theirValuesBecomeCanonical() throws {
    let profile = try ProfileReader.parse(ProfileTests.full, source: "full.yaml")
    let reader = ValueReader(profile: profile)
    #expect(try reader.canonical("1234,5", field: "quantity") == "1.2345")
    #expect(try reader.canonical("8376,86", field: "price") == "83.7686")
    #expect(try reader.canonical("01/10/2026", field: "price_date") == "2026-10-01")
    #expect(try reader.canonical(" gb00abc ", field: "isin") == "GB00ABC")
    #expect(throws: ValueReader.Unreadable.self) { try reader.canonical("1.234,5", field: "quantity") }
    #expect(throws: ValueReader.Unreadable.self) { try reader.canonical("31/02/2026", field: "price_date") }
    #expect(throws: ValueReader.Unreadable.self) { try reader.canonical("2026-10-01", field: "price_date") }
  }

  @Test func mergeJoinReportsEachKindOfBreak() throws {
    var profile = ReconcileProfile(extract: .cash)
    profile.columns = [("a", "account_external_ref"), ("c", "currency"), ("b", "balance")]
    profile.tolerances["balance"] = Tolerance(absolute: decimal("0.01"))
    func row(_ account: String, _ balance: String, _ line: Int) -> KeyedRow {
      KeyedRow(key: [account, "GBP"], values: [balance], line: line)
    }
    let ours = [
      row("A", "10.00", 2), row("B", "5.00", 3), row("C", "1.00", 4), row("D", "7", 5), row("D", "7", 6),
    ]
    let theirs = [
      row("A", "10.00", 2), row("B", "5.01", 3), row("C", "1.02", 4), row("D", "7", 6), row("E", "1", 5),
    ]
    var join = MergeJoin(comparer: FieldComparer(profile: profile))
    var a = ours.makeIterator()
    var b = theirs.makeIterator()
    var breaks: [Break] = []
    try join.run(ours: &a, theirs: &b) { breaks.append($0) }
    #expect(breaks.map(\.type) == [.fieldMismatch, .duplicateKeyOurs, .missingOurs])
    #expect(breaks[0].difference == "-0.02")
    #expect(join.counts.matchedExactly == 1)
    #expect(join.counts.matchedWithinTolerance == 1)
    #expect(join.counts.rowsWithFieldMismatch == 1)
  }

  @Test func externalSortMergesRunsInKeyOrder() throws {
    let directory = NSTemporaryDirectory() + "recon-sort-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let sorter = ExternalSorter(directory: directory, name: "t", runSize: 7)
    var expected: [KeyedRow] = []
    for index in 0..<100 {
      let row = KeyedRow(
        key: ["k\((index * 37) % 100)", "x\tz\\"], values: ["v\n\(index)", "ä"], line: index + 1)
      expected.append(row)
      try sorter.add(row)
    }
    var merged = try sorter.sorted()
    var out: [KeyedRow] = []
    while let row = merged.next() { out.append(row) }
    #expect(out == expected.sorted(by: KeyedRow.orderedBefore))
    #expect((try FileManager.default.contentsOfDirectory(atPath: directory)).count == 15)
  }

  @Test func csvParserHandlesQuotesLineBreaksAndMalformedRows() {
    var parser = CSVRecordParser(delimiter: UInt8(ascii: ";"), quote: UInt8(ascii: "\""))
    var records: [CSVRecordParser.Record] = []
    let text = "a;b\r\n\"x;\"\"y\"\"\nz\";2\n\nbad\"q;1\n\"open;3"
    for byte in Array(text.utf8) { parser.feed([byte]) { records.append($0) } }
    parser.finish { records.append($0) }
    #expect(records.count == 4)
    #expect(records[0].fields.map { String(decoding: $0, as: UTF8.self) } == ["a", "b"])
    #expect(records[1].fields.map { String(decoding: $0, as: UTF8.self) } == ["x;\"y\"\nz", "2"])
    #expect(records[1].line == 2)
    #expect(records[2].line == 5)
    #expect(records[2].malformed != nil)
    #expect(records[3].malformed?.contains("not closed") == true)
  }
}

@Suite struct ExampleProfileTests {
  @Test(arguments: ["positions", "cash", "transactions"])
  func theRepositorysExamplesAreValid(_ name: String) throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let path = root.appendingPathComponent("examples/reconcile/\(name).yaml").path
    let text = try String(contentsOfFile: path, encoding: .utf8)
    let profile = try ProfileReader.parse(text, source: path)
    #expect(profile.extract.rawValue == name)
    #expect(!profile.comparedFields.isEmpty)
  }
}
