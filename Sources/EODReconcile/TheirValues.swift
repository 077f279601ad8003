import EODCore

/// Turns a value of theirs into our canonical form: transforms applied, numbers as exact decimals
/// with '.', dates as YYYY-MM-DD. Throws the reason when the value cannot be read.
public struct ValueReader: Sendable {
  public let profile: ReconcileProfile

  public init(profile: ReconcileProfile) { self.profile = profile }

  public struct Unreadable: Error, Equatable { public var reason: String }

  /// What is done to one field's values, looked up once (not per value).
  public struct Plan: Sendable {
    public let field: String
    let kind: FieldKind
    let transforms: [Transform]
    let negate: Bool
    let byIndicator: Bool
    /// An ASCII value is canonical as it is (text) or once parsed and normalised (a number): no
    /// transform, sign convention or decimal comma applies to it (``append(_:plan:indicatorNegative:to:_:)``).
    let plain: Bool

    /// Appends a plain plan's ASCII value to a packed row as a field (its canonical form, the
    /// number parsed and normalised); false, appending nothing, when the plan is not plain, the
    /// value not ASCII or not a number. Needs no profile: the reading loop calls it first, so the
    /// profile is not touched (nor its references counted) for the usual value.
    @inline(__always)
    func appendPlain(_ raw: UnsafeRawBufferPointer, to row: ByteBuffer, _ scratch: inout [UInt8]) -> Bool {
      guard plain, !raw.contains(where: { $0 >= 0x80 }) else { return false }
      if kind == .text || raw.isEmpty {
        row.appendField(raw)
        return true
      }
      guard let value = ExactDecimal.parse(raw.assumingMemoryBound(to: UInt8.self)) else { return false }
      scratch.removeAll(keepingCapacity: true)
      value.normalized().write(into: &scratch)
      scratch.withUnsafeBytes { row.appendField($0) }
      return true
    }
  }

  public func plan(_ field: String) -> Plan {
    let kind = profile.extract.kind(of: field)
    let transforms = profile.transforms[field] ?? []
    let negate = profile.signs.negate.contains(field)
    let byIndicator = profile.signs.indicator?.fields.contains(field) ?? false
    let signs = profile.signs
    let plain =
      transforms.isEmpty && !negate && !byIndicator
      && (kind == .text
        || (kind == .decimal && !signs.parentheses && !signs.trailingMinus
          && profile.decimalSeparator == UInt8(ascii: ".")))
    return Plan(
      field: field, kind: kind, transforms: transforms, negate: negate, byIndicator: byIndicator, plain: plain
    )
  }

  /// A value's bytes as text in the profile's encoding; nil when they are not valid in it.
  public func decode<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String? {
    switch profile.encoding {
    case .utf8, .utf8BOM: return String(validating: bytes, as: UTF8.self)
    case .latin1: return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }
  }

  /// Appends the canonical form of a raw value of theirs to a packed row, as a field: the same
  /// bytes as ``canonical(_:plan:indicatorNegative:)`` gives, without making a string when the
  /// plan is plain and the value ASCII (`scratch` holds a number's digits).
  func append(
    _ raw: UnsafeRawBufferPointer, plan: Plan, indicatorNegative: Bool, to row: ByteBuffer,
    _ scratch: inout [UInt8]
  ) throws(Unreadable) {
    if plan.appendPlain(raw, to: row, &scratch) { return }
    row.appendField(try canonical(bytes: raw, plan: plan, indicatorNegative: indicatorNegative))
  }

  /// A raw value's canonical form (``canonical(_:plan:indicatorNegative:)``), its bytes decoded first.
  func canonical<Bytes: Collection<UInt8>>(bytes raw: Bytes, plan: Plan, indicatorNegative: Bool)
    throws(Unreadable)
    -> String
  {
    guard let text = decode(raw) else {
      throw Unreadable(reason: "\(plan.field) is not valid \(profile.encoding.rawValue)")
    }
    return try canonical(text, plan: plan, indicatorNegative: indicatorNegative)
  }

