import Foundation
import Testing

/// `eod-extract verify` on sets the built binary makes, intact and tampered with.
@Suite(.serialized) struct VerifyTests {
  static let date = "2026-10-01"
  static let stamp = "20261001"

  /// A day's snapshot (with the generator's edge cases: quoted text, odd values) run into
  /// `out` with `options`; the folders of the firms' sets.
  static func makeSets(_ dir: String, options: [String]) throws -> [String] {
    if !FileManager.default.fileExists(atPath: dir + "/snap") {
      let generated = try Binary.run([
        "generate", dir + "/snap", "--days", "1", "--accounts", "30", "--firms", "2", "--edge",
      ])
      try #require(generated.status == 0, "\(generated.stderr)")
    }
    let out = dir + "/out-\(UUID().uuidString.prefix(6))"
    let run = try Binary.run(
      [
        "run", "--init-state", "--snapshot", "\(dir)/snap/ledger-\(date).sqlite", "--state",
        dir + "/state-\(UUID().uuidString.prefix(6)).sqlite",
        "--out", out,
      ] + options)
    try #require(run.status == 0 || run.status == 1, "\(run.stderr)")
    let firms = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
    let sets = firms.map { "\(out)/\($0)/\(date)" }.filter { FileManager.default.fileExists(atPath: $0) }
    try #require(!sets.isEmpty)
    return sets
  }

  static func verify(_ set: String, _ more: [String] = []) throws -> Binary.Result {
    try Binary.run(["verify", set] + more)
  }

