import EODCompression
import Foundation
import Yams

/// Walks the YAML node tree, building a ``JobConfiguration`` and collecting every problem.
///
/// This file: the reader's state, problems and the typed reads of single values (mapping,
/// string, integer, seconds, choice, compression, path, mode). The document's top level is in
/// ConfigurationDocument.swift, its sections (retry, timeouts, webhooks, firms) in
/// ConfigurationSections.swift.
struct ConfigurationReader {
  let baseDirectory: String
  let vocabulary: ConfigurationVocabulary
  var problems: [ConfigurationProblem] = []
  /// The line of each key path read, for problems found later.
  var lines: [String: Int] = [:]

  static let inlineSecretKeys: Set<String> = ["secret", "passphrase", "password", "token"]

  init(baseDirectory: String, vocabulary: ConfigurationVocabulary) {
    self.baseDirectory = baseDirectory
    self.vocabulary = vocabulary
  }

  mutating func problem(
    _ path: String, _ node: Node?, _ message: String, severity: ConfigurationProblem.Severity = .error
  ) {
    problems.append(
      ConfigurationProblem(path: path, line: node?.mark?.line, message: message, severity: severity))
  }

  static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }

  // MARK: Typed reads

  /// The mapping's entries, reporting unknown keys (with a suggestion) and inline secrets.
  mutating func mapping(_ node: Node?, _ path: String, allowed: [String], required: [String] = []) -> [String:
    Node]?
  {
    guard let node else { return nil }
    guard case .mapping(let mapping) = node else {
      problem(path, node, "expected a mapping (key: value lines)")
      return nil
    }
    var result: [String: Node] = [:]
    for (keyNode, value) in mapping {
      guard let key = keyNode.scalar?.string else {
        problem(path, keyNode, "keys must be plain strings")
        continue
      }
      let keyPath = Self.join(path, key)
      if allowed.contains(key) {
        result[key] = value
        lines[keyPath] = keyNode.mark?.line
      } else if Self.inlineSecretKeys.contains(key) {
        problem(
          keyPath, keyNode,
          "inline secrets are not allowed; use \(key)_env: VARIABLE or \(key)_file: PATH (webhooks use secret_env / secret_file)"
        )
      } else {
        var message = "unknown key '\(key)'"
        if let suggestion = Self.closest(key, in: allowed) { message += " (did you mean '\(suggestion)'?)" }
        message += "; allowed here: " + allowed.joined(separator: ", ")
        problem(keyPath, keyNode, message)
      }
    }
    for key in required where result[key] == nil {
      problem(Self.join(path, key), node, "missing required key '\(key)'")
    }
    return result
  }

  mutating func string(_ node: Node?, _ path: String) -> String? {
    guard let node else { return nil }
    guard case .scalar(let scalar) = node else {
      problem(path, node, "expected a single value")
      return nil
    }
    if scalar.style == .plain, ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
      problem(path, node, "a value is required")
      return nil
    }
    return scalar.string
  }

  mutating func integer(_ node: Node?, _ path: String, range: ClosedRange<Int>) -> Int? {
    guard let text = string(node, path) else { return nil }
    guard let value = Int(text) else {
      problem(path, node, "expected a whole number, got '\(text)'")
      return nil
    }
    guard range.contains(value) else {
      problem(path, node, "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
      return nil
    }
    return value
  }

  mutating func bool(_ node: Node?, _ path: String) -> Bool? {
    guard let text = string(node, path) else { return nil }
    switch text {
    case "true": return true
    case "false": return false
    default:
      problem(path, node, "expected true or false, got '\(text)'")
      return nil
    }
  }

  /// Seconds as a decimal (`2`, `0.5`), at most millisecond precision, within `range`.
  mutating func seconds(_ node: Node?, _ path: String, range: ClosedRange<Int>) -> Duration? {
    guard let text = string(node, path) else { return nil }
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    guard (1...2).contains(parts.count), let whole = Int(parts[0]), whole >= 0,
      parts.count == 1 || (1...3).contains(parts[1].count) && parts[1].allSatisfy(\.isNumber)
    else {
      problem(path, node, "expected a number of seconds (e.g. 30 or 0.5), got '\(text)'")
      return nil
    }
    var millis = whole * 1000
    if parts.count == 2, let fraction = Int(parts[1].padding(toLength: 3, withPad: "0", startingAt: 0)) {
      millis += fraction
    }
    guard millis > 0, millis <= range.upperBound * 1000, millis >= range.lowerBound * 1000 else {
      problem(
        path, node,
        "must be more than 0 and between \(range.lowerBound) and \(range.upperBound) seconds, got \(text)")
      return nil
    }
    return .milliseconds(millis)
  }

  mutating func choice<T: RawRepresentable>(_ node: Node?, _ path: String, _ type: T.Type) -> T?
  where T.RawValue == String, T: CaseIterable {
    guard let text = string(node, path) else { return nil }
    guard let value = T(rawValue: text) else {
      problem(
        path, node, "expected one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'")
      return nil
    }
    return value
  }

  mutating func readCompression(_ node: Node?, _ path: String) -> OutputEncoding? {
    guard let text = string(node, path) else { return nil }
    if text == "none" { return OutputEncoding.none }
    guard let level = Int(text), (0...9).contains(level) else {
      problem(path, node, "expected a gzip level 0-9 or 'none', got '\(text)'")
      return nil
    }
    return .gzip(level: level)
  }

  /// An absolute path (relative ones resolved against the configuration's directory).
  mutating func path(_ node: Node?, _ path: String) -> String? {
    guard let text = string(node, path) else { return nil }
    if text.hasPrefix("~") {
      problem(path, node, "'~' is not expanded; write the full path")
      return nil
    }
    if text.hasPrefix("/") { return URL(fileURLWithPath: text).standardizedFileURL.path }
    return URL(fileURLWithPath: baseDirectory).appendingPathComponent(text).standardizedFileURL.path
  }

  /// Checks `{...}` placeholders: balanced and among `allowed`.
  mutating func checkPlaceholders(_ text: String, _ node: Node?, _ path: String, allowed: [String])
    -> [String]
  {
    var found: [String] = []
    var rest = Substring(text)
    while let open = rest.firstIndex(where: { $0 == "{" || $0 == "}" }) {
      guard rest[open] == "{", let close = rest[open...].firstIndex(of: "}") else {
        problem(path, node, "unbalanced '{' or '}' in '\(text)'")
        return found
      }
      let placeholder = String(rest[open...close])
      if !allowed.contains(placeholder) {
        problem(
          path, node,
          "unknown placeholder \(placeholder) in '\(text)'; allowed: \(allowed.joined(separator: " "))")
      }
      found.append(placeholder)
      rest = rest[rest.index(after: close)...]
    }
    return found
  }

  /// A permission mode in octal (`"0640"`, `0750`): 0-0777, owner bits not below `r` (files) —
  /// the job must be able to read back and replace what it writes.
  mutating func mode(_ node: Node?, _ path: String) -> Int? {
    guard let text = string(node, path) else { return nil }
    guard let value = JobConfiguration.parseMode(text) else {
      problem(path, node, "expected an octal mode such as 0640 (0 to 0777), got '\(text)'")
      return nil
    }
    let owner = path == "directory_mode" ? 0o700 : 0o600
    if value & owner != owner {
      problem(
        path, node,
        "the owner must keep \(String(owner, radix: 8)) (the job reads and replaces what it writes)")
      return nil
    }
    return value
  }

  /// The allowed key nearest to `key` by edit distance, if close enough to be a typo.
  static func closest(_ key: String, in allowed: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
      var previous = Array(0...b.count)
      for (i, ca) in a.enumerated() {
        var current = [i + 1]
        for (j, cb) in b.enumerated() {
          current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (ca == cb ? 0 : 1)))
        }
        previous = current
      }
      return previous[b.count]
    }
    let scored = allowed.map { ($0, distance(Array(key), Array($0))) }.min { $0.1 < $1.1 }
    guard let (best, score) = scored, score <= max(2, key.count / 3) else { return nil }
    return best
  }
}
