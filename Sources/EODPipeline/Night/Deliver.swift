import EODCore
import EODDelivery
import EODOps
import EODState
import Foundation
import Logging

/// What delivery did for one firm.
public struct DeliveryOutcome: Sendable {
  public enum Status: Sendable, Equatable {
    /// Files were sent (or found already in place) and the manifest went last.
    case delivered
    /// The journal shows this exact set delivered already; nothing was sent.
    case alreadyDelivered
    case failed
  }
  public var firmID: String
  public var destination: String
  public var status: Status
  public var sent: [DeliveredFile] = []
  /// Files skipped because the journal shows them delivered with the same bytes.
  public var skipped: [String] = []
  public var error: DeliveryError?
}

/// Sends each firm's completed set to that firm's destination, consulting and writing the
/// delivery journal so a re-run sends nothing twice and a resumed run sends only what is missing.
public enum DeliveryStep {
  /// The night's stage: every firm written goes to its destination (``Night/destinations``), a
  /// line said for each.
  static func run(_ extract: RunReport, night: Night, say: (String) -> Void) async -> [DeliveryOutcome] {
    let deliveries = await deliver(
      extract, destinations: night.destinations(extract), store: night.store, resend: night.resend,
      clock: night.clock, logger: night.logger)
    for delivery in deliveries { say(summaryLine(delivery, date: extract.businessDate)) }
    return deliveries
  }

  /// - Parameters:
  ///   - destinations: by firm ID. A firm of the report without an entry is an error for that
  ///     firm: its files never go to another firm's destination.
  public static func deliver(
    _ report: RunReport, destinations: [String: any Destination], store: any StateStoring, resend: Bool,
    clock: @escaping @Sendable () -> Date = { Date() }, logger: Logger
  ) async -> [DeliveryOutcome] {
    var outcomes: [DeliveryOutcome] = []
    for firm in report.firms where firm.error == nil {
      var firmLogger = logger
      firmLogger[metadataKey: "firm"] = "\(firm.firmID)"
      firmLogger[metadataKey: "step"] = "deliver"
      guard let destination = destinations[firm.firmID] else {
        let error = DeliveryError(
          code: .configuration, destination: "(none)", fileName: nil,
          detail: "firm \(firm.firmID) has no destination configured; its files are not sent anywhere else")
        outcomes.append(
          DeliveryOutcome(firmID: firm.firmID, destination: "(none)", status: .failed, error: error))
        firmLogger.error("\(error)")
        continue
      }
      outcomes.append(
        await deliverFirm(
          firm, date: report.businessDate, runID: report.runID, destination: destination, store: store,
          resend: resend,
          clock: clock, logger: firmLogger))
    }
    return outcomes
  }

  static func deliverFirm(
    _ firm: FirmOutcome, date: CivilDate, runID: String, destination: any Destination,
    store: any StateStoring,
    resend: Bool,
    clock: @escaping @Sendable () -> Date, logger: Logger
  ) async -> DeliveryOutcome {
    let name = destination.displayName
    var outcome = DeliveryOutcome(firmID: firm.firmID, destination: name, status: .delivered)
    guard let manifestPath = firm.manifestPath, let manifestSHA = firm.manifestSHA256 else {
      outcome.status = .failed
      outcome.error = DeliveryError(
        code: .localFile, destination: name, fileName: nil, detail: "the set has no manifest")
      return outcome
    }
    let journal: [String: JournalEntry]
    do {
      journal = Dictionary(
        try store.journal(firmID: firm.firmID, businessDate: date.description, destination: name).map {
          ($0.fileName, $0)
        },
        uniquingKeysWith: { $1 })
    } catch {
      outcome.status = .failed
      outcome.error = DeliveryError(
        code: .configuration, destination: name, fileName: nil, detail: "\(error)", cause: error)
      return outcome
    }
    var pending: [DeliveryItem] = []
    var changed: [String] = []
    for file in firm.files {
      let item = DeliveryItem(
        localPath: file.path, fileName: file.name, sha256: file.sha256, byteCount: Int(file.bytes))
      if let entry = journal[file.name], !resend {
        if entry.sha256 == file.sha256 {
          outcome.skipped.append(file.name)
          continue
        }
        changed.append(file.name)
      }
      pending.append(item)
    }
    let manifestName = (manifestPath as NSString).lastPathComponent
    if !changed.isEmpty {
      outcome.status = .failed
      outcome.error = DeliveryError(
        code: .conflictingFile, destination: name, fileName: changed.first,
        detail:
          "\(changed.joined(separator: ", ")) differ from what was delivered for \(date); nothing was sent. "
          + "Re-run with --resend to replace the delivered set")
      logger.error("\(outcome.error.map(\.description) ?? "")")
      return outcome
    }
    if pending.isEmpty && journal[manifestName] != nil {
      outcome.status = .alreadyDelivered
      logger.info("already delivered; nothing sent", metadata: ["destination": "\(name)"])
      return outcome
    }
    let manifest = DeliveryItem(
      localPath: manifestPath, fileName: manifestName, sha256: manifestSHA, byteCount: firm.manifestBytes)
    let set = DeliverySet(
      firmID: firm.firmID, businessDate: date.description, runID: runID, files: pending, manifest: manifest)
    func record(_ files: [DeliveredFile]) {
      for file in files {
        let entry = JournalEntry(
          firmID: firm.firmID, businessDate: date.description, destination: name, fileName: file.fileName,
          sha256: file.sha256, remotePath: file.remotePath, attempts: file.attempts,
          outcome: file.outcome.rawValue,
          deliveredAt: Timestamp.rfc3339(clock()), runID: runID)
        do { try store.recordDelivery(entry) } catch {
          logger.error("cannot journal \(file.fileName): \(error)")
        }
      }
    }
    do {
      let sent = try await destination.deliver(set, resend: resend, logger: logger)
      record(sent)
      outcome.sent = sent
      logger.info("delivered", metadata: ["destination": "\(name)", "files": .stringConvertible(sent.count)])
    } catch {
      record(error.completed)
      outcome.sent = error.completed
      outcome.status = .failed
      outcome.error = error
      logger.error("\(error)")
    }
    return outcome
  }
}
