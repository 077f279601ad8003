# Hostile business-day calendars, dates and clocks (issue 12): refused in words before anything
# is read or written.

# A configuration in $CASE with calendar.holidays = $1 (and a one-day series).
calendar_config() {
  adv_series snaps --days 1 --accounts 3 --firms 1 || return
  mkdir -p dest
  cat >config.yaml <<YAML
version: 1
snapshot: $CASE/snaps/ledger-{date}.sqlite
state_store: {path: $CASE/state.sqlite, create: true}
output_dir: $CASE/out
compression: 1
calendar:
  holidays: $1
  time_zone: Europe/London
firms:
  - firm_id: FIRM001
    destination:
      local_dir: $CASE/dest
YAML
}

# Nothing of the run may exist after a refusal.
calendar_nothing_written() {
  [ -e state.sqlite ] && { adv_why "the state store was created"; return 1; }
  [ -n "$(ls -A dest 2>/dev/null)" ] && { adv_why "files were delivered"; return 1; }
  [ -e out ] && { adv_why "the output folder was created"; return 1; }
  return 0
}

case_calendar_binary_file() {
  head -c 4096 /dev/urandom >holidays.txt
  printf '\n2026-12-25\n' >>holidays.txt
  calendar_config "$CASE/holidays.txt" || return
  adv_run run --config config.yaml --date 2026-10-01
  adv_expect_rc 2 || return
  adv_err | grep -q "holidays.txt" || { adv_why "the error does not name the file: $(adv_err | head -c 300)"; return; }
  calendar_nothing_written
}
adv_case calendar-binary-file case_calendar_binary_file "a holidays file of random bytes is refused naming it (exit 2), nothing written"

case_calendar_timed_event() {
  printf 'BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20261225T000000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n' >h.ics
  calendar_config "$CASE/h.ics" || return
  adv_run run --config config.yaml --date 2026-10-01
  adv_expect_rc 2 || return
  adv_err | grep -q "line 3" || { adv_why "the error does not name the line: $(adv_err | head -c 300)"; return; }
  calendar_nothing_written
}
adv_case calendar-timed-event case_calendar_timed_event "an iCalendar event with a time (not all-day) is refused with its line (exit 2)"

case_calendar_directory() {
  mkdir -p holidays.d
  calendar_config "$CASE/holidays.d" || return
  adv_run run --config config.yaml --date 2026-10-01
  adv_expect_rc 2 || return
  adv_err | grep -q "is a directory" || { adv_why "not said in words: $(adv_err | head -c 300)"; return; }
  calendar_nothing_written
}
adv_case calendar-directory case_calendar_directory "calendar.holidays naming a directory is refused in words (exit 2)"

case_calendar_bad_now() {
  printf '2026-12-25\n' >holidays.txt
  calendar_config "$CASE/holidays.txt" || return
  EOD_NOW='2026-13-45T99:00:00Z' adv_run run --config config.yaml
  adv_expect_rc 2 || return
  calendar_nothing_written
}
adv_case calendar-bad-now case_calendar_bad_now "EOD_NOW that is not an instant is refused (exit 2) instead of running with the real date"

case_calendar_date_injection() {
  printf '2026-12-25\n' >holidays.txt
  calendar_config "$CASE/holidays.txt" || return
  adv_run run --config config.yaml --date '../../etc/passwd'
  adv_expect_rc 64 || return
  calendar_nothing_written
}
adv_case calendar-date-path case_calendar_date_injection "--date '../../etc/passwd' is a usage error (64), never part of a snapshot path"
