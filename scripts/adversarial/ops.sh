# Operations (issue 11): webhooks that redirect or point inside the machine, idempotency keys
# replayed after a failed run, '..' in SFTP paths, private-key paths in logs.
# No case ever connects to a non-loopback address: an endpoint that must be refused is given to
# check-config first, and the run is tried only once check-config has refused it.

# A configuration in $CASE for the series in ./snaps: FIRM001 (and FIRM002) to local folders
# under ./dest, metrics in ./metrics; extra top-level YAML from $1.
ops_config() {
  mkdir -p dest metrics
  cat >config.yaml <<EOF
version: 1
snapshot: $CASE/snaps/ledger-{date}.sqlite
state_store: {path: $CASE/state.sqlite, create: true}
output_dir: $CASE/out
templates_dir: $ADV_ROOT/templates
metrics_file: $CASE/metrics/eod.prom
compression: 1
$1
firms:
  - firm_id: FIRM001
    destination:
      local_dir: $CASE/dest/FIRM001
  - firm_id: FIRM002
    destination:
      local_dir: $CASE/dest/FIRM002
EOF
}

# A python3 HTTP server on 127.0.0.1 (port in ./http.port, requests logged to ./http.log, one
# line "METHOD PATH" each): 307 to /stolen for every path but /stolen. It ends by itself after
# 60 s at most, or when ./http.stop appears.
ops_redirect_server() {
  cat >server.py <<'EOF'
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        self.rfile.read(n)
        with open("http.log", "a") as f: f.write("POST %s\n" % self.path)
        if self.path == "/stolen":
            self.send_response(200)
        else:
            self.send_response(307)
            self.send_header("Location", "http://127.0.0.1:%d/stolen" % self.server.server_address[1])
        self.send_header("Content-Length", "0"); self.end_headers()
import os, time
s = HTTPServer(("127.0.0.1", 0), H)
s.timeout = 0.5
open("http.port.tmp", "w").write(str(s.server_address[1]))
os.rename("http.port.tmp", "http.port")
deadline = time.time() + 60          # ends by itself: no signal needed (SIGTERM may be blocked)
while time.time() < deadline and not os.path.exists("http.stop"):
    s.handle_request()
EOF
  timeout -s KILL 70 python3 server.py >/dev/null 2>&1 &
  OPS_SERVER_PID=$!
  local i; for i in $(seq 1 100); do [ -s http.port ] && return 0; sleep 0.05; done
  adv_why "the local HTTP server did not start"
}
# Stops the server: a stop file it polls for, then SIGKILL (SIGTERM is blocked in processes
# started by the test runner).
ops_stop_server() {
  : >http.stop
  local i; for i in $(seq 1 40); do kill -0 "$OPS_SERVER_PID" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$OPS_SERVER_PID" 2>/dev/null
  wait "$OPS_SERVER_PID" 2>/dev/null
  return 0
}

webhooks_block() {
  printf 'webhooks:\n  %s\n  max_attempts: 3\n  base_delay_seconds: 0.1\n  total_seconds: 10\n  request_timeout_seconds: 3\n  endpoints:\n    - url: %s\n      secret_env: OPS_SECRET\n' "$2" "$1"
}

# A webhook receiver that answers 307: the signed body must not be re-posted elsewhere, and the
# webhook must not be logged as delivered.
case_ops_webhook_redirect() {
  adv_series snaps || return
  ops_redirect_server || return
  ops_config "$(webhooks_block "http://127.0.0.1:$(cat http.port)/hook" "allow_private_addresses: true")"
  OPS_SECRET=s3cret timeout -s KILL 120 "$ADV_BIN" run --config config.yaml --date 2026-10-01 >"$CASE/.out" 2>"$CASE/.err" </dev/null
  ADV_RC=$?
  ops_stop_server
  grep -q "/stolen" http.log 2>/dev/null && { adv_why "the 307 was followed: the signed body was re-posted to /stolen"; return; }
  grep -q '"webhook delivered"' "$CASE/.err" && { adv_why "a redirected webhook was logged as delivered"; return; }
  [ "$(grep -c POST http.log 2>/dev/null)" -ge 1 ] || { adv_why "no webhook was sent at all"; return; }
  adv_expect_rc 0
}
adv_case ops-webhook-redirect case_ops_webhook_redirect "a webhook answering 307 is a permanent failure; nothing re-posted, not logged delivered"

# The cloud metadata address as an endpoint: refused by check-config and by run, before any
# connection.
case_ops_webhook_metadata() {
  adv_series snaps || return
  ops_config "$(webhooks_block "https://169.254.169.254/latest/meta-data/" "")"
  OPS_SECRET=x adv_run check-config config.yaml
  [ "$ADV_RC" = 2 ] || { adv_why "check-config accepted https://169.254.169.254 (exit $ADV_RC); run not tried"; return; }
  grep -q "169.254.169.254" "$CASE/.out" || { adv_why "check-config did not name the address"; return; }
  OPS_SECRET=x timeout -s KILL 30 "$ADV_BIN" run --config config.yaml --date 2026-10-01 >"$CASE/.out" 2>"$CASE/.err" </dev/null
  ADV_RC=$?
  [ -e dest/FIRM001 ] && { adv_why "the run delivered with a refused webhook endpoint"; return; }
  adv_expect_rc 2
}
adv_case ops-webhook-metadata case_ops_webhook_metadata "webhook https://169.254.169.254 refused by check-config and run (exit 2), no traffic"

