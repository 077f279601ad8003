import Foundation

/// Why a set cannot be verified at all: no manifest, several, or one that cannot be read.
public struct VerifyError: Error, CustomStringConvertible, Sendable {
  public var path: String
  public var detail: String

  public init(path: String, detail: String) {
    self.path = path
    self.detail = detail
  }

  /// Shown safely (control and bidi characters escaped): the path and names come from the set.
  public var description: String { "\(VerifyReport.shown(path)): \(VerifyReport.shown(detail))" }
}

/// What a manifest (schema 1 or 1.1) says about one file of its set.
public struct ManifestEntry: Sendable, Equatable {
  public struct CurrencyFigures: Sendable, Equatable {
    public var total: String
    public var rows: Int
  }

  public var name: String
  public var extract: String
  public var template: String?
  public var format: String?
  public var compression: String?
  public var rows: Int
  public var bytes: Int
  public var sha256: String
  /// Column (field) name → exact total, as the manifest writes it.
  public var controlTotals: [String: String]
  /// Schema 1.1: per account currency, the total and rows; nil in a schema 1 manifest.
  public var byCurrency: [String: CurrencyFigures]?
  /// Schema 1.1: distinct accounts with rows.
  public var accounts: Int?
  /// Schema 1.1: the columns that identify a row.
  public var keyColumns: [String]?
}

/// A set's manifest, read from its JSON.
public struct SetManifest: Sendable {
  public var fileName: String
  public var firmID: String
  public var businessDate: String
  public var schemaVersion: String
  public var files: [ManifestEntry]

  /// The manifest schema versions this reader knows (every one the job has written).
  public static let supportedSchemas = ["1", "1.1"]

  /// Parses manifest JSON; every missing or mistyped field is an error naming it.
  public static func parse(_ data: Data, fileName: String) throws(VerifyError) -> SetManifest {
    func fail(_ detail: String) -> VerifyError { VerifyError(path: fileName, detail: detail) }
    let root: [String: Any]
    do {
      guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw fail("not a JSON object")
      }
      root = object
    } catch let error as VerifyError {
      throw error
    } catch {
      throw fail("not valid JSON (\(error.localizedDescription))")
    }
    func text(_ object: [String: Any], _ key: String, _ place: String) throws(VerifyError) -> String {
      guard let value = object[key] as? String else {
        throw fail("\(place)\(key) is missing or not a string")
      }
      return value
    }
    func integer(_ object: [String: Any], _ key: String, _ place: String) throws(VerifyError) -> Int {
      guard let value = object[key] as? Int, value >= 0
      else { throw fail("\(place)\(key) is missing or not a whole number") }
      return value
    }
    let schema = try text(root, "schema_version", "")
    guard supportedSchemas.contains(schema) else {
      throw fail(
        "schema_version \(schema) is not one this verifier knows (\(supportedSchemas.joined(separator: ", ")))"
      )
    }
    guard let rawFiles = root["files"] as? [Any] else { throw fail("files is missing or not a list") }
    var files: [ManifestEntry] = []
    for (index, raw) in rawFiles.enumerated() {
      let place = "files[\(index)]."
      guard let object = raw as? [String: Any] else { throw fail("files[\(index)] is not an object") }
      var totals: [String: String] = [:]
      if let rawTotals = object["control_totals"] {
        guard let dictionary = rawTotals as? [String: Any] else {
          throw fail("\(place)control_totals is not an object")
        }
        for (key, value) in dictionary {
          guard let string = value as? String else {
            throw fail("\(place)control_totals.\(key) is not a string")
          }
          totals[key] = string
        }
      }
      var byCurrency: [String: ManifestEntry.CurrencyFigures]?
      if let raw = object["control_totals_by_currency"] {
        guard let dictionary = raw as? [String: Any] else {
          throw fail("\(place)control_totals_by_currency is not an object")
        }
        var figures: [String: ManifestEntry.CurrencyFigures] = [:]
        for (currency, value) in dictionary {
          let where_ = "\(place)control_totals_by_currency.\(currency)."
          guard let entry = value as? [String: Any] else {
            throw fail("\(where_.dropLast()) is not an object")
          }
          let rows = try integer(entry, "rows", where_)
          guard let name = totals.keys.first, let total = entry[name] as? String else {
            throw fail("\(where_)\(totals.keys.first ?? "total") is missing or not a string")
          }
          figures[currency] = .init(total: total, rows: rows)
        }
        byCurrency = figures
      }
      var accounts: Int?
      if object["accounts"] != nil { accounts = try integer(object, "accounts", place) }
      var keyColumns: [String]?
      if let raw = object["key_columns"] {
        guard let list = raw as? [String] else { throw fail("\(place)key_columns is not a list of strings") }
        keyColumns = list
      }
      files.append(
        ManifestEntry(
          name: try text(object, "name", place), extract: try text(object, "extract", place),
          template: object["template"] as? String, format: object["format"] as? String,
          compression: object["compression"] as? String, rows: try integer(object, "rows", place),
          bytes: try integer(object, "bytes", place), sha256: try text(object, "sha256", place),
          controlTotals: totals, byCurrency: byCurrency, accounts: accounts, keyColumns: keyColumns))
    }
    return SetManifest(
      fileName: fileName, firmID: try text(root, "firm_id", ""),
      businessDate: try text(root, "business_date", ""),
      schemaVersion: schema, files: files)
  }
}
