#!/usr/bin/env bash
# The benchmark: eod-extract against reference tools, in one run, printing ratios.
#
#   bench/run.sh [--quick] [--reps N] [--keep] [--work DIR] [--results FILE] [--recon] [--shards]
#
# 1. positions extract of ~1M positions vs `sqlite3 -csv SNAPSHOT < bench/positions.sql | gzip -6`
# 2. SFTP upload of one ~200 MB file vs OpenSSH `sftp -b` (private sshd on 127.0.0.1)
# 3. performance history: day 2 (history) vs day 1 (baselines); the snapshot of day 500 against
#    9 and against 499 days of history (and, for reference, day 10 vs day 500, which also mixes in
#    the snapshots' growth); state store bytes per account per business date
# 4. with --recon, afterwards: bench/recon.sh (eod-extract reconcile vs datacompy, pandas and Polars)
# 5. many firms (before part 4): 1M accounts / 999 firms / ~5M positions (a spooled pass): peak RSS, peak open
#    files (run under `ulimit -n 256`), and CPU (user + system) per position against a 20-firm run
#    (part 1's day 1) made just before each 999-firm run, so that both sides of the ratio see the
#    machine in the same state; part 1's own runs are shown beside it
# 6. with --shards, afterwards: bench/shards.sh (a night in 4 shard processes vs one process)
# See bench/README.md for what each figure means.
#
# Environment: EOD_BIN=path/to/eod-extract skips the build; SCRATCH=DIR is the build's
# --scratch-path (default .build). Needs: swift, sqlite3, gzip, GNU time (/usr/bin/time), sftp,
# sshd, ssh-keygen, awk, GNU date (bench/README.md says how to install them).
set -euo pipefail

# Everything is in main, which bash reads whole before running it: editing this file while a
# benchmark runs cannot change the running benchmark.
main() {

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib.sh
. "$ROOT/bench/lib.sh"
MODE=full
REPS=""
KEEP=0
WORK=""
RESULTS=""
RECON=0
SHARDS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) MODE=quick ;;
    --reps) REPS=$2; shift ;;
    --keep) KEEP=1 ;;
    --work) WORK=$2; shift ;;
    --results) RESULTS=$2; shift ;;
    --recon) RECON=1 ;;
    --shards) SHARDS=1 ;;
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown option $1 (try --help)" >&2; exit 64 ;;
  esac
  shift
done

if [ "$MODE" = full ]; then
  # 1. and 3a.: the brief's size: ~1M positions, 20 firms.
  BIG_ACCOUNTS=200000 BIG_INSTRUMENTS=5000 BIG_POSITIONS=5 BIG_FIRMS=20
  # 2.: one firm whose uncompressed positions file is ~200 MB.
  SFTP_ACCOUNTS=160000
  # 3b.: a long history of a smaller book.
  HIST_DAYS=500 HIST_ACCOUNTS=3000 HIST_FIRMS=2 HIST_INSTRUMENTS=200 HIST_POSITIONS=4
  EARLY_DAY=10
  # 5.: the issue's many-firm platform.
  MANY_ACCOUNTS=1000000 MANY_INSTRUMENTS=20000 MANY_POSITIONS=5 MANY_FIRMS=999
  : "${REPS:=3}"
else
  BIG_ACCOUNTS=20000 BIG_INSTRUMENTS=2000 BIG_POSITIONS=5 BIG_FIRMS=20
  SFTP_ACCOUNTS=40000
  HIST_DAYS=60 HIST_ACCOUNTS=3000 HIST_FIRMS=2 HIST_INSTRUMENTS=200 HIST_POSITIONS=4
  EARLY_DAY=10
  MANY_ACCOUNTS=50000 MANY_INSTRUMENTS=2000 MANY_POSITIONS=5 MANY_FIRMS=999
  : "${REPS:=3}"
fi
LATE_DAY=$HIST_DAYS

# Targets printed next to the ratios.
TARGET_POSITIONS=0.35 TARGET_WHOLE=0.6 TARGET_RSS_MB=150 TARGET_HISTORY=1.2
TARGET_MANY_FILES=256 TARGET_MANY_PER_POSITION=1.0

# --- tools -----------------------------------------------------------------------------------------
missing=()
for tool in sqlite3 gzip sftp ssh-keygen awk date cmp; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ -x /usr/bin/time ] || missing+=("/usr/bin/time")
SSHD=$(command -v sshd || echo /usr/sbin/sshd)
[ -x "$SSHD" ] || missing+=("sshd")
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench/run.sh: missing: ${missing[*]}" >&2
  echo "  install (Debian/Ubuntu): apt-get install -y sqlite3 gzip time openssh-client openssh-server" >&2
  exit 2
fi

now_ms() { date +%s%3N; }
iso_ms() { date -d "$1" +%s%3N; }

# --- the binary ------------------------------------------------------------------------------------
bench_binary run.sh
TEMPLATES=$ROOT/templates
SQL=$ROOT/bench/positions.sql

