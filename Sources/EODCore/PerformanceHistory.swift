/// The reads of an account's earlier performance that its valuation needs, for one business date.
///
/// ``AccountValuation`` asks for them once per account (never per position), only for an account
/// shown on the date whose figures fit the history: the previous record first, then, for a day
/// with a return, the 1Y window start, the external flows since the flow origin and the baseline
/// value. The job reads them from its state store; a test or another program can answer from
/// memory:
///
/// ```swift
/// struct NoHistory: PerformanceHistory {
///   func previous(_ accountID: String) -> PerformanceRecord? { nil }
///   func windowStart(_ accountID: String, onOrBefore date: CivilDate) -> Performance.WindowStart? { nil }
///   func flows(_ accountID: String, after origin: CivilDate) -> [(date: CivilDate, flow: Money)] { [] }
///   func baselineValue(_ accountID: String, origin: CivilDate) -> Money? { nil }
/// }
/// ```
public protocol PerformanceHistory {
  /// What a read throws (`Never` for a history held in memory).
  associatedtype Failure: Error = Never

  /// The account's latest record before the business date, or nil when it has none (first seen).
  func previous(_ accountID: String) throws(Failure) -> PerformanceRecord?

  /// The growth since start as it stood in the account's latest record on or before `date` (the
  /// day a year before the business date), or nil when it has none there.
  func windowStart(_ accountID: String, onOrBefore date: CivilDate) throws(Failure) -> Performance
    .WindowStart?

  /// The account's non-zero external flows after `origin` and before the business date, in date
  /// order, for the money-weighted return.
  func flows(_ accountID: String, after origin: CivilDate) throws(Failure) -> [(date: CivilDate, flow: Money)]

  /// The account's value at `origin` when the record there is a baseline (first seen, opened
  /// earlier), else nil.
  func baselineValue(_ accountID: String, origin: CivilDate) throws(Failure) -> Money?
}
