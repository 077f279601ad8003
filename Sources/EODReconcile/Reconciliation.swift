import Crypto
import EODCompression
import EODCore
import Foundation

/// Why a reconciliation could not be made (exit 2): the set, a file or the output folder.
public enum ReconcileError: Error, CustomStringConvertible {
  case manifest(path: String, reason: String)
  case unreadable(path: String, reason: String)
  case cannotWrite(path: String, reason: String)

  public var description: String {
    switch self {
    case .manifest(let path, let reason): return "manifest \(path): \(reason)"
    case .unreadable(let path, let reason): return "\(path): \(reason)"
    case .cannotWrite(let path, let reason): return "cannot write \(path): \(reason)"
    }
  }
}

public struct ReconcileRequest: Sendable {
  /// A delivered set: its folder, or its manifest file.
  public var oursSet: String
  public var theirsPath: String
  public var profile: ReconcileProfile
  /// The profile file's bytes, for its sha256 in the summary.
  public var profileBytes: [UInt8]
  public var outDirectory: String
  /// Rows held in memory per sorted run.
  public var runSize: Int
  /// Business days for a break's age.
  public var calendar: BusinessCalendar = .weekendsOnly

  public init(
    oursSet: String, theirsPath: String, profile: ReconcileProfile, profileBytes: [UInt8],
    outDirectory: String,
    runSize: Int = 100_000
  ) {
    self.oursSet = oursSet
    self.theirsPath = theirsPath
    self.profile = profile
    self.profileBytes = profileBytes
    self.outDirectory = outDirectory
    self.runSize = runSize
  }
}

public struct ReconcileResult: Sendable {
  public var firm: String
  public var businessDate: String
  public var counts: MatchCounts
  public var breaksPath: String
  public var summaryPath: String
  /// The summary as written (without its final line end), e.g. for the `recon.completed` webhook.
  public var summaryJSON: Data = Data()
  /// The breaks reported, by type and age in business days (after this reconciliation, the open
  /// breaks of the firm and extract).
  public var breakAges: [BreakType: [Int: Int]] = [:]
  public var totalBreaks: Int { counts.breaksByType.values.reduce(0, +) }

  /// The age buckets of the open-breaks metric, as (label, lowest age, highest age).
  public static let ageBuckets: [(label: String, from: Int, through: Int)] = [
    ("0", 0, 0), ("1", 1, 1), ("2-5", 2, 5), ("6-20", 6, 20), ("21+", 21, Int.max),
  ]

  /// The breaks reported by type and age bucket (every type and bucket, 0 included).
  public var breaksByTypeAndAgeBucket: [(type: BreakType, bucket: String, count: Int)] {
    var result: [(BreakType, String, Int)] = []
    for type in BreakType.allCases {
      let ages = breakAges[type] ?? [:]
      for bucket in Self.ageBuckets {
        let count = ages.filter { $0.key >= bucket.from && $0.key <= bucket.through }.values.reduce(0, +)
        result.append((type, bucket.label, count))
      }
    }
    return result
  }
}

