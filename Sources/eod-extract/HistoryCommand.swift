import ArgumentParser
import EODCore
import EODRender
import EODState
import Foundation

struct History: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print an account's stored performance series, for checking a figure by hand.")

  @Option(help: "The state store.") var state: String
  @Option(help: "The account_id.") var account: String

  func run() async throws {
    try await withExitCodes {
      let store = try openStateForReading(state)
      let records = try store.allRecords(accountID: account)
      guard !records.isEmpty else {
        throw Failure(.nothingDone, "account \(account) has no history in \(state)")
      }
      print("date,kind,value,flow,flow_in,return_1d,index,performance_start_date")
      for record in records {
        let r =
          record.dailyReturn.flatMap { RatioFormat.fixed($0, places: 8) }
          ?? (record.undefinedReturn ? "undefined" : "")
        let index = RatioFormat.fixed(record.growthSinceStart, places: 10) ?? ""
        print(
          "\(record.date),\(record.kind.rawValue),\(record.value),\(record.flow),\(record.flowIn),\(r),\(index),\(record.kind == .baseline ? "" : record.startDate.description)"
        )
      }
      return .success
    }
  }
}
