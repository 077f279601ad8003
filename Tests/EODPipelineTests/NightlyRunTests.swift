import EODCore
import EODDelivery
import EODOps
import EODPipeline
import EODSnapshotGen
import EODState
import Foundation
import Testing

/// A night run through the library entry point (``NightlyRun``), without the command line: a
/// generated snapshot series, a new state store, a temporary output folder, a local destination.
@Suite struct NightlyRunTests {
  struct Setting {
    let scratch: String
    let paths: [String]
    let store: StateStore
    let destination: String
    let metrics: String
  }

  func prepare(_ name: String) throws -> Setting {
    let (scratch, paths) = try Fixtures.series(
      name, GeneratorOptions(days: 2, firms: 3, accounts: 30, instruments: 60, edge: false))
    let store = try StateStore(path: scratch + "/state.sqlite", createIfMissing: true)
    return Setting(
      scratch: scratch, paths: paths, store: store, destination: scratch + "/inbound",
      metrics: scratch + "/eod.prom")
  }

  /// A night over `day`, delivering to the local destination every firm but `withoutDestination`.
  func night(_ setting: Setting, day: Int, withoutDestination: String? = nil) throws -> Night {
    var job = JobOptions(
      snapshotPath: setting.paths[day], outputDirectory: setting.scratch + "/out",
      templates: try Fixtures.library())
    job.runID = "night-\(day)"
    var night = Night(job: job, store: setting.store, logger: Fixtures.logger)
    night.deliver = true
    let destination = LocalDirectoryDestination(base: setting.destination)
    night.destinations = { report in
      var destinations: [String: any Destination] = [:]
      for firm in report.firms where firm.firmID != withoutDestination {
        destinations[firm.firmID] = destination
      }
      return destinations
    }
    night.metricsFile = setting.metrics
    return night
  }

  @Test func aNightIsExtractedDeliveredMeasuredAndReportedWithoutTheCommandLine() async throws {
    let setting = try prepare("night")
    var said: [String] = []
    var first = try night(setting, day: 0)
    first.say = { said.append($0) }
    let report = try await NightlyRun.run(first)

    let extract = try #require(report.extract)
    let firms = extract.firms.map(\.firmID)
    #expect(firms.count == 3)
    #expect(extract.failedFirms.isEmpty)
    #expect(report.exitCode == .success)
    #expect(report.failedFirms.isEmpty)
    #expect(report.deliveries.map(\.firmID) == firms)
    #expect(report.deliveries.allSatisfy { $0.status == .delivered })
    // One line per firm, then one per delivery, as the command line prints them.
    #expect(report.lines == said)
    #expect(report.lines.count == 6)
    #expect(report.lines[3].contains("delivered to"))
    #expect(report.notices.isEmpty)
    let date = extract.businessDate.description
    for firm in extract.firms {
      // Written locally, and the whole set at the destination, manifest last.
      let manifest = try #require(firm.manifestPath)
      #expect(FileManager.default.fileExists(atPath: manifest))
      let sent = setting.destination + "/\(firm.firmID)/\(date)/"
      for file in firm.files { #expect(FileManager.default.fileExists(atPath: sent + file.name)) }
      #expect(FileManager.default.fileExists(atPath: sent + (manifest as NSString).lastPathComponent))
      #expect(
        try setting.store.journal(firmID: firm.firmID, businessDate: date).count == firm.files.count + 1)
    }
    let metrics = try String(contentsOfFile: setting.metrics, encoding: .utf8)
    #expect(metrics.contains("eod_run_exit_code 0"))

    // The next night, one firm without a destination: it alone fails, with exit 1, recorded.
    let lonely = firms[1]
    let second = try await NightlyRun.run(try night(setting, day: 1, withoutDestination: lonely))
    #expect(second.exitCode == .someFirmsFailed)
    #expect(second.failedFirms == [lonely])
    #expect(second.extract?.failedFirms.isEmpty == true)
    #expect(second.deliveries.filter { $0.status == .failed }.map(\.firmID) == [lonely])
    let statuses = try setting.store.firmStatuses().firms
    #expect(statuses.first { $0.firmID == lonely }?.lastFailure?.step == "deliver")
    #expect(try String(contentsOfFile: setting.metrics, encoding: .utf8).contains("eod_run_exit_code 1"))
  }

  @Test func aRestatementWithResendReissuesTheLaterDateAndAKeyReplaysTheNight() async throws {
    let setting = try prepare("night-restate")
    _ = try await NightlyRun.run(try night(setting, day: 0))
    _ = try await NightlyRun.run(try night(setting, day: 1))
    let before = try setting.store.allRecords(accountID: "AC00000001")

    // Day 1 again (a restatement with the same data), re-issuing day 2 from its snapshot.
    var again = try night(setting, day: 0)
    again.resend = true
    let paths = setting.paths
    again.laterSnapshot = { date in paths.first { $0.contains(date) } ?? "" }
    let key = try IdempotencyKey(parsing: "5f0c6a1e-8d3b-4c2a-9e7f-0a1b2c3d4e5f")
    again.idempotency = IdempotencyRequest(key: key, fingerprint: "restate day 1")
    let restated = try await NightlyRun.run(again)
    #expect(restated.exitCode == .success)
    #expect(
      restated.extract?.firms.allSatisfy { $0.staleDates.isEmpty && $0.laterRunDates.count == 1 } == true)
    #expect(restated.reissued.count == 1)
    #expect(restated.reissued.first?.report.failedFirms.isEmpty == true)
    #expect(restated.reissued.first?.deliveries.count == 3)
    // The same data: the stored history is unchanged.
    #expect(try setting.store.allRecords(accountID: "AC00000001") == before)

    // The same key again: what it printed, nothing run or delivered.
    let replayed = try await NightlyRun.run(again)
    #expect(replayed.extract == nil)
    #expect(replayed.deliveries.isEmpty)
    #expect(replayed.replayedOutput == restated.lines.map { $0 + "\n" }.joined())
    #expect(replayed.exitCode == .success)
    // The same key for another request: refused, nothing done.
    again.idempotency = IdempotencyRequest(key: key, fingerprint: "another request")
    let refused = try await NightlyRun.run(again)
    #expect(refused.refusal?.contains("different request") == true)
    #expect(refused.exitCode == .nothingDone)
  }
}
