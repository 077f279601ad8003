# Values a ledger should not hold, sums at any size, formula cells (issue 11; contract 1.1).
# Each case edits a generated snapshot with sqlite3, runs it, and reads the extracts with python3.

# A one-day series in `snaps` and, in VAL_S, VAL_A, VAL_B, VAL_F, VAL_D: its snapshot, two GBP
# accounts of one firm open before the date, that firm and the date.
val_setup() {
  adv_series snaps --days 1 --accounts 30 --firms 2 --edge || return
  VAL_S="$(adv_first snaps)"
  VAL_D="$(adv_sql "$VAL_S" "SELECT value FROM snapshot_info WHERE key='business_date'")"
  local open="FROM accounts WHERE currency='GBP' AND closed_on IS NULL AND opened_on < '$VAL_D'"
  VAL_A="$(adv_sql "$VAL_S" "SELECT account_id $open ORDER BY account_id LIMIT 1")"
  VAL_F="$(adv_sql "$VAL_S" "SELECT firm_id FROM accounts WHERE account_id='$VAL_A'")"
  VAL_B="$(adv_sql "$VAL_S" "SELECT account_id $open AND firm_id='$VAL_F' AND account_id > '$VAL_A' ORDER BY account_id LIMIT 1")"
  [ -n "$VAL_A" ] && [ -n "$VAL_B" ] || adv_why "no two open GBP accounts in the generated snapshot"
}

# The snapshot edited by $1 (with A, B, D for the accounts and the date), run into `out`.
val_run() {
  local sql="${1//\$A/$VAL_A}"
  sql="${sql//\$B/$VAL_B}"
  sql="${sql//\$D/$VAL_D}"
  adv_sql "$VAL_S" "PRAGMA foreign_keys=OFF; $sql" || { adv_why "sqlite3 edit failed"; return; }
  adv_run run --init-state --snapshot "$VAL_S" --state state.sqlite --out out
}

# python3 CHECK: a script with helpers rows(kind) (dicts), dq(resource) (set of codes),
# manifest(), and A, B, F, D; it prints why and exits 1 on a defect.
val_check() {
  local out
  out="$(VAL_A="$VAL_A" VAL_B="$VAL_B" VAL_F="$VAL_F" VAL_D="$VAL_D" python3 - "$1" <<'PY' 2>&1
import csv, glob, gzip, io, json, os, sys
A, B, F, D = (os.environ[k] for k in ("VAL_A", "VAL_B", "VAL_F", "VAL_D"))
base = f"out/{F}/{D}/{F}_"
def rows(kind):
    with gzip.open(base + f"{kind}_{D.replace('-', '')}.csv.gz", "rt", newline="") as f:
        return list(csv.DictReader(io.StringIO(f.read())))
def dq(resource):
    return {r["code"] for r in rows("data_quality") if r["resource_id"] == resource}
def manifest():
    return json.load(open(base + f"manifest_{D.replace('-', '')}.json"))
def fail(why):
    print(why); sys.exit(1)
exec(sys.argv[1])
PY
)" || { adv_why "$(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"; return; }
}

case_value_negative_price() {
  val_setup || return
  val_run "INSERT INTO instruments VALUES ('XNEG', NULL, NULL, 'Negative plc', 'EQUITY', 'GBP', '1');
    INSERT INTO prices VALUES ('XNEG', '\$D', '-1.50');
    INSERT INTO positions VALUES ('\$A', 'XNEG', '10', '0', NULL);" || return
  adv_expect_rc 0 || return
  val_check '
p = [r for r in rows("positions") if r["account_id"] == A and r["instrument_id"] == "XNEG"][0]
if p["price_status"] != "INVALID" or p["market_value"] != "": fail(f"valued: {p}")
if dq(A + "/XNEG") != {"INVALID_PRICE"}: fail("findings %s" % dq(A + "/XNEG"))'
}
adv_case value-negative-price case_value_negative_price "a negative price: price_status INVALID, unvalued, INVALID_PRICE (not MISSING_PRICE)"