# --- work directory, load sampler, cleanup ---------------------------------------------------------
if [ -z "$WORK" ]; then WORK=$(mktemp -d /tmp/eod-bench-XXXXXX); else mkdir -p "$WORK"; fi
WORK=$(cd "$WORK" && pwd)
SSHD_PID=""
SAMPLER_PID=""
cleanup() {
  if [ -n "$SSHD_PID" ]; then kill "$SSHD_PID" 2>/dev/null || true; wait "$SSHD_PID" 2>/dev/null || true; fi
  if [ -n "$SAMPLER_PID" ]; then kill "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; fi
  if [ "$KEEP" = 0 ]; then rm -rf "$WORK"; else log "kept $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Every 5 s: the 1-minute load average (the machine may be shared; the report says how busy it
# was), and the size of the backfilled state store's write-ahead log (part 3).
(while :; do
  cut -d' ' -f1 /proc/loadavg >>"$WORK/load.txt"
  stat -c %s "$WORK/history/state.sqlite-wal" >>"$WORK/wal.txt" 2>/dev/null || true
  sleep 5
done) &
SAMPLER_PID=$!

# timed LABEL COMMAND... (bench/lib.sh) writes its logs to $WORK/logs.
mkdir -p "$WORK/logs"

# The wall times of every repetition of a timed step, in order.
reps_of() { for f in "$WORK/logs/$1"-*.time; do tail -1 "$f" | awk '{ printf "%s ", $1 }'; done; }
# The snapshot files of a generated series, in date order (the generator names them by date).
nth_snapshot() { find "$1" -maxdepth 1 -name 'ledger-*.sqlite' | sort | sed -n "${2}p"; }
snapshot_date() { basename "$1" .sqlite | sed 's/^ledger-//'; }
# A consistent copy of a state store (WAL folded in first).
# The copy is synced to disk before the timed run: otherwise the run's own checkpoint (fdatasync)
# pays for writing out the whole freshly copied file, a cost that grows with the store's size and
# that a nightly run, whose store was synced by the previous night's checkpoint, never pays.
copy_state() { sqlite3 "$1" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null; cp "$1" "$2"; rm -f "$2-wal" "$2-shm"; sync; }
state_bytes() { sqlite3 "$1" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null; stat -c %s "$1"; }
# Seconds a step took, summed over the JSON log lines with that message (their duration_ms).
log_seconds() { # message logfile
  grep "\"message\":\"$1\"" "$2" | sed -n 's/.*"duration_ms":"\{0,1\}\([0-9.]*\).*/\1/p' |
    awk '{ s += $1 } END { printf "%.2f", s / 1000 }'
}

# A millisecond field of the first JSON log line with that message, in seconds.
log_field_seconds() { # message field logfile
  grep "\"message\":\"$1\"" "$3" | head -1 | sed -n "s/.*\"$2\":\"\{0,1\}\([0-9.]*\).*/\1/p" |
    awk '{ printf "%.2f", $1 / 1000 } END { if (NR == 0) printf "?" }'
}

# eod-extract run with the repository's templates: "${RUN[@]}" --snapshot S --state T --out D ...
RUN=("$BIN" run --init-state --templates "$TEMPLATES")

log "mode $MODE, $REPS repetitions (median reported), binary $BIN, work $WORK"
log "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# === 1. positions extract at ~1M positions, and 3a. ===============================================
BIG=$WORK/big
log "1. generating $BIG_ACCOUNTS accounts x $BIG_POSITIONS positions, 2 days, $BIG_FIRMS firms"
timed gen-big "$BIN" generate "$BIG/snapshots" --days 2 --accounts $BIG_ACCOUNTS \
  --instruments $BIG_INSTRUMENTS --positions $BIG_POSITIONS --firms $BIG_FIRMS
GEN_BIG_SECS=$SECS
DAY1=$(nth_snapshot "$BIG/snapshots" 1)
DAY2=$(nth_snapshot "$BIG/snapshots" 2)
POSITIONS_ROWS=$(sqlite3 "$DAY1" 'SELECT count(*) FROM positions')
log "   $POSITIONS_ROWS positions on $(snapshot_date "$DAY1") ($GEN_BIG_SECS s to generate)"

ref_s=() ref_m=() whole_s=() whole_m=() whole_c=() pos_s=() pos_m=() day2_s=() day2_m=()
for rep in $(seq 1 "$REPS"); do
  log "   rep $rep/$REPS: reference sqlite3 | gzip -6"
  timed "ref-$rep" sh -c 'sqlite3 -csv "$1" < "$2" | gzip -6 > "$3"' sh "$DAY1" "$SQL" "$BIG/reference.csv.gz"
  ref_s+=("$SECS") ref_m+=("$RSS_MB")
  REF_BYTES=$(stat -c %s "$BIG/reference.csv.gz")

  log "   rep $rep/$REPS: eod-extract run, day 1, every extract (no history: baselines)"
  rm -rf "$BIG/state1.sqlite"* "$BIG/out1"
  timed "whole-$rep" "${RUN[@]}" --snapshot "$DAY1" --state "$BIG/state1.sqlite" --out "$BIG/out1"
  whole_s+=("$SECS") whole_m+=("$RSS_MB") whole_c+=("$CPU_SECS")
  WHOLE_VALIDATE=$(log_seconds "snapshot validated" "$WORK/logs/whole-$rep.err")
  WHOLE_FIRMS=$(log_field_seconds "snapshot read" read_ms "$WORK/logs/whole-$rep.err")
  PROJECT_POS_BYTES=$(find "$BIG/out1" -name '*_positions_*' -exec stat -c %s {} + | awk '{ s += $1 } END { print s }')

  log "   rep $rep/$REPS: eod-extract run, day 1, --extract positions"
  rm -rf "$BIG/statep.sqlite"* "$BIG/outp"
  timed "positions-$rep" "${RUN[@]}" --snapshot "$DAY1" --state "$BIG/statep.sqlite" --out "$BIG/outp" --extract positions
  pos_s+=("$SECS") pos_m+=("$RSS_MB")
  POS_FIRMS=$(log_field_seconds "snapshot read" read_ms "$WORK/logs/positions-$rep.err")
  rm -rf "$BIG/statep.sqlite"* "$BIG/outp"

  log "   rep $rep/$REPS: eod-extract run, day 2, every extract, history from day 1"
  rm -rf "$BIG/state2.sqlite"* "$BIG/out2"
  copy_state "$BIG/state1.sqlite" "$BIG/state2.sqlite"
  timed "day2-$rep" "${RUN[@]}" --snapshot "$DAY2" --state "$BIG/state2.sqlite" --out "$BIG/out2"
  day2_s+=("$SECS") day2_m+=("$RSS_MB")
  DAY2_FIRMS=$(log_field_seconds "snapshot read" read_ms "$WORK/logs/day2-$rep.err")
  BIG_STATE2_BYTES=$(state_bytes "$BIG/state2.sqlite")
  rm -rf "$BIG/out1" "$BIG/out2" "$BIG/state2.sqlite"*
done
REF_SECS=$(echo "${ref_s[*]}" | median) REF_MB=$(echo "${ref_m[*]}" | max_of)
WHOLE_SECS=$(echo "${whole_s[*]}" | median) WHOLE_MB=$(echo "${whole_m[*]}" | max_of)
WHOLE_CPU=$(echo "${whole_c[*]}" | median)
POS_SECS=$(echo "${pos_s[*]}" | median) POS_MB=$(echo "${pos_m[*]}" | max_of)
DAY2_SECS=$(echo "${day2_s[*]}" | median) DAY2_MB=$(echo "${day2_m[*]}" | max_of)
R_WHOLE=$(calc "$WHOLE_SECS / $REF_SECS")
R_POS=$(calc "$POS_SECS / $REF_SECS")
R_DAY2=$(calc "$DAY2_SECS / $WHOLE_SECS")
rm -rf "$BIG/state1.sqlite"*

# === 2. SFTP throughput ============================================================================
SF=$WORK/sftp
mkdir -p "$SF/remote"
log "2. generating one firm of $SFTP_ACCOUNTS accounts for a large positions file"
timed gen-sftp "$BIN" generate "$SF/snapshots" --days 1 --accounts $SFTP_ACCOUNTS \
  --instruments 5000 --positions 5 --firms 1
SF_SNAP=$(nth_snapshot "$SF/snapshots" 1)
SF_DATE=$(snapshot_date "$SF_SNAP")

# A private sshd: generated host and user keys, internal-sftp, a free port on 127.0.0.1.
SSHDIR=$SF/sshd
mkdir -p "$SSHDIR"
ssh-keygen -q -t ed25519 -N '' -f "$SSHDIR/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -f "$SSHDIR/user_ed25519"
cp "$SSHDIR/user_ed25519.pub" "$SSHDIR/authorized_keys"
mkdir -p /run/sshd 2>/dev/null || true
USER_NAME=$(id -un)
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  PORT=$((20000 + RANDOM % 40000))
  port_busy "$PORT" && continue
  cat >"$SSHDIR/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $PORT
HostKey $SSHDIR/host_ed25519
AuthorizedKeysFile $SSHDIR/authorized_keys
Subsystem sftp internal-sftp
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin yes
StrictModes no
UsePAM no
PidFile $SSHDIR/sshd.pid
LogLevel ERROR
EOF
  "$SSHD" -D -e -f "$SSHDIR/sshd_config" 2>"$SSHDIR/sshd.log" &
  SSHD_PID=$!
  for _ in $(seq 1 100); do
    port_busy "$PORT" && break
    kill -0 "$SSHD_PID" 2>/dev/null || break
    sleep 0.1
  done
  if port_busy "$PORT"; then break; fi
  kill "$SSHD_PID" 2>/dev/null || true
  wait "$SSHD_PID" 2>/dev/null || true
  SSHD_PID=""
done
if [ -z "$SSHD_PID" ]; then
  echo "bench/run.sh: sshd did not start; log:" >&2
  cat "$SSHDIR/sshd.log" >&2
  exit 1
fi
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1-2 "$SSHDIR/host_ed25519.pub")" >"$SSHDIR/known_hosts"
log "   sshd pid $SSHD_PID on 127.0.0.1:$PORT"

