import EODCompression
import EODCore
import EODPipeline
import EODRender
import EODSnapshotGen
import EODState
import Foundation
import Logging
import Testing

/// Test helpers: fixtures, a scratch folder, an RFC 4180 reader, and the examples' comparison rule.
enum Fixtures {
  static var root: String {
    Bundle.module.resourcePath.map { $0 + "/Fixtures" } ?? "Tests/EODPipelineTests/Fixtures"
  }

  /// The repository's templates folder (three levels above this file).
  static var templates: String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("templates").path
  }

  static func library() throws -> TemplateLibrary { try TemplateLibrary(directory: templates) }

  static func scratch(_ name: String) throws -> String {
    let path = NSTemporaryDirectory() + "eod-tests-\(name)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  /// A fresh scratch folder holding a generated snapshot series (in `snapshots/`).
  static func series(_ name: String, _ options: GeneratorOptions) throws -> (scratch: String, paths: [String])
  {
    let scratch = try Fixtures.scratch(name)
    let paths = try SnapshotGenerator.generate(into: scratch + "/snapshots", options: options)
    return (scratch, paths)
  }

  static let logger = Logger(label: "eod-tests") { _ in SwiftLogNoOpLogHandler() }
}

/// A minimal RFC 4180 reader (quoted fields with commas, quotes and newlines).
func parseCSV(_ text: String) -> [[String]] {
  var rows: [[String]] = []
  var row: [String] = []
  var field = ""
  var quoted = false
  var iterator = Array(text.unicodeScalars).makeIterator()
  var pending: Unicode.Scalar? = nil
  func next() -> Unicode.Scalar? {
    if let p = pending {
      pending = nil
      return p
    }
    return iterator.next()
  }
  while let c = next() {
    if quoted {
      if c == "\"" {
        if let n = next() {
          if n == "\"" {
            field.unicodeScalars.append("\"")
          } else {
            quoted = false
            pending = n
          }
        } else {
          quoted = false
        }
      } else {
        field.unicodeScalars.append(c)
      }
    } else if c == "\"" {
      quoted = true
    } else if c == "," {
      row.append(field)
      field = ""
    } else if c == "\r" {
      continue
    } else if c == "\n" {
      row.append(field)
      rows.append(row)
      row = []
      field = ""
    } else {
      field.unicodeScalars.append(c)
    }
  }
  if !field.isEmpty || !row.isEmpty {
    row.append(field)
    rows.append(row)
  }
  return rows
}

func readGzipText(_ path: String) throws -> String {
  let data = try #require(FileManager.default.contents(atPath: path), "missing \(path)")
  return String(decoding: try Gunzip.decompress(Array(data)), as: UTF8.self)
}

/// The examples' rule: same header, same rows in order, decimals equal (returns within 1e-8,
/// mwr within 1e-6, fx_rate within 1e-10); data_quality: at least the expected (code, resource_id).
func compareExample(expectedRoot: String, outputRoot: String) throws -> (files: Int, problems: [String]) {
  let manager = FileManager.default
  var problems: [String] = []
  var files = 0
  for firm in try manager.contentsOfDirectory(atPath: expectedRoot).sorted() {
    for date in try manager.contentsOfDirectory(atPath: expectedRoot + "/" + firm).sorted() {
      for file in try manager.contentsOfDirectory(atPath: "\(expectedRoot)/\(firm)/\(date)").sorted() {
        let kind = String(file.dropLast(4))
        let expectedData = try #require(manager.contents(atPath: "\(expectedRoot)/\(firm)/\(date)/\(file)"))
        let expected = parseCSV(String(decoding: expectedData, as: UTF8.self))
        let compact = date.replacingOccurrences(of: "-", with: "")
        let got = parseCSV(
          try readGzipText("\(outputRoot)/\(firm)/\(date)/\(firm)_\(kind)_\(compact).csv.gz"))
        files += 1
        let place = "\(firm) \(date) \(kind)"
        guard expected.first == got.first else {
          problems.append("\(place): header differs")
          continue
        }
        if kind == "data_quality" {
          let want = Set(expected.dropFirst().map { "\($0[3]) \($0[5])" })
          let have = Set(got.dropFirst().map { "\($0[3]) \($0[5])" })
          for missing in want.subtracting(have).sorted() { problems.append("\(place): missing \(missing)") }
          continue
        }
        guard expected.count == got.count else {
          problems.append("\(place): \(expected.count - 1) rows expected, \(got.count - 1) written")
          continue
        }
        let header = expected[0]
        for (wantRow, haveRow) in zip(expected.dropFirst(), got.dropFirst()) {
          for (index, name) in header.enumerated() where wantRow[index] != haveRow[index] {
            if equalWithinTolerance(name, wantRow[index], haveRow[index]) { continue }
            problems.append(
              "\(place) \(wantRow[4]) \(name): expected '\(wantRow[index])', wrote '\(haveRow[index])'")
          }
        }
      }
    }
  }
  return (files, problems)
}

func equalWithinTolerance(_ column: String, _ a: String, _ b: String) -> Bool {
  guard let x = ExactDecimal(a), let y = ExactDecimal(b) else { return false }
  let tolerance: ExactDecimal
  switch column {
  case "fx_rate": tolerance = ExactDecimal(significand: 1, scale: 10)
  case "mwr_itd", "mwr_itd_annualised": tolerance = ExactDecimal(significand: 1, scale: 6)
  case _ where column.hasPrefix("return_"): tolerance = ExactDecimal(significand: 1, scale: 8)
  default: tolerance = .zero
  }
  guard let difference = x.subtracting(y) else { return false }
  let magnitude = difference.isNegative ? difference.negated() : difference
  return !(tolerance < magnitude)
}

/// Runs every snapshot of a folder in date order into `out` with one state store.
@discardableResult
func runSeries(
  snapshots: String, out: String, state: String, format: ExtractFormat = .csv
) throws -> [RunReport] {
  try runSeries(snapshots: snapshots, out: out, store: try StateStore(path: state), format: format)
}

/// Runs every snapshot of a folder in date order into `out` with a state store of any backend.
@discardableResult
func runSeries(
  snapshots: String, out: String, store: any StateStoring, format: ExtractFormat = .csv
) throws -> [RunReport] {
  let library = try Fixtures.library()
  var reports: [RunReport] = []
  var previous: CivilDate?
  for entry in try SnapshotSeries.scan(directory: snapshots) {
    let options = JobOptions(
      snapshotPath: entry.path, outputDirectory: out, templates: library,
      defaultSettings: FirmSettings(format: format), previousBusinessDate: previous, workerCount: 2)
    reports.append(try ExtractJob.run(options, store: store, logger: Fixtures.logger))
    previous = entry.date
  }
  return reports
}

func untar(_ archive: String, into directory: String) throws {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/bin/tar")
  process.arguments = ["-xzf", archive, "-C", directory]
  try process.run()
  process.waitUntilExit()
  #expect(process.terminationStatus == 0)
}
