import EODState
import Foundation

/// Where a PostgreSQL state store is: `postgres://USER@HOST:PORT/DB` (or `postgresql://`). The
/// password never comes from the URL (a command line is visible to every user of the host): it
/// comes from `PGPASSWORD`, or from the password file libpq reads (`PGPASSFILE`, default
/// `~/.pgpass`, lines `host:port:database:user:password`, `*` matching anything).
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
  public var user: String
  public var host: String
  public var port: Int
  public var database: String

  /// Whether a `--state` value names PostgreSQL (anything else is a SQLite file path).
  public static func isPostgres(_ text: String) -> Bool {
    text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
  }

  /// The URL as given, without a password (there is none): what messages show.
  public var description: String { "postgres://\(user)@\(host):\(port)/\(database)" }

  public init(user: String, host: String, port: Int, database: String) {
    self.user = user
    self.host = host
    self.port = port
    self.database = database
  }

  /// Parses a `--state` URL; refuses a password in it, a missing user, host or database, and
  /// anything after the database (options go in the configuration, not the URL).
  public init(_ text: String) throws(StateStoreError) {
    func refuse(_ why: String) -> StateStoreError {
      let shown = text.contains("@") ? PostgresURL.withoutPassword(text) : text
      return StateStoreError(code: .badLocation, path: shown, step: "open", detail: why)
    }
    guard let scheme = text.range(of: "://"), PostgresURL.isPostgres(text) else {
      throw refuse("not a postgres:// URL")
    }
    let rest = text[scheme.upperBound...]
    guard let at = rest.lastIndex(of: "@") else {
      throw refuse("no user: give postgres://USER@HOST:PORT/DB")
    }
    let userPart = rest[..<at]
    if userPart.contains(":") {
      throw refuse(
        "a password in the URL is refused (it would be visible in the process list): "
          + "give it in PGPASSWORD or a password file (PGPASSFILE, default ~/.pgpass)")
    }
    guard !userPart.isEmpty, let user = String(userPart).removingPercentEncoding else {
      throw refuse("no user: give postgres://USER@HOST:PORT/DB")
    }
    let afterUser = rest[rest.index(after: at)...]
    guard let slash = afterUser.firstIndex(of: "/") else {
      throw refuse("no database: give postgres://USER@HOST:PORT/DB")
    }
    let hostPort = afterUser[..<slash]
    let database = String(afterUser[afterUser.index(after: slash)...])
    guard !database.isEmpty, !database.contains("/"), !database.contains("?") else {
      throw refuse("the database name must follow the host and be the URL's last part (no options)")
    }
    var host = String(hostPort)
    var port = 5432
    if let colon = hostPort.lastIndex(of: ":") {
      host = String(hostPort[..<colon])
      guard let number = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(number) else {
        throw refuse("the port must be a number from 1 to 65535")
      }
      port = number
    }
    guard !host.isEmpty else { throw refuse("no host: give postgres://USER@HOST:PORT/DB") }
    self.init(user: user, host: host, port: port, database: database)
  }

  /// `text` with whatever sits between `://` and `@` cut to the user name.
  static func withoutPassword(_ text: String) -> String {
    guard let scheme = text.range(of: "://"), let at = text[scheme.upperBound...].lastIndex(of: "@") else {
      return text
    }
    let userPart = text[scheme.upperBound..<at]
    let user = userPart.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
    return String(text[..<scheme.upperBound]) + user + ":***" + String(text[at...])
  }

  /// The password: `PGPASSWORD`, else the first matching line of the password file; nil when
  /// neither gives one (a server that trusts the connection needs none).
  public func password(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
    if let password = environment["PGPASSWORD"], !password.isEmpty { return password }
    let file =
      environment["PGPASSFILE"]
      ?? (environment["HOME"].map { $0 + "/.pgpass" } ?? NSHomeDirectory() + "/.pgpass")
    guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
    for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
      let fields = PostgresURL.passwordFileFields(line)
      guard fields.count == 5 else { continue }
      let wanted = [host, String(port), database, user]
      if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
    }
    return nil
  }

  /// A password file line's fields: `:` separates, `\` escapes `:` and `\`.
  static func passwordFileFields(_ line: Substring) -> [String] {
    var fields: [String] = []
    var current = ""
    var escaped = false
    for character in line {
      if escaped {
        current.append(character)
        escaped = false
      } else if character == "\\" {
        escaped = true
      } else if character == ":" && fields.count < 4 {
        fields.append(current)
        current = ""
      } else {
        current.append(character)
      }
    }
    fields.append(current)
    return fields
  }
}
