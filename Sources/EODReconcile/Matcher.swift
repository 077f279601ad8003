import EODCore
import Foundation

/// One row of a side, reduced to what reconciliation needs: the match key, the compared values
/// (in ``ReconcileProfile/comparedFields`` order, canonical: decimals with '.', dates as
/// YYYY-MM-DD) and the line it came from.
public struct KeyedRow: Sendable, Equatable {
  public var key: [String]
  public var values: [String]
  public var line: Int
  public init(key: [String], values: [String], line: Int) {
    self.key = key
    self.values = values
    self.line = line
  }

  /// Key order: field by field, by the UTF-8 bytes (the same on both sides, whatever the locale).
  public static func keyPrecedes(_ a: [String], _ b: [String]) -> Bool {
    compare(a, b) < 0
  }

  /// -1, 0 or 1: the keys' order, part by part, by UTF-8 bytes (as the packed rows compare,
  /// ``RowView/compareKeys(_:_:)``).
  static func compare(_ a: [String], _ b: [String]) -> Int {
    let x = ByteBuffer(capacity: 256)
    let y = ByteBuffer(capacity: 256)
    x.append(row: KeyedRow(key: a, values: [], line: 0))
    y.append(row: KeyedRow(key: b, values: [], line: 0))
    return RowView.compareKeys(x.row(at: 0), y.row(at: 0))
  }

  public static func orderedBefore(_ a: KeyedRow, _ b: KeyedRow) -> Bool {
    let order = compare(a.key, b.key)
    if order != 0 { return order < 0 }
    return a.line < b.line
  }
}

public enum BreakType: String, Sendable, CaseIterable {
  case missingOurs = "MISSING_OURS"
  case missingTheirs = "MISSING_THEIRS"
  case duplicateKeyOurs = "DUPLICATE_KEY_OURS"
  case duplicateKeyTheirs = "DUPLICATE_KEY_THEIRS"
  case fieldMismatch = "FIELD_MISMATCH"
  case unparseableTheirs = "UNPARSEABLE_THEIRS"
}

public struct Break: Sendable, Equatable {
  public var type: BreakType
  public var key: [String]
  public var field: String = ""
  public var ours: String = ""
  public var theirs: String = ""
  public var difference: String = ""
  /// Their line(s) the break concerns, if any.
  public var theirLines: [Int] = []
  public var detail: String = ""
  /// For `MISSING_THEIRS`: the row of ours.
  public var oursRow: KeyedRow? = nil
}

public struct MatchCounts: Sendable, Equatable {
  public var oursRows = 0
  public var theirsRows = 0
  public var matchedExactly = 0
  public var matchedWithinTolerance = 0
  public var rowsWithFieldMismatch = 0
  public var breaksByType: [BreakType: Int] = [:]
  public init() {}

  /// Adds another pass's counts (the `isin` -> `sedol` fallback's).
  public mutating func add(_ other: MatchCounts) {
    oursRows += other.oursRows
    theirsRows += other.theirsRows
    matchedExactly += other.matchedExactly
    matchedWithinTolerance += other.matchedWithinTolerance
    rowsWithFieldMismatch += other.rowsWithFieldMismatch
    for (type, count) in other.breaksByType { breaksByType[type, default: 0] += count }
  }
}

/// Compares one row of ours with one of theirs, field by field.
public struct FieldComparer: Sendable {
  public let fields: [String]
  let kinds: [FieldKind]
  let tolerances: [Tolerance?]

  public init(profile: ReconcileProfile) {
    fields = profile.comparedFields
    kinds = fields.map { profile.extract.kind(of: $0) }
    tolerances = fields.map { profile.tolerances[$0] }
  }

  public enum Outcome: Equatable { case exact, withinTolerance, beyond }

  enum FieldOutcome { case same, within, beyond(difference: String) }

  /// One field's values: equal bytes match without parsing; numbers are compared exactly, other
  /// values as strings (canonically equivalent text matches).
  func compareField(_ index: Int, _ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> FieldOutcome {
    if RowView.sameBytes(a, b) { return .same }
    if kinds[index] == .decimal, let x = ExactDecimal.parse(a.assumingMemoryBound(to: UInt8.self)),
      let y = ExactDecimal.parse(b.assumingMemoryBound(to: UInt8.self))
    {
      if x == y { return .same }
      if let tolerance = tolerances[index], tolerance.holds(ours: x, theirs: y) { return .within }
      return .beyond(difference: x.subtracting(y).map { $0.normalized().description } ?? "")
    }
    return RowView.text(a) == RowView.text(b) ? .same : .beyond(difference: "")
  }

  /// The row's outcome and a ``Break`` per field beyond tolerance (`key` is made only for those).
  func compare(key: @autoclosure () -> [String], ours: RowView, theirs: RowView) -> (Outcome, [Break]) {
    var outcome = Outcome.exact
    var breaks: [Break] = []
    for index in fields.indices {
      let a = ours.value(index)
      let b = theirs.value(index)
      switch compareField(index, a, b) {
      case .same: continue
      case .within: if outcome == .exact { outcome = .withinTolerance }
      case .beyond(let difference):
        outcome = .beyond
        breaks.append(
          Break(
            type: .fieldMismatch, key: key(), field: fields[index], ours: RowView.text(a),
            theirs: RowView.text(b),
            difference: difference))
      }
    }
    return (outcome, breaks)
  }
}

/// Merge-joins two sequences of rows sorted by key (``KeyedRow/orderedBefore``), reporting the
/// breaks in key order. A key held by several rows of one side is a duplicate break and is not
/// compared field by field; a key only one side holds is a missing break.
public struct MergeJoin {
  let comparer: FieldComparer
  public private(set) var counts = MatchCounts()
  /// Offered each row of ours that has no partner (and no duplicate); when it returns true the
  /// row is taken elsewhere (the `isin` → `sedol` fallback) and neither counted nor reported here.
  public var divertMissingTheirs: ((KeyedRow) throws -> Bool)?

