import EODCore
import EODRender
import EODSnapshot
import EODState

/// Values one account and turns it into extract rows, data-quality findings and a performance
/// record. Pure apart from the history reads it asks the store for.
struct AccountProcessor {
  let firm: Firm
  /// Which rows to build: the figures, findings and history are computed whatever is written.
  var writesPositions = true
  var writesCash = true
  var writesTransactions = true
  var writesValuations = true
  let reference: ReferenceData
  let date: CivilDate
  let dateText: String

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

  /// A position of the account being processed, valued: which one (its index in the bundle),
  /// its instrument, its value, whether its external reference is withheld. A struct rather than a
  /// tuple, and no copy of the position, so the row loop copies no Strings.
  struct ValuedPosition {
    var index: Int
    var instrument: Instrument?
    var converted: ConvertedAmount
    var referenceWithheld: Bool
  }

  /// A cash balance of the account being processed (its index in the bundle), converted.
  struct ValuedCash {
    var index: Int
    var converted: ConvertedAmount
  }

  /// Scratch space kept between accounts.
  struct Scratch {
    var valued: [ValuedPosition] = []
    var cash: [ValuedCash] = []
    var findings: [DataQualityIssue] = []
  }

  func issue(
    _ severity: DataQualityIssue.Severity, _ code: DataQualityIssue.Code,
    _ type: DataQualityIssue.ResourceType,
    _ id: String, _ field: String, _ message: String
  ) -> DataQualityIssue {
    DataQualityIssue(
      severity: severity, code: code, resourceType: type, resourceID: id, field: field, message: message)
  }

  func checkReference(
    _ reference: String?, _ type: DataQualityIssue.ResourceType, _ id: String,
    into issues: inout [DataQualityIssue]
  ) -> String? {
    guard let reference else { return nil }
    if let problem = ExternalReference.problem(reference) {
      issues.append(issue(.warning, .invalidExternalRef, type, id, "external_ref", "\(problem); withheld"))
      return nil
    }
    return reference
  }

