import EODRender
import Foundation
import Testing

@Suite struct EncoderTests {
  func template(_ text: String) throws -> Template { try Template.parse(text, file: "test.tmpl") }

  func encode(_ template: Template, _ format: ExtractFormat, _ rows: [[String?]]) -> String {
    let encoder = RowEncoder(template: template, format: format)
    var out: [UInt8] = []
    encoder.header(into: &out)
    for row in rows { encoder.row(row, into: &out) }
    return String(decoding: out, as: UTF8.self)
  }

  /// A data_quality row: business_date, firm_id, severity, code, resource_type, resource_id, field, message.
  func row(_ message: String?) -> [String?] {
    ["2026-10-05", "FIRM001", "WARNING", "MISSING_PRICE", "POSITION", "AC1/INS1", "price", message]
  }

  @Test func csvQuotesOnlyWhereNeededWithCRLF() throws {
    let layout = try template("extract data_quality\nversion 1\ncolumn resource_id\ncolumn message\n")
    let text = encode(
      layout, .csv,
      [row("plain"), row("a, b"), row("say \"hi\""), row("two\nlines"), row(nil), row("=SUM(A1)")])
    #expect(
      text
        == "resource_id,message\r\nAC1/INS1,plain\r\nAC1/INS1,\"a, b\"\r\nAC1/INS1,\"say \"\"hi\"\"\"\r\n"
        + "AC1/INS1,\"two\nlines\"\r\nAC1/INS1,\r\nAC1/INS1,=SUM(A1)\r\n")
  }

  @Test func formulaSafeNeutralisesEveryTextColumn() throws {
    let layout = try template(
      "extract data_quality\nversion 2\noption formula_safe\ncolumn resource_id\ncolumn message\n")
    var rows = [row("=HYPERLINK(\"x\")"), row("+1"), row("-1"), row("@x"), row("\tx"), row("ok")]
    rows.append(["2026-10-05", "F", "WARNING", "C", "POSITION", "=not free text", "f", nil])
    rows.append(["2026-10-05", "F", "WARNING", "C", "POSITION", "-A1-B1", "f", "\rx"])
    let text = encode(layout, .csv, rows)
    let lines = text.components(separatedBy: "\r\n")
    #expect(lines[1] == "AC1/INS1,\"'=HYPERLINK(\"\"x\"\")\"")
    #expect(lines[2] == "AC1/INS1,'+1")
    #expect(lines[3] == "AC1/INS1,'-1")
    #expect(lines[4] == "AC1/INS1,'@x")
    #expect(lines[5] == "AC1/INS1,'\tx")
    #expect(lines[6] == "AC1/INS1,ok")
    // Identifiers and references too (issue 11: `=HYPERLINK(…)` in an account id, `-A1-B1`).
    #expect(lines[7] == "'=not free text,")
    #expect(lines[8] == "'-A1-B1,\"'\rx\"")
  }

  @Test func formulaSafeLeavesNumbersNumbers() throws {
    let layout = try template(
      "extract positions\nversion 2\noption formula_safe\ncolumn account_id\ncolumn isin\n"
        + "column quantity\ncolumn market_value\n")
    var values = [String?](repeating: nil, count: ExtractKind.positions.fields.count)
    values[4] = "@SUM(1+1)"
    values[9] = "+1+cmd|x"
    values[13] = "-12.5"
    values[19] = "-3.20"
    let csv = encode(layout, .csv, [values])
    #expect(csv == "account_id,isin,quantity,market_value\r\n'@SUM(1+1),'+1+cmd|x,-12.5,-3.20\r\n")
    let json = encode(layout, .json, [values])
    #expect(
      json == #"{"accountId":"'@SUM(1+1)","isin":"'+1+cmd|x","quantity":"-12.5","marketValue":"-3.20"}"#
        + "\n")
  }

  @Test func jsonLinesUseCamelCaseStringsAndNull() throws {
    let layout = try template(
      "extract data_quality\nversion 1\ncolumn resource_id\ncolumn message\ncolumn Sev = severity\n")
    let text = encode(layout, .json, [row("quote \" back\\slash\nnew"), row(nil)])
    let lines = text.split(separator: "\n")
    #expect(lines.count == 2)
    #expect(lines[0] == #"{"resourceId":"AC1/INS1","message":"quote \" back\\slash\nnew","Sev":"WARNING"}"#)
    #expect(lines[1] == #"{"resourceId":"AC1/INS1","message":null,"Sev":"WARNING"}"#)
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: String])
    #expect(object["message"] == "quote \" back\\slash\nnew")
  }

  @Test func camelCaseOfColumnNames() {
    #expect(Field.camelCase("account_external_ref") == "accountExternalRef")
    #expect(Field.camelCase("return_1y") == "return1y")
    #expect(Field.camelCase("mwr_itd_annualised") == "mwrItdAnnualised")
  }

  @Test(arguments: [
    ("extract positions\nversion 1\n", "no columns"),
    ("version 1\ncolumn x\n", "'extract' must come before"),
    ("extract nope\n", "unknown extract"),
    ("extract cash\nversion 1\ncolumn balance\ncolumn balance\n", "appears twice"),
    ("extract cash\nversion 1\noption shiny\n", "unknown option"),
    ("extract cash\ncolumn balance\n", "no 'version'"),
    ("extract cash\nversion 1\ncolums balance\n", "unknown keyword"),
  ])
  func badTemplatesAreRefusedSayingWhy(_ text: String, _ reason: String) {
    do {
      _ = try Template.parse(text, file: "bad.tmpl")
      Issue.record("accepted: \(text)")
    } catch {
      #expect(error.description.contains(reason), "\(error)")
      #expect(error.description.contains("bad.tmpl"))
    }
  }

  @Test func theStandardTemplatesLoadAndNameTheContractColumns() throws {
    let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("templates").path
    let library = try TemplateLibrary(directory: directory)
    let positions = try library.template(.positions, version: 1)
    #expect(positions.columns.count == 24)
    #expect(positions.columns.first?.header == "business_date")
    #expect(positions.columns.last?.header == "position_external_ref")
    #expect(!positions.formulaSafe)
    #expect(try library.template(.valuations, version: 1).columns.count == 23)
    #expect(throws: TemplateError.self) { try library.template(.cash, version: 7) }
  }
}
