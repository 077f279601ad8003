import EODSnapshotGen
import Foundation
import Testing

/// The last snapshot of a fresh generated series, in a new temporary directory.
func freshSnapshot(_ label: String, _ options: GeneratorOptions) throws -> String {
  let directory = NSTemporaryDirectory() + "eod-\(label)-\(UUID().uuidString.prefix(8))"
  let paths = try SnapshotGenerator.generate(into: directory, options: options)
  return try #require(paths.last)
}
