# Firm ids that would become paths outside the output tree (issue 11).

# A firm whose id climbs out of OUT is failed alone; nothing is written outside OUT.
case_firm_id_dotdot() {
  adv_series snaps --days 1 --accounts 30 --firms 2 || return
  local s; s="$(adv_first snaps)"
  adv_sql "$s" "PRAGMA foreign_keys=OFF; UPDATE firms SET firm_id='./../../x/owned' WHERE firm_id='FIRM002';
    UPDATE clients SET firm_id='./../../x/owned' WHERE firm_id='FIRM002';
    UPDATE accounts SET firm_id='./../../x/owned' WHERE firm_id='FIRM002';" || return
  mkdir -p deep/a/out
  adv_run run --init-state --snapshot "$s" --state state.sqlite --out deep/a/out
  [ -e deep/x ] || [ -e x ] && { adv_why "wrote outside OUT: $(find . -path '*x/owned*' | head -n 3)"; return; }
  adv_expect_rc 1
}
adv_case firm-id-dotdot case_firm_id_dotdot "firm_id './../../x/owned' writes nothing outside OUT, that firm fails alone (exit 1)"

# Renames FIRM002 (firms, clients, accounts) to the id given as an SQL expression (X'..' for
# bytes), runs both firms into out/, and checks: exit 1, nothing beside out/FIRM001, FIRM001's
# own set intact, no raw control or bidi bytes in stdout or stderr.
adv_firm_id_case() {
  local expr="$1"
  adv_series snaps --days 1 --accounts 30 --firms 2 || return
  local s; s="$(adv_first snaps)"
  adv_sql "$s" "PRAGMA foreign_keys=OFF; UPDATE firms SET firm_id=$expr WHERE firm_id='FIRM002';
    UPDATE clients SET firm_id=$expr WHERE firm_id='FIRM002';
    UPDATE accounts SET firm_id=$expr WHERE firm_id='FIRM002';" || return
  mkdir -p work/out
  cd work && adv_run run --init-state --snapshot "../$s" --state ../state.sqlite --out out
  cd ..
  local extra; extra="$(cd work && find . -mindepth 1 -not -path './out' -not -path './out/FIRM001*' | head -n 3)"
  [ -z "$extra" ] || { adv_why "made outside out/FIRM001: $extra"; return; }
  local outside; outside="$(find . -mindepth 1 -maxdepth 1 -not -name work -not -name snaps -not -name 'state.sqlite*' -not -name '.*' | head -n 3)"
  [ -z "$outside" ] || { adv_why "made outside OUT: $outside"; return; }
  local manifest=work/out/FIRM001/2026-10-01/FIRM001_manifest_20261001.json
  grep -q '"firm_id" *: *"FIRM001"' "$manifest" 2>/dev/null || { adv_why "FIRM001's manifest missing or not FIRM001's"; return; }
  [ "$(ls work/out/FIRM001/2026-10-01 | wc -l)" = 6 ] || { adv_why "FIRM001's set is not 6 files: $(ls work/out/FIRM001/2026-10-01)"; return; }
  # stdout: one line per firm, no control bytes (other than newline) and no bidi overrides.
  if LC_ALL=C grep -qP '[\x00-\x09\x0b-\x1f\x7f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]' "$CASE/.out" "$CASE/.err"; then
    adv_why "a raw control or bidi character reached the output"; return
  fi
  [ "$(grep -c 'FAILED' "$CASE/.out")" = 1 ] || { adv_why "expected one FAILED line: $(cat "$CASE/.out")"; return; }
  [ "$(wc -l <"$CASE/.out")" = 2 ] || { adv_why "expected two summary lines: $(cat "$CASE/.out")"; return; }
  adv_expect_rc 1
}

case_firm_id_in_firm001() {
  adv_firm_id_case "'$PWD/work/out/FIRM001/2026-10-01/FIRM001'"
}
adv_case firm-id-into-firm001 case_firm_id_in_firm001 "firm_id equal to OUT/FIRM001/<date>/FIRM001 does not replace FIRM001's files"

case_firm_id_dotdot_only() { adv_firm_id_case "'..'"; }
adv_case firm-id-parent case_firm_id_dotdot_only "firm_id '..' writes nothing above OUT, fails alone"

case_firm_id_dot() { adv_firm_id_case "'.'"; }
adv_case firm-id-dot case_firm_id_dot "firm_id '.' writes nothing into OUT itself, fails alone"