/// Reconciles one of our extracts against a counterparty's file (see docs/reconciliation.md).
public enum Reconciler {
  /// - Parameter ledger: the break history (`--state`): gives each break's first-seen date and
  ///   records today's breaks. Without one, a break is first seen on the set's date (age 0).
  public static func run(_ request: ReconcileRequest, ledger: (any BreakLedger)? = nil) throws
    -> ReconcileResult
  {
    let profile = request.profile
    let set = try OurSet.locate(request.oursSet, extract: profile.extract)
    guard let businessDate = CivilDate(set.businessDate) else {
      throw ReconcileError.manifest(
        path: request.oursSet, reason: "business_date \(set.businessDate) is not YYYY-MM-DD")
    }
    let fm = FileManager.default
    var isDirectory: ObjCBool = false
    if !fm.fileExists(atPath: request.outDirectory, isDirectory: &isDirectory) {
      do {
        try fm.createDirectory(atPath: request.outDirectory, withIntermediateDirectories: true)
      } catch {
        throw ReconcileError.cannotWrite(path: request.outDirectory, reason: "cannot create the folder")
      }
    } else if !isDirectory.boolValue {
      throw ReconcileError.cannotWrite(path: request.outDirectory, reason: "not a folder")
    }
    let work = request.outDirectory + "/.reconcile-\(UUID().uuidString)"
    do {
      try fm.createDirectory(atPath: work, withIntermediateDirectories: false)
    } catch {
      throw ReconcileError.cannotWrite(path: work, reason: "cannot create the temporary folder")
    }
    defer { try? fm.removeItem(atPath: work) }

    let stem = "\(set.firm)_%@_\(profile.extract.rawValue)_\(set.compactDate)"
    let breaksPath = request.outDirectory + "/" + String(format: stem, "breaks") + ".csv"
    let summaryPath = request.outDirectory + "/" + String(format: stem, "recon") + ".json"
    let writer = try BreakWriter(
      path: work + "/breaks.csv", firm: set.firm, extract: profile.extract.rawValue, keys: profile.keys,
      sedolColumn: profile.sedolFallback, date: businessDate, calendar: request.calendar, ledger: ledger)

    // The isin -> sedol fallback (docs/reconciliation.md): rows without an isin, on either side,
    // are matched on their sedol in a second pass, with the rows of ours the first pass left
    // without a partner.
    let isinSlot = profile.sedolFallback ? profile.keys.firstIndex(of: "isin") : nil
    let sedolValue = profile.comparedFields.firstIndex(of: "sedol")
    /// The row keyed on its sedol in its isin's place (its isin kept after its values).
    func onSedol(_ row: KeyedRow) -> KeyedRow? {
      guard let isinSlot, let sedolValue, !row.values[sedolValue].isEmpty else { return nil }
      var moved = row
      moved.values.append(row.key[isinSlot])
      moved.key[isinSlot] = row.values[sedolValue]
      return moved
    }
    let ours = ExternalSorter(directory: work, name: "ours", runSize: request.runSize)
    let oursOnSedol = ExternalSorter(directory: work, name: "ours-sedol", runSize: request.runSize)
    let theirs = ExternalSorter(directory: work, name: "theirs", runSize: request.runSize)
    let theirsOnSedol = ExternalSorter(directory: work, name: "theirs-sedol", runSize: request.runSize)
    func route(_ main: ExternalSorter, _ other: ExternalSorter) -> (RowView) throws -> Void {
      { row in
        if let isinSlot, row.field(isinSlot).isEmpty, let moved = onSedol(row.keyedRow) {
          try other.add(moved)
        } else {
          try main.add(row)
        }
      }
    }
    // Ours is read (gunzip, parse, sort its runs) on a thread of its own while theirs is read on
    // this one: the two sides share nothing until the join.
    let addOurs = route(ours, oursOnSedol)
    let oursWork = Background {
      var totals = ControlTotals()
      try readOurs(set, profile: profile, add: addOurs, totals: &totals)
      return totals
    }
    var unparseable = 0
    var theirsTotals = ControlTotals()
    let totalFields = ControlTotals.fields(profile.extract)
    let theirsHasTotals =
      profile.columns.contains { $0.ours == totalFields.amount }
      && profile.columns.contains { $0.ours == totalFields.currency }
    let theirsSHA: String
    do {
      theirsSHA = try readTheirs(
        request.theirsPath, profile: profile, add: route(theirs, theirsOnSedol), totals: &theirsTotals,
        countTotals: theirsHasTotals
      ) { line, reason in
        unparseable += 1
        try writer.write(
          Break(type: .unparseableTheirs, key: [], theirLines: [line], detail: reason),
          idKey: ["line \(line)"])
      }
    } catch {
      _ = try? oursWork.wait()  // its files are in `work`, removed on the way out
      throw error
    }
    // Their last run is sorted and written, and their runs opened, while ours may still be read.
    let theirsSorted = Result { try theirs.sorted() }
    let oursTotals = try oursWork.wait()

    var join = MergeJoin(comparer: FieldComparer(profile: profile))
    if isinSlot != nil {
      join.divertMissingTheirs = { row in
        guard let moved = onSedol(row) else { return false }
        try oursOnSedol.add(moved)
        return true
      }
    }
    var oursRows = try ours.sorted()
    var theirsRows = try theirsSorted.get()
    try join.run(rows: &oursRows, &theirsRows) { item in
      try writer.write(item, idKey: item.key, sedol: "")
    }
    if let failure = oursRows.failure ?? theirsRows.failure { throw failure }
    var counts = join.counts
    if let isinSlot {
      var second = MergeJoin(comparer: FieldComparer(profile: profile))
      var oursMoved = try oursOnSedol.sorted()
      var theirsMoved = try theirsOnSedol.sorted()
      try second.run(rows: &oursMoved, &theirsMoved) { item in
        var shown = item.key
        let sedol = shown.isEmpty ? "" : shown[isinSlot]
        shown[isinSlot] = ""
        if let row = item.oursRow, let isin = row.values.last, !isin.isEmpty {
          // A row of ours with an isin that nothing of theirs matched: the break it has without the
          // fallback (same key, same id).
          shown[isinSlot] = isin
          try writer.write(item, key: shown, idKey: shown, sedol: "")
        } else {
          try writer.write(item, key: shown, idKey: shown + [sedol], sedol: sedol)
        }
      }
      if let failure = oursMoved.failure ?? theirsMoved.failure { throw failure }
      counts.add(second.counts)
    }
    if unparseable > 0 { counts.breaksByType[.unparseableTheirs] = unparseable }
    try writer.close()

    var byType: [String: Int] = [:]
    for type in BreakType.allCases { byType[type.rawValue] = counts.breaksByType[type] ?? 0 }
    let summary: [String: Any] = [
      "firm_id": set.firm,
      "business_date": set.businessDate,
      "extract": profile.extract.rawValue,
      "ours_file": set.fileName,
      "ours_manifest_sha256": set.manifestSHA256,
      "theirs_file": URL(fileURLWithPath: request.theirsPath).lastPathComponent,
      "theirs_sha256": theirsSHA,
      "profile_sha256": Hex.lowercase(SHA256.hash(data: request.profileBytes)),
      "match_keys": profile.keys,
      "compared_fields": profile.comparedFields,
      "rows_ours": counts.oursRows,
      "rows_theirs": counts.theirsRows,
      "matched_exactly": counts.matchedExactly,
      "matched_within_tolerance": counts.matchedWithinTolerance,
      "rows_with_field_mismatch": counts.rowsWithFieldMismatch,
      "breaks_by_type": byType,
      "breaks": counts.breaksByType.values.reduce(0, +),
      "control_totals": [
        "field": totalFields.amount, "by": totalFields.currency,
        "ours": oursTotals.available ? oursTotals.json : NSNull(),
        "theirs": theirsHasTotals ? theirsTotals.json : NSNull(),
      ] as [String: Any],
    ]
    let data: Data
    do {
      data = try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys])
    } catch {
      throw ReconcileError.cannotWrite(path: summaryPath, reason: "\(error)")
    }
    try install(work + "/breaks.csv", at: breaksPath)
    do {
      try (data + Data("\n".utf8)).write(to: URL(fileURLWithPath: work + "/recon.json"))
    } catch {
      throw ReconcileError.cannotWrite(path: summaryPath, reason: "\(error)")
    }
    try install(work + "/recon.json", at: summaryPath)
    return ReconcileResult(
      firm: set.firm, businessDate: set.businessDate, counts: counts, breaksPath: breaksPath,
      summaryPath: summaryPath, summaryJSON: data, breakAges: writer.ages)
  }

  /// The firm and business date of a delivered set (its manifest), for the extract.
  public static func identify(_ set: String, extract: ReconcileExtract) throws -> (
    firm: String, businessDate: String
  ) {
    let found = try OurSet.locate(set, extract: extract)
    return (found.firm, found.businessDate)
  }

  static func install(_ from: String, at path: String) throws {
    if rename(from, path) != 0 {
      throw ReconcileError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
    }
  }

  // MARK: Ours

  static func readOurs(
    _ set: OurSet, profile: ReconcileProfile, add: (RowView) throws -> Void, totals: inout ControlTotals
  ) throws {
    let totalFields = ControlTotals.fields(profile.extract)
    var totalIndexes: (amount: Int, currency: Int)?
    var parser = OurRecords(json: set.json, profile: profile)
    var header: [String]?
    var keyIndexes: [Int] = []
    var valueIndexes: [Int] = []
    var failure: (any Error)?
    let fields = profile.comparedFields
    let packed = ByteBuffer(capacity: 1024)
    func take(_ record: CSVRecordParser.Record) {
      guard failure == nil else { return }
      do {
        if let reason = record.malformed {
          throw ReconcileError.unreadable(path: set.filePath, reason: "line \(record.line): \(reason)")
        }
        guard let names = header else {
          let row = record.fields.map { String(decoding: $0, as: UTF8.self) }
          header = row
          for name in profile.keys + fields where !row.contains(name) {
            throw ReconcileError.unreadable(path: set.filePath, reason: "the header has no column \(name)")
          }
          keyIndexes = profile.keys.compactMap { row.firstIndex(of: $0) }
          valueIndexes = fields.compactMap { row.firstIndex(of: $0) }
          if let amount = row.firstIndex(of: totalFields.amount),
            let currency = row.firstIndex(of: totalFields.currency)
          {
            totalIndexes = (amount, currency)
          } else {
            totals.available = false
          }
          return
        }
        guard record.count == names.count else {
          throw ReconcileError.unreadable(
            path: set.filePath,
            reason: "line \(record.line) has \(record.count) fields where the header has \(names.count)")
        }
        try record.withFields { cells in
          if let totalIndexes {
            totals.add(currency: cells[totalIndexes.currency], amount: cells[totalIndexes.amount])
          }
          packed.removeAll()
          let start = packed.beginRow(
            line: record.line, keyCount: keyIndexes.count, valueCount: valueIndexes.count)
          for index in keyIndexes { packed.appendField(cells[index]) }
          for index in valueIndexes { packed.appendField(cells[index]) }
          packed.endRow(start)
          try add(packed.row(at: 0))
        }
      } catch {
        failure = error
      }
    }
    if set.gzip {
      do {
        try Gunzip.decompressFile(atPath: set.filePath) { chunk in parser.feed(chunk, take) }
      } catch {
        throw ReconcileError.unreadable(path: set.filePath, reason: "\(error)")
      }
    } else {
      try readChunks(set.filePath) { chunk in parser.feed(chunk, take) }
    }
    parser.finish(take)
    if let failure { throw failure }
    if header == nil { throw ReconcileError.unreadable(path: set.filePath, reason: "the file has no header") }
  }

  static func readChunks(_ path: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
    guard let handle = FileHandle(forReadingAtPath: path) else {
      throw ReconcileError.unreadable(path: path, reason: "cannot open the file (missing or not readable)")
    }
    defer { try? handle.close() }
    while true {
      let chunk: Data
      do {
        chunk = try handle.read(upToCount: 1 << 20) ?? Data()
      } catch {
        throw ReconcileError.unreadable(path: path, reason: "\(error)")
      }
      if chunk.isEmpty { return }
      try chunk.withUnsafeBytes { try body($0) }
    }
  }

  // MARK: Theirs

  /// Reads their file into `sorter`, calling `unparseable` with each row that cannot be read;
  /// returns the file's sha256.
  static func readTheirs(
    _ path: String, profile: ReconcileProfile, add: (RowView) throws -> Void,
    totals: inout ControlTotals, countTotals: Bool,
    unparseable: (Int, String) throws -> Void
  ) throws -> String {
    var parser = CSVRecordParser(delimiter: profile.delimiter, quote: profile.quote)
    let values = ValueReader(profile: profile)
    let fields = profile.comparedFields
    var indexes: [String: Int] = [:]
    var expectedCount: Int?
    var needed = 0
    let indicator = profile.signs.indicator
    var indicatorIndex: Int?
    /// A column of theirs read into a field of ours: where it is and what is done to it.
    struct Column {
      var index: Int
      var plan: ValueReader.Plan
    }
    var keyColumns: [Column] = []
    var valueColumns: [Column] = []
    var totalColumns: [Column] = []
    if !profile.header {
      for column in profile.columns { indexes[column.ours] = (Int(column.theirs) ?? 1) - 1 }
      if let indicator { indicatorIndex = (Int(indicator.column) ?? 1) - 1 }
      needed = max(indexes.values.max() ?? 0, indicatorIndex ?? 0) + 1
    }
    var failure: (any Error)?
    var hasher = SHA256()
    var first = true

    func decode<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String? { values.decode(bytes) }
    let packed = ByteBuffer(capacity: 1024)
    var scratch: [UInt8] = []

    func take(_ record: CSVRecordParser.Record) {
      guard failure == nil else { return }
      do {
        if profile.header, expectedCount == nil {
          if let reason = record.malformed {
            throw ReconcileError.unreadable(path: path, reason: "the header (line \(record.line)): \(reason)")
          }
          guard let names = record.fields.map(decode) as? [String] else {
            throw ReconcileError.unreadable(
              path: path, reason: "the header is not valid \(profile.encoding.rawValue)")
          }
          // The one column of the header named `name` (`role`: what the profile uses it for).
          func column(_ name: String, role: String) throws -> Int {
            let found = names.indices.filter { names[$0] == name }
            guard found.count == 1 else {
              throw ReconcileError.unreadable(
                path: path,
                reason: found.isEmpty
                  ? "the header has no column '\(name)' (\(role))"
                  : "the header has the column '\(name)' \(found.count) times")
            }
            return found[0]
          }
          for mapped in profile.columns {
            indexes[mapped.ours] = try column(mapped.theirs, role: "the profile maps it to \(mapped.ours)")
          }
          if let indicator {
            indicatorIndex = try column(indicator.column, role: "the profile's signs.indicator")
          }
          expectedCount = names.count
          return
        }
        if let reason = record.malformed {
          try unparseable(record.line, reason)
          return
        }
        if let expected = expectedCount, record.count != expected {
          try unparseable(
            record.line, "\(record.count) fields where the header has \(expected)")
          return
        }
        if record.count < needed {
          try unparseable(
            record.line, "\(record.count) fields where the profile reads column \(needed)")
          return
        }
        var negative = false
        func value(_ column: Column) throws(ValueReader.Unreadable) -> String {
          try values.canonical(bytes: record[column.index], plan: column.plan, indicatorNegative: negative)
        }
        if keyColumns.isEmpty {
          func columns(_ fields: [String]) -> [Column] {
            fields.compactMap { field in indexes[field].map { Column(index: $0, plan: values.plan(field)) } }
          }
          keyColumns = columns(profile.keys)
          valueColumns = columns(fields)
          let names = ControlTotals.fields(profile.extract)
          totalColumns = columns([names.currency, names.amount])
        }
        do {
          if let indicator, let indicatorIndex {
            guard let text = decode(record[indicatorIndex]) else {
              throw ValueReader.Unreadable(
                reason: "\(indicator.column) is not valid \(profile.encoding.rawValue)")
            }
            guard let sign = indicator.isNegative(text) else {
              throw ValueReader.Unreadable(
                reason:
                  "\(indicator.column) '\(text)' is neither negative (\(indicator.negative.joined(separator: ", "))) nor positive (\(indicator.positive.joined(separator: ", ")))"
              )
            }
            negative = sign
          }
          packed.removeAll()
          let start = packed.beginRow(
            line: record.line, keyCount: keyColumns.count, valueCount: valueColumns.count)
          try record.withFields { cells in
            for column in keyColumns where !column.plan.appendPlain(cells[column.index], to: packed, &scratch)
            {
              try values.append(
                cells[column.index], plan: column.plan, indicatorNegative: negative, to: packed, &scratch)
            }
            if packed.count - start == RowView.headerSize + 4 * keyColumns.count {
              throw ValueReader.Unreadable(reason: "the match key is empty")
            }
            for column in valueColumns
            where !column.plan.appendPlain(cells[column.index], to: packed, &scratch) {
              try values.append(
                cells[column.index], plan: column.plan, indicatorNegative: negative, to: packed, &scratch)
            }
          }
          packed.endRow(start)
          if countTotals, totalColumns.count == 2 {
            totals.add(currency: try value(totalColumns[0]), amount: try value(totalColumns[1]))
          }
        } catch let error as ValueReader.Unreadable {
          try unparseable(record.line, error.reason)
          return
        }
        try add(packed.row(at: 0))
      } catch {
        failure = error
      }
    }

    try readChunks(path) { chunk in
      hasher.update(bufferPointer: chunk)
      var bytes = chunk
      if first {
        first = false
        if profile.encoding != .latin1, bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
          bytes = UnsafeRawBufferPointer(rebasing: bytes[3...])
        }
      }
      parser.feed(bytes, take)
      if let failure { throw failure }
    }
    parser.finish(take)
    if let failure { throw failure }
    if profile.header, expectedCount == nil {
      throw ReconcileError.unreadable(path: path, reason: "the file is empty (the profile expects a header)")
    }
    return Hex.lowercase(hasher.finalize())
  }
}

