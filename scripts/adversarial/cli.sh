# The command line and local paths (issue 12): what the job must never destroy, and paths it must take.

# --state pointed at the night's snapshot: refused (exit 2), the snapshot byte-identical.
case_cli_state_is_snapshot() {
  adv_series snaps || return
  local s; s="$(adv_first snaps)"
  cp "$s" victim.sqlite
  local before; before="$(sha256sum victim.sqlite)"
  adv_run run --init-state --snapshot "$s" --state victim.sqlite --out out
  [ "$(sha256sum victim.sqlite)" = "$before" ] || { adv_why "the snapshot given as --state was changed"; return; }
  [ -e victim.sqlite.lock ] && { adv_why "a lock file was created beside it"; return; }
  grep -q "victim.sqlite" "$CASE/.err" || { adv_why "the refusal does not name the file: $(adv_err)"; return; }
  adv_expect_rc 2
}
adv_case cli-state-is-snapshot case_cli_state_is_snapshot "--state at a snapshot is refused (exit 2) and left byte-identical"

# --state at some other SQLite database and at a text file.
case_cli_state_is_other_file() {
  adv_series snaps || return
  local s; s="$(adv_first snaps)"
  sqlite3 other.db "CREATE TABLE t(x); INSERT INTO t VALUES (1);" || return
  printf 'hello\n' >notes.txt
  local f before
  for f in other.db notes.txt; do
    before="$(sha256sum "$f")"
    adv_run run --init-state --snapshot "$s" --state "$f" --out out
    [ "$(sha256sum "$f")" = "$before" ] || { adv_why "$f was changed"; return; }
    adv_expect_rc 2 || return
  done
  [ -e out ] && { adv_why "extracts were written"; return; }
  return 0
}
adv_case cli-state-is-other-file case_cli_state_is_other_file "--state at another SQLite file or a text file is refused, untouched"

# A mistyped --state: no new empty store, no folders made, exit 2 naming the path.
case_cli_state_typo() {
  adv_series snaps || return
  local s; s="$(adv_first snaps)"
  adv_run run --snapshot "$s" --state "stat/state.sqlite" --out out
  [ -e stat ] && { adv_why "a folder or store was created for a mistyped path"; return; }
  grep -q "stat/state.sqlite" "$CASE/.err" || { adv_why "the path is not named: $(adv_err)"; return; }
  adv_expect_rc 2
}
adv_case cli-state-typo case_cli_state_typo "a missing --state without --init-state exits 2 and creates nothing"

# One-character relative paths for every file argument (SIGILL in Foundation before).
case_cli_one_char_paths() {
  adv_series snaps || return
  cp "$(adv_first snaps)" a
  adv_run run --init-state --snapshot a --state s --out o
  adv_expect_rc 0 || return
  [ -n "$(find o -name '*_manifest_*.json' | head -n 1)" ] || adv_why "no manifest written"
}
adv_case cli-one-char-paths case_cli_one_char_paths "--snapshot a --state s --out o works"

# demo --out at a folder holding someone's files: refused, nothing removed.
case_cli_demo_nonempty() {
  mkdir -p mine/sub && printf 'keep\n' >mine/notes.txt && printf 'keep\n' >mine/sub/x
  adv_run demo --out mine --days 2
  [ -f mine/notes.txt ] && [ -f mine/sub/x ] || { adv_why "files in the folder were deleted"; return; }
  adv_expect_rc 2
}
adv_case cli-demo-nonempty case_cli_demo_nonempty "demo --out at a folder with unrelated files exits 2 and deletes nothing"

# --out at a regular file: exit 2 in words before anything is read, no NSError text.
case_cli_out_is_file() {
  adv_series snaps || return
  printf 'x\n' >out
  adv_run run --init-state --snapshot "$(adv_first snaps)" --state st.sqlite --out out
  grep -q "is not a directory" "$CASE/.err" || { adv_why "not said in words: $(adv_err)"; return; }
  grep -qE "NSCocoaErrorDomain|Code=|error 512" "$CASE/.err" && { adv_why "a raw Foundation error: $(adv_err)"; return; }
  [ -e st.sqlite ] && { adv_why "the state store was created before the output was checked"; return; }
  adv_expect_rc 2
}
adv_case cli-out-is-file case_cli_out_is_file "--out at a file exits 2 saying 'is not a directory', before the state store is touched"
