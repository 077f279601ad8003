// The simulated ledger: reference data built once, then stepped one business day at a time.

import EODCore

/// Currencies the generator uses. Raw values order the cash slots of an account.
enum Currency: Int, CaseIterable {
  case gbp, gbx, usd, eur, chf

  var code: String {
    switch self {
    case .gbp: "GBP"
    case .gbx: "GBX"
    case .usd: "USD"
    case .eur: "EUR"
    case .chf: "CHF"
    }
  }

  /// The account cash slot (cash is only ever held in GBP, USD or EUR), in currency-code order.
  var cashSlot: Int {
    switch self {
    case .eur: 0
    case .gbp: 1
    default: 2
    }
  }

  static let cashSlotCurrencies: [Currency] = [.eur, .gbp, .usd]
}

struct Instrument {
  var id: String
  var isin: String?
  var sedol: String?
  var name: String
  var assetClass: String
  var currency: Currency
  /// Bonds are priced per 100 nominal: quote factor 0.01.
  var perHundred: Bool
  /// Current price in ten-thousandths; nil for an instrument that is never priced.
  var price: Int64?
  /// The last (at most) ten prices, oldest first.
  var history: [(date: CivilDate, price: Int64)] = []
  /// Suspended: no new prices after the first business day.
  var suspended = false
  /// Quoted in a currency with no FX rate; not bought or sold in normal activity.
  var noFX = false
}

struct Holding {
  var instrument: Int32
  /// Thousandths of a unit.
  var quantity: Int64
  /// Hundredths of the account currency.
  var bookCost: Int64
  var reference: String?
}

struct Account {
  var id: String
  var firm: Int
  var client: Int
  var wrapper: String
  var currency: Currency
  var opened: CivilDate
  /// `opened` as `YYYY-MM-DD`, formatted once.
  var openedText: String
  var closed: CivilDate?
  var reference: String?
  var closingOn: CivilDate?
  var holdings: [Holding] = []
  /// Cash in hundredths, by ``Currency/cashSlot``; nil where the account has never held that currency.
  var cash: [Int64?] = [nil, nil, nil]
}

struct Client {
  var id: String
  var firm: Int
  var type: String
  var reference: String?
}

struct Transaction {
  var sequence: Int
  var account: Int
  var type: String
  var status: String
  var tradeDate: CivilDate
  var settleDate: CivilDate
  var instrument: Int?
  /// Thousandths, signed.
  var quantity: Int64?
  /// Hundredths, signed from the account's side.
  var amount: Int64
  var currency: Currency
  var reference: String?
}

/// External references that a downstream validator must reject.
let invalidReferences: [String] = [
  "REF,WITH,COMMAS", "quote\"inside", "=HYPERLINK(\"x\")", String(repeating: "x", count: 257),
  "", "caf\u{e9}-ref", "tab\there", "line\nbreak", "semi;colon",
]

/// Instrument names a CSV or spreadsheet writer must treat with care.
let awkwardNames: [String] = [
  "Smith, Jones & Co \"Growth\" Fund", "=SUM(A1:A9) Trust", "Line\nBreak plc",
  "\u{c9}pargne \u{20ac} Fonds", "+Plus Fund", "@Home REIT",
]

struct World {
  let options: GeneratorOptions
  let days: [CivilDate]
  var random: SeededRandom
  var firms: [(id: String, name: String)] = []
  var clients: [Client] = []
  var accounts: [Account] = []
  var instruments: [Instrument] = []
  /// Instruments bought in normal activity: priced, and with an FX rate.
  var tradable: [Int32] = []
  /// GBPUSD, GBPEUR, EURUSD in millionths.
  var fx: [Int64] = [1_265_000, 1_172_000, 1_079_000]
  static let fxPairs: [(base: Currency, quote: Currency)] = [(.gbp, .usd), (.gbp, .eur), (.eur, .usd)]
  var fxHistory: [(date: CivilDate, rates: [Int64])] = []
  var transactionSequence = 0
  var holdingSequence = 0

  init(options: GeneratorOptions, start: CivilDate) {
    self.options = options
    var days: [CivilDate] = []
    var day = start
    while days.count < options.days {
      if options.calendar.isBusinessDay(day) { days.append(day) }
      day = day.adding(days: 1)
    }
    self.days = days
    self.random = SeededRandom(seed: options.seed)
    build()
  }

  // MARK: Reference data

