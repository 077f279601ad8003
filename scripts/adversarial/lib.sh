# Helpers for the adversarial cases (sourced by scripts/adversarial.sh; not run on its own).
# Every case runs in its own folder $CASE with the binary at $ADV_BIN.

# Say why a case is a defect (shown on its DEFECT line); returns 1 so a case can `adv_why ...; return`.
adv_why() { printf '%s\n' "$*" >>"$ADV_WHY_FILE"; return 1; }

# The binary, output captured: sets ADV_RC, and the files $CASE/.out and $CASE/.err.
adv_run() {
  "$ADV_BIN" "$@" >"$CASE/.out" 2>"$CASE/.err" </dev/null
  ADV_RC=$?
  return 0
}
adv_out() { cat "$CASE/.out"; }
adv_err() { cat "$CASE/.err"; }

# adv_expect_rc CODE: a defect unless the last adv_run exited CODE.
adv_expect_rc() {
  [ "$ADV_RC" = "$1" ] && return 0
  adv_why "exit $ADV_RC, expected $1: $(tail -c 300 "$CASE/.err" | tr '\n' ' ')"
}

# A generated snapshot series, made once per script run and copied per case:
#   adv_series DIR [generate options...]   (default: 1 day, 30 accounts, 2 firms, --edge)
# The files are DIR/ledger-YYYY-MM-DD.sqlite; the first date is 2026-10-01.
adv_series() {
  local dir="$1"; shift
  local args=("$@")
  [ ${#args[@]} -eq 0 ] && args=(--days 1 --accounts 30 --firms 2 --edge)
  local key; key="$(printf '%s_' "${args[@]}" | tr -c 'A-Za-z0-9_' '_')"
  local cache="$ADV_WORK/series-$key"
  if [ ! -d "$cache" ]; then
    "$ADV_BIN" generate "$cache.tmp" "${args[@]}" >/dev/null 2>&1 || { echo "generate failed: ${args[*]}" >&2; return 1; }
    mv "$cache.tmp" "$cache"
  fi
  mkdir -p "$dir" && cp "$cache"/*.sqlite "$dir"/
}

# The first snapshot of a series folder.
adv_first() { ls "$1"/ledger-*.sqlite | head -n 1; }

# sqlite3 on a snapshot (the edits that make a hostile one).
adv_sql() { sqlite3 "$1" "$2"; }

# Files anywhere under DIR (relative), sorted: to compare what a run left.
adv_tree() { (cd "$1" && find . -mindepth 1 | LC_ALL=C sort); }