proj_s=() proj_set_s=() ossh_s=() osshf_s=()
for rep in $(seq 1 "$REPS"); do
  log "   rep $rep/$REPS: eod-extract run --extract positions --compression none --destination sftp://..."
  rm -rf "$SF/state.sqlite"* "$SF/out" "$SF/remote/eod"
  sync
  run_start=$(now_ms)
  "${RUN[@]}" --snapshot "$SF_SNAP" --state "$SF/state.sqlite" --out "$SF/out" --extract positions --compression none \
    --destination "sftp://$USER_NAME@127.0.0.1:$PORT$SF/remote/eod" --identity "$SSHDIR/user_ed25519" \
    --known-hosts "$SSHDIR/known_hosts" --create-dirs >"$WORK/logs/sftp-project-$rep.out" \
    2>"$WORK/logs/sftp-project-$rep.err" || {
    echo "bench/run.sh: the project's SFTP run failed" >&2
    tail -20 "$WORK/logs/sftp-project-$rep.err" >&2
    exit 1
  }
  run_end=$(now_ms)
  LOCAL_FILE=$(find "$SF/out" -name '*_positions_*.csv' | head -1)
  SFTP_BYTES=$(stat -c %s "$LOCAL_FILE")
  REMOTE_FILE=$SF/remote/eod/FIRM001/$SF_DATE/$(basename "$LOCAL_FILE")
  cmp -s "$LOCAL_FILE" "$REMOTE_FILE" || { echo "bench/run.sh: uploaded file differs" >&2; exit 1; }
  # From the JSON log: extract done ("firm done") -> positions file placed -> manifest placed.
  errlog=$WORK/logs/sftp-project-$rep.err
  t_done=$(grep '"message":"firm done"' "$errlog" | head -1 | sed 's/.*"timestamp":"\([^"]*\)".*/\1/')
  t_pos=$(grep '"message":"file placed"' "$errlog" | grep '_positions_' | head -1 | sed 's/.*"timestamp":"\([^"]*\)".*/\1/')
  t_man=$(grep '"message":"file placed"' "$errlog" | grep '_manifest_' | head -1 | sed 's/.*"timestamp":"\([^"]*\)".*/\1/')
  if [ -z "$t_done" ] || [ -z "$t_pos" ] || [ -z "$t_man" ]; then
    echo "bench/run.sh: cannot find 'firm done' / 'file placed' in the project's log $errlog" >&2
    exit 1
  fi
  proj_s+=("$(calc "($(iso_ms "$t_pos") - $(iso_ms "$t_done")) / 1000" 3)")
  proj_set_s+=("$(calc "($(iso_ms "$t_man") - $(iso_ms "$t_done")) / 1000" 3)")
  PROJECT_RUN_SECS=$(calc "($run_end - $run_start) / 1000" 2)

  # OpenSSH, plain `put` and `put -f` (fsync@openssh.com after the transfer, as the project does).
  for variant in plain fsync; do
    flag=""
    [ "$variant" = fsync ] && flag="-f"
    log "   rep $rep/$REPS: sftp -b 'put $flag' (the same file)"
    echo "put $flag $LOCAL_FILE $SF/remote/openssh.csv" >"$SF/batch"
    rm -f "$SF/remote/openssh.csv"
    sync
    t0=$(now_ms)
    sftp -q -b "$SF/batch" -i "$SSHDIR/user_ed25519" -P "$PORT" -o "UserKnownHostsFile=$SSHDIR/known_hosts" \
      -o StrictHostKeyChecking=yes -o BatchMode=yes "$USER_NAME@127.0.0.1" \
      >"$WORK/logs/sftp-openssh-$variant-$rep.out" 2>"$WORK/logs/sftp-openssh-$variant-$rep.err" || {
      echo "bench/run.sh: sftp -b failed" >&2
      cat "$WORK/logs/sftp-openssh-$variant-$rep.err" >&2
      exit 1
    }
    t1=$(now_ms)
    if [ "$variant" = plain ]; then
      ossh_s+=("$(calc "($t1 - $t0) / 1000" 3)")
    else
      osshf_s+=("$(calc "($t1 - $t0) / 1000" 3)")
    fi
    cmp -s "$LOCAL_FILE" "$SF/remote/openssh.csv" || { echo "bench/run.sh: sftp -b copy differs" >&2; exit 1; }
  done
