import EODCore
import EODDelivery
import EODOps
import EODPipeline
import EODRender
import EODSnapshotGen
import EODState
import Foundation
import Testing

/// A night asked for by a ``NightRequest`` (what the command line makes of its arguments), run by
/// the library alone: the configuration, the business-day decision, the checks, the state store
/// and its lock, shards, and what a night that stops leaves (``NightStop``).
@Suite struct NightRequestTests {
  /// A generated two-day series (2026-10-01 and 02, Thursday and Friday) and a configuration
  /// over it: three firms, each delivered to a local folder, metrics in `eod.prom`.
  func configured(_ name: String, createState: Bool = true) throws -> (scratch: String, config: String) {
    let (scratch, _) = try Fixtures.series(
      name, GeneratorOptions(days: 2, firms: 3, accounts: 12, instruments: 20, edge: false))
    let firms = ["FIRM001", "FIRM002", "FIRM003"].map {
      "  - firm_id: \($0)\n    destination:\n      local_dir: \(scratch)/inbound\n"
    }.joined()
    let yaml = """
      version: 1
      snapshot: \(scratch)/snapshots/ledger-{date}.sqlite
      state_store: {path: \(scratch)/state.sqlite, create: \(createState)}
      output_dir: \(scratch)/out
      templates_dir: \(Fixtures.templates)
      metrics_file: \(scratch)/eod.prom
      firms:

      """ + firms
    let config = scratch + "/config.yaml"
    try yaml.write(toFile: config, atomically: true, encoding: .utf8)
    return (scratch, config)
  }

  func request(_ config: String, now: String) -> NightRequest {
    var request = NightRequest(
      source: .configuration(path: config, date: nil), runID: "request-test", logger: Fixtures.logger,
      standardTemplatesDirectory: { Fixtures.templates })
    request.fixedNow = now
    return request
  }

  func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

