#!/usr/bin/env bash
# Installs eod-extract under PREFIX (default /usr/local):
#   PREFIX/bin/eod-extract                                the binary
#   PREFIX/share/eod-extract/templates/*.tmpl             the standard templates (found by the binary)
#   PREFIX/share/eod-extract/cron/                        crontab entry, systemd service and timer, logrotate,
#                                                         example configuration (copy to /etc yourself)
#   PREFIX/share/man/man1/eod-extract*.1                  man pages, generated from the argument parser
#   PREFIX/share/{bash-completion,zsh,fish}/...           shell completion
#
# Usage: scripts/install.sh [--binary PATH] [PREFIX]
#   --binary PATH   install this built binary instead of building a release one
# Nothing is written outside PREFIX (never /etc); see docs/operations.md, "Installing".
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
prefix=""
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
    --binary=*) binary="${1#--binary=}"; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "install.sh: unknown option $1" >&2; exit 64 ;;
    *) [ -z "$prefix" ] || { echo "install.sh: one PREFIX only" >&2; exit 64; }; prefix="$1"; shift ;;
  esac
done
prefix="${prefix:-/usr/local}"

if [ -z "$binary" ]; then
  swift build -c release --product eod-extract
  binary=.build/release/eod-extract
fi
[ -x "$binary" ] || { echo "install.sh: $binary is not an executable" >&2; exit 2; }

share="$prefix/share/eod-extract"
install -d "$prefix/bin" "$share/templates" "$share/cron" "$prefix/share/man/man1" \
  "$prefix/share/bash-completion/completions" "$prefix/share/zsh/site-functions" \
  "$prefix/share/fish/vendor_completions.d"
install -m 0755 "$binary" "$prefix/bin/eod-extract"
install -m 0644 templates/*.tmpl "$share/templates/"
install -m 0644 cron/* "$share/cron/"

installed="$prefix/bin/eod-extract"
# Man pages: the argument parser's own generate-manual tool (what its `generate-manual` package
# plugin runs) on the installed binary; without it, scripts/manpage.sh makes one page from --help.
manual=""
if [ -z "${EOD_INSTALL_NO_GENERATE_MANUAL:-}" ] && swift build --product generate-manual >/dev/null 2>&1; then
  manual="$(swift build --product generate-manual --show-bin-path)/generate-manual"
fi
if [ -n "$manual" ] && [ -x "$manual" ] && "$manual" "$installed" --output-directory "$prefix/share/man/man1" >/dev/null; then
  :
else
  scripts/manpage.sh "$installed" >"$prefix/share/man/man1/eod-extract.1"
fi

"$installed" --generate-completion-script bash >"$prefix/share/bash-completion/completions/eod-extract"
"$installed" --generate-completion-script zsh >"$prefix/share/zsh/site-functions/_eod-extract"
"$installed" --generate-completion-script fish >"$prefix/share/fish/vendor_completions.d/eod-extract.fish"

echo "installed eod-extract in $prefix:"
"$installed" --version | sed 's/^/  /'
echo "  cron and systemd files: $share/cron/ (copy them to /etc as docs/operations.md says)"
echo "  man page: man -M $prefix/share/man eod-extract"
