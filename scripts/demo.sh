#!/usr/bin/env bash
# Sets up, builds and runs the demo: a sample snapshot series run day by day into ./demo-out.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v pkg-config >/dev/null && pkg-config --exists libssh2 sqlite3 zlib libdeflate || ./scripts/setup.sh
swift build -c release --product eod-extract
exec .build/release/eod-extract demo --out demo-out "$@"