done
PROJ_UP_SECS=$(echo "${proj_s[*]}" | median)
PROJ_SET_SECS=$(echo "${proj_set_s[*]}" | median)
OSSH_SECS=$(echo "${ossh_s[*]}" | median)
SFTP_MB=$(calc "$SFTP_BYTES / 1000000" 1)
PROJ_MBS=$(calc "$SFTP_BYTES / 1000000 / $PROJ_UP_SECS" 1)
OSSH_MBS=$(calc "$SFTP_BYTES / 1000000 / $OSSH_SECS" 1)
OSSHF_SECS=$(echo "${osshf_s[*]}" | median)
OSSHF_MBS=$(calc "$SFTP_BYTES / 1000000 / $OSSHF_SECS" 1)
R_SFTP=$(calc "$PROJ_MBS / $OSSH_MBS")
R_SFTPF=$(calc "$PROJ_MBS / $OSSHF_MBS")
kill "$SSHD_PID" 2>/dev/null || true
wait "$SSHD_PID" 2>/dev/null || true
SSHD_PID=""
rm -rf "$SF"

# === 3b./3c. a backfilled history ==================================================================
H=$WORK/history
log "3. generating $HIST_DAYS business days of $HIST_ACCOUNTS accounts ($HIST_FIRMS firms)"
timed gen-history "$BIN" generate "$H/snapshots" --days $HIST_DAYS --accounts $HIST_ACCOUNTS \
  --firms $HIST_FIRMS --instruments $HIST_INSTRUMENTS --positions $HIST_POSITIONS
GEN_HIST_SECS=$SECS
EARLY=$(nth_snapshot "$H/snapshots" "$EARLY_DAY")
LATE=$(nth_snapshot "$H/snapshots" "$LATE_DAY")
BEFORE_EARLY=$(snapshot_date "$(nth_snapshot "$H/snapshots" $((EARLY_DAY - 1)))")
BEFORE_LATE=$(snapshot_date "$(nth_snapshot "$H/snapshots" $((LATE_DAY - 1)))")
log "   $GEN_HIST_SECS s; backfilling to day $((EARLY_DAY - 1)) ($BEFORE_EARLY)"
timed backfill-early "$BIN" backfill --init-state --snapshots "$H/snapshots" --state "$H/state.sqlite" --to "$BEFORE_EARLY" \
  --templates "$TEMPLATES"
