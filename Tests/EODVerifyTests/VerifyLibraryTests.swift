import EODCompression
import EODRender
import Foundation
import Testing

@testable import EODVerify

/// Feeds `text` to a CSV reader in chunks of `chunk` bytes; the records and the error.
func csvRecords(_ text: String, chunk: Int = 1 << 20) -> ([[String]], String?) {
  var reader = CSVRecordReader()
  var records: [[String]] = []
  let bytes = Array(text.utf8)
  let collect: ([[UInt8]], Int) -> Void = { fields, _ in
    records.append(fields.map { String(decoding: $0, as: UTF8.self) })
  }
  var start = 0
  while start < bytes.count {
    let end = min(start + chunk, bytes.count)
    bytes[start..<end].withUnsafeBytes { reader.feed($0, collect) }
    start = end
  }
  reader.finish(collect)
  return (records, reader.error)
}

@Suite struct CSVReaderTests {
  @Test func quotedNewlinesAndCRLFCountOnce() {
    let text = "a,b,c\r\n1,\"x\r\ny\",\"say \"\"hi\"\"\"\r\n2,\"z\ny\",\r\n"
    for chunk in [1, 2, 3, 1 << 20] {
      let (records, error) = csvRecords(text, chunk: chunk)
      #expect(error == nil)
      #expect(
        records == [["a", "b", "c"], ["1", "x\r\ny", "say \"hi\""], ["2", "z\ny", ""]], "chunk \(chunk)")
    }
  }

  @Test func truncatedAndMalformedInputIsAnError() {
    #expect(csvRecords("a,b\r\n1,2").1?.contains("no line end") == true)
    #expect(csvRecords("a,b\r\n1,\"2\r\n").1?.contains("inside a quoted field") == true)
    #expect(csvRecords("a,b\r\n1,x\"y\r\n").1?.contains("quote inside an unquoted field") == true)
    #expect(csvRecords("a,b\r\n1,\"x\"y\r\n").1?.contains("after a closing quote") == true)
    #expect(csvRecords("a,b\r1,2\r\n").1?.contains("CR not followed by LF") == true)
    #expect(csvRecords("").1 == nil)
    #expect(csvRecords("").0.isEmpty)
  }
}

@Suite struct JSONLinesReaderTests {
  func objects(_ text: String) -> ([[(String, JSONScalar)]], String?) {
    var reader = JSONLinesReader()
    var out: [[(String, JSONScalar)]] = []
    Array(text.utf8).withUnsafeBytes { reader.feed($0) { object, _ in out.append(object) } }
    reader.finish()
    return (out, reader.error)
  }

  @Test func flatObjectsInKeyOrderWithEscapes() {
    let (list, error) = objects(
      "{\"b\": \"x\\n\\\"\\u00e9\\ud83d\\ude00\", \"a\": null, \"n\": -1.5e3, \"t\": true}\n{}\r\n")
    #expect(error == nil)
    #expect(list.count == 2)
    #expect(list[0].map(\.0) == ["b", "a", "n", "t"])
    #expect(list[0][0].1 == .string(Array("x\n\"é😀".utf8)))
    #expect(list[0][1].1 == .null)
    #expect(list[0][2].1 == .literal(Array("-1.5e3".utf8)))
    #expect(list[1].isEmpty)
  }

  @Test func malformedLinesAreErrors() {
    #expect(objects("{\"a\": 1}").1?.contains("no line end") == true)
    #expect(objects("{\"a\": [1]}\n").1?.contains("nested") == true)
    #expect(objects("{\"a\": 01}\n").1?.contains("not a JSON value") == true)
    #expect(objects("\n").1?.contains("not a JSON object") == true)
    #expect(objects("{\"a\": \"\\ud800\"}\n").1?.contains("surrogate") == true)
    #expect(objects("{\"a\": 1} x\n").1?.contains("text after") == true)
  }
}

/// A set built by hand (files, totals and manifest worked out here), in a temporary folder.
struct HandSet {
  let dir: String
  let templates: String

  static let template = """
    extract cash
    version 1
    column account_id
    column account_currency
    column currency
    column Note = firm_name
    column value

    """

  /// Four rows over three accounts: GBP 10.10 + -0.05 (+ one unvalued row), EUR 3.00; the note of
  /// one row holds a CRLF and a quote, so the file has more lines than rows.
  static let csv =
    "account_id,account_currency,currency,Note,value\r\n"
    + "A1,GBP,GBP,\"two\r\nlines, \"\"quoted\"\"\",10.10\r\n"
    + "A1,GBP,USD,,-0.05\r\n" + "A2,EUR,EUR,,3.00\r\n" + "A3,GBP,GBP,,\r\n"