/// A body run on a thread of its own; ``wait()`` gives its result. The body's captures are used
/// by that thread only until `wait()` returns; `result` is written once, before `done` is signalled.
/// `@unchecked Sendable`: `result` is read only after `wait()` has waited on `done`.
final class Background<T>: @unchecked Sendable {
  private let body: () throws -> T
  private var result: Result<T, any Error>?
  private let done = DispatchSemaphore(value: 0)

  init(_ body: @escaping () throws -> T) {
    self.body = body
    let thread = Thread { [self] in
      result = Result { try self.body() }
      done.signal()
    }
    thread.stackSize = 8 << 20
    thread.start()
  }

  func wait() throws -> T {
    done.wait()
    done.signal()
    guard let result else {
      throw ReconcileError.unreadable(path: "", reason: "a reading thread ended without a result")
    }
    return try result.get()
  }
}

/// Our side: the set's manifest and the extract's file it lists.
struct OurSet {
  var firm: String
  var businessDate: String
  var compactDate: String
  var fileName: String
  var filePath: String
  var gzip: Bool
  /// JSON Lines (`--format json`), else CSV.
  var json = false
  var manifestSHA256: String

  static func locate(_ set: String, extract: ReconcileExtract) throws -> OurSet {
    let fm = FileManager.default
    var isDirectory: ObjCBool = false
    guard fm.fileExists(atPath: set, isDirectory: &isDirectory) else {
      throw ReconcileError.manifest(path: set, reason: "no such folder or file")
    }
    var manifestPath = set
    var folder = URL(fileURLWithPath: set).deletingLastPathComponent().path
    if isDirectory.boolValue {
      folder = set
      let names = ((try? fm.contentsOfDirectory(atPath: set)) ?? []).filter {
        $0.contains("_manifest_") && $0.hasSuffix(".json")
      }.sorted()
      guard names.count == 1 else {
        throw ReconcileError.manifest(
          path: set,
          reason: names.isEmpty
            ? "the folder holds no <firm>_manifest_<date>.json"
            : "the folder holds several manifests (\(names.joined(separator: ", "))); pass the one to use")
      }
      manifestPath = set + "/" + names[0]
    }
    guard let bytes = fm.contents(atPath: manifestPath) else {
      throw ReconcileError.manifest(path: manifestPath, reason: "cannot read it")
    }
    guard let object = try? JSONSerialization.jsonObject(with: bytes) as? [String: Any] else {
      throw ReconcileError.manifest(path: manifestPath, reason: "not a JSON object")
    }
    guard let firm = object["firm_id"] as? String, let date = object["business_date"] as? String,
      let files = object["files"] as? [[String: Any]]
    else {
      throw ReconcileError.manifest(path: manifestPath, reason: "firm_id, business_date or files is missing")
    }
    guard let entry = files.first(where: { $0["extract"] as? String == extract.rawValue }),
      let name = entry["name"] as? String, !name.contains("/"), !name.hasPrefix(".")
    else {
      throw ReconcileError.manifest(path: manifestPath, reason: "lists no \(extract.rawValue) file")
    }
    let format = entry["format"] as? String ?? (name.contains(".json") ? "json" : "csv")
    guard format == "csv" || format == "json" else {
      throw ReconcileError.manifest(
        path: manifestPath, reason: "the \(extract.rawValue) file's format \(format) is neither csv nor json")
    }
    return OurSet(
      firm: firm, businessDate: date, compactDate: date.filter { $0 != "-" }, fileName: name,
      filePath: folder + "/" + name,
      gzip: (entry["compression"] as? String) == "gzip" || name.hasSuffix(".gz"), json: format == "json",
      manifestSHA256: Hex.lowercase(SHA256.hash(data: bytes)))
  }
}

