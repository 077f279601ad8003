# Hostile delivered sets given to `eod-extract verify` (issue 14): a verifier must never read
# outside the set, follow a link, hold an unbounded amount, or print what it was handed raw.

# A set the job made (FIRM001, gzip CSV) copied into ./set; VERIFY_SET names its folder.
verify_set() {
  adv_series snaps --days 1 --accounts 30 --firms 1 || return
  adv_run run --init-state --snapshot "$(adv_first snaps)" --state state.sqlite --out out
  [ "$ADV_RC" = 0 ] || { adv_why "the run failed: $(tail -c 300 "$CASE/.err")"; return 1; }
  VERIFY_SET=out/FIRM001/2026-10-01
  VERIFY_MANIFEST=$VERIFY_SET/FIRM001_manifest_20261001.json
}

case_verify_manifest_dotdot() {
  verify_set || return
  echo "outside" >secret.csv.gz
  sed -i 's/"name": "FIRM001_cash_20261001.csv.gz"/"name": "..\/..\/..\/secret.csv.gz"/' "$VERIFY_MANIFEST"
  adv_run verify "$VERIFY_SET"
  grep -q 'FAILED  ../../../secret.csv.gz present: .*not a file name in the set' "$CASE/.out" ||
    { adv_why "no present failure for the climbing name: $(head -c 300 "$CASE/.out")"; return; }
  adv_expect_rc 1
}
adv_case verify-manifest-dotdot case_verify_manifest_dotdot "a manifest naming ../../../secret is not read (present fails, exit 1)"

case_verify_symlink() {
  verify_set || return
  local file=$VERIFY_SET/FIRM001_cash_20261001.csv.gz
  mv "$file" cash-elsewhere.csv.gz && ln -s "$PWD/cash-elsewhere.csv.gz" "$file"
  adv_run verify "$VERIFY_SET"
  grep -q 'FAILED  FIRM001_cash_20261001.csv.gz present: not a regular file' "$CASE/.out" ||
    { adv_why "a link with the right content was accepted: $(head -c 300 "$CASE/.out")"; return; }
  adv_expect_rc 1
}
adv_case verify-symlink case_verify_symlink "a listed file that is a link (to the right bytes) fails present, not followed"

case_verify_gzip_bomb() {
  verify_set || return
  local file=$VERIFY_SET/FIRM001_positions_20261001.csv.gz
  # 512 MiB of one endless record, compressed to about 0.5 MiB.
  head -c 536870912 /dev/zero | tr '\0' 'a' | gzip -1 >"$file"
  /usr/bin/time -f '%M' -o rss "$ADV_BIN" verify "$VERIFY_SET" >"$CASE/.out" 2>"$CASE/.err" </dev/null
  ADV_RC=$?
  local kb; kb="$(tail -n 1 rss)"
  [ "$kb" -lt 204800 ] || { adv_why "peak memory ${kb} KiB for a 512 MiB record"; return; }
  grep -q 'FAILED  FIRM001_positions_20261001.csv.gz parse: .*longer than 16 MiB' "$CASE/.out" ||
    { adv_why "no parse failure: $(head -c 300 "$CASE/.out")"; return; }
  adv_expect_rc 1
}
adv_case verify-gzip-bomb case_verify_gzip_bomb "a listed file inflating to a 512 MiB record: parse fails, memory stays under 200 MiB"

case_verify_huge_manifest() {
  verify_set || return
  { printf '{"schema_version": "1.1", "x": "'; head -c 20000000 /dev/zero | tr '\0' 'x'; printf '"}'; } >"$VERIFY_MANIFEST"
  adv_run verify "$VERIFY_SET"
  grep -q 'larger than 16 MiB' "$CASE/.err" || { adv_why "no size refusal: $(head -c 300 "$CASE/.err")"; return; }
  adv_expect_rc 2
}
adv_case verify-huge-manifest case_verify_huge_manifest "a 20 MB manifest is refused unread (exit 2)"

case_verify_control_characters() {
  verify_set || return
  local name; name="$(printf 'x\033[2J\342\200\256gz.vsc\nFAKE ok')"
  : >"$VERIFY_SET/$name"
  sed -i "s/\"firm_id\": \"FIRM001\"/\"firm_id\": \"F\\\\u001b[31m\\\\u202e\"/" "$VERIFY_MANIFEST"
  adv_run verify "$VERIFY_SET"
  if LC_ALL=C grep -qP '[\x00-\x09\x0b-\x1f\x7f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]' "$CASE/.out" "$CASE/.err"; then
    adv_why "a raw control or bidi character reached the output"; return
  fi
  grep -q '^FAILED  "x\\u{1B}\[2J\\u{202E}gz.vsc\\u{A}FAKE ok" unlisted' "$CASE/.out" ||
    { adv_why "the extra file is not named escaped: $(head -c 400 "$CASE/.out")"; return; }
  adv_expect_rc 1
}
adv_case verify-control-characters case_verify_control_characters "an extra file and a firm id with escapes, bidi and a newline are shown escaped"
