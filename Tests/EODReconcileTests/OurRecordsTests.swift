import Testing

@testable import EODReconcile

/// Our JSON Lines file read as the records of its CSV twin.
@Suite struct OurRecordsTests {
  static let profile = """
    extract: cash
    columns: {A: account_id, C: currency, B: balance}
    keys: [account_id, currency]
    """

  func records(json: Bool, _ text: String, chunk: Int = 7) throws -> [CSVRecordParser.Record] {
    var reader = OurRecords(json: json, profile: try ProfileReader.parse(Self.profile, source: "p.yaml"))
    var out: [CSVRecordParser.Record] = []
    let bytes = Array(text.utf8)
    for start in stride(from: 0, to: bytes.count, by: chunk) {
      reader.feed(Array(bytes[start..<min(start + chunk, bytes.count)])) { out.append($0) }
    }
    reader.finish { out.append($0) }
    return out
  }

  func cells(_ records: [CSVRecordParser.Record]) -> [[String]] {
    records.map { $0.fields.map { String(decoding: $0, as: UTF8.self) } }
  }

  @Test func eachObjectIsItsCSVRecord() throws {
    let csv = "account_id,currency,balance,note\r\nAC1,GBP,12.50,\"a, \"\"b\"\"\nc\"\r\nAC2,EUR,,\r\n"
    let json = """
      {"accountId":"AC1","currency":"GBP","balance":"12.50","note":"a, \\"b\\"\\nc"}
      {"accountId":"AC2","currency":"EUR","balance":null,"note":null}

      """
    let fromJSON = try records(json: true, json)
    #expect(cells(fromJSON) == cells(try records(json: false, csv)))
    #expect(fromJSON.map(\.line) == [1, 1, 2])
    #expect(fromJSON.allSatisfy { $0.malformed == nil })
  }

  @Test func anEmptyFileHasTheFieldsReadAsItsHeader() throws {
    let out = try records(json: true, "")
    #expect(cells(out) == [["account_id", "currency", "balance", "value", "account_currency"]])
  }

  @Test func otherKeysOrABrokenLineStopTheReading() throws {
    let swapped = try records(
      json: true,
      "{\"accountId\":\"AC1\",\"currency\":\"GBP\"}\n{\"currency\":\"GBP\",\"accountId\":\"AC1\"}\n")
    #expect(swapped.count == 3)
    #expect(swapped[2].line == 2)
    #expect(swapped[2].malformed?.contains("not those of line 1") == true)
    let broken = try records(
      json: true, "{\"accountId\":\"AC1\"}\n{\"accountId\":1\n{\"accountId\":\"AC3\"}\n")
    #expect(broken.count == 3)
    #expect(broken[2].line == 2 && broken[2].malformed != nil)
    let truncated = try records(json: true, "{\"accountId\":\"AC1\"}\n{\"accountId\":\"AC2\"}")
    #expect(truncated.last?.malformed?.contains("no line end") == true)
  }
}
