import EODRender
import EODVerify

/// Our extract's records, as the CSV parser gives them, from the set's CSV file or from its JSON
/// Lines file (`--format json`), so that both are read by the same code (`readOurs`).
///
/// JSON Lines: one flat object a line, its keys the fields' camelCase names (`accountExternalRef`),
/// decimals as strings, `null` for an empty value (docs/extracts.md). The first object's keys,
/// named back as our fields (`account_external_ref`; a key that is no field's camelCase name, as a
/// firm template's renamed column, is kept as it is), make the header record; each object makes
/// the record the CSV file holds for its row: a string's text (escapes decoded), a bare number as
/// written, `null` an empty field. Each line is parsed by `verify`'s strict reader (EODVerify);
/// a line that is not a flat object, or whose keys are not the first line's in the same order, is
/// a malformed record (the reconciliation stops there, naming the line).
struct OurRecords {
  private var csv = CSVRecordParser(delimiter: UInt8(ascii: ","), quote: UInt8(ascii: "\""))
  private var json: JSONLinesReader?
  /// For JSON Lines: a key → the field it names (the fields the profile reads).
  private let fieldOfKey: [String: String]
  /// For JSON Lines: the fields given as the header of a file with no line at all.
  private let emptyHeader: [String]
  /// The first object's keys.
  private var keys: [String]?
  private var objects = 0
  private var stopped = false

  init(json: Bool, profile: ReconcileProfile) {
    self.json = json ? JSONLinesReader() : nil
    let totals = ControlTotals.fields(profile.extract)
    emptyHeader = profile.keys + profile.comparedFields + [totals.amount, totals.currency]
    fieldOfKey = Dictionary(
      emptyHeader.map { (Field.camelCase($0), $0) }, uniquingKeysWith: { first, _ in first })
  }

  mutating func feed(_ bytes: UnsafeRawBufferPointer, _ emit: (CSVRecordParser.Record) -> Void) {
    guard var reader = json else { return csv.feed(bytes, emit) }
    json = nil  // out while it reads (`take` updates the rest of self); its buffer held once
    reader.feed(bytes) { object, line in take(object, line, emit) }
    stopIfFailed(reader, emit)
    json = reader
  }

  mutating func feed(_ bytes: [UInt8], _ emit: (CSVRecordParser.Record) -> Void) {
    bytes.withUnsafeBytes { feed($0, emit) }
  }

  mutating func finish(_ emit: (CSVRecordParser.Record) -> Void) {
    guard var reader = json else { return csv.finish(emit) }
    reader.finish()
    stopIfFailed(reader, emit)
    if keys == nil && !stopped {
      // No line at all: a firm without rows. The header names the fields read, so none is missing.
      emit(Self.record(emptyHeader.map { Array($0.utf8) }, line: 1))
    }
  }

  private mutating func take(
    _ object: [(String, JSONScalar)], _ line: Int, _ emit: (CSVRecordParser.Record) -> Void
  ) {
    guard !stopped else { return }
    objects += 1
    guard let keys else {
      let names = object.map(\.0)
      keys = names
      emit(Self.record(names.map { Array((fieldOfKey[$0] ?? $0).utf8) }, line: line))
      return emitRow(object, line, emit)
    }
    guard object.count == keys.count, zip(object, keys).allSatisfy({ $0.0 == $1 }) else {
      stopped = true
      var record = Self.record([], line: line)
      record.malformed = "its keys are not those of line 1 (\(keys.joined(separator: ", ")))"
      return emit(record)
    }
    emitRow(object, line, emit)
  }

  private func emitRow(
    _ object: [(String, JSONScalar)], _ line: Int, _ emit: (CSVRecordParser.Record) -> Void
  ) {
    emit(Self.record(object.map { $0.1.cell ?? [] }, line: line))
  }

  /// The reader's first problem, once, as a malformed record on the line it stopped at (every
  /// line before it was an object).
  private mutating func stopIfFailed(_ reader: JSONLinesReader, _ emit: (CSVRecordParser.Record) -> Void) {
    guard !stopped, let error = reader.error else { return }
    stopped = true
    let line = objects + 1
    var record = Self.record([], line: line)
    let prefix = "line \(line): "
    record.malformed = error.hasPrefix(prefix) ? String(error.dropFirst(prefix.count)) : error
    emit(record)
  }

  private static func record(_ fields: [[UInt8]], line: Int) -> CSVRecordParser.Record {
    var bytes: [UInt8] = []
    var ends: [Int] = []
    ends.reserveCapacity(fields.count)
    for field in fields {
      bytes.append(contentsOf: field)
      ends.append(bytes.count)
    }
    return CSVRecordParser.Record(bytes: bytes, ends: ends, line: line, malformed: nil)
  }
}