BACKFILL_SECS=$SECS

time_day() { # snapshot label -> median seconds of REPS first runs of that date on copies of the state
  local snapshot=$1 label=$2 times=() rep
  for rep in $(seq 1 "$REPS"); do
    rm -rf "$H/run.sqlite"* "$H/out"
    copy_state "$H/state.sqlite" "$H/run.sqlite"
    timed "$label-$rep" "${RUN[@]}" --snapshot "$snapshot" --state "$H/run.sqlite" --out "$H/out"
    times+=("$SECS")
  done
  echo "${times[*]}" | median
}
log "   timing the run of day $EARLY_DAY ($(snapshot_date "$EARLY"))"
EARLY_SECS=$(time_day "$EARLY" early)
EARLY_STATE_BYTES=$(state_bytes "$H/run.sqlite")
# The short history, kept for the fixed-snapshot comparison below.
copy_state "$H/state.sqlite" "$H/short.sqlite"

log "   backfilling to day $((LATE_DAY - 1)) ($BEFORE_LATE)"
timed backfill-late "$BIN" backfill --init-state --snapshots "$H/snapshots" --state "$H/state.sqlite" \
  --from "$(snapshot_date "$EARLY")" --to "$BEFORE_LATE" --templates "$TEMPLATES"
BACKFILL_SECS=$(calc "$BACKFILL_SECS + $SECS" 1)
log "   timing the run of day $LATE_DAY ($(snapshot_date "$LATE"))"
LATE_SECS=$(time_day "$LATE" late)
LATE_STATE_BYTES=$(state_bytes "$H/run.sqlite")
R_MIXED=$(calc "$LATE_SECS / $EARLY_SECS")
EARLY_POSITIONS=$(sqlite3 "$EARLY" 'SELECT COUNT(*) FROM positions')
LATE_POSITIONS=$(sqlite3 "$LATE" 'SELECT COUNT(*) FROM positions')
R_POSITIONS=$(calc "$LATE_POSITIONS / $EARLY_POSITIONS" 1)

# The same snapshot (day LATE_DAY) against the short history (days 1..EARLY_DAY-1, so --allow-gap)
# and against the long one (days 1..LATE_DAY-1), alternating, at least 5 times each: only the
# history's length differs. This is the figure compared with the target.
FIXED_REPS=$((REPS > 5 ? REPS : 5))
fixed_short=() fixed_long=()
for rep in $(seq 1 "$FIXED_REPS"); do
  for variant in short long; do
    rm -rf "$H/run.sqlite"* "$H/out"
    if [ "$variant" = short ]; then copy_state "$H/short.sqlite" "$H/run.sqlite"; else copy_state "$H/state.sqlite" "$H/run.sqlite"; fi
    log "   rep $rep/$FIXED_REPS: day $LATE_DAY's snapshot, $variant history"
    timed "fixed-$variant-$rep" "${RUN[@]}" --snapshot "$LATE" --state "$H/run.sqlite" --out "$H/out" --allow-gap
    if [ "$variant" = short ]; then fixed_short+=("$SECS"); else fixed_long+=("$SECS"); fi
  done
done
rm -rf "$H/run.sqlite"* "$H/out"
FIXED_SHORT_SECS=$(echo "${fixed_short[*]}" | median)
FIXED_LONG_SECS=$(echo "${fixed_long[*]}" | median)
R_HISTORY=$(calc "$FIXED_LONG_SECS / $FIXED_SHORT_SECS")
PER_ACCOUNT_DAY=$(calc "$LATE_STATE_BYTES / ($HIST_ACCOUNTS * $LATE_DAY)" 1)
PER_ACCOUNT_DAY_INC=$(calc "($LATE_STATE_BYTES - $EARLY_STATE_BYTES) / ($HIST_ACCOUNTS * ($LATE_DAY - $EARLY_DAY))" 1)
YEAR_GB=$(calc "$PER_ACCOUNT_DAY_INC * 200000 * 252 / 1000000000" 2)
BIG_PER_ACCOUNT_DAY=$(calc "$BIG_STATE2_BYTES / ($BIG_ACCOUNTS * 2)" 1)

# === 5. many firms =================================================================================
M=$WORK/many
log "5. generating $MANY_ACCOUNTS accounts x $MANY_POSITIONS positions, 1 day, $MANY_FIRMS firms"
timed gen-many "$BIN" generate "$M/snapshots" --days 1 --accounts $MANY_ACCOUNTS \
  --instruments $MANY_INSTRUMENTS --positions $MANY_POSITIONS --firms $MANY_FIRMS
