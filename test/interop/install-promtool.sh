#!/usr/bin/env bash
# Prints the path of a working `promtool`, installing it first if needed.
#
# promtool ships in Debian's `prometheus` package, whose install would also
# set up and start a Prometheus service. We only need the one binary, so the
# .deb is downloaded (not installed) and unpacked into a cache directory:
#   apt-get download prometheus && dpkg-deb -x prometheus_*.deb DIR
# Order: $PROMTOOL, `promtool` on PATH, the cache, then download.
# Cache: $PROMTOOL_CACHE, default ${XDG_CACHE_HOME:-$HOME/.cache}/mtls-mesh/promtool.
set -euo pipefail

works() { [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }

if [ -n "${PROMTOOL:-}" ] && works "$PROMTOOL"; then echo "$PROMTOOL"; exit 0; fi
if command -v promtool >/dev/null 2>&1 && works "$(command -v promtool)"; then command -v promtool; exit 0; fi

cache=${PROMTOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mtls-mesh/promtool}
bin="$cache/usr/bin/promtool"
if works "$bin"; then echo "$bin"; exit 0; fi

command -v apt-get >/dev/null 2>&1 || { echo "install-promtool: no promtool and no apt-get to fetch Debian's prometheus package; set PROMTOOL=/path/to/promtool" >&2; exit 1; }
mkdir -p "$cache"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
# apt-get download needs package lists; on a fresh machine (CI) they may be missing.
if ! apt-get download prometheus >/dev/null 2>"$tmp/err"; then
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get download prometheus >/dev/null 2>"$tmp/err" || { echo "install-promtool: apt-get download prometheus failed:" >&2; cat "$tmp/err" >&2; exit 1; }
fi
dpkg-deb -x prometheus_*.deb "$cache"
works "$bin" || { echo "install-promtool: $bin does not run after unpacking" >&2; exit 1; }
echo "$bin"
