#!/usr/bin/env bash
# The same nights with the state store in SQLite and in PostgreSQL, in one run, printing ratios.
#
#   bench/state.sh [--quick] [--keep] [--work DIR]
#
# Generates a book (full: 200,000 accounts, 20 firms, ~1M positions; --quick: 20,000 accounts),
# starts its own PostgreSQL 15 (initdb in the work folder, loopback, unix socket there; as user
# postgres when run as root), migrates it, then runs day 1 (no history: baselines) and day 2
# (history read for every account) with each store, alternately. Prints per day the wall time and
# peak RSS of each and the ratio PostgreSQL / SQLite, the PostgreSQL server's peak memory during
# each of its runs (the sum of its processes' PSS, sampled every 0.2 s: shared buffers counted
# once), checks that both wrote the same extracts (sha256 of every file but the manifests), and
# the state's size per account per business date: the SQLite file (WAL folded in) and
# pg_total_relation_size of the store's tables.
#
# Environment: EOD_BIN=path/to/eod-extract skips the build (bench/lib.sh); PG_BIN (default
# /usr/lib/postgresql/15/bin). Needs GNU time, sqlite3, sha256sum.
set -euo pipefail

main() {
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib.sh
. "$ROOT/bench/lib.sh"
MODE=full KEEP=0 WORK=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) MODE=quick ;;
    --keep) KEEP=1 ;;
    --work) WORK=$2; shift ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/state.sh: unknown option $1 (try --help)" >&2; exit 64 ;;
  esac
  shift
done
if [ "$MODE" = full ]; then ACCOUNTS=200000 INSTRUMENTS=5000 FIRMS=20; else ACCOUNTS=20000 INSTRUMENTS=2000 FIRMS=20; fi
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
bench_binary state.sh
WORK=${WORK:-$(mktemp -d /tmp/eod-bench-state-XXXXXX)}
mkdir -p "$WORK/logs"
AS=()
if [ "$(id -u)" = 0 ]; then AS=(runuser -u postgres --); chown postgres "$WORK"; fi
PG=$WORK/pg
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
  "${AS[@]}" "$PG_BIN/pg_ctl" -D "$PG/data" -m fast stop >/dev/null 2>&1 || true
  if [ "$KEEP" = 0 ]; then rm -rf "$WORK"; else log "kept $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# server_pss_mb: the PostgreSQL server's memory now, in MB: PSS (shared pages divided among the
# processes sharing them) of the postmaster and its children, summed.
server_pss_mb() {
  local main pids
  main=$(head -1 "$PG/data/postmaster.pid")
  pids="$main $(pgrep -P "$main" | tr '\n' ' ')"
  for pid in $pids; do awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null; done |
    awk '{ kb += $1 } END { printf "%.1f", kb / 1024 }'
}
# pg_timed label command...: as timed, and SERVER_MB, the server's peak memory meanwhile.
pg_timed() {
  local peak=$WORK/logs/$1.server
  (while kill -0 $$ 2>/dev/null; do server_pss_mb >>"$peak"; echo >>"$peak"; sleep 0.2; done) &
  local sampler=$!
  timed "$@"
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  SERVER_MB=$(max_of <"$peak")
}
digest() { (cd "$1" && find . -type f ! -name '*_manifest_*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16); }

log "mode $MODE, binary $BIN, work $WORK, machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
log "generating $ACCOUNTS accounts x 5 positions, 2 days, $FIRMS firms"
timed gen "$BIN" generate "$WORK/snapshots" --days 2 --accounts $ACCOUNTS --instruments $INSTRUMENTS --positions 5 --firms $FIRMS
DAYS=()
while IFS= read -r f; do DAYS+=("$f"); done < <(find "$WORK/snapshots" -maxdepth 1 -name 'ledger-*.sqlite' | sort)
POSITIONS=$(sqlite3 "${DAYS[0]}" 'SELECT count(*) FROM positions')

log "starting PostgreSQL 15 on 127.0.0.1:$PORT"
mkdir -p "$PG" && { [ ${#AS[@]} = 0 ] || chown postgres "$PG"; }
"${AS[@]}" "$PG_BIN/initdb" -D "$PG/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 >/dev/null
"${AS[@]}" "$PG_BIN/pg_ctl" -D "$PG/data" -l "$PG/server.log" -w -o "-p $PORT -k $PG -c listen_addresses=127.0.0.1" start >/dev/null
"${AS[@]}" "$PG_BIN/psql" -h "$PG" -p "$PORT" -U postgres -XAtq \
  -c "CREATE ROLE eod LOGIN PASSWORD 'bench'" -c "CREATE DATABASE state OWNER eod"
export PGPASSWORD=bench
URL="postgres://eod@127.0.0.1:$PORT/state"
"$BIN" migrate-state --state "$URL" >/dev/null

RUN=("$BIN" run --init-state --templates "$ROOT/templates")
PGRUN=("$BIN" run --templates "$ROOT/templates")
declare -A S_SECS S_RSS P_SECS P_RSS P_SERVER
for i in 0 1; do
  day=$((i + 1))
  log "day $day: SQLite"
  timed "sqlite-$day" "${RUN[@]}" --snapshot "${DAYS[$i]}" --state "$WORK/state.sqlite" --out "$WORK/out-sqlite"
  S_SECS[$day]=$SECS S_RSS[$day]=$RSS_MB
  log "day $day: PostgreSQL"
  pg_timed "pg-$day" "${PGRUN[@]}" --snapshot "${DAYS[$i]}" --state "$URL" --out "$WORK/out-pg"
  P_SECS[$day]=$SECS P_RSS[$day]=$RSS_MB P_SERVER[$day]=$SERVER_MB
done
SQLITE_BYTES=$(sqlite3 "$WORK/state.sqlite" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null; stat -c %s "$WORK/state.sqlite")
PG_BYTES=$("${AS[@]}" "$PG_BIN/psql" -h "$PG" -p "$PORT" -U postgres -d state -XAtq -c \
  "SELECT SUM(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = 'public' AND c.relkind = 'r'")
SAME=$([ "$(digest "$WORK/out-sqlite")" = "$(digest "$WORK/out-pg")" ] && echo yes || echo NO)

echo
echo "State store: SQLite vs PostgreSQL 15 (loopback), $ACCOUNTS accounts, $POSITIONS positions, $FIRMS firms ($MODE)"
printf '%-34s %10s %10s %8s\n' "" SQLite PostgreSQL ratio
for day in 1 2; do
  printf '%-34s %9ss %9ss %8s\n' "day $day wall (run)" "${S_SECS[$day]}" "${P_SECS[$day]}" "$(calc "${P_SECS[$day]} / ${S_SECS[$day]}")"
  printf '%-34s %8sMB %8sMB %8s\n' "day $day peak RSS (eod-extract)" "${S_RSS[$day]}" "${P_RSS[$day]}" "$(calc "${P_RSS[$day]} / ${S_RSS[$day]}")"
  printf '%-34s %10s %8sMB\n' "day $day server peak PSS (postgres)" - "${P_SERVER[$day]}"
done
printf '%-34s %10s %10s %8s\n' "state bytes per account per day" "$(calc "$SQLITE_BYTES / ($ACCOUNTS * 2)" 0)" \
  "$(calc "$PG_BYTES / ($ACCOUNTS * 2)" 0)" "$(calc "$PG_BYTES / $SQLITE_BYTES")"
echo "same extracts (sha256 of every file but the manifests): $SAME"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$SAME" = yes ]
}
main "$@"