  /// - Parameters:
  ///   - reportClient: whether this account is the first to show its client (report its reference once).
  ///   - history: reads the account's previous record, 1Y window start and XIRR flows.
  ///   - out: emptied, then filled with the account's rows and figures.
  func process(
    _ bundle: AccountBundle, reportClient: Bool, history: HistoryReader, into out: inout Output,
    scratch work: inout Scratch
  ) throws(PipelineError) {
    out.reset()
    let account = bundle.account
    let shown = account.isShown(on: date)
    let accountID = account.id
    let ccy = account.currency
    // Taken out of `work` (not copied), so the arrays stay uniquely owned and keep their memory.
    var scratch: [DataQualityIssue] = []
    swap(&scratch, &work.findings)
    scratch.removeAll(keepingCapacity: true)
    defer { swap(&scratch, &work.findings) }
    let accountRef = checkReference(account.externalRef, .account, accountID, into: &scratch)
    let clientRef: String?
    if account.clientKnown {
      clientRef = checkReference(account.clientExternalRef, .client, account.clientID, into: &scratch)
    } else {
      clientRef = nil
      scratch.append(
        issue(
          .error, .unknownClient, .account, accountID, "client_id",
          "client \(account.clientID) is not a client of \(firm.id) in the snapshot"))
    }
    // Report the account's and client's references only when the extracts show them.
    if shown || !bundle.transactions.isEmpty {
      for finding in scratch where finding.resourceType != .client || reportClient {
        out.issues.append(finding)
      }
    }

    /// The columns positions and valuations rows start with, in field order.
    func appendAccountColumns(to row: inout RowBuffer) {
      row.append(dateText)
      row.append(firm.id)
      row.append(account.clientID)
      row.append(clientRef)
      row.append(accountID)
      row.append(accountRef)
      row.append(account.wrapper)
      row.append(ccy)
    }

    // Exact at any size: a sum too long for 38 digits is shown empty and reported, never wrapped.
    var positionsValue = MoneySum()
    var cashValue = MoneySum()
    var unpriced = 0
    var valued: [ValuedPosition] = []
    swap(&valued, &work.valued)
    valued.removeAll(keepingCapacity: true)
    var cashRows: [ValuedCash] = []
    swap(&cashRows, &work.cash)
    cashRows.removeAll(keepingCapacity: true)
    defer {
      swap(&valued, &work.valued)
      swap(&cashRows, &work.cash)
    }
    if shown {
      for index in bundle.positions.indices {
        let position = bundle.positions[index]
        var resource: String { "\(accountID)/\(position.instrumentID)" }
        // Valued as they are, with a warning (contract 1.1). A negative price is INVALID, not 0.
        let known = reference.instruments[position.instrumentID]
        for warning in PositionWarning.warnings(quantity: position.quantity, price: known?.price?.price) {
          switch warning {
          case .zeroPrice:
            out.issues.append(
              issue(
                .warning, .zeroPrice, .position, resource, "price",
                "latest price for \(position.instrumentID) is 0; valued at 0"))
          case .negativeQuantity:
            out.issues.append(
              issue(
                .warning, .negativeQuantity, .position, resource, "quantity",
                "quantity \(position.quantity) is below 0; valued as it is"))
          }
        }
        guard let instrument = known else {
          out.issues.append(
            issue(
              .error, .unknownInstrument, .position, resource, "instrument_id",
              "instrument \(position.instrumentID) is not in the snapshot; position not valued"))
          unpriced += 1
          valued.append(
            ValuedPosition(
              index: index, instrument: nil,
              converted: ConvertedAmount(conversion: nil, value: nil, problem: .missingPrice),
              referenceWithheld: false))
          continue
        }
        let converted = Valuation.marketValue(
          quantity: position.quantity, price: instrument.price?.price, quoteFactor: instrument.quoteFactor,
          priceCurrency: instrument.currency, accountCurrency: ccy, fx: reference.fx)
        switch converted.problem {
        case .missingPrice:
          out.issues.append(
            issue(
              .warning, .missingPrice, .position, resource, "price",
              "no price for \(instrument.id) on or before \(dateText); not valued"))
        case .invalidPrice:
          out.issues.append(
            issue(
              .error, .invalidPrice, .position, resource, "price",
              "latest price for \(instrument.id) (\(instrument.price?.date.description ?? "")) is negative: "
                + "\(instrument.price?.price.description ?? ""); not valued"))
        case .missingFX(let from, let to):
          out.issues.append(
            issue(
              .warning, .missingFX, .position, resource, "fx_rate",
              "no FX rate \(from)->\(to) or \(to)->\(from) on or before \(dateText); not valued"))
        case .invalidFX(let from, let to):
          out.issues.append(
            issue(
              .warning, .missingFX, .position, resource, "fx_rate",
              "no usable FX rate \(from)->\(to) or \(to)->\(from) on or before \(dateText); not valued"))
          out.issues.append(invalidFX(.position, resource, "fx_rate", from, to))
        case .outOfRange:
          out.issues.append(
            issue(
              .error, .valueOutOfRange, .position, resource, "market_value",
              "the value does not fit in 38 digits; not valued"))
        case nil: break
        }
        if let price = instrument.price, price.status == .stale {
          out.issues.append(
            issue(
              .warning, .stalePrice, .position, resource, "price",
              "latest price for \(instrument.id) is from \(price.date) (more than \(PriceSelection.freshDays) days old)"
            ))
        }
        if let value = converted.value {
          positionsValue.add(value)
        } else {
          unpriced += 1
        }
        var withheld = false
        if let ref = position.externalRef, let problem = ExternalReference.problem(ref) {
          out.issues.append(
            issue(.warning, .invalidExternalRef, .position, resource, "external_ref", "\(problem); withheld"))
          withheld = true
        }
        valued.append(
          ValuedPosition(
            index: index, instrument: instrument, converted: converted, referenceWithheld: withheld))
      }
      for index in bundle.cash.indices {
        let balance = bundle.cash[index]
        let converted = Valuation.convert(
          balance.balance, currency: balance.currency, accountCurrency: ccy, fx: reference.fx)
        var resource: String { "\(accountID)/\(balance.currency)" }
        switch converted.problem {
        case .missingFX(let from, let to):
          out.issues.append(
            issue(
              .warning, .missingFX, .cash, resource, "fx_rate",
              "no FX rate \(from)->\(to) or \(to)->\(from) on or before \(dateText); not valued"))
        case .invalidFX(let from, let to):
          out.issues.append(
            issue(
              .warning, .missingFX, .cash, resource, "fx_rate",
              "no usable FX rate \(from)->\(to) or \(to)->\(from) on or before \(dateText); not valued"))
          out.issues.append(invalidFX(.cash, resource, "fx_rate", from, to))
        case .outOfRange:
          out.issues.append(
            issue(.error, .valueOutOfRange, .cash, resource, "value", "the value does not fit in 38 digits"))
        case .missingPrice, .invalidPrice, nil: break
        }
        if let value = converted.value { cashValue.add(value) }
        cashRows.append(ValuedCash(index: index, converted: converted))
      }
      let total = positionsValue.adding(cashValue).money
      for entry in valued {
        let position = bundle.positions[entry.index]
        let instrument = entry.instrument
        let converted = entry.converted
        let value = converted.value
        let price = instrument?.price
        // Field order: ExtractKind.positions.fields (only when the file is made).
        if writesPositions {
          appendAccountColumns(to: &out.positions)
          out.positions.append(position.instrumentID)
          out.positions.append(instrument?.isin)
          out.positions.append(instrument?.sedol)
          out.positions.append(instrument?.name)
          out.positions.append(instrument?.assetClass)
          out.positions.append(position.quantity)
          out.positions.append(price?.price)
          out.positions.append(instrument?.currency)
          out.positions.append(price?.date)
          // An unknown instrument has no price either: MISSING (the column is never empty).
          out.positions.append((price?.status ?? .missing).rawValue)
          // No rate shown where no usable price is (MISSING, INVALID).
          out.positions.append(price?.status.isUsable == true ? converted.conversion?.displayRate : nil)
          out.positions.append(value)
          out.positions.append(position.bookCost)
          out.positions.append(value.flatMap { $0.subtracting(position.bookCost)?.rounded(places: 2) })
          out.positions.append(Valuation.weight(marketValue: value, totalValue: total))
          // Invalid references were withheld above.
          out.positions.append(entry.referenceWithheld ? nil : position.externalRef)
          out.positions.append(firm.name)
          out.positions.append(instrument?.quoteFactor)
          out.positions.endRow()
        }
      }
      // The file's rows are the values summed above, so their sums are the control totals.
      out.controlPositions = positionsValue
      for entry in cashRows {
        let balance = bundle.cash[entry.index]
        let converted = entry.converted
        // Field order: ExtractKind.cash.fields (only when the file is made).
        if writesCash {
          out.cash.append(dateText)
          out.cash.append(firm.id)
          out.cash.append(account.clientID)
          out.cash.append(clientRef)
          out.cash.append(accountID)
          out.cash.append(accountRef)
          out.cash.append(ccy)
          out.cash.append(balance.currency)
          out.cash.append(balance.balance)
          out.cash.append(converted.conversion?.displayRate)
          out.cash.append(converted.value)
          out.cash.append(account.wrapper)
          out.cash.append(firm.name)
          out.cash.endRow()
        }
      }
      out.controlCash = cashValue
    }

    // Transactions: all the snapshot holds for the account, and the day's external flows.
    var net = MoneySum()
    var inflow = MoneySum()
    var controlTransactions = MoneySum()
    for transaction in bundle.transactions {
      let converted = Valuation.convert(
        transaction.amount, currency: transaction.currency, accountCurrency: ccy, fx: reference.fx)
      let isFlow = ExternalFlows.isFlow(type: transaction.type, status: transaction.status)
      let leftOut = isFlow ? "; the flow is left out of net_external_flow and the return" : ""
      switch converted.problem {
      case nil:
        if let value = converted.value {
          controlTransactions.add(value)
          if isFlow {
            net.add(value)
            if value.signum > 0 { inflow.add(value) }
          }
        }
      case .missingFX(let from, let to):
        out.issues.append(
          issue(
            isFlow ? .error : .warning, .missingFX, .transaction, transaction.id, "amount_account_currency",
            "no FX rate \(from)->\(to) or \(to)->\(from) on or before \(dateText)" + leftOut))
      case .invalidFX(let from, let to):
        out.issues.append(
          issue(
            isFlow ? .error : .warning, .missingFX, .transaction, transaction.id, "amount_account_currency",
            "no usable FX rate \(from)->\(to) or \(to)->\(from) on or before \(dateText)" + leftOut))
        out.issues.append(invalidFX(.transaction, transaction.id, "amount_account_currency", from, to))
      case .outOfRange:
        out.issues.append(
          issue(
            .error, .valueOutOfRange, .transaction, transaction.id, "amount_account_currency",
            "the converted amount does not fit in 38 digits; not converted" + leftOut))
      case .missingPrice, .invalidPrice: break
      }
      let txRef = transaction.externalRef
      if let txRef, let problem = ExternalReference.problem(txRef) {
        out.issues.append(
          issue(
            .warning, .invalidExternalRef, .transaction, transaction.id, "external_ref",
            "\(problem); withheld"))
      }
      let isin = transaction.instrumentID.flatMap { reference.instruments[$0]?.isin }
      // Field order: ExtractKind.transactions.fields (only when the file is made).
      if writesTransactions {
        out.transactions.append(dateText)
        out.transactions.append(firm.id)
        out.transactions.append(account.clientID)
        out.transactions.append(accountID)
        out.transactions.append(accountRef)
        out.transactions.append(transaction.id)
        out.transactions.append(ExternalReference.validated(txRef))
        out.transactions.append(transaction.type)
        out.transactions.append(transaction.status)
        out.transactions.append(transaction.tradeDate)
        out.transactions.append(transaction.settleDate)
        out.transactions.append(transaction.instrumentID)
        out.transactions.append(isin)
        out.transactions.append(transaction.quantity)
        out.transactions.append(transaction.amount)
        out.transactions.append(transaction.currency)
        out.transactions.append(converted.value)
        out.transactions.append(clientRef)
        out.transactions.append(ccy)
        out.transactions.append(converted.conversion?.displayRate)
        out.transactions.append(firm.name)
        out.transactions.endRow()
      }
    }
    out.controlTransactions = controlTransactions

    guard shown else { return }
    let totalSum = positionsValue.adding(cashValue)
    // Each figure exactly, or empty with VALUE_OUT_OF_RANGE when it does not fit in 38 digits.
    func fitting(_ sum: MoneySum, _ field: String) -> Money? {
      if let money = sum.money { return money }
      out.issues.append(
        issue(
          .error, .valueOutOfRange, .account, accountID, field,
          "\(field) \(sum) does not fit in 38 digits; left empty"))
      return nil
    }
    let positionsMoney = fitting(positionsValue, "positions_value")
    let cashMoney = fitting(cashValue, "cash_value")
    let total = fitting(totalSum, "total_value")
    let netMoney = fitting(net, "net_external_flow")
    var figures = Performance.Figures.empty
    // The history keeps values and flows in 64-bit cents: an account beyond that has no
    // performance today (and no history row) rather than failing its firm.
    if let total, let netMoney, let inflowMoney = inflow.money,
      Int64(exactly: total.significand) != nil, Int64(exactly: netMoney.significand) != nil,
      Int64(exactly: inflowMoney.significand) != nil
    {
      let flows = ExternalFlows(net: netMoney, inflow: inflowMoney)
      let previous = try history.previous(accountID)
      let record = Performance.advance(
        previous: previous, date: date, value: total, flows: flows, opensToday: account.openedOn == date)
      out.record = record
      figures = try performance(record, accountID: accountID, history: history, issues: &out.issues)
    } else {
      out.issues.append(
        issue(
          .error, .valueOutOfRange, .account, accountID, "return_1d",
          "the account's value or external flows do not fit the performance history (64-bit cents); "
            + "no returns today and no history row for \(dateText)"))
    }
    func ratio(_ x: Double?) -> String? { x.flatMap { RatioFormat.fixed($0, places: 8) } }
    // Field order: ExtractKind.valuations.fields (only when the file is made).
    if writesValuations {
      appendAccountColumns(to: &out.valuation)
      out.valuation.append(positionsMoney)
      out.valuation.append(cashMoney)
      out.valuation.append(total)
      out.valuation.append(integer: unpriced)
      out.valuation.append(netMoney)
      out.valuation.append(ratio(figures.daily))
      out.valuation.append(ratio(figures.monthToDate))
      out.valuation.append(ratio(figures.quarterToDate))
      out.valuation.append(ratio(figures.yearToDate))
      out.valuation.append(ratio(figures.oneYear))
      out.valuation.append(ratio(figures.inceptionToDate))
      out.valuation.append(ratio(figures.inceptionToDateAnnualised))
      out.valuation.append(ratio(figures.moneyWeighted))
      out.valuation.append(ratio(figures.moneyWeightedAnnualised))
      out.valuation.append(figures.startDate)
      out.valuation.append(firm.name)
      out.valuation.append(account.openedOn)
      out.valuation.append(account.closedOn)
      out.valuation.endRow()
    }
    out.controlValuations = total.map { MoneySum($0) } ?? MoneySum()
  }

