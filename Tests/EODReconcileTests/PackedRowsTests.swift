import EODCore
import Foundation
import Testing

@testable import EODReconcile

/// The packed rows, the sorter's shortcuts and the byte-level fast paths give what the plain
/// paths give.
@Suite struct PackedRowsTests {
  func temporaryDirectory() throws -> String {
    let directory = NSTemporaryDirectory() + "recon-packed-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    return directory
  }

  func drain(_ rows: inout MergedRuns) -> [KeyedRow] {
    var out: [KeyedRow] = []
    while let row = rows.next() { out.append(row) }
    return out
  }

  @Test func aRowPacksAndUnpacksUnchanged() {
    let buffer = ByteBuffer(capacity: 64)
    let rows = [
      KeyedRow(key: ["A1", ""], values: ["12.50", "ä\n\"x\""], line: 7),
      KeyedRow(key: [], values: [], line: 0),
      KeyedRow(key: [String(repeating: "k", count: 300)], values: [""], line: Int(Int32.max) + 5),
    ]
    let offsets = rows.map { buffer.append(row: $0) }
    for (row, offset) in zip(rows, offsets) {
      #expect(buffer.row(at: offset).keyedRow == row)
      #expect(RowView.isWellFormed(buffer.row(at: offset).start, available: buffer.count - offset))
    }
    #expect(!RowView.isWellFormed(buffer.row(at: 0).start, available: buffer.row(at: 0).size - 1))
  }

  @Test func packedKeysCompareAsTheirStrings() {
    let keys: [[String]] = [
      ["A", "B"], ["A", "BC"], ["AB", ""], ["A"], [], ["A", "B\u{0}"], ["ABCDEFGHI", "x"], ["ABCDEFGH", "y"],
      ["ABCDEFGH\u{0}", "a"], ["é", "1"], ["e\u{301}", "1"], ["Z"],
    ]
    let buffer = ByteBuffer()
    let offsets = keys.map { buffer.append(row: KeyedRow(key: $0, values: [], line: 1)) }
    for (i, a) in keys.enumerated() {
      for (j, b) in keys.enumerated() {
        let x = buffer.row(at: offsets[i])
        let y = buffer.row(at: offsets[j])
        let byBytes = a.map { Array($0.utf8) }.lexicographicallyPrecedes(b.map { Array($0.utf8) }) {
          $0.lexicographicallyPrecedes($1)
        }
        #expect((RowView.compareKeys(x, y) < 0) == byBytes, "\(a) < \(b)")
        if x.keyPrefix() < y.keyPrefix() { #expect(RowView.compareKeys(x, y) < 0, "prefix order \(a) \(b)") }
        if x.keyPrefix(skipping: 1) < y.keyPrefix(skipping: 1), a.first?.utf8.first == b.first?.utf8.first,
          a.first?.utf8.first != nil
        {
          #expect(RowView.compareKeys(x, y) < 0, "prefix after 1 byte \(a) \(b)")
        }
      }
    }
  }

  @Test func rowsInOrderAreChainedNotSortedAndComeBackInOrder() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let sorter = ExternalSorter(directory: directory, name: "o", runSize: 10)
    var expected: [KeyedRow] = []
    for index in 0..<95 {
      let row = KeyedRow(
        key: [String(format: "A%05d", index / 3), "i\(index % 3)"], values: ["\(index)"], line: index)
      expected.append(row)
      try sorter.add(row)
    }
    #expect(sorter.inOrder)
    var rows = try sorter.sorted()
    #expect(rows.chained)
    #expect(drain(&rows) == expected)
  }

