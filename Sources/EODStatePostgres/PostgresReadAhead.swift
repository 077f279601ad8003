import EODCore
import EODState
import PostgresNIO

/// What ``PostgresStateStore/readAhead(accountIDs:date:)`` read for a batch of accounts: the
/// answers to the night's history reads of each (``StoreHistory`` in EODPipeline asks, per
/// account, its key, its record before the date, its 1Y window start, its flows since its flow
/// origin and its record there). Read in one statement per batch instead of three to five round
/// trips per account; the same rows the single reads would return (the contract tests run the
/// night both ways).
struct ReadAhead {
  struct Account {
    /// The record before the date (``PostgresStateStore/record(before:account:)``).
    var previous: PerformanceRecord?
    /// The window start on or before ``ReadAhead/windowDay``.
    var windowStart: Performance.WindowStart?
    /// The flow origin of the date's record: the previous record's, or the date (first seen).
    var origin: Int
    /// The record at ``origin``, if any.
    var atOrigin: PerformanceRecord?
    /// The flows from ``origin`` to before the date.
    var flows: [(date: CivilDate, flow: Money)]
  }

  let date: CivilDate
  /// The day of the 1Y window start (`Performance.oneYearWindowStart(for: date)`).
  let windowDay: CivilDate
  /// Every account asked for: its key, or nil when the store does not know it.
  var keys: [String: Int64?] = [:]
  var accounts: [Int64: Account] = [:]
}

extension PostgresStateStore {
  /// One statement for the batch: each account's key and `latest` row, and (laterals over the
  /// primary keys, one index probe each) the reads the single-account methods make when `latest`
  /// does not answer them: the record before the date, the window start, the record at the flow
  /// origin and the flows since it. The same bounds as those methods (an account's records are on
  /// or after its flow origin).
  static let readAheadSQL = """
    SELECT u.id, a.account_key, \(columns("l")), \(columns("p")), w.day, w.idx, w.zeros, o.day, \(columns("b")),
      fl.days, fl.amounts
    FROM unnest($1::text[]) AS u(id)
    JOIN accounts a ON a.account_id = u.id
    LEFT JOIN latest l ON l.account_key = a.account_key
    LEFT JOIN LATERAL (
      SELECT \(columns()) FROM history h
      WHERE l.day >= $2 AND h.account_key = a.account_key AND h.day < $2 AND h.day >= LEAST(l.origin_day, l.day)
      ORDER BY h.day DESC LIMIT 1) p ON true
    LEFT JOIN LATERAL (
      SELECT h.day, h.idx, h.zeros FROM history h
      WHERE l.day > $3 AND h.account_key = a.account_key AND h.day <= $3 AND h.day >= LEAST(l.origin_day, l.day)
      ORDER BY h.day DESC LIMIT 1) w ON true
    CROSS JOIN LATERAL (
      SELECT COALESCE(CASE WHEN l.day < $2 THEN l.origin_day ELSE p.origin_day END, $2)::bigint AS day) o
    LEFT JOIN LATERAL (
      SELECT \(columns()) FROM history h WHERE h.account_key = a.account_key AND h.day = o.day) b ON true
    LEFT JOIN LATERAL (
      SELECT array_agg(f.day ORDER BY f.day) AS days, array_agg(f.flow ORDER BY f.day) AS amounts
      FROM flows f WHERE f.account_key = a.account_key AND f.day >= o.day AND f.day < $2) fl ON true
    """

  /// Reads the batch (see ``StateStoring/readAhead(accountIDs:date:)``). A failure leaves
  /// nothing read ahead and is logged once, as a warning naming the error; the connection then
  /// reads one account at a time for the rest of its life (each read reports its own failure).
  public func readAhead(accountIDs: [String], date: CivilDate) {
    readAheadBatch = nil
    guard !accountIDs.isEmpty, !inTransaction, !readAheadFailed else { return }
    do {
      readAheadBatch = try readAheadRows(accountIDs: accountIDs, date: date)
    } catch {
      readAheadFailed = true
      logger.warning(
        "history not read ahead: this connection reads one account at a time from now on",
        metadata: ["step": "read history", "state_store": "\(location)", "error": "\(error.detail)"])
    }
  }

  private func readAheadRows(accountIDs: [String], date: CivilDate) throws(StateStoreError) -> ReadAhead {
    let step = "read history"
    let windowDay = Performance.oneYearWindowStart(for: date)
    var batch = ReadAhead(date: date, windowDay: windowDay)
    for id in accountIDs { batch.keys[id] = .some(nil) }
    let rows = try session.query(
      step, Self.readAheadSQL,
      [.texts(accountIDs), .int(Int64(date.dayNumber)), .int(Int64(windowDay.dayNumber))])
    let width = Self.recordNames.count
    for row in rows {
      let cells = Cells(row, session, step)
      let key = try cells.int(1)
      batch.keys[try cells.text(0)] = key
      let latest = try optionalRecord(cells, at: 2)
      let before = try optionalRecord(cells, at: 2 + width)
      let windowAt = 2 + 2 * width
      var previous: PerformanceRecord?
      var window: Performance.WindowStart?
      if let latest {
        previous = latest.date < date ? latest : before
        if latest.date <= windowDay {
          window = Performance.WindowStart(index: latest.index, zeroFactors: latest.zeroFactors)
        } else if try cells.value(windowAt, Int32?.self) != nil {
          window = Performance.WindowStart(
            index: try cells.real(windowAt + 1), zeroFactors: Int(try cells.value(windowAt + 2, Int32.self)))
        }
      }
      let origin = Int(try cells.int(windowAt + 3))
      let atOrigin = try optionalRecord(cells, at: windowAt + 4)
      let flowsAt = windowAt + 4 + width
      let days = try cells.value(flowsAt, [Int32]?.self) ?? []
      let amounts = try cells.value(flowsAt + 1, [Int64]?.self) ?? []
      guard days.count == amounts.count else {
        throw StateStoreError(
          code: .unavailable, path: location, step: step, detail: "flows of account \(key) read unevenly")
      }
      var flows: [(date: CivilDate, flow: Money)] = []
      flows.reserveCapacity(days.count)
      for (day, amount) in zip(days, amounts) {
        flows.append((CivilDate(dayNumber: Int(day)), Money(cents: amount)))
      }
      batch.accounts[key] = ReadAhead.Account(
        previous: previous, windowStart: window, origin: origin, atOrigin: atOrigin, flows: flows)
    }
    return batch
  }

  /// What the batch read for the account of `key`, and the batch, when it holds the account.
  func readAhead(_ key: Int64) -> (batch: ReadAhead, account: ReadAhead.Account)? {
    guard let batch = readAheadBatch, let account = batch.accounts[key] else { return nil }
    return (batch, account)
  }
}
