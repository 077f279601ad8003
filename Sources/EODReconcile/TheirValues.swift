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
  }

  public func plan(_ field: String) -> Plan {
    Plan(
      field: field, kind: profile.extract.kind(of: field), transforms: profile.transforms[field] ?? [],
      negate: profile.signs.negate.contains(field),
      byIndicator: profile.signs.indicator?.fields.contains(field) ?? false)
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
