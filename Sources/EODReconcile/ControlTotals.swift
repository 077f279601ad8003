import EODCore

/// A side's control total per account currency: the extract's amount field added up exactly,
/// with the rows counted (positions `market_value`, cash `value`, transactions
/// `amount_account_currency`, each by `account_currency`, as in the manifest).
struct ControlTotals {
  /// The field added up and the field it is grouped by, for an extract.
  static func fields(_ extract: ReconcileExtract) -> (amount: String, currency: String) {
    switch extract {
    case .positions: return ("market_value", "account_currency")
    case .cash: return ("value", "account_currency")
    case .transactions: return ("amount_account_currency", "account_currency")
    }
  }

  /// False when the side's file has no amount or currency column (then no totals are given).
  var available = true
  var rows: [String: Int] = [:]
  var totals: [String: ExactDecimal] = [:]
  /// Per currency, amounts that are not exact decimals (or would overflow): counted in the rows,
  /// not added, and shown as `unreadable_amounts` so a total is never silently short.
  var unreadable: [String: Int] = [:]

  mutating func add(currency: String, amount: String) {
    var amount = amount
    amount.withUTF8 { add(currency: currency, amount: UnsafeRawBufferPointer($0)) }
  }

  /// A row's currency and amount as the file's bytes (the amount is parsed in place).
  mutating func add(currency: UnsafeRawBufferPointer, amount: UnsafeRawBufferPointer) {
    add(currency: String(decoding: currency, as: UTF8.self), amount: amount)
  }

  mutating func add(currency: String, amount: UnsafeRawBufferPointer) {
    rows[currency, default: 0] += 1
    if amount.isEmpty { return }
    guard let value = ExactDecimal.parse(amount.assumingMemoryBound(to: UInt8.self)),
      let sum = totals[currency, default: .zero].adding(value)
    else {
      unreadable[currency, default: 0] += 1
      return
    }
    totals[currency] = sum
  }

  /// `{currency: {"rows": n, "total": "exact"}}`, plus `unreadable_amounts` when some could not
  /// be added.
  var json: [String: Any] {
    var result: [String: Any] = [:]
    for (currency, count) in rows {
      var entry: [String: Any] = ["rows": count, "total": (totals[currency] ?? .zero).description]
      if let bad = unreadable[currency] { entry["unreadable_amounts"] = bad }
      result[currency] = entry
    }
    return result
  }
}
