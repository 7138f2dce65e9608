#!/usr/bin/env bash
# The cost of metrics and of a dead OTLP collector on the hot path, with ../shared/bench/compare.py
# (wrk; see its docstring), against the compiled binary (bun scripts/build.ts first):
#   static and proxy: [metrics] enabled = true (sut) vs false (alt)
#   proxy: no collector (sut) vs [tracing] sample = 1 with otlp_endpoint on a closed port (alt)
# Usage: scripts/bench-observability.sh [path/to/compare.py]   (run from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
COMPARE="${1:-../shared/bench/compare.py}"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
for m in on off; do
  en=$([ "$m" = on ] && echo true || echo false)
  printf '[admin]\nlisten = "off"\n[metrics]\nenabled = %s\n[log]\naccess = "TMP/%s.log"\n[[site]]\nlisten = ["127.0.0.1:PORT"]\n  [[site.route]]\n  path = "/"\n  static = { root = "ROOT" }\n' "$en" "$m" > "$T/static-$m.toml"
  printf '[admin]\nlisten = "off"\n[metrics]\nenabled = %s\n[log]\naccess = "TMP/%s.log"\n[[site]]\nlisten = ["127.0.0.1:PORT"]\n  [[site.route]]\n  path = "/"\n  proxy = { to = "BACKEND" }\n' "$en" "$m" > "$T/proxy-$m.toml"
done
printf '[admin]\nlisten = "off"\n[tracing]\nsample = 1\notlp_endpoint = "http://127.0.0.1:9/v1/traces"\n[log]\naccess = "TMP/dead.log"\n[[site]]\nlisten = ["127.0.0.1:PORT"]\n  [[site.route]]\n  path = "/"\n  proxy = { to = "BACKEND" }\n' > "$T/proxy-dead.toml"
S='sed -e "s|PORT|{port}|; s|ROOT|{root}|; s|BACKEND|{backend}|; s|TMP|{tmp}|"'
run() { # MODE SUT-TEMPLATE ALT-TEMPLATE
  python3 "$COMPARE" "$1" --ref none --rounds 5 \
    --sut "$S $T/$2 > {tmp}/a.toml && exec ./dist/dreamserver --config {tmp}/a.toml" \
    --alt "$S $T/$3 > {tmp}/b.toml && exec ./dist/dreamserver --config {tmp}/b.toml"
}
echo "== static: metrics on (sut) vs off (alt)"; run static static-on.toml static-off.toml
echo "== proxy: metrics on (sut) vs off (alt)"; run proxy proxy-on.toml proxy-off.toml
echo "== proxy: no collector (sut) vs dead collector, sample = 1 (alt)"; run proxy proxy-on.toml proxy-dead.toml
