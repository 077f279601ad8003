// The snapshot schema, version 1, exactly as the product contract states it.
// Long lines are split with a trailing backslash, which Swift joins without a newline.

extension SnapshotGenerator {
  /// The schema-version-1 DDL of a ledger snapshot, byte for byte as the contract states it:
  /// every `CREATE TABLE`, then the `CREATE INDEX` statements.
  ///
  /// The generator runs the tables part before inserting rows and the indexes part after.
  public static let schemaSQL: String = """
    -- End-of-day ledger snapshot, schema version 1.
    -- One SQLite file per business date; it may hold many firms.
    -- Every decimal is TEXT in plain notation: optional '-', digits, optional '.'
    -- and digits (no exponent, no thousands separator, no '+'). Dates are
    -- 'YYYY-MM-DD'. Currencies are ISO 4217 codes, plus 'GBX' (pence sterling).

    CREATE TABLE snapshot_info (
      key   TEXT PRIMARY KEY,   -- schema_version ('1'), business_date, generated_at (RFC 3339), source
      value TEXT NOT NULL
    );

    CREATE TABLE firms (
      firm_id       TEXT PRIMARY KEY,
      name          TEXT NOT NULL,
      base_currency TEXT NOT NULL
    );

    CREATE TABLE clients (
      client_id    TEXT PRIMARY KEY,
      firm_id      TEXT NOT NULL REFERENCES firms(firm_id),
      client_type  TEXT NOT NULL,          -- INDIVIDUAL | JOINT | CORPORATE | TRUST
      external_ref TEXT                    -- the firm's own reference; may be NULL
    );

    CREATE TABLE accounts (
      account_id   TEXT PRIMARY KEY,
      firm_id      TEXT NOT NULL REFERENCES firms(firm_id),
      client_id    TEXT NOT NULL REFERENCES clients(client_id),
      wrapper      TEXT NOT NULL,          -- ISA | JISA | LISA | SIPP | GIA | OFFSHORE_BOND
      currency     TEXT NOT NULL,          -- the account's reporting currency
      opened_on    TEXT NOT NULL,
      closed_on    TEXT,                   -- NULL while open
      external_ref TEXT
    );

    CREATE TABLE instruments (
      instrument_id TEXT PRIMARY KEY,
      isin          TEXT,
      sedol         TEXT,
      name          TEXT NOT NULL,
      asset_class   TEXT NOT NULL,         -- EQUITY | FUND | ETF | BOND | CASH_FUND
      currency      TEXT NOT NULL,         -- currency the price is quoted in (may be GBX)
      quote_factor  TEXT NOT NULL DEFAULT '1'  -- value = quantity * price * quote_factor ('0.01' for bonds\
     priced per 100 nominal)
    );

    CREATE TABLE prices (
      instrument_id TEXT NOT NULL REFERENCES instruments(instrument_id),
      price_date    TEXT NOT NULL,
      price         TEXT NOT NULL,
      PRIMARY KEY (instrument_id, price_date)
    );

    CREATE TABLE fx_rates (
      rate_date      TEXT NOT NULL,
      base_currency  TEXT NOT NULL,        -- 1 unit of base_currency = rate units of quote_currency
      quote_currency TEXT NOT NULL,
      rate           TEXT NOT NULL,
      PRIMARY KEY (rate_date, base_currency, quote_currency)
    );

    CREATE TABLE positions (
      account_id    TEXT NOT NULL REFERENCES accounts(account_id),
      instrument_id TEXT NOT NULL REFERENCES instruments(instrument_id),
      quantity      TEXT NOT NULL,
      book_cost     TEXT NOT NULL,         -- in the account's currency
      external_ref  TEXT,
      PRIMARY KEY (account_id, instrument_id)
    );

    CREATE TABLE cash_balances (
      account_id TEXT NOT NULL REFERENCES accounts(account_id),
      currency   TEXT NOT NULL,
      balance    TEXT NOT NULL,
      PRIMARY KEY (account_id, currency)
    );

    -- The transactions booked since the previous snapshot (trade_date in
    -- (previous business_date, business_date]).
    CREATE TABLE transactions (
      transaction_id TEXT PRIMARY KEY,
      account_id     TEXT NOT NULL REFERENCES accounts(account_id),
      type           TEXT NOT NULL,        -- DEPOSIT | WITHDRAWAL | TRANSFER_IN | TRANSFER_OUT | BUY |\
     SELL | DIVIDEND | INTEREST | FEE | TAX
      status         TEXT NOT NULL,        -- SETTLED | PENDING | CANCELLED
      trade_date     TEXT NOT NULL,
      settle_date    TEXT NOT NULL,
      instrument_id  TEXT REFERENCES instruments(instrument_id),  -- BUY, SELL, DIVIDEND, and in-specie\
     TRANSFER_IN/OUT
      quantity       TEXT,                 -- BUY, SELL, in-specie transfers; signed: + units in, - units\
     out
      amount         TEXT NOT NULL,        -- signed, from the account's side: + money in, - money out; for\
     in-specie transfers the market value moved
      currency       TEXT NOT NULL,
      external_ref   TEXT
    );

    CREATE INDEX positions_by_account ON positions(account_id);
    CREATE INDEX transactions_by_account ON transactions(account_id);
    CREATE INDEX accounts_by_firm ON accounts(firm_id);

    """
}
