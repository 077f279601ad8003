import EODCore
import Foundation
import Yams

/// The extracts that can be reconciled, with their match keys and the types of their fields.
public enum ReconcileExtract: String, Sendable, CaseIterable {
  case positions, cash, transactions

  /// The default match key (our field names).
  public var defaultKeys: [String] {
    switch self {
    case .positions: return ["account_external_ref", "isin"]
    case .cash: return ["account_external_ref", "currency"]
    case .transactions: return ["transaction_external_ref"]
    }
  }

  /// Our fields (template v1), in the extract's column order.
  public var fields: [String] {
    switch self {
    case .positions:
      return [
        "business_date", "firm_id", "client_id", "client_external_ref", "account_id", "account_external_ref",
        "wrapper", "account_currency", "instrument_id", "isin", "sedol", "instrument_name", "asset_class",
        "quantity", "price", "price_currency", "price_date", "price_status", "fx_rate", "market_value",
        "book_cost", "unrealised_gain_loss", "weight", "position_external_ref",
      ]
    case .cash:
      return [
        "business_date", "firm_id", "client_id", "client_external_ref", "account_id", "account_external_ref",
        "account_currency", "currency", "balance", "fx_rate", "value",
      ]
    case .transactions:
      return [
        "business_date", "firm_id", "client_id", "account_id", "account_external_ref", "transaction_id",
        "transaction_external_ref", "type", "status", "trade_date", "settle_date", "instrument_id", "isin",
        "quantity", "amount", "currency", "amount_account_currency",
      ]
    }
  }

  /// How a field is compared: exact decimal, calendar date or text.
  public func kind(of field: String) -> FieldKind {
    switch field {
    case "quantity", "price", "fx_rate", "market_value", "book_cost", "unrealised_gain_loss", "weight",
      "balance", "value", "amount", "amount_account_currency":
      return .decimal
    case "business_date", "price_date", "trade_date", "settle_date": return .date
    default: return .text
    }
  }
}

public enum FieldKind: Sendable { case decimal, date, text }

public enum TextEncoding: String, Sendable, CaseIterable {
  /// UTF-8; a leading byte-order mark is skipped.
  case utf8 = "utf-8"
  /// UTF-8 written with a byte-order mark (skipped; a file without one is read the same).
  case utf8BOM = "utf-8-bom"
  case latin1 = "latin-1"
}

public enum DateFormat: String, Sendable, CaseIterable {
  case iso = "YYYY-MM-DD"
  case dayMonthYear = "DD/MM/YYYY"
}

/// One step applied to a value of theirs before it is compared.
public enum Transform: Sendable, Equatable {
  /// Multiply by an exact decimal.
  case scale(ExactDecimal)
  /// Pence to pounds: divide by 100.
  case gbxToGbp
  /// Remove leading and trailing white space.
  case strip
  /// Upper-case.
  case upper
}

/// A tolerance: within when |ours − theirs| ≤ absolute + relative × |theirs| (a missing part is 0).
public struct Tolerance: Sendable, Equatable {
  public var absolute: ExactDecimal
  public var relative: ExactDecimal
  public init(absolute: ExactDecimal = .zero, relative: ExactDecimal = .zero) {
    self.absolute = absolute
    self.relative = relative
  }

  /// Whether `ours` and `theirs` differ by no more than the tolerance (the bound itself is within).
  public func holds(ours: ExactDecimal, theirs: ExactDecimal) -> Bool {
    guard let difference = ours.subtracting(theirs) else { return false }
    let size = difference.isNegative ? difference.negated() : difference
    let scaleOfTheirs = theirs.isNegative ? theirs.negated() : theirs
    guard let relativePart = relative.multiplying(scaleOfTheirs),
      let bound = absolute.adding(relativePart)
    else { return false }
    return !(bound < size)
  }
}

