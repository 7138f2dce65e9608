#!/usr/bin/env bash
# Cost of routing: the compiled binary with a 20-route config (the benchmark path reaches the
# last route) against the plain one-route server from flags, in the same interleaved rounds,
# access log on in both. Usage: scripts/bench-routes.sh static|proxy [compare.py options…]
# Needs ../shared/bench/compare.py (wrk and nginx from apt) and a built dist/dreamserver.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-static}; shift || true
compare=${COMPARE:-../shared/bench/compare.py}
bin=$PWD/dist/dreamserver
tpl=$PWD/scripts/bench/routes-20-$mode.toml
if [ "$mode" = static ]; then
  plain="$bin --listen 127.0.0.1:{port} --root {root} --access-log {tmp}/plain.log"
else
  plain="$bin --listen 127.0.0.1:{port} --proxy {backend} --access-log {tmp}/plain.log"
fi
alt="sed -e 's#PORT#{port}#; s#ROOT#{root}#g; s#BACKEND#{backend}#; s#LOG#{tmp}/routes.log#' $tpl > {tmp}/routes.toml && exec $bin --config {tmp}/routes.toml"
exec python3 "$compare" "$mode" --sut "$plain" --alt "$alt" "$@"
