import EODDelivery
import Foundation
import Logging
import Synchronization

/// The test hooks `EOD_TEST_PAUSE_BEFORE_SECOND_DELIVERY=FILE` and
/// `EOD_TEST_PAUSE_AFTER_FIRST_DELIVERY=FILE` (tests only, documented in docs/operations.md beside
/// `EOD_TEST_INTERNAL_ERROR`): the run's second firm delivery first creates FILE and sleeps two
/// minutes, so a test can SIGKILL a shard whose first firm is delivered and journaled and whose
/// others are not; or the first firm's delivery, once the destination holds every file (manifest
/// included), creates FILE and sleeps two minutes before the journal records any of it.
struct PausingDestination: Destination {
  enum Moment { case beforeSecondDelivery, afterFirstDelivery }
  let inner: any Destination
  let marker: String
  let moment: Moment
  static let deliveries = Mutex(0)

  var displayName: String { inner.displayName }

  func deliver(_ set: DeliverySet, resend: Bool, logger: Logger) async throws(DeliveryError)
    -> [DeliveredFile]
  {
    let number = Self.deliveries.withLock { count in
      count += 1
      return count
    }
    if moment == .beforeSecondDelivery && number == 2 { pause() }
    let placed = try await inner.deliver(set, resend: resend, logger: logger)
    if moment == .afterFirstDelivery && number == 1 { pause() }
    return placed
  }

  private func pause() {
    _ = FileManager.default.createFile(atPath: marker, contents: Data("\(getpid())\n".utf8))
    sleep(120)
  }

  /// The destinations, wrapped when a hook is set.
  static func wrap(_ destinations: [String: any Destination]) -> [String: any Destination] {
    let environment = ProcessInfo.processInfo.environment
    if let marker = environment["EOD_TEST_PAUSE_BEFORE_SECOND_DELIVERY"] {
      return destinations.mapValues {
        PausingDestination(inner: $0, marker: marker, moment: .beforeSecondDelivery)
      }
    }
    if let marker = environment["EOD_TEST_PAUSE_AFTER_FIRST_DELIVERY"] {
      return destinations.mapValues {
        PausingDestination(inner: $0, marker: marker, moment: .afterFirstDelivery)
      }
    }
    return destinations
  }
}
