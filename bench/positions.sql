-- The benchmark's reference positions extract, for `sqlite3 -csv SNAPSHOT < bench/positions.sql | gzip -6`.
-- The same join the project's positions extract makes: positions, accounts, clients, instruments and
-- the latest price on or before the business date, in the template's column order, one row per
-- position, sorted by account_id, instrument_id. It is a throughput yardstick, not a second
-- implementation: values are SQLite REAL arithmetic (not exact decimals), no FX conversion, no
-- price status, no weight, no reference validation, no data-quality rows, one file for all firms.
.headers on
.mode csv
WITH
  info AS (SELECT value AS business_date FROM snapshot_info WHERE key = 'business_date'),
  latest AS MATERIALIZED (
    -- SQLite's bare-column rule: price is taken from the row holding max(price_date).
    SELECT p.instrument_id, p.price, max(p.price_date) AS price_date
    FROM prices p, info
    WHERE p.price_date <= info.business_date
    GROUP BY p.instrument_id
  )
SELECT
  info.business_date,
  a.firm_id,
  a.client_id,
  c.external_ref AS client_external_ref,
  a.account_id,
  a.external_ref AS account_external_ref,
  a.wrapper,
  a.currency AS account_currency,
  i.instrument_id,
  i.isin,
  i.sedol,
  i.name AS instrument_name,
  i.asset_class,
  p.quantity,
  l.price,
  i.currency AS price_currency,
  l.price_date,
  CASE WHEN l.price IS NULL THEN 'MISSING' ELSE 'OK' END AS price_status,
  printf('%.2f', p.quantity * l.price * i.quote_factor) AS market_value,
  p.book_cost,
  printf('%.2f', p.quantity * l.price * i.quote_factor - p.book_cost) AS unrealised_gain_loss,
  p.external_ref AS position_external_ref
FROM info, positions p
JOIN accounts a ON a.account_id = p.account_id
JOIN clients c ON c.client_id = a.client_id
JOIN instruments i ON i.instrument_id = p.instrument_id
LEFT JOIN latest l ON l.instrument_id = p.instrument_id
ORDER BY p.account_id, p.instrument_id;
