import EODCore
import EODRender
import EODSnapshot

/// Values one account (``AccountValuation``, in EODCore) and writes its extract rows from the
/// valuation (one row writer per extract, in EODRender), with its data-quality findings, its
/// performance record and its files' control totals.
struct AccountProcessor {
  let firm: Firm
  /// Which rows to build: the figures, findings and history are computed whatever is written.
  var writesPositions = true
  var writesCash = true
  var writesTransactions = true
  var writesValuations = true
  let reference: ReferenceData
  let date: CivilDate
  let positionsRows: PositionsRowWriter
  let cashRows: CashRowWriter
  let transactionsRows: TransactionsRowWriter
  let valuationsRows: ValuationsRowWriter

  init(firm: Firm, reference: ReferenceData, date: CivilDate) {
    self.firm = firm
    self.reference = reference
    self.date = date
    let context = RowContext(date: date, firmID: firm.id, firmName: firm.name)
    positionsRows = PositionsRowWriter(context: context)
    cashRows = CashRowWriter(context: context)
    transactionsRows = TransactionsRowWriter(context: context)
    valuationsRows = ValuationsRowWriter(context: context)
  }

  /// One account's rows and figures. Reused from account to account (``reset()``), so the row
  /// buffers keep their memory.
  struct Output {
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

  /// Kept between accounts: the valuation is filled in place, so its arrays keep their memory.
  struct Scratch {
    var valuation = AccountValuation()
  }

  /// - Parameters:
  ///   - reportClient: whether this account is the first to show its client (report its reference once).
  ///   - history: reads the account's previous record, 1Y window start and XIRR flows.
  ///   - out: emptied, then filled with the account's rows and figures.
  func process(
    _ bundle: AccountBundle, reportClient: Bool, history: StoreHistory, into out: inout Output,
    scratch work: inout Scratch
  ) throws(PipelineError) {
    out.reset()
    try work.valuation.revalue(
      account: bundle.account, positions: bundle.positions, cash: bundle.cash,
      transactions: bundle.transactions, reference: reference, date: date, history: history)
    // Read in place (not copied out of `work`), so no array or string of it is retained again.
    // A client's reference is reported with the first of its accounts the extracts show.
    if reportClient {
      out.issues.append(contentsOf: work.valuation.findings)
    } else {
      for finding in work.valuation.findings where finding.resourceType != .client {
        out.issues.append(finding)
      }
    }
    if writesPositions { positionsRows.write(work.valuation, into: &out.positions) }
    if writesCash { cashRows.write(work.valuation, into: &out.cash) }
    if writesTransactions { transactionsRows.write(work.valuation, into: &out.transactions) }
    if writesValuations { valuationsRows.write(work.valuation, into: &out.valuation) }
    // The files' rows are the values summed, so their sums are the control totals.
    let totals = work.valuation.totals
    out.controlTransactions = totals.transactionsSum
    guard work.valuation.isShown else { return }
    out.controlPositions = totals.positionsSum
    out.controlCash = totals.cashSum
    out.controlValuations = totals.totalValue.map { MoneySum($0) } ?? MoneySum()
    out.record = work.valuation.record
  }
}