/// Where breaks are remembered from day to day (the state store's `breaks`, with `--state`).
public protocol BreakLedger {
  /// The earliest business date (YYYY-MM-DD) before the reconciled one that reported the break.
  func firstSeen(before id: String) throws -> String?
  /// Records the break as reported on the reconciled date.
  func record(
    id: String, type: BreakType, key: [String], field: String, ours: String, theirs: String,
    difference: String
  ) throws
}

/// Writes the breaks CSV, one line a break, each with its stable id, first-seen date and age.
final class BreakWriter {
  let handle: FileHandle
  let firm: String
  let extract: String
  let keyCount: Int
  let sedolColumn: Bool
  let date: CivilDate
  let calendar: BusinessCalendar
  let ledger: (any BreakLedger)?
  var pending = ""
  /// Breaks written, by type and age in business days.
  var ages: [BreakType: [Int: Int]] = [:]

  init(
    path: String, firm: String, extract: String, keys: [String], sedolColumn: Bool = false, date: CivilDate,
    calendar: BusinessCalendar = .weekendsOnly, ledger: (any BreakLedger)? = nil
  ) throws {
    guard FileManager.default.createFile(atPath: path, contents: nil),
      let handle = FileHandle(forWritingAtPath: path)
    else { throw ReconcileError.cannotWrite(path: path, reason: "cannot create the file") }
    self.handle = handle
    self.firm = firm
    self.extract = extract
    keyCount = keys.count
    self.sedolColumn = sedolColumn
    self.date = date
    self.calendar = calendar
    self.ledger = ledger
    pending =
      (["break_id", "break_type"] + keys + (sedolColumn ? ["sedol"] : []) + [
        "field", "ours", "theirs", "difference", "their_lines", "detail", "first_seen", "age_business_days",
      ])
      .joined(separator: ",") + "\r\n"
  }

