/// A firm's own reference for a client, account, position or transaction.
public enum ExternalReference {
  /// Why a reference is withheld.
  public enum Problem: Sendable, Equatable, CustomStringConvertible {
    case empty
    case tooLong(length: Int)
    case invalidCharacter(offset: Int)

    public var description: String {
      switch self {
      case .empty: return "external reference is an empty string"
      case .tooLong(let length): return "external reference is \(length) characters long (at most 256)"
      case .invalidCharacter(let offset):
        return
          "external reference has a character other than A-Z, a-z, 0-9, space, '-' or '_' at position \(offset + 1)"
      }
    }
  }

  /// Checks a reference: 1 to 256 characters, each an ASCII letter or digit, space, `-` or `_`.
  /// Returns nil when it is valid.
  public static func problem(_ reference: String) -> Problem? {
    let bytes = reference.utf8
    if bytes.isEmpty { return .empty }
    if let offset = firstByteOutsideAlphabet(bytes, space: true) { return .invalidCharacter(offset: offset) }
    if bytes.count > 256 { return .tooLong(length: bytes.count) }
    return nil
  }

  /// The offset of the first byte that is not an ASCII letter or digit, `-` or `_` (or a space,
  /// when `space`): the alphabet of references and, without the space, of firm ids.
  static func firstByteOutsideAlphabet(_ bytes: String.UTF8View, space: Bool) -> Int? {
    var offset = 0
    for byte in bytes {
      let ok =
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
        || (space && byte == 0x20) || byte == 0x2D || byte == 0x5F
      if !ok { return offset }
      offset += 1
    }
    return nil
  }

  /// The reference if valid, else nil (withheld).
  public static func validated(_ reference: String?) -> String? {
    guard let reference, problem(reference) == nil else { return nil }
    return reference
  }
}
