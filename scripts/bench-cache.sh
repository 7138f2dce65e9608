#!/bin/sh
# Cache-hit CPU per request against nginx proxy_cache (same backend), with a static file as the
# --alt row (issue 13: "a cache hit costs at most as much CPU as a cached static file").
# One interleaved run; the machine is shared, so read the CPU-per-request ratios, not req/s.
# Usage: nice -n 10 sh scripts/bench-cache.sh [extra compare.py args]
set -e
cd "$(dirname "$0")/.."
# The compiled binary, as users run it (bun scripts/build.ts first).
DS=${DS:-./dist/dreamserver}
exec python3 /work/shared/bench/compare.py cache --ref nginx --rounds 3 --secs 5 --path /small.txt "$@" \
  --sut 'printf "[cache]\nmemory = \"64m\"\n[log]\naccess = \"{tmp}/ds-access.log\"\n[admin]\nlisten = \"off\"\n[server]\nworkers = 1\n[[site]]\nlisten = [\"127.0.0.1:{port}\"]\n[[site.route]]\npath = \"/\"\nproxy = {{ to = [\"{backend}\"] }}\ncache = {{ enabled = true }}\n" > {tmp}/c.toml && exec '"$DS"' --config {tmp}/c.toml' \
  --alt "$DS"' --listen 127.0.0.1:{port} --root {root} --workers 1 --admin off --access-log {tmp}/ds-static.log'
