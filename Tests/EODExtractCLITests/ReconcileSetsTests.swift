import Foundation
import Testing

/// `reconcile --ours` on every kind of set the job writes: CSV or JSON Lines, gzip or not.
@Suite(.serialized) struct ReconcileSetsTests {
  /// The same night (a snapshot with the generator's edge cases: quoted text, formula-like and
  /// invalid references, odd values) run into a set of each format; the sets' folders.
  static func makeSets(_ dir: String) throws -> [String: String] {
    let generated = try Binary.run([
      "generate", dir + "/snap", "--days", "1", "--accounts", "40", "--firms", "1", "--edge",
    ])
    try #require(generated.status == 0, "\(generated.stderr)")
    var sets: [String: String] = [:]
    let kinds: [String: [String]] = [
      "csv.gz": [], "csv": ["--compression", "none"], "json.gz": ["--format", "json"],
      "json": ["--format", "json", "--compression", "none"],
    ]
    for (kind, options) in kinds {
      let run = try Binary.run(
        [
          "run", "--init-state", "--snapshot", dir + "/snap/ledger-2026-10-01.sqlite", "--state",
          dir + "/state-\(kind).sqlite", "--out", dir + "/out-\(kind)",
        ] + options)
      try #require(run.status == 0, "\(kind): \(run.stderr)")
      sets[kind] = dir + "/out-\(kind)/FIRM001/2026-10-01"
    }
    return sets
  }

  /// Their file made from our CSV extract, record by record (the unquoted records are edited; the
  /// others, quoted text and line breaks inside fields included, are kept as they are): the first
  /// one dropped (MISSING_THEIRS), the second twice (DUPLICATE_KEY_THEIRS), the third with a 1
  /// after its `column`'s value (FIELD_MISMATCH), the fourth under another account
  /// (MISSING_OURS), and a line that is not a row (UNPARSEABLE_THEIRS).
  static func theirs(fromOurCSV text: String, column: Int) throws -> String {
    var lines = text.components(separatedBy: "\r\n")
    let plain = lines.indices.dropFirst().filter { !lines[$0].contains("\"") && !lines[$0].isEmpty }
    try #require(plain.count >= 4)
    func cells(_ index: Int) -> [String] {
      lines[index].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    }
    var changed = cells(plain[2])
    changed[column] += "1"
    var added = cells(plain[3])
    added[4] = "AC99999999"
    lines[plain[2]] = changed.joined(separator: ",")
    lines[plain[1]] += "\r\n" + lines[plain[1]]
    lines.remove(at: plain[0])
    return lines.joined(separator: "\r\n") + added.joined(separator: ",") + "\r\nnot,a,row\r\n"
  }

  /// A profile naming every column of ours as theirs (their file is ours, edited).
  static func identityProfile(_ extract: String, header: String, keys: [String]) -> String {
    let columns = header.split(separator: ",").map { "  \($0): \($0)" }.joined(separator: "\n")
    return "extract: \(extract)\ncolumns:\n\(columns)\nkeys: [\(keys.joined(separator: ", "))]\n"
  }