MANY_SNAP=$(nth_snapshot "$M/snapshots" 1)
MANY_ROWS=$(sqlite3 "$MANY_SNAP" 'SELECT count(*) FROM positions')
# Peak open descriptors of a process: /proc/PID/fd sampled every 20 ms until it exits. Without a
# process per sample (a glob counts the entries; `read -t` on a pipe nobody writes to waits): the
# `ls | wc` and `sleep` it forked 50 times a second cost the 999-firm run it watched about 2 s of
# user time (3 %) that the 20-firm side of the CPU ratio did not pay (bench/README.md, issue 13,
# session 17).
fd_peak() { # pid -> peak count
  local pid=$1 peak=0 n sleeper fds
  exec {sleeper}<> <(:)
  while kill -0 "$pid" 2>/dev/null; do
    fds=(/proc/"$pid"/fd/*)
    n=${#fds[@]}
    [ "$n" -gt "$peak" ] && peak=$n
    read -r -t 0.02 -u "$sleeper" _ || true
  done
  exec {sleeper}<&-
  echo "$peak"
}
many_s=() many_m=() many_f=() many_c=() many_u=() many_k=() twenty_s=() twenty_c=() twenty_u=() twenty_k=()
for rep in $(seq 1 "$REPS"); do
  # The 20-firm side of the CPU ratio, right before: this machine's speed drifts by more than the
  # gap between the two over the minutes between part 1 and here.
  log "   rep $rep/$REPS: eod-extract run, $BIG_FIRMS firms (part 1's day 1), for the CPU ratio"
  rm -rf "$M/state20.sqlite"* "$M/out20"
  timed "many-twenty-$rep" "${RUN[@]}" --snapshot "$DAY1" --state "$M/state20.sqlite" --out "$M/out20"
  twenty_s+=("$SECS") twenty_c+=("$CPU_SECS") twenty_u+=("$USER_SECS") twenty_k+=("$SYS_SECS")
  rm -rf "$M/state20.sqlite"* "$M/out20"
  log "   rep $rep/$REPS: eod-extract run, $MANY_FIRMS firms, under ulimit -n $TARGET_MANY_FILES"
  # Each rep writes a tree of its own, all removed after the last: on ext4 without a journal,
  # making an inode steps one by one over those deleted in the last 30 s, and making 6,000 files
  # just after deleting the last rep's cost a short run seconds of system time (bench/README.md,
  # "Issue 13, session 14").
  # GNU time runs the job as its child (the sampler watches that child's descriptors).
  sh -c 'ulimit -n "$1" && shift && exec "$@"' sh "$TARGET_MANY_FILES" /usr/bin/time -f '%e %M %U %S' \
    -o "$WORK/logs/many-$rep.time" "${RUN[@]}" --snapshot "$MANY_SNAP" --state "$M/state-$rep.sqlite" \
    --out "$M/out-$rep" >"$WORK/logs/many-$rep.out" 2>"$WORK/logs/many-$rep.err" &
  time_pid=$!
  job_pid=""
  for _ in $(seq 1 200); do
    job_pid=$(pgrep -P "$time_pid" | head -1 || true)
    [ -n "$job_pid" ] && break
    sleep 0.01
  done
  FDS=$( [ -n "$job_pid" ] && fd_peak "$job_pid" || echo "?")
  if ! wait "$time_pid"; then
    echo "bench/run.sh: the $MANY_FIRMS-firm run failed" >&2
    tail -20 "$WORK/logs/many-$rep.err" >&2
    exit 1
  fi
  many_s+=("$(tail -1 "$WORK/logs/many-$rep.time" | awk '{ print $1 }')")
  many_m+=("$(tail -1 "$WORK/logs/many-$rep.time" | awk '{ printf "%.1f", $2 / 1024 }')")
  many_c+=("$(tail -1 "$WORK/logs/many-$rep.time" | awk '{ printf "%.2f", $3 + $4 }')")
  many_u+=("$(tail -1 "$WORK/logs/many-$rep.time" | awk '{ print $3 }')")
  many_k+=("$(tail -1 "$WORK/logs/many-$rep.time" | awk '{ print $4 }')")
  many_f+=("$FDS")
  MANY_PASS=$(grep '"message":"snapshot read"' "$WORK/logs/many-$rep.err" | sed -n 's/.*"pass":"\([^"]*\)".*/\1/p')
done
rm -rf "$M"
MANY_SECS=$(echo "${many_s[*]}" | median) MANY_MB=$(echo "${many_m[*]}" | max_of)
MANY_FDS=$(echo "${many_f[*]}" | max_of)
MANY_CPU=$(echo "${many_c[*]}" | median)
# CPU (user + system) per position, against the 20-firm runs (every extract, part 1's day 1) made
# just before each 999-firm run: the target's figure (wall time on a shared machine mostly
# measures the other processes); the ratio of each pair, and the same against part 1's runs, are
# printed beside it, and wall time per position (against the same 20-firm runs).
MANY_CPU_US=$(calc "$MANY_CPU / $MANY_ROWS * 1000000" 2)
TWENTY_CPU=$(echo "${twenty_c[*]}" | median)
TWENTY_CPU_US=$(calc "$TWENTY_CPU / $POSITIONS_ROWS * 1000000" 2)
R_MANY=$(calc "$MANY_CPU_US / $TWENTY_CPU_US")
many_pairs=()
for i in "${!many_c[@]}"; do
  many_pairs+=("$(calc "(${many_c[$i]} / $MANY_ROWS) / (${twenty_c[$i]} / $POSITIONS_ROWS)")")
done
WHOLE_CPU_US=$(calc "$WHOLE_CPU / $POSITIONS_ROWS * 1000000" 2)
R_MANY_PART1=$(calc "$MANY_CPU_US / $WHOLE_CPU_US")
MANY_US=$(calc "$MANY_SECS / $MANY_ROWS * 1000000" 2)
TWENTY_SECS=$(echo "${twenty_s[*]}" | median)
TWENTY_US=$(calc "$TWENTY_SECS / $POSITIONS_ROWS * 1000000" 2)
R_MANY_WALL=$(calc "$MANY_US / $TWENTY_US")
# The same ratio split into user and system time (medians of each): the system side holds the
# spool's writes into the page cache, whose cost on this VM moves with the host's memory.
R_MANY_USER=$(calc "($(echo "${many_u[*]}" | median) / $MANY_ROWS) / ($(echo "${twenty_u[*]}" | median) / $POSITIONS_ROWS)")
R_MANY_SYS=$(calc "($(echo "${many_k[*]}" | median) / $MANY_ROWS) / ($(echo "${twenty_k[*]}" | median) / $POSITIONS_ROWS)")

# === results =======================================================================================
kill "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=""
LOAD_MEAN=$(awk '{ s += $1 } END { if (NR) printf "%.2f", s / NR; else print "?" }' "$WORK/load.txt")
LOAD_MAX=$(max_of <"$WORK/load.txt")
WAL_MAX_MB=$(calc "$( (echo 0; cat "$WORK/wal.txt" 2>/dev/null) | max_of) / 1000000" 0)

{
  echo
  echo "eod-extract benchmark ($MODE mode, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, median of $REPS)"
  echo "load average (1 min) during the run: mean $LOAD_MEAN, max $LOAD_MAX"
  echo
  printf '%-62s %12s %10s  %s\n' "1. positions extract, $POSITIONS_ROWS positions, $BIG_FIRMS firms" "seconds" "peak MB" "every rep"
  printf '%-62s %12s %10s  %s\n' "   reference: sqlite3 -csv < bench/positions.sql | gzip -6" "$REF_SECS" "$REF_MB" "${ref_s[*]}"
  printf '%-62s %12s %10s  %s\n' "   eod-extract run, every extract (day 1)" "$WHOLE_SECS" "$WHOLE_MB" "${whole_s[*]}"
  printf '%-62s %12s %10s  %s\n' "   eod-extract run --extract positions (day 1)" "$POS_SECS" "$POS_MB" "${pos_s[*]}"
  printf '%-62s %12s %10s\n' "   ratio whole run / reference (target <= $TARGET_WHOLE)" "$R_WHOLE" "$(verdict "$R_WHOLE" $TARGET_WHOLE)"
  printf '%-62s %12s %10s\n' "   ratio positions / reference (target <= $TARGET_POSITIONS)" "$R_POS" "$(verdict "$R_POS" $TARGET_POSITIONS)"
  printf '%-62s %12s %10s\n' "   peak RSS of the project, max of runs (target < $TARGET_RSS_MB MB)" \
    "$(printf '%s\n' "$WHOLE_MB" "$POS_MB" "$DAY2_MB" | max_of)" \
    "$(verdict "$(printf '%s\n' "$WHOLE_MB" "$POS_MB" "$DAY2_MB" | max_of)" $TARGET_RSS_MB)"
  printf '%-62s %12s\n' "   gzip bytes: reference / project positions files" "$REF_BYTES / $PROJECT_POS_BYTES"
  printf '%-62s %12s\n' "   whole run (last rep, log): validate / snapshot read" "$WHOLE_VALIDATE / $WHOLE_FIRMS"
  printf '%-62s %12s\n' "   --extract positions (last rep, log): snapshot read" "$POS_FIRMS"
  echo
  printf '%-62s %12s %10s\n' "2. SFTP upload of one $SFTP_MB MB file over loopback" "seconds" "MB/s"
  printf '%-62s %12s %10s  %s\n' "   OpenSSH sftp -b: connect, auth, put" "$OSSH_SECS" "$OSSH_MBS" "${ossh_s[*]}"
  printf '%-62s %12s %10s  %s\n' "   OpenSSH sftp -b: connect, auth, put -f (fsync)" "$OSSHF_SECS" "$OSSHF_MBS" "${osshf_s[*]}"
  printf '%-62s %12s %10s  %s\n' "   eod-extract: connect .. positions file placed (fsync)" "$PROJ_UP_SECS" "$PROJ_MBS" "${proj_s[*]}"
  printf '%-62s %12s %10s\n' "   eod-extract: connect .. manifest placed (the whole set)" "$PROJ_SET_SECS" ""
  printf '%-62s %12s\n' "   ratio eod-extract MB/s / sftp put MB/s" "$R_SFTP"
  printf '%-62s %12s\n' "   ratio eod-extract MB/s / sftp put -f MB/s" "$R_SFTPF"
  printf '%-62s %12s\n' "   (whole eod-extract run: extract + delivery, last rep)" "$PROJECT_RUN_SECS"
  echo
  printf '%-62s %12s %10s\n' "3a. $BIG_ACCOUNTS accounts: one more business date" "seconds" "peak MB"
  printf '%-62s %12s %10s\n' "   day 1 run (no history: valuation + baselines)" "$WHOLE_SECS" "$WHOLE_MB"
  printf '%-62s %12s %10s  %s\n' "   day 2 run (valuation + performance from history)" "$DAY2_SECS" "$DAY2_MB" "${day2_s[*]}"
  printf '%-62s %12s\n' "   ratio day 2 / day 1" "$R_DAY2"
  printf '%-62s %12s\n' "   snapshot read, from the logs (last rep): day 1 / day 2" "$WHOLE_FIRMS / $DAY2_FIRMS"
  echo
  printf '%-62s %12s\n' "3b. $HIST_ACCOUNTS accounts, $HIST_FIRMS firms: nightly run vs history length" "seconds"
  printf '%-62s %12s %10s  %s\n' "   day $LATE_DAY's snapshot, $((EARLY_DAY - 1)) days of history (--allow-gap)" "$FIXED_SHORT_SECS" "" "${fixed_short[*]}"
  printf '%-62s %12s %10s  %s\n' "   day $LATE_DAY's snapshot, $((LATE_DAY - 1)) days of history" "$FIXED_LONG_SECS" "" "${fixed_long[*]}"
  printf '%-62s %12s %10s\n' "   ratio, same snapshot: long / short history (target <= $TARGET_HISTORY)" "$R_HISTORY" "$(verdict "$R_HISTORY" $TARGET_HISTORY)"
  printf '%-62s %12s %10s  %s\n' "   run of day $EARLY_DAY ($EARLY_POSITIONS positions)" "$EARLY_SECS" "" "$(reps_of early)"
  printf '%-62s %12s %10s  %s\n' "   run of day $LATE_DAY ($LATE_POSITIONS positions)" "$LATE_SECS" "" "$(reps_of late)"
  printf '%-62s %12s\n' "   ratio day $LATE_DAY / day $EARLY_DAY (mixes in ${R_POSITIONS}x the positions)" "$R_MIXED"
  printf '%-62s %12s\n' "   (generate $HIST_DAYS days / backfill $((LATE_DAY - 2)) days, seconds)" "$GEN_HIST_SECS / $BACKFILL_SECS"
  echo
  printf '%-62s %12s\n' "3c. state store size" "bytes"
  printf '%-62s %12s\n' "   after $LATE_DAY days x $HIST_ACCOUNTS accounts" "$LATE_STATE_BYTES"
  printf '%-62s %12s\n' "   per account per business date (whole file / accounts x days)" "$PER_ACCOUNT_DAY"
  printf '%-62s %12s\n' "   per account per business date (growth day $EARLY_DAY..$LATE_DAY)" "$PER_ACCOUNT_DAY_INC"
  printf '%-62s %12s\n' "   projected growth per year, 200,000 accounts x 252 days (GB)" "$YEAR_GB"
  printf '%-62s %12s\n' "   ($BIG_ACCOUNTS accounts after 2 days: bytes per account per date)" "$BIG_PER_ACCOUNT_DAY"
  printf '%-62s %12s\n' "   largest write-ahead log seen during the backfill (MB)" "$WAL_MAX_MB"
  echo
  printf '%-62s %12s %10s  %s\n' "5. $MANY_FIRMS firms, $MANY_ROWS positions (pass: ${MANY_PASS:-?})" "seconds" "peak MB" "every rep"
  printf '%-62s %12s %10s  %s\n' "   eod-extract run, every extract, ulimit -n $TARGET_MANY_FILES" "$MANY_SECS" "$MANY_MB" "${many_s[*]}"
  printf '%-62s %12s %10s\n' "   peak RSS (target < $TARGET_RSS_MB MB)" "$MANY_MB" "$(verdict "$MANY_MB" $TARGET_RSS_MB)"
  printf '%-62s %12s %10s  %s\n' "   peak open files, /proc/PID/fd (target < $TARGET_MANY_FILES)" "$MANY_FDS" \
    "$(verdict "$MANY_FDS" $((TARGET_MANY_FILES - 1)))" "${many_f[*]}"
  printf '%-62s %12s %10s  %s\n' "   CPU seconds (user + system): $MANY_FIRMS firms / $BIG_FIRMS firms (each before)" \
    "$MANY_CPU / $TWENTY_CPU" "" "${many_c[*]}/ ${twenty_c[*]}"
  printf '%-62s %12s\n' "   CPU microseconds per position: $MANY_FIRMS firms / $BIG_FIRMS firms" "$MANY_CPU_US / $TWENTY_CPU_US"
  printf '%-62s %12s %10s  %s\n' "   CPU ratio per position, $MANY_FIRMS / $BIG_FIRMS firms (target <= $TARGET_MANY_PER_POSITION)" "$R_MANY" \
    "$(verdict "$R_MANY" $TARGET_MANY_PER_POSITION)" "pairs: ${many_pairs[*]}"
  printf '%-62s %12s  %s\n' "   the same against part 1's $BIG_FIRMS-firm runs (earlier)" "$R_MANY_PART1" \
    "$WHOLE_CPU_US us; ${whole_c[*]} s"
  printf '%-62s %12s  %s\n' "   user time only / system time only (ratio per position)" "$R_MANY_USER / $R_MANY_SYS" \
    "user ${many_u[*]}/ ${twenty_u[*]}; system ${many_k[*]}/ ${twenty_k[*]}"
  printf '%-62s %12s\n' "   wall microseconds per position: $MANY_FIRMS / $BIG_FIRMS firms (ratio)" \
    "$MANY_US / $TWENTY_US ($R_MANY_WALL)"
} | tee "$WORK/results.txt"
if [ -n "$RESULTS" ]; then cp "$WORK/results.txt" "$RESULTS"; fi
if [ "$RECON" = 1 ]; then
  RECON_ARGS=()
  [ "$MODE" = quick ] && RECON_ARGS+=(--quick)
  [ "$KEEP" = 1 ] && RECON_ARGS+=(--keep --work "$WORK/recon")
  [ -n "$RESULTS" ] && RECON_ARGS+=(--results "$RESULTS.recon")
  EOD_BIN=$BIN "$ROOT/bench/recon.sh" "${RECON_ARGS[@]}"
fi
if [ "$SHARDS" = 1 ]; then
  SHARD_ARGS=()
  [ "$MODE" = quick ] && SHARD_ARGS+=(--quick)
  [ "$KEEP" = 1 ] && SHARD_ARGS+=(--keep --work "$WORK/shards")
  EOD_BIN=$BIN "$ROOT/bench/shards.sh" "${SHARD_ARGS[@]}"
fi
}

main "$@"