  /// The set's manifest path and its file entries.
  static func manifest(_ set: String) throws -> (String, [[String: Any]]) {
    let name = try #require(
      try FileManager.default.contentsOfDirectory(atPath: set).first { $0.contains("_manifest_") })
    let path = set + "/" + name
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    return (path, object["files"] as? [[String: Any]] ?? [])
  }

  static func file(_ set: String, _ extract: String) throws -> (path: String, entry: [String: Any]) {
    let entry = try #require(try manifest(set).1.first { $0["extract"] as? String == extract })
    return (set + "/" + (entry["name"] as? String ?? ""), entry)
  }

  static func edit(_ path: String, _ body: (inout String) throws -> Void) throws {
    var text = try String(contentsOfFile: path, encoding: .utf8)
    try body(&text)
    try text.write(toFile: path, atomically: false, encoding: .utf8)
  }

  /// The options of every kind of set the job makes: CSV or JSON Lines, gzip or not.
  static let kinds = [
    ["--format", "csv"], ["--format", "csv", "--compression", "none"], ["--format", "json"],
    ["--format", "json", "--compression", "none"],
  ]

  @Test(arguments: kinds)
  func everySetTheJobMakesVerifies(options: [String]) throws {
    let dir = try Binary.scratch("verify-ok")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for set in try Self.makeSets(dir, options: options) {
      let result = try Self.verify(set)
      #expect(result.status == 0, "\(options) \(set): \(result.stdout) \(result.stderr)")
      #expect(result.stdout.contains("verified: every file the manifest lists holds"))
      #expect(!result.stdout.contains("FAILED"))
      // Every content check ran on the data files (the standard templates have every column but
      // transactions' account_currency).
      let json = try Self.verify(set, ["--json"])
      #expect(json.status == 0)
      let object = try #require(
        try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
      #expect(object["ok"] as? Bool == true)
      #expect(object["schema_version"] as? String == "1.1")
      let files = try #require(object["files"] as? [[String: Any]])
      #expect(files.count == 5)
      for file in files where file["extract"] as? String == "positions" {
        let checks = file["checks"] as? [[String: Any]] ?? []
        let passed = Set(
          checks.filter { $0["status"] as? String == "passed" }.compactMap { $0["check"] as? String })
        #expect(
          passed.isSuperset(of: [
            "present", "bytes", "sha256", "parse", "header", "rows", "control_total",
            "control_totals_by_currency",
            "accounts",
          ]), "\(checks)")
      }
    }
  }

  /// A configured run: a firm on positions.v2 (firm_name, quote_factor) with formula-safe text in
  /// JSON Lines, another with two extracts in CSV; both delivered sets verify, and the one
  /// delivered to a local destination too.
  @Test func configuredTemplatesAndDeliveredSetsVerify() throws {
    let job = try OpsJob.make("verify-config", accounts: 30, firms: 2)
    defer { job.remove() }
    let yaml = """
      version: 1
      snapshot: \(job.dir)/snap/ledger-{date}.sqlite
      state_store: {path: \(job.state), create: true}
      output_dir: \(job.out)
      templates_dir: \(job.templates)
      firms:
        - firm_id: FIRM001
          format: json
          extracts: {positions: v2, cash: v1, valuations: v1}
          features: {formula_safe_csv: true}
          destination:
            local_dir: \(job.destination("FIRM001"))
        - firm_id: FIRM002
          compression: none
          extracts: {transactions: v1, data_quality: v1}
          destination:
            local_dir: \(job.destination("FIRM002"))

      """
    try yaml.write(toFile: job.config, atomically: true, encoding: .utf8)
    let run = try job.run()
    try #require(run.status == 0, "\(run.stderr)")
    for firm in ["FIRM001", "FIRM002"] {
      for set in [job.staged(firm), job.delivered(firm)] {
        let result = try Self.verify(set, ["--templates", job.templates])
        #expect(result.status == 0, "\(set): \(result.stdout) \(result.stderr)")
      }
    }
    let json = try Self.verify(job.staged("FIRM001"), ["--templates", job.templates])
    #expect(json.stdout.contains("(schema 1.1, firm FIRM001, 2026-10-01, 3 files)"), "\(json.stdout)")
    // The v2 layout is what was checked: the v1 template's header would not match it.
    let (manifestPath, _) = try Self.manifest(job.staged("FIRM001"))
    try Self.edit(manifestPath) { $0 = $0.replacingOccurrences(of: "positions.v2", with: "positions.v1") }
    let mismatched = try Self.verify(job.staged("FIRM001"), ["--templates", job.templates])
    #expect(mismatched.status == 1)
    #expect(
      mismatched.stdout.contains("positions_20261001.json.gz header: the keys of line 1"),
      "\(mismatched.stdout)")
  }

  /// Fails with exit 1 and names `name` and each of `checks`.
  static func expectFails(_ set: String, _ name: String, _ checks: [String], only: Bool = false) throws {
    let result = try verify(set)
    #expect(result.status == 1, "\(result.stdout) \(result.stderr)")
    for check in checks {
      #expect(
        result.stdout.contains("FAILED  \(name) \(check):"), "no \(check) for \(name): \(result.stdout)")
    }
    let json = try verify(set, ["--json"])
    #expect(json.status == 1)
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
    #expect(object["ok"] as? Bool == false)
    let failures = (object["failures"] as? [[String: String]] ?? []).map {
      "\($0["file"] ?? "") \($0["check"] ?? "")"
    }
    for check in checks { #expect(failures.contains("\(name) \(check)"), "\(failures)") }
    if only { #expect(failures.sorted() == checks.map { "\(name) \($0)" }.sorted(), "\(failures)") }
  }

  @Test func aFlippedByteFails() throws {
    let dir = try Binary.scratch("verify-flip")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for options in Self.kinds {
      let set = try #require(try Self.makeSets(dir, options: options).first)
      let (path, _) = try Self.file(set, "positions")
      var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
      bytes[bytes.count / 2] ^= 0x01
      try Data(bytes).write(to: URL(fileURLWithPath: path))
      try Self.expectFails(set, (path as NSString).lastPathComponent, ["sha256"])
    }
  }

  @Test func aTruncatedFileFails() throws {
    let dir = try Binary.scratch("verify-trunc")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for options in Self.kinds {
      let set = try #require(try Self.makeSets(dir, options: options).first)
      let (path, _) = try Self.file(set, "positions")
      let gzip = path.hasSuffix(".gz")
      let data = try Data(contentsOf: URL(fileURLWithPath: path))
      try data.prefix(data.count - (gzip ? 10 : 5)).write(to: URL(fileURLWithPath: path))
      try Self.expectFails(
        set, (path as NSString).lastPathComponent, ["bytes", "sha256", gzip ? "gzip" : "parse"])
    }
  }

  @Test func aMissingFileFails() throws {
    let dir = try Binary.scratch("verify-missing")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for options in Self.kinds {
      let set = try #require(try Self.makeSets(dir, options: options).first)
      let (path, _) = try Self.file(set, "cash")
      try FileManager.default.removeItem(atPath: path)
      try Self.expectFails(set, (path as NSString).lastPathComponent, ["present"], only: true)
    }
  }

  @Test func anExtraFileFails() throws {
    let dir = try Binary.scratch("verify-extra")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for options in Self.kinds {
      let set = try #require(try Self.makeSets(dir, options: options).first)
      let (path, _) = try Self.file(set, "cash")
      let hidden = "." + (path as NSString).lastPathComponent + ".part"
      _ = FileManager.default.createFile(atPath: set + "/" + hidden, contents: Data("x".utf8))
      try Self.expectFails(set, hidden, ["unlisted"], only: true)
      _ = FileManager.default.createFile(atPath: set + "/notes.txt", contents: Data())
      try Self.expectFails(set, "notes.txt", ["unlisted"])
    }
  }

  /// Changes one amount in the positions file by a cent, keeping the row count; with
  /// `updateManifest` the file is re-compressed and the manifest's sha256 and bytes updated, so
  /// only the recomputed totals can catch it.
  func changeACell(format: String, compression: [String], updateManifest: Bool) throws {
    let dir = try Binary.scratch("verify-cell")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let set = try #require(try Self.makeSets(dir, options: ["--format", format] + compression).first)
    let (path, entry) = try Self.file(set, "positions")
    let gzip = path.hasSuffix(".gz")
    var plainPath = path
    if gzip {
      let unzipped = try Binary.run(program: "/usr/bin/gzip", ["-d", "-k", path])
      try #require(unzipped.status == 0, "\(unzipped.stderr)")
      plainPath = String(path.dropLast(3))
    }
    let text = try String(contentsOfFile: plainPath, encoding: .utf8)
    // A row's market value ending in a digit other than 9: that digit goes up by one.
    let pattern =
      format == "csv"
      ? #"(?m)^(?:[^",\r\n]*,){19}(-?[0-9]+\.[0-9])([0-8])(?=,)"#
      : #""marketValue":\s*"(-?[0-9]+\.[0-9])([0-8])""#
    let regex = try NSRegularExpression(pattern: pattern)
    let match = try #require(regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)))
    let digitRange = try #require(Range(match.range(at: 2), in: text))
    let changed = text.replacingCharacters(
      in: digitRange, with: String((Int(text[digitRange]) ?? 0) + 1))
    try changed.write(toFile: plainPath, atomically: false, encoding: .utf8)
    if gzip {
      try FileManager.default.removeItem(atPath: path)
      let zipped = try Binary.run(program: "/usr/bin/gzip", ["-n", plainPath])
      try #require(zipped.status == 0, "\(zipped.stderr)")
    }
    let name = (path as NSString).lastPathComponent
    if updateManifest {
      let data = try Data(contentsOf: URL(fileURLWithPath: path))
      let sha = try #require(sha256(path))
      let (manifestPath, _) = try Self.manifest(set)
      try Self.edit(manifestPath) { text in
        text = text.replacingOccurrences(of: entry["sha256"] as? String ?? "", with: sha)
        text = text.replacingOccurrences(
          of: "\"bytes\": \(entry["bytes"] as? Int ?? 0), \"sha256\": \"\(sha)\"",
          with: "\"bytes\": \(data.count), \"sha256\": \"\(sha)\"")
      }
      try Self.expectFails(set, name, ["control_total", "control_totals_by_currency"], only: true)
    } else {
      try Self.expectFails(set, name, ["sha256", "control_total", "control_totals_by_currency"])
    }
  }

  @Test(arguments: kinds)
  func aChangedCellWithTheHashUpdatedFailsOnTheTotals(options: [String]) throws {
    try changeACell(format: options[1], compression: Array(options.dropFirst(2)), updateManifest: true)
  }

  @Test(arguments: kinds)
  func aChangedCellFails(options: [String]) throws {
    try changeACell(format: options[1], compression: Array(options.dropFirst(2)), updateManifest: false)
  }

  @Test(arguments: kinds)
  func aChangedControlTotalInTheManifestFails(options: [String]) throws {
    let dir = try Binary.scratch("verify-total")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let set = try #require(try Self.makeSets(dir, options: options).first)
    let (manifestPath, _) = try Self.manifest(set)
    let (path, entry) = try Self.file(set, "valuations")
    let total = try #require((entry["control_totals"] as? [String: String])?["total_value"])
    try Self.edit(manifestPath) { text in
      text = text.replacingOccurrences(
        of: "\"control_totals\": {\"total_value\": \"\(total)\"}",
        with: "\"control_totals\": {\"total_value\": \"\(total == "0.00" ? "0.01" : "0.00")\"}")
    }
    try Self.expectFails(set, (path as NSString).lastPathComponent, ["control_total"], only: true)
  }

  @Test func aMissingOrUnreadableManifestIsExitTwo() throws {
    let dir = try Binary.scratch("verify-manifest")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let set = try #require(try Self.makeSets(dir, options: []).first)
    let (manifestPath, _) = try Self.manifest(set)
    let original = try Data(contentsOf: URL(fileURLWithPath: manifestPath))

    try Data(original.prefix(original.count / 2)).write(to: URL(fileURLWithPath: manifestPath))
    var result = try Self.verify(set)
    #expect(result.status == 2, "\(result.stdout) \(result.stderr)")
    #expect(result.stderr.contains("not valid JSON"), "\(result.stderr)")
    result = try Self.verify(set, ["--json"])
    #expect(result.status == 2)
    let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
    #expect(object?["ok"] as? Bool == false)
    #expect((object?["error"] as? String)?.contains("not valid JSON") == true)

    try FileManager.default.removeItem(atPath: manifestPath)
    result = try Self.verify(set)
    #expect(result.status == 2)
    #expect(result.stderr.contains("no manifest"), "\(result.stderr)")
    result = try Self.verify(dir + "/no-such-folder")
    #expect(result.status == 2)

    // Two manifests: the set is ambiguous until one is chosen; the other is then an extra file.
    try original.write(to: URL(fileURLWithPath: manifestPath))
    let name = (manifestPath as NSString).lastPathComponent
    try original.write(to: URL(fileURLWithPath: set + "/OTHER_manifest_\(Self.stamp).json"))
    result = try Self.verify(set)
    #expect(result.status == 2)
    #expect(result.stderr.contains("--manifest"), "\(result.stderr)")
    result = try Self.verify(set, ["--manifest", name])
    #expect(result.status == 1)
    #expect(result.stdout.contains("FAILED  OTHER_manifest_\(Self.stamp).json unlisted:"), "\(result.stdout)")
  }

  /// A set whose manifest is schema 1 (as the job wrote before 1.1: no per-currency figures,
  /// accounts or key columns) verifies, says which checks it skipped, and still catches a total.
  @Test func aSchemaOneSetVerifies() throws {
    let dir = try Binary.scratch("verify-schema1")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let set = try #require(try Self.makeSets(dir, options: []).first)
    let (manifestPath, _) = try Self.manifest(set)
    try Self.edit(manifestPath) { text in
      for pattern in [
        #", "control_totals_by_currency": \{(?:[^{}]|\{[^{}]*\})*\}"#, #", "accounts": [0-9]+"#,
        #", "key_columns": \[[^\]]*\]"#,
      ] {
        text = text.replacingOccurrences(of: pattern, with: "", options: .regularExpression)
      }
      text = text.replacingOccurrences(of: "\"schema_version\": \"1.1\"", with: "\"schema_version\": \"1\"")
    }
    let manifestText = try String(contentsOfFile: manifestPath, encoding: .utf8)
    #expect(!manifestText.contains("control_totals_by_currency") && !manifestText.contains("\"accounts\""))
    var result = try Self.verify(set)
    #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
    #expect(result.stdout.contains("(schema 1,"))
    let (path, entry) = try Self.file(set, "positions")
    let name = (path as NSString).lastPathComponent
    #expect(
      result.stdout.contains(
        "skipped \(name) control_totals_by_currency: schema 1 manifest: no per-currency totals to check"))
    #expect(result.stdout.contains("skipped \(name) accounts: schema 1 manifest: no account count to check"))

    let total = try #require((entry["control_totals"] as? [String: String])?["market_value"])
    try Self.edit(manifestPath) { text in
      text = text.replacingOccurrences(
        of: "{\"market_value\": \"\(total)\"}", with: "{\"market_value\": \"1\(total)\"}")
    }
    result = try Self.verify(set)
    #expect(result.status == 1)
    #expect(
      result.stdout.contains("FAILED  \(name) control_total: manifest says market_value 1\(total)"),
      "\(result.stdout)")
  }

  @Test func anSFTPSetNeedsAKeyAndKnownHosts() throws {
    var result = try Binary.run(["verify", "sftp://user@host:22/sets/F1"])
    #expect(result.status == 64)
    #expect(result.stderr.contains("needs --identity KEYFILE and --known-hosts FILE"), "\(result.stderr)")
    result = try Binary.run(["verify", "/tmp/a-local-set", "--identity", "/tmp/key"])
    #expect(result.status == 64)
    #expect(result.stderr.contains("go with an sftp:// SET"), "\(result.stderr)")
  }
}
