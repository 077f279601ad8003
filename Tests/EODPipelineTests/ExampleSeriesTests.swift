import EODPipeline
import Foundation
import Testing

/// The contract's worked examples, computed independently of the project.
@Suite struct ExampleSeriesTests {
  /// On either state store (the contract: the same extracts, byte for byte where exact).
  @Test(arguments: Backend.allCases)
  func edgeSeriesMatchesTheExpectedExtracts(backend: Backend) throws {
    let scratch = try Fixtures.scratch("edge")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let reports = try runSeries(
      snapshots: Fixtures.root + "/edge-6d/snapshots", out: scratch + "/out",
      store: try backend.open("state", scratch: scratch))
    #expect(reports.count == 6)
    #expect(reports.allSatisfy { $0.failedFirms.isEmpty })
    let (files, problems) = try compareExample(
      expectedRoot: Fixtures.root + "/edge-6d/expected", outputRoot: scratch + "/out")
    #expect(files == 90)
    #expect(problems.isEmpty, "\(problems.prefix(20).joined(separator: "\n"))")
  }

  @Test func longSeriesMatchesOneYearAnnualisedAndMoneyWeightedReturns() throws {
    let scratch = try Fixtures.scratch("long")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    try untar(Fixtures.root + "/long-265d/snapshots.tar.gz", into: scratch)
    let reports = try runSeries(
      snapshots: scratch + "/long", out: scratch + "/out", state: scratch + "/state.sqlite")
    #expect(reports.count == 265)
    let (files, problems) = try compareExample(
      expectedRoot: Fixtures.root + "/long-265d/expected", outputRoot: scratch + "/out")
    #expect(files == 50)
    #expect(problems.isEmpty, "\(problems.prefix(20).joined(separator: "\n"))")
  }
}
