import ArgumentParser
import EODCompression
import EODOps
import EODPipeline
import EODRender
import Foundation

/// Options every command that writes extracts shares.
struct OutputOptions: ParsableArguments {
  @Option(help: "Extract format: csv or json.")
  var format: ExtractFormat = .csv

  @Option(help: "gzip level 0-9, or 'none' to write uncompressed files.")
  var compression: String = "6"

  @Option(
    help:
      "Directory of extract templates (default: $EOD_TEMPLATES, ./templates, PREFIX/share/eod-extract/templates for PREFIX/bin/eod-extract, or a templates folder above the executable)."
  )
  var templates: String?

  @Option(help: "Compression threads per file (default: the number of cores).")
  var workers: Int = ProcessInfo.processInfo.activeProcessorCount

  @Option(
    name: .customLong("extract"),
    help:
      "Make only this extract (repeatable): positions, cash, transactions, valuations, data_quality. Default: all."
  )
  var extracts: [ExtractKind] = []

  @Option(
    help: "Mode (octal) of the files written under the output directory (default 0640, whatever the umask).")
  var fileMode: String?

  @Option(help: "Mode (octal) of the directories made under the output directory (default 0750).")
  var directoryMode: String?

  /// The modes given on the command line (nil where not given: the configuration's key, else
  /// 0640/0750).
  func explicitFileModes() throws -> (file: UInt32?, directory: UInt32?) {
    func parse(_ text: String?, _ name: String, owner: Int) throws -> UInt32? {
      guard let text else { return nil }
      guard let value = JobConfiguration.parseMode(text), value & owner == owner else {
        throw ValidationError(
          "--\(name) must be an octal mode 0-0777 that keeps the owner's \(String(owner, radix: 8)), not '\(text)'"
        )
      }
      return UInt32(value)
    }
    return (
      try parse(fileMode, "file-mode", owner: 0o600), try parse(directoryMode, "directory-mode", owner: 0o700)
    )
  }

  /// The modes of what a command creates: the options, else 0640/0750.
  func fileModes() throws -> FileModes {
    let explicit = try explicitFileModes()
    var modes = FileModes()
    if let file = explicit.file { modes.file = file }
    if let directory = explicit.directory { modes.directory = directory }
    return modes
  }

  /// The extracts chosen on the command line, nil for all.
  var extractSet: Set<ExtractKind>? { extracts.isEmpty ? nil : Set(extracts) }

  func encoding() throws -> OutputEncoding {
    if compression == "none" { return .none }
    guard let level = Int(compression), (0...9).contains(level) else {
      throw ValidationError("--compression must be a level 0-9 or 'none', not '\(compression)'")
    }
    return .gzip(level: level)
  }

  func templateLibrary() throws -> TemplateLibrary {
    try RunPlan.templateLibrary(templates, standard: OutputOptions.standardTemplatesDirectory)
  }

  /// The first place holding the standard templates (``TemplateLibrary/searchDirectories(executablePath:)``),
  /// or an error listing every place searched.
  static func standardTemplatesDirectory() throws -> String {
    let searched = TemplateLibrary.searchDirectories(executablePath: CommandLine.arguments[0])
    guard let found = searched.first(where: TemplateLibrary.holdsStandardTemplates) else {
      throw Failure(
        .nothingDone,
        "no templates found; searched: \(searched.joined(separator: ", ")) "
          + "(give --templates DIR, or templates_dir in the configuration)")
    }
    return found
  }
}
