import EODCompression
import EODRender
import Foundation
import Testing

@testable import EODPipeline

/// A firm's spooled rows (``RowSpool`` over a real ``SpoolFile``) come back as the file's own
/// encoder writes them, extract by extract, in order, with their row counts; they are kept in
/// fewer bytes than that (line-delta coded), and the spool file leaves nothing in the output
/// directory.
@Suite struct RowSpoolTests {
  /// `count` rows of `kind`, each value naming its row and field (some with a quote and a comma,
  /// which the CSV encoder escapes).
  static func rows(_ kind: ExtractKind, account: Int, count: Int) -> RowBuffer {
    var rows = RowBuffer(fieldCount: kind.fields.count)
    for row in 0..<count {
      for field in 0..<kind.fields.count {
        if field == 1 {
          rows.appendNull()
        } else {
          rows.append("\(kind.rawValue) \(account)/\(row)/\(field) \"x,y\"")
        }
      }
      rows.endRow()
    }
    return rows
  }

  @Test func spooledRowsComeBackInOrderAsTheEncoderWritesThemAndLeaveNoFile() throws {
    let dir = try Fixtures.scratch("row-spool")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let library = try Fixtures.library()
    let kinds: [ExtractKind] = [.positions, .cash, .valuations]
    let encoders = try kinds.map {
      (kind: $0, encoder: RowEncoder(template: try library.template($0, version: 1), format: .csv))
    }
    let tree = try OutputTree(path: dir)
    let file = try SpoolFile(tree: tree, name: ".spool-0.part-test")
    // Two firms share the thread's file, their segments interleaved.
    let shared = encoders.map { (kind: $0.kind, encoder: SharedRowEncoder($0.encoder)) }
    // They share the thread's scratch buffer too.
    let scratch = ByteSink(capacity: 16)
    let spools = [
      RowSpool(file: file, scratch: scratch, encoders: shared),
      RowSpool(file: file, scratch: scratch, encoders: shared),
    ]
    var expected = Array(repeating: [ExtractKind: (bytes: [UInt8], rows: Int)](), count: 2)
    for account in 0..<400 {
      let firm = account % 2
      for (kind, encoder) in encoders {
        let batch = RowSpoolTests.rows(
          kind, account: account, count: kind == .positions ? 1 + account % 7 : 1)
        try spools[firm].add(kind, batch)
        var bytes: [UInt8] = []
        encoder.rows(batch, into: &bytes)
        expected[firm][kind, default: ([], 0)].bytes += bytes
        expected[firm][kind, default: ([], 0)].rows += batch.rowCount
      }
      // An extract the firm has no file for adds nothing.
      try spools[firm].add(.transactions, RowSpoolTests.rows(.transactions, account: account, count: 2))
    }
    #expect(file.size > Int64(2 * RowSpool.segmentSize), "the rows fill several segments: \(file.size)")
    // The rows are kept line-delta coded: with their frames' headers, in fewer bytes than they
    // were encoded in (each row shares its start, "positions 12/", with the row before).
    let encoded = expected.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.bytes.count } }
    #expect(file.size < Int64(encoded), "coded: \(file.size) bytes for \(encoded) encoded")
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty, "the spool file has no name")
    for firm in 0..<2 {
      var found: [ExtractKind: (bytes: [UInt8], rows: Int)] = [:]
      var order: [ExtractKind] = []
      try spools[firm].replay { kind, rows, bytes in
        found[kind, default: ([], 0)].bytes += Array(bytes)
        found[kind, default: ([], 0)].rows += rows
        if order.count < 3 { order.append(kind) }
      }
      #expect(order == kinds, "frames come back in the order they were added")
      #expect(Set(found.keys) == Set(kinds))
      for kind in kinds {
        #expect(found[kind]?.rows == expected[firm][kind]?.rows, "\(kind) rows of firm \(firm)")
        #expect(found[kind]?.bytes == expected[firm][kind]?.bytes, "\(kind) bytes of firm \(firm)")
      }
    }
  }

  /// The spool file gathers appends in its buffer: bytes read back the same whether they were
  /// written already, are still in the buffer, or came in an append larger than the buffer.
  @Test func spoolFileBytesReadBackFromTheFileAndFromItsBuffer() throws {
    let dir = try Fixtures.scratch("spool-file")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let file = try SpoolFile(tree: try OutputTree(path: dir), name: ".spool-0.part-test")
    // Sizes that fill the buffer part way, cross its end, and exceed it.
    let sizes = [8 * 1024, SpoolFile.writeSize - 5000, 9000, 3 * SpoolFile.writeSize / 2, 100, 70_000]
    var appended: [(offset: Int64, bytes: [UInt8])] = []
    for (index, size) in sizes.enumerated() {
      let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) }
      let offset = try bytes.withUnsafeBytes { try file.append($0) }
      #expect(offset == appended.last.map { $0.offset + Int64($0.bytes.count) } ?? 0)
      // The one before is written; this one may still be in the buffer.
      if let (before, earlier) = appended.last {
        var back = [UInt8](repeating: 0, count: earlier.count)
        try back.withUnsafeMutableBytes { try file.read(at: before, into: $0) }
        #expect(back == earlier, "the append before \(index), read while the buffer holds this one")
      }
      appended.append((offset, bytes))
      // The last append is still in the buffer: it reads back before anything else is written.
      var back = [UInt8](repeating: 0, count: size)
      try back.withUnsafeMutableBytes { try file.read(at: offset, into: $0) }
      #expect(back == bytes, "append \(index) of \(size) bytes, read at once")
    }
    #expect(file.size == Int64(sizes.reduce(0, +)))
    for (offset, bytes) in appended.reversed() {
      var back = [UInt8](repeating: 0, count: bytes.count)
      try back.withUnsafeMutableBytes { try file.read(at: offset, into: $0) }
      #expect(back == bytes, "\(bytes.count) bytes at \(offset), read at the end")
    }
  }

  @Test func aFrameReadsBackItsTagCountAndBytesAndAPartialFrameIsNone() {
    let sink = ByteSink(capacity: 16)
    sink.appendFrame(tag: 3, count: 70_000) { $0.append(Array("hello, spool".utf8)) }
    sink.appendFrame(tag: 1, count: 0) { _ in }
    let bytes = Array(sink.bytes)
    bytes.withUnsafeBytes { raw in
      guard let (first, rest) = ByteFrame.read(raw), let (second, end) = ByteFrame.read(rest) else {
        Issue.record("two frames expected")
        return
      }
      #expect(first.tag == 3 && first.count == 70_000 && Array(first.bytes) == Array("hello, spool".utf8))
      #expect(second.tag == 1 && second.count == 0 && second.bytes.isEmpty && end.isEmpty)
      let partial = UnsafeRawBufferPointer(rebasing: raw[0..<(raw.count - ByteFrame.headerSize - 1)])
      #expect(ByteFrame.read(partial)?.0.tag == nil, "a frame cut short is not read")
    }
  }

  /// What the spool uses: a frame begun and ended in two calls, its bytes appended between them
  /// (growing the sink), is the frame ``ByteSink/appendFrame(tag:count:_:)`` writes.
  @Test func aFrameBegunAndEndedIsTheFrameAppendFrameWrites() {
    let body = (0..<5_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    let whole = ByteSink(capacity: 16)
    whole.appendFrame(tag: 2, count: 7) { $0.append(body) }
    whole.appendFrame(tag: 0, count: 1) { $0.append(Array("x".utf8)) }
    let split = ByteSink(capacity: 16)
    let first = split.beginFrame(tag: 2, count: 7)
    split.append(body)
    split.endFrame(first)
    let second = split.beginFrame(tag: 0, count: 1)
    split.append(Array("x".utf8))
    split.endFrame(second)
    #expect(Array(split.bytes) == Array(whole.bytes))
    Array(split.bytes).withUnsafeBytes { raw in
      #expect(ByteFrame.read(raw).map { Array($0.0.bytes) } == body)
    }
  }
}
