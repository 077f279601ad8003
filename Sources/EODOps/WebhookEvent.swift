import Foundation

/// An RFC 9457 problem details object, as sent in an `extract.failed` webhook.
public struct ProblemDetails: Sendable, Equatable, Codable {
  /// A URI identifying the problem type, e.g. `urn:eod-extract:problem:delivery-failed`.
  public var type: String
  /// A short summary of the problem type (the same for every occurrence).
  public var title: String
  /// The HTTP-like status code best describing the problem (e.g. 502 for a failed delivery).
  public var status: Int
  /// What happened this time, for a human.
  public var detail: String
  /// A URI for this occurrence, e.g. `urn:eod-extract:run:<run_id>:firm:<firm_id>`.
  public var instance: String
  /// Extension member: the run.
  public var runID: String
  /// Extension member: the firm.
  public var firmID: String

  enum CodingKeys: String, CodingKey {
    case type, title, status, detail, instance
    case runID = "run_id"
    case firmID = "firm_id"
  }

  /// Creates problem details. `instance` defaults to `urn:eod-extract:run:<run>:firm:<firm>`.
  public init(
    type: String, title: String, status: Int, detail: String, instance: String? = nil,
    runID: String, firmID: String
  ) {
    self.type = type
    self.title = title
    self.status = status
    self.detail = detail
    self.instance = instance ?? "urn:eod-extract:run:\(runID):firm:\(firmID)"
    self.runID = runID
    self.firmID = firmID
  }

  /// The type URI for a problem code: `urn:eod-extract:problem:<code>`.
  public static func typeURI(code: String) -> String { "urn:eod-extract:problem:\(code)" }
}

/// Why a ``WebhookEvent`` could not be built.
public struct WebhookEventError: Error, CustomStringConvertible, Sendable {
  public var detail: String
  public init(detail: String) { self.detail = detail }
  public var description: String { "webhook event refused: \(detail)" }
}

/// A webhook event about one firm's delivery for one business date.
///
/// The body is a JSON object with, in this order: `id`, `type`, `occurred_at`, `firm_id`,
/// `business_date`, `run_id`, then `manifest` (the complete manifest, verbatim) for
/// `extract.delivered`, `problem` (RFC 9457 problem details) for `extract.failed`, `recon`
/// (the reconciliation summary, `<firm>_recon_<extract>_<date>.json`, verbatim) for
/// `recon.completed`, or `night` (the night's summary, verbatim; no `firm_id`) for
/// `night.completed` and `night.incomplete`.
public struct WebhookEvent: Sendable {
  /// The event type.
  public enum Kind: String, Sendable, CaseIterable {
    case delivered = "extract.delivered"
    case failed = "extract.failed"
    case reconCompleted = "recon.completed"
    /// A sharded night's fan-in found every planned firm complete and delivered.
    case nightCompleted = "night.completed"
    /// A sharded night's fan-in found planned firms missing (named in the summary).
    case nightIncomplete = "night.incomplete"
  }

  /// What the event carries.
  public enum Payload: Sendable {
    /// The manifest JSON bytes, embedded verbatim.
    case manifest(Data)
    case problem(ProblemDetails)
    /// The reconciliation summary JSON bytes, embedded verbatim.
    case recon(Data)
    /// A sharded night's summary (`night-<date>.summary.json`) verbatim, and whether complete.
    case night(Data, complete: Bool)
  }

  /// A unique id for the event, sent as `Webhook-Id` and kept the same across retries.
  public var id: String
  public var kind: Kind {
    switch payload {
    case .manifest: .delivered
    case .problem: .failed
    case .recon: .reconCompleted
    case .night(_, let complete): complete ? .nightCompleted : .nightIncomplete
    }
  }
  public var firmID: String
  /// `YYYY-MM-DD`.
  public var businessDate: String
  public var runID: String
  public var occurredAt: Date
  public var payload: Payload

  /// An `extract.delivered` event carrying the complete manifest.
  ///
  /// - Parameter manifestJSON: The manifest exactly as delivered; it must be a JSON object.
  public static func delivered(
    firmID: String, businessDate: String, runID: String, manifestJSON: Data,
    id: String = UUID().uuidString.lowercased(), occurredAt: Date = Date()
  ) throws(WebhookEventError) -> WebhookEvent {
    let parsed = try? JSONSerialization.jsonObject(with: manifestJSON, options: [])
    guard parsed is [String: Any] else {
      throw WebhookEventError(detail: "the manifest for firm \(firmID) is not a JSON object")
    }
    return WebhookEvent(
      id: id, firmID: firmID, businessDate: businessDate, runID: runID, occurredAt: occurredAt,
      payload: .manifest(manifestJSON))
  }

