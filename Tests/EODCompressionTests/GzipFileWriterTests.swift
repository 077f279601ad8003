import EODCompression
import Foundation
import Synchronization
import Testing

@Suite struct GzipFileWriterRoundTripTests {
  /// Writes `input`, then checks the file with gzip -t, gzip -dc, Python's gzip and Gunzip.
  func roundTrip(
    _ input: [UInt8], blockSize: Int = 64 * 1024, level: Int = 6, workers: Int = 2,
    backend: DeflateBackend = .preferred
  ) throws -> (file: [UInt8], summary: GzipFileWriter.Summary) {
    let dir = try TempDir()
    defer { dir.cleanUp() }
    let path = dir.path("out.csv.gz")
    let configuration = GzipFileWriter.Configuration(
      encoding: .gzip(level: level), blockSize: blockSize, workerCount: workers, backend: backend)
    let summary = try writeFile(input, to: path, configuration: configuration)
    let file = try readFile(path)

    let check = try gzipTest(path, in: dir)
    #expect(check.status == 0, "gzip -t: \(check.stderr)")
    #expect(try gzipDecompress(path, in: dir) == input)
    #expect(try pythonDecompress(path, in: dir) == input)
    #expect(try Gunzip.decompress(file) == input)

    #expect(summary.inputByteCount == Int64(input.count))
    #expect(summary.outputByteCount == Int64(file.count))
    let expectedBlocks = max(1, (input.count + blockSize - 1) / blockSize)
    #expect(summary.blockCount == expectedBlocks)
    let gunzip = try Gunzip.decompressFile(atPath: path) { _ in }
    #expect(gunzip.memberCount == expectedBlocks)
    #expect(gunzip.decompressedByteCount == Int64(input.count))
    return (file, summary)
  }

  @Test func emptyInputIsOneEmptyMember() throws {
    let (file, _) = try roundTrip([])
    // Header, an empty final deflate block, CRC-32 0, ISIZE 0.
    let emptyBlock: [UInt8] =
      switch DeflateBackend.preferred {
      case .zlib: [3, 0]  // fixed-Huffman block with only end-of-block
      case .libdeflate: [1, 0, 0, 0xff, 0xff]  // empty stored block
      }
    #expect(file == Gzip.header(level: 6) + emptyBlock + [0, 0, 0, 0, 0, 0, 0, 0])
  }

  @Test func smallInput() throws {
    let input = Array("account_id,value\nA1,100.25\nA2,-3.50\n".utf8)
    let (file, summary) = try roundTrip(input)
    #expect(summary.blockCount == 1)
    #expect(file.count < 20 + input.count + 10)
  }

  @Test func inputSpanningManyBlocks() throws {
    let input = csvLikeBytes(3_000_000)
    let (_, summary) = try roundTrip(input, blockSize: 64 * 1024)
    #expect(summary.blockCount == 46)
  }

  @Test func inputExactlyAMultipleOfTheBlockSize() throws {
    let blockSize = 16 * 1024
    let input = csvLikeBytes(blockSize * 5)
    let (file, summary) = try roundTrip(input, blockSize: blockSize)
    // No empty trailing member: exactly five members, identical to five single-member files.
    #expect(summary.blockCount == 5)
    #expect(file == (try expectedMembers(input, blockSize: blockSize, level: 6)))
  }

  @Test(arguments: [0, 1, 6, 9], availableBackends)
  func levels(level: Int, backend: DeflateBackend) throws {
    let input = csvLikeBytes(400_000, seed: 7)
    let (file, _) = try roundTrip(input, blockSize: 128 * 1024, level: level, backend: backend)
    #expect(file[8] == Gzip.extraFlags(level: level))
    if level == 0 {
      #expect(file.count > input.count)  // stored blocks: a little larger than the input
    } else {
      #expect(file.count < input.count / 2)
    }
  }

  @Test(arguments: availableBackends)
  func higherLevelsCompressSmaller(backend: DeflateBackend) throws {
    let input = csvLikeBytes(600_000, seed: 3)
    let sizes = try [0, 1, 6, 9].map { level in try Gzip.compress(input, level: level, backend: backend).count
    }
    #expect(sizes[0] > sizes[1])
    #expect(sizes[1] > sizes[2])
    #expect(sizes[2] >= sizes[3])
  }
}

