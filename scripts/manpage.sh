#!/usr/bin/env bash
# Writes a man page (roff, on stdout) for eod-extract from its own --help output, one section
# per command. The fallback of scripts/install.sh when the argument parser's generate-manual tool
# cannot be built.
# Usage: scripts/manpage.sh BINARY > eod-extract.1
set -euo pipefail
bin="${1:?usage: scripts/manpage.sh BINARY}"
esc() { sed -e 's/\\/\\e/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\\&'/"; }
version="$("$bin" --version | head -n 1)"
printf '.TH EOD-EXTRACT 1 "" "%s" "User Commands"\n' "$version"
printf '.SH NAME\neod-extract \\- the end-of-day extract job\n'
printf '.SH VERSION\n.nf\n'; "$bin" --version | esc; printf '.fi\n'
printf '.SH DESCRIPTION\n.nf\n'; "$bin" --help | esc; printf '.fi\n'
for command in $("$bin" --help | awk '/^SUBCOMMANDS:/ { f = 1; next } f && /^  [a-z]/ { print $1 }'); do
  "$bin" help "$command" >/dev/null 2>&1 || continue
  printf '.SH COMMAND: %s\n.nf\n' "$command"
  "$bin" help "$command" | esc
  printf '.fi\n'
done
