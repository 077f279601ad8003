import ArgumentParser
import EODState
import Foundation

struct Deliveries: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List what was delivered: where, when, with which hash.")

  @Option(help: "The state store.") var state: String
  @Option(help: "Only this firm.") var firm: String?
  @Option(help: "Only this business date, YYYY-MM-DD.") var date: String?

  func run() async throws {
    try await withExitCodes {
      let store = try openStateForReading(state)
      print(
        "firm_id,business_date,destination,file_name,remote_path,sha256,attempts,outcome,delivered_at,run_id")
      for entry in try store.journal(firmID: firm, businessDate: date, destination: nil) {
        print(
          [
            entry.firmID, entry.businessDate, entry.destination, entry.fileName, entry.remotePath,
            entry.sha256,
            String(entry.attempts), entry.outcome, entry.deliveredAt, entry.runID,
          ].joined(separator: ","))
      }
      return .success
    }
  }
}
