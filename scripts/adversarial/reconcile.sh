# Hostile inputs to `eod-extract reconcile` (issue 14): their file and our set come from outside.

# Our set (one firm, cash) in out/, a profile for it in p.yaml; SET is the set's folder.
recon_setup() {
  adv_series snaps --days 1 --accounts 30 --firms 1 || return
  "$ADV_BIN" run --init-state --snapshot "$(adv_first snaps)" --state state.sqlite --out out >/dev/null 2>&1 ||
    { adv_why "the job did not make the set"; return 1; }
  SET=out/FIRM001/2026-10-01
  printf 'extract: cash\ncolumns: {A: account_id, C: currency, B: balance}\nkeys: [account_id, currency]\n' >p.yaml
}

recon_run() { adv_run reconcile --ours "$SET" --extract cash --theirs "$1" --profile p.yaml --out "${2:-recon}"; }

case_recon_manifest_escape() {
  recon_setup || return
  sed -i 's#"name": "FIRM001_cash_20261001.csv.gz"#"name": "../../../../../../etc/hostname"#' "$SET"/FIRM001_manifest_20261001.json
  printf 'A,C,B\n' >t.csv
  recon_run t.csv
  adv_expect_rc 2 || return
  grep -q 'lists no cash file' "$CASE/.err" || adv_why "the refusal does not say why: $(adv_err)"
}
adv_case recon-manifest-escape case_recon_manifest_escape "a manifest naming ../../etc/hostname as the cash file: nothing read outside the set (exit 2)"

case_recon_formula_key() {
  recon_setup || return
  printf 'A,C,B\n"=HYPERLINK(""http://x"")",GBP,1\n@SUM(1),GBP,2\n' >t.csv
  recon_run t.csv
  adv_expect_rc 1 || return
  local breaks=recon/FIRM001_breaks_cash_20261001.csv
  grep -q "\"'=HYPERLINK" "$breaks" && grep -q "'@SUM(1)" "$breaks" ||
    { adv_why "a formula reached the breaks file as is: $(grep -i 'hyperlink\|sum' "$breaks")"; return; }
  if grep -q ',=HYPERLINK\|,"=HYPERLINK\|,@SUM' "$breaks"; then adv_why "an un-neutralised formula cell"; fi
}
adv_case recon-formula-key case_recon_formula_key "their keys '=HYPERLINK(...)' and '@SUM(1)' reach the breaks file with a leading ' (no formula runs)"

case_recon_unclosed_quote() {
  recon_setup || return
  local first; first="$(gzip -dc "$SET"/FIRM001_cash_20261001.csv.gz | sed -n 2p | tr -d '\r')"
  local account currency balance
  account="$(echo "$first" | cut -d, -f5)"; currency="$(echo "$first" | cut -d, -f8)"; balance="$(echo "$first" | cut -d, -f9)"
  printf 'A,C,B\n%s,%s,%s\n"AC1,GBP,1\nAC2,GBP,2\n' "$account" "$currency" "$balance" >t.csv
  recon_run t.csv
  adv_expect_rc 1 || return
  local breaks=recon/FIRM001_breaks_cash_20261001.csv
  grep -q 'UNPARSEABLE_THEIRS.*,3,.*not closed' "$breaks" || { adv_why "no unparseable break at line 3: $(head -3 "$breaks")"; return; }
  grep -q '"matched_exactly" : 1' recon/FIRM001_recon_cash_20261001.json || adv_why "the well-formed row was not matched"
}
adv_case recon-unclosed-quote case_recon_unclosed_quote "a quote opened and never closed: one UNPARSEABLE_THEIRS at its line, the rows before it still matched (exit 1)"

case_recon_garbage() {
  recon_setup || return
  { printf 'A,C,B\n'; head -c 200000 /dev/urandom; } >t.csv
  recon_run t.csv
  adv_expect_rc 1 || return
  [ -s recon/FIRM001_recon_cash_20261001.json ] || adv_why "no summary written"
}
adv_case recon-garbage case_recon_garbage "their file is a header and 200 kB of random bytes: breaks reported, no crash (exit 1)"

case_recon_out_is_file() {
  recon_setup || return
  printf 'A,C,B\n' >t.csv
  : >not-a-folder
  recon_run t.csv not-a-folder
  adv_expect_rc 2 || return
  [ ! -s not-a-folder ] || adv_why "the file given as --out was written to"
}
adv_case recon-out-is-file case_recon_out_is_file "--out naming a file: exit 2, the file untouched"

