#!/usr/bin/env bash
# Reconciliation benchmark: `eod-extract reconcile` against datacompy (pandas and Polars), in one run.
#
#   bench/recon.sh [--quick] [--accounts N] [--reps N] [--keep] [--work DIR] [--reuse] [--results FILE]
#
# Our positions extract of one firm (200,000 accounts x 5 positions, ~1M rows; --quick: 20,000),
# a counterparty file made from it by bench/recon_counterparty.py (other layout, random order,
# 0.5 % dropped, 0.5 % added, 1 % changed, half of those within tolerance), reconciled by
# `eod-extract reconcile`, datacompy.PandasCompare and datacompy.PolarsCompare, each in a fresh
# process under GNU time. Checks that all three find the planted breaks; prints time, peak RSS and
# the ratios eod-extract / Polars. See bench/README.md ("Reconciliation").
#
# --reuse (with --work DIR, implies --keep): the inputs a kept run left in DIR (snapshot, our set,
# their file, the profile) are used again when all are there, so only the comparisons are run.
#
# Environment: EOD_BIN=path/to/eod-extract skips the build; SCRATCH=DIR is the build's
# --scratch-path (default .build); PYTHON (default python3) must import datacompy, pandas, polars
# (`pip install datacompy pandas polars`, for the benchmark only); without them only eod-extract
# is measured.
set -euo pipefail

main() {

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib.sh
. "$ROOT/bench/lib.sh"
MODE=full
ACCOUNTS=""
REPS=1
KEEP=0
REUSE=0
WORK=""
RESULTS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) MODE=quick ;;
    --accounts) ACCOUNTS=$2; shift ;;
    --reps) REPS=$2; shift ;;
    --keep) KEEP=1 ;;
    --work) WORK=$2; shift ;;
    --results) RESULTS=$2; shift ;;
 --reuse) REUSE=1 ;;
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/recon.sh: unknown option $1 (try --help)" >&2; exit 64 ;;
  esac
  shift
done
if [ "$REUSE" = 1 ]; then
  [ -n "$WORK" ] || { echo "bench/recon.sh: --reuse needs --work DIR" >&2; exit 64; }
  KEEP=1
fi
if [ -z "$ACCOUNTS" ]; then
  if [ "$MODE" = full ]; then ACCOUNTS=200000; else ACCOUNTS=20000; fi
fi
INSTRUMENTS=5000 POSITIONS=5
# The tolerance on both compared numbers (quantity, market_value), for all three tools.
ABS_TOL=0.01 REL_TOL=0
# Targets: eod-extract / Polars.
TARGET_TIME=1 TARGET_MEM=0.2 TARGET_RSS_MB=150
PYTHON=${PYTHON:-python3}

missing=()
for tool in sqlite3 awk "$PYTHON"; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
[ -x /usr/bin/time ] || missing+=("/usr/bin/time")
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench/recon.sh: missing: ${missing[*]} (apt-get install -y sqlite3 time python3)" >&2
  exit 2
fi
HAVE_DATACOMPY=1
if ! "$PYTHON" -c 'import datacompy, pandas, polars' 2>/dev/null; then
  HAVE_DATACOMPY=0
  echo "bench/recon.sh: $PYTHON cannot import datacompy, pandas and polars" \
    "(pip install datacompy pandas polars); measuring eod-extract only" >&2
fi

json_get() { "$PYTHON" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, d))' "$1" "$2"; }

bench_binary recon.sh

if [ -z "$WORK" ]; then WORK=$(mktemp -d /tmp/eod-recon-bench-XXXXXX); else mkdir -p "$WORK"; fi
WORK=$(cd "$WORK" && pwd)
cleanup() { if [ "$KEEP" = 0 ]; then rm -rf "$WORK"; else log "kept $WORK"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK/logs"

# timed LABEL OKCODES CMD...: GNU time (wall seconds, peak RSS of the process); sets SECS, RSS_MB.
timed() {
  local label=$1 ok=$2 rc=0
  shift 2
  /usr/bin/time -f '%e %M' -o "$WORK/logs/$label.time" "$@" >"$WORK/logs/$label.out" 2>"$WORK/logs/$label.err" || rc=$?
  case " $ok " in
    *" $rc "*) ;;
    *) echo "bench/recon.sh: '$label' exited $rc: $*" >&2; tail -20 "$WORK/logs/$label.err" >&2; exit 1 ;;
  esac
  SECS=$(tail -1 "$WORK/logs/$label.time" | awk '{ print $1 }')
  RSS_MB=$(tail -1 "$WORK/logs/$label.time" | awk '{ printf "%.1f", $2 / 1024 }')
}

log "mode $MODE, $ACCOUNTS accounts, $REPS repetition(s), binary $BIN, work $WORK"
log "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# --- our extract ------------------------------------------------------------------------------------
REUSED=0
if [ "$REUSE" = 1 ] && [ -f "$WORK/theirs.csv" ] && [ -f "$WORK/expected.json" ] && [ -f "$WORK/inputs.done" ] &&
  [ -n "$(find "$WORK/out" -name '*_positions_*.csv' 2>/dev/null | head -1)" ]; then
  REUSED=1
  log "reusing the inputs in $WORK (--reuse)"
