import EODRender

extension VerifyReport {
  /// Every failed check, with its file (an unlisted file is check `unlisted`).
  public var failures: [(file: String, check: Check)] {
    files.flatMap { file in file.checks.filter { $0.status == .failed }.map { (file.name, $0) } }
      + unlisted.map { ($0, Check("unlisted", .failed, "in the folder but not in the manifest")) }
  }

  /// Text safe for a terminal and a one-line-per-problem report: control characters (C0, DEL,
  /// C1), line and paragraph separators and format characters (bidi overrides, zero-width) are
  /// shown as `\u{…}` escapes; a name so changed is put in double quotes. A manifest, a file name
  /// or a cell comes from whoever made the set.
  static func shown(_ text: String, quoteIfChanged: Bool = false) -> String {
    var out = ""
    var changed = false
    for scalar in text.unicodeScalars {
      let value = scalar.value
      if value < 0x20 || (0x7F...0x9F).contains(value) || value == 0x2028 || value == 0x2029
        || scalar.properties.generalCategory == .format
      {
        out += "\\u{" + String(value, radix: 16, uppercase: true) + "}"
        changed = true
      } else {
        out.unicodeScalars.append(scalar)
      }
    }
    return changed && quoteIfChanged ? "\"" + out + "\"" : out
  }

  /// Lines for a person: one per file (`ok` or each failed check), skipped checks as notes, then
  /// a summary.
  public var text: String {
    func name(_ text: String) -> String { Self.shown(text, quoteIfChanged: true) }
    var lines: [String] = [
      "set \(name(set)): manifest \(name(manifest.fileName)) (schema \(name(manifest.schemaVersion)), "
        + "firm \(name(manifest.firmID)), \(name(manifest.businessDate)), \(files.count) files)"
    ]
    for file in files {
      if file.ok {
        let rows =
          file.checks.first { $0.name == "rows" && $0.status == .passed }.map { ", \($0.detail) rows" } ?? ""
        lines.append("ok      \(name(file.name))\(rows)")
      }
      for check in file.checks where check.status == .failed {
        lines.append("FAILED  \(name(file.name)) \(check.name): \(Self.shown(check.detail))")
      }
      for check in file.checks where check.status == .skipped {
        lines.append("skipped \(name(file.name)) \(check.name): \(Self.shown(check.detail))")
      }
    }
    for file in unlisted {
      lines.append("FAILED  \(name(file)) unlisted: in the folder but not in the manifest")
    }
    let count = failures.count
    lines.append(
      count == 0 ? "verified: every file the manifest lists holds" : "NOT verified: \(count) failed check(s)")
    return lines.joined(separator: "\n")
  }

  /// The `--json` document (docs/reconciliation.md): stable key order.
  public var json: String {
    func string(_ value: String) -> String {
      var bytes: [UInt8] = []
      RowEncoder.appendJSONString(value, to: &bytes)
      return String(decoding: bytes, as: UTF8.self)
    }
    var lines: [String] = ["{"]
    lines.append("  \"set\": \(string(set)),")
    lines.append("  \"manifest\": \(string(manifest.fileName)),")
    lines.append("  \"schema_version\": \(string(manifest.schemaVersion)),")
    lines.append("  \"firm_id\": \(string(manifest.firmID)),")
    lines.append("  \"business_date\": \(string(manifest.businessDate)),")
    lines.append("  \"ok\": \(ok),")
    let fileTexts = files.map { file in
      let checks = file.checks.map { check in
        "{\"check\": \(string(check.name)), \"status\": \(string(check.status.rawValue)), "
          + "\"detail\": \(string(check.detail))}"
      }
      return "    {\"name\": \(string(file.name)), \"extract\": \(string(file.extract)), \"ok\": \(file.ok), "
        + "\"checks\": [\n      " + checks.joined(separator: ",\n      ") + "]}"
    }
    lines.append("  \"files\": [\n" + fileTexts.joined(separator: ",\n") + (files.isEmpty ? "]," : "\n  ],"))
    lines.append("  \"unlisted\": [\(unlisted.map(string).joined(separator: ", "))],")
    let failureTexts = failures.map { "{\"file\": \(string($0.file)), \"check\": \(string($0.check.name))}" }
    lines.append("  \"failures\": [\(failureTexts.joined(separator: ", "))]")
    lines.append("}")
    return lines.joined(separator: "\n")
  }
}

extension VerifyError {
  /// The `--json` document when the set cannot be verified (exit 2).
  public func json(set: String) -> String {
    func string(_ value: String) -> String {
      var bytes: [UInt8] = []
      RowEncoder.appendJSONString(value, to: &bytes)
      return String(decoding: bytes, as: UTF8.self)
    }
    return "{\n  \"set\": \(string(set)),\n  \"ok\": false,\n  \"error\": \(string(description))\n}"
  }
}
