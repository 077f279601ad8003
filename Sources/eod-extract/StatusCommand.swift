import ArgumentParser
import EODOps
import EODState
import EODStatePostgres
import Foundation

/// `eod-extract status`: per firm, what was last written and delivered and what failed last.
struct Status: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Per firm: the last business date delivered (and its run), and what failed last and when.")

  @Option(help: "The state store.") var state: String
  @Flag(help: "One JSON object (firms, last_run_failure) instead of lines for a person.")
  var json = false

  func run() async throws {
    try await withExitCodes {
      guard PostgresURL.isPostgres(state) || FileManager.default.fileExists(atPath: state) else {
        throw Failure(.nothingDone, "no state store at \(state)")
      }
      let store = try openStateForReading(state)
      let (firms, lastRun) = try store.firmStatuses()
      if json {
        print(Self.json(firms: firms, lastRun: lastRun))
        return .success
      }
      if firms.isEmpty { print("no firm has run yet in \(state)") }
      for firm in firms {
        var line = "\(firm.firmID):"
        if let delivered = firm.lastDelivered {
          line +=
            " delivered \(delivered.date) (run \(delivered.runID), \(delivered.deliveredAt) to \(delivered.destination))"
        } else {
          line += " never delivered"
        }
        if let written = firm.lastWritten, written.date != firm.lastDelivered?.date {
          line += "; last written \(written.date) (run \(written.runID))"
        }
        if let failure = firm.lastFailure {
          line +=
            "; last failure \(failure.failedAt): \(failure.step) of \(failure.businessDate) (run \(failure.runID)): \(failure.error)"
        }
        print(line)
      }
      if let lastRun {
        print(
          "last run that did nothing: \(lastRun.failedAt), exit \(lastRun.exitCode) (run \(lastRun.runID)): \(lastRun.error)"
        )
      }
      return .success
    }
  }

  static func json(firms: [FirmStatus], lastRun: FailureEntry?) -> String {
    func string(_ text: String?) -> Any { text.map { $0 as Any } ?? NSNull() }
    func failure(_ entry: FailureEntry?) -> Any {
      guard let entry else { return NSNull() }
      return [
        "business_date": entry.businessDate, "run_id": entry.runID, "step": entry.step, "error": entry.error,
        "failed_at": entry.failedAt, "exit_code": entry.exitCode,
      ] as [String: Any]
    }
    let list: [[String: Any]] = firms.map { firm in
      [
        "firm_id": firm.firmID,
        "last_delivered_date": string(firm.lastDelivered?.date),
        "last_delivered_run_id": string(firm.lastDelivered?.runID),
        "last_delivered_at": string(firm.lastDelivered?.deliveredAt),
        "last_delivered_destination": string(firm.lastDelivered?.destination),
        "last_written_date": string(firm.lastWritten?.date),
        "last_written_run_id": string(firm.lastWritten?.runID),
        "last_failure": failure(firm.lastFailure),
      ]
    }
    let object: [String: Any] = ["firms": list, "last_run_failure": failure(lastRun)]
    guard
      let data = try? JSONSerialization.data(
        withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    else { return "{}" }
    return String(decoding: data, as: UTF8.self)
  }
}
