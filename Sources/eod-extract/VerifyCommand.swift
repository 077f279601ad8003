import ArgumentParser
import EODOps
import EODRender
import EODVerify
import Foundation

/// `eod-extract verify SET`: proves a delivered set is complete and untouched (docs/reconciliation.md).
struct Verify: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Check a delivered set against its manifest: every file, its size, hash, rows, header and totals.",
    discussion: """
      SET is a local folder holding <firm>_manifest_<date>.json and its files (e.g. OUT/FIRM001/2026-10-01).
      Exit codes: 0 every check holds; 1 a check failed (the report names file and check); \
      2 the manifest is missing or unreadable; 64 usage (an sftp:// SET is not supported yet).
      """)

  @Argument(help: "The set's folder.")
  var set: String

  @Option(help: "The manifest's file name, when the folder holds several.")
  var manifest: String?

  @Option(help: "Directory of extract templates (default: ./templates or the one beside the executable).")
  var templates: String?

  @Flag(help: "One JSON document (docs/reconciliation.md) instead of lines for a person.")
  var json = false

  func validate() throws {
    if set.lowercased().hasPrefix("sftp://") {
      throw ValidationError(
        "an sftp:// SET is not supported yet: copy the set to a local folder and verify that folder")
    }
  }

  func run() async throws {
    try await withExitCodes {
      let directory = templates ?? TemplateLibrary.defaultDirectory(executablePath: CommandLine.arguments[0])
      let library = try? TemplateLibrary(directory: directory)
      let verifier = SetVerifier(
        directory: set, templates: library, templatesDirectory: directory, manifestName: manifest)
      let report: VerifyReport
      do throws(VerifyError) {
        report = try verifier.verify()
      } catch {
        if json { print(error.json(set: set)) }
        throw Failure(.nothingDone, "verify: \(error)")
      }
      print(json ? report.json : report.text)
      return report.ok ? .success : .someFirmsFailed
    }
  }
}
