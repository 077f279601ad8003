import EODCore
import EODDelivery
import EODPipeline
import EODSnapshotGen
import EODState
import Foundation
import Logging
import Testing

/// Stands in for a destination that dies after placing some files.
struct FailingDestination: Destination {
  let inner: LocalDirectoryDestination
  let failAfter: Int
  var displayName: String { inner.displayName }

  func deliver(_ set: DeliverySet, resend: Bool, logger: Logger) async throws(DeliveryError)
    -> [DeliveredFile]
  {
    var partial = set
    partial.files = Array(set.files.prefix(failAfter))
    partial.manifest = set.files[failAfter]
    let placed = try await inner.deliver(partial, resend: resend, logger: logger).dropLast()
    throw DeliveryError(
      code: .unreachable, destination: displayName, fileName: set.files[failAfter].fileName,
      completed: Array(placed),
      detail: "connection lost (simulated)")
  }
}

@Suite struct DeliveryJournalTests {
  func prepare(_ name: String) throws -> (scratch: String, report: RunReport, store: StateStore) {
    let (scratch, paths) = try Fixtures.series(
      name, GeneratorOptions(days: 1, firms: 2, accounts: 20, instruments: 50, edge: false))
    let store = try StateStore(path: scratch + "/state.sqlite")
    let options = JobOptions(
      snapshotPath: paths[0], outputDirectory: scratch + "/out", templates: try Fixtures.library())
    return (scratch, try ExtractJob.run(options, store: store, logger: Fixtures.logger), store)
  }

  @Test func aReRunSendsNothingAndResendSendsAgain() async throws {
    let (scratch, report, store) = try prepare("journal")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let destination = LocalDirectoryDestination(base: scratch + "/remote")
    let targets: [String: any Destination] = ["FIRM001": destination, "FIRM002": destination]
    let first = await DeliveryStep.deliver(
      report, destinations: targets, store: store, resend: false, logger: Fixtures.logger)
    #expect(first.map(\.status) == [.delivered, .delivered])
    #expect(first[0].sent.count == 6)
    #expect(first[0].sent.last?.fileName.contains("manifest") == true)
    for file in report.firms[0].files {
      let remote = scratch + "/remote/FIRM001/\(report.businessDate)/\(file.name)"
      #expect(FileManager.default.contents(atPath: remote) == FileManager.default.contents(atPath: file.path))
    }
    let again = await DeliveryStep.deliver(
      report, destinations: targets, store: store, resend: false, logger: Fixtures.logger)
    #expect(again.map(\.status) == [.alreadyDelivered, .alreadyDelivered])
    #expect(again.allSatisfy { $0.sent.isEmpty })
    let resent = await DeliveryStep.deliver(
      report, destinations: targets, store: store, resend: true, logger: Fixtures.logger)
    #expect(resent.map(\.status) == [.delivered, .delivered])
    #expect(resent[1].sent.count == 6)
    #expect(try store.journal(firmID: "FIRM001").count == 6)
  }

  @Test func aFirmWithoutADestinationFailsAloneAndNothingCrosses() async throws {
    let (scratch, report, store) = try prepare("nodest")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let outcomes = await DeliveryStep.deliver(
      report, destinations: ["FIRM002": LocalDirectoryDestination(base: scratch + "/two")], store: store,
      resend: false,
      logger: Fixtures.logger)
    #expect(outcomes.first { $0.firmID == "FIRM001" }?.status == .failed)
    #expect(outcomes.first { $0.firmID == "FIRM001" }?.error?.code == .configuration)
    #expect(outcomes.first { $0.firmID == "FIRM002" }?.status == .delivered)
    #expect(!FileManager.default.fileExists(atPath: scratch + "/two/FIRM001"))
  }