/// How their numbers carry a sign, when not as ours do (a leading `-`). See docs/reconciliation.md.
public struct SignConventions: Sendable, Equatable {
  /// Number fields whose sign is the opposite of ours (e.g. their amounts are seen from the other
  /// side): the value read is negated.
  public var negate: Set<String> = []
  /// `12.50-` is read as -12.50.
  public var trailingMinus = false
  /// `(12.50)` is read as -12.50.
  public var parentheses = false
  /// A separate debit/credit column giving the sign of some number fields.
  public var indicator: SignIndicator?
  public init() {}

  /// Whether a number field's value is negated because of `negate` or the indicator.
  public func flips(_ field: String, indicatorNegative: Bool) -> Bool {
    var flip = negate.contains(field)
    if indicatorNegative, let indicator, indicator.fields.contains(field) { flip.toggle() }
    return flip
  }
}

/// A column of theirs (not mapped to a field of ours) whose value says whether the row's `fields`
/// are negative (e.g. `D`) or positive (e.g. `C`). Values are compared after stripping white
/// space, ignoring case; any other value makes the row unparseable.
public struct SignIndicator: Sendable, Equatable {
  /// Their column: a header name, or a 1-based number when there is no header.
  public var column: String
  public var fields: [String]
  public var negative: [String]
  public var positive: [String]

  /// Whether `value` means negative; nil when it is neither a negative nor a positive value.
  public func isNegative(_ value: String) -> Bool? {
    let text = String(value.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
      .uppercased()
    if negative.contains(where: { $0.uppercased() == text }) { return true }
    if positive.contains(where: { $0.uppercased() == text }) { return false }
    return nil
  }
}

/// How to read a counterparty's file and match it against one of our extracts.
public struct ReconcileProfile: Sendable {
  public var extract: ReconcileExtract
  public var delimiter: UInt8 = UInt8(ascii: ",")
  public var header = true
  public var quote: UInt8? = UInt8(ascii: "\"")
  public var encoding: TextEncoding = .utf8
  public var decimalSeparator: UInt8 = UInt8(ascii: ".")
  public var dateFormat: DateFormat = .iso
  /// Their column (a header name, or a 1-based number when there is no header) → our field, in
  /// the profile's order.
  public var columns: [(theirs: String, ours: String)] = []
  public var keys: [String]
  public var transforms: [String: [Transform]] = [:]
  public var tolerances: [String: Tolerance] = [:]
  public var signs = SignConventions()

  public init(extract: ReconcileExtract) {
    self.extract = extract
    self.keys = extract.defaultKeys
  }

  /// Our fields that are compared (mapped, not part of the key), in our extract's column order.
  public var comparedFields: [String] {
    let mapped = Set(columns.map(\.ours))
    return extract.fields.filter { mapped.contains($0) && !keys.contains($0) }
  }

  /// The `isin` → `sedol` fallback: on when the key holds `isin` and `sedol` is mapped but not a
  /// key. A row (either side) whose `isin` is empty is then matched on `sedol` in its place, and
  /// a row of ours left without a partner on `isin` is offered to their rows without an `isin`.
  public var sedolFallback: Bool {
    keys.contains("isin") && !keys.contains("sedol") && columns.contains { $0.ours == "sedol" }
  }
}

/// A problem in a profile, with the line it is on.
public struct ProfileProblem: Sendable, Equatable, CustomStringConvertible {
  public var path: String
  public var line: Int?
  public var message: String
  public var description: String {
    let place = line.map { "line \($0): " } ?? ""
    return place + (path.isEmpty ? "" : path + ": ") + message
  }
}

public struct ProfileError: Error, CustomStringConvertible {
  public var source: String
  public var problems: [ProfileProblem]
  public var description: String {
    "profile \(source) is not usable:\n" + problems.map { "  " + $0.description }.joined(separator: "\n")
  }
}

/// Reads a profile's YAML text; every problem is reported with its line.
public enum ProfileReader {
  public static func parse(_ text: String, source: String) throws(ProfileError) -> ReconcileProfile {
    let root: Node?
    do {
      root = try Yams.compose(yaml: text)
    } catch {
      throw ProfileError(
        source: source, problems: [ProfileProblem(path: "", line: nil, message: "not YAML: \(error)")])
    }
    var reader = Reader()
    let profile = reader.read(root)
    guard let profile, reader.problems.isEmpty else {
      throw ProfileError(source: source, problems: reader.problems)
    }
    return profile
  }

