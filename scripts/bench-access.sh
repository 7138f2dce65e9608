#!/usr/bin/env bash
# Cost of the access checks (issue 12): an allowed request through ip_allow + rate_limit +
# basic_auth (with the right credentials on every request) against the same proxy route without
# them, in the same interleaved rounds, access log on in both, one worker each.
# Usage: scripts/bench-access.sh [compare.py options…] (e.g. --rounds 5 --ref none)
# Needs ../shared/bench/compare.py (wrk from apt) and a built dist/dreamserver.
set -euo pipefail
cd "$(dirname "$0")/.."
compare=${COMPARE:-../shared/bench/compare.py}
bin=$PWD/dist/dreamserver
conf() { echo "sed -e 's|PORT|{port}|; s|BACKEND|{backend}|; s|LOGFILE|{tmp}/$1.log|' $PWD/scripts/bench/access-$1.toml > {tmp}/$1.toml && exec $bin --config {tmp}/$1.toml"; }
# "alice:benchpw"
exec python3 "$compare" proxy --sut "$(conf plain)" --alt "$(conf guarded)" --header 'Authorization: Basic YWxpY2U6YmVuY2hwdw==' "$@"
