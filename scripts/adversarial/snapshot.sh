# Broken and hostile snapshots (issue 11): integrity that SQLite does not enforce once a table is
# rebuilt without its key, rows of unknown owners, invalid UTF-8, a FIFO, a file changed while it
# is read. Each must be refused (exit 2) naming table and column, with no extract under OUT.

# A fresh copy of the small generated snapshot: prints its path.
snap_fresh() {
  adv_series snaps --days 1 --accounts 30 --firms 2 || return
  adv_first snaps
}

# Rebuilds TABLE without its primary key (CREATE TABLE AS SELECT keeps the rows, not the key).
snap_drop_key() {
  adv_sql "$1" "CREATE TABLE t2 AS SELECT * FROM $2; DROP TABLE $2; ALTER TABLE t2 RENAME TO $2;"
}

# The run must exit 2, say WORDS (each a fixed string) on stderr, and leave OUT without extracts.
snap_expect_refused() {
  adv_expect_rc 2 || return
  local w
  for w in "$@"; do
    grep -qF -- "$w" "$CASE/.err" || { adv_why "stderr does not say '$w': $(head -c 300 "$CASE/.err")"; return; }
  done
  local left
  left="$(find out -type f 2>/dev/null | head -n 3)"
  [ -z "$left" ] || adv_why "files left under OUT: $left"
}

case_snapshot_info_duplicate() {
  local s; s="$(snap_fresh)" || return
  snap_drop_key "$s" snapshot_info || return
  adv_sql "$s" "INSERT INTO snapshot_info VALUES ('business_date', '2026-10-02');" || return
  adv_run run --init-state --snapshot "$s" --state state.sqlite --out out
  snap_expect_refused "table snapshot_info" "row business_date" "column key" "duplicate-key"
}
adv_case snapshot-info-duplicate case_snapshot_info_duplicate "snapshot_info without its key, two business_date rows: refused (not 'first wins')"

case_snapshot_positions_duplicate() {
  local s; s="$(snap_fresh)" || return
  snap_drop_key "$s" positions || return
  adv_sql "$s" "INSERT INTO positions SELECT * FROM positions WHERE rowid = 5;" || return
  adv_run run --init-state --snapshot "$s" --state state.sqlite --out out
  snap_expect_refused "table positions" "column account_id,instrument_id" "duplicate-key"
}
adv_case snapshot-positions-duplicate case_snapshot_positions_duplicate "positions without its key, a row twice: refused, not counted twice"

case_snapshot_positions_duplicate_one_firm() {
  local s; s="$(snap_fresh)" || return
  snap_drop_key "$s" positions || return
  adv_sql "$s" "INSERT INTO positions SELECT p.* FROM positions p JOIN accounts a USING (account_id)
    WHERE a.firm_id = 'FIRM001' LIMIT 1;" || return
  adv_run run --init-state --snapshot "$s" --state state.sqlite --out out --firm FIRM001
  snap_expect_refused "table positions" "column account_id,instrument_id" "duplicate-key"
}
adv_case snapshot-positions-duplicate-one-firm case_snapshot_positions_duplicate_one_firm "the same, a run of one firm (--firm)"

case_snapshot_cash_duplicate() {
  local s; s="$(snap_fresh)" || return
  snap_drop_key "$s" cash_balances || return
  adv_sql "$s" "INSERT INTO cash_balances SELECT * FROM cash_balances WHERE rowid = 3;" || return
  adv_run run --init-state --snapshot "$s" --state state.sqlite --out out
  snap_expect_refused "table cash_balances" "column account_id,currency" "duplicate-key"
}
adv_case snapshot-cash-duplicate case_snapshot_cash_duplicate "cash_balances without its key, a row twice: refused, not counted twice"

