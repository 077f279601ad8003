import EODCompression
import Foundation
import Testing

/// Many files sharing one pool of compression threads, as a run's firms do.
@Suite struct CompressionPoolTests {
  /// Appends every input to its own writer in turns of `chunk` bytes, like interleaved firms.
  func writeInterleaved(
    _ inputs: [[UInt8]], paths: [String], configuration: GzipFileWriter.Configuration, pool: CompressionPool,
    chunk: Int = 7_000
  ) throws {
    let writers = try paths.map { try GzipFileWriter(path: $0, configuration: configuration, pool: pool) }
    var offsets = Array(repeating: 0, count: inputs.count)
    var busy = true
    while busy {
      busy = false
      for (index, input) in inputs.enumerated() where offsets[index] < input.count {
        let end = min(input.count, offsets[index] + chunk)
        try writers[index].append(input[offsets[index]..<end])
        offsets[index] = end
        busy = true
      }
    }
    for writer in writers { try writer.finish() }
  }

  @Test(arguments: [1, 3])
  func sharedPoolFilesAreTheSameBytesAsPrivateOnes(maxInFlight: Int) throws {
    let dir = try TempDir()
    defer { dir.cleanUp() }
    let inputs = (0..<12).map { csvLikeBytes(20_000 + $0 * 9_000, seed: UInt64($0 + 1)) }
    let configuration = GzipFileWriter.Configuration(encoding: .gzip(level: 6), blockSize: 16 * 1024)
    let pool = CompressionPool(workerCount: 2, maxBlocksInFlight: maxInFlight)
    defer { pool.shutdown() }
    let shared = inputs.indices.map { dir.path("shared-\($0).gz") }
    try writeInterleaved(inputs, paths: shared, configuration: configuration, pool: pool)
    for (index, input) in inputs.enumerated() {
      let alone = dir.path("alone-\(index).gz")
      try writeFile(input, to: alone, configuration: configuration)
      let file = try readFile(shared[index])
      #expect(try Gunzip.decompress(file) == input)
      #expect(file == (try readFile(alone)), "file \(index) differs from the one written alone")
    }
  }

  @Test func abandoningOneFileLeavesTheOthersWhole() throws {
    let dir = try TempDir()
    defer { dir.cleanUp() }
    let pool = CompressionPool(workerCount: 2, maxBlocksInFlight: 2)
    defer { pool.shutdown() }
    let configuration = GzipFileWriter.Configuration(encoding: .gzip(level: 6), blockSize: 8 * 1024)
    let inputs = (0..<3).map { csvLikeBytes(120_000, seed: UInt64(10 + $0)) }
    let writers = try (0..<3).map {
      try GzipFileWriter(path: dir.path("f\($0).gz"), configuration: configuration, pool: pool)
    }
    for offset in stride(from: 0, to: 120_000, by: 10_000) {
      for (index, writer) in writers.enumerated() {
        if index == 1 && offset == 60_000 { writer.abandon() }
        if index == 1 && offset >= 60_000 { continue }
        try writer.append(inputs[index][offset..<(offset + 10_000)])
      }
    }
    try writers[0].finish()
    try writers[2].finish()
    #expect(!FileManager.default.fileExists(atPath: dir.path("f1.gz")))
    #expect(try Gunzip.decompress(readFile(dir.path("f0.gz"))) == inputs[0])
    #expect(try Gunzip.decompress(readFile(dir.path("f2.gz"))) == inputs[2])
  }

  @Test func submitPendingCompressesEarlyWithoutChangingTheFile() throws {
    let dir = try TempDir()
    defer { dir.cleanUp() }
    let input = csvLikeBytes(50_000)
    let configuration = GzipFileWriter.Configuration(encoding: .gzip(level: 6), blockSize: 16 * 1024)
    let pool = CompressionPool(workerCount: 2)
    defer { pool.shutdown() }
    let early = try GzipFileWriter(path: dir.path("early.gz"), configuration: configuration, pool: pool)
    try early.append(input)
    try early.submitPending()
    try early.finish()
    try writeFile(input, to: dir.path("plain.gz"), configuration: configuration)
    #expect(try readFile(dir.path("early.gz")) == readFile(dir.path("plain.gz")))
  }

  @Test func aShutDownPoolRefusesNewBlocks() throws {
    let dir = try TempDir()
    defer { dir.cleanUp() }
    let pool = CompressionPool(workerCount: 1)
    pool.shutdown()
    let configuration = GzipFileWriter.Configuration(encoding: .gzip(level: 6), blockSize: 4096)
    let writer = try GzipFileWriter(path: dir.path("late.gz"), configuration: configuration, pool: pool)
    #expect(throws: CompressionError.self) { try writer.append(csvLikeBytes(10_000)) }
    #expect(!FileManager.default.fileExists(atPath: dir.path("late.gz")))
  }
}
