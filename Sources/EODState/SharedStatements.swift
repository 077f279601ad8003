/// What both state-store backends (SQLite here, PostgreSQL in EODStatePostgres) do the same way,
/// written once: the statements of a break day's bookkeeping and the folding of `status` rows.

/// The statements that end a reconcile's day of breaks, in order, with `?` for the firm and the
/// extract (``numbered(_:)`` gives PostgreSQL's `$1`, `$2`): breaks no day mentions any more are
/// removed, then first and last seen are set from the days, then the closing date (the first
/// reconciled date after the last seen) and the last seen values.
public enum BreakLifecycleSQL {
  public static let afterDay: [String] = [
    """
    DELETE FROM breaks WHERE firm_id = ? AND extract = ?
      AND NOT EXISTS (SELECT 1 FROM break_days d WHERE d.break_id = breaks.break_id)
    """,
    """
    UPDATE breaks SET
      first_seen = (SELECT MIN(business_date) FROM break_days d WHERE d.break_id = breaks.break_id),
      last_seen = (SELECT MAX(business_date) FROM break_days d WHERE d.break_id = breaks.break_id)
    WHERE firm_id = ? AND extract = ?
    """,
    """
    UPDATE breaks SET
      closed = (SELECT MIN(business_date) FROM recon_runs r
        WHERE r.firm_id = breaks.firm_id AND r.extract = breaks.extract AND r.business_date > breaks.last_seen),
      ours = (SELECT ours FROM break_days d WHERE d.break_id = breaks.break_id AND d.business_date = breaks.last_seen),
      theirs = (SELECT theirs FROM break_days d
        WHERE d.break_id = breaks.break_id AND d.business_date = breaks.last_seen),
      difference = (SELECT difference FROM break_days d
        WHERE d.break_id = breaks.break_id AND d.business_date = breaks.last_seen)
    WHERE firm_id = ? AND extract = ?
    """,
  ]

  /// `sql` with its `?` placeholders numbered `$1`, `$2`, … (the statements here hold no `?`
  /// inside a string literal).
  public static func numbered(_ sql: String) -> String {
    var out = ""
    var next = 1
    for character in sql {
      if character == "?" {
        out += "$\(next)"
        next += 1
      } else {
        out.append(character)
      }
    }
    return out
  }
}

/// The rows of `eod-extract status` folded into one ``FirmStatus`` per firm, the same for both
/// backends: the last written date per firm, then its manifests' deliveries in time order (the
/// last one wins), then the failures in time order (the last one wins; a failure without a firm
/// is the whole run's).
public struct FirmStatusBook {
  private var firms: [String: FirmStatus] = [:]
  private var lastRun: FailureEntry?

  public init() {}

  private func entry(_ id: String) -> FirmStatus { firms[id] ?? FirmStatus(firmID: id) }

  public mutating func written(firmID: String, date: String, runID: String, completedAt: String) {
    var status = entry(firmID)
    status.lastWritten = (date, runID, completedAt)
    firms[firmID] = status
  }

  public mutating func delivered(
    firmID: String, date: String, runID: String, destination: String, deliveredAt: String
  ) {
    var status = entry(firmID)
    status.lastDelivered = (date, runID, destination, deliveredAt)
    firms[firmID] = status
  }

  public mutating func failed(_ failure: FailureEntry) {
    if failure.firmID.isEmpty {
      lastRun = failure
    } else {
      var status = entry(failure.firmID)
      status.lastFailure = failure
      firms[failure.firmID] = status
    }
  }

  /// Every firm in firm order, and the last whole-run failure.
  public var result: (firms: [FirmStatus], lastRunFailure: FailureEntry?) {
    (firms.keys.sorted().compactMap { firms[$0] }, lastRun)
  }
}
