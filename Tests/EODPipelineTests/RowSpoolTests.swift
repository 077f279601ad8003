import EODCompression
import EODRender
import Foundation
import Testing

@testable import EODPipeline

/// Spooled rows (``RowSpool`` over a real ``SpoolFile``) come back to their own firm as the file's
/// own encoder writes them, extract by extract, in order, with their row counts, when several
/// firms share a spool and several spools share a file; they are kept in fewer bytes than that
/// (line-delta coded), and the spool file leaves nothing in the output directory.
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

  @Test func spooledRowsComeBackToTheirFirmInOrderAsTheEncoderWritesThemAndLeaveNoFile() throws {
    let dir = try Fixtures.scratch("row-spool")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let library = try Fixtures.library()
    let kinds: [ExtractKind] = [.positions, .cash, .valuations]
    let encoders = try kinds.map {
      (kind: $0, encoder: RowEncoder(template: try library.template($0, version: 1), format: .csv))
    }
    let tree = try OutputTree(path: dir)
    let file = try SpoolFile(tree: tree, name: ".spool-0.part-test")
    let shared = encoders.map { (kind: $0.kind, encoder: SharedRowEncoder($0.encoder)) }
    // The thread's scratch buffer is shared by its spools.
    let scratch = ByteSink(capacity: 16)
    // Three firms share the first spool, a fourth has the second: their segments interleave in
    // the thread's file.
    let spools = [
      RowSpool(file: file, scratch: scratch, segmentSize: 32 * 1024),
      RowSpool(file: file, scratch: scratch, segmentSize: 32 * 1024),
    ]
    let members = [
      (spool: 0, member: spools[0].join(encoders: shared)),
      (spool: 0, member: spools[0].join(encoders: shared)),
      (spool: 0, member: spools[0].join(encoders: Array(shared.prefix(2)))),
      (spool: 1, member: spools[1].join(encoders: shared)),
    ]
    #expect(members.map(\.member.slot) == [0, 1, 2, 0])
    var expected = Array(repeating: [ExtractKind: (bytes: [UInt8], rows: Int)](), count: members.count)
    for account in 0..<600 {
      let firm = account % members.count
      let (spool, member) = members[firm]
      for (kind, encoder) in encoders {
        let batch = RowSpoolTests.rows(
          kind, account: account, count: kind == .positions ? 1 + account % 7 : 1)
        try spools[spool].add(member, kind, batch)
        guard member.kinds.contains(kind) else { continue }
        var bytes: [UInt8] = []
        encoder.rows(batch, into: &bytes)
        expected[firm][kind, default: ([], 0)].bytes += bytes
        expected[firm][kind, default: ([], 0)].rows += batch.rowCount
      }
      // An extract the firm has no file for adds nothing.
      try spools[spool].add(
        member, .transactions, RowSpoolTests.rows(.transactions, account: account, count: 2))
    }
    #expect(file.size > Int64(8 * 32 * 1024), "the rows fill several segments: \(file.size)")
    // The rows are kept line-delta coded: with their frames' headers, in fewer bytes than they
    // were encoded in (each row shares its start, "positions 12/", with the firm's row before).
    for spool in spools { try spool.flush() }
    let encoded = expected.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.bytes.count } }
    let coded = spools.reduce(0) { $0 + $1.bytesSpooled }
    #expect(coded < encoded, "coded: \(coded) bytes for \(encoded) encoded")
    // Each segment (32 KiB or more, but the last of each spool) is padded to whole blocks in the
    // file, and nothing more.
    let segments = coded / (32 * 1024) + spools.count
    #expect(file.size >= Int64(coded) && file.size <= Int64(coded + segments * SpoolFile.alignment))
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty, "the spool file has no name")
    var found = Array(repeating: [ExtractKind: (bytes: [UInt8], rows: Int)](), count: members.count)
    var order = Array(repeating: [ExtractKind](), count: members.count)
    for (index, spool) in spools.enumerated() {
      try spool.replay { slot, kind, rows, bytes in
        guard let firm = members.firstIndex(where: { $0.spool == index && $0.member.slot == slot }) else {
          Issue.record("a frame of slot \(slot) in spool \(index), where no firm is")
          return
        }
        found[firm][kind, default: ([], 0)].bytes += Array(bytes)
        found[firm][kind, default: ([], 0)].rows += rows
        if order[firm].count < 3 { order[firm].append(kind) }
      }
    }
    for firm in members.indices {
      let mine = members[firm].member.kinds
      let cycle = kinds.filter(mine.contains)
      #expect(order[firm] == Array((cycle + cycle).prefix(3)), "firm \(firm): frames in the order added")
      #expect(Set(found[firm].keys) == Set(mine))
      for kind in mine {
        #expect(found[firm][kind]?.rows == expected[firm][kind]?.rows, "\(kind) rows of firm \(firm)")
        #expect(found[firm][kind]?.bytes == expected[firm][kind]?.bytes, "\(kind) bytes of firm \(firm)")
      }
    }
  }

  /// Eight firms a spool with two processing threads (80 files being written at once when they
  /// are read back, within a merged pass's budget of 160), fewer with more threads, never none;
  /// segments of 128 KiB, smaller when there are many spools (16 MiB in all), never under 16 KiB.
  @Test func spoolsAreSizedWithinTheMergedPassBudgetAndSixteenMebibytes() {
    #expect(RowSpool.firmsPerSpool(workers: 1) == 8)
    #expect(RowSpool.firmsPerSpool(workers: 2) == 8)
    #expect(RowSpool.firmsPerSpool(workers: 8) == 4)
    #expect(RowSpool.firmsPerSpool(workers: 64) == 1)
    for workers in [1, 2, 3, 4, 8, 16, 32] {
      #expect(workers * RowSpool.firmsPerSpool(workers: workers) * 5 <= SnapshotPass.mergedFileBudget)
    }
    #expect(RowSpool.segmentSize(spools: 1) == 128 * 1024)
    #expect(RowSpool.segmentSize(spools: 126) == 128 * 1024)
    #expect(RowSpool.segmentSize(spools: 625) == (16 << 20) / 625)
    #expect(RowSpool.segmentSize(spools: 100_000) == 16 * 1024)
  }

  /// The spool file gathers appends in its buffer, each starting on a block: bytes read back the
  /// same whether they were written already, are still in the buffer, or came in an append larger
  /// than the buffer; with direct I/O (where the file system allows it) and through the page
  /// cache.
  @Test(arguments: [true, false]) func spoolFileBytesReadBackFromTheFileAndFromItsBuffer(direct: Bool) throws
  {
    let dir = try Fixtures.scratch("spool-file")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let file = try SpoolFile(tree: try OutputTree(path: dir), name: ".spool-0.part-test", direct: direct)
    if !direct { #expect(!file.isDirect) }
    // Sizes that fill the buffer part way, cross its end, exceed it, and fill a block exactly.
    let sizes = [
      8 * 1024, SpoolFile.writeSize - 5000, 9000, 3 * SpoolFile.writeSize / 2, 100, 70_000, 4096, 1,
    ]
    var appended: [(offset: Int64, bytes: [UInt8])] = []
    for (index, size) in sizes.enumerated() {
      let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) }
      let offset = try bytes.withUnsafeBytes { try file.append($0) }
      // Each append starts on a block, after the one before and its padding.
      #expect(offset % Int64(SpoolFile.alignment) == 0)
      #expect(offset == appended.last.map { $0.offset + Int64(SpoolFile.padded($0.bytes.count)) } ?? 0)
      // The one before is written; this one may still be in the buffer.
      if let (before, earlier) = appended.last {
        #expect(
          Array(try file.read(at: before, count: earlier.count)) == earlier,
          "the append before \(index), read while the buffer holds this one")
      }
      appended.append((offset, bytes))
      // The last append is still in the buffer: it reads back before anything else is written.
      #expect(
        Array(try file.read(at: offset, count: size)) == bytes,
        "append \(index) of \(size) bytes, read at once")
    }
    #expect(file.size == Int64(sizes.reduce(0) { $0 + SpoolFile.padded($1) }))
    for (offset, bytes) in appended.reversed() {
      #expect(
        Array(try file.read(at: offset, count: bytes.count)) == bytes,
        "\(bytes.count) bytes at \(offset), at the end")
    }
    // A read of what was never appended is refused, and says where.
    #expect(throws: CompressionError.self) { try file.read(at: file.size, count: 1) }
    #expect(throws: CompressionError.self) { try file.read(at: 100, count: 1) }
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
