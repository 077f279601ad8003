/// Why a template was refused: which file, which line, what.
public struct TemplateError: Error, CustomStringConvertible, Sendable {
  public var file: String
  public var line: Int?
  public var detail: String

  public init(file: String, line: Int?, detail: String) {
    self.file = file
    self.line = line
    self.detail = detail
  }

  public var description: String {
    "template \(file)\(line.map { ":\($0)" } ?? ""): \(detail)"
  }
}

/// An extract layout, loaded from a template file: which columns, named how, from which fields.
///
/// The format is line-based (see docs/templates.md):
/// ```
/// # comment
/// extract positions
/// version 1
/// option formula_safe
/// column business_date
/// column Portfolio = account_external_ref
/// ```
public struct Template: Sendable, Equatable {
  public struct Column: Sendable, Equatable {
    /// The CSV header, and the JSON key (camelCased) when it is a field's own name.
    public var header: String
    /// Index into the extract's ``ExtractKind/fields``.
    public var fieldIndex: Int
    public var field: Field
  }

  public var extract: ExtractKind
  public var version: Int
  public var columns: [Column]
  /// Neutralise spreadsheet formulas in every text field (prefix `'` to a value starting with
  /// `=`, `+`, `-`, `@`, tab or CR).
  public var formulaSafe: Bool
  /// `positions.v1`.
  public var name: String { "\(extract.rawValue).v\(version)" }

  public init(extract: ExtractKind, version: Int, columns: [Column], formulaSafe: Bool) {
    self.extract = extract
    self.version = version
    self.columns = columns
    self.formulaSafe = formulaSafe
  }

  /// Parses template text. Every problem is an error here, at start-up, never mid-file.
  public static func parse(_ text: String, file: String) throws(TemplateError) -> Template {
    var extract: ExtractKind?
    var version: Int?
    var formulaSafe = false
    var columns: [Column] = []
    var headers: Set<String> = []
    var lineNumber = 0
    for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
      lineNumber += 1
      let line = rawLine.trimmingCharacters(in: " \t\r")
      if line.isEmpty || line.hasPrefix("#") { continue }
      let (keyword, rest) = line.splitOnce(" ")
      switch keyword {
      case "extract":
        guard extract == nil else {
          throw TemplateError(file: file, line: lineNumber, detail: "extract given twice")
        }
        guard let kind = ExtractKind(rawValue: rest) else {
          let known = ExtractKind.allCases.map(\.rawValue).joined(separator: ", ")
          throw TemplateError(
            file: file, line: lineNumber, detail: "unknown extract '\(rest)' (known: \(known))")
        }
        extract = kind
      case "version":
        guard let number = Int(rest), number > 0 else {
          throw TemplateError(file: file, line: lineNumber, detail: "version must be a positive whole number")
        }
        version = number
      case "option":
        guard rest == "formula_safe" else {
          throw TemplateError(
            file: file, line: lineNumber, detail: "unknown option '\(rest)' (known: formula_safe)")
        }
        formulaSafe = true
      case "column":
        guard let kind = extract else {
          throw TemplateError(file: file, line: lineNumber, detail: "'extract' must come before the columns")
        }
        var header = rest
        var fieldName = rest
        if rest.contains("=") {
          let (left, right) = rest.splitOnce("=")
          header = left.trimmingCharacters(in: " \t")
          fieldName = right.trimmingCharacters(in: " \t")
        }
        guard !header.isEmpty else {
          throw TemplateError(file: file, line: lineNumber, detail: "a column needs a header")
        }
        guard let index = kind.fields.firstIndex(where: { $0.name == fieldName }) else {
          let known = kind.fields.map(\.name).joined(separator: ", ")
          throw TemplateError(
            file: file, line: lineNumber,
            detail: "unknown field '\(fieldName)' for extract \(kind.rawValue) (known: \(known))")
        }
        guard headers.insert(header).inserted else {
          throw TemplateError(file: file, line: lineNumber, detail: "column '\(header)' appears twice")
        }
        columns.append(Column(header: header, fieldIndex: index, field: kind.fields[index]))
      default:
        throw TemplateError(
          file: file, line: lineNumber,
          detail: "unknown keyword '\(keyword)' (expected extract, version, option or column)")
      }
    }
    guard let extract else { throw TemplateError(file: file, line: nil, detail: "no 'extract' line") }
    guard let version else { throw TemplateError(file: file, line: nil, detail: "no 'version' line") }
    guard !columns.isEmpty else { throw TemplateError(file: file, line: nil, detail: "no columns") }
    return Template(extract: extract, version: version, columns: columns, formulaSafe: formulaSafe)
  }
}

extension Substring {
  func trimmingCharacters(in set: String) -> String {
    var slice = self[...]
    while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
    while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
    return String(slice)
  }
}

extension String {
  func trimmingCharacters(in set: String) -> String { self[...].trimmingCharacters(in: set) }

  func splitOnce(_ separator: Character) -> (String, String) {
    guard let index = firstIndex(of: separator) else { return (self, "") }
    return (String(self[..<index]), String(self[self.index(after: index)...]).trimmingCharacters(in: " \t"))
  }
}