  @Test func aConfiguredNightRunsFromItsRequestAlone() async throws {
    let (scratch, config) = try configured("request-night")
    var said: [String] = []
    var asked = request(config, now: "2026-10-02T01:15:00Z")
    asked.say = { said.append($0) }
    let report = try await NightlyRun.run(asked)

    // The previous business day of the fixed now, every configured firm written and delivered.
    #expect(report.exitCode == .success)
    #expect(report.notBusinessDay == nil)
    let extract = try #require(report.extract)
    #expect(extract.businessDate.description == "2026-10-01")
    #expect(extract.firms.map(\.firmID) == ["FIRM001", "FIRM002", "FIRM003"])
    #expect(report.deliveries.count == 3 && report.deliveries.allSatisfy { $0.status == .delivered })
    for firm in extract.firms {
      #expect(exists("\(scratch)/out/\(firm.firmID)/2026-10-01/\(firm.firmID)_manifest_20261001.json"))
      #expect(exists("\(scratch)/inbound/\(firm.firmID)/2026-10-01/\(firm.firmID)_manifest_20261001.json"))
    }
    #expect(said == report.lines && said.count == 6)
    // The store was created as configured, the run recorded in it, the metrics written.
    let store = try StateStore(path: scratch + "/state.sqlite", createIfMissing: false)
    #expect(try store.completedManifest(firmID: "FIRM002", businessDate: "2026-10-01") != nil)
    #expect(
      try String(contentsOfFile: scratch + "/eod.prom", encoding: .utf8).contains("eod_run_exit_code 0"))
    // The store's lock is free again: another night can run at once.
    let next = try await NightlyRun.run(request(config, now: "2026-10-03T01:15:00Z"))
    #expect(next.extract?.businessDate.description == "2026-10-02")
    #expect(next.exitCode == .success)
  }

  @Test func aNightAfterAWeekendDayDoesNothing() async throws {
    let (scratch, config) = try configured("request-weekend")
    var said: [String] = []
    // 01:15 on Sunday 4 October: the day before is a Saturday.
    var asked = request(config, now: "2026-10-04T01:15:00Z")
    asked.say = { said.append($0) }
    let report = try await NightlyRun.run(asked)
    #expect(report.exitCode == .success)
    #expect(report.notBusinessDay?.date.description == "2026-10-03")
    #expect(report.extract == nil)
    #expect(said == ["2026-10-03 is not a business day (a Saturday): nothing to do"])
    // Nothing was opened or made: no store, no output folder.
    #expect(!exists(scratch + "/state.sqlite"))
    #expect(!exists(scratch + "/out"))
  }

  @Test func aMissingStoreStopsTheNightBeforeAnythingIsWrittenAndTheStopIsMeasured() async throws {
    let (scratch, config) = try configured("request-missing-store", createState: false)
    let stopped = await #expect(throws: RunRefusal.self) {
      _ = try await NightlyRun.run(request(config, now: "2026-10-02T01:15:00Z"))
    }
    #expect(stopped?.code == .nothingDone)
    #expect(stopped?.message.contains("no state store at \(scratch)/state.sqlite") == true)
    #expect(!exists(scratch + "/state.sqlite"))
    #expect(!exists(scratch + "/out"))
    // The stop reached the metrics: exit code 2, a failure for each configured firm.
    let metrics = try String(contentsOfFile: scratch + "/eod.prom", encoding: .utf8)
    #expect(metrics.contains("eod_run_exit_code 2"))
    #expect(metrics.contains("firm=\"FIRM003\""))
  }

  @Test func aFixedNowThatIsNoInstantStopsTheNight() async throws {
    let (scratch, config) = try configured("request-bad-now")
    let stopped = await #expect(throws: RunRefusal.self) {
      _ = try await NightlyRun.run(request(config, now: "2026-10-02 01:15"))
    }
    #expect(stopped?.code == .nothingDone)
    #expect(stopped?.message.contains("EOD_NOW '2026-10-02 01:15' is not an ISO 8601 instant") == true)
    #expect(!exists(scratch + "/out"))
  }

  @Test func aRefusalKeepsTheErrorThatMadeIt() async throws {
    let (scratch, config) = try configured("request-templates")
    var asked = request(config, now: "2026-10-02T01:15:00Z")
    asked.templatesDirectory = scratch + "/no-templates-here"
    let stopped = await #expect(throws: RunRefusal.self) { _ = try await NightlyRun.run(asked) }
    #expect(stopped?.code == .nothingDone)
    #expect(stopped?.message.contains("no-templates-here") == true, "\(String(describing: stopped))")
    #expect(stopped?.cause is TemplateError, "\(String(describing: stopped?.cause))")
    // Wrapped once more, the template's error is still found under it.
    let wrapped = PipelineError(code: .badConfiguration, detail: "wrapped", cause: stopped)
    #expect(wrapped.cause(as: TemplateError.self) != nil)
  }

  @Test func aNightFromPathsDeliversToTheCallersDestinationAndItsKeyReplays() async throws {
    let (scratch, paths) = try Fixtures.series(
      "request-paths", GeneratorOptions(days: 1, firms: 2, accounts: 8, instruments: 12, edge: false))
    func asked(firms: [String]) -> NightRequest {
      var request = NightRequest(
        source: .paths(
          snapshot: paths[0], state: scratch + "/state.sqlite", outputDirectory: scratch + "/out",
          settings: FirmSettings(),
          destination: .destination(LocalDirectoryDestination(base: scratch + "/inbound"))),
        runID: "paths", logger: Fixtures.logger, standardTemplatesDirectory: { Fixtures.templates })
      request.firms = firms
      request.createState = true
      request.idempotencyKey = "0b6f2d4e-3c1a-4f5e-8a7b-9c0d1e2f3a4b"
      request.fixedNow = "2026-10-02T08:00:00Z"
      return request
    }
    let first = try await NightlyRun.run(asked(firms: []))
    #expect(first.exitCode == .success)
    #expect(first.deliveries.map(\.firmID) == ["FIRM001", "FIRM002"])
    #expect(exists(scratch + "/inbound/FIRM002/2026-10-01/FIRM002_manifest_20261001.json"))
    // The same request under the same key: what it printed, nothing run or sent.
    let again = try await NightlyRun.run(asked(firms: []))
    #expect(again.extract == nil && again.deliveries.isEmpty)
    #expect(again.replayedOutput == first.lines.map { $0 + "\n" }.joined())
    // The key for another request (one firm only): refused, exit 2.
    let refused = await #expect(throws: RunRefusal.self) {
      _ = try await NightlyRun.run(asked(firms: ["FIRM001"]))
    }
    #expect(refused?.code == .nothingDone)
    #expect(refused?.message.contains("different request") == true, "\(String(describing: refused))")
  }

  @Test func aShardRunsItsFirmsRecordsItsFinishAndSkipsThemWhenRunAgain() async throws {
    let (scratch, config) = try configured("request-shard")
    var asked = request(config, now: "2026-10-02T01:15:00Z")
    asked.shard = ShardSelection(index: 0, count: 1)
    asked.finalizeIfLast = true
    var said: [String] = []
    asked.say = { said.append($0) }
    let report = try await NightlyRun.run(asked)
    #expect(report.exitCode == .success)
    #expect(report.extract?.firms.count == 3)
    #expect(said.contains("2026-10-01 shard 0/1: finished (the last of the night)"))
    // Finalized by the last shard: the night's summary, complete.
    #expect(said.contains { $0.hasPrefix("night 2026-10-01: complete: 3 firms in 1 shards") })
    #expect(exists(scratch + "/out/night-2026-10-01.summary.json"))

    // The same shard again: every firm complete and delivered, so none runs.
    said = []
    asked.say = { said.append($0) }
    let again = try await NightlyRun.run(asked)
    #expect(again.exitCode == .success)
    #expect(again.extract == nil)
    #expect(said.filter { $0.hasSuffix("complete and delivered already (shard 0/1); skipped") }.count == 3)
  }
}
