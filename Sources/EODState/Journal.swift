import EODSQLite

/// One line of the delivery journal.
public struct JournalEntry: Sendable, Equatable {
  public var firmID: String
  public var businessDate: String
  public var destination: String
  public var fileName: String
  public var sha256: String
  public var remotePath: String
  public var attempts: Int
  /// `delivered` or `alreadyPresent`.
  public var outcome: String
  public var deliveredAt: String
  public var runID: String

  public init(
    firmID: String, businessDate: String, destination: String, fileName: String, sha256: String,
    remotePath: String,
    attempts: Int, outcome: String, deliveredAt: String, runID: String
  ) {
    self.firmID = firmID
    self.businessDate = businessDate
    self.destination = destination
    self.fileName = fileName
    self.sha256 = sha256
    self.remotePath = remotePath
    self.attempts = attempts
    self.outcome = outcome
    self.deliveredAt = deliveredAt
    self.runID = runID
  }
}

extension StateStore {
  /// Records that a file is in place at a destination (replacing an earlier line for it).
  public func recordDelivery(_ entry: JournalEntry) throws(StateStoreError) {
    releaseReads()
    try wrap("write delivery journal") {
      try statement(
        """
        INSERT OR REPLACE INTO deliveries(firm_id, business_date, destination, file_name, sha256, remote_path,
          attempts, outcome, delivered_at, run_id) VALUES (?,?,?,?,?,?,?,?,?,?)
        """
      ).run([
        .text(entry.firmID), .text(entry.businessDate), .text(entry.destination), .text(entry.fileName),
        .text(entry.sha256), .text(entry.remotePath), .integer(Int64(entry.attempts)), .text(entry.outcome),
        .text(entry.deliveredAt), .text(entry.runID),
      ])
    }
  }

  /// The journal, optionally for one firm and/or date, ordered by firm, date, destination, file.
  public func journal(firmID: String? = nil, businessDate: String? = nil, destination: String? = nil)
    throws(StateStoreError) -> [JournalEntry]
  {
    try wrap("read delivery journal") {
      let s = try db.prepare(
        """
        SELECT firm_id, business_date, destination, file_name, sha256, remote_path, attempts, outcome,
               delivered_at, run_id FROM deliveries
        WHERE (?1 IS NULL OR firm_id = ?1) AND (?2 IS NULL OR business_date = ?2) AND (?3 IS NULL OR destination = ?3)
        ORDER BY firm_id, business_date, destination, delivered_at, file_name
        """)
      try s.bind([
        firmID.map { .text($0) } ?? .null, businessDate.map { .text($0) } ?? .null,
        destination.map { .text($0) } ?? .null,
      ])
      var out: [JournalEntry] = []
      while try s.step() {
        out.append(
          JournalEntry(
            firmID: s.text(0) ?? "", businessDate: s.text(1) ?? "", destination: s.text(2) ?? "",
            fileName: s.text(3) ?? "", sha256: s.text(4) ?? "", remotePath: s.text(5) ?? "",
            attempts: Int(s.int64(6)), outcome: s.text(7) ?? "", deliveredAt: s.text(8) ?? "",
            runID: s.text(9) ?? ""))
      }
      return out
    }
  }
}