  @Test func aDeliveryThatDiedHalfwaySendsOnlyWhatIsMissing() async throws {
    let (scratch, report, store) = try prepare("resume")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let local = LocalDirectoryDestination(base: scratch + "/remote")
    let broken = await DeliveryStep.deliver(
      report, destinations: ["FIRM001": FailingDestination(inner: local, failAfter: 2)], store: store,
      resend: false,
      logger: Fixtures.logger)
    #expect(broken.first?.status == .failed)
    #expect(try store.journal(firmID: "FIRM001").count == 2)
    let manifest =
      scratch + "/remote/FIRM001/\(report.businessDate)/FIRM001_manifest_\(report.businessDate.compact).json"
    #expect(!FileManager.default.fileExists(atPath: manifest))
    let resumed = await DeliveryStep.deliver(
      report, destinations: ["FIRM001": local], store: store, resend: false, logger: Fixtures.logger)
    let outcome = try #require(resumed.first { $0.firmID == "FIRM001" })
    #expect(outcome.status == .delivered)
    #expect(outcome.skipped.count == 2)
    #expect(outcome.sent.count == 4)  // three data files and the manifest
    #expect(FileManager.default.fileExists(atPath: manifest))
  }

  @Test func changedBytesForADeliveredDateAreRefusedWithoutResend() async throws {
    let (scratch, report, store) = try prepare("changed")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let local = LocalDirectoryDestination(base: scratch + "/remote")
    _ = await DeliveryStep.deliver(
      report, destinations: ["FIRM001": local], store: store, resend: false, logger: Fixtures.logger)
    var changed = report
    changed.firms[0].files[0].sha256 = String(repeating: "0", count: 64)
    let refused = await DeliveryStep.deliver(
      changed, destinations: ["FIRM001": local], store: store, resend: false, logger: Fixtures.logger)
    #expect(refused.first?.status == .failed)
    #expect(refused.first?.error?.code == .conflictingFile)
  }

