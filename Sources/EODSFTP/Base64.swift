/// Minimal base64 for fingerprints and key-file inspection (no Foundation in this module).
enum Base64 {
  private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

  /// Standard base64; with `padding: false` the trailing `=` are left off (OpenSSH fingerprints).
  static func encode(_ bytes: [UInt8], padding: Bool = true) -> String {
    var out: [UInt8] = []
    out.reserveCapacity((bytes.count + 2) / 3 * 4)
    var index = 0
    while index < bytes.count {
      let b0 = bytes[index]
      let b1 = index + 1 < bytes.count ? bytes[index + 1] : 0
      let b2 = index + 2 < bytes.count ? bytes[index + 2] : 0
      out.append(alphabet[Int(b0 >> 2)])
      out.append(alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
      if index + 1 < bytes.count {
        out.append(alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)])
      } else if padding {
        out.append(UInt8(ascii: "="))
      }
      if index + 2 < bytes.count {
        out.append(alphabet[Int(b2 & 0x3F)])
      } else if padding {
        out.append(UInt8(ascii: "="))
      }
      index += 3
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// Decodes base64, ignoring whitespace; nil on any other invalid character.
  static func decode(_ text: String) -> [UInt8]? {
    var values: [UInt8] = []
    for byte in text.utf8 {
      switch byte {
      case UInt8(ascii: "A")...UInt8(ascii: "Z"): values.append(byte - UInt8(ascii: "A"))
      case UInt8(ascii: "a")...UInt8(ascii: "z"): values.append(byte - UInt8(ascii: "a") + 26)
      case UInt8(ascii: "0")...UInt8(ascii: "9"): values.append(byte - UInt8(ascii: "0") + 52)
      case UInt8(ascii: "+"): values.append(62)
      case UInt8(ascii: "/"): values.append(63)
      case UInt8(ascii: "="), UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"):
        continue
      default: return nil
      }
    }
    var out: [UInt8] = []
    var index = 0
    while index + 1 < values.count {
      out.append(values[index] << 2 | values[index + 1] >> 4)
      if index + 2 < values.count { out.append(values[index + 1] << 4 | values[index + 2] >> 2) }
      if index + 3 < values.count { out.append(values[index + 2] << 6 | values[index + 3]) }
      index += 4
    }
    return out
  }
}
