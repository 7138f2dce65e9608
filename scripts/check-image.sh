#!/usr/bin/env bash
# Smoke test of the container image (scripts/build-image.sh): read-only root, host network,
# a mounted config; serves a file, proxies to a backend on the host, answers its HEALTHCHECK,
# and exits 0 on SIGTERM (podman stop) after its drain.
# Usage: scripts/check-image.sh [TAG]
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=$(grep -o '"version": *"[^"]*"' package.json | cut -d'"' -f4)
TAG=${1:-dreamserver:$VERSION}
BUN=${BUN:-node_modules/.bin/bun}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/scripts/podman-containers.conf}
NAME=ds-check-$$
DIR=$(mktemp -d /tmp/ds-check-image.XXXXXX)
chmod 755 "$DIR"
. "$(dirname "$0")/smoke-lib.sh"
cleanup() {
  podman rm -f "$NAME" >/dev/null 2>&1 || true
  [ -n "$BACKEND_PID" ] && kill "$BACKEND_PID" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT
smoke_config > "$DIR/dreamserver.toml"
start_backend

podman run -d --name "$NAME" --read-only --network host --cgroup-manager cgroupfs --runtime runc \
  -v "$DIR/dreamserver.toml:/etc/dreamserver/dreamserver.toml:ro" \
  --health-cmd "[\"/usr/local/bin/dreamserver\", \"health\", \"http://127.0.0.1:$ADMIN/healthz\"]" "$TAG" >/dev/null
for _ in $(seq 1 100); do
  curl -s --max-time 1 "http://127.0.0.1:$ADMIN/healthz" >/dev/null && break
  sleep 0.1
done
check "static file" "$(cat staticfiles/index.html)" "http://127.0.0.1:$PORT/"
check "proxied request" "from backend" "http://127.0.0.1:$PORT/api/x"
if podman healthcheck run "$NAME" 2>/dev/null; then echo "ok: HEALTHCHECK (dreamserver health)"; else echo "FAIL: HEALTHCHECK"; fail=1; fi
if podman image inspect "$TAG" --format '{{json .Config.Healthcheck}}' | grep -q 'dreamserver'; then echo "ok: the image keeps its HEALTHCHECK"; else echo "FAIL: no HEALTHCHECK in the image"; fail=1; fi
podman stop -t 15 "$NAME" >/dev/null
code=$(podman inspect "$NAME" --format '{{.State.ExitCode}}')
if [ "$code" = 0 ]; then echo "ok: SIGTERM (podman stop) → exit 0"; else echo "FAIL: exit code $code after podman stop"; fail=1; fi
if [ $fail -ne 0 ]; then echo "--- container output ---"; podman logs "$NAME" 2>&1 | tail -20; fi
[ $fail -eq 0 ] && echo "image $TAG: all checks passed ($(podman image inspect "$TAG" --format '{{.Size}}' | awk '{ printf "%.1f MiB", $1 / 1048576 }'))"
exit $fail
