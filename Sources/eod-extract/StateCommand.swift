import ArgumentParser
import EODOps
import EODPipeline
import EODState
import Foundation

/// `eod-extract state export|import`: moves a state store between backends (SQLite ⇄
/// PostgreSQL) through a JSON Lines file (docs/operations.md, "The state store in PostgreSQL").
struct State: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Move a state store between SQLite and PostgreSQL (export to a file, import from it).",
    subcommands: [Export.self, Import.self])

  struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Write every table of a state store to a JSON Lines file.",
      discussion: "eod-extract state export --state SQLITE_FILE_OR_URL --to FILE.jsonl")
    @Option(help: "The state store: a SQLite file or postgres://USER@HOST:PORT/DB.") var state: String
    @Option(help: "The file to write.") var to: String

    func run() async throws {
      try await withExitCodes {
        let store = try openStateForReading(state)
        let counts = try StateDump.export(store, to: to)
        print("exported \(Self.summary(counts)) to \(to)")
        return .success
      }
    }

    static func summary(_ counts: [String: Int]) -> String {
      StateDump.tables.map { "\(counts[$0.name] ?? 0) \($0.name)" }.joined(separator: ", ")
    }
  }

  struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Load a state export into a new, empty state store (one transaction).",
      discussion: """
        eod-extract state import --state SQLITE_FILE_OR_URL --from FILE.jsonl [--init-state]
        A PostgreSQL store must be migrated first (migrate-state); a SQLite file is created with --init-state.
        A store that already holds accounts or runs is refused (exit 2): stores are moved, never merged.
        """)
    @Option(help: "The state store: a SQLite file or postgres://USER@HOST:PORT/DB.") var state: String
    @Option(help: "The export file.") var from: String
    @Flag(help: "Create a missing SQLite state store.") var initState = false

    func run() async throws {
      try await withExitCodes {
        let (lock, store) = try StateAccess.openForWriting(state, create: initState, logger: makeLogger())
        defer { lock?.release() }
        let counts = try StateDump.load(from, into: store)
        print("imported \(Export.summary(counts)) into \(store.location)")
        return .success
      }
    }
  }
}