  struct Reader {
    var problems: [ProfileProblem] = []

    mutating func problem(_ path: String, _ node: Node?, _ message: String) {
      problems.append(ProfileProblem(path: path, line: node?.mark?.line, message: message))
    }

    mutating func mapping(_ node: Node, _ path: String, allowed: [String]?) -> [(String, Node, Node)]? {
      guard case .mapping(let mapping) = node else {
        problem(path, node, "expected a mapping (key: value lines)")
        return nil
      }
      var result: [(String, Node, Node)] = []
      for (keyNode, value) in mapping {
        guard let key = keyNode.scalar?.string else {
          problem(path, keyNode, "keys must be plain strings")
          continue
        }
        if let allowed, !allowed.contains(key) {
          problem(
            path.isEmpty ? key : path + "." + key, keyNode,
            "unknown key '\(key)'; allowed here: " + allowed.joined(separator: ", "))
          continue
        }
        result.append((key, keyNode, value))
      }
      return result
    }

    mutating func string(_ node: Node, _ path: String) -> String? {
      guard case .scalar(let scalar) = node else {
        problem(path, node, "expected a single value")
        return nil
      }
      return scalar.string
    }

    mutating func decimal(_ node: Node, _ path: String) -> ExactDecimal? {
      guard let text = string(node, path) else { return nil }
      guard let value = ExactDecimal(text) else {
        problem(path, node, "expected an exact decimal such as 0.01, got '\(text)'")
        return nil
      }
      return value
    }

    mutating func byte(_ node: Node, _ path: String, what: String) -> UInt8? {
      guard let text = string(node, path) else { return nil }
      let named: [String: String] = ["tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"]
      let actual = named[text] ?? text
      guard actual.utf8.count == 1, let byte = actual.utf8.first, byte != 0x0A, byte != 0x0D else {
        problem(path, node, "\(what) must be one ASCII character (or tab), got '\(text)'")
        return nil
      }
      return byte
    }

    mutating func choice<T: RawRepresentable & CaseIterable>(_ node: Node, _ path: String, _ type: T.Type)
      -> T?
    where T.RawValue == String {
      guard let text = string(node, path) else { return nil }
      guard let value = T(rawValue: text) else {
        problem(
          path, node, "expected one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'")
        return nil
      }
      return value
    }

    mutating func field(_ node: Node, _ path: String, extract: ReconcileExtract) -> String? {
      guard let text = string(node, path) else { return nil }
      return named(text, node, path, extract: extract)
    }

    mutating func named(_ text: String, _ node: Node, _ path: String, extract: ReconcileExtract) -> String? {
      guard extract.fields.contains(text) else {
        problem(path, node, "'\(text)' is not a field of our \(extract.rawValue) extract")
        return nil
      }
      return text
    }

