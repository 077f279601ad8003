# Sharded nights (issue 15): planted symlinks where a shard's firm lock or the night's summary
# goes, and hostile JOB_COMPLETION_INDEX values. The configuration is ops.sh's `ops_config` (each
# firm delivered to ./dest/<firm>).

# A symlink planted at a firm's lock file: refused (exit 2), never followed (the victim keeps its
# bytes), nothing of that firm written.
case_shards_symlink_firm_lock() {
  adv_series snaps || return
  ops_config ""
  echo "victim" >victim
  mkdir -p "$(realpath "$CASE")/state.sqlite.lock.d"
  ln -s "$CASE/victim" "$(realpath "$CASE")/state.sqlite.lock.d/2026-10-01.FIRM001.lock"
  adv_run run --config config.yaml --date 2026-10-01 --shard 0/1
  [ "$(cat victim)" = victim ] || { adv_why "the lock was written through the symlink: $(head -c 80 victim)"; return; }
  [ -e dest/FIRM001 ] && { adv_why "FIRM001 was delivered without its lock"; return; }
  grep -q "symbolic link" "$CASE/.err" || { adv_why "the error does not say the lock is a symlink"; return; }
  adv_expect_rc 2
}
adv_case shards-symlink-firm-lock case_shards_symlink_firm_lock "a symlink at <state>.lock.d/<date>.<firm>.lock refused (exit 2), not followed"

# Hostile shard indexes: usage (64) before anything is read or written.
case_shards_bad_index() {
  adv_series snaps || return
  ops_config ""
  local index
  for index in "../../x" "1; rm -rf ." "4" "-1" "0x1" "" "99999999999999999999999"; do
    JOB_COMPLETION_INDEX="$index" adv_run run --config config.yaml --date 2026-10-01 --shards 4
    [ "$ADV_RC" = 64 ] || { adv_why "JOB_COMPLETION_INDEX='$index': exit $ADV_RC, expected 64"; return; }
  done
  [ -e out ] && { adv_why "a refused index wrote output"; return; }
  [ -e state.sqlite ] && { adv_why "a refused index created the state store"; return; }
  return 0
}
adv_case shards-bad-index case_shards_bad_index "JOB_COMPLETION_INDEX ../../x, '1; rm -rf .', 4 of 4, -1, 0x1, empty, huge: exit 64, nothing written"

# A symlink planted where finalize writes the night's summary: replaced by the summary (renamed
# into place), the file it pointed to untouched.
case_shards_symlink_summary() {
  adv_series snaps || return
  ops_config ""
  adv_run run --config config.yaml --date 2026-10-01 --shard 0/1
  adv_expect_rc 0 || return
  echo "victim" >victim
  rm -f out/night-2026-10-01.summary.json
  ln -s "$CASE/victim" out/night-2026-10-01.summary.json
  adv_run finalize --config config.yaml --date 2026-10-01
  [ "$(cat victim)" = victim ] || { adv_why "the summary was written through the symlink"; return; }
  [ -L out/night-2026-10-01.summary.json ] && { adv_why "the symlink is still there"; return; }
  grep -q '"complete": true' out/night-2026-10-01.summary.json || { adv_why "no complete summary written"; return; }
  adv_expect_rc 0
}
adv_case shards-symlink-summary case_shards_symlink_summary "a symlink at OUT/night-<date>.summary.json replaced by the summary, its target untouched"
