#!/usr/bin/env bash
# A sharded night against the same night in one process (bench/README.md, part 6).
#
#   bench/shards.sh [--quick] [--keep] [--work DIR]
#
# On the 1M-position benchmark snapshot (20 firms; --quick: 20,000 accounts): the single night
# (one process) vs `plan --shards 4` and 4 shard processes at once (JOB_COMPLETION_INDEX=0..3,
# --finalize-if-last), all with SQLite state on this host and local destinations. Checks that
# the union of the shards' files is byte-identical to the single night's (sha256 of every data
# file; manifests without their run_id and generated_at lines). Then a second sharded night in
# which shard 1 is killed (SIGKILL) mid-run: finalize must say incomplete (exit 1), the re-run
# of index 1 is timed, and finalize must then say complete (exit 0) with nothing journaled twice.
#
# Environment: EOD_BIN=path/to/eod-extract skips the build. Needs GNU time (/usr/bin/time),
# sha256sum, sqlite3.
set -euo pipefail

main() {
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=full
KEEP=0
WORK=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) MODE=quick ;;
    --keep) KEEP=1 ;;
    --work) WORK=$2; shift ;;
    *) echo "usage: bench/shards.sh [--quick] [--keep] [--work DIR]" >&2; exit 64 ;;
  esac
  shift
done
for tool in /usr/bin/time sha256sum sqlite3; do
  command -v "$tool" >/dev/null || { echo "bench/shards.sh needs $tool (bench/README.md)" >&2; exit 2; }
done
BIN=${EOD_BIN:-}
if [ -z "$BIN" ]; then
  (cd "$ROOT" && swift build -c release --product eod-extract >/dev/null)
  BIN="$ROOT/.build/release/eod-extract"
fi
ACCOUNTS=200000
[ "$MODE" = quick ] && ACCOUNTS=20000
if [ -z "$WORK" ]; then WORK=$(mktemp -d /tmp/eod-shards-XXXXXX); fi
mkdir -p "$WORK"
[ "$KEEP" = 1 ] || trap 'rm -rf "$WORK"' EXIT
export EOD_NOW=2026-10-02T01:15:00Z

echo "generating: --days 2 --accounts $ACCOUNTS --instruments 5000 --positions 5 --firms 20"
"$BIN" generate "$WORK/snap" --days 2 --accounts "$ACCOUNTS" --instruments 5000 --positions 5 --firms 20 >/dev/null
DATE=$(ls "$WORK/snap" | sed -n 's/^ledger-\([0-9-]*\)\.sqlite$/\1/p' | sort | head -1)

# A job folder: configuration (20 firms, local destinations), state, output.
job() {
  local dir="$WORK/$1"
  mkdir -p "$dir/state" "$dir/dest" "$dir/metrics"
  {
    echo "version: 1"
    echo "snapshot: $WORK/snap/ledger-{date}.sqlite"
    echo "state_store: {path: $dir/state/state.sqlite, create: true}"
    echo "output_dir: $dir/out"
    echo "templates_dir: $ROOT/templates"
    echo "metrics_file: $dir/metrics/eod_extract.prom"
    echo "firms:"
    for n in $(seq -w 1 20); do
      echo "  - firm_id: FIRM0$n"
      echo "    destination: {local_dir: $dir/dest}"
    done
  } >"$dir/config.yaml"
}
ms() { date +%s%3N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1000 }'; }
# sha256 of every data file under a tree, manifests without run_id/generated_at, by relative path.
digest() {
  (cd "$1" && find . -type f ! -name 'night-*' | sort | while read -r f; do
    case "$f" in
      *_manifest_*) printf '%s %s\n' "$(grep -v -e '"run_id"' -e '"generated_at"' "$f" | sha256sum | cut -c1-64)" "$f" ;;
      *) sha256sum "$f" ;;
    esac
  done)
}

job single
job sharded
job killed

t0=$(ms)
/usr/bin/time -f '%e %M' -o "$WORK/single.time" "$BIN" run --config "$WORK/single/config.yaml" --date "$DATE" >"$WORK/single.log" 2>&1
t1=$(ms)
SINGLE=$(secs "$t0" "$t1")
SINGLE_RSS=$(awk '{print $2}' "$WORK/single.time")

t0=$(ms)
"$BIN" plan --config "$WORK/sharded/config.yaml" --date "$DATE" --shards 4 >"$WORK/plan.log"
t1=$(ms)
PLAN=$(secs "$t0" "$t1")

