import Testing

@testable import EODPipeline

/// The history writer's list of the keys it wrote for a firm (what undoing a failed firm deletes):
/// every key back exactly, in order, in a few bytes each.
@Suite struct WrittenKeysTests {
  static func roundTrip(_ keys: [Int64]) -> (back: [Int64], bytes: Int) {
    var list = WrittenKeys()
    for key in keys { list.append(key) }
    var back: [Int64] = []
    list.forEach { back.append($0) }
    return (back, list.byteCount)
  }

  @Test func keysComeBackExactlyInOrderWhateverTheirOrderOrSize() {
    let awkward: [Int64] = [
      0, 1, 1, 0, -1, 63, 64, -64, -65, 127, 128, 16_383, 16_384, Int64.max, Int64.min, Int64.max, 0,
      Int64.min, -1, 1 << 40, 5,
    ]
    #expect(Self.roundTrip(awkward).back == awkward)
    var generator = SystemRandomNumberGenerator()
    let random = (0..<5_000).map { _ in Int64.random(in: Int64.min...Int64.max, using: &generator) }
    #expect(Self.roundTrip(random).back == random)
    #expect(Self.roundTrip([]).back == [])
  }

  @Test func aFirmsKeysInStepsOfTheNumberOfFirmsTakeTwoBytesEach() {
    // 999 firms dealt accounts round robin: a firm's keys rise by 999 from one to the next.
    let keys = (0..<1_000).map { Int64(17 + 999 * $0) }
    let (back, bytes) = Self.roundTrip(keys)
    #expect(back == keys)
    #expect(bytes == 1 + 2 * 999)
  }
}