case_recon_state_not_a_store() {
  recon_setup || return
  local snapshot; snapshot="$(adv_first snaps)"
  local before; before="$(sha256sum "$snapshot" | cut -d' ' -f1)"
  printf 'A,C,B\n' >t.csv
  adv_run reconcile --ours "$SET" --extract cash --theirs t.csv --profile p.yaml --out recon --state "$snapshot" --init-state
  adv_expect_rc 2 || return
  [ "$(sha256sum "$snapshot" | cut -d' ' -f1)" = "$before" ] || { adv_why "the snapshot given as --state was changed"; return; }
  [ ! -e recon/FIRM001_breaks_cash_20261001.csv ] || adv_why "outputs were written although the state store was refused"
}
adv_case recon-state-not-a-store case_recon_state_not_a_store "--state naming a snapshot (another SQLite file), with --init-state: refused (exit 2), the file unchanged, nothing written"

case_recon_state_sql_key() {
  recon_setup || return
  printf "A,C,B\n\"x'); DROP TABLE breaks; --\",GBP,1\n" >t.csv
  adv_run reconcile --ours "$SET" --extract cash --theirs t.csv --profile p.yaml --out recon --state state.sqlite
  adv_expect_rc 1 || return
  adv_run breaks --state state.sqlite --firm FIRM001 --open --json
  adv_expect_rc 0 || return
  grep -q "x'); DROP TABLE breaks; --" "$CASE/.out" || adv_why "the break with that key is not listed as a value: $(adv_out)"
}
adv_case recon-state-sql-key case_recon_state_sql_key "their key \"x'); DROP TABLE breaks; --\" with --state: stored and listed as a value (bound, never SQL)"

case_recon_sign_markers() {
  recon_setup || return
  printf 'extract: cash\ncolumns: {A: account_id, C: currency, B: balance}\nkeys: [account_id, currency]\nsigns: {trailing_minus: true, parentheses: true, indicator: {column: DC, fields: [balance], negative: [D], positive: [C]}}\n' >p.yaml
  printf 'A,C,B,DC\nAC1,GBP,(-5),C\nAC2,GBP,--5-,C\nAC3,GBP,(),C\nAC4,GBP,-,C\nAC5,GBP,5,=1+1\nAC6,GBP,5,\n' >t.csv
  recon_run t.csv
  adv_expect_rc 1 || return
  local count; count="$(grep -c UNPARSEABLE_THEIRS recon/FIRM001_breaks_cash_20261001.csv)"
  [ "$count" = 6 ] || adv_why "expected 6 unparseable rows (two signs, empty parentheses, a lone minus, bad indicators), got $count"
}
adv_case recon-sign-markers case_recon_sign_markers "signs: '(-5)', '--5-', '()', '-' and debit/credit values '=1+1' and empty: each row UNPARSEABLE_THEIRS, never read as a number (exit 1)"

case_recon_metrics_symlink() {
  recon_setup || return
  mkdir -p metrics && echo victim >victim.txt
  ln -s "$PWD/victim.txt" metrics/eod_extract.reconcile.prom
  printf 'version: 1\nsnapshot: %s\nstate_store: {path: %s}\noutput_dir: %s\nmetrics_file: %s\nfirms:\n  - firm_id: FIRM001\n    destination: {local_dir: %s}\n' \
    "$PWD/ledger-{date}.sqlite" "$PWD/state.sqlite" "$PWD/out" "$PWD/metrics/eod_extract.prom" "$PWD/dest" >config.yaml
  printf 'A,C,B\n' >t.csv
  adv_run reconcile --config config.yaml --ours "$SET" --extract cash --theirs t.csv --profile p.yaml --out recon
  adv_expect_rc 1 || return
  [ "$(cat victim.txt)" = victim ] || { adv_why "the symlink's target was written"; return; }
  grep -q eod_recon_open_breaks metrics/eod_extract.reconcile.prom || adv_why "the metrics were not written in the link's place"
}
adv_case recon-metrics-symlink case_recon_metrics_symlink "a symlink planted as the reconcile metrics file, pointing at another file: that file untouched, the link replaced"