case_value_zero_price() {
  val_setup || return
  val_run "INSERT INTO instruments VALUES ('XZERO', NULL, NULL, 'Zero plc', 'EQUITY', 'GBP', '1');
    INSERT INTO prices VALUES ('XZERO', '\$D', '0');
    INSERT INTO positions VALUES ('\$A', 'XZERO', '10', '0', NULL);" || return
  adv_expect_rc 0 || return
  val_check '
p = [r for r in rows("positions") if r["account_id"] == A and r["instrument_id"] == "XZERO"][0]
if p["market_value"] != "0.00" or p["price_status"] != "OK": fail(f"row {p}")
if dq(A + "/XZERO") != {"ZERO_PRICE"}: fail("findings %s" % dq(A + "/XZERO"))'
}
adv_case value-zero-price case_value_zero_price "a zero price: valued at 0.00 with warning ZERO_PRICE"

case_value_negative_quantity() {
  val_setup || return
  val_run "INSERT INTO instruments VALUES ('XSHORT', NULL, NULL, 'Short plc', 'EQUITY', 'GBP', '1');
    INSERT INTO prices VALUES ('XSHORT', '\$D', '2.00');
    INSERT INTO positions VALUES ('\$A', 'XSHORT', '-10', '0', NULL);" || return
  adv_expect_rc 0 || return
  val_check '
p = [r for r in rows("positions") if r["account_id"] == A and r["instrument_id"] == "XSHORT"][0]
if p["market_value"] != "-20.00": fail(f"row {p}")
if dq(A + "/XSHORT") != {"NEGATIVE_QUANTITY"}: fail("findings %s" % dq(A + "/XSHORT"))'
}
adv_case value-negative-quantity case_value_negative_quantity "a negative quantity: valued (-20.00) with warning NEGATIVE_QUANTITY"

case_value_fx_zero_with_inverse() {
  val_setup || return
  val_run "INSERT INTO instruments VALUES ('XQA', NULL, NULL, 'QA fund', 'FUND', 'QAA', '1'),
      ('XQN', NULL, NULL, 'QN fund', 'FUND', 'QNN', '1');
    INSERT INTO prices VALUES ('XQA', '\$D', '10'), ('XQN', '\$D', '10');
    INSERT INTO fx_rates VALUES ('\$D', 'QAA', 'GBP', '0'), ('\$D', 'GBP', 'QAA', '2'),
      ('\$D', 'QNN', 'GBP', '-1'), ('\$D', 'GBP', 'QNN', '4');
    INSERT INTO positions VALUES ('\$A', 'XQA', '10', '0', NULL), ('\$A', 'XQN', '10', '0', NULL);
    INSERT INTO cash_balances VALUES ('\$A', 'QAA', '50'), ('\$A', 'QNN', '50');" || return
  adv_expect_rc 0 || return
  val_check '
for instrument, value, rate in (("XQA", "50.00", "0.5000000000"), ("XQN", "25.00", "0.2500000000")):
    p = [r for r in rows("positions") if r["account_id"] == A and r["instrument_id"] == instrument][0]
    if p["market_value"] != value or p["fx_rate"] != rate: fail(f"row {p}")
for currency, value in (("QAA", "25.00"), ("QNN", "12.50")):
    c = [r for r in rows("cash") if r["account_id"] == A and r["currency"] == currency][0]
    if c["value"] != value: fail(f"cash {c}")
for key in ("/XQA", "/QAA", "/XQN", "/QNN"):
    if dq(A + key): fail("findings %s %s" % (key, dq(A + key)))'
}
adv_case value-fx-invalid-with-inverse case_value_fx_zero_with_inverse "FX rate 0 and -1 on the direct rate with a usable inverse: converted by the inverse, no finding"