  public init(comparer: FieldComparer) { self.comparer = comparer }

  public mutating func run<A: IteratorProtocol<KeyedRow>, B: IteratorProtocol<KeyedRow>>(
    ours: inout A, theirs: inout B, emit: (Break) throws -> Void
  ) throws {
    var a = KeyedRowSource(ours)
    var b = KeyedRowSource(theirs)
    defer {
      ours = a.rows
      theirs = b.rows
    }
    try run(rows: &a, &b, emit: emit)
  }

  /// The join over rows in place: a row is copied only as the first of its key's group.
  mutating func run<A: RowSource, B: RowSource>(
    rows ours: inout A, _ theirs: inout B, emit: (Break) throws -> Void
  )
    throws
  {
    var nextOurs = try ours.nextRow()
    var nextTheirs = try theirs.nextRow()
    let groupOurs = Group()
    let groupTheirs = Group()
    while true {
      let order: Int
      switch (nextOurs, nextTheirs) {
      case (let a?, let b?): order = RowView.compareKeys(a, b)
      case (.some, nil): order = -1
      case (nil, .some): order = 1
      case (nil, nil): return
      }
      groupOurs.reset()
      groupTheirs.reset()
      if order <= 0, let first = nextOurs {
        groupOurs.add(first)
        nextOurs = try ours.nextRow()
        while let row = nextOurs, RowView.compareKeys(row, groupOurs.firstRow) == 0 {
          groupOurs.add(row)
          nextOurs = try ours.nextRow()
        }
      }
      if order >= 0, let first = nextTheirs {
        groupTheirs.add(first)
        nextTheirs = try theirs.nextRow()
        while let row = nextTheirs, RowView.compareKeys(row, groupTheirs.firstRow) == 0 {
          groupTheirs.add(row)
          nextTheirs = try theirs.nextRow()
        }
      }
      try join(groupOurs, groupTheirs, emit)
    }
  }

  mutating func record(_ item: Break, _ emit: (Break) throws -> Void) throws {
    counts.breaksByType[item.type, default: 0] += 1
    try emit(item)
  }

  /// The rows of one side with one key: a copy of the first kept, the others counted (memory
  /// stays bounded however many rows share a key); at most ``maxLines`` line numbers are kept.
  /// Reused from key to key.
  final class Group {
    static let maxLines = 20
    let first = ByteBuffer(capacity: 256)
    var count = 0
    /// The lines after the first.
    var moreLines: [Int] = []
    var isEmpty: Bool { count == 0 }
    /// The first row (only when not empty).
    var firstRow: RowView { first.row(at: 0) }
    var lines: [Int] { isEmpty ? [] : [firstRow.line] + moreLines }

    func reset() {
      count = 0
      first.removeAll()
      moreLines.removeAll(keepingCapacity: true)
    }

    func add(_ row: RowView) {
      count += 1
      if count == 1 {
        first.append(row.bytes)
      } else if moreLines.count < Self.maxLines - 1 {
        moreLines.append(row.line)
      }
    }
  }

  mutating func join(_ ours: Group, _ theirs: Group, _ emit: (Break) throws -> Void) throws {
    counts.oursRows += ours.count
    counts.theirsRows += theirs.count
    let keyRow = ours.isEmpty ? theirs.firstRow : ours.firstRow
    if ours.count > 1 {
      try record(
        Break(type: .duplicateKeyOurs, key: keyRow.key, detail: "\(ours.count) rows of ours have this key"),
        emit)
    }
    if theirs.count > 1 {
      try record(
        Break(
          type: .duplicateKeyTheirs, key: keyRow.key, theirLines: theirs.lines,
          detail: "\(theirs.count) rows of theirs have this key"), emit)
    }
    if ours.isEmpty {
      try record(Break(type: .missingOurs, key: keyRow.key, theirLines: theirs.lines), emit)
      return
    }
    if theirs.isEmpty {
      let row = ours.firstRow.keyedRow
      if ours.count == 1, let divert = divertMissingTheirs, try divert(row) {
        counts.oursRows -= 1
        return
      }
      try record(Break(type: .missingTheirs, key: row.key, oursRow: row), emit)
      return
    }
    guard ours.count == 1, theirs.count == 1 else { return }
    let other = theirs.firstRow
    let (outcome, breaks) = comparer.compare(key: keyRow.key, ours: ours.firstRow, theirs: other)
    switch outcome {
    case .exact: counts.matchedExactly += 1
    case .withinTolerance: counts.matchedWithinTolerance += 1
    case .beyond:
      counts.rowsWithFieldMismatch += 1
      for var item in breaks {
        item.theirLines = [other.line]
        try record(item, emit)
      }
    }
  }
}
