import EODCore
import EODDelivery
import EODState
import Foundation
import Logging

/// What re-issuing one later date did.
public struct Reissue: Sendable {
  public var report: RunReport
  public var deliveries: [DeliveryOutcome]
}

/// A stage of the night (docs/architecture.md), for a night that restated an earlier date with `resend`: every later date whose
/// extracts are now stale is run again from its own snapshot and delivered again.
enum ReissueStale {
  static func run(
    _ report: RunReport, night: Night, job: JobOptions, snapshotFor: (String) -> String,
    say: (String) -> Void
  ) async throws -> (reissued: [Reissue], failed: Set<String>) {
    var reissued: [Reissue] = []
    var failed: Set<String> = []
    let stale = Set(report.firms.flatMap(\.laterRunDates)).sorted()
    for date in stale {
      var later = job
      later.snapshotPath = snapshotFor(date.description)
      later.runID = UUID().uuidString.lowercased()
      later.previousBusinessDate = nil
      let again = try ExtractJob.run(later, store: night.store, logger: night.logger)
      for line in again.summaryLines { say(line) }
      failed.formUnion(again.failedFirms.map(\.firmID))
      let deliveries = await DeliveryStep.deliver(
        again, destinations: night.destinations(again), store: night.store, resend: true,
        clock: night.clock, logger: night.logger)
      for delivery in deliveries {
        say("\(date) \(delivery.firmID): re-issued: \(delivery.status)")
        if delivery.status == .failed { failed.insert(delivery.firmID) }
      }
      reissued.append(Reissue(report: again, deliveries: deliveries))
    }
    return (reissued, failed)
  }
}
