#!/usr/bin/env bash
# A sharded night against the same night in one process (bench/README.md, part 6).
#
#   bench/shards.sh [--quick] [--keep] [--work DIR] [--state sqlite|postgres]
#
# On the 1M-position benchmark snapshot (20 firms; --quick: 20,000 accounts): the single night
# (one process) vs `plan --shards 4` and 4 shard processes at once (JOB_COMPLETION_INDEX=0..3,
# --finalize-if-last), all with SQLite state on this host and local destinations. Checks that
# the union of the shards' files is byte-identical to the single night's (sha256 of every data
# file; manifests without their run_id and generated_at lines). Then a second sharded night in
# which shard 1 is killed (SIGKILL) mid-run: finalize must say incomplete (exit 1), the re-run
# of index 1 is timed, and finalize must then say complete (exit 0) with nothing journaled twice.
#
# --state postgres: the sharded and killed nights keep their state in one PostgreSQL 15 that the
# script starts itself (initdb into WORK/pg as user postgres, a free loopback port, password
# authentication with PGPASSWORD, stopped at the end whatever happens), each night in a database
# of its own made by `migrate-state`; the single night stays on SQLite (the reference). It also
# prints what the sharded night wrote to the database: WAL bytes, transactions, rows inserted and
# updated, the database's size, per account and per firm.
#
# Environment: EOD_BIN=path/to/eod-extract skips the build. Needs GNU time (/usr/bin/time),
# sha256sum, sqlite3 (and PostgreSQL 15 in /usr/lib/postgresql/15/bin with --state postgres).
set -euo pipefail

main() {
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=full
KEEP=0
WORK=""
STATE=sqlite
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) MODE=quick ;;
    --keep) KEEP=1 ;;
    --work) WORK=$2; shift ;;
    --state) STATE=$2; shift ;;
    *) echo "usage: bench/shards.sh [--quick] [--keep] [--work DIR] [--state sqlite|postgres]" >&2; exit 64 ;;
  esac
  shift
done
case "$STATE" in
  sqlite | postgres) ;;
  *) echo "bench/shards.sh: --state sqlite or postgres, not '$STATE'" >&2; exit 64 ;;
esac
PGBIN=/usr/lib/postgresql/15/bin
if [ "$STATE" = postgres ] && [ ! -x "$PGBIN/initdb" ]; then
  echo "bench/shards.sh --state postgres needs PostgreSQL 15 in $PGBIN (bench/README.md)" >&2; exit 2
