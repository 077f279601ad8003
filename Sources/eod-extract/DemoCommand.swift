import ArgumentParser
import EODCore
import EODOps
import EODPipeline
import EODSnapshotGen
import EODState
import Foundation
import Logging

struct Demo: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Make a small sample series with the awkward cases and run it, day by day, into a local folder."
  )

  @Option(
    help:
      "Folder for the sample snapshots, the state store and the extracts: a new or empty folder, or one an earlier demo made (it holds \(Demo.markerName))."
  )
  var out = "demo-out"

  @Option(help: "Business days to make and run.")
  var days = 6

  @OptionGroup var output: OutputOptions
  @OptionGroup var logging: LoggingOptions

  func run() async throws {
    try await withExitCodes {
      let logger = logging.makeLogger()
      try Demo.prepareFolder(out)
      let snapshots = out + "/snapshots"
      let paths: [String]
      do {
        paths = try SnapshotGenerator.generate(
          into: snapshots,
          options: GeneratorOptions(
            days: days, firms: 3, accounts: 120, instruments: 150, positions: 5, activity: 0.3, seed: 7,
            edge: true))
      } catch {
        throw Failure(.nothingDone, SystemErrorText.words(error), cause: error)
      }
      let statePath = out + "/state.sqlite"
      // The demo's own store, in its own folder: always created (nothing else is there).
      let (lock, store) = try StateAccess.openForWriting(statePath, create: true, logger: logger)
      defer { _ = lock }
      let library = try output.templateLibrary()
      var failed = false
      for path in paths {
        let options = JobOptions(
          snapshotPath: path, outputDirectory: out + "/extracts", templates: library,
          defaultSettings: FirmSettings(
            format: output.format, encoding: try output.encoding(), extracts: output.extractSet),
          workerCount: max(1, output.workers))
        let report = try ExtractJob.run(options, store: store, logger: logger)
        printSummary(report)
        failed = failed || !report.failedFirms.isEmpty
      }
      print("")
      print("Snapshots:   \(snapshots)/")
      print("State store: \(statePath)")
      print("Extracts:    \(out)/extracts/<firm_id>/<business_date>/ (gzip; read with: zcat FILE.csv.gz)")
      return failed ? .someFirmsFailed : .success
    }
  }

  /// The file that marks a folder as the demo's own.
  static let markerName = ".eod-extract-demo"
  /// What a demo writes in its folder, and replaces when run again there.
  static let ownEntries = [
    "snapshots", "extracts", "state.sqlite", "state.sqlite-wal", "state.sqlite-shm", "state.sqlite.lock",
  ]

  /// Makes `folder` ready for a demo: created if missing; an empty folder or an earlier demo's
  /// (marked) is used, and only the demo's own entries are replaced; anything else stops the demo
  /// naming the folder, and nothing in it is touched.
  static func prepareFolder(_ folder: String) throws {
    let manager = FileManager.default
    var isDirectory: ObjCBool = false
    let marker = folder + "/" + markerName
    if manager.fileExists(atPath: folder, isDirectory: &isDirectory) {
      guard isDirectory.boolValue else {
        throw Failure(.nothingDone, "demo folder \(folder): is not a directory")
      }
      let entries: [String]
      do { entries = try manager.contentsOfDirectory(atPath: folder) } catch {
        throw Failure(.nothingDone, "demo folder \(folder): \(SystemErrorText.reason(error))", cause: error)
      }
      if !entries.isEmpty {
        // An earlier demo's folder: its marker, or (made before the marker) only the demo's own entries.
        guard entries.contains(markerName) || entries.allSatisfy(ownEntries.contains) else {
          throw Failure(
            .nothingDone,
            "demo folder \(folder) is not empty and was not made by a demo (no \(markerName)); "
              + "the demo writes only into a new or empty folder or an earlier demo's: give another --out")
        }
        for entry in ownEntries where entries.contains(entry) {
          do { try manager.removeItem(atPath: folder + "/" + entry) } catch {
            throw Failure(
              .nothingDone, "demo folder \(folder)/\(entry): \(SystemErrorText.reason(error))", cause: error)
          }
        }
      }
    }
    do {
      try manager.createDirectory(atPath: folder, withIntermediateDirectories: true)
      try Data(
        "This folder was made by `eod-extract demo`; running the demo into it again replaces \(ownEntries.joined(separator: ", ")) and nothing else.\n"
          .utf8
      ).write(to: URL(fileURLWithPath: marker))
    } catch {
      throw Failure(.nothingDone, "demo folder \(folder): \(SystemErrorText.reason(error))", cause: error)
    }
  }
}
