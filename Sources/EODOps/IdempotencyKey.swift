import Crypto
import EODCore
import Foundation

/// Why an idempotency key was refused.
public struct IdempotencyKeyError: Error, CustomStringConvertible, Sendable {
  /// What is wrong with the key, extensible.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
    /// Not the `8-4-4-4-12` hexadecimal form of a UUID.
    public static let malformed = Code("malformed")
    /// A UUID, but its version nibble is not 4.
    public static let notVersion4 = Code("not-version-4")
    /// A UUID, but its variant bits are not `10xx` (RFC 9562).
    public static let wrongVariant = Code("wrong-variant")
  }

  public var code: Code
  /// The refused input, escaped and shortened for safe logging.
  public var input: String
  public var detail: String

  public init(code: Code, input: String, detail: String) {
    self.code = code
    self.input = input
    self.detail = detail
  }

  public var description: String {
    "idempotency key \"\(input)\" refused (\(code)): \(detail)"
  }
}

/// A client-chosen UUIDv4 that makes an on-demand run idempotent.
///
/// The same key within ``retention`` returns the first request's result without delivering
/// again; the same key with a different request (a different ``requestFingerprint(_:)``) is
/// refused. The keys themselves are stored by the caller (the state store); this type validates
/// them and decides what a stored record means for a new request (``decide(stored:fingerprint:now:)``).
public struct IdempotencyKey: Hashable, Sendable, Codable, CustomStringConvertible {
  /// The key in canonical lower-case `xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx` form.
  public let rawValue: String

  /// How long a used key is remembered: 72 hours.
  public static let retention: Duration = .seconds(72 * 3600)

  /// Parses and validates a UUIDv4 (case-insensitive; stored lower-case).
  ///
  /// Refuses anything but the 36-character hyphenated form: no braces, no `urn:uuid:` prefix,
  /// no surrounding spaces, version nibble 4 and variant `10xx`.
  public init(parsing text: String) throws(IdempotencyKeyError) {
    let shown = Self.shown(text)
    let bytes = Array(text.utf8)
    guard bytes.count == 36 else {
      throw IdempotencyKeyError(
        code: .malformed, input: shown,
        detail: "expected 36 characters (8-4-4-4-12 hexadecimal digits), got \(text.count)")
    }
    for (index, byte) in bytes.enumerated() {
      if [8, 13, 18, 23].contains(index) {
        guard byte == UInt8(ascii: "-") else {
          throw IdempotencyKeyError(
            code: .malformed, input: shown,
            detail: "expected '-' at position \(index + 1) (8-4-4-4-12 form)")
        }
      } else if Self.hexValue(byte) == nil {
        throw IdempotencyKeyError(
          code: .malformed, input: shown,
          detail: "character at position \(index + 1) is not a hexadecimal digit")
      }
    }
    let lower = text.lowercased()
    let chars = Array(lower.utf8)
    guard chars[14] == UInt8(ascii: "4") else {
      throw IdempotencyKeyError(
        code: .notVersion4, input: shown,
        detail: "version nibble is '\(Character(UnicodeScalar(chars[14])))', expected '4' (a random UUID)")
    }
    guard let variant = Self.hexValue(chars[19]), variant & 0b1100 == 0b1000 else {
      throw IdempotencyKeyError(
        code: .wrongVariant, input: shown,
        detail: "variant nibble is '\(Character(UnicodeScalar(chars[19])))', expected 8, 9, a or b")
    }
    rawValue = lower
  }

  public var description: String { rawValue }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    let text = try container.decode(String.self)
    do {
      self = try IdempotencyKey(parsing: text)
    } catch {
      throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(rawValue)
  }

  /// SHA-256 (lower-case hex) of a canonical description of a request.
  ///
  /// The canonical description is the fields sorted by name (byte order), one per line, each as
  /// `<name byte count>:<name>=<value byte count>:<value>\n`. Length prefixes make it unambiguous
  /// whatever the values contain. Put in every field that changes what the request does
  /// (firm ids sorted, business date, extracts, resend, ...), and nothing that varies between
  /// identical requests (timestamps, run ids).
  public static func requestFingerprint(_ fields: [String: String]) -> String {
    var canonical = ""
    for name in fields.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
      let value = fields[name] ?? ""
      canonical += "\(name.utf8.count):\(name)=\(value.utf8.count):\(value)\n"
    }
    return Hex.lowercase(SHA256.hash(data: Data(canonical.utf8)))
  }

  /// The fingerprint of an on-demand extract request: firm ids (sorted, de-duplicated),
  /// business date, and any further options (which must not use the names `firms` or `date`).
  public static func requestFingerprint(
    firmIDs: [String], businessDate: String, options: [String: String] = [:]
  ) -> String {
    var fields = options
    fields["firms"] = Set(firmIDs).sorted().joined(separator: ",")
    fields["date"] = businessDate
    return requestFingerprint(fields)
  }

  /// A key's record as kept by the state store.
  public struct Record: Sendable, Equatable, Codable {
    public var key: IdempotencyKey
    /// ``IdempotencyKey/requestFingerprint(_:)`` of the first request.
    public var fingerprint: String
    /// When the key was first used.
    public var firstUsedAt: Date

    public init(key: IdempotencyKey, fingerprint: String, firstUsedAt: Date) {
      self.key = key
      self.fingerprint = fingerprint
      self.firstUsedAt = firstUsedAt
    }
  }

  /// What to do with a request carrying a key.
  public enum Decision: Sendable, Equatable {
    /// Unknown (or expired) key: run the request and store the key.
    case proceed
    /// Same key, same request, within the retention: return the first result, deliver nothing.
    case replay(Record)
    /// Same key, different request, within the retention: refuse.
    case conflict(Record)
  }

  /// Decides what a stored record (if any) means for a new request with fingerprint `fingerprint`.
  public static func decide(stored: Record?, fingerprint: String, now: Date) -> Decision {
    guard let stored else { return .proceed }
    let age = now.timeIntervalSince(stored.firstUsedAt)
    if age >= Double(retention.components.seconds) { return .proceed }
    return stored.fingerprint == fingerprint ? .replay(stored) : .conflict(stored)
  }

  private static func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
  }

  /// Escapes control and non-ASCII characters and shortens long input for safe display.
  private static func shown(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars.prefix(64) {
      if scalar.isASCII, scalar.value >= 0x20, scalar.value != 0x7F, scalar != "\"", scalar != "\\" {
        out.unicodeScalars.append(scalar)
      } else {
        out += scalar.escaped(asASCII: true)
      }
    }
    if text.unicodeScalars.count > 64 { out += "…" }
    return out
  }
}
