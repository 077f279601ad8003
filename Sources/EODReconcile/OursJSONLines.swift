import EODCompression
import EODRender
import EODVerify

extension Reconciler {
  /// Our extract written as JSON Lines (`--format json`): one flat object a row, its keys the
  /// fields' camelCase names (`accountExternalRef`), decimals as strings, `null` for an empty value
  /// (docs/extracts.md). Each object becomes the cells the CSV set of the same night holds: a
  /// string's text, a bare number as written, `null` empty; so the same night reconciles to the
  /// same breaks in either format. Read with `verify`'s strict reader (EODVerify), one line at a
  /// time; decimals stay text until they are compared (no floating point).
  static func readOursJSONLines(
    _ set: OurSet, profile: ReconcileProfile, add: (KeyedRow) throws -> Void, totals: inout ControlTotals
  ) throws {
    var reader = JSONLinesReader()
    let totalFields = ControlTotals.fields(profile.extract)
    let needed = profile.keys + profile.comparedFields + [totalFields.amount, totalFields.currency]
    /// Where each needed field is in an object, found in the first one: (field, its key, index).
    var layout: (count: Int, places: [String: (key: String, index: Int)])?
    var failure: (any Error)?
    func fail(_ line: Int, _ reason: String) {
      if failure == nil {
        failure = ReconcileError.unreadable(path: set.filePath, reason: "line \(line): \(reason)")
      }
    }
    func take(_ object: [(String, JSONScalar)], _ line: Int) {
      guard failure == nil else { return }
      if layout == nil {
        var places: [String: (key: String, index: Int)] = [:]
        for field in needed {
          // The standard templates' key is the camelCase name; a firm's renamed column keeps its header.
          for key in [Field.camelCase(field), field] {
            if let index = object.firstIndex(where: { $0.0 == key }) {
              places[field] = (key, index)
              break
            }
          }
        }
        for field in profile.keys + profile.comparedFields where places[field] == nil {
          return fail(line, "the row has no key \(Field.camelCase(field)) (\(field))")
        }
        if places[totalFields.amount] == nil || places[totalFields.currency] == nil {
          totals.available = false
        }
        layout = (object.count, places)
      }
      guard let layout else { return }
      /// The cell of `field`, checked to be under the same key as in the first row.
      func cell(_ field: String) -> String? {
        guard let place = layout.places[field], object.count == layout.count,
          object[place.index].0 == place.key
        else { return nil }
        return object[place.index].1.cell.map { String(decoding: $0, as: UTF8.self) } ?? ""
      }
      var key: [String] = []
      var values: [String] = []
      for field in profile.keys {
        guard let text = cell(field) else { return fail(line, "its keys are not those of the first row") }
        key.append(text)
      }
      for field in profile.comparedFields {
        guard let text = cell(field) else { return fail(line, "its keys are not those of the first row") }
        values.append(text)
      }
      if totals.available, let currency = cell(totalFields.currency), let amount = cell(totalFields.amount) {
        totals.add(currency: currency, amount: amount)
      }
      do { try add(KeyedRow(key: key, values: values, line: line)) } catch { failure = error }
    }
    if set.gzip {
      do {
        _ = try Gunzip.decompressFile(atPath: set.filePath) { chunk in reader.feed(chunk, take) }
      } catch {
        throw ReconcileError.unreadable(path: set.filePath, reason: "\(error)")
      }
    } else {
      try readChunks(set.filePath) { chunk in chunk.withUnsafeBytes { reader.feed($0, take) } }
    }
    reader.finish()
    if let failure { throw failure }
    if let error = reader.error { throw ReconcileError.unreadable(path: set.filePath, reason: error) }
  }
}