    mutating func read(_ root: Node?) -> ReconcileProfile? {
      guard let root else {
        problem("", nil, "the profile is empty")
        return nil
      }
      let top = [
        "version", "extract", "delimiter", "header", "quote", "encoding", "decimal_separator", "date_format",
        "columns", "keys", "transforms", "tolerances", "signs",
      ]
      guard let entries = mapping(root, "", allowed: top) else { return nil }
      let byKey = Dictionary(entries.map { ($0.0, $0.2) }, uniquingKeysWith: { first, _ in first })
      guard let extractNode = byKey["extract"] else {
        problem("extract", root, "missing required key 'extract' (positions, cash or transactions)")
        return nil
      }
      guard let extract = choice(extractNode, "extract", ReconcileExtract.self) else { return nil }
      var profile = ReconcileProfile(extract: extract)
      for (key, _, value) in entries {
        switch key {
        case "version":
          if string(value, key) != "1" { problem(key, value, "only version 1 is known") }
        case "delimiter": profile.delimiter = byte(value, key, what: "the delimiter") ?? profile.delimiter
        case "header":
          switch string(value, key) {
          case "true": profile.header = true
          case "false": profile.header = false
          case let other: problem(key, value, "expected true or false, got '\(other ?? "")'")
          }
        case "quote":
          if string(value, key) == "none" {
            profile.quote = nil
          } else {
            profile.quote = byte(value, key, what: "the quote character") ?? profile.quote
          }
        case "encoding": profile.encoding = choice(value, key, TextEncoding.self) ?? profile.encoding
        case "decimal_separator":
          let separator = byte(value, key, what: "the decimal separator")
          if let separator, separator != UInt8(ascii: "."), separator != UInt8(ascii: ",") {
            problem(key, value, "the decimal separator is '.' or ','")
          } else if let separator {
            profile.decimalSeparator = separator
          }
        case "date_format": profile.dateFormat = choice(value, key, DateFormat.self) ?? profile.dateFormat
        case "columns": readColumns(value, into: &profile)
        case "keys": readKeys(value, into: &profile)
        case "transforms": readTransforms(value, into: &profile)
        case "tolerances": readTolerances(value, into: &profile)
        case "signs": readSigns(value, into: &profile)
        default: break
        }
      }
      if byKey["columns"] == nil { problem("columns", root, "missing required key 'columns'") }
      if profile.delimiter == profile.decimalSeparator {
        problem("decimal_separator", byKey["decimal_separator"], "must differ from the delimiter")
      }
      if let quote = profile.quote, quote == profile.delimiter {
        problem("quote", byKey["quote"], "must differ from the delimiter")
      }
      let mapped = Set(profile.columns.map(\.ours))
      for key in profile.keys where !mapped.contains(key) {
        problem("keys", byKey["keys"] ?? root, "match key '\(key)' is not mapped from any of their columns")
      }
      return profile
    }

    mutating func readColumns(_ node: Node, into profile: inout ReconcileProfile) {
      guard let entries = mapping(node, "columns", allowed: nil) else { return }
      var seen: Set<String> = []
      for (theirs, keyNode, value) in entries {
        guard let ours = field(value, "columns." + theirs, extract: profile.extract) else { continue }
        if !seen.insert(ours).inserted {
          problem("columns." + theirs, keyNode, "our field '\(ours)' is mapped twice")
          continue
        }
        if !profile.header, Int(theirs).map({ $0 < 1 }) ?? true {
          problem("columns." + theirs, keyNode, "without a header, their columns are numbers from 1")
          continue
        }
        profile.columns.append((theirs, ours))
      }
    }

    mutating func readKeys(_ node: Node, into profile: inout ReconcileProfile) {
      guard case .sequence(let sequence) = node, !sequence.isEmpty else {
        problem("keys", node, "expected a list of our fields, e.g. [account_external_ref, isin]")
        return
      }
      var keys: [String] = []
      for item in sequence {
        if let key = field(item, "keys", extract: profile.extract) { keys.append(key) }
      }
      profile.keys = keys
    }

    mutating func readTransforms(_ node: Node, into profile: inout ReconcileProfile) {
      guard let entries = mapping(node, "transforms", allowed: nil) else { return }
      for (name, keyNode, value) in entries {
        let path = "transforms." + name
        guard let ours = named(name, keyNode, path, extract: profile.extract) else {
          continue
        }
        guard case .sequence(let steps) = value else {
          problem(path, value, "expected a list of transforms (scale: N, gbx_to_gbp, strip, upper)")
          continue
        }
        var list: [Transform] = []
        for step in steps {
          if case .mapping = step, let parts = mapping(step, path, allowed: ["scale"]), let part = parts.first
          {
            if profile.extract.kind(of: ours) != .decimal {
              problem(path, step, "scale applies to a number field; '\(ours)' is not one")
            }
            if let factor = decimal(part.2, path + ".scale") { list.append(.scale(factor)) }
            continue
          }
          switch step.scalar?.string {
          case "gbx_to_gbp":
            if profile.extract.kind(of: ours) != .decimal {
              problem(path, step, "gbx_to_gbp applies to a number field; '\(ours)' is not one")
            }
            list.append(.gbxToGbp)
          case "strip": list.append(.strip)
          case "upper": list.append(.upper)
          default:
            problem(path, step, "unknown transform; known: scale: N, gbx_to_gbp, strip, upper")
          }
        }
        profile.transforms[ours] = list
      }
    }

