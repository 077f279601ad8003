import EODCore
import EODRender

/// The manifest: the set's control document, written and delivered last.
public enum Manifest {
  public static let schemaVersion = "1"

  static func string(_ value: String) -> String {
    var bytes: [UInt8] = []
    RowEncoder.appendJSONString(value, to: &bytes)
    return String(decoding: bytes, as: UTF8.self)
  }

  /// Deterministic JSON (fixed key order, two-space indent) apart from run_id and generated_at.
  static func render(
    firmID: String, date: CivilDate, runID: String, generatedAt: String, files: [ExtractFileSummary],
    snapshotGeneratedAt: String?, errors: Int, warnings: Int
  ) -> String {
    var lines: [String] = ["{"]
    lines.append("  \"firm_id\": \(string(firmID)),")
    lines.append("  \"business_date\": \(string(date.description)),")
    lines.append("  \"run_id\": \(string(runID)),")
    lines.append("  \"generated_at\": \(string(generatedAt)),")
    lines.append("  \"schema_version\": \(string(schemaVersion)),")
    lines.append("  \"snapshot_schema_version\": \"1\",")
    if let snapshotGeneratedAt {
      lines.append("  \"snapshot_generated_at\": \(string(snapshotGeneratedAt)),")
    }
    let templates = files.map { "    \(string($0.extract.rawValue)): \(string($0.template))" }
    lines.append("  \"template_versions\": {\n" + templates.joined(separator: ",\n") + "\n  },")
    var fileTexts: [String] = []
    for file in files {
      var parts: [String] = [
        "\"name\": \(string(file.name))", "\"extract\": \(string(file.extract.rawValue))",
        "\"template\": \(string(file.template))", "\"format\": \(string(file.format.rawValue))",
        "\"compression\": \(string(file.compression))", "\"rows\": \(file.rows)", "\"bytes\": \(file.bytes)",
        "\"sha256\": \(string(file.sha256))",
      ]
      let totals = file.controlTotals.map { "\(string($0.0)): \(string($0.1))" }.joined(separator: ", ")
      parts.append("\"control_totals\": {\(totals)}")
      fileTexts.append("    {" + parts.joined(separator: ", ") + "}")
    }
    lines.append("  \"files\": [\n" + fileTexts.joined(separator: ",\n") + "\n  ],")
    lines.append("  \"data_quality\": {\"errors\": \(errors), \"warnings\": \(warnings)}")
    lines.append("}")
    return lines.joined(separator: "\n") + "\n"
  }
}