  mutating func reference(_ kind: String, _ number: Int) -> String? {
    if options.edge && random.unit() < 0.03 {
      return random.choice(invalidReferences)
    }
    if random.unit() < 0.1 { return nil }
    let letter = random.choice(["A", "B", "C"])
    return "\(kind)-\(zeroPadded(number, 7)) \(letter)_\(random.int(0...999))"
  }

  private mutating func build() {
    for f in 0..<options.firms {
      firms.append((id: "FIRM\(zeroPadded(f + 1, 3))", name: "Firm \(f + 1) Wealth Ltd"))
    }
    var awkward = 0
    for i in 0..<options.instruments {
      // The first five instruments cover every kind, so GBX and per-100 bond prices always exist.
      let kind: Int
      if i < 5 {
        kind = [0, 1, 4, 2, 3][i]
      } else {
        let roll = random.unit()
        kind = roll < 0.55 ? 0 : roll < 0.75 ? 1 : roll < 0.85 ? 2 : roll < 0.92 ? 3 : 4
      }
      let currency: Currency
      let assetClass: String
      let price: Int64
      switch kind {
      case 0:
        currency = .gbp
        assetClass = random.choice(["FUND", "FUND", "ETF"])
        price = Int64(random.int(50...5000)) * 100
      case 1:
        currency = .gbx
        assetClass = "EQUITY"
        price = Int64(random.int(5000...900_000)) * 100
      case 2:
        currency = .usd
        assetClass = random.choice(["EQUITY", "ETF"])
        price = Int64(random.int(1000...50_000)) * 100
      case 3:
        currency = .eur
        assetClass = "EQUITY"
        price = Int64(random.int(1000...30_000)) * 100
      default:
        currency = .gbp
        assetClass = "BOND"
        price = Int64(random.int(8000...11_000)) * 100
      }
      let title = assetClass.prefix(1) + assetClass.dropFirst().lowercased()
      var name = "Instrument \(i + 1) \(title) \(currency.code)"
      if options.edge && (i < 42 ? i % 7 == 5 : i % 97 == 5) {
        name = awkwardNames[awkward % awkwardNames.count]
        awkward += 1
      }
      let isin =
        random.unit() > 0.05
        ? "GB\(random.int(1_000_000_000...9_999_999_999))\(random.int(0...9))" : nil
      let sedol = random.unit() > 0.3 ? "\(random.int(1_000_000...9_999_999))" : nil
      instruments.append(
        Instrument(
          id: "INS\(zeroPadded(i + 1, 6))", isin: isin, sedol: sedol, name: name,
          assetClass: assetClass, currency: currency, perHundred: assetClass == "BOND", price: price))
    }
    if options.edge {
      var chf = Instrument(
        id: "INSCHF01", isin: "CH0000000001", sedol: nil, name: "Swiss Franc Equity",
        assetClass: "EQUITY", currency: .chf, perHundred: false, price: 873_000)
      chf.noFX = true
      instruments.append(chf)
      instruments.append(
        Instrument(
          id: "INSNOPX1", isin: nil, sedol: nil, name: "Never Priced Unit Trust", assetClass: "FUND",
          currency: .gbp, perHundred: false, price: nil))
      var stale = Instrument(
        id: "INSSTALE", isin: "GB0000000STL", sedol: nil, name: "Suspended Holdings plc",
        assetClass: "EQUITY", currency: .gbx, perHundred: false, price: 1_234_500)
      stale.suspended = true
      instruments.append(stale)
    }
    tradable = instruments.indices.compactMap { index in
      let instrument = instruments[index]
      return instrument.price != nil && !instrument.noFX ? Int32(index) : nil
    }

    guard let start = days.first else { return }
    let clientTypes = Array(repeating: "INDIVIDUAL", count: 8) + ["JOINT", "CORPORATE", "TRUST"]
    let wrappers = ["ISA", "ISA", "SIPP", "SIPP", "GIA", "GIA", "JISA", "LISA", "OFFSHORE_BOND"]
    let moving = options.edge && days.count > 2
    clients.reserveCapacity(options.accounts)
    accounts.reserveCapacity(options.accounts)
    for k in 0..<options.accounts {
      let firm = k % max(1, firms.count)
      let clientType = random.choice(clientTypes)
      // With --edge the first nine clients and accounts carry every invalid reference.
      let clientReference =
        options.edge && k < invalidReferences.count ? invalidReferences[k] : reference("C", k)
      clients.append(
        Client(
          id: "CL\(zeroPadded(k + 1, 8))", firm: firm, type: clientType, reference: clientReference))
      let currency: Currency = random.unit() < 0.9 ? .gbp : random.choice([.usd, .eur])
      let wrapper = random.choice(wrappers)
      var opened = start.adding(days: -random.int(30...4000))
      if moving && k % 53 == 7 {
        opened = days[random.int(1...(days.count - 1))]
      }
      let accountReference =
        options.edge && k < invalidReferences.count
        ? invalidReferences[(k + 4) % invalidReferences.count] : reference("A", k)
      var closingOn: CivilDate?
      if moving && k % 61 == 11 {
        let day = days[random.int(1...(days.count - 1))]
        closingOn = day > opened ? day : nil
      }
      accounts.append(
        Account(
          id: "AC\(zeroPadded(k + 1, 8))", firm: firm, client: k, wrapper: wrapper,
          currency: currency, opened: opened, openedText: opened.description, closed: nil,
          reference: accountReference,
          closingOn: closingOn))
      if opened < start { seedHoldings(k) }
    }
  }

