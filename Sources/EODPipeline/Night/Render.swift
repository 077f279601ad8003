import EODCore
import EODRender
import EODSnapshot

/// A stage of the night, after ``ValueAccount``: an account's extract rows, written from its
/// valuation by one row writer per extract (EODRender/Rows), each writing one value per field of
/// its extract in the extract's field order (the file's template then picks its columns by field
/// name, ``ExtractFileWriter``).
struct RenderRows {
  /// Which rows to build (the figures, findings and history are computed whatever is written).
  var writesPositions = true
  var writesCash = true
  var writesTransactions = true
  var writesValuations = true
  let positionsRows: PositionsRowWriter
  let cashRows: CashRowWriter
  let transactionsRows: TransactionsRowWriter
  let valuationsRows: ValuationsRowWriter

  init(firm: Firm, date: CivilDate, extracts: Set<ExtractKind>) {
    let context = RowContext(date: date, firmID: firm.id, firmName: firm.name)
    positionsRows = PositionsRowWriter(context: context)
    cashRows = CashRowWriter(context: context)
    transactionsRows = TransactionsRowWriter(context: context)
    valuationsRows = ValuationsRowWriter(context: context)
    writesPositions = extracts.contains(.positions)
    writesCash = extracts.contains(.cash)
    writesTransactions = extracts.contains(.transactions)
    writesValuations = extracts.contains(.valuations)
  }

  /// The account's rows of every extract the firm gets, into `out`'s row buffers (emptied by
  /// ``ValueAccount/value(_:reportClient:history:valuation:into:)``).
  func render(_ valuation: AccountValuation, into out: inout AccountOutput) {
    if writesPositions { positionsRows.write(valuation, into: &out.positions) }
    if writesCash { cashRows.write(valuation, into: &out.cash) }
    if writesTransactions { transactionsRows.write(valuation, into: &out.transactions) }
    if writesValuations { valuationsRows.write(valuation, into: &out.valuation) }
  }
}