t0=$(ms)
for i in 0 1 2 3; do
  JOB_COMPLETION_INDEX=$i /usr/bin/time -f '%e %M' -o "$WORK/shard$i.time" \
    "$BIN" run --config "$WORK/sharded/config.yaml" --date "$DATE" --shards 4 --finalize-if-last >"$WORK/shard$i.log" 2>&1 &
done
FAILED=0
for p in $(jobs -p); do wait "$p" || FAILED=1; done
t1=$(ms)
SHARDS=$(secs "$t0" "$t1")
SHARD_RSS=$(cat "$WORK"/shard?.time | awk '$2 > m { m = $2 } END { print m }')
[ "$FAILED" = 0 ] || { echo "a shard failed:"; cat "$WORK"/shard?.log; exit 1; }
FINALIZERS=$(grep -l "night $DATE: complete" "$WORK"/shard?.log | wc -l)

digest "$WORK/single/out" >"$WORK/single.sha"
digest "$WORK/sharded/out" >"$WORK/sharded.sha"
FILES=$(wc -l <"$WORK/single.sha")
if cmp -s "$WORK/single.sha" "$WORK/sharded.sha"; then IDENTICAL=yes; else IDENTICAL=NO; fi

# The killed night: 4 shards, shard 1 killed mid-run, its index run again.
"$BIN" plan --config "$WORK/killed/config.yaml" --date "$DATE" --shards 4 >/dev/null
for i in 0 1 2 3; do
  JOB_COMPLETION_INDEX=$i "$BIN" run --config "$WORK/killed/config.yaml" --date "$DATE" --shards 4 >"$WORK/killed$i.log" 2>&1 &
  eval "PID$i=$!"
done
sleep "${KILL_AFTER:-$(awk -v s="$SHARDS" 'BEGIN { printf "%.1f", s / 2 }')}"
kill -9 "$PID1" 2>/dev/null || true
for i in 0 2 3; do eval "wait \$PID$i"; done
wait "$PID1" 2>/dev/null || true
set +e
"$BIN" finalize --config "$WORK/killed/config.yaml" --date "$DATE" >"$WORK/finalize-before.log" 2>&1
BEFORE=$?
t0=$(ms)
JOB_COMPLETION_INDEX=1 "$BIN" run --config "$WORK/killed/config.yaml" --date "$DATE" --shards 4 >"$WORK/rerun.log" 2>&1
RERUN_RC=$?
t1=$(ms)
"$BIN" finalize --config "$WORK/killed/config.yaml" --date "$DATE" >"$WORK/finalize-after.log" 2>&1
AFTER=$?
set -e
RERUN=$(secs "$t0" "$t1")
SKIPPED=$(grep -c "complete and delivered already" "$WORK/rerun.log" || true)
JOURNAL=$(sqlite3 "$WORK/killed/state/state.sqlite" "SELECT COUNT(*) FROM deliveries")
digest "$WORK/killed/out" >"$WORK/killed.sha"
if cmp -s "$WORK/single.sha" "$WORK/killed.sha"; then KILLED_IDENTICAL=yes; else KILLED_IDENTICAL=NO; fi

cat <<EOF

sharded night, $ACCOUNTS accounts / 20 firms ($DATE), SQLite state, local destinations; load $(cut -d' ' -f1 /proc/loadavg)
  single night (one process)         ${SINGLE} s   peak RSS $((SINGLE_RSS / 1024)) MB
  plan --shards 4                    ${PLAN} s
  4 shards at once (wall, all four)  ${SHARDS} s   peak RSS per shard $((SHARD_RSS / 1024)) MB; finalized by $FINALIZERS shard(s)
  shard times (s):                   $(for i in 0 1 2 3; do awk '{printf "%s ", $1}' "$WORK/shard$i.time"; done)
  union byte-identical to single     $IDENTICAL ($FILES files)
  killed shard 1 (SIGKILL):          finalize before re-run exit $BEFORE (want 1)
  re-run of index 1                  ${RERUN} s (exit $RERUN_RC; $SKIPPED firms skipped as complete and delivered)
  finalize after                     exit $AFTER (want 0); journal rows $JOURNAL (want $((20 * 6))); files identical to single: $KILLED_IDENTICAL
EOF
[ "$IDENTICAL" = yes ] && [ "$BEFORE" = 1 ] && [ "$AFTER" = 0 ] && [ "$RERUN_RC" = 0 ] && [ "$FINALIZERS" = 1 ] \
  && [ "$JOURNAL" = $((20 * 6)) ] && [ "$KILLED_IDENTICAL" = yes ]
}

main "$@"
