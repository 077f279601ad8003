import ArgumentParser
import EODOps
import EODState
import EODStatePostgres
import Foundation

/// `eod-extract migrate-state`: brings a PostgreSQL state store's schema to this binary's version
/// (each migration applied once, all in one transaction). A SQLite store needs none: it is
/// created and converted when opened.
struct MigrateState: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "migrate-state",
    abstract:
      "Create or upgrade a PostgreSQL state store's schema (run before the first night and after an upgrade).",
    discussion: """
      eod-extract migrate-state --state postgres://USER@HOST:PORT/DB
      The password comes from PGPASSWORD or the password file (PGPASSFILE, default ~/.pgpass), never the URL.
      Exit 0 when the schema is at this binary's version; 2 when the database cannot be reached or its schema
      is newer than this binary's (nothing is changed).
      """)

  @Option(help: "The PostgreSQL state store: postgres://USER@HOST:PORT/DB.") var state: String

  func run() async throws {
    try await withExitCodes {
      guard PostgresURL.isPostgres(state) else {
        throw Failure(
          .usage,
          "--state \(state): migrate-state is for a PostgreSQL store (postgres://USER@HOST:PORT/DB); "
            + "a SQLite store is created and converted by the job itself")
      }
      let (from, to) = try PostgresStateStore.migrate(url: try PostgresURL(state), logger: makeLogger())
      print(
        from == to
          ? "\(try PostgresURL(state)): schema already at version \(to)"
          : "\(try PostgresURL(state)): schema migrated from version \(from) to \(to)")
      return .success
    }
  }
}