  /// - Parameter indicatorNegative: the row's sign indicator (``SignIndicator``) says negative.
  public func canonical(_ raw: String, field: String, indicatorNegative: Bool = false) throws(Unreadable)
    -> String
  {
    try canonical(raw, plan: plan(field), indicatorNegative: indicatorNegative)
  }

  public func canonical(_ raw: String, plan: Plan, indicatorNegative: Bool = false) throws(Unreadable)
    -> String
  {
    let field = plan.field
    var text = raw
    let transforms = plan.transforms
    for transform in transforms {
      switch transform {
      case .strip:
        text = String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
      case .upper: text = text.uppercased()
      case .scale, .gbxToGbp: break
      }
    }
    switch plan.kind {
    case .text: return text
    case .date:
      if text.isEmpty { return text }
      return try date(text, field: field)
    case .decimal:
      if text.isEmpty { return text }
      var plain = text
      var marked = false
      let signs = profile.signs
      if signs.parentheses, plain.hasPrefix("("), plain.hasSuffix(")"), plain.count > 2 {
        plain = String(plain.dropFirst().dropLast())
        marked = true
      } else if signs.trailingMinus, plain.hasSuffix("-"), plain.count > 1 {
        plain = String(plain.dropLast())
        marked = true
      }
      if marked, plain.hasPrefix("-") || plain.hasPrefix("+") {
        throw Unreadable(reason: "\(field) '\(raw)' has two signs")
      }
      if profile.decimalSeparator == UInt8(ascii: ",") {
        guard !plain.contains(".") else {
          throw Unreadable(reason: "\(field) '\(raw)' is not a number with a decimal comma")
        }
        plain = plain.replacing(",", with: ".")
      }
      guard var value = ExactDecimal(plain) else {
        throw Unreadable(reason: "\(field) '\(raw)' is not a number")
      }
      for transform in transforms {
        let factor: ExactDecimal
        switch transform {
        case .scale(let by): factor = by
        case .gbxToGbp: factor = ExactDecimal(significand: 1, scale: 2)
        case .strip, .upper: continue
        }
        guard let scaled = value.multiplying(factor) else {
          throw Unreadable(reason: "\(field) '\(raw)' is out of range once scaled")
        }
        value = scaled
      }
      if marked != (plan.negate != (indicatorNegative && plan.byIndicator)), !value.isZero {
        value = value.negated()
      }
      return value.normalized().description
    }
  }

  func date(_ text: String, field: String) throws(Unreadable) -> String {
    let bytes = Array(text.utf8)
    func digits(_ range: Range<Int>) -> Int? {
      var value = 0
      for index in range {
        let byte = bytes[index]
        guard byte >= 0x30, byte <= 0x39 else { return nil }
        value = value * 10 + Int(byte - 0x30)
      }
      return value
    }
    var parts: (Int?, Int?, Int?)
    switch profile.dateFormat {
    case .iso:
      guard bytes.count == 10, bytes[4] == 0x2D, bytes[7] == 0x2D else {
        throw Unreadable(reason: "\(field) '\(text)' is not a date YYYY-MM-DD")
      }
      parts = (digits(0..<4), digits(5..<7), digits(8..<10))
    case .dayMonthYear:
      guard bytes.count == 10, bytes[2] == 0x2F, bytes[5] == 0x2F else {
        throw Unreadable(reason: "\(field) '\(text)' is not a date DD/MM/YYYY")
      }
      parts = (digits(6..<10), digits(3..<5), digits(0..<2))
    }
    guard let year = parts.0, let month = parts.1, let day = parts.2,
      let date = CivilDate(year: year, month: month, day: day)
    else {
      throw Unreadable(reason: "\(field) '\(text)' is not a calendar date")
    }
    return date.description
  }
}
