import EODState
import EODStatePostgres
import Foundation
import PostgresTestServer
import Testing

/// The state store's backends, for tests parameterised over both: SQLite always, PostgreSQL when
/// the test harness could start one (`EOD_REQUIRE_POSTGRES=1` makes its absence a failure:
/// ``StateBackendAvailabilityTests``).
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
  case sqlite, postgres

  var testDescription: String { rawValue }

  /// The backends this machine can run.
  static var available: [Backend] {
    if PostgresTestServer.shared == nil {
      // Recorded in the test log: the PostgreSQL cases are not run here.
      print("note: PostgreSQL cases skipped: \(PostgresTestServer.startFailure)")
      return [.sqlite]
    }
    return [.sqlite, .postgres]
  }

  /// A new, empty store: a SQLite file in `scratch`, or a new PostgreSQL database, migrated.
  func open(_ name: String, scratch: String) throws -> any StateStoring {
    switch self {
    case .sqlite: return try StateStore(path: scratch + "/\(name).sqlite")
    case .postgres:
      let url = try Backend.postgresURL(name)
      _ = try PostgresStateStore.migrate(url: url, logger: Fixtures.logger)
      return try PostgresStateStore(url: url, logger: Fixtures.logger)
    }
  }

  /// The `--state` value of a new, empty store of this backend (migrated).
  func location(_ name: String, scratch: String) throws -> String {
    switch self {
    case .sqlite: return scratch + "/\(name).sqlite"
    case .postgres:
      let url = try Backend.postgresURL(name)
      _ = try PostgresStateStore.migrate(url: url, logger: Fixtures.logger)
      return url.description
    }
  }

  /// A new database on the test server (its password in this process's `PGPASSWORD`).
  static func postgresURL(_ name: String) throws -> PostgresURL {
    let server = try #require(PostgresTestServer.shared, "\(PostgresTestServer.startFailure)")
    return try PostgresURL(try server.database(name))
  }
}

@Suite struct StateBackendAvailabilityTests {
  @Test func postgresIsThereWhenRequired() {
    if PostgresTestServer.required {
      #expect(PostgresTestServer.shared != nil, "EOD_REQUIRE_POSTGRES=1: \(PostgresTestServer.startFailure)")
    }
  }
}
