import EODCore
import EODState

/// Reads history from the state store for one business date.
///
/// The account's store key is looked up once per account (an account's reads come together) and
/// not kept for the whole run: that would hold every account's key in memory.
final class StoreHistory: PerformanceHistory {
  typealias Failure = PipelineError
  let store: any StateStoring
  let firmID: String
  let date: CivilDate
  private var memo: (accountID: String, key: Int64?)?

  init(store: any StateStoring, firmID: String, date: CivilDate) {
    self.store = store
    self.firmID = firmID
    self.date = date
  }

  func key(_ accountID: String) throws(PipelineError) -> Int64? {
    if let memo, memo.accountID == accountID { return memo.key }
    do {
      let key = try store.existingAccountKey(accountID, remember: false)
      memo = (accountID, key)
      return key
    } catch {
      throw PipelineError(state: error)
    }
  }

  /// The key found for the account read last, if it is `accountID` and has one.
  func knownKey(_ accountID: String) -> Int64? {
    guard let memo, memo.accountID == accountID else { return nil }
    return memo.key
  }

  func previous(_ accountID: String) throws(PipelineError) -> PerformanceRecord? {
    // One read transaction for the firm's reads; the write transaction that follows ends it.
    do { try store.holdReads() } catch { throw PipelineError(state: error) }
    guard let key = try key(accountID) else { return nil }
    do { return try store.record(before: date, account: key) } catch { throw PipelineError(state: error) }
  }

  func windowStart(_ accountID: String, onOrBefore day: CivilDate) throws(PipelineError) -> Performance
    .WindowStart?
  {
    guard let key = try key(accountID) else { return nil }
    do { return try store.windowStart(onOrBefore: day, account: key) } catch {
      throw PipelineError(state: error)
    }
  }

  func flows(_ accountID: String, after origin: CivilDate) throws(PipelineError) -> [(
    date: CivilDate, flow: Money
  )] {
    guard let key = try key(accountID) else { return [] }
    do { return try store.flows(account: key, after: origin, before: date) } catch {
      throw PipelineError(state: error)
    }
  }

  func baselineValue(_ accountID: String, origin: CivilDate) throws(PipelineError) -> Money? {
    guard let key = try key(accountID) else { return nil }
    do {
      guard let record = try store.record(at: origin, account: key), record.kind == .baseline else {
        return nil
      }
      return record.value
    } catch {
      throw PipelineError(state: error)
    }
  }
}
