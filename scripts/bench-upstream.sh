#!/usr/bin/env bash
# Cost of an upstream group: the compiled binary with a three-server round-robin group against
# a one-server group, in the same interleaved rounds, access log on in both. All servers reach
# compare.py's one backend (see scripts/bench/upstream-3.toml), so the ratio is our overhead.
# Usage: scripts/bench-upstream.sh [compare.py options…]
# Needs ../shared/bench/compare.py (wrk and nginx from apt) and a built dist/dreamserver.
set -euo pipefail
cd "$(dirname "$0")/.."
compare=${COMPARE:-../shared/bench/compare.py}
bin=$PWD/dist/dreamserver
cmd() {
  echo "bp=\$(echo {backend} | sed 's/.*://') && sed -e \"s#BACKEND_PORT#\$bp#g; s#LISTEN_PORT#{port}#; s#LOG#{tmp}/$1.log#\" $PWD/scripts/bench/$1.toml > {tmp}/$1.toml && exec $bin --config {tmp}/$1.toml"
}
exec python3 "$compare" proxy --sut "$(cmd upstream-1)" --alt "$(cmd upstream-3)" "$@"