  private mutating func seedHoldings(_ k: Int) {
    let currency = accounts[k].currency
    let spread = 1.5 * Double(random.gaussian20()) / Double(1 << 20)
    let wanted = max(1, Int((options.positions + spread).rounded()))
    let count = min(tradable.count, wanted)
    var chosen: [Int32] = []
    chosen.reserveCapacity(count)
    if count * 4 < tradable.count {
      while chosen.count < count {
        let pick = tradable[random.below(tradable.count)]
        if !chosen.contains(pick) { chosen.append(pick) }
      }
    } else {
      var pool = tradable
      for slot in 0..<count {
        pool.swapAt(slot, slot + random.below(pool.count - slot))
        chosen.append(pool[slot])
      }
    }
    var holdings: [Holding] = []
    holdings.reserveCapacity(count + 3)
    for index in chosen {
      let instrument = instruments[Int(index)]
      let quantity: Int64
      if instrument.assetClass == "BOND" {
        quantity = Int64(random.int(10...500)) * 100 * Scale.quantity
      } else if instrument.assetClass == "FUND" {
        quantity = Int64(random.int(100...2_000_000))
      } else {
        quantity = Int64(random.int(1...20_000)) * Scale.quantity
      }
      let factor = Int64(random.int(7000...12_000))
      let cost = value(
        of: Int(index), quantity: quantity, in: currency,
        times: Ratio(numerator: Int128(factor), denominator: 10_000))
      holdings.append(
        Holding(
          instrument: index, quantity: quantity, bookCost: cost,
          reference: reference("P", holdingSequence)))
      holdingSequence += 1
    }
    if options.edge && (k % 50 == 1 || random.unit() < 0.02) {
      // Holdings in the awkward instruments: CHF with no FX, never priced, suspended.
      for index in (instruments.count - 3)..<instruments.count where k % 50 == 1 || random.unit() < 0.5 {
        if !holdings.contains(where: { $0.instrument == Int32(index) }) {
          holdings.append(
            Holding(
              instrument: Int32(index), quantity: 100 * Scale.quantity, bookCost: 100_000, reference: nil))
        }
      }
    }
    holdings.sort { $0.instrument < $1.instrument }
    accounts[k].holdings = holdings
    accounts[k].cash[currency.cashSlot] = Int64(random.int(-5000...2_000_000))
    if random.unit() < 0.05 {
      let other: Currency = currency != .usd ? .usd : .gbp
      accounts[k].cash[other.cashSlot] = Int64(random.int(0...500_000))
    }
  }

  // MARK: Valuation helpers (only to make plausible amounts)

  func rate(from source: Currency, to target: Currency) -> Ratio {
    if source == .gbx {
      let pounds = rate(from: .gbp, to: target)
      return Ratio(numerator: pounds.numerator, denominator: pounds.denominator * 100)
    }
    if source == target { return .one }
    for (index, pair) in World.fxPairs.enumerated() {
      if pair.base == source && pair.quote == target {
        return Ratio(numerator: Int128(fx[index]), denominator: Int128(Scale.rate))
      }
      if pair.base == target && pair.quote == source {
        return Ratio(numerator: Int128(Scale.rate), denominator: Int128(fx[index]))
      }
    }
    return .one
  }

