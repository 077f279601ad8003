# The output tree and the files beside the state store (issue 11): planted symlinks, modes,
# what a refused run removes, the state store removed mid-run, many firms under a low fd limit.

# OUT/FIRM001 is a symlink to another folder: nothing is written or deleted there, FIRM001
# fails alone (exit 1), FIRM002 is written.
case_files_symlink_firm() {
  adv_series snaps --days 1 --accounts 30 --firms 2 || return
  local s; s="$(adv_first snaps)"
  mkdir -p elsewhere/2026-10-01 out
  echo keep >elsewhere/2026-10-01/.x.part-old
  ln -s "$PWD/elsewhere" out/FIRM001
  adv_run run --init-state --snapshot "$s" --state state.sqlite --out out
  [ "$(ls -A elsewhere/2026-10-01)" = ".x.part-old" ] || { adv_why "wrote or deleted through the symlink: $(ls -A elsewhere/2026-10-01)"; return; }
  [ -f out/FIRM002/2026-10-01/FIRM002_manifest_20261001.json ] || { adv_why "FIRM002 not written"; return; }
  grep -q 'FIRM001: FAILED' "$CASE/.out" || { adv_why "FIRM001 not reported failed: $(adv_out)"; return; }
  adv_expect_rc 1
}
adv_case files-symlink-firm-dir case_files_symlink_firm "OUT/FIRM001 -> elsewhere: nothing written or deleted there, that firm fails alone"

# OUT/FIRM001/<date> is a symlink: same.
case_files_symlink_date() {
  adv_series snaps --days 1 --accounts 30 --firms 2 || return
  local s; s="$(adv_first snaps)"
  mkdir -p elsewhere out/FIRM001
  ln -s "$PWD/elsewhere" out/FIRM001/2026-10-01
  adv_run run --init-state --snapshot "$s" --state state.sqlite --out out
  [ -z "$(ls -A elsewhere)" ] || { adv_why "wrote through the symlink: $(ls -A elsewhere)"; return; }
  adv_expect_rc 1
}
adv_case files-symlink-date-dir case_files_symlink_date "OUT/FIRM001/<date> -> elsewhere: nothing written there"

# STATE.lock is a symlink to another file: the file is not truncated; the run refuses (exit 2).
case_files_symlink_lock() {
  adv_series snaps --days 1 --accounts 30 --firms 2 || return
  local s; s="$(adv_first snaps)"
  echo precious >precious
  ln -s "$PWD/precious" state.sqlite.lock
  adv_run run --init-state --snapshot "$s" --state state.sqlite --out out
  [ "$(cat precious)" = precious ] || { adv_why "the lock's target was changed: '$(cat precious)'"; return; }
  adv_expect_rc 2
}
adv_case files-symlink-lock case_files_symlink_lock "STATE.lock -> another file: that file is left as it was, the run refuses"

# A symlink alias of the state file takes the same lock as the file itself (exit 3 while held).
case_files_state_alias() {
  adv_series snaps --days 1 --accounts 30 --firms 2 || return
  local s; s="$(adv_first snaps)"
  adv_run run --init-state --snapshot "$s" --state state.sqlite --out out
  ln -s "$PWD/state.sqlite" alias.sqlite
  flock -x state.sqlite.lock sleep 120 &
  local holder=$! tries=0
  # Wait until the holder has the lock (a loaded machine can take seconds to start it).
  while flock -n state.sqlite.lock true 2>/dev/null; do
    tries=$((tries + 1))
    [ "$tries" -lt 600 ] || { kill "$holder"; adv_why "the case's own flock never took the lock"; return; }
    sleep 0.05
  done
  adv_run run --init-state --snapshot "$s" --state alias.sqlite --out out2
  kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
  adv_expect_rc 3
}
adv_case files-state-alias-lock case_files_state_alias "a symlink alias of the state file cannot take a second lock (exit 3)"