  /// A break's id: the first 16 hex digits of the sha256 of firm, extract, key, type and field.
  static func breakID(firm: String, extract: String, key: [String], type: BreakType, field: String) -> String
  {
    let text = ([firm, extract] + key + [type.rawValue, field]).joined(separator: "\u{1F}")
    return Hex.lowercase(SHA256.hash(data: Data(text.utf8)).prefix(8))
  }

  /// - Parameters:
  ///   - key: the key shown (default: the break's).
  ///   - sedol: with the `isin` -> `sedol` fallback, the `sedol` column's cell.
  func write(_ item: Break, key shownKey: [String]? = nil, idKey: [String], sedol: String = "") throws {
    let id = Self.breakID(firm: firm, extract: extract, key: idKey, type: item.type, field: item.field)
    let itemKey = shownKey ?? item.key
    var key = itemKey.isEmpty ? Array(repeating: "", count: keyCount) : itemKey
    let recordedKey = sedol.isEmpty ? key : key + [sedol]
    if sedolColumn { key.append(sedol) }
    var first = date
    if let ledger {
      if let earlier = try ledger.firstSeen(before: id), let parsed = CivilDate(earlier), parsed < date {
        first = parsed
      }
      try ledger.record(
        id: id, type: item.type, key: recordedKey, field: item.field, ours: item.ours, theirs: item.theirs,
        difference: item.difference)
    }
    let age = Self.age(from: first, to: date, calendar: calendar)
    ages[item.type, default: [:]][age, default: 0] += 1
    let cells =
      [id, item.type.rawValue] + key + [
        item.field, item.ours, item.theirs, item.difference,
        item.theirLines.map(String.init).joined(separator: " "),
        item.detail, first.description, String(age),
      ]
    pending += cells.map { csvField(Self.neutralised($0)) }.joined(separator: ",") + "\r\n"
    if pending.utf8.count >= 1 << 20 { try flush() }
  }

  /// Business days after `first` up to and including `date` (0 on the day it is first seen).
  static func age(from first: CivilDate, to date: CivilDate, calendar: BusinessCalendar) -> Int {
    calendar.businessDays(from: first.adding(days: 1), through: date).count
  }

  /// A cell a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or CR)
  /// gets a leading `'`, unless it is a plain decimal number (`-12.5` stays a number). Their values
  /// come from outside and the breaks file is opened by people.
  static func neutralised(_ cell: String) -> String {
    guard let first = cell.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first),
      ExactDecimal(cell) == nil
    else { return cell }
    return "'" + cell
  }

  func flush() throws {
    try handle.write(contentsOf: Data(pending.utf8))
    pending = ""
  }

  func close() throws {
    try flush()
    try handle.close()
  }
}