case_firm_id_empty() { adv_firm_id_case "''"; }
adv_case firm-id-empty case_firm_id_empty "an empty firm_id writes nothing into OUT itself, fails alone"

case_firm_id_long() { adv_firm_id_case "'$(printf 'F%.0s' $(seq 65))'"; }
adv_case firm-id-65-chars case_firm_id_long "a 65-character firm_id is refused for that firm alone"

case_firm_id_newline() { adv_firm_id_case "'FIRM' || char(10) || '2026-10-01 FIRM009: positions=1'"; }
adv_case firm-id-newline case_firm_id_newline "a newline in a firm_id neither makes a directory nor splits the summary"

case_firm_id_rtl() { adv_firm_id_case "'FIRM' || char(8238) || '200'"; }
adv_case firm-id-rtl-override case_firm_id_rtl "a right-to-left override (U+202E) in a firm_id is refused and shown escaped"

# Invalid UTF-8 is a broken snapshot (the contract's integrity rule), not only a bad id: the whole
# snapshot is refused (exit 2, table and column named), nothing is written, no raw byte is shown.
case_firm_id_bad_utf8() {
  adv_series snaps --days 1 --accounts 30 --firms 2 || return
  local s; s="$(adv_first snaps)"
  adv_sql "$s" "PRAGMA foreign_keys=OFF; UPDATE firms SET firm_id=CAST(X'4649524DFF' AS TEXT) WHERE firm_id='FIRM002';
    UPDATE clients SET firm_id=CAST(X'4649524DFF' AS TEXT) WHERE firm_id='FIRM002';
    UPDATE accounts SET firm_id=CAST(X'4649524DFF' AS TEXT) WHERE firm_id='FIRM002';" || return
  mkdir -p out
  adv_run run --init-state --snapshot "$s" --state state.sqlite --init-state --out out
  adv_expect_rc 2 || return
  grep -q "invalid-utf8" "$CASE/.err" && grep -q "firm_id" "$CASE/.err" ||
    { adv_why "the refusal does not name invalid UTF-8 and firm_id: $(tail -c 300 "$CASE/.err")"; return; }
  [ -z "$(find out -type f | head -n 1)" ] || { adv_why "files written: $(find out -type f | head -n 3)"; return; }
  if LC_ALL=C grep -qP '\xff' "$CASE/.out" "$CASE/.err"; then adv_why "the raw byte reached the output"; return; fi
}
adv_case firm-id-invalid-utf8 case_firm_id_bad_utf8 "invalid UTF-8 in a firm_id refuses the snapshot (exit 2), nothing written, no raw byte shown"

# Configuration mode, all_firms: true: the bad firm is not extracted and not delivered anywhere.
case_firm_id_all_firms() {
  adv_series snaps --days 1 --accounts 30 --firms 2 || return
  local s; s="$(adv_first snaps)"
  adv_sql "$s" "PRAGMA foreign_keys=OFF; UPDATE firms SET firm_id='../esc' WHERE firm_id='FIRM002';
    UPDATE clients SET firm_id='../esc' WHERE firm_id='FIRM002';
    UPDATE accounts SET firm_id='../esc' WHERE firm_id='FIRM002';" || return
  mkdir -p d/a/b out deliv
  cat >config.yaml <<YAML
version: 1
snapshot: $PWD/snaps/ledger-{date}.sqlite
state_store: {path: $PWD/state.sqlite, create: true}
output_dir: $PWD/out
all_firms: true
default_destination:
  local_dir: $PWD/d/a/b/{firm}
firms:
  - firm_id: FIRM001
    destination:
      local_dir: $PWD/deliv/{firm}/{date}
YAML
  adv_run run --config config.yaml --date 2026-10-01
  [ -e esc ] || [ -e d/esc ] || [ -e d/a/esc ] && { adv_why "delivered outside: $(find . -name esc)"; return; }
  [ -z "$(ls -A d/a/b 2>/dev/null)" ] || { adv_why "something delivered for the bad firm: $(ls -A d/a/b)"; return; }
  [ -f deliv/FIRM001/2026-10-01/FIRM001_manifest_20261001.json ] || { adv_why "FIRM001 not delivered: $(adv_err | tail -c 300)"; return; }
  [ -z "$(find out -mindepth 1 -maxdepth 1 -not -name FIRM001)" ] || { adv_why "OUT has more than FIRM001: $(ls out)"; return; }
  adv_expect_rc 1
}
adv_case firm-id-all-firms case_firm_id_all_firms "all_firms: true: a firm with a bad id is neither extracted nor delivered (exit 1)"