  static let json =
    "{\"accountId\": \"A1\", \"accountCurrency\": \"GBP\", \"currency\": \"GBP\", \"Note\": \"two\\r\\nlines\", \"value\": \"10.10\"}\n"
    + "{\"accountId\": \"A1\", \"accountCurrency\": \"GBP\", \"currency\": \"USD\", \"Note\": null, \"value\": \"-0.05\"}\n"
    + "{\"accountId\": \"A2\", \"accountCurrency\": \"EUR\", \"currency\": \"EUR\", \"Note\": null, \"value\": \"3.00\"}\n"
    + "{\"accountId\": \"A3\", \"accountCurrency\": \"GBP\", \"currency\": \"GBP\", \"Note\": null, \"value\": null}\n"

  init() throws {
    dir = NSTemporaryDirectory() + "eod-verify-\(UUID().uuidString.prefix(8))"
    templates = dir + "-templates"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: templates, withIntermediateDirectories: true)
    try Self.template.write(toFile: templates + "/cash.v1.tmpl", atomically: true, encoding: .utf8)
  }

  func remove() {
    try? FileManager.default.removeItem(atPath: dir)
    try? FileManager.default.removeItem(atPath: templates)
  }

  /// Writes the data file (gzip as two members when `gzip`) and a manifest of `schema`.
  func write(json: Bool = false, gzip: Bool = true, schema: String = "1.1", edit: (String) -> String = { $0 })
    throws -> String
  {
    let text = Array((json ? Self.json : Self.csv).utf8)
    let bytes = gzip ? try Gzip.compress(Array(text[..<20])) + Gzip.compress(Array(text[20...])) : text
    let name = "F1_cash_20261001." + (json ? "json" : "csv") + (gzip ? ".gz" : "")
    try Data(bytes).write(to: URL(fileURLWithPath: dir + "/" + name))
    let sha = sha256Hex(bytes)
    var entry =
      "{\"name\": \"\(name)\", \"extract\": \"cash\", \"template\": \"cash.v1\", \"format\": \"\(json ? "json" : "csv")\", "
      + "\"compression\": \"\(gzip ? "gzip" : "none")\", \"rows\": 4, \"bytes\": \(bytes.count), \"sha256\": \"\(sha)\", "
      + "\"control_totals\": {\"value\": \"13.05\"}"
    if schema == "1.1" {
      entry +=
        ", \"control_totals_by_currency\": {\"EUR\": {\"value\": \"3.00\", \"rows\": 1}, \"GBP\": {\"value\": \"10.05\", \"rows\": 3}}, "
        + "\"accounts\": 3, \"key_columns\": [\"\(json ? "accountId" : "account_id")\", \"currency\"]"
    }
    entry += "}"
    let manifest =
      "{\"firm_id\": \"F1\", \"business_date\": \"2026-10-01\", \"schema_version\": \"\(schema)\", \"files\": [\(entry)]}\n"
    try edit(manifest).write(toFile: dir + "/F1_manifest_20261001.json", atomically: true, encoding: .utf8)
    return name
  }

  func verify() throws -> VerifyReport {
    try SetVerifier(
      directory: dir, templates: try TemplateLibrary(directory: templates), templatesDirectory: templates,
      manifestName: nil
    ).verify()
  }
}

func sha256Hex(_ bytes: [UInt8]) -> String {
  let dir = NSTemporaryDirectory() + "eod-verify-sha-\(UUID().uuidString.prefix(8))"
  _ = FileManager.default.createFile(atPath: dir, contents: Data(bytes))
  defer { try? FileManager.default.removeItem(atPath: dir) }
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
  process.arguments = [dir]
  let pipe = Pipe()
  process.standardOutput = pipe
  try? process.run()
  let out = pipe.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  return String(String(decoding: out, as: UTF8.self).prefix(64))
}

func status(_ report: VerifyReport, _ check: String) -> Check.Status? {
  report.files.first?.checks.first { $0.name == check }?.status
}

@Suite(.serialized) struct SetVerifierTests {
  @Test(arguments: [(false, true), (false, false), (true, true), (true, false)])
  func handMadeSetVerifies(json: Bool, gzip: Bool) throws {
    let set = try HandSet()
    defer { set.remove() }
    _ = try set.write(json: json, gzip: gzip)
    let report = try set.verify()
    #expect(report.ok, "\(report.text)")
    for check in [
      "present", "bytes", "sha256", "parse", "header", "rows", "control_total", "control_totals_by_currency",
      "accounts",
    ] {
      #expect(status(report, check) == .passed, "\(check): \(report.text)")
    }
    #expect(status(report, "gzip") == (gzip ? .passed : .notApplicable))
  }

