#!/usr/bin/env bash
# The project's test command: build, lint, build EODCore's documentation (DocC; a broken link or an
# undocumented parameter fails it), then every test (unit, golden, real sshd, built binary).
#
# The tests make their scratch folders (snapshots, output trees, sshd's and PostgreSQL's folders)
# under the temporary directory; here that is one folder of this run (TMPDIR), removed when every
# test passed and kept, with its path printed, when one failed. A run leaves nothing in /tmp.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
swift format lint --strict --recursive Sources Tests Package.swift
swift package generate-documentation --target EODCore --warnings-as-errors
run_tmp=$(mktemp -d "${TMPDIR:-/tmp}/eod-test-run.XXXXXX")
# PostgreSQL's test server runs as its own user and must reach its folder inside this one.
chmod 711 "$run_tmp"
status=0
TMPDIR=$run_tmp swift test --skip-build || status=$?
if [ "$status" -eq 0 ]; then
  rm -rf "$run_tmp"
else
  echo "scripts/test.sh: the tests' files are kept in $run_tmp" >&2
fi
exit "$status"
