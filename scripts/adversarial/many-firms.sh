# Snapshots of many firms, a spooled pass (issue 13): the pass must refuse what a merged pass
# refuses, name the same row, and leave nothing in place; a firm's rows stay its own whatever the
# order of the accounts in the file.

# 200 firms (1,000 files: more than a merged pass holds), small.
many_firms_snapshot() {
  adv_series snaps --days 1 --accounts 400 --firms 200 --instruments 40 --positions 2 || return
  adv_first snaps
}

# A run under a low open-files limit (64), as the job might be started with few descriptors.
many_firms_run() { # snapshot
  mkdir -p out
  sh -c 'ulimit -n 64 && exec "$@"' sh "$ADV_BIN" run --init-state --snapshot "$1" --state state.sqlite \
    --out out --log-level info >"$CASE/.out" 2>"$CASE/.err" </dev/null
  ADV_RC=$?
  grep -q '"pass":"spooled"' "$CASE/.err" || adv_why "the pass did not spool the firms' rows"
}

# The first positions row (account/instrument) of a firm's accounts, in key order.
many_firms_first_row() { # snapshot firm
  adv_sql "$1" "SELECT p.account_id || '/' || p.instrument_id FROM positions p JOIN accounts a
    ON a.account_id = p.account_id WHERE a.firm_id = '$2' ORDER BY p.account_id, p.instrument_id LIMIT 1"
}

many_firms_refused() { # what the refusal must name
  adv_expect_rc 2 || return
  grep -q "$1" "$CASE/.err" || { adv_why "the refusal does not name $1: $(grep -o '"error":"[^"]*' "$CASE/.err" | head -1)"; return; }
  local placed; placed="$(find out -name '*.gz' -o -name '*_manifest_*' 2>/dev/null | head -n 3)"
  [ -z "$placed" ] || { adv_why "files put in place from a refused snapshot: $placed"; return; }
}

case_many_firms_orphan_rows() {
  local s; s="$(many_firms_snapshot)" || return
  # A positions row of no account, between two firms' accounts in key order.
  adv_sql "$s" "INSERT INTO positions VALUES('AC00000200x','INS000001','1','1',NULL);" || return
  many_firms_run "$s"
  many_firms_refused "table positions, row AC00000200x/INS000001, column account_id"
}
adv_case many-firms-orphan-row case_many_firms_orphan_rows "200 firms, a spooled pass: a positions row of no account is refused, named as a merged pass names it (exit 2, nothing placed)"

case_many_firms_first_bad_in_key_order() {
  local s; s="$(many_firms_snapshot)" || return
  # Two bad values: the one first in key order is named (a read firm by firm would meet the other
  # first: FIRM001's last row comes after FIRM002's first in key order).
  local last first
  last="$(adv_sql "$s" "SELECT p.account_id || '/' || p.instrument_id FROM positions p JOIN accounts a
    ON a.account_id = p.account_id WHERE a.firm_id = 'FIRM001' ORDER BY p.account_id DESC LIMIT 1")"
  first="$(many_firms_first_row "$s" FIRM002)"
  [ -n "$last" ] && [ -n "$first" ] || { adv_why "no positions rows to spoil"; return; }
  adv_sql "$s" "UPDATE positions SET quantity='1e5' WHERE account_id || '/' || instrument_id = '$last';
    UPDATE positions SET book_cost='x' WHERE account_id || '/' || instrument_id = '$first';" || return
  many_firms_run "$s"
  many_firms_refused "table positions, row $first, column book_cost"
}
adv_case many-firms-key-order case_many_firms_first_bad_in_key_order "200 firms, a spooled pass: of two bad positions values the first in key order is named"

case_many_firms_bad_row_of_unselected_firm() {
  local s; s="$(many_firms_snapshot)" || return
  # A firm not in the configuration (here: a firm id that is not valid, which is not run) still
  # has its rows checked: a bad value there refuses the snapshot, as a merged pass does.
  local row; row="$(many_firms_first_row "$s" FIRM007)"
  [ -n "$row" ] || { adv_why "no positions rows to spoil"; return; }
  adv_sql "$s" "UPDATE positions SET quantity='abc' WHERE account_id || '/' || instrument_id = '$row';
    PRAGMA foreign_keys=OFF; UPDATE firms SET firm_id='bad id' WHERE firm_id='FIRM007';
    UPDATE clients SET firm_id='bad id' WHERE firm_id='FIRM007';
    UPDATE accounts SET firm_id='bad id' WHERE firm_id='FIRM007';" || return
  many_firms_run "$s"
  many_firms_refused "table positions, row $row, column quantity"
}
adv_case many-firms-unrun-firm-rows case_many_firms_bad_row_of_unselected_firm "200 firms, a spooled pass: a bad row of a firm that is not run still refuses the snapshot"