  @Test func schemaOneSkipsTheNewFiguresAndSaysSo() throws {
    let set = try HandSet()
    defer { set.remove() }
    _ = try set.write(schema: "1")
    let report = try set.verify()
    #expect(report.ok, "\(report.text)")
    #expect(status(report, "control_totals_by_currency") == .skipped)
    #expect(status(report, "accounts") == .skipped)
    #expect(report.text.contains("schema 1 manifest: no per-currency totals"))
  }

  @Test func eachManifestFigureIsRecomputed() throws {
    let cases: [(String, String, String)] = [
      ("\"rows\": 4", "\"rows\": 5", "rows"),
      ("{\"value\": \"13.05\"}", "{\"value\": \"13.06\"}", "control_total"),
      (
        "\"EUR\": {\"value\": \"3.00\", \"rows\": 1}", "\"EUR\": {\"value\": \"3.00\", \"rows\": 2}",
        "control_totals_by_currency"
      ),
      ("\"GBP\": {\"value\": \"10.05\"", "\"GBP\": {\"value\": \"10.15\"", "control_totals_by_currency"),
      ("\"accounts\": 3", "\"accounts\": 2", "accounts"),
      ("\"template\": \"cash.v1\"", "\"template\": \"cash.v2\"", "header"),
    ]
    for (from, to, check) in cases {
      let set = try HandSet()
      defer { set.remove() }
      _ = try set.write { $0.replacingOccurrences(of: from, with: to) }
      let report = try set.verify()
      #expect(!report.ok)
      #expect(report.failures.map(\.check.name) == [check], "\(to): \(report.text)")
    }
  }

  @Test func aWrongHeaderAndAnExtraFileAreNamed() throws {
    let set = try HandSet()
    defer { set.remove() }
    _ = try set.write(gzip: false)
    var text = try String(contentsOfFile: set.dir + "/F1_cash_20261001.csv", encoding: .utf8)
    text = text.replacingOccurrences(of: "Note", with: "note")
    try text.write(toFile: set.dir + "/F1_cash_20261001.csv", atomically: true, encoding: .utf8)
    _ = FileManager.default.createFile(atPath: set.dir + "/.F1_cash_20261001.csv.part", contents: Data())
    let report = try set.verify()
    let failed = report.failures.map { "\($0.file) \($0.check.name)" }
    #expect(failed.contains("F1_cash_20261001.csv header"))
    #expect(failed.contains(".F1_cash_20261001.csv.part unlisted"))
    #expect(report.text.contains("column 4 is 'note' where the template has 'Note'"))
  }

  @Test func manifestProblemsThrow() throws {
    let set = try HandSet()
    defer { set.remove() }
    #expect(throws: VerifyError.self) { try set.verify() }
    _ = try set.write { _ in "{\"schema_version\": \"1.1\", \"files\": [{\"name\": 3}]}" }
    #expect(throws: VerifyError.self) { try set.verify() }
    _ = try set.write { $0.replacingOccurrences(of: "\"1.1\"", with: "\"9\"") }
    #expect(throws: VerifyError.self) { try set.verify() }
    _ = try set.write()
    try "{}".write(toFile: set.dir + "/F2_manifest_20261001.json", atomically: true, encoding: .utf8)
    #expect(throws: VerifyError.self) { try set.verify() }
  }

  @Test func aManifestNamingAPathOutsideTheSetIsNotFollowed() throws {
    let set = try HandSet()
    defer { set.remove() }
    let name = try set.write()
    _ = try set.write {
      $0.replacingOccurrences(of: "\"name\": \"\(name)\"", with: "\"name\": \"../\(name)\"")
    }
    let report = try set.verify()
    #expect(report.failures.first?.check.name == "present")
    #expect(report.text.contains("not a file name in the set's folder"))
  }
}

@Suite struct BoundedFiguresTests {
  @Test func distinctCurrenciesAreBounded() throws {
    let set = try HandSet()
    defer { set.remove() }
    _ = try set.write(gzip: false)
    var text = "account_id,account_currency,currency,Note,value\r\n"
    for index in 0...ContentChecker.maxCurrencies { text += "A\(index),C\(index),GBP,,1.00\r\n" }
    try text.write(toFile: set.dir + "/F1_cash_20261001.csv", atomically: true, encoding: .utf8)
    let report = try set.verify()
    let check = report.files.first?.checks.first { $0.name == "control_totals_by_currency" }
    #expect(check?.status == .failed)
    #expect(check?.detail.contains("more than 1000 distinct account_currency values") == true)
    // The other figures are still counted over every row.
    #expect(report.files.first?.checks.first { $0.name == "accounts" }?.detail.contains("1001") == true)
  }
}
