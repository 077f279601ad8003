import EODCompression
import Foundation
import Testing

@Suite struct GunzipTests {
  @Test func readsWhatRealGzipAndPigzWrite() throws {
    let dir = try TempDir()
    defer { dir.cleanUp() }
    let input = csvLikeBytes(500_000, seed: 21)
    let plain = dir.path("data.csv")
    try Data(input).write(to: URL(fileURLWithPath: plain))
    for (tool, args) in [
      ("/usr/bin/gzip", ["-6", "-c", plain]), ("/usr/bin/pigz", ["-6", "-p", "2", "-c", plain]),
    ] {
      guard FileManager.default.isExecutableFile(atPath: tool) else { continue }
      let result = try runProgram(tool, args, in: dir)
      #expect(result.status == 0, "\(tool): \(result.stderr)")
      #expect(try Gunzip.decompress(result.stdout) == input)
    }
  }

  @Test func readsConcatenatedMembersFromGzip() throws {
    let dir = try TempDir()
    defer { dir.cleanUp() }
    var combined: [UInt8] = []
    var expected: [UInt8] = []
    for part in 0..<3 {
      let input = csvLikeBytes(10_000 + part, seed: UInt64(part))
      let plain = dir.path("p\(part)")
      try Data(input).write(to: URL(fileURLWithPath: plain))
      let result = try runProgram("/usr/bin/gzip", ["-c", plain], in: dir)
      #expect(result.status == 0)
      combined += result.stdout
      expected += input
    }
    let summary = try combined.withUnsafeBytes { raw in try Gunzip.decompress(raw) { _ in } }
    #expect(summary.memberCount == 3)
    #expect(try Gunzip.decompress(combined) == expected)
  }

  @Test func streamsAFileInOrder() throws {
    let dir = try TempDir()
    defer { dir.cleanUp() }
    let path = dir.path("s.gz")
    let input = csvLikeBytes(3_000_000, seed: 8)
    try writeFile(input, to: path, configuration: .init(blockSize: 256 * 1024))
    var output: [UInt8] = []
    let summary = try Gunzip.decompressFile(atPath: path) { output.append(contentsOf: $0) }
    #expect(output == input)
    #expect(summary.memberCount == 12)
    #expect(summary.compressedByteCount == Int64(try readFile(path).count))
  }

  @Test func emptyInputIsAnError() throws {
    let error = #expect(throws: CompressionError.self) { try Gunzip.decompress([]) }
    #expect(error?.code == .truncatedInput)
  }

  @Test func truncatedInputIsAnError() throws {
    let member = try Gzip.compress(csvLikeBytes(20_000), level: 6)
    for cut in [1, 9, 10, member.count / 2, member.count - 1] {
      let error = #expect(throws: CompressionError.self) { try Gunzip.decompress(Array(member.prefix(cut))) }
      #expect(error?.code == .truncatedInput, "cut at \(cut): \(String(describing: error))")
    }
    // A complete member followed by half of another.
    let error = #expect(throws: CompressionError.self) {
      try Gunzip.decompress(member + member.prefix(member.count / 2))
    }
    #expect(error?.description.contains("member 2") == true)
  }

  @Test func corruptCRCIsAnError() throws {
    var member = try Gzip.compress(Array("some text that matters\n".utf8), level: 6)
    member[member.count - 8] ^= 0xff
    let error = #expect(throws: CompressionError.self) { try Gunzip.decompress(member) }
    #expect(error?.code == .corruptInput)
    #expect(error?.zlibMessage == "incorrect data check")
  }

  @Test func trailingGarbageIsAnError() throws {
    let member = try Gzip.compress(Array("abc".utf8), level: 6)
    let error = #expect(throws: CompressionError.self) {
      try Gunzip.decompress(member + Array("this is not gzip".utf8))
    }
    #expect(error?.code == .corruptInput)
  }

  @Test func missingFileNamesThePath() throws {
    let path = "/nonexistent-eod-dir/x.gz"
    let error = #expect(throws: CompressionError.self) { try Gunzip.decompressFile(atPath: path) { _ in } }
    #expect(error?.code == .openFailed)
    #expect(error?.description.contains(path) == true)
  }
}
