#!/bin/sh
# Syscalls per request of a static GET, counted with strace -c -f over a fixed number of
# keep-alive requests (ab -k), so the figure does not depend on machine load.
#   scripts/syscalls-per-request.sh [BINARY] [REQUESTS] [CONCURRENCY]
# (defaults: dist/dreamserver 20000 50). Needs strace and ab (apache2-utils).
set -eu
BIN=${1:-dist/dreamserver}; N=${2:-20000}; C=${3:-50}
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
mkdir "$TMP/root"; head -c 4096 /dev/zero | tr '\0' x > "$TMP/root/index.html"
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
strace -f -c -o "$TMP/strace.txt" "$BIN" --listen 127.0.0.1:$PORT --root "$TMP/root" --access-log "$TMP/access.log" >"$TMP/out" 2>&1 &
ST=$!
sleep 1.5
ab -q -k -n $N -c $C http://127.0.0.1:$PORT/index.html 2>&1 | grep -E "Complete requests|Failed requests"
# Stop the server itself (strace's child); strace then writes its summary and exits.
kill -TERM $(pgrep -P $ST) 2>/dev/null || true
wait $ST 2>/dev/null || true
echo "syscalls of the server (all threads, start-up included) per request, $N requests, ab -k -c $C:"
awk -v n=$N '$NF ~ /^[a-z_0-9]+$/ && $0 !~ /^-/ && $NF != "syscall" { calls = ($4 ~ /^[0-9]+$/) ? $4 : $3; printf "  %-16s %9d  %.3f\n", $NF, calls, calls / n }' "$TMP/strace.txt" | sort -k2 -nr | head -12
