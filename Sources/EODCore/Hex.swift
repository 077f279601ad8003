/// Lower-case hexadecimal text of bytes: how a digest (SHA-256 of a file, a manifest, a profile,
/// an HMAC) is written everywhere, in manifests, records, logs and messages. One table look-up a
/// digit: a night writes six digests per firm, and a formatting call per byte was measurable at
/// hundreds of firms.
public enum Hex {
  /// Two digits a byte, `0-9a-f`.
  public static func lowercase<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
    let bytes = Array(bytes)
    return String(unsafeUninitializedCapacity: bytes.count * 2) { out in
      let digits: StaticString = "0123456789abcdef"
      var at = 0
      for byte in bytes {
        out[at] = digits.utf8Start[Int(byte >> 4)]
        out[at + 1] = digits.utf8Start[Int(byte & 0x0F)]
        at += 2
      }
      return at
    }
  }
}