case_value_fx_invalid_no_inverse() {
  val_setup || return
  val_run "INSERT INTO instruments VALUES ('XQB', NULL, NULL, 'QB fund', 'FUND', 'QBB', '1');
    INSERT INTO instruments VALUES ('XQC', NULL, NULL, 'QC fund', 'FUND', 'QCC', '1');
    INSERT INTO prices VALUES ('XQB', '\$D', '10'), ('XQC', '\$D', '10');
    INSERT INTO fx_rates VALUES ('\$D', 'QBB', 'GBP', '-1'), ('\$D', 'QCC', 'GBP', '0');
    INSERT INTO positions VALUES ('\$A', 'XQB', '10', '0', NULL), ('\$A', 'XQC', '10', '0', NULL);
    INSERT INTO cash_balances VALUES ('\$A', 'QBB', '100');
    INSERT INTO transactions VALUES ('TXQB', '\$A', 'DEPOSIT', 'SETTLED', '\$D', '\$D', NULL, NULL, '100', 'QBB', NULL);" || return
  adv_expect_rc 0 || return
  val_check '
for key in (A + "/XQB", A + "/XQC", A + "/QBB", "TXQB"):
    if dq(key) != {"MISSING_FX", "INVALID_FX"}: fail(f"{key}: findings {dq(key)}")
p = [r for r in rows("positions") if r["account_id"] == A and r["instrument_id"] in ("XQB", "XQC")]
if any(r["market_value"] for r in p): fail(f"valued {p}")
t = [r for r in rows("transactions") if r["transaction_id"] == "TXQB"][0]
if t["amount_account_currency"]: fail(f"converted {t}")'
}
adv_case value-fx-invalid-no-inverse case_value_fx_invalid_no_inverse "FX rate -1 and 0 with no inverse: positions, cash and transactions unconverted, MISSING_FX and INVALID_FX"

case_value_38_digit_sums() {
  val_setup || return
  local big="999999999999999999999999999999999999.99" i values=""
  for i in $(seq 1 150); do values="$values, ('TXBIG$i', '\$B', 'DIVIDEND', 'SETTLED', '\$D', '\$D', NULL, NULL, '$big', 'GBP', NULL)"; done
  val_run "INSERT INTO instruments VALUES ('XBIG', NULL, NULL, 'Big plc', 'EQUITY', 'GBP', '1'),
      ('XBIG2', NULL, NULL, 'Big two plc', 'EQUITY', 'GBP', '1');
    INSERT INTO prices VALUES ('XBIG', '\$D', '1'), ('XBIG2', '\$D', '1');
    INSERT INTO positions VALUES ('\$A', 'XBIG', '$big', '0', NULL), ('\$A', 'XBIG2', '$big', '0', NULL);
    INSERT INTO transactions VALUES ('TXHUGE1', '\$A', 'DEPOSIT', 'SETTLED', '\$D', '\$D', NULL, NULL,
      '99999999999999999999999999999999999999', 'GBP', NULL), ('TXHUGE2', '\$A', 'DEPOSIT', 'SETTLED', '\$D', '\$D',
      NULL, NULL, '99999999999999999999999999999999999999', 'GBP', NULL)$values;" || return
  adv_expect_rc 0 || return
  val_check '
from decimal import Decimal, getcontext
getcontext().prec = 200
m = manifest()
for f in m["files"]:
    column = {"positions": "market_value", "cash": "value", "transactions": "amount_account_currency",
              "valuations": "total_value"}.get(f["extract"])
    if not column: continue
    total = sum((Decimal(r[column]) for r in rows(f["extract"]) if r[column]), Decimal(0))
    if Decimal(f["control_totals"][column]) != total:
        fail("%s: manifest %s != rows %s" % (f["extract"], f["control_totals"][column], total))
    by = f.get("control_totals_by_currency", {})
    if sum(Decimal(v[column]) for v in by.values()) != total: fail("%s: per-currency totals do not add up" % f["extract"])
    if sum(v["rows"] for v in by.values()) != f["rows"]: fail("%s: per-currency rows do not add up" % f["extract"])
v = [r for r in rows("valuations") if r["account_id"] == A][0]
if v["total_value"] or "VALUE_OUT_OF_RANGE" not in dq(A): fail("account beyond 38 digits: %r" % v["total_value"])'
}
adv_case value-38-digit-sums case_value_38_digit_sums "38-digit amounts and 150 rows summing past 10^38: every manifest total equals its rows exactly, per currency too; an account beyond 38 digits is VALUE_OUT_OF_RANGE, its firm written"

