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

# A manifest of another set planted where a shard delivers FIRM001's: that firm fails (exit 1)
# naming the manifest and the destination; the planted manifest keeps its bytes and no data file
# is sent beside it (a consumer polling for it never gets files after a manifest); FIRM002 goes.
case_shards_foreign_manifest() {
  adv_series snaps || return
  ops_config ""
  local folder=dest/FIRM001/FIRM001/2026-10-01
  mkdir -p "$folder"
  printf '{"firm_id": "FIRM001", "planted": true}\n' >"$folder/FIRM001_manifest_20261001.json"
  adv_run run --config config.yaml --date 2026-10-01 --shard 0/1
  adv_expect_rc 1 || return
  grep -q '{"firm_id": "FIRM001", "planted": true}' "$folder/FIRM001_manifest_20261001.json" \
    || { adv_why "the planted manifest was replaced"; return; }
  [ "$(ls "$folder")" = FIRM001_manifest_20261001.json ] || { adv_why "files sent beside it: $(ls "$folder" | tr '\n' ' ')"; return; }
  grep -q "conflicting-file.*$CASE/$folder/FIRM001_manifest_20261001.json" "$CASE/.out" \
    || { adv_why "the failure does not name the manifest: $(grep FIRM001 "$CASE/.out" | head -c 300)"; return; }
  [ -e dest/FIRM002/FIRM002/2026-10-01/FIRM002_manifest_20261001.json ] || { adv_why "FIRM002 was not delivered"; return; }
  return 0
}
adv_case shards-foreign-manifest case_shards_foreign_manifest "another set's manifest at the destination: the firm fails naming it, nothing replaced or sent beside it"

# The journal lost after a shard delivered everything (as when it is killed between placing a
# manifest and recording it): the retry recognises its own sets, sends and replaces nothing,
# records them, and finalize says complete.
case_shards_lost_journal() {
  adv_series snaps || return
  ops_config ""
  adv_run run --config config.yaml --date 2026-10-01 --shard 0/1
  adv_expect_rc 0 || return
  local before; before="$(cd dest && find . -type f -exec sha256sum {} + | LC_ALL=C sort; ls -liR | grep manifest)"
  adv_sql state.sqlite "DELETE FROM deliveries" || { adv_why "cannot edit the journal"; return; }
  adv_run run --config config.yaml --date 2026-10-01 --shard 0/1
  adv_expect_rc 0 || return
  local after; after="$(cd dest && find . -type f -exec sha256sum {} + | LC_ALL=C sort; ls -liR | grep manifest)"
  [ "$before" = "$after" ] || { adv_why "the destination changed: a manifest or file was replaced or sent again"; return; }
  [ "$(adv_sql state.sqlite "SELECT count(*) FROM deliveries WHERE outcome = 'recognized'")" = 2 ] \
    || { adv_why "the manifests were not recorded as recognized"; return; }
  adv_run finalize --config config.yaml --date 2026-10-01
  adv_expect_rc 0
}
adv_case shards-lost-journal case_shards_lost_journal "the journal lost after delivery: the retry recognises its sets, nothing replaced or sent, finalize complete"

# Two shards at once with one metrics_file: neither writes it (no last-one-wins); the fan-in
# writes it with both firms; the shards' own files are not *.prom (the textfile collector would
# read their repeated eod_run_exit_code as duplicate series).
case_shards_metrics_not_clobbered() {
  adv_series snaps || return
  ops_config ""
  adv_run plan --config config.yaml --date 2026-10-01 --shards 2
  adv_expect_rc 0 || return
  "$ADV_BIN" run --config config.yaml --date 2026-10-01 --shard 0/2 --finalize-if-last >s0.out 2>s0.err </dev/null &
  local first=$!
  "$ADV_BIN" run --config config.yaml --date 2026-10-01 --shard 1/2 --finalize-if-last >s1.out 2>s1.err </dev/null
  local rc1=$?
  wait "$first"; local rc0=$?
  [ "$rc0$rc1" = 00 ] || { adv_why "shards exited $rc0 and $rc1"; return; }
  local firm
  for firm in FIRM001 FIRM002; do
    grep -q "eod_extract_rows{firm=\"$firm\",extract=\"positions\"}" metrics/eod.prom \
      || { adv_why "metrics_file lacks $firm: $(head -c 300 metrics/eod.prom 2>/dev/null)"; return; }
  done
  [ "$(cd metrics && ls ./*.prom | LC_ALL=C sort | tr '\n' ' ')" = "./eod.night.prom ./eod.prom " ] \
    || { adv_why "*.prom files: $(ls metrics | tr '\n' ' ')"; return; }
  return 0
}
adv_case shards-metrics-not-clobbered case_shards_metrics_not_clobbered "two shards at once: metrics_file written by the fan-in with both shards' firms; shard files not *.prom"