  /// The account's return figures for `record` (empty on a baseline day).
  func performance(
    _ record: PerformanceRecord, accountID: String, history: HistoryReader, issues: inout [DataQualityIssue]
  ) throws(PipelineError) -> Performance.Figures {
    var figures = Performance.Figures.empty
    if record.kind != .baseline {
      let yearAgo = Performance.oneYearWindowStart(for: date)
      var window: Performance.WindowStart?
      if record.startDate <= yearAgo.adding(days: 1) {
        window = try history.windowStart(accountID, onOrBefore: yearAgo) ?? .origin
      }
      var cashFlows = try history.flows(accountID, after: record.flowOrigin)
      if record.kind == .opening {
        cashFlows = [(date, record.flow)]
      } else if !record.flow.isZero {
        cashFlows.append((date, record.flow))
      }
      let baselineValue = try history.baselineValue(accountID, origin: record.flowOrigin)
      figures = Performance.figures(
        for: record, windowStart: window, cashFlows: cashFlows, baselineValue: baselineValue)
      if record.undefinedReturn {
        issues.append(
          issue(
            .warning, .performanceUndefined, .account, accountID, "return_1d",
            "previous value plus inflows is 0 but the value changed; the daily return is undefined"))
      }
    }
    return figures
  }

  /// An `INVALID_FX` finding: an unusable rate left the amount unconverted.
  func invalidFX(
    _ type: DataQualityIssue.ResourceType, _ id: String, _ field: String, _ from: String, _ to: String
  ) -> DataQualityIssue {
    issue(
      .error, .invalidFX, type, id, field,
      "the latest FX rate \(from)->\(to) or \(to)->\(from) on or before \(dateText) is zero or below; "
        + "not converted")
  }
}

/// The history reads an account's figures need, for one business date.
protocol HistoryReader {
  func previous(_ accountID: String) throws(PipelineError) -> PerformanceRecord?
  func windowStart(_ accountID: String, onOrBefore date: CivilDate) throws(PipelineError) -> Performance
    .WindowStart?
  /// Non-zero flows after `origin` and before the business date.
  func flows(_ accountID: String, after origin: CivilDate) throws(PipelineError) -> [(
    date: CivilDate, flow: Money
  )]
  /// The baseline value when the flow origin is a baseline record.
  func baselineValue(_ accountID: String, origin: CivilDate) throws(PipelineError) -> Money?
}

/// Reads history from the state store for one business date.
///
/// The account's store key is looked up once per account (an account's reads come together) and
/// not kept for the whole run: that would hold every account's key in memory.
final class StoreHistory: HistoryReader {
  let store: StateStore
  let firmID: String
  let date: CivilDate
  private var memo: (accountID: String, key: Int64?)?

  init(store: StateStore, firmID: String, date: CivilDate) {
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
