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

  /// -1, 0 or 1: the keys' order, part by part, by UTF-8 bytes.
  static func compare(_ a: [String], _ b: [String]) -> Int {
    for index in 0..<min(a.count, b.count) {
      let order = compareBytes(a[index], b[index])
      if order != 0 { return order }
    }
    return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
  }

  /// Two strings' UTF-8 bytes compared with memcmp (no per-character iteration).
  static func compareBytes(_ x: String, _ y: String) -> Int {
    let fast = x.utf8.withContiguousStorageIfAvailable { a in
      y.utf8.withContiguousStorageIfAvailable { b -> Int in
        let common = min(a.count, b.count)
        if common > 0, let p = a.baseAddress, let q = b.baseAddress {
          let order = memcmp(p, q, common)
          if order != 0 { return order < 0 ? -1 : 1 }
        }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
      }
    }
    if let fast = fast ?? nil { return fast }
    if x.utf8.elementsEqual(y.utf8) { return 0 }
    return x.utf8.lexicographicallyPrecedes(y.utf8) ? -1 : 1
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

  /// The row's outcome and a ``Break`` per field beyond tolerance.
  public func compare(key: [String], ours: [String], theirs: [String]) -> (Outcome, [Break]) {
    var outcome = Outcome.exact
    var breaks: [Break] = []
    for index in fields.indices {
      let a = ours[index]
      let b = theirs[index]
      if a == b { continue }
      if kinds[index] == .decimal, let x = ExactDecimal(a), let y = ExactDecimal(b) {
        if x == y { continue }
        if let tolerance = tolerances[index], tolerance.holds(ours: x, theirs: y) {
          if outcome == .exact { outcome = .withinTolerance }
          continue
        }
        outcome = .beyond
        let difference = x.subtracting(y).map { $0.normalized().description } ?? ""
        breaks.append(
          Break(
            type: .fieldMismatch, key: key, field: fields[index], ours: a, theirs: b, difference: difference))
        continue
      }
      outcome = .beyond
      breaks.append(Break(type: .fieldMismatch, key: key, field: fields[index], ours: a, theirs: b))
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
    var nextOurs = ours.next()
    var nextTheirs = theirs.next()
    while nextOurs != nil || nextTheirs != nil {
      let key: [String]
      switch (nextOurs, nextTheirs) {
      case (let a?, let b?): key = KeyedRow.keyPrecedes(b.key, a.key) ? b.key : a.key
      case (let a?, nil): key = a.key
      case (nil, let b?): key = b.key
      case (nil, nil): return
      }
      var groupOurs = Group()
      while let row = nextOurs, KeyedRow.compare(row.key, key) == 0 {
        groupOurs.add(row)
        nextOurs = ours.next()
      }
      var groupTheirs = Group()
      while let row = nextTheirs, KeyedRow.compare(row.key, key) == 0 {
        groupTheirs.add(row)
        nextTheirs = theirs.next()
      }
      try join(key: key, groupOurs, groupTheirs, emit)
    }
  }

  mutating func record(_ item: Break, _ emit: (Break) throws -> Void) throws {
    counts.breaksByType[item.type, default: 0] += 1
    try emit(item)
  }

  /// The rows of one side with one key: the first kept, the others counted (memory stays bounded
  /// however many rows share a key); at most ``maxLines`` line numbers are kept.
  struct Group {
    static let maxLines = 20
    var first: KeyedRow?
    var count = 0
    /// The lines after the first (an array is made only for a key held by several rows).
    var moreLines: [Int] = []
    var isEmpty: Bool { count == 0 }
    var lines: [Int] { first.map { [$0.line] + moreLines } ?? [] }
    mutating func add(_ row: KeyedRow) {
      count += 1
      if first == nil {
        first = row
      } else if moreLines.count < Self.maxLines - 1 {
        moreLines.append(row.line)
      }
    }
  }

  mutating func join(key: [String], _ ours: Group, _ theirs: Group, _ emit: (Break) throws -> Void)
    throws
  {
    counts.oursRows += ours.count
    counts.theirsRows += theirs.count
    if ours.count > 1 {
      try record(
        Break(type: .duplicateKeyOurs, key: key, detail: "\(ours.count) rows of ours have this key"), emit)
    }
    if theirs.count > 1 {
      try record(
        Break(
          type: .duplicateKeyTheirs, key: key, theirLines: theirs.lines,
          detail: "\(theirs.count) rows of theirs have this key"), emit)
    }
    if ours.isEmpty {
      try record(Break(type: .missingOurs, key: key, theirLines: theirs.lines), emit)
      return
    }
    if theirs.isEmpty {
      if ours.count == 1, let row = ours.first, let divert = divertMissingTheirs, try divert(row) {
        counts.oursRows -= 1
        return
      }
      try record(Break(type: .missingTheirs, key: key, oursRow: ours.first), emit)
      return
    }
    guard ours.count == 1, theirs.count == 1, let mine = ours.first, let other = theirs.first else { return }
    let (outcome, breaks) = comparer.compare(key: key, ours: mine.values, theirs: other.values)
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