  /// The same night reconciles to the same breaks, byte for byte, and the same counts and control
  /// totals, whichever format and compression our set was written in; every planted break is found.
  @Test func jsonLinesAndCSVSetsGiveTheSameBreaks() throws {
    let dir = try Binary.scratch("recon-sets")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let sets = try Self.makeSets(dir)
    let plain = try #require(sets["csv"])
    for (extract, keys, column) in [
      ("positions", ["account_id", "instrument_id"], 13), ("cash", ["account_id", "currency"], 10),
    ] {
      let ours = try String(contentsOfFile: plain + "/FIRM001_\(extract)_20261001.csv", encoding: .utf8)
      let header = ours.components(separatedBy: "\r\n")[0]
      let theirs = dir + "/theirs-\(extract).csv"
      try ReconcileTests.write(theirs, try Self.theirs(fromOurCSV: ours, column: column))
      let profile = dir + "/\(extract).yaml"
      try ReconcileTests.write(profile, Self.identityProfile(extract, header: header, keys: keys))

      var breaks: [String: Data] = [:]
      var summaries: [String: [String: Any]] = [:]
      for (kind, set) in sets {
        let out = dir + "/recon-\(extract)-\(kind)"
        let result = try Binary.run([
          "reconcile", "--ours", set, "--extract", extract, "--theirs", theirs, "--profile", profile, "--out",
          out,
        ])
        try #require(result.status == 1, "\(kind) \(extract): \(result.stdout)\(result.stderr)")
        breaks[kind] = try Data(
          contentsOf: URL(fileURLWithPath: out + "/FIRM001_breaks_\(extract)_20261001.csv"))
        var summary = try ReconcileProfileTests.summary(out + "/FIRM001_recon_\(extract)_20261001.json")
        #expect(
          summary["ours_file"] as? String == "FIRM001_\(extract)_20261001.\(kind)", "\(kind) \(extract)")
        for name in ["ours_file", "ours_manifest_sha256"] { summary[name] = nil }
        summaries[kind] = summary
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).count == 2)
      }
      let csv = try #require(breaks["csv"])
      for kind in sets.keys {
        #expect(breaks[kind] == csv, "\(kind) \(extract): the breaks differ from the CSV set's")
        #expect(
          NSDictionary(dictionary: summaries[kind] ?? [:]).isEqual(to: summaries["csv"] ?? [:]),
          "\(kind) \(extract): \(summaries[kind] ?? [:])")
      }
      let rows = try ReconcileTests.csvRows(
        dir + "/recon-\(extract)-json.gz/FIRM001_breaks_\(extract)_20261001.csv")
      let types = Set(rows.dropFirst().map { $0[1] })
      #expect(
        types.isSuperset(of: [
          "MISSING_THEIRS", "DUPLICATE_KEY_THEIRS", "FIELD_MISMATCH", "MISSING_OURS", "UNPARSEABLE_THEIRS",
        ]), "\(extract): \(types)")
      let summary = try #require(summaries["json.gz"])
      #expect((summary["matched_exactly"] as? Int ?? 0) > 10, "\(summary)")
      let totals = summary["control_totals"] as? [String: Any]
      #expect(totals?["ours"] is [String: Any], "\(summary)")
    }
  }

  /// Our JSON Lines file that cannot be read (not JSON, a row without a mapped field) is exit 2,
  /// naming the file and line.
  @Test func anUnreadableJSONLinesFileIsExitTwo() throws {
    let dir = try Binary.scratch("recon-json-bad")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let generated = try Binary.run([
      "generate", dir + "/snap", "--days", "1", "--accounts", "10", "--firms", "1",
    ])
    try #require(generated.status == 0, "\(generated.stderr)")
    let run = try Binary.run([
      "run", "--init-state", "--snapshot", dir + "/snap/ledger-2026-10-01.sqlite", "--state",
      dir + "/state.sqlite", "--out", dir + "/out", "--format", "json", "--compression", "none",
    ])
    try #require(run.status == 0, "\(run.stderr)")
    let set = dir + "/out/FIRM001/2026-10-01"
    let file = set + "/FIRM001_cash_20261001.json"
    let profile = dir + "/cash.yaml"
    try ReconcileTests.write(
      profile,
      "extract: cash\ncolumns: {A: account_id, C: currency, B: balance}\nkeys: [account_id, currency]\n")
    let theirs = dir + "/t.csv"
    try ReconcileTests.write(theirs, "A,C,B\n")
    let arguments = [
      "reconcile", "--ours", set, "--extract", "cash", "--theirs", theirs, "--profile", profile, "--out",
      dir + "/recon",
    ]
    let original = try String(contentsOfFile: file, encoding: .utf8)
    var lines = original.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    try #require(lines.count > 3)
    lines[1] = "{\"accountId\": \"AC1\", "
    try lines.joined(separator: "\n").write(toFile: file, atomically: false, encoding: .utf8)
    var result = try Binary.run(arguments)
    #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
    #expect(result.stderr.contains("FIRM001_cash_20261001.json: line 2"), "\(result.stderr)")

    try original.replacingOccurrences(of: "\"balance\"", with: "\"saldo\"").write(
      toFile: file, atomically: false, encoding: .utf8)
    result = try Binary.run(arguments)
    #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
    #expect(
      result.stderr.contains("FIRM001_cash_20261001.json: the header has no column balance"),
      "\(result.stderr)")
  }
}