@Suite struct GzipDeterminismTests {
  @Test(arguments: availableBackends)
  func sameBytesForOneAndFourThreadsAndRepeatedRuns(backend: DeflateBackend) throws {
    let dir = try TempDir()
    defer { dir.cleanUp() }
    let input = csvLikeBytes(2_500_000, seed: 11)
    var files: [[UInt8]] = []
    for (run, workers) in [1, 4, 4, 2, 1].enumerated() {
      let path = dir.path("run\(run).gz")
      let configuration = GzipFileWriter.Configuration(
        blockSize: 100_000, workerCount: workers, backend: backend)
      // Vary the append pattern too: it must not matter how the producer slices its bytes.
      try writeFile(
        input, to: path, configuration: configuration, chunk: [1000, 65_536, 7, 250_000, 99_999][run])
      files.append(try readFile(path))
    }
    for file in files.dropFirst() { #expect(file == files[0]) }
    #expect(files[0] == (try expectedMembers(input, blockSize: 100_000, level: 6, backend: backend)))
  }

  @Test func blockSizeChangesTheBytesButNotTheContent() throws {
    let dir = try TempDir()
    defer { dir.cleanUp() }
    let input = csvLikeBytes(300_000, seed: 5)
    try writeFile(input, to: dir.path("a.gz"), configuration: .init(blockSize: 64 * 1024))
    try writeFile(input, to: dir.path("b.gz"), configuration: .init(blockSize: 128 * 1024))
    let a = try readFile(dir.path("a.gz"))
    let b = try readFile(dir.path("b.gz"))
    #expect(a != b)
    #expect(try Gunzip.decompress(a) == Gunzip.decompress(b))
  }

  @Test(arguments: [0, 1, 6, 9])
  func headerIsFixed(level: Int) throws {
    let input = Array("hello, world\n".utf8)
    let member = try Gzip.compress(input, level: level)
    // ID1 ID2 CM FLG(no name, no comment, no extra, no header crc) MTIME=0 XFL OS=3
    let xfl: UInt8 = level == 9 ? 2 : (level < 2 ? 4 : 0)
    #expect(Array(member.prefix(10)) == [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3])
    // Trailer: CRC-32 and ISIZE, little-endian.
    let trailer = Array(member.suffix(8))
    let crc = CRC32.checksum(input)
    #expect(trailer[0..<4].elementsEqual((0..<4).map { UInt8(truncatingIfNeeded: crc >> ($0 * 8)) }))
    #expect(Array(trailer[4..<8]) == [UInt8(input.count), 0, 0, 0])
  }

  @Test func everyMemberHeaderInAWrittenFileIsFixed() throws {
    let dir = try TempDir()
    defer { dir.cleanUp() }
    let path = dir.path("x.gz")
    let input = csvLikeBytes(50_000, seed: 9)
    try writeFile(
      input, to: path, configuration: .init(encoding: .gzip(level: 9), blockSize: 8192, workerCount: 3))
    let file = try readFile(path)
    // Walk the members: each one is exactly the single-member encoding of its block.
    var offset = 0
    var blockStart = 0
    while blockStart < input.count {
      let block = Array(input[blockStart..<min(input.count, blockStart + 8192)])
      let member = try Gzip.compress(block, level: 9)
      #expect(Array(file[offset..<(offset + 10)]) == [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3])
      #expect(Array(file[offset..<(offset + member.count)]) == member)
      offset += member.count
      blockStart += 8192
    }
    #expect(offset == file.count)
    // gzip -l -v reports no stored name (it falls back to the file's own name minus .gz).
    let python = try runProgram(
      "/usr/bin/env",
      ["python3", "-c", "import gzip,sys; f=gzip.open(sys.argv[1]); f.read(); print(f.mtime, f.name)", path],
      in: dir)
    #expect(python.status == 0, "\(python.stderr)")
    #expect(String(decoding: python.stdout, as: UTF8.self).hasPrefix("0 "))
  }

  @Test func crc32KnownValue() {
    #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    var crc = CRC32()
    crc.update(Array("12345".utf8))
    crc.update(Array("6789".utf8))
    #expect(crc.value == 0xCBF4_3926)
    #expect(CRC32.checksum([UInt8]()) == 0)
    // A long input (the vectorised paths), whole and in uneven pieces: Python's zlib.crc32.
    let long = (0..<100_000).map { UInt8(truncatingIfNeeded: ($0 * 31 + 7) * ($0 >> 3)) }
    #expect(CRC32.checksum(long) == 0x73C4_E4BA)
    var pieces = CRC32()
    var start = 0
    for size in [1, 15, 16, 17, 63, 64, 65, 4095, 30_000] + Array(repeating: 1000, count: 70) {
      let end = min(long.count, start + size)
      pieces.update(long[start..<end])
      start = end
    }
    pieces.update(long[start...])
    #expect(pieces.value == 0x73C4_E4BA)
  }
}

@Suite struct GzipFileWriterBehaviourTests {
  @Test func noneModeWritesBytesUnchanged() throws {
    let dir = try TempDir()
    defer { dir.cleanUp() }
    let path = dir.path("plain.csv")
    let input = csvLikeBytes(300_000, seed: 2)
    let collector = ByteCollector()
    let summary = try writeFile(
      input, to: path, configuration: .init(encoding: .none, blockSize: 65_536, workerCount: 4),
      onOutput: collector.callback)
    #expect(try readFile(path) == input)
    #expect(collector.bytes == input)
    #expect(summary.outputByteCount == Int64(input.count))
    #expect(summary.inputByteCount == Int64(input.count))
    #expect(summary.encoding == .none)
  }