# A host name that resolves to loopback (localhost), without the allow key: refused, the name's
# addresses checked rather than the literal.
case_ops_webhook_name_to_loopback() {
  adv_series snaps || return
  ops_redirect_server || return
  ops_config "$(webhooks_block "http://localhost:$(cat http.port)/hook" "")"
  OPS_SECRET=x adv_run check-config config.yaml
  ops_stop_server
  [ "$ADV_RC" = 2 ] || { adv_why "check-config accepted http://localhost (exit $ADV_RC)"; return; }
  grep -q "loopback" "$CASE/.out" || { adv_why "check-config did not say why: $(head -c 200 "$CASE/.out")"; return; }
  [ -s http.log ] && { adv_why "check-config sent a request"; return; }
  return 0
}
adv_case ops-webhook-name-to-loopback case_ops_webhook_name_to_loopback "webhook http://localhost:PORT refused (the resolved address is loopback)"

# An idempotency key whose first run failed (delivery refused) must not be replayed as success:
# after the fault is fixed, the retry delivers.
case_ops_idempotency_failed_first_run() {
  adv_series snaps || return
  ops_config ""
  mkdir -p dest/FIRM001 && echo x >dest/FIRM001/FIRM001   # a file where FIRM001's folder goes
  local key=6f1d2c3b-4a5e-4f60-8b7c-9d0e1f2a3b4c
  adv_run run --config config.yaml --date 2026-10-01 --idempotency-key "$key"
  [ "$ADV_RC" = 1 ] || { adv_why "first run: exit $ADV_RC, expected 1 (delivery refused)"; return; }
  rm -f dest/FIRM001/FIRM001
  adv_run run --config config.yaml --date 2026-10-01 --idempotency-key "$key"
  [ -f dest/FIRM001/FIRM001/2026-10-01/FIRM001_manifest_20261001.json ] \
    || { adv_why "the retry (exit $ADV_RC) delivered nothing: $(head -c 200 "$CASE/.out")"; return; }
  adv_expect_rc 0
}
adv_case ops-idempotency-failed-first-run case_ops_idempotency_failed_first_run "a key whose first run failed is retried (delivers), not replayed as success"

# '..' in --destination's base path.
case_ops_sftp_dotdot_destination() {
  adv_series snaps || return
  printf 'x' >key && chmod 600 key && : >known_hosts
  adv_run run --init-state --snapshot "$(adv_first snaps)" --state state.sqlite --out out \
    --destination "sftp://u@127.0.0.1:1/inbound/../../etc" --identity key --known-hosts known_hosts
  grep -q -- "--destination" "$CASE/.err" || { adv_why "the error does not name --destination"; return; }
  [ -e out ] && { adv_why "the run wrote extracts before refusing the destination"; return; }
  adv_expect_rc 2
}
adv_case ops-sftp-dotdot-destination case_ops_sftp_dotdot_destination "--destination sftp://u@h/inbound/../../etc refused (exit 2), naming the option"

# '..' in a configured remote_dir.
case_ops_sftp_dotdot_remote_dir() {
  adv_series snaps || return
  printf 'x' >key && chmod 600 key && : >known_hosts
  ops_config ""
  python3 - "$CASE" <<'EOF' || return
import sys
case = sys.argv[1]
text = open("config.yaml").read().replace(
    "      local_dir: %s/dest/FIRM001\n" % case,
    "      sftp:\n        host: 127.0.0.1\n        port: 1\n        user: u\n        remote_dir: /in/../../etc\n"
    "        identity_file: %s/key\n        known_hosts: %s/known_hosts\n" % (case, case))
open("config.yaml", "w").write(text)
EOF
  adv_run check-config config.yaml
  grep -q "remote_dir" "$CASE/.out" || { adv_why "check-config did not name remote_dir: $(head -c 200 "$CASE/.out")"; return; }
  adv_expect_rc 2 || return
  adv_run run --config config.yaml --date 2026-10-01
  adv_expect_rc 2
}
adv_case ops-sftp-dotdot-remote-dir case_ops_sftp_dotdot_remote_dir "remote_dir /in/../../etc refused by check-config and run (exit 2), naming remote_dir"

# A private key whose mode is too open: the delivery fails, and nothing the job prints or logs
# names the key's path.
case_ops_sftp_key_path_in_logs() {
  adv_series snaps || return
  mkdir -p private-key-folder && printf 'x' >private-key-folder/id && chmod 644 private-key-folder/id && : >known_hosts
  adv_run run --init-state --snapshot "$(adv_first snaps)" --state state.sqlite --out out \
    --destination "sftp://u@127.0.0.1:1/inbound" --identity private-key-folder/id --known-hosts known_hosts
  grep -q "private-key-folder" "$CASE/.out" "$CASE/.err" && { adv_why "the key's path is in the output or logs"; return; }
  adv_expect_rc 1
}
adv_case ops-sftp-key-path-in-logs case_ops_sftp_key_path_in_logs "an unusable private key: delivery fails (exit 1), its path is in no log line"
