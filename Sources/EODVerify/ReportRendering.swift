import EODRender

extension VerifyReport {
  /// Every failed check, with its file (an unlisted file is check `unlisted`).
  public var failures: [(file: String, check: Check)] {
    files.flatMap { file in file.checks.filter { $0.status == .failed }.map { (file.name, $0) } }
      + unlisted.map { ($0, Check("unlisted", .failed, "in the folder but not in the manifest")) }
  }

  /// Lines for a person: one per file (`ok` or each failed check), skipped checks as notes, then
  /// a summary.
  public var text: String {
    var lines: [String] = [
      "set \(set): manifest \(manifest.fileName) (schema \(manifest.schemaVersion), firm \(manifest.firmID), "
        + "\(manifest.businessDate), \(files.count) files)"
    ]
    for file in files {
      if file.ok {
        let rows =
          file.checks.first { $0.name == "rows" && $0.status == .passed }.map { ", \($0.detail) rows" } ?? ""
        lines.append("ok      \(file.name)\(rows)")
      }
      for check in file.checks where check.status == .failed {
        lines.append("FAILED  \(file.name) \(check.name): \(check.detail)")
      }
      for check in file.checks where check.status == .skipped {
        lines.append("skipped \(file.name) \(check.name): \(check.detail)")
      }
    }
    for name in unlisted {
      lines.append("FAILED  \(name) unlisted: in the folder but not in the manifest")
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
