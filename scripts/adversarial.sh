#!/usr/bin/env bash
# Hostile and broken input, tried against the built binary: one line per case (`safe` or `DEFECT`)
# and a count. Exit 0 when every case is safe, 1 when any is a defect, 2 on a usage error.
#
#   scripts/adversarial.sh                    # builds the release binary if needed, runs every case
#   scripts/adversarial.sh --bin PATH         # another binary (the tests pass their debug build)
#   scripts/adversarial.sh --only PATTERN     # cases whose name contains PATTERN (repeatable)
#   scripts/adversarial.sh --case NAME        # exactly that case (repeatable)
#   scripts/adversarial.sh --list             # the case names, one a line
#
# The cases live in scripts/adversarial/*.sh, one file per area; each file registers its cases with
# `adv_case NAME FUNCTION "what is tried"`. A case function runs in a subshell inside its own fresh
# folder ($CASE) and returns 0 when the job was safe, non-zero (after `adv_why "..."`) when not.
# Helpers for the cases are in scripts/adversarial/lib.sh.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN=""
ONLY=()
LIST=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN="$2"; shift 2 ;;
    --only) ONLY+=("$2"); shift 2 ;;
    --case) ONLY+=("=$2"); shift 2 ;;
    --list) LIST=1; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "adversarial.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$BIN" ]; then
  BIN="$ROOT/.build/release/eod-extract"
  if [ ! -x "$BIN" ] && [ "$LIST" = 0 ]; then
    (cd "$ROOT" && swift build -c release --product eod-extract >/dev/null) || { echo "build failed" >&2; exit 2; }
  fi
fi
[ "$LIST" = 1 ] || BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
export ADV_BIN="$BIN" ADV_ROOT="$ROOT"

ADV_NAMES=(); ADV_FUNCS=(); ADV_WHAT=()
adv_case() { ADV_NAMES+=("$1"); ADV_FUNCS+=("$2"); ADV_WHAT+=("$3"); }
# shellcheck source=adversarial/lib.sh
. "$ROOT/scripts/adversarial/lib.sh"
for f in "$ROOT"/scripts/adversarial/*.sh; do
  [ "$(basename "$f")" = lib.sh ] && continue
  # shellcheck disable=SC1090
  . "$f"
done

selected() {
  [ ${#ONLY[@]} -eq 0 ] && return 0
  local p; for p in "${ONLY[@]}"; do
    if [[ "$p" == =* ]]; then [[ "$1" == "${p#=}" ]] && return 0; else [[ "$1" == *"$p"* ]] && return 0; fi
  done
  return 1
}

if [ "$LIST" = 1 ]; then
  for i in "${!ADV_NAMES[@]}"; do selected "${ADV_NAMES[$i]}" && echo "${ADV_NAMES[$i]}"; done
  exit 0
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/eod-adversarial.XXXXXX")"
trap 'chmod -R u+rwx "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
export ADV_WORK="$WORK"
safe=0; defects=0
for i in "${!ADV_NAMES[@]}"; do
  name="${ADV_NAMES[$i]}"
  selected "$name" || continue
  CASE="$WORK/case-$i"; mkdir -p "$CASE"
  why="$CASE/.why"
  ( cd "$CASE" && export CASE ADV_WHY_FILE="$why" && "${ADV_FUNCS[$i]}" ) >"$CASE/.log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then
    safe=$((safe + 1)); printf 'safe    %-40s %s\n' "$name" "${ADV_WHAT[$i]}"
  else
    defects=$((defects + 1))
    reason="$(cat "$why" 2>/dev/null | tr '\n' ' ')"
    printf 'DEFECT  %-40s %s -- %s\n' "$name" "${ADV_WHAT[$i]}" "${reason:-case returned $rc}"
    [ -n "${ADV_VERBOSE:-}" ] && sed 's/^/    | /' "$CASE/.log"
  fi
done
if [ $((safe + defects)) -eq 0 ]; then echo "adversarial.sh: no case matches ${ONLY[*]}" >&2; exit 2; fi
echo "$safe safe, $defects DEFECT"
[ $defects -eq 0 ]