case_snapshot_firm_duplicate() {
  local s; s="$(snap_fresh)" || return
  snap_drop_key "$s" firms || return
  adv_sql "$s" "INSERT INTO firms SELECT * FROM firms WHERE firm_id = 'FIRM001';" || return
  adv_run run --init-state --snapshot "$s" --state state.sqlite --out out
  snap_expect_refused "table firms" "row FIRM001" "column firm_id" "duplicate-key"
}
adv_case snapshot-firm-duplicate case_snapshot_firm_duplicate "firms without its key, FIRM001 twice: refused (no success line with 0 rows)"

case_snapshot_transaction_duplicate() {
  local s; s="$(snap_fresh)" || return
  snap_drop_key "$s" transactions || return
  adv_sql "$s" "INSERT INTO transactions SELECT * FROM transactions LIMIT 1;" || return
  adv_run run --init-state --snapshot "$s" --state state.sqlite --out out
  snap_expect_refused "table transactions" "column transaction_id" "duplicate-key"
}
adv_case snapshot-transaction-duplicate case_snapshot_transaction_duplicate "transactions without its key, a transaction twice: refused"

case_snapshot_null_key() {
  local s; s="$(snap_fresh)" || return
  snap_drop_key "$s" cash_balances || return
  adv_sql "$s" "UPDATE cash_balances SET currency = NULL WHERE rowid = 2;" || return
  adv_run run --init-state --snapshot "$s" --state state.sqlite --out out
  snap_expect_refused "table cash_balances" "column currency" "missing-value"
}
adv_case snapshot-null-key case_snapshot_null_key "a NULL in a primary key's column: refused"

case_snapshot_unknown_account_cash() {
  local s; s="$(snap_fresh)" || return
  adv_sql "$s" "INSERT INTO cash_balances VALUES ('AC99999999', 'GBP', '1000000.00');" || return
  adv_run run --init-state --snapshot "$s" --state state.sqlite --out out
  snap_expect_refused "table cash_balances" "row AC99999999/GBP" "column account_id" "unknown-reference"
}
adv_case snapshot-unknown-account-cash case_snapshot_unknown_account_cash "a 1,000,000 cash balance of an unknown account: refused, not dropped"

case_snapshot_unknown_account_transaction() {
  local s; s="$(snap_fresh)" || return
  adv_sql "$s" "INSERT INTO transactions SELECT 'TX9999999999', 'AC99999999', 'DEPOSIT', 'SETTLED', value, value,
    NULL, NULL, '1000000.00', 'GBP', NULL FROM snapshot_info WHERE key = 'business_date';" || return
  adv_run run --init-state --snapshot "$s" --state state.sqlite --out out --firm FIRM001
  snap_expect_refused "table transactions" "row TX9999999999" "column account_id" "unknown-reference"
}
adv_case snapshot-unknown-account-transaction case_snapshot_unknown_account_transaction "a 1,000,000 deposit of an unknown account: refused, not dropped"

case_snapshot_unknown_account_position() {
  local s; s="$(snap_fresh)" || return
  adv_sql "$s" "INSERT INTO positions SELECT 'AC99999999', instrument_id, '10', '10.00', NULL FROM instruments LIMIT 1;" || return
  adv_run run --init-state --snapshot "$s" --state state.sqlite --out out
  snap_expect_refused "table positions" "column account_id" "unknown-reference"
}
adv_case snapshot-unknown-account-position case_snapshot_unknown_account_position "a position of an unknown account: refused"

case_snapshot_unknown_firm() {
  local s; s="$(snap_fresh)" || return
  adv_sql "$s" "UPDATE accounts SET firm_id = 'FIRM404' WHERE account_id = (SELECT MIN(account_id) FROM accounts);" || return
  adv_run run --init-state --snapshot "$s" --state state.sqlite --out out
  snap_expect_refused "table accounts" "column firm_id" "unknown-reference"
}
adv_case snapshot-unknown-firm case_snapshot_unknown_firm "an account of a firm the snapshot lacks: refused, not skipped"