  /// A run killed after the destination held its set (manifest included) and before the journal
  /// recorded it: the retry, a new run (new run_id and generated_at in its manifest), recognises
  /// the set, records it and sends nothing; the manifest a consumer may have seen stays. A
  /// manifest of another set there is refused, naming the file and the destination.
  @Test func aSetPlacedButNotJournaledIsRecognisedAndAnotherManifestIsRefused() async throws {
    let (scratch, report, store) = try prepare("placed")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let local = LocalDirectoryDestination(base: scratch + "/remote")
    let first = await DeliveryStep.deliver(
      report, destinations: ["FIRM001": local], store: store, resend: false, logger: Fixtures.logger)
    #expect(first.first?.status == .delivered)
    let folder = scratch + "/remote/FIRM001/\(report.businessDate)"
    let manifest = folder + "/FIRM001_manifest_\(report.businessDate.compact).json"
    let seen = try #require(FileManager.default.contents(atPath: manifest))
    let inode = try FileManager.default.attributesOfItem(atPath: manifest)[.systemFileNumber] as? Int

    // The retry: extracted again under a new run id, delivered with a journal that lost the lines.
    let options = JobOptions(
      snapshotPath: report.snapshotPath, outputDirectory: scratch + "/out", templates: try Fixtures.library(),
      runID: "retry-run")
    let retry = try ExtractJob.run(options, store: store, logger: Fixtures.logger)
    let retried = try #require(retry.firms.first { $0.firmID == "FIRM001" })
    #expect(retried.manifestSHA256 != report.firms.first { $0.firmID == "FIRM001" }?.manifestSHA256)
    let lost = try StateStore(path: scratch + "/lost.sqlite")
    let again = await DeliveryStep.deliver(
      retry, destinations: ["FIRM001": local], store: lost, resend: false, logger: Fixtures.logger)
    let outcome = try #require(again.first { $0.firmID == "FIRM001" })
    #expect(outcome.status == .delivered, "\(String(describing: outcome.error))")
    #expect(outcome.sent.map(\.outcome) == Array(repeating: .alreadyPresent, count: 5) + [.recognized])
    #expect(outcome.sent.allSatisfy { $0.attempts == 0 })
    #expect(FileManager.default.contents(atPath: manifest) == seen, "the manifest was replaced")
    #expect(try FileManager.default.attributesOfItem(atPath: manifest)[.systemFileNumber] as? Int == inode)
    let journal = try lost.journal(firmID: "FIRM001")
    #expect(journal.count == 6)
    #expect(journal.first { $0.fileName.contains("_manifest_") }?.sha256 == retried.manifestSHA256)
    #expect(journal.first { $0.fileName.contains("_manifest_") }?.outcome == "recognized")

    // Another set's manifest at the destination: refused, named, nothing sent or replaced.
    var edited = String(decoding: seen, as: UTF8.self)
    edited = edited.replacingOccurrences(of: "\"errors\": ", with: "\"errors\": 1")
    try Data(edited.utf8).write(to: URL(fileURLWithPath: manifest))
    let other = try StateStore(path: scratch + "/other.sqlite")
    let refused = await DeliveryStep.deliver(
      retry, destinations: ["FIRM001": local], store: other, resend: false, logger: Fixtures.logger)
    let failure = try #require(refused.first { $0.firmID == "FIRM001" })
    #expect(failure.status == .failed)
    #expect(failure.error?.code == .conflictingFile)
    #expect(failure.error?.fileName == "FIRM001_manifest_\(report.businessDate.compact).json")
    let text = failure.error?.description ?? ""
    #expect(text.contains(manifest) && text.contains("file://" + scratch + "/remote"), "\(text)")
    #expect(FileManager.default.contents(atPath: manifest) == Data(edited.utf8))
    #expect(try other.journal(firmID: "FIRM001").isEmpty)

    // A data file missing beside a manifest of the same set: never sent after its manifest.
    try seen.write(to: URL(fileURLWithPath: manifest))
    let dataFile = try #require(retried.files.first)
    try FileManager.default.removeItem(atPath: folder + "/" + dataFile.name)
    let third = try StateStore(path: scratch + "/third.sqlite")
    let incomplete = await DeliveryStep.deliver(
      retry, destinations: ["FIRM001": local], store: third, resend: false, logger: Fixtures.logger)
    #expect(incomplete.first?.error?.code == .conflictingFile)
    #expect(incomplete.first?.error?.fileName == dataFile.name)
    #expect(!FileManager.default.fileExists(atPath: folder + "/" + dataFile.name))
  }

  /// With resend, a manifest with other bytes is removed before any data file is replaced: a
  /// delivery that stops half-way leaves no manifest beside a mix of old and new files.
  @Test func resendRemovesTheOldManifestBeforeReplacingData() async throws {
    let (scratch, report, _) = try prepare("resend-order")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let folder = scratch + "/remote/FIRM001/2024-03-28"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try Data("old data".utf8).write(to: URL(fileURLWithPath: folder + "/a.csv"))
    try Data("old manifest".utf8).write(to: URL(fileURLWithPath: folder + "/m.json"))
    let local = scratch + "/m.json"
    try Data("new manifest".utf8).write(to: URL(fileURLWithPath: local))
    let set = DeliverySet(
      firmID: "FIRM001", businessDate: "2024-03-28", runID: report.runID,
      files: [
        DeliveryItem(
          localPath: scratch + "/unreadable", fileName: "a.csv", sha256: String(repeating: "1", count: 64),
          byteCount: 8)
      ],
      manifest: DeliveryItem(
        localPath: local, fileName: "m.json", sha256: String(repeating: "2", count: 64), byteCount: 12))
    do {
      _ = try await LocalDirectoryDestination(base: scratch + "/remote").deliver(
        set, resend: true, logger: Fixtures.logger)
      Issue.record("an unreadable local file was delivered")
    } catch {
      #expect(error.code == .localFile)
    }
    #expect(!FileManager.default.fileExists(atPath: folder + "/m.json"), "the old manifest stayed")
    #expect(FileManager.default.contents(atPath: folder + "/a.csv") == Data("old data".utf8))
  }
}