  @Test func theByteBoundEndsARunAndOrderIsCheckedAcrossRuns() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    // 1,000 rows of about 100 bytes: more than 64 KiB, so several runs by bytes alone.
    let sorter = ExternalSorter(directory: directory, name: "b", runSize: 1_000_000, runBytes: 1 << 16)
    var expected: [KeyedRow] = []
    for index in 0..<1000 {
      // In order except the last row, which belongs at the start.
      let key = index == 999 ? "A" : String(format: "B%06d", index)
      let row = KeyedRow(key: [key], values: [String(repeating: "v", count: 70)], line: index + 1)
      expected.append(row)
      try sorter.add(row)
    }
    #expect(!sorter.inOrder)
    var rows = try sorter.sorted()
    #expect(!rows.chained)
    #expect(sorter.runs.count > 1)
    #expect(drain(&rows) == expected.sorted(by: KeyedRow.orderedBefore))
    #expect(rows.failure == nil)
  }

  @Test func aDamagedRunFileIsReported() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let sorter = ExternalSorter(directory: directory, name: "d", runSize: 2)
    for index in 0..<4 { try sorter.add(KeyedRow(key: ["k\(4 - index)"], values: ["v"], line: index)) }
    let run = directory + "/d-run-0"
    let bytes = try #require(FileManager.default.contents(atPath: run))
    try bytes.prefix(bytes.count - 3).write(to: URL(fileURLWithPath: run))
    #expect(throws: ReconcileError.self) {
      var rows = try sorter.sorted()
      while try rows.nextRow() != nil {}
    }
  }

  @Test func theCSVParserGivesTheSameRecordsWhateverTheChunks() {
    let text =
      "id;name;value\r\n1;\"a;b\";3.5\n2;\"multi\nline \"\"q\"\"\";-1\n\n3;plain text;\r\n4;bad\"q;x\n5;\"x\"y;z\n6;\"open"
    let bytes = Array(text.utf8)
    func records(chunk: Int) -> [String] {
      var parser = CSVRecordParser(delimiter: UInt8(ascii: ";"), quote: UInt8(ascii: "\""))
      var out: [String] = []
      func take(_ record: CSVRecordParser.Record) {
        let fields = record.fields.map { String(decoding: $0, as: UTF8.self) }
        out.append("\(record.line)|\(record.malformed ?? "")|\(fields)")
      }
      var start = 0
      while start < bytes.count {
        parser.feed(Array(bytes[start..<min(bytes.count, start + chunk)]), take)
        start += chunk
      }
      parser.finish(take)
      return out
    }
    let oneByOne = records(chunk: 1)
    #expect(oneByOne.count == 7)
    for chunk in [2, 3, 5, 7, 64, bytes.count] {
      #expect(records(chunk: chunk) == oneByOne, "chunks of \(chunk)")
    }
    var unquoted = CSVRecordParser(delimiter: UInt8(ascii: ","), quote: nil)
    var fields: [[UInt8]] = []
    unquoted.feed(Array("a\"b,c\n".utf8)) { fields = $0.fields }
    #expect(fields.map { String(decoding: $0, as: UTF8.self) } == ["a\"b", "c"])
  }

  @Test func theirValuesPackAsTheirCanonicalText() throws {
    var profile = ReconcileProfile(extract: .positions)
    profile.columns = [("q", "quantity"), ("n", "instrument_name"), ("d", "price_date"), ("p", "price")]
    profile.transforms["price"] = [.gbxToGbp]
    let reader = ValueReader(profile: profile)
    var latin = profile
    latin.encoding = .latin1
    let latinReader = ValueReader(profile: latin)
    var scratch: [UInt8] = []
    let cases: [(String, [UInt8])] = [
      ("quantity", Array("0012.5000".utf8)), ("quantity", Array("-0.0".utf8)), ("quantity", Array("7".utf8)),
      ("quantity", []), ("quantity", Array("1,5".utf8)), ("instrument_name", Array(" Café ".utf8)),
      ("instrument_name", [0x41, 0xE9]), ("price_date", Array("2026-10-01".utf8)),
      ("price", Array("1250".utf8)),
    ]
    for (field, raw) in cases {
      for reader in [reader, latinReader] {
        let plan = reader.plan(field)
        var expected: Result<String, ValueReader.Unreadable>
        do {
          expected = .success(try reader.canonical(bytes: raw, plan: plan, indicatorNegative: false))
        } catch {
          expected = .failure(error)
        }
        let buffer = ByteBuffer()
        let start = buffer.beginRow(line: 1, keyCount: 0, valueCount: 1)
        var packed: Result<Void, ValueReader.Unreadable> = .success(())
        do {
          try raw.withUnsafeBytes { bytes in
            try reader.append(bytes, plan: plan, indicatorNegative: false, to: buffer, &scratch)
          }
        } catch let error as ValueReader.Unreadable {
          packed = .failure(error)
        } catch {
          Issue.record("\(error)")
        }
        buffer.endRow(start)
        switch (expected, packed) {
        case (.success(let text), .success):
          #expect(RowView.text(buffer.row(at: 0).value(0)) == text, "\(field)")
        case (.failure(let a), .failure(let b)): #expect(a == b)
        default: Issue.record("\(field) \(raw): \(expected) against \(packed)")
        }
      }
    }
  }

  @Test func equalBytesMatchAndCanonicallyEqualTextMatches() {
    var profile = ReconcileProfile(extract: .positions)
    profile.columns = [
      ("a", "account_id"), ("i", "instrument_id"), ("q", "quantity"), ("n", "instrument_name"),
    ]
    profile.keys = ["account_id", "instrument_id"]
    let comparer = FieldComparer(profile: profile)
    #expect(comparer.fields == ["instrument_name", "quantity"])
    let buffer = ByteBuffer()
    func row(_ quantity: String, _ name: String) -> RowView {
      buffer.removeAll()
      return buffer.row(
        at: buffer.append(row: KeyedRow(key: ["A", "I"], values: [name, quantity], line: 1)))
    }
    let other = ByteBuffer()
    func outcome(_ a: (String, String), _ b: (String, String)) -> FieldComparer.Outcome {
      other.removeAll()
      other.append(row: KeyedRow(key: ["A", "I"], values: [b.1, b.0], line: 2))
      return comparer.compare(key: ["A", "I"], ours: row(a.0, a.1), theirs: other.row(at: 0)).0
    }
    #expect(outcome(("1.50", "Café"), ("1.5", "Cafe\u{301}")) == .exact)
    #expect(outcome(("1.50", "x"), ("1.51", "x")) == .beyond)
    #expect(outcome(("", "x"), ("0", "x")) == .beyond)
  }
}
