import EODOps
import Foundation
import Logging

/// A webhook the night sent for a firm, and how many endpoints took it.
public struct NightNotice: Sendable, Equatable {
  public enum Kind: String, Sendable {
    case delivered
    case extractFailed = "extract-failed"
    case deliveryFailed = "delivery-failed"
  }
  public var firmID: String
  public var kind: Kind
  public var endpoints: Int
  public var succeeded: Int
}

/// A stage of the night (docs/architecture.md): webhooks for each firm (delivered, with the manifest; or failed, with
/// problem details). A webhook that fails is logged; it changes nothing else.
enum Notify {
  static func run(
    _ webhooks: WebhookConfiguration?, report: RunReport, deliveries: [DeliveryOutcome], logger: Logger
  ) async -> [NightNotice] {
    guard let webhooks, !webhooks.endpoints.isEmpty else { return [] }
    var endpoints: [WebhookEndpoint] = []
    for item in webhooks.endpoints {
      do { endpoints.append(try item.endpoint()) } catch {
        logger.error("webhook endpoint \(item.url): \(error)")
      }
    }
    let sender = WebhookSender(
      policy: webhooks.policy.policy,
      transport: URLSessionWebhookTransport(addresses: webhooks.addresses))
    let byFirm = Dictionary(deliveries.map { ($0.firmID, $0) }, uniquingKeysWith: { $1 })
    var notices: [NightNotice] = []
    for firm in report.firms {
      let date = report.businessDate.description
      let event: WebhookEvent
      let problem: (String, String)? =
        firm.error.map { ("extract-failed", $0.description) }
        ?? byFirm[firm.firmID].flatMap {
          $0.status == .failed ? ("delivery-failed", $0.error?.description ?? "") : nil
        }
      let kind: NightNotice.Kind
      if let (code, detail) = problem {
        kind = code == "extract-failed" ? .extractFailed : .deliveryFailed
        event = WebhookEvent.failed(
          firmID: firm.firmID, businessDate: date, runID: report.runID,
          problem: ProblemDetails(
            type: ProblemDetails.typeURI(code: code),
            title: code == "extract-failed" ? "Extract failed" : "Delivery failed",
            status: 500, detail: detail, runID: report.runID, firmID: firm.firmID))
      } else if let manifest = firm.manifest {
        kind = .delivered
        do {
          event = try WebhookEvent.delivered(
            firmID: firm.firmID, businessDate: date, runID: report.runID, manifestJSON: Data(manifest.utf8))
        } catch {
          logger.error("webhook for \(firm.firmID): \(error)")
          continue
        }
      } else {
        continue
      }
      let outcomes = await sender.send(event, to: endpoints, logger: logger)
      for outcome in outcomes where !outcome.succeeded {
        logger.error(
          "webhook to \(outcome.endpoint) for \(firm.firmID) failed; delivery is unaffected: \(outcome.result)"
        )
      }
      notices.append(
        NightNotice(
          firmID: firm.firmID, kind: kind, endpoints: outcomes.count,
          succeeded: outcomes.filter(\.succeeded).count))
    }
    return notices
  }
}