fi
if [ "$REUSED" = 0 ]; then
  rm -f "$WORK/inputs.done"
  log "generating one firm: $ACCOUNTS accounts x $POSITIONS positions, $INSTRUMENTS instruments"
  timed gen 0 "$BIN" generate "$WORK/snapshots" --days 1 --accounts "$ACCOUNTS" \
    --instruments $INSTRUMENTS --positions $POSITIONS --firms 1
  SNAP=$(find "$WORK/snapshots" -maxdepth 1 -name 'ledger-*.sqlite' | sort | head -1)
  log "   $SECS s; running the positions extract (uncompressed)"
  timed run 0 "$BIN" run --init-state --templates "$ROOT/templates" --snapshot "$SNAP" --state "$WORK/state.sqlite" \
    --out "$WORK/out" --extract positions --compression none
  MANIFEST=$(find "$WORK/out" -name '*_manifest_*.json' | head -1)
  OURS=$(find "$WORK/out" -name '*_positions_*.csv' | head -1)
  [ -n "$MANIFEST" ] && [ -n "$OURS" ] || { echo "bench/recon.sh: no positions set in $WORK/out" >&2; exit 1; }
  SET=$(dirname "$MANIFEST")
  DUP_IDS=$(sqlite3 "$SNAP" 'SELECT count(*) FROM (SELECT 1 FROM positions GROUP BY account_id, instrument_id HAVING count(*) > 1)')
  [ "$DUP_IDS" = 0 ] || { echo "bench/recon.sh: account_id + instrument_id is not unique ($DUP_IDS keys)" >&2; exit 1; }
  # their file
  log "   making the counterparty file (bench/recon_counterparty.py)"
  timed counterparty 0 "$PYTHON" "$ROOT/bench/recon_counterparty.py" "$OURS" "$WORK/theirs.csv" "$WORK/expected.json"
  touch "$WORK/inputs.done"
fi
SNAP=$(find "$WORK/snapshots" -maxdepth 1 -name 'ledger-*.sqlite' | sort | head -1)
MANIFEST=$(find "$WORK/out" -name '*_manifest_*.json' | head -1)
OURS=$(find "$WORK/out" -name '*_positions_*.csv' | head -1)
SET=$(dirname "$MANIFEST")
DUP_REFS=$(sqlite3 "$SNAP" "SELECT count(*) FROM (SELECT 1 FROM positions p JOIN accounts a USING (account_id)
  JOIN instruments i USING (instrument_id) GROUP BY coalesce(a.external_ref, ''), coalesce(i.isin, '') HAVING count(*) > 1)")

# --- the profile ----------------------------------------------------------------------------------------
EXPECTED=$WORK/expected.json
ROWS_OURS=$(json_get "$EXPECTED" rows_ours)
ROWS_THEIRS=$(json_get "$EXPECTED" rows_theirs)
cat >"$WORK/profile.yaml" <<EOF
# bench/recon.sh: the counterparty file made by bench/recon_counterparty.py.
version: 1
extract: positions
delimiter: ","
header: true
columns:
  Security: instrument_id
  Units: quantity
  Portfolio: account_id
  Value: market_value
# account_external_ref + isin is not unique in generated data (5 % of instruments have no ISIN).
keys: [account_id, instrument_id]
tolerances:
  quantity: {absolute: "$ABS_TOL", relative: "$REL_TOL"}
  market_value: {absolute: "$ABS_TOL", relative: "$REL_TOL"}
EOF

# --- the three reconciliations, each in a fresh process ----------------------------------------------
tools=(eod)
[ "$HAVE_DATACOMPY" = 1 ] && tools+=(pandas polars)
declare -A secs mem every
for rep in $(seq 1 "$REPS"); do
  for tool in "${tools[@]}"; do
    log "   rep $rep/$REPS: $tool"
    case "$tool" in
      eod)
        rm -rf "$WORK/recon"
        sync
        timed "eod-$rep" "0 1" "$BIN" reconcile --ours "$SET" --extract positions --theirs "$WORK/theirs.csv" \
          --profile "$WORK/profile.yaml" --out "$WORK/recon" ;;
      *)
        sync
        timed "$tool-$rep" 0 "$PYTHON" "$ROOT/bench/recon_datacompy.py" "$tool" "$OURS" "$WORK/theirs.csv" "$ABS_TOL" "$REL_TOL" ;;
    esac
    secs[$tool]="${secs[$tool]:-} $SECS"
    mem[$tool]="${mem[$tool]:-} $RSS_MB"
  done
done

