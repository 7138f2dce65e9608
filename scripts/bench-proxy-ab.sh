#!/usr/bin/env bash
# Proxy CPU per request of two builds in the same interleaved rounds (docs/performance.md,
# "Proxy, round 2"): BASE (default: a binary built from main, e.g. /tmp/base/dreamserver) as
# --sut, this tree's dist/dreamserver as --alt, access log on in both, 7 rounds of 4 s so the
# median round is past the JIT warm-up. Run it a second time with SWAP=1 (order reversed) and
# once with BASE=dist/dreamserver (A/A) to see the machine's noise before believing a ratio.
# Usage: BASE=/path/to/main/dreamserver scripts/bench-proxy-ab.sh [compare.py options…]
set -euo pipefail
cd "$(dirname "$0")/.."
compare=${COMPARE:-../shared/bench/compare.py}
base=${BASE:?set BASE to the binary to compare against (e.g. built from main)}
new=$PWD/dist/dreamserver
a="$base --listen 127.0.0.1:{port} --proxy {backend} --access-log {tmp}/a.log --admin off"
b="$new --listen 127.0.0.1:{port} --proxy {backend} --access-log {tmp}/b.log --admin off"
if [ "${SWAP:-0}" = 1 ]; then t=$a; a=$b; b=$t; fi
exec python3 "$compare" proxy --sut "$a" --alt "$b" --rounds 7 --secs 4 "$@"