    mutating func numberFields(_ node: Node, _ path: String, extract: ReconcileExtract) -> [String] {
      guard case .sequence(let items) = node, !items.isEmpty else {
        problem(path, node, "expected a list of our number fields, e.g. [amount]")
        return []
      }
      var fields: [String] = []
      for item in items {
        guard let name = field(item, path, extract: extract) else { continue }
        guard extract.kind(of: name) == .decimal else {
          problem(path, item, "a sign applies to a number field; '\(name)' is not one")
          continue
        }
        fields.append(name)
      }
      return fields
    }

    mutating func flag(_ node: Node, _ path: String) -> Bool {
      switch string(node, path) {
      case "true": return true
      case "false": return false
      case let other:
        problem(path, node, "expected true or false, got '\(other ?? "")'")
        return false
      }
    }

    mutating func strings(_ node: Node, _ path: String) -> [String] {
      guard case .sequence(let items) = node, !items.isEmpty else {
        problem(path, node, "expected a list of values, e.g. [D, DR]")
        return []
      }
      return items.compactMap { string($0, path) }
    }

    mutating func readSigns(_ node: Node, into profile: inout ReconcileProfile) {
      let allowed = ["negate", "trailing_minus", "parentheses", "indicator"]
      guard let entries = mapping(node, "signs", allowed: allowed) else { return }
      for (key, _, value) in entries {
        let path = "signs." + key
        switch key {
        case "negate": profile.signs.negate = Set(numberFields(value, path, extract: profile.extract))
        case "trailing_minus": profile.signs.trailingMinus = flag(value, path)
        case "parentheses": profile.signs.parentheses = flag(value, path)
        default:
          let parts = ["column", "fields", "negative", "positive"]
          guard let items = mapping(value, path, allowed: parts) else { continue }
          let byKey = Dictionary(items.map { ($0.0, $0.2) }, uniquingKeysWith: { first, _ in first })
          for part in parts where byKey[part] == nil {
            problem(path, value, "missing required key '\(part)'")
          }
          guard let columnNode = byKey["column"], let column = string(columnNode, path + ".column"),
            let fieldsNode = byKey["fields"], let negativeNode = byKey["negative"],
            let positiveNode = byKey["positive"]
          else { continue }
          if !profile.header, Int(column).map({ $0 < 1 }) ?? true {
            problem(path + ".column", columnNode, "without a header, their columns are numbers from 1")
          }
          let negative = strings(negativeNode, path + ".negative")
          let positive = strings(positiveNode, path + ".positive")
          let both = Set(negative.map { $0.uppercased() }).intersection(positive.map { $0.uppercased() })
          if !both.isEmpty {
            problem(path, value, "\(both.sorted().joined(separator: ", ")) is both negative and positive")
          }
          profile.signs.indicator = SignIndicator(
            column: column, fields: numberFields(fieldsNode, path + ".fields", extract: profile.extract),
            negative: negative, positive: positive)
        }
      }
    }

    mutating func readTolerances(_ node: Node, into profile: inout ReconcileProfile) {
      guard let entries = mapping(node, "tolerances", allowed: nil) else { return }
      for (name, keyNode, value) in entries {
        let path = "tolerances." + name
        guard let ours = named(name, keyNode, path, extract: profile.extract) else {
          continue
        }
        guard profile.extract.kind(of: ours) == .decimal else {
          problem(path, value, "a tolerance applies to a number field; '\(ours)' is not one")
          continue
        }
        guard let parts = mapping(value, path, allowed: ["absolute", "relative"]) else { continue }
        var tolerance = Tolerance()
        for (part, _, amount) in parts {
          guard let exact = decimal(amount, path + "." + part) else { continue }
          if exact.isNegative { problem(path + "." + part, amount, "must not be negative") }
          if part == "absolute" { tolerance.absolute = exact } else { tolerance.relative = exact }
        }
        profile.tolerances[ours] = tolerance
      }
    }
  }
}
