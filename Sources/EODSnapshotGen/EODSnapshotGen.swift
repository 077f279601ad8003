import EODCore
import EODOps
import EODSQLite
import Foundation

/// What to generate: the size and shape of a series of end-of-day ledger snapshots.
///
/// The same options always give the same table contents.
public struct GeneratorOptions: Sendable, Hashable {
  /// Number of business days (Monday to Friday, less ``calendar``'s holidays), hence of snapshot files.
  public var days: Int
  /// The first calendar date, `YYYY-MM-DD`; the series starts on the first business day on or after it.
  public var start: String
  /// Number of firms, `FIRM001`….
  public var firms: Int
  /// Number of accounts, one client each (`AC00000001`, `CL00000001`, …), spread round-robin over firms.
  public var accounts: Int
  /// Number of ordinary instruments (`INS000001`…); `edge` adds three more.
  public var instruments: Int
  /// Mean number of positions an account starts with (a count, so a `Double` is fine).
  public var positions: Double
  /// Share of open accounts (0…1) that book one transaction on a given day.
  public var activity: Double
  /// Seed of the pseudo-random generator.
  public var seed: UInt64
  /// Adds the awkward cases a real ledger has (see docs/snapshot-format.md).
  public var edge: Bool
  /// The business days: weekends only by default; with holidays, no snapshot is made for them
  /// (and settlement dates step over them).
  public var calendar: BusinessCalendar = .weekendsOnly

  /// Options with the generator's defaults: 5 days from 2026-10-01, 3 firms, 300 accounts,
  /// 400 instruments, 6 positions per account, activity 0.15, seed 1, no edge cases.
  public init(
    days: Int = 5, start: String = "2026-10-01", firms: Int = 3, accounts: Int = 300,
    instruments: Int = 400, positions: Double = 6, activity: Double = 0.15, seed: UInt64 = 1,
    edge: Bool = false
  ) {
    self.days = days
    self.start = start
    self.firms = firms
    self.accounts = accounts
    self.instruments = instruments
    self.positions = positions
    self.activity = activity
    self.seed = seed
    self.edge = edge
  }
}

/// Why snapshot generation failed: what, where and why.
public struct GeneratorError: Error, CustomStringConvertible, Sendable {
  /// The kind of failure.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    /// A stable name for the kind of failure, kebab-case like every error code of the job.
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// An option is out of range or malformed; nothing was written.
    public static let invalidOptions = Code("invalid-options")
    /// The output directory or a file in it could not be created, removed or renamed.
    public static let fileSystem = Code("file-system")
    /// SQLite refused a statement while writing a snapshot.
    public static let database = Code("database")
  }

  /// The kind of failure.
  public var code: Code
  /// What went wrong, in words.
  public var message: String
  /// The file or directory concerned, when there is one.
  public var path: String?
  /// The SQLite error behind a ``Code/database`` failure.
  public var underlying: SQLiteError?

  public init(code: Code, message: String, path: String? = nil, underlying: SQLiteError? = nil) {
    self.code = code
    self.message = message
    self.path = path
    self.underlying = underlying
  }

  public var description: String {
    var text = "snapshot generator (\(code)): \(message)"
    if let path { text += " [\(path)]" }
    if let underlying { text += ": \(underlying)" }
    return text
  }
}

/// Generates a deterministic series of end-of-day ledger snapshots, schema version 1.
///
/// Each business day becomes one SQLite file, `ledger-YYYY-MM-DD.sqlite`, consistent from day to
/// day: positions move with the day's trades and transfers, cash with every money movement that
/// is not cancelled. Every decimal is exact (scaled integers, rounded half to even).
public enum SnapshotGenerator {
  /// The file name of the snapshot for `date` (`YYYY-MM-DD`): `ledger-YYYY-MM-DD.sqlite`.
  public static func fileName(for date: String) -> String { "ledger-\(date).sqlite" }

  /// The business dates (`YYYY-MM-DD`, Monday to Friday) a generation with `options` covers.
  public static func businessDates(_ options: GeneratorOptions) throws(GeneratorError) -> [String] {
    let start = try validate(options)
    var dates: [String] = []
    var day = start
    while dates.count < options.days {
      if options.calendar.isBusinessDay(day) { dates.append(day.description) }
      day = day.adding(days: 1)
    }
    return dates
  }

  /// Writes one snapshot per business day into `directory` (created if missing), replacing any
  /// file of the same name. Each file is written under a temporary name and renamed when complete.
  ///
  /// - Parameters:
  ///   - directory: The output directory.
  ///   - options: What to generate.
  ///   - progress: Called with a one-line summary after each file is written.
  /// - Returns: The paths written, in date order.
  @discardableResult
  public static func generate(
    into directory: String, options: GeneratorOptions, progress: ((String) -> Void)? = nil
  ) throws(GeneratorError) -> [String] {
    let start = try validate(options)
    do {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
      throw GeneratorError(
        code: .fileSystem, message: "cannot create the output directory: \(SystemErrorText.reason(error))",
        path: directory)
    }
    var world = World(options: options, start: start)
    var paths: [String] = []
    for index in world.days.indices {
      let day = world.days[index]
      let transactions = world.step(dayIndex: index)
      let path = (directory as NSString).appendingPathComponent(fileName(for: day.description))
      let counts = try SnapshotWriter.write(world: world, day: day, transactions: transactions, to: path)
      paths.append(path)
      progress?(
        "\(fileName(for: day.description)): \(counts.accounts) accounts, \(counts.positions) positions, "
          + "\(counts.transactions) transactions")
    }
    return paths
  }

  static func validate(_ options: GeneratorOptions) throws(GeneratorError) -> CivilDate {
    func invalid(_ message: String) -> GeneratorError {
      GeneratorError(code: .invalidOptions, message: message)
    }
    guard let start = CivilDate(options.start) else {
      throw invalid("start '\(options.start)' is not a date in YYYY-MM-DD form")
    }
    guard options.days >= 1 else { throw invalid("days must be at least 1, not \(options.days)") }
    guard options.firms >= 1 && options.firms <= 999 else {
      throw invalid("firms must be 1…999, not \(options.firms)")
    }
    guard options.accounts >= 0 && options.accounts <= 99_999_999 else {
      throw invalid("accounts must be 0…99999999, not \(options.accounts)")
    }
    guard options.instruments >= 1 && options.instruments <= 999_999 else {
      throw invalid("instruments must be 1…999999, not \(options.instruments)")
    }
    guard options.positions.isFinite && options.positions >= 0 && options.positions <= 10_000 else {
      throw invalid("positions must be a mean of 0…10000, not \(options.positions)")
    }
    guard options.activity.isFinite && options.activity >= 0 && options.activity <= 1 else {
      throw invalid("activity must be a share of 0…1, not \(options.activity)")
    }
    return start
  }
}
