import EODState
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// A value bound to a statement's `$n`.
enum SQLValue {
  case int(Int64)
  case text(String)
  case real(Double)
  case optionalReal(Double?)
  case bool(Bool)
  case texts([String])
  case ints([Int64])
  case reals([Double])
  case bools([Bool])
  case null
}

/// One PostgreSQL connection, used by one thread at a time, with blocking calls: the pipeline is
/// thread-based, so each call sends its statement on the connection's event loop (a NIO thread)
/// and waits for the answer on the caller's thread, never on the event loop (docs/threading.md).
/// The one place where PostgresNIO's errors become ``StateStoreError``s.
final class PostgresSession {
  let url: PostgresURL
  let connection: PostgresConnection
  let logger: Logger
  /// Statements sent (a measure of round trips, for the benchmark's log line).
  private(set) var statements = 0

  /// Connects (password from ``PostgresURL/password(environment:)``), naming the connection
  /// `application_name` so a lock's holder can be seen in `pg_stat_activity`.
  init(url: PostgresURL, applicationName: String, logger: Logger) throws(StateStoreError) {
    self.url = url
    self.logger = logger
    var configuration = PostgresConnection.Configuration(
      host: url.host, port: url.port, username: url.user, password: url.password(), database: url.database,
      tls: .disable)
    configuration.options.connectTimeout = .seconds(10)
    configuration.options.additionalStartupParameters = [("application_name", applicationName)]
    do {
      connection = try PostgresConnection.connect(
        on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration, id: 1, logger: logger
      ).wait()
    } catch {
      throw PostgresSession.stateError(error, url: url, step: "connect")
    }
  }

  deinit { try? connection.close().wait() }

  /// Runs one statement and returns its rows.
  @discardableResult
  func query(_ step: String, _ sql: String, _ values: [SQLValue] = []) throws(StateStoreError)
    -> [PostgresRow]
  {
    try result(step, sql, values).rows
  }

  /// Runs one statement and returns its rows and command tag.
  func result(_ step: String, _ sql: String, _ values: [SQLValue] = []) throws(StateStoreError)
    -> PostgresQueryResult
  {
    var binds = PostgresBindings(capacity: values.count)
    for value in values {
      switch value {
      case .int(let number): binds.append(number)
      case .text(let text): binds.append(text)
      case .real(let number): binds.append(number)
      case .optionalReal(let number): binds.append(number)
      case .bool(let flag): binds.append(flag)
      case .texts(let texts): binds.append(texts)
      case .ints(let numbers): binds.append(numbers)
      case .reals(let numbers): binds.append(numbers)
      case .bools(let flags): binds.append(flags)
      case .null: binds.appendNull()
      }
    }
    statements += 1
    do {
      return try connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).wait()
    } catch {
      throw PostgresSession.stateError(error, url: url, step: step)
    }
  }

  /// What PostgreSQL said (its message and SQLSTATE), or the connection's failure, in words.
  static func stateError(_ error: any Error, url: PostgresURL, step: String) -> StateStoreError {
    var detail: String
    if let error = error as? StateStoreError { return error }
    if let psql = error as? PSQLError {
      if let message = psql.serverInfo?[.message] {
        detail = message
        if let state = psql.serverInfo?[.sqlState] { detail += " (SQLSTATE \(state))" }
        if let more = psql.serverInfo?[.detail] { detail += ": \(more)" }
      } else if let underlying = psql.underlying {
        detail = "\(psql.code): \(underlying)"
      } else {
        detail = "\(psql.code)"
      }
    } else {
      detail = "\(error)"
    }
    return StateStoreError(
      code: .unavailable, path: url.description, step: step, detail: detail, cause: error)
  }
}

/// A row's cells by position, decoded through the session (errors name the step).
struct Cells {
  let row: PostgresRandomAccessRow
  let session: PostgresSession
  let step: String

  init(_ row: PostgresRow, _ session: PostgresSession, _ step: String) {
    self.row = row.makeRandomAccess()
    self.session = session
    self.step = step
  }

  func value<T: PostgresDecodable>(_ index: Int, _ type: T.Type) throws(StateStoreError) -> T {
    do {
      return try row[index].decode(T.self)
    } catch {
      throw PostgresSession.stateError(error, url: session.url, step: step)
    }
  }
  func int(_ index: Int) throws(StateStoreError) -> Int64 { try value(index, Int64.self) }
  func text(_ index: Int) throws(StateStoreError) -> String { try value(index, String.self) }
  func optionalText(_ index: Int) throws(StateStoreError) -> String? { try value(index, String?.self) }
  func real(_ index: Int) throws(StateStoreError) -> Double { try value(index, Double.self) }
  func optionalReal(_ index: Int) throws(StateStoreError) -> Double? { try value(index, Double?.self) }
}
