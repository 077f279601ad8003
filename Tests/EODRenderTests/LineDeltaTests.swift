import Testing

@testable import EODRender

/// The spool's line-delta coding (``LineDeltaEncoder``, ``LineDeltaDecoder``): what it writes for
/// rows that share their start, that any bytes come back the same piece by piece, and that bytes
/// which are not a coding are refused.
@Suite struct LineDeltaTests {
  func encode(_ pieces: [[UInt8]]) -> [[UInt8]] {
    let encoder = LineDeltaEncoder()
    return pieces.map { piece in
      let sink = ByteSink(capacity: 16)
      piece.withUnsafeBytes { encoder.encode($0, into: sink) }
      return Array(sink.bytes)
    }
  }

  func decode(_ coded: [[UInt8]]) -> [[UInt8]]? {
    let decoder = LineDeltaDecoder()
    var pieces: [[UInt8]] = []
    for piece in coded {
      let sink = ByteSink(capacity: 16)
      guard piece.withUnsafeBytes({ decoder.decode($0, into: sink) }) else { return nil }
      pieces.append(Array(sink.bytes))
    }
    return pieces
  }

  @Test func eachLineIsItsSharedStartWithTheLineBeforeAndTheRest() {
    let coded = encode([Array("abc\nabd\nabd\n".utf8), Array("ab".utf8), Array("abx\n".utf8)])
    #expect(coded[0] == [0] + Array("abc\n".utf8) + [2] + Array("d\n".utf8) + [4])
    // A piece's first line is coded against the last line of the piece before.
    #expect(coded[1] == [2], "a line without a newline, the start of the line before")
    #expect(coded[2] == [2] + Array("x\n".utf8))
    #expect(decode(coded) == [Array("abc\nabd\nabd\n".utf8), Array("ab".utf8), Array("abx\n".utf8)])
  }

  @Test func aSharedStartOfMoreThan127BytesTakesTwoVarintBytes() {
    let start = Array(repeating: UInt8(ascii: "7"), count: 300)
    let coded = encode([start + Array("a\n".utf8), start + Array("b\n".utf8)])
    #expect(coded[1] == [0xAC, 0x02] + Array("b\n".utf8), "300 = 0x12C")
    #expect(decode(coded) == [start + Array("a\n".utf8), start + Array("b\n".utf8)])
  }

  /// Pieces of bytes from a small alphabet with newlines (lines that repeat, grow, shrink and share
  /// starts of every length), quoted newlines and bytes of every value, and empty pieces.
  @Test func anyBytesComeBackPieceByPiece() {
    var state: UInt64 = 0x5EED
    func next(_ bound: Int) -> Int {
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return Int((z ^ (z >> 31)) % UInt64(bound))
    }
    let alphabet = Array("AB,\"\n\n".utf8)
    for round in 0..<200 {
      var pieces: [[UInt8]] = []
      for _ in 0..<(1 + next(12)) {
        let count = next(3) == 0 ? 0 : next(400)
        pieces.append(
          (0..<count).map { _ in round % 4 == 0 ? UInt8(next(256)) : alphabet[next(alphabet.count)] })
      }
      let coded = encode(pieces)
      #expect(decode(coded) == pieces, "round \(round)")
    }
  }

  @Test func bytesThatAreNotACodingAreRefused() {
    let coded = encode([Array("row one\n".utf8)])
    #expect(decode(coded + [[9]]) == nil, "a shared start longer than the line before")
    #expect(decode(coded + [[0x80, 0x80]]) == nil, "a varint that does not end")
    #expect(decode([[0]]) == nil, "an empty line")
    #expect(decode(coded + [[8]]) == [Array("row one\n".utf8), Array("row one\n".utf8)])
  }
}