case_snapshot_unknown_client() {
  local s; s="$(snap_fresh)" || return
  adv_sql "$s" "UPDATE accounts SET client_id = 'CL99999999' WHERE account_id = (SELECT MIN(account_id) FROM accounts);" || return
  adv_run run --init-state --snapshot "$s" --state state.sqlite --out out
  snap_expect_refused "table accounts" "column client_id" "unknown-reference"
}
adv_case snapshot-unknown-client case_snapshot_unknown_client "an account of a client the snapshot lacks: refused"

case_snapshot_unknown_instrument() {
  local s; s="$(snap_fresh)" || return
  adv_sql "$s" "INSERT INTO positions SELECT account_id, 'INS404', '10', '10.00', NULL FROM accounts
    WHERE firm_id = 'FIRM001' ORDER BY account_id LIMIT 1;" || return
  adv_run run --init-state --snapshot "$s" --state state.sqlite --out out
  adv_expect_rc 0 || return
  zcat out/FIRM001/*/FIRM001_data_quality_*.csv.gz | grep -q UNKNOWN_INSTRUMENT \
    || adv_why "no UNKNOWN_INSTRUMENT finding in FIRM001's data_quality"
}
adv_case snapshot-unknown-instrument case_snapshot_unknown_instrument "a position of an unknown instrument stays a finding (UNKNOWN_INSTRUMENT), exit 0"

case_snapshot_invalid_utf8_account() {
  local s; s="$(snap_fresh)" || return
  local a; a="$(adv_sql "$s" "SELECT MIN(account_id) FROM accounts;")"
  adv_sql "$s" "PRAGMA foreign_keys=OFF;
    UPDATE accounts SET account_id = CAST(X'4143ff3031' AS TEXT) WHERE account_id = '$a';
    UPDATE positions SET account_id = CAST(X'4143ff3031' AS TEXT) WHERE account_id = '$a';" || return
  adv_run run --init-state --snapshot "$s" --state state.sqlite --out out
  snap_expect_refused "table accounts" "column account_id" "invalid-utf8"
}
adv_case snapshot-invalid-utf8-account case_snapshot_invalid_utf8_account "an invalid-UTF-8 account_id: refused, not valued at 0.00"

case_snapshot_invalid_utf8_position_ref() {
  local s; s="$(snap_fresh)" || return
  adv_sql "$s" "UPDATE positions SET external_ref = CAST(X'41c0af42' AS TEXT) WHERE rowid = 7;" || return
  adv_run run --init-state --snapshot "$s" --state state.sqlite --out out
  snap_expect_refused "table positions" "column external_ref" "invalid-utf8"
}
adv_case snapshot-invalid-utf8-position-ref case_snapshot_invalid_utf8_position_ref "an overlong UTF-8 form in a position's external_ref: refused"

case_snapshot_fifo() {
  mkfifo snap.fifo || return
  # The run must not hang (the timeout would end it with 124) nor leave the lock taken.
  timeout 90 "$ADV_BIN" run --init-state --snapshot snap.fifo --state state.sqlite --out out >"$CASE/.out" 2>"$CASE/.err" </dev/null
  ADV_RC=$?
  snap_expect_refused "snap.fifo" "not-a-regular-file" "FIFO"
}
adv_case snapshot-fifo case_snapshot_fifo "a FIFO given as the snapshot: refused at once (exit 2), no hang with the lock held"

case_snapshot_directory() {
  mkdir snapdir || return
  adv_run run --init-state --snapshot snapdir --state state.sqlite --out out
  snap_expect_refused "snapdir" "not-a-regular-file"
}
adv_case snapshot-directory case_snapshot_directory "a directory given as the snapshot: refused (exit 2)"

case_snapshot_unchanged_after_run() {
  local s; s="$(snap_fresh)" || return
  local before after
  before="$(sha256sum <"$s")"
  adv_run run --init-state --snapshot "$s" --state state.sqlite --out out
  adv_expect_rc 0 || return
  after="$(sha256sum <"$s")"
  [ "$before" = "$after" ] || adv_why "the snapshot's bytes changed during the run"
}
adv_case snapshot-unchanged-after-run case_snapshot_unchanged_after_run "a run leaves the snapshot byte-identical (opened read-only)"

# A writer that updates one instrument's price and its positions' quantity together (value
# unchanged) in a loop while the job reads: every run must either refuse the file or show one
# state; a row whose value differs from the constant mixes two states. The snapshot is in WAL mode,
# where readers do not hold writers off (in rollback-journal mode the job's read transactions do).
case_snapshot_concurrent_writer() {
  adv_series big --days 1 --accounts 3000 --firms 3 || return
  local s; s="$(adv_first big)"
  local ins
  ins="$(adv_sql "$s" "SELECT i.instrument_id FROM instruments i JOIN positions p USING (instrument_id)
    JOIN accounts a USING (account_id) WHERE i.currency = 'GBP' AND i.quote_factor = '1' AND a.currency = 'GBP'
    GROUP BY i.instrument_id ORDER BY COUNT(*) DESC LIMIT 1;")"
  [ -n "$ins" ] || { adv_why "no GBP instrument held"; return; }
  adv_sql "$s" "PRAGMA journal_mode = WAL;" >/dev/null || return
  adv_sql "$s" "DELETE FROM prices WHERE instrument_id = '$ins';
    INSERT INTO prices SELECT '$ins', value, '1000' FROM snapshot_info WHERE key = 'business_date';
    DELETE FROM positions WHERE instrument_id = '$ins'
      AND account_id IN (SELECT account_id FROM accounts WHERE currency <> 'GBP');
    UPDATE positions SET quantity = '1' WHERE instrument_id = '$ins';" || return
  python3 - "$s" "$ins" >writer.log 2>&1 <<'PY' &
import sqlite3, sys, time
path, ins = sys.argv[1], sys.argv[2]
db = sqlite3.connect(path, timeout=0.2, isolation_level=None)
states = [("1000", "1"), ("500", "2"), ("250", "4")]
i = 0
end = time.time() + 60
while time.time() < end:
    price, qty = states[i % 3]
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("UPDATE prices SET price = ? WHERE instrument_id = ?", (price, ins))
        db.execute("UPDATE positions SET quantity = ? WHERE instrument_id = ?", (qty, ins))
        db.execute("COMMIT")
        i += 1
    except sqlite3.OperationalError:
        try: db.execute("ROLLBACK")
        except sqlite3.OperationalError: pass
PY
  local writer=$!
  sleep 0.5
  local run mixed=0 refused=0 ok=0
  for run in 1 2 3 4 5; do
    rm -rf out state.sqlite
    adv_run run --init-state --snapshot "$s" --state state.sqlite --out out
    if [ "$ADV_RC" = 2 ]; then
      refused=$((refused + 1))
      [ -z "$(find out -type f 2>/dev/null | head -n 1)" ] || { kill "$writer"; adv_why "refused run left files"; return; }
    elif [ "$ADV_RC" = 0 ]; then
      ok=$((ok + 1))
      # market_value of every position on the instrument must be 1000.00 (one state).
      local bad
      bad="$(zcat out/*/*/*_positions_*.csv.gz | grep -F ",$ins," | grep -v ',1000\.00,' | head -n 1)"
      [ -z "$bad" ] || mixed=$((mixed + 1))
    else
      kill "$writer"; adv_why "exit $ADV_RC: $(tail -c 200 "$CASE/.err")"; return
    fi
  done
  kill "$writer" 2>/dev/null; wait "$writer" 2>/dev/null
  echo "ok=$ok refused=$refused mixed=$mixed"
  [ "$mixed" = 0 ] || adv_why "$mixed of 5 runs wrote rows mixing two states of the file (exit 0)"
}
adv_case snapshot-concurrent-writer case_snapshot_concurrent_writer "a writer changing price and quantity together while the job reads: refused or one state, never mixed"