  @Test func noneModeEmptyInputIsAnEmptyFile() throws {
    let dir = try TempDir()
    defer { dir.cleanUp() }
    let path = dir.path("empty.csv")
    let summary = try writeFile([], to: path, configuration: .init(encoding: .none))
    #expect(try readFile(path).isEmpty)
    #expect(summary.blockCount == 0)
  }

  @Test func onOutputSeesExactlyTheFileBytesInOrder() throws {
    let dir = try TempDir()
    defer { dir.cleanUp() }
    let path = dir.path("hooked.gz")
    let input = csvLikeBytes(1_000_000, seed: 4)
    let collector = ByteCollector()
    let writer = try GzipFileWriter(
      path: path, configuration: .init(blockSize: 50_000, workerCount: 2), onOutput: collector.callback)
    try writer.append(input)
    #expect(writer.inputByteCount == Int64(input.count))
    let summary = try writer.finish()
    let file = try readFile(path)
    #expect(collector.bytes == file)
    #expect(collector.chunkCount == 20)
    #expect(writer.outputByteCount == Int64(file.count))
    #expect(summary.outputByteCount == Int64(file.count))
  }

  @Test func appendVariantsAgree() throws {
    let dir = try TempDir()
    defer { dir.cleanUp() }
    let text = "a,b,c\n1,2,3\nÄ,€,🙂\n"
    let w1 = try GzipFileWriter(path: dir.path("1.gz"))
    try w1.append(utf8: text)
    try w1.finish()
    let w2 = try GzipFileWriter(path: dir.path("2.gz"))
    try Array(text.utf8).withUnsafeBytes { raw in try w2.append(raw) }
    try w2.finish()
    #expect(try readFile(dir.path("1.gz")) == readFile(dir.path("2.gz")))
    #expect(try Gunzip.decompress(readFile(dir.path("1.gz"))) == Array(text.utf8))
  }

  @Test func abandonLeavesNoFile() throws {
    let dir = try TempDir()
    defer { dir.cleanUp() }
    let path = dir.path("partial.gz")
    let writer = try GzipFileWriter(path: path, configuration: .init(blockSize: 16_384, workerCount: 2))
    try writer.append(csvLikeBytes(200_000))
    #expect(FileManager.default.fileExists(atPath: path))
    writer.abandon()
    #expect(!FileManager.default.fileExists(atPath: path))
    #expect(throws: CompressionError.self) { try writer.append([1, 2, 3]) }
    #expect(throws: CompressionError.self) { try writer.finish() }
    writer.abandon()  // idempotent
  }

  @Test func droppingAnUnfinishedWriterLeavesNoFile() throws {
    let dir = try TempDir()
    defer { dir.cleanUp() }
    let path = dir.path("dropped.gz")
    do {
      let writer = try GzipFileWriter(path: path, configuration: .init(blockSize: 16_384))
      try writer.append(csvLikeBytes(100_000))
      #expect(FileManager.default.fileExists(atPath: path))
    }
    #expect(!FileManager.default.fileExists(atPath: path))
  }

  @Test func finishedWriterRejectsMoreInputAndKeepsTheFile() throws {
    let dir = try TempDir()
    defer { dir.cleanUp() }
    let path = dir.path("done.gz")
    let writer = try GzipFileWriter(path: path)
    try writer.append(utf8: "x\n")
    try writer.finish()
    let error = #expect(throws: CompressionError.self) { try writer.append([1]) }
    #expect(error?.code == .writerClosed)
    writer.abandon()  // no effect after finish
    #expect(try gzipDecompress(path, in: dir) == Array("x\n".utf8))
  }

  @Test func unwritablePathGivesAClearErrorNamingThePath() throws {
    let dir = try TempDir()
    defer { dir.cleanUp() }
    let path = dir.path("no-such-dir/positions.csv.gz")
    let error = #expect(throws: CompressionError.self) { try GzipFileWriter(path: path) }
    #expect(error?.code == .openFailed)
    #expect(error?.path == path)
    #expect(error?.systemErrno == ENOENT)
    let text = error.map(\.description) ?? ""
    #expect(text.contains(path))
    #expect(text.contains("No such file or directory"))
    #expect(text.contains("opening output file"))
  }

