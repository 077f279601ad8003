import ArgumentParser
import EODCore
import EODOps
import EODState
import EODStatePostgres
import Foundation

/// `eod-extract breaks`: a firm's reconciliation breaks as the state store follows them.
struct Breaks: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "List a firm's reconciliation breaks: first seen, last seen, closed, age (see docs/reconciliation.md).",
    discussion: """
      Reads the state store that `reconcile --state` writes; never changes it.
      The age is in business days from the first date that reported the break to the last one.
      Exit codes: 0 listed (also when there are none), 2 no state store or not readable, 64 usage.
      """)

  @Option(help: "The state store.") var state: String
  @Option(help: "The firm.") var firm: String
  @Option(help: "Only this extract: positions, cash or transactions.") var extract: String?
  @Flag(help: "Only the open breaks (not closed).") var open = false
  @Option(help: "A holidays file (as calendar.holidays in the configuration) for the age in business days.")
  var calendar: String?
  @Flag(help: "One JSON object (firm_id, breaks) instead of a table.") var json = false

  func run() async throws {
    try await withExitCodes {
      var businessCalendar = BusinessCalendar.weekendsOnly
      if let calendar {
        do { businessCalendar = try BusinessCalendar.load(contentsOf: calendar) } catch {
          throw Failure(.nothingDone, "\(error)", cause: error)
        }
      }
      guard PostgresURL.isPostgres(state) || FileManager.default.fileExists(atPath: state) else {
        throw Failure(.nothingDone, "no state store at \(state)")
      }
      let store = try openStateForReading(state)
      let entries = try store.breaks(firm: firm, extract: extract, openOnly: open)
      func age(_ entry: BreakEntry) -> Int {
        guard let first = CivilDate(entry.firstSeen), let last = CivilDate(entry.lastSeen) else { return 0 }
        return businessCalendar.businessDays(from: first.adding(days: 1), through: last).count
      }
      if json {
        let list: [[String: Any]] = entries.map { entry in
          [
            "break_id": entry.id, "break_type": entry.type, "extract": entry.extract, "key": entry.key,
            "field": entry.field, "first_seen": entry.firstSeen, "last_seen": entry.lastSeen,
            "closed": entry.closed.map { $0 as Any } ?? NSNull(), "age_business_days": age(entry),
            "ours": entry.ours, "theirs": entry.theirs, "difference": entry.difference,
          ]
        }
        let data = try JSONSerialization.data(
          withJSONObject: ["firm_id": firm, "breaks": list] as [String: Any],
          options: [.sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: data, as: UTF8.self))
        return .success
      }
      if entries.isEmpty {
        print("no \(open ? "open " : "")breaks for \(firm) in \(state)")
        return .success
      }
      print("break_id\ttype\textract\tkey\tfield\tfirst_seen\tlast_seen\tclosed\tage")
      for entry in entries {
        print(
          [
            entry.id, entry.type, entry.extract, entry.key.joined(separator: " / "), entry.field,
            entry.firstSeen,
            entry.lastSeen, entry.closed ?? "open", String(age(entry)),
          ].joined(separator: "\t"))
      }
      return .success
    }
  }
}