  /// `quantity * price * quote_factor * fx * factor` in hundredths of `currency`, exactly, rounded
  /// once half to even. An unpriced instrument counts at 1; a currency with no rate at 1.
  func value(of index: Int, quantity: Int64, in currency: Currency, times factor: Ratio = .one) -> Int64 {
    let price = Int128(instruments[index].price ?? Scale.price)
    let perHundred = instruments[index].perHundred
    let fxRatio = rate(from: instruments[index].currency, to: currency)
    let numerator = Int128(quantity) * price * fxRatio.numerator * factor.numerator * Int128(Scale.amount)
    let denominator =
      Int128(Scale.quantity) * Int128(Scale.price) * (perHundred ? 100 : 1)
      * fxRatio.denominator * factor.denominator
    return Int64(ExactDecimal.divideHalfEven(numerator, denominator))
  }

  // MARK: Simulation

  private mutating func transaction(
    _ k: Int, _ type: String, _ day: CivilDate, instrument: Int? = nil, quantity: Int64? = nil,
    amount: Int64, currency: Currency, status: String = "SETTLED"
  ) -> Transaction {
    transactionSequence += 1
    let settle = type == "BUY" || type == "SELL" ? options.calendar.addingBusinessDays(2, to: day) : day
    return Transaction(
      sequence: transactionSequence, account: k, type: type, status: status, tradeDate: day,
      settleDate: settle, instrument: instrument, quantity: quantity, amount: amount, currency: currency,
      reference: reference("T", transactionSequence))
  }

  private mutating func addCash(_ k: Int, _ currency: Currency, _ amount: Int64) {
    accounts[k].cash[currency.cashSlot] = (accounts[k].cash[currency.cashSlot] ?? 0) + amount
  }

  private static let activityTypes = [
    "DEPOSIT", "DEPOSIT", "WITHDRAWAL", "BUY", "BUY", "SELL", "DIVIDEND", "FEE", "FEE", "INTEREST",
    "TRANSFER_IN", "TRANSFER_OUT", "TAX",
  ]

  /// Moves prices and FX to `day` and books the day's transactions, which it returns.
  mutating func step(dayIndex: Int) -> [Transaction] {
    let day = days[dayIndex]
    let first = dayIndex == 0
    // Price factor 1 + N(0.0002, 0.012), in units of 10^-9 · 2^-20, exact in integers.
    let unit: Int128 = 1_000_000_000 << 20
    for index in instruments.indices {
      guard var price = instruments[index].price else { continue }
      if instruments[index].suspended && !first { continue }
      if !first {
        let factor = unit + (200_000 << 20) + 12_000_000 * Int128(random.gaussian20())
        price = max(100, Int64(ExactDecimal.divideHalfEven(Int128(price) * factor, unit)))
        instruments[index].price = price
      }
      instruments[index].history.append((date: day, price: price))
      if instruments[index].history.count > 10 { instruments[index].history.removeFirst() }
    }
    if !first {
      for index in fx.indices {
        let factor = unit + 4_000_000 * Int128(random.gaussian20())
        fx[index] = Int64(ExactDecimal.divideHalfEven(Int128(fx[index]) * factor, unit))
      }
    }
    fxHistory.append((date: day, rates: fx))
    if fxHistory.count > 10 { fxHistory.removeFirst() }

    var booked: [Transaction] = []
    booked.reserveCapacity(Int(Double(accounts.count) * options.activity * 1.1) + 16)
    for k in accounts.indices {
      let account = accounts[k]
      if account.closed != nil || account.opened > day { continue }
      let currency = account.currency
      if account.opened == day {
        let amount = Int64(random.int(1000...100_000)) * Scale.amount
        booked.append(transaction(k, "DEPOSIT", day, amount: amount, currency: currency))
        addCash(k, currency, amount)
        continue
      }
      if account.closingOn == day {
        close(k, day, into: &booked)
        continue
      }
      if random.unit() > options.activity { continue }
      let type = random.choice(World.activityTypes)
      let status = random.unit() < 0.85 ? "SETTLED" : random.choice(["PENDING", "CANCELLED"])
      let live = status != "CANCELLED"
      switch type {
      case "DEPOSIT":
        let amount = Int64(random.int(10_000...5_000_000))
        booked.append(transaction(k, type, day, amount: amount, currency: currency, status: status))
        if live { addCash(k, currency, amount) }
      case "WITHDRAWAL":
        let balance = account.cash[currency.cashSlot] ?? 0
        if balance <= 0 { continue }
        let share = Int128(random.int(500...6000))
        let amount = -Int64(ExactDecimal.divideHalfEven(Int128(balance) * share, 10_000))
        booked.append(transaction(k, type, day, amount: amount, currency: currency, status: status))
        if live { addCash(k, currency, amount) }
      case "BUY", "TRANSFER_IN":
        let index = Int(random.choice(tradable))
        let quantity = Int64(random.int(1...500)) * Scale.quantity
        let worth = value(of: index, quantity: quantity, in: currency)
        let amount = type == "BUY" ? -worth : worth
        booked.append(
          transaction(
            k, type, day, instrument: index, quantity: quantity, amount: amount, currency: currency,
            status: status))
        if live {
          if type == "BUY" { addCash(k, currency, -worth) }
          addHolding(k, index, quantity: quantity, cost: worth)
        }
      case "SELL", "TRANSFER_OUT":
        let candidates = account.holdings.indices.filter { slot in
          let instrument = instruments[Int(account.holdings[slot].instrument)]
          return instrument.price != nil && !instrument.noFX
        }
        if candidates.isEmpty { continue }
        let slot = random.choice(candidates)
        let holding = account.holdings[slot]
        var quantity = holding.quantity
        if random.unit() >= 0.3 {
          let half = Int64(ExactDecimal.divideHalfEven(Int128(holding.quantity), 2))
          if half > 0 { quantity = half }
        }
        let worth = value(of: Int(holding.instrument), quantity: quantity, in: currency)
        booked.append(
          transaction(
            k, type, day, instrument: Int(holding.instrument), quantity: -quantity,
            amount: type == "SELL" ? worth : -worth, currency: currency, status: status))
        if live {
          if type == "SELL" { addCash(k, currency, worth) }
          let costOut = Int64(
            ExactDecimal.divideHalfEven(Int128(holding.bookCost) * Int128(quantity), Int128(holding.quantity))
          )
          if quantity == holding.quantity {
            accounts[k].holdings.remove(at: slot)
          } else {
            accounts[k].holdings[slot].quantity -= quantity
            accounts[k].holdings[slot].bookCost -= costOut
          }
        }
      default:
        // DIVIDEND, INTEREST (money in), FEE, TAX (money out).
        let sign: Int64 = type == "DIVIDEND" || type == "INTEREST" ? 1 : -1
        let amount = sign * Int64(random.int(100...50_000))
        var instrument: Int?
        if type == "DIVIDEND" && !account.holdings.isEmpty {
          instrument = Int(random.choice(account.holdings).instrument)
        }
        booked.append(
          transaction(
            k, type, day, instrument: instrument, amount: amount, currency: currency, status: status))
        if live { addCash(k, currency, amount) }
      }
    }
    return booked
  }