  @Test func writeFailureIsReportedAndTheFileRemoved() throws {
    // /dev/full accepts open but fails every write with ENOSPC; abandoning it must not unlink it
    // for real, so use a symlink to it and check that the link is gone.
    let dir = try TempDir()
    defer { dir.cleanUp() }
    guard FileManager.default.fileExists(atPath: "/dev/full") else { return }
    let path = dir.path("full.gz")
    try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/full")
    let writer = try GzipFileWriter(path: path, configuration: .init(blockSize: 4096, workerCount: 2))
    let error = #expect(throws: CompressionError.self) {
      for _ in 0..<100 { try writer.append(csvLikeBytes(4096)) }
      try writer.finish()
    }
    #expect(error?.code == .writeFailed)
    #expect(error?.systemErrno == ENOSPC)
    #expect(error?.description.contains(path) == true)
    #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: path)) == nil)
  }

  @Test func invalidConfigurationIsRejected() throws {
    let dir = try TempDir()
    defer { dir.cleanUp() }
    let bad: [GzipFileWriter.Configuration] = [
      .init(encoding: .gzip(level: 10)), .init(encoding: .gzip(level: -1)), .init(blockSize: 0),
      .init(blockSize: 1 << 30), .init(workerCount: 0), .init(maxBlocksInFlight: 0),
    ]
    for configuration in bad {
      let error = #expect(throws: CompressionError.self) {
        try GzipFileWriter(path: dir.path("bad.gz"), configuration: configuration)
      }
      #expect(error?.code == .invalidConfiguration)
    }
    #expect(!FileManager.default.fileExists(atPath: dir.path("bad.gz")))
    #expect(throws: CompressionError.self) { try Gzip.compress([1], level: 12) }
    if !DeflateBackend.libdeflate.isAvailable {
      let error = #expect(throws: CompressionError.self) {
        try GzipFileWriter(path: dir.path("bad.gz"), configuration: .init(backend: .libdeflate))
      }
      #expect(error?.code == .invalidConfiguration)
    }
  }

  @Test func producerIsHeldBackWhenTheWriterFallsBehind() throws {
    let dir = try TempDir()
    defer { dir.cleanUp() }
    let path = dir.path("slow.gz")
    let gate = DispatchSemaphore(value: 0)
    let appended = Atomic<Int>(0)
    let done = DispatchSemaphore(value: 0)
    let blockSize = 8192
    // The first write blocks until the gate opens; at most maxBlocksInFlight blocks (plus the one
    // being filled) can be accepted meanwhile.
    let onOutput: @Sendable (UnsafeRawBufferPointer) -> Void = { _ in gate.wait() }
    let producer = Thread {
      do {
        let writer = try GzipFileWriter(
          path: path, configuration: .init(blockSize: blockSize, workerCount: 2, maxBlocksInFlight: 3),
          onOutput: onOutput)
        let block = csvLikeBytes(blockSize)
        for _ in 0..<20 {
          try writer.append(block)
          appended.add(1, ordering: .sequentiallyConsistent)
        }
        try writer.finish()
      } catch {
        Issue.record("producer failed: \(error)")
      }
      done.signal()
    }
    producer.start()
    // Wait (bounded) until the producer is running, then give it time to run ahead if it could.
    let deadline = Date().addingTimeInterval(20)
    while appended.load(ordering: .sequentiallyConsistent) == 0 && Date() < deadline {
      Thread.sleep(forTimeInterval: 0.01)
    }
    Thread.sleep(forTimeInterval: 0.5)
    let acceptedWhileBlocked = appended.load(ordering: .sequentiallyConsistent)
    #expect(acceptedWhileBlocked <= 3)
    #expect(acceptedWhileBlocked >= 1)
    for _ in 0..<20 { gate.signal() }
    #expect(done.wait(timeout: .now() + 30) == .success)
    #expect(appended.load(ordering: .sequentiallyConsistent) == 20)
    #expect(try Gunzip.decompress(readFile(path)).count == 20 * blockSize)
  }
}

@Suite struct DeflateBackendTests {
  @Test func zlibIsAlwaysAvailableAndPreferredIsAvailable() {
    #expect(DeflateBackend.zlib.isAvailable)
    #expect(DeflateBackend.preferred.isAvailable)
    #expect(availableBackends.contains(.preferred))
  }

  @Test func backendsDecodeToTheSameContent() throws {
    let input = csvLikeBytes(200_000, seed: 13)
    for backend in availableBackends {
      let member = try Gzip.compress(input, level: 6, backend: backend)
      #expect(Array(member.prefix(10)) == Gzip.header(level: 6))
      #expect(try Gunzip.decompress(member) == input)
    }
  }
}
