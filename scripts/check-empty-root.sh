#!/usr/bin/env bash
# Runs the compiled binary in an empty root filesystem: only the binary, the shared libraries
# `ldd` lists, a config file, /etc/passwd and /etc/group with one non-root user, the CA bundle
# for https upstreams, /dev/null and a mounted /proc (Bun aborts without /proc; a container
# runtime provides it). No shell, no /tmp. It serves a file, proxies a request to a backend on
# the host's loopback, and stops with SIGTERM, which must exit 0 after the drain.
#
# Needs root (unshare, chroot, mount). Usage: scripts/check-empty-root.sh [BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-dist/dreamserver}
BUN=${BUN:-node_modules/.bin/bun}
[ -x "$BIN" ] || { echo "check-empty-root: $BIN is missing; run npm run build first" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "check-empty-root: needs root (unshare, chroot, mount)" >&2; exit 2; }

ROOT=$(mktemp -d /tmp/ds-empty-root.XXXXXX)
. "$(dirname "$0")/smoke-lib.sh"
cleanup() {
  [ -n "${SERVER_PID:-}" ] && kill -KILL "$SERVER_PID" 2>/dev/null || true
  [ -n "$BACKEND_PID" ] && kill "$BACKEND_PID" 2>/dev/null || true
  umount "$ROOT/proc" 2>/dev/null || true
  rm -rf "$ROOT"
}
trap cleanup EXIT

# --- the root ---------------------------------------------------------------------------------
chmod 755 "$ROOT"
mkdir -p "$ROOT"/{etc/dreamserver,etc/ssl/certs,srv/www,proc,dev}
cp "$BIN" "$ROOT/dreamserver"
# Every library ldd names, at the same path (the dynamic loader included).
for lib in $(ldd "$BIN" | grep -o '/[^ ]*' | sort -u); do
  mkdir -p "$ROOT$(dirname "$lib")"
  cp -L "$lib" "$ROOT$lib"
done
echo 'dreamserver:x:65532:65532:dreamserver:/:/nonexistent' > "$ROOT/etc/passwd"
echo 'dreamserver:x:65532:' > "$ROOT/etc/group"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/"; fi
mknod -m 666 "$ROOT/dev/null" c 1 3
echo "hello from an empty root" > "$ROOT/srv/www/index.html"
smoke_config > "$ROOT/etc/dreamserver/dreamserver.toml"
echo "empty root: $(find "$ROOT" -type f | wc -l) files, $(du -sh "$ROOT" | cut -f1)"

# --- a backend on the host ----------------------------------------------------------------------
start_backend

# --- start it: new mount and pid namespaces, /proc mounted, chroot, non-root ---------------------
LOG=$(mktemp /tmp/ds-empty-root-log.XXXXXX)
unshare --mount --pid --fork --kill-child sh -c "mount -t proc proc '$ROOT/proc' && exec chroot --userspec=65532:65532 '$ROOT' /dreamserver --config /etc/dreamserver/dreamserver.toml --workers 1" >"$LOG" 2>&1 &
UNSHARE_PID=$!
for _ in $(seq 1 100); do
  if grep -q "listening on" "$LOG"; then break; fi
  sleep 0.1
done
grep -q "listening on" "$LOG" || { echo "FAIL: the server did not start in the empty root:"; cat "$LOG"; exit 1; }
# unshare --fork does not pass signals on: signal the server itself (its pid as the host sees it).
SERVER_PID=$(pgrep -f "^/dreamserver --config /etc/dreamserver/dreamserver.toml" | head -1)

check "static file" "hello from an empty root" "http://127.0.0.1:$PORT/"
check "proxied request" "from backend" "http://127.0.0.1:$PORT/api/x"
check "health endpoint" "ok" "http://127.0.0.1:$ADMIN/healthz"

kill -TERM "$SERVER_PID"
if wait "$UNSHARE_PID"; then echo "ok: SIGTERM → exit 0"; else echo "FAIL: exit status $? after SIGTERM"; fail=1; fi
SERVER_PID=""
if [ $fail -ne 0 ]; then echo "--- server output ---"; cat "$LOG"; fi
rm -f "$LOG"
[ $fail -eq 0 ] && echo "empty root: all checks passed"
exit $fail
