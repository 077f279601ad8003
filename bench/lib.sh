# Helpers shared by bench/run.sh and bench/recon.sh (sourced, not run). They expect ROOT (the
# repository) to be set.

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
max_of() { tr ' ' '\n' | grep -v '^$' | sort -g | tail -1; }
verdict() { # value target: "ok" when value <= target
  awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t) ? "ok" : "MISSED" }'
}

# bench_binary SCRIPT: sets BIN to $EOD_BIN, or builds the release binary (scratch path
# $SCRATCH, default .build) and uses it; SCRIPT names the caller in the error.
bench_binary() {
  if [ -n "${EOD_BIN:-}" ]; then
    BIN=$EOD_BIN
  else
    SCRATCH=${SCRATCH:-$ROOT/.build}
    log "building eod-extract (release, scratch path $SCRATCH)"
    (cd "$ROOT" && swift build -c release --scratch-path "$SCRATCH" --product eod-extract >&2)
    BIN=$(cd "$ROOT" && swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/eod-extract
  fi
  [ -x "$BIN" ] || { echo "bench/$1: no executable at $BIN" >&2; exit 2; }
}

# timed LABEL COMMAND...: runs COMMAND under GNU time, its output in $WORK/logs/LABEL.{out,err};
# sets SECS (wall clock), RSS_MB (peak resident set of the largest process), CPU_SECS (user +
# system), USER_SECS and SYS_SECS; stops the script, with the end of the command's errors, when it fails.
timed() {
  local label=$1
  shift
  if ! /usr/bin/time -f '%e %M %U %S' -o "$WORK/logs/$label.time" "$@" >"$WORK/logs/$label.out" 2>"$WORK/logs/$label.err"; then
    echo "bench/$(basename "$0"): '$label' failed: $*" >&2
    tail -20 "$WORK/logs/$label.err" >&2
    exit 1
  fi
  SECS=$(tail -1 "$WORK/logs/$label.time" | awk '{ print $1 }')
  RSS_MB=$(tail -1 "$WORK/logs/$label.time" | awk '{ printf "%.1f", $2 / 1024 }')
  CPU_SECS=$(tail -1 "$WORK/logs/$label.time" | awk '{ printf "%.2f", $3 + $4 }')
  USER_SECS=$(tail -1 "$WORK/logs/$label.time" | awk '{ print $3 }')
  SYS_SECS=$(tail -1 "$WORK/logs/$label.time" | awk '{ print $4 }')
}
