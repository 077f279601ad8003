import EODCore
import EODRender
import EODSnapshot
import EODState

/// Values one account and turns it into extract rows, data-quality findings and a performance
/// record. Pure apart from the history reads it asks the store for.
struct AccountProcessor {
  let firm: Firm
  let reference: ReferenceData
  let date: CivilDate
  let dateText: String

  struct Output {
    var positions: [[String?]] = []
    var cash: [[String?]] = []
    var transactions: [[String?]] = []
    var valuation: [String?]?
    var issues: [DataQualityIssue] = []
    var record: PerformanceRecord?
    var controlPositions: Money?
    var controlCash: Money?
    var controlTransactions: Money?
    var controlValuations: Money?
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
  func process(
    _ bundle: AccountBundle, reportClient: Bool, history: HistoryReader
  ) throws(PipelineError) -> Output {
    var out = Output()
    let account = bundle.account
    let shown = account.isShown(on: date)
    let accountID = account.id
    let ccy = account.currency
    var scratch: [DataQualityIssue] = []
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

    var positionsValue = Money(significand: 0, scale: 2)
    var cashValue = Money(significand: 0, scale: 2)
    var unpriced = 0
    var valued: [(Position, Instrument?, ConvertedAmount)] = []
    if shown {
      for position in bundle.positions {
        let resource = "\(accountID)/\(position.instrumentID)"
        guard let instrument = reference.instruments[position.instrumentID] else {
          out.issues.append(
            issue(
              .error, .unknownInstrument, .position, resource, "instrument_id",
              "instrument \(position.instrumentID) is not in the snapshot; position not valued"))
          unpriced += 1
          valued.append((position, nil, ConvertedAmount(conversion: nil, value: nil, problem: .missingPrice)))
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
        case .missingFX(let from, let to):
          out.issues.append(
            issue(
              .warning, .missingFX, .position, resource, "fx_rate",
              "no FX rate \(from)->\(to) or \(to)->\(from) on or before \(dateText); not valued"))
        case .outOfRange:
          out.issues.append(
            issue(
              .error, .valueOutOfRange, .position, resource, "market_value",
              "the exact value does not fit in 38 digits; not valued"))
        case nil: break
        }
        if let price = instrument.price, price.status == .stale {
          out.issues.append(
            issue(
              .warning, .stalePrice, .position, resource, "price",
              "latest price for \(instrument.id) is from \(price.date) (more than \(PriceSelection.freshDays) days old)"
            ))
        }
        if let value = converted.value, let sum = positionsValue.adding(value) {
          positionsValue = sum
        } else {
          unpriced += 1
        }
        valued.append((position, instrument, converted))
        if let ref = position.externalRef, let problem = ExternalReference.problem(ref) {
          out.issues.append(
            issue(.warning, .invalidExternalRef, .position, resource, "external_ref", "\(problem); withheld"))
        }
      }
      var cashRows: [(CashBalance, ConvertedAmount)] = []
      for balance in bundle.cash {
        let converted = Valuation.convert(
          balance.balance, currency: balance.currency, accountCurrency: ccy, fx: reference.fx)
        let resource = "\(accountID)/\(balance.currency)"
        if case .missingFX(let from, let to) = converted.problem {
          out.issues.append(
            issue(
              .warning, .missingFX, .cash, resource, "fx_rate",
              "no FX rate \(from)->\(to) or \(to)->\(from) on or before \(dateText); not valued"))
        } else if converted.problem == .outOfRange {
          out.issues.append(
            issue(.error, .valueOutOfRange, .cash, resource, "value", "the exact value does not fit"))
        }
        if let value = converted.value, let sum = cashValue.adding(value) { cashValue = sum }
        cashRows.append((balance, converted))
      }
      let total = positionsValue.adding(cashValue)
      var controlPositions = Money(significand: 0, scale: 2)
      for (position, instrument, converted) in valued {
        let value = converted.value
        if let value, let sum = controlPositions.adding(value) { controlPositions = sum }
        let hasPrice = instrument?.price != nil
        out.positions.append([
          dateText, firm.id, account.clientID, clientRef, accountID, accountRef, account.wrapper, ccy,
          position.instrumentID, instrument?.isin, instrument?.sedol, instrument?.name,
          instrument?.assetClass,
          position.quantity.description, instrument?.price?.price.description, instrument?.currency,
          instrument?.price?.date.description,
          instrument == nil ? nil : (instrument?.price?.status ?? .missing).rawValue,
          hasPrice ? converted.conversion?.displayRate?.description : nil, value?.description,
          position.bookCost.description,
          value.flatMap { $0.subtracting(position.bookCost)?.rounded(places: 2).description },
          Valuation.weight(marketValue: value, totalValue: total)?.description,
          ExternalReference.validated(position.externalRef), firm.name, instrument?.quoteFactor.description,
        ])
      }
      out.controlPositions = controlPositions
      var controlCash = Money(significand: 0, scale: 2)
      for (balance, converted) in cashRows {
        if let value = converted.value, let sum = controlCash.adding(value) { controlCash = sum }
        out.cash.append([
          dateText, firm.id, account.clientID, clientRef, accountID, accountRef, ccy, balance.currency,
          balance.balance.description, converted.conversion?.displayRate?.description,
          converted.value?.description,
          account.wrapper, firm.name,
        ])
      }
      out.controlCash = controlCash
    }

    // Transactions: all the snapshot holds for the account, and the day's external flows.
    var net = Money(significand: 0, scale: 2)
    var inflow = Money(significand: 0, scale: 2)
    var controlTransactions = Money(significand: 0, scale: 2)
    for transaction in bundle.transactions {
      let converted = Valuation.convert(
        transaction.amount, currency: transaction.currency, accountCurrency: ccy, fx: reference.fx)
      let isFlow = ExternalFlows.isFlow(type: transaction.type, status: transaction.status)
      if let value = converted.value {
        if let sum = controlTransactions.adding(value) { controlTransactions = sum }
        if isFlow {
          net = net.adding(value) ?? net
          if value.signum > 0 { inflow = inflow.adding(value) ?? inflow }
        }
      } else if case .missingFX(let from, let to) = converted.problem {
        out.issues.append(
          issue(
            isFlow ? .error : .warning, .missingFX, .transaction, transaction.id, "amount_account_currency",
            "no FX rate \(from)->\(to) or \(to)->\(from) on or before \(dateText)"
              + (isFlow ? "; the flow is left out of net_external_flow and the return" : "")))
      }
      let txRef = transaction.externalRef
      if let txRef, let problem = ExternalReference.problem(txRef) {
        out.issues.append(
          issue(
            .warning, .invalidExternalRef, .transaction, transaction.id, "external_ref",
            "\(problem); withheld"))
      }
      let isin = transaction.instrumentID.flatMap { reference.instruments[$0]?.isin }
      out.transactions.append([
        dateText, firm.id, account.clientID, accountID, accountRef, transaction.id,
        ExternalReference.validated(txRef), transaction.type, transaction.status,
        transaction.tradeDate.description,
        transaction.settleDate.description, transaction.instrumentID, isin, transaction.quantity?.description,
        transaction.amount.description, transaction.currency, converted.value?.description, clientRef, ccy,
        converted.conversion?.displayRate?.description, firm.name,
      ])
    }
    out.controlTransactions = controlTransactions

    guard shown else { return out }
    guard let total = positionsValue.adding(cashValue) else {
      throw PipelineError(code: .internalError, detail: "account \(accountID): total value overflows")
    }
    let flows = ExternalFlows(net: net, inflow: inflow)
    let previous = try history.previous(accountID)
    let record = Performance.advance(
      previous: previous, date: date, value: total, flows: flows, opensToday: account.openedOn == date)
    out.record = record
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
        out.issues.append(
          issue(
            .warning, .performanceUndefined, .account, accountID, "return_1d",
            "previous value plus inflows is 0 but the value changed; the daily return is undefined"))
      }
    }
    func ratio(_ x: Double?) -> String? { x.flatMap { RatioFormat.fixed($0, places: 8) } }
    out.valuation = [
      dateText, firm.id, account.clientID, clientRef, accountID, accountRef, account.wrapper, ccy,
      positionsValue.description, cashValue.description, total.description, String(unpriced), net.description,
      ratio(figures.daily), ratio(figures.monthToDate), ratio(figures.quarterToDate),
      ratio(figures.yearToDate),
      ratio(figures.oneYear), ratio(figures.inceptionToDate), ratio(figures.inceptionToDateAnnualised),
      ratio(figures.moneyWeighted), ratio(figures.moneyWeightedAnnualised), figures.startDate?.description,
      firm.name, account.openedOn.description, account.closedOn?.description,
    ]
    out.controlValuations = total
    return out
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
struct StoreHistory: HistoryReader {
  let store: StateStore
  let firmID: String
  let date: CivilDate

  func key(_ accountID: String) throws(PipelineError) -> Int64? {
    do { return try store.existingAccountKey(accountID) } catch { throw PipelineError(state: error) }
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
