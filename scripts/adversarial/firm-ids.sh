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
