/// A firm's id, which names the firm's directories and files (`OUT/<firm_id>/<date>/<firm_id>_…`).
///
/// Valid: 1 to 64 characters, each an ASCII letter or digit, `-` or `_` (the contract's external
/// reference alphabet without the space). Anything else (`..`, `.`, `/`, an empty id, control
/// characters, right-to-left overrides, invalid UTF-8) could name a path outside the firm's own
/// directory or spoof a log line, so such a firm is failed alone and its id only ever shown
/// through ``displayed(_:)``.
public enum FirmIdentifier {
  /// Longest accepted id, in characters (bytes: the alphabet is ASCII).
  public static let maximumLength = 64

  /// Why an id is refused.
  public enum Problem: Sendable, Equatable, CustomStringConvertible {
    case empty
    case tooLong(length: Int)
    case invalidCharacter(offset: Int)

    public var description: String {
      switch self {
      case .empty: return "firm id is empty"
      case .tooLong(let length):
        return "firm id is \(length) bytes long (at most \(FirmIdentifier.maximumLength))"
      case .invalidCharacter(let offset):
        return "firm id has a character other than A-Z, a-z, 0-9, '-' or '_' at byte \(offset + 1)"
      }
    }
  }

  /// Nil when `id` is a valid firm id, else why not.
  public static func problem(_ id: String) -> Problem? {
    let bytes = id.utf8
    if bytes.isEmpty { return .empty }
    if let offset = ExternalReference.firstByteOutsideAlphabet(bytes, space: false) {
      return .invalidCharacter(offset: offset)
    }
    if bytes.count > maximumLength { return .tooLong(length: bytes.count) }
    return nil
  }

  /// Whether `id` is a valid firm id.
  public static func isValid(_ id: String) -> Bool { problem(id) == nil }

  /// How an id is shown in summary lines, logs and errors: a valid id as it is; any other in
  /// double quotes with every byte outside printable ASCII (and `"` and `\`) escaped — `\n`,
  /// `\t`, `\r`, `\u{202E}` for other characters, and U+FFFD for invalid UTF-8 as the snapshot
  /// reader decoded it — so it cannot split a line, reorder text on a terminal, or pass for a
  /// valid firm's id (the quotes are not in the alphabet). Long ids are cut at 80 characters.
  public static func displayed(_ id: String) -> String {
    if isValid(id) { return id }
    var text = "\""
    var count = 0
    for scalar in id.unicodeScalars {
      if count == 80 {
        text += "…"
        break
      }
      count += 1
      switch scalar {
      case "\n": text += "\\n"
      case "\r": text += "\\r"
      case "\t": text += "\\t"
      case "\"": text += "\\\""
      case "\\": text += "\\\\"
      default:
        if scalar.value >= 0x20 && scalar.value < 0x7F {
          text.unicodeScalars.append(scalar)
        } else {
          text += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
        }
      }
    }
    return text + "\""
  }
}
