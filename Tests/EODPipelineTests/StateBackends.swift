import EODState
import EODStatePostgres
import Foundation
import PostgresTestServer
import Testing

/// The state store's backends, for tests parameterised over both (a fixed list: nothing is started
/// while tests are listed). The PostgreSQL cases start the test server inside their body and are
/// skipped, recorded, when PostgreSQL 15 is not installed (`EOD_REQUIRE_POSTGRES=1` makes that a
/// failure: ``PostgresTestServer/started()``).
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
  case sqlite, postgres

  var testDescription: String { rawValue }

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

  /// Another connection to the store at `location` (a store's ``StateStoring/location``).
  func connect(_ location: String) throws -> any StateStoring {
    switch self {
    case .sqlite: return try StateStore(path: location)
    case .postgres: return try PostgresStateStore(url: PostgresURL(location), logger: Fixtures.logger)
    }
  }

  /// A new database on the test server (its password in this process's `PGPASSWORD`).
  static func postgresURL(_ name: String) throws -> PostgresURL {
    return try PostgresURL(try PostgresTestServer.started().database(name))
  }
}