  /// An `extract.failed` event carrying problem details.
  public static func failed(
    firmID: String, businessDate: String, runID: String, problem: ProblemDetails,
    id: String = UUID().uuidString.lowercased(), occurredAt: Date = Date()
  ) -> WebhookEvent {
    WebhookEvent(
      id: id, firmID: firmID, businessDate: businessDate, runID: runID, occurredAt: occurredAt,
      payload: .problem(problem))
  }

  /// A `recon.completed` event carrying a reconciliation's summary (`eod-extract reconcile`).
  ///
  /// - Parameters:
  ///   - runID: the reconciliation's own id (a reconcile is not part of a job run).
  ///   - summaryJSON: the summary exactly as written; it must be a JSON object.
  public static func reconCompleted(
    firmID: String, businessDate: String, runID: String, summaryJSON: Data,
    id: String = UUID().uuidString.lowercased(), occurredAt: Date = Date()
  ) throws(WebhookEventError) -> WebhookEvent {
    let parsed = try? JSONSerialization.jsonObject(with: summaryJSON, options: [])
    guard parsed is [String: Any] else {
      throw WebhookEventError(detail: "the reconciliation summary for firm \(firmID) is not a JSON object")
    }
    return WebhookEvent(
      id: id, firmID: firmID, businessDate: businessDate, runID: runID, occurredAt: occurredAt,
      payload: .recon(summaryJSON))
  }

  /// A `night.completed` or `night.incomplete` event carrying a sharded night's summary
  /// (`eod-extract finalize`); its body has no `firm_id` (the night is every firm's).
  public static func night(
    businessDate: String, runID: String, summaryJSON: Data, complete: Bool,
    id: String = UUID().uuidString.lowercased(), occurredAt: Date = Date()
  ) throws(WebhookEventError) -> WebhookEvent {
    let parsed = try? JSONSerialization.jsonObject(with: summaryJSON, options: [])
    guard parsed is [String: Any] else {
      throw WebhookEventError(detail: "the night's summary for \(businessDate) is not a JSON object")
    }
    return WebhookEvent(
      id: id, firmID: "", businessDate: businessDate, runID: runID, occurredAt: occurredAt,
      payload: .night(summaryJSON, complete: complete))
  }

  /// The JSON body, byte-for-byte what is signed and sent.
  public func body() -> Data {
    var text = "{"
    text += "\"id\":\(JSONText.string(id)),"
    text += "\"type\":\(JSONText.string(kind.rawValue)),"
    text += "\"occurred_at\":\(JSONText.string(Timestamp.rfc3339(occurredAt, milliseconds: true))),"
    switch payload {
    case .night: break
    default: text += "\"firm_id\":\(JSONText.string(firmID)),"
    }
    text += "\"business_date\":\(JSONText.string(businessDate)),"
    text += "\"run_id\":\(JSONText.string(runID)),"
    var data = Data(text.utf8)
    switch payload {
    case .manifest(let manifest):
      data.append(contentsOf: Array("\"manifest\":".utf8))
      data.append(manifest)
    case .recon(let summary):
      data.append(contentsOf: Array("\"recon\":".utf8))
      data.append(summary)
    case .night(let summary, _):
      data.append(contentsOf: Array("\"night\":".utf8))
      data.append(summary)
    case .problem(let problem):
      var object = "\"problem\":{"
      object += "\"type\":\(JSONText.string(problem.type)),"
      object += "\"title\":\(JSONText.string(problem.title)),"
      object += "\"status\":\(problem.status),"
      object += "\"detail\":\(JSONText.string(problem.detail)),"
      object += "\"instance\":\(JSONText.string(problem.instance)),"
      object += "\"run_id\":\(JSONText.string(problem.runID)),"
      object += "\"firm_id\":\(JSONText.string(problem.firmID))}"
      data.append(contentsOf: Array(object.utf8))
    }
    data.append(UInt8(ascii: "}"))
    return data
  }
}

/// Small helpers to write JSON text deterministically.
enum JSONText {
  static func string(_ value: String) -> String {
    var out = "\""
    for scalar in value.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      default:
        if scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029 {
          out += String(format: "\\u%04x", scalar.value)
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    return out + "\""
  }
}