# The metrics file's temporary name is planted as a symlink (the job's PID is the shell's, kept
# by exec): the target is neither overwritten nor re-moded.
case_files_metrics_tmp() {
  adv_series snaps --days 1 --accounts 30 --firms 2 || return
  mkdir -p out metrics
  echo precious >precious; chmod 600 precious
  cat >config.yaml <<YAML
version: 1
snapshot: $PWD/snaps/ledger-{date}.sqlite
state_store: {path: $PWD/state.sqlite, create: true}
output_dir: $PWD/out
metrics_file: $PWD/metrics/eod_extract.prom
all_firms: true
default_destination:
  local_dir: $PWD/deliv/{firm}
YAML
  mkdir -p deliv
  bash -c 'ln -s "$1/precious" "$1/metrics/.eod_extract.prom.tmp.$$"; exec "$2" run --config "$1/config.yaml" --date 2026-10-01 >"$3/.out" 2>"$3/.err" </dev/null' _ "$PWD" "$ADV_BIN" "$CASE"
  ADV_RC=$?
  [ "$(cat precious)" = precious ] || { adv_why "the symlink's target was overwritten"; return; }
  [ "$(stat -c %a precious)" = 600 ] || { adv_why "the symlink's target was re-moded to $(stat -c %a precious)"; return; }
  [ -f metrics/eod_extract.prom ] || { adv_why "no metrics file written"; return; }
}
adv_case files-metrics-tmp-symlink case_files_metrics_tmp "a symlink at the metrics file's temporary name is never followed"

# Extracts under umask 000 are still 0640, folders 0750.
case_files_modes_umask() {
  adv_series snaps --days 1 --accounts 30 --firms 2 || return
  local s; s="$(adv_first snaps)"
  (umask 000; "$ADV_BIN" run --init-state --snapshot "$s" --state state.sqlite --out out >"$CASE/.out" 2>"$CASE/.err" </dev/null)
  ADV_RC=$?
  local bad
  bad="$(find out -type f ! -perm 0640; find out -type d ! -perm 0750)"
  [ -z "$bad" ] || { adv_why "wrong modes: $(for f in $bad; do stat -c '%a %n' "$f"; done | head -n 3 | tr '\n' ' ')"; return; }
  adv_expect_rc 0
}
adv_case files-modes-umask-000 case_files_modes_umask "under umask 000, extracts are 0640 and folders 0750"

# A refused snapshot leaves the empty folders that were there before (and OUT).
case_files_refused_keeps_dirs() {
  adv_series snaps --days 1 --accounts 30 --firms 2 || return
  local s; s="$(adv_first snaps)"
  mkdir -p out/FIRM001 out/empty
  adv_sql "$s" "UPDATE positions SET quantity = '1,5' WHERE rowid = (SELECT MAX(rowid) FROM positions)" || return
  adv_run run --init-state --snapshot "$s" --state state.sqlite --out out
  [ -d out/FIRM001 ] && [ -d out/empty ] || { adv_why "pre-existing folders removed: $(ls -A out 2>&1)"; return; }
  adv_expect_rc 2
}
adv_case files-refused-keeps-dirs case_files_refused_keeps_dirs "a refused snapshot removes only the folders the run made"

# The state store's folder is removed while the run goes: exit non-zero, no success claimed.
case_files_state_removed() {
  adv_series big --days 1 --accounts 10000 --firms 2 || return
  local s; s="$(adv_first big)"
  mkdir -p state
  "$ADV_BIN" run --init-state --snapshot "$s" --state state/state.sqlite --out out >"$CASE/.out" 2>"$CASE/.err" </dev/null &
  local pid=$! i=0
  while [ ! -d out/FIRM002/2026-10-01 ] && [ $i -lt 6000 ]; do sleep 0.01; i=$((i + 1)); done
  kill -0 "$pid" 2>/dev/null || { wait "$pid"; adv_why "the run ended before the store could be removed"; return; }
  rm -rf state
  wait "$pid"; ADV_RC=$?
  grep -q 'history was not recorded' "$CASE/.out" || { adv_why "no failure reported: $(adv_out | head -c 300)"; return; }
  adv_expect_rc 1
}
adv_case files-state-removed-mid-run case_files_state_removed "the state store's folder removed mid-run: exit 1, history not claimed"

# 300 firms under a 256 descriptor limit: every firm written, exit 0.
case_files_many_firms() {
  adv_series many --days 1 --accounts 600 --firms 300 || return
  local s; s="$(adv_first many)"
  (ulimit -n 256; exec "$ADV_BIN" run --init-state --snapshot "$s" --state state.sqlite --out out >"$CASE/.out" 2>"$CASE/.err" </dev/null)
  ADV_RC=$?
  local n; n="$(ls out | wc -l)"
  [ "$n" = 300 ] || { adv_why "$n of 300 firms written: $(grep -m1 FAILED "$CASE/.out")"; return; }
  adv_expect_rc 0
}
adv_case files-300-firms-ulimit-256 case_files_many_firms "300 firms under ulimit -n 256: every firm written, exit 0"