case_value_account_beyond_64bit_cents() {
  val_setup || return
  val_run "INSERT INTO instruments VALUES ('XHUGE', NULL, NULL, 'Huge plc', 'EQUITY', 'GBP', '1');
    INSERT INTO prices VALUES ('XHUGE', '\$D', '10');
    INSERT INTO positions VALUES ('\$A', 'XHUGE', '100000000000000000', '0', NULL);
    INSERT INTO transactions VALUES ('TXOOR', '\$B', 'FEE', 'SETTLED', '\$D', '\$D', NULL, NULL,
      '99999999999999999999999999999999999999', 'USD', NULL);" || return
  adv_expect_rc 0 || return
  val_check '
v = [r for r in rows("valuations") if r["account_id"] == A][0]
if not v["total_value"] or len(v["total_value"]) < 22: fail("total %r" % v["total_value"])
if "VALUE_OUT_OF_RANGE" not in dq(A): fail("no VALUE_OUT_OF_RANGE for the account")
t = [r for r in rows("transactions") if r["transaction_id"] == "TXOOR"][0]
if t["amount_account_currency"] or dq("TXOOR") != {"VALUE_OUT_OF_RANGE"}: fail("transaction %s %s" % (t, dq("TXOOR")))'
}
adv_case value-account-beyond-64bit-cents case_value_account_beyond_64bit_cents "an account worth more than 64-bit cents and a transaction converted past 38 digits: marked VALUE_OUT_OF_RANGE, the firm still written (exit 0)"

case_value_formula_cells() {
  val_setup || return
  val_run "UPDATE accounts SET account_id = '=HYPERLINK(\"http://x\")', external_ref = '-A1-B1' WHERE account_id = '\$A';
    UPDATE positions SET account_id = '=HYPERLINK(\"http://x\")' WHERE account_id = '\$A';
    UPDATE cash_balances SET account_id = '=HYPERLINK(\"http://x\")' WHERE account_id = '\$A';
    UPDATE transactions SET account_id = '=HYPERLINK(\"http://x\")' WHERE account_id = '\$A';
    UPDATE clients SET client_id = '@SUM(1+1)' WHERE client_id = (SELECT client_id FROM accounts WHERE account_id = '=HYPERLINK(\"http://x\")');
    UPDATE accounts SET client_id = '@SUM(1+1)' WHERE account_id = '=HYPERLINK(\"http://x\")';
    INSERT INTO instruments VALUES ('=1+1', '+1+cmd|x', '@s', '-name', '=EQ', 'GBP', '1');
    INSERT INTO prices VALUES ('=1+1', '\$D', '2');
    INSERT INTO positions VALUES ('=HYPERLINK(\"http://x\")', '=1+1', '-3', '-7.5', '-ref');
    INSERT INTO transactions VALUES ('-2+3', '=HYPERLINK(\"http://x\")', '+FEE', '@S', '\$D', '\$D', '=1+1', '-1', '-12.34', 'GBP', '-A');" || return
  rm -rf out state.sqlite
  cat >cfg.yaml <<EOF
version: 1
snapshot: snaps/ledger-{date}.sqlite
state_store: {path: state.sqlite, create: true}
output_dir: out
firms:
  - firm_id: $VAL_F
    destination:
      local_dir: delivered
    features:
      formula_safe_csv: true
EOF
  adv_run run --config cfg.yaml --date "$VAL_D"
  adv_expect_rc 0 || return
  val_check '
numeric = {"quantity", "price", "fx_rate", "market_value", "book_cost", "unrealised_gain_loss", "weight", "balance",
           "value", "amount", "amount_account_currency", "positions_value", "cash_value", "total_value",
           "unpriced_positions", "net_external_flow", "quote_factor"}
neutralised = 0
for kind in ("positions", "cash", "transactions", "valuations", "data_quality"):
    for r in rows(kind):
        for column, cell in r.items():
            if not cell: continue
            if column in numeric or column.startswith("return_") or column.startswith("mwr_"):
                if cell.startswith("'"'"'"): fail(f"{kind}.{column}: a number was neutralised: {cell}")
            elif cell[0] in "=+-@\t\r": fail(f"{kind}.{column}: formula cell {cell!r}")
            elif cell.startswith("'"'"'"): neutralised += 1
p = [r for r in rows("positions") if r["instrument_id"] == "'"'"'=1+1"][0]
if p["quantity"] != "-3" or p["isin"] != "'"'"'+1+cmd|x" or p["client_id"] != "'"'"'@SUM(1+1)": fail(f"row {p}")
if neutralised < 10: fail(f"only {neutralised} cells neutralised")'
}
adv_case value-formula-cells case_value_formula_cells "formula_safe_csv: =HYPERLINK in an account id, @SUM in a client id, +1+cmd|x in an ISIN, -A1-B1 in a reference, ... neutralised in every text cell; negative numbers stay numbers"
