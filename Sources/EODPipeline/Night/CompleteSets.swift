import EODCompression
import EODCore
import EODOps
import EODRender
import EODSnapshot
import Logging

/// A stage of the night (docs/architecture.md): each firm's set completed, in the snapshot's order. Its files (already
/// compressed by the pool while the snapshot was read) are finished under temporary names, the
/// snapshot's verdict is waited for, then its history is recorded in the night's transaction and
/// its files renamed into place with the manifest last (``FirmRun/finish(gate:reader:history:)``).
/// A firm that fails here fails alone: its temporary files are removed and its rows taken out.
enum CompleteSets {
  static func run(
    _ pass: SnapshotPass.Pass, history: NightHistory, snapshot: OpenedSnapshot, options: JobOptions
  ) -> [FirmOutcome] {
    var outcomes: [FirmOutcome] = []
    for run in pass.runs {
      let outcome = run.finish(gate: snapshot.gate, reader: snapshot.reader, history: history)
      outcomes.append(outcome)
      if let error = outcome.error, error.code != .badSnapshot { run.logger.error("firm failed: \(error)") }
      options.progress?(outcomes.count, pass.runs.count, outcome)
    }
    return outcomes
  }

  /// Puts a firm's finished files in place and writes the manifest last. When a rename or the
  /// manifest fails, what this call put under a final name is taken out again (the manifest
  /// first); when recording the firm's run or history fails after it, `FirmRun` takes the whole
  /// set out the same way: a firm that fails leaves no file of this run under a final name (a
  /// night whose history commit fails is the exception: docs/architecture.md).
  static func putInPlace(
    firm: Firm, date: CivilDate, directory: OutputDirectory, writers: [ExtractFileWriter],
    files: [ExtractFileSummary], options: JobOptions,
    reader: SnapshotReader, outcome: inout FirmOutcome
  ) throws {
    let manifestName = Self.manifestName(firmID: firm.id, date: date)
    let manifestPath = outcome.directory + "/" + manifestName
    // A consumer waiting for the manifest must never pair an old manifest with new files.
    try directory.removeIfPresent(manifestName)
    var renamed: [String] = []
    do {
      for writer in writers {
        try directory.rename(writer.temporaryName, to: writer.fileName)
        renamed.append(writer.fileName)
      }
      try writeManifest(
        firm: firm, date: date, name: manifestName, directory: directory, files: files, options: options,
        reader: reader, outcome: &outcome)
    } catch {
      takeOut([manifestName] + renamed, from: directory)
      throw error
    }
    outcome.files = files
    outcome.manifestPath = manifestPath
  }

  /// A firm's manifest's file name, `<firm_id>_manifest_<YYYYMMDD>.json`.
  static func manifestName(firmID: String, date: CivilDate) -> String {
    "\(firmID)_manifest_\(date.compact).json"
  }

  /// Takes a failed firm's files out of their final names, the manifest first (best effort: the
  /// firm has failed already, and its error is the one reported).
  static func takeOut(_ names: [String], from directory: OutputDirectory) {
    for name in names { try? directory.removeIfPresent(name) }
  }

  /// Takes a set ``putInPlace(firm:date:directory:writers:files:options:reader:outcome:)`` put in
  /// place out again, manifest first, and forgets it in the outcome (its files, its manifest).
  static func takeOutSet(of outcome: inout FirmOutcome, date: CivilDate, from directory: OutputDirectory) {
    takeOut(
      [manifestName(firmID: outcome.firmID, date: date)] + outcome.files.map(\.name), from: directory)
    outcome.files = []
    outcome.manifestPath = nil
    outcome.manifest = nil
    outcome.manifestBytes = 0
    outcome.manifestSHA256 = nil
  }

  private static func writeManifest(
    firm: Firm, date: CivilDate, name manifestName: String, directory: OutputDirectory,
    files: [ExtractFileSummary], options: JobOptions, reader: SnapshotReader, outcome: inout FirmOutcome
  ) throws {
    let manifest = Manifest.render(
      firmID: firm.id, date: date, runID: options.runID, generatedAt: Timestamp.rfc3339(options.clock()),
      files: files,
      snapshotGeneratedAt: reader.generatedAt, errors: outcome.errors, warnings: outcome.warnings)
    let bytes = Array(manifest.utf8)
    try directory.writeFile(
      bytes, name: manifestName, temporaryName: "." + manifestName + ".part-" + options.runID)
    outcome.manifest = manifest
    outcome.manifestBytes = bytes.count
    outcome.manifestSHA256 = FileSystem.sha256(bytes)
  }

  /// Completes every file under its temporary name: sizes, hashes, rows, control totals.
  static func finishFiles(
    _ writers: [ExtractFileWriter], totals: [ExtractKind: ControlFigures], settings: FirmSettings
  ) throws -> [ExtractFileSummary] {
    var files: [ExtractFileSummary] = []
    for writer in writers {
      let (bytes, sha) = try writer.finish()
      var controls: [(String, String)] = []
      let figures: ControlFigures? =
        writer.kind == .dataQuality ? nil : totals[writer.kind] ?? ControlFigures()
      if let figures, let name = ControlFigures.totalName(writer.kind) {
        controls = [(name, figures.total.description)]
      }
      let compression: String
      if case .gzip = settings.encoding { compression = "gzip" } else { compression = "none" }
      files.append(
        ExtractFileSummary(
          name: writer.fileName, path: writer.finalPath, extract: writer.kind,
          template: writer.encoder.template.name,
          format: settings.format, compression: compression, rows: writer.rows, bytes: bytes, sha256: sha,
          controlTotals: controls, figures: figures,
          keyColumns: ControlFigures.keyColumns(writer.encoder.template, format: settings.format)))
    }
    return files
  }
}