  private mutating func addHolding(_ k: Int, _ index: Int, quantity: Int64, cost: Int64) {
    let key = Int32(index)
    if let slot = accounts[k].holdings.firstIndex(where: { $0.instrument == key }) {
      accounts[k].holdings[slot].quantity += quantity
      accounts[k].holdings[slot].bookCost += cost
      return
    }
    let holding = Holding(
      instrument: key, quantity: quantity, bookCost: cost, reference: reference("P", holdingSequence))
    holdingSequence += 1
    let slot = accounts[k].holdings.firstIndex(where: { $0.instrument > key }) ?? accounts[k].holdings.count
    accounts[k].holdings.insert(holding, at: slot)
  }

  /// Closes an account: sells every holding, pays out (or settles) every cash balance, sets closed_on.
  private mutating func close(_ k: Int, _ day: CivilDate, into booked: inout [Transaction]) {
    let currency = accounts[k].currency
    for holding in accounts[k].holdings {
      let proceeds = value(of: Int(holding.instrument), quantity: holding.quantity, in: currency)
      booked.append(
        transaction(
          k, "SELL", day, instrument: Int(holding.instrument), quantity: -holding.quantity,
          amount: proceeds, currency: currency))
      addCash(k, currency, proceeds)
    }
    accounts[k].holdings = []
    for cashCurrency in Currency.cashSlotCurrencies {
      guard let balance = accounts[k].cash[cashCurrency.cashSlot] else { continue }
      if balance != 0 {
        // A positive balance is paid out; an overdrawn one is settled by the client.
        let type = balance > 0 ? "WITHDRAWAL" : "DEPOSIT"
        booked.append(transaction(k, type, day, amount: -balance, currency: cashCurrency))
      }
      accounts[k].cash[cashCurrency.cashSlot] = 0
    }
    accounts[k].closed = day
  }
}

/// `value` in decimal, left-padded with zeros to `width` digits.
func zeroPadded(_ value: Int, _ width: Int) -> String {
  let text = String(value)
  return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
}