fi
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
PGDIR=""
cleanup() {
  if [ -n "$PGDIR" ]; then as_postgres "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null 2>&1 || true; fi
  [ "$KEEP" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
export EOD_NOW=2026-10-02T01:15:00Z

# PostgreSQL refuses to run as root: as root, its tools run as user postgres.
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
psql_super() { "$PGBIN/psql" -X -q -At -h "$PGDIR" -p "$PGPORT" -U postgres "$@"; }
if [ "$STATE" = postgres ]; then
  PGDIR="$WORK/pg"
  mkdir -p "$PGDIR"
  chmod o+x "$WORK"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$PGDIR"; fi
  PGPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_postgres "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 \
    >"$WORK/initdb.log" 2>&1
  as_postgres "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 30 \
    -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1" start >/dev/null
  export PGPASSWORD=eod-bench-password
  psql_super -c "CREATE ROLE eod LOGIN PASSWORD '$PGPASSWORD'"
  echo "PostgreSQL 15 on 127.0.0.1:$PGPORT (data in $PGDIR/data, default settings)"
fi

echo "generating: --days 2 --accounts $ACCOUNTS --instruments 5000 --positions 5 --firms 20"
"$BIN" generate "$WORK/snap" --days 2 --accounts "$ACCOUNTS" --instruments 5000 --positions 5 --firms 20 >/dev/null
DATE=$(ls "$WORK/snap" | sed -n 's/^ledger-\([0-9-]*\)\.sqlite$/\1/p' | sort | head -1)

# A job folder: configuration (20 firms, local destinations), state, output.
# With --state postgres every job but the single night has a database of its own, migrated.
job() {
  local dir="$WORK/$1" store="{path: $WORK/$1/state/state.sqlite, create: true}"
  mkdir -p "$dir/state" "$dir/dest" "$dir/metrics"
  if [ "$STATE" = postgres ] && [ "$1" != single ]; then
    psql_super -c "CREATE DATABASE eod_$1 OWNER eod"
    store="{url: postgres://eod@127.0.0.1:$PGPORT/eod_$1}"
    "$BIN" migrate-state --state "postgres://eod@127.0.0.1:$PGPORT/eod_$1" >/dev/null
  fi
  {
    echo "version: 1"
    echo "snapshot: $WORK/snap/ledger-{date}.sqlite"
    echo "state_store: $store"
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

# What the sharded night writes to PostgreSQL (cluster WAL; the database's counters and size).
pg_counters() {
  psql_super -d postgres -c "SELECT pg_current_wal_lsn(), xact_commit, tup_inserted, tup_updated, tup_deleted,
    pg_database_size('eod_sharded') FROM pg_stat_database WHERE datname = 'eod_sharded'" | tr '|' ' '
}
if [ "$STATE" = postgres ]; then read -r LSN0 XACT0 INS0 UPD0 DEL0 SIZE0 <<<"$(pg_counters)"; fi
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
if [ "$STATE" = postgres ]; then
  sleep 1 # the server's statistics are flushed at most once a second
  read -r LSN1 XACT1 INS1 UPD1 DEL1 SIZE1 <<<"$(pg_counters)"
  WAL=$(psql_super -c "SELECT pg_wal_lsn_diff('$LSN1', '$LSN0')::bigint")
fi
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
if [ "$STATE" = postgres ]; then
  JOURNAL=$(psql_super -d eod_killed -c "SELECT COUNT(*) FROM deliveries")
else
  JOURNAL=$(sqlite3 "$WORK/killed/state/state.sqlite" "SELECT COUNT(*) FROM deliveries")
fi
digest "$WORK/killed/out" >"$WORK/killed.sha"
if cmp -s "$WORK/single.sha" "$WORK/killed.sha"; then KILLED_IDENTICAL=yes; else KILLED_IDENTICAL=NO; fi

cat <<EOF

sharded night, $ACCOUNTS accounts / 20 firms ($DATE), the shards' state in $STATE (the single night's: SQLite), local destinations; load $(cut -d' ' -f1 /proc/loadavg)
  single night (one process)         ${SINGLE} s   peak RSS $((SINGLE_RSS / 1024)) MB
  plan --shards 4                    ${PLAN} s
  4 shards at once (wall, all four)  ${SHARDS} s   peak RSS per shard $((SHARD_RSS / 1024)) MB; finalized by $FINALIZERS shard(s)
  shard times (s):                   $(for i in 0 1 2 3; do awk '{printf "%s ", $1}' "$WORK/shard$i.time"; done)
  union byte-identical to single     $IDENTICAL ($FILES files)
  killed shard 1 (SIGKILL):          finalize before re-run exit $BEFORE (want 1)
  re-run of index 1                  ${RERUN} s (exit $RERUN_RC; $SKIPPED firms skipped as complete and delivered)
  finalize after                     exit $AFTER (want 0); journal rows $JOURNAL (want $((20 * 6))); files identical to single: $KILLED_IDENTICAL
EOF
if [ "$STATE" = postgres ]; then
  awk -v wal="$WAL" -v x="$((XACT1 - XACT0))" -v ins="$((INS1 - INS0))" -v upd="$((UPD1 - UPD0))" \
    -v del="$((DEL1 - DEL0))" -v grow="$((SIZE1 - SIZE0))" -v size="$SIZE1" -v a="$ACCOUNTS" 'BEGIN {
    printf "  PostgreSQL, the 4-shard night:     WAL %.1f MB (%.0f bytes per account); %d transactions (%.1f per firm)\n", wal / 1e6, wal / a, x, x / 20
    printf "                                     rows inserted %d (%.2f per account), updated %d, deleted %d\n", ins, ins / a, upd, del
    printf "                                     database grew %.1f MB (%.0f bytes per account) to %.1f MB\n", grow / 1e6, grow / a, size / 1e6
  }'
fi
[ "$IDENTICAL" = yes ] && [ "$BEFORE" = 1 ] && [ "$AFTER" = 0 ] && [ "$RERUN_RC" = 0 ] && [ "$FINALIZERS" = 1 ] \
  && [ "$JOURNAL" = $((20 * 6)) ] && [ "$KILLED_IDENTICAL" = yes ]
}

main "$@"