# --- the breaks each found ------------------------------------------------------------------------------
RECON_JSON=$(find "$WORK/recon" -name '*_recon_positions_*.json' | head -1)
declare -A only_ours only_theirs mismatch other
only_ours[planted]=$(json_get "$EXPECTED" only_ours)
only_theirs[planted]=$(json_get "$EXPECTED" only_theirs)
mismatch[planted]=$(json_get "$EXPECTED" mismatch_rows)
only_ours[eod]=$(json_get "$RECON_JSON" "breaks_by_type['MISSING_THEIRS']")
only_theirs[eod]=$(json_get "$RECON_JSON" "breaks_by_type['MISSING_OURS']")
mismatch[eod]=$(json_get "$RECON_JSON" rows_with_field_mismatch)
other[eod]=$(json_get "$RECON_JSON" "breaks - breaks_by_type['MISSING_THEIRS'] - breaks_by_type['MISSING_OURS'] - breaks_by_type['FIELD_MISMATCH']")
WITHIN=$(json_get "$RECON_JSON" matched_within_tolerance)
AGREE=yes
for tool in "${tools[@]}"; do
  if [ "$tool" != eod ]; then
    out=$WORK/logs/$tool-$REPS.out
    only_ours[$tool]=$(json_get "$out" only_ours)
    only_theirs[$tool]=$(json_get "$out" only_theirs)
    mismatch[$tool]=$(json_get "$out" mismatch_rows)
    other[$tool]=0
  fi
  if [ "${only_ours[$tool]}" != "${only_ours[planted]}" ] || [ "${only_theirs[$tool]}" != "${only_theirs[planted]}" ] ||
    [ "${mismatch[$tool]}" != "${mismatch[planted]}" ] || [ "${other[$tool]}" != 0 ]; then
    AGREE=no
  fi
done

for tool in "${tools[@]}"; do
  secs[$tool]=$(echo "${secs[$tool]}" | median)
  every[$tool]=$(for f in "$WORK/logs/$tool"-*.time; do tail -1 "$f"; done | awk '{ printf "%s ", $1 }')
  mem[$tool]=$(echo "${mem[$tool]}" | max_of)
done
{
  echo
  echo "eod-extract reconcile benchmark ($MODE mode, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, median of $REPS)"
  echo "load average (1 min) at the end: $(cut -d' ' -f1 /proc/loadavg)"
  echo "ours: $ROWS_OURS positions (one firm, $ACCOUNTS accounts); theirs: $ROWS_THEIRS rows, random order"
  echo "keys account_id + instrument_id (account_external_ref + isin: $DUP_REFS duplicated keys);" \
    "tolerance abs $ABS_TOL rel $REL_TOL on quantity, market_value"
  echo
  printf '%-44s %9s %9s %12s %12s %12s  %s\n' "tool" "seconds" "peak MB" "only ours" "only theirs" "mismatching" "every rep"
  printf '%-44s %9s %9s %12s %12s %12s\n' "planted by recon_counterparty.py" "" "" \
    "${only_ours[planted]}" "${only_theirs[planted]}" "${mismatch[planted]}"
  for tool in "${tools[@]}"; do
    case "$tool" in
      eod) name="eod-extract reconcile" ;;
      pandas) name="datacompy.PandasCompare (pandas)" ;;
      polars) name="datacompy.PolarsCompare (Polars)" ;;
    esac
    printf '%-44s %9s %9s %12s %12s %12s  %s\n' "$name" "${secs[$tool]}" "${mem[$tool]}" \
      "${only_ours[$tool]}" "${only_theirs[$tool]}" "${mismatch[$tool]}" "${every[$tool]}"
  done
  echo "eod-extract: matched within tolerance $WITHIN; other breaks (duplicates, unparseable) ${other[eod]}"
  echo "all tools find the planted breaks: $AGREE"
  if [ "$HAVE_DATACOMPY" = 1 ]; then
    R_TIME=$(calc "${secs[eod]} / ${secs[polars]}")
    R_MEM=$(calc "${mem[eod]} / ${mem[polars]}")
    printf '%-60s %8s %8s\n' "ratio eod-extract / Polars time (target <= $TARGET_TIME)" "$R_TIME" "$(verdict "$R_TIME" $TARGET_TIME)"
    printf '%-60s %8s %8s\n' "ratio eod-extract / Polars peak memory (target <= $TARGET_MEM)" "$R_MEM" "$(verdict "$R_MEM" $TARGET_MEM)"
    printf '%-60s %8s\n' "ratio eod-extract / pandas time" "$(calc "${secs[eod]} / ${secs[pandas]}")"
    printf '%-60s %8s\n' "ratio eod-extract / pandas peak memory" "$(calc "${mem[eod]} / ${mem[pandas]}")"
  fi
  printf '%-60s %8s %8s\n' "eod-extract peak memory, MB (target < $TARGET_RSS_MB)" "${mem[eod]}" "$(verdict "${mem[eod]}" $TARGET_RSS_MB)"
} | tee "$WORK/results.txt"
if [ -n "$RESULTS" ]; then cp "$WORK/results.txt" "$RESULTS"; fi
[ "$AGREE" = yes ]
}

main "$@"
