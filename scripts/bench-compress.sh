#!/usr/bin/env bash
# Cost of compression from the cache (issue 10): in ONE compare.py run, every request carries
# Accept-Encoding: gzip, br, zstd. SUT = the compiled binary with `compress = {}` (answers zstd
# from the cached variant of /index.html, 4 KiB); alt = the same config without the compress
# line, which answers identity; nginx answers index.html.gz (gzip_static on).
# Usage: scripts/bench-compress.sh [compare.py options…]
# Needs ../shared/bench/compare.py (wrk and nginx from apt) and a built dist/dreamserver.
set -euo pipefail
cd "$(dirname "$0")/.."
compare=${COMPARE:-../shared/bench/compare.py}
bin=$PWD/dist/dreamserver
tpl=$PWD/scripts/bench/compress-static.toml
sut="sed -e 's#PORT#{port}#; s#ROOT#{root}#g; s#LOG#{tmp}/compress.log#' $tpl > {tmp}/compress.toml && exec $bin --config {tmp}/compress.toml"
alt="sed -e 's#PORT#{port}#; s#ROOT#{root}#g; s#LOG#{tmp}/plain.log#; /^compress/d' $tpl > {tmp}/plain.toml && exec $bin --config {tmp}/plain.toml"
exec python3 "$compare" static --sut "$sut" --alt "$alt" --header 'Accept-Encoding: gzip, br, zstd' "$@"
