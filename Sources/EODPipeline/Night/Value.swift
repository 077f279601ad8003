import EODCore
import EODRender
import EODSnapshot

/// A stage of the night (docs/architecture.md), for each account of the snapshot pass: values it
/// (``AccountValuation``, in EODCore: positions, cash, flows, totals, findings, its performance
/// record), and keeps what its firm adds up: the data-quality findings, the files' control totals
/// and the performance record. ``RenderRows`` then writes its rows from the same valuation, and
/// ``ExtractFileWriter`` (CompressAndWrite.swift) compresses and writes them.
struct ValueAccount {
  let reference: ReferenceData
  let date: CivilDate

  /// Values `bundle` into `valuation` (filled in place: its arrays keep their memory from account
  /// to account) and `out`'s figures.
  ///
  /// - Parameters:
  ///   - reportClient: whether this account is the first to show its client (report its reference once).
  ///   - history: reads the account's previous record, 1Y window start and XIRR flows.
  ///   - out: emptied, then given the account's findings, control totals and record.
  func value(
    _ bundle: AccountBundle, reportClient: Bool, history: StoreHistory, valuation: inout AccountValuation,
    into out: inout AccountOutput
  ) throws(PipelineError) {
    out.reset()
    try valuation.revalue(
      account: bundle.account, positions: bundle.positions, cash: bundle.cash,
      transactions: bundle.transactions, reference: reference, date: date, history: history)
    // Read in place (not copied out of `valuation`), so no array or string of it is retained
    // again. A client's reference is reported with the first of its accounts the extracts show.
    if reportClient {
      out.issues.append(contentsOf: valuation.findings)
    } else {
      for finding in valuation.findings where finding.resourceType != .client {
        out.issues.append(finding)
      }
    }
    // The files' rows are the values summed, so their sums are the control totals.
    let totals = valuation.totals
    out.controlTransactions = totals.transactionsSum
    guard valuation.isShown else { return }
    out.controlPositions = totals.positionsSum
    out.controlCash = totals.cashSum
    out.controlValuations = totals.totalValue.map { MoneySum($0) } ?? MoneySum()
    out.record = valuation.record
  }
}

/// One account's rows and figures, between the stages. Reused from account to account
/// (``reset()``), so the row buffers keep their memory.
struct AccountOutput {
  var positions = RowBuffer(fieldCount: ExtractKind.positions.fields.count)
  var cash = RowBuffer(fieldCount: ExtractKind.cash.fields.count)
  var transactions = RowBuffer(fieldCount: ExtractKind.transactions.fields.count)
  /// At most one row.
  var valuation = RowBuffer(fieldCount: ExtractKind.valuations.fields.count)
  var issues: [DataQualityIssue] = []
  var record: PerformanceRecord?
  /// The exact sums of the account's shown amounts (market_value, value,
  /// amount_account_currency, total_value), all in its currency: nil when the file shows none.
  var controlPositions: MoneySum?
  var controlCash: MoneySum?
  var controlTransactions: MoneySum?
  var controlValuations: MoneySum?

  mutating func reset() {
    positions.removeAll()
    cash.removeAll()
    transactions.removeAll()
    valuation.removeAll()
    issues.removeAll(keepingCapacity: true)
    record = nil
    controlPositions = nil
    controlCash = nil
    controlTransactions = nil
    controlValuations = nil
  }
}
