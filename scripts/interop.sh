#!/usr/bin/env bash
# scripts/interop.sh — DreamServer against real clients, verbosely, for a maintainer to run by hand.
#
#   scripts/interop.sh                  # server from source (bun src/main.ts)
#   DS_TARGET=binary scripts/interop.sh # dist/dreamserver (built by `npm run build`)
#   AB_N=50000 WRK_SECS=5 scripts/interop.sh
#
# The same checks as tests/e2e/real-clients.test.ts, with every client's full output on screen:
#   ab without / with -k through --proxy (a plain Node http backend) and against a static file;
#   curl --http1.0 and Connection: close of a streamed (chunked) backend response; 1,100
#   Connection: close requests then no server-held socket (/proc/net/tcp); a client that gives up
#   (backend sees the abort, socket gone, access log 499); wrk static + proxy; curl range and
#   conditional requests; and h2load --h1 when nghttp2-client is installed.
# Ends with a PASS/FAIL/SKIP summary; exit status 1 if anything failed. Throughput figures the
# tools print are for eyeballing only (2-core CI boxes vary); scripts/bench.ts is the benchmark.
#
# Needs: bash, curl, node, coreutils `timeout`; ab (apache2-utils), wrk, h2load are optional
# (SKIP when absent). Every process it starts is stopped on exit, Ctrl-C or TERM.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

AB_N=${AB_N:-20000}
WRK_SECS=${WRK_SECS:-2}
TARGET=${DS_TARGET:-source}
BUN=$REPO/node_modules/.bin/bun
[ -x "$BUN" ] || BUN=$(command -v bun || true)
if [ -z "$BUN" ]; then echo "interop: bun not found (run npm install)" >&2; exit 2; fi
if [ "$TARGET" = binary ]; then
  [ -x "$REPO/dist/dreamserver" ] || { echo "interop: dist/dreamserver missing; run npm run build" >&2; exit 2; }
  DS=("$REPO/dist/dreamserver")
else
  DS=("$BUN" "$REPO/src/main.ts")
fi
for c in curl node timeout; do
  command -v "$c" >/dev/null || { echo "interop: $c is required" >&2; exit 2; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ds-interop-XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RESULTS=()
FAILED=0
bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
record() { # record PASS|FAIL|SKIP name [detail]
  RESULTS+=("$(printf '%-4s  %s%s' "$1" "$2" "${3:+ — $3}")")
  [ "$1" = FAIL ] && FAILED=1
  printf -- '-> %s %s%s\n' "$1" "$2" "${3:+ — $3}"
}
show() { echo "\$ $*"; }

# --- fixtures ------------------------------------------------------------------------------------
ROOT=$WORK/root
mkdir -p "$ROOT"
echo '<!doctype html><title>interop</title>' >"$ROOT/index.html"
node -e 'const b=Buffer.alloc(48*1024);for(let i=0;i<b.length;i++)b[i]=0x20+((i*7)%95);process.stdout.write(b)' >"$ROOT/file.txt"
FILE_SHA=$(sha256sum "$ROOT/file.txt" | cut -d' ' -f1)
FILE_LEN=$(stat -c %s "$ROOT/file.txt")

# The Node backend is the one the e2e suite uses (one source of truth for routes and bodies).
"$BUN" -e 'import { NODE_BACKEND, STREAM_BODY } from "./tests/e2e/real-clients-helpers.ts";
  await Bun.write(process.argv[1] + "/backend.js", NODE_BACKEND);
  await Bun.write(process.argv[1] + "/stream.expected", STREAM_BODY);' "$WORK"

node "$WORK/backend.js" >"$WORK/backend.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q '^listening' "$WORK/backend.out" && break; sleep 0.1; done
BACKEND_PORT=$(sed -n 's/^listening \([0-9]*\)/\1/p' "$WORK/backend.out")
[ -n "$BACKEND_PORT" ] || { echo "interop: node backend did not start: $(cat "$WORK/backend.out")" >&2; exit 2; }
echo "node backend on 127.0.0.1:$BACKEND_PORT; dreamserver target: $TARGET"

# start_server NAME ARGS... → sets PORT and LOG; server stderr in $WORK/NAME.err
start_server() {
  local name=$1; shift
  LOG=$WORK/$name.access.log
  "${DS[@]}" --listen 127.0.0.1:0 --workers 1 --access-log "$LOG" --log-format json "$@" \
    >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PIDS+=($!)
  PORT=""
  for _ in $(seq 150); do
    PORT=$(sed -n 's|.*listening on http://[^ ]*:\([0-9][0-9]*\).*|\1|p' "$WORK/$name.err" | head -1)
    [ -n "$PORT" ] && break
    sleep 0.1
  done
  [ -n "$PORT" ] || { echo "interop: dreamserver ($name) did not start: $(cat "$WORK/$name.err")" >&2; exit 2; }
  echo "dreamserver ($name) on 127.0.0.1:$PORT"
}

# held_sockets PORT → lines "STATE" for every TCP socket with local port PORT that the server
# still holds (everything but LISTEN=0A and TIME_WAIT=06)
held_sockets() {
  local hex
  hex=$(printf '%04X' "$1")
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v p=":$hex" '
    BEGIN { split("01 ESTABLISHED 02 SYN_SENT 03 SYN_RECV 04 FIN_WAIT1 05 FIN_WAIT2 07 CLOSE 08 CLOSE_WAIT 09 LAST_ACK 0B CLOSING", a, " ")
            for (i = 1; i < 18; i += 2) name[a[i]] = a[i + 1] }
    substr($2, length($2) - 4) == p && $4 != "0A" && $4 != "06" { print ($4 in name) ? name[$4] : $4 }'
}
held_summary() { held_sockets "$1" | sort | uniq -c | awk '{printf "%s%d x %s", (NR>1?", ":""), $1, $2}'; }

# ab_check NAME URL ARGS... : ab must finish with N complete, 0 failed, no non-2xx
ab_check() {
  local name=$1 url=$2; shift 2
  if ! command -v ab >/dev/null; then record SKIP "$name" "ab not installed (apt-get install apache2-utils)"; return; fi
  show ab -s 5 -r "$@" "$url"
  local out rc n
  out=$(timeout 120 ab -s 5 -r "$@" "$url" 2>&1); rc=$?
  echo "$out"
  n=$(sed -n 's/^Complete requests: *\([0-9]*\)/\1/p' <<<"$out")
  local failed non2xx want
  failed=$(sed -n 's/^Failed requests: *\([0-9]*\)/\1/p' <<<"$out")
  non2xx=$(sed -n 's/^Non-2xx responses: *\([0-9]*\)/\1/p' <<<"$out")
  want=$(awk '{for(i=1;i<NF;i++) if($i=="-n") print $(i+1)}' <<<"$*")
  if [ $rc -eq 124 ]; then record FAIL "$name" "ab hung (killed after 120 s)"
  elif [ $rc -ne 0 ]; then record FAIL "$name" "ab exit $rc: $(tail -1 <<<"$out")"
  elif [ "$n" != "$want" ] || [ "$failed" != 0 ] || [ -n "$non2xx" ]; then
    record FAIL "$name" "complete=$n/$want failed=$failed non2xx=${non2xx:-0}"
  else record PASS "$name" "$n complete, 0 failed"; fi
}

start_server static --root "$ROOT"
STATIC=$PORT
start_server proxy --proxy "http://127.0.0.1:$BACKEND_PORT"
PROXY=$PORT

# --- 1. ab ------------------------------------------------------------------------------------
bold "ab through --proxy, without keep-alive (HTTP/1.0: the server must close after each response)"
ab_check "ab -n $AB_N -c 10 (no -k) via proxy" "http://127.0.0.1:$PROXY/hello" -n "$AB_N" -c 10
bold "ab -k through --proxy"
ab_check "ab -k -n 5000 -c 10 via proxy" "http://127.0.0.1:$PROXY/hello" -k -n 5000 -c 10
bold "ab against a static file"
ab_check "ab -n 3000 -c 10 (no -k) static" "http://127.0.0.1:$STATIC/file.txt" -n 3000 -c 10
ab_check "ab -k -n 5000 -c 10 static" "http://127.0.0.1:$STATIC/file.txt" -k -n 5000 -c 10

# --- 2. curl, streamed response ---------------------------------------------------------------
# curl_stream NAME CURL-ARGS... : the streamed /stream body arrives whole and curl exits 0 in 5 s
curl_stream() {
  local name=$1; shift
  show curl -sS --max-time 5 -D - "$@" "http://127.0.0.1:$PROXY/stream"
  local start rc ms
  start=$(date +%s%N)
  curl -sS --max-time 5 -D "$WORK/h" -o "$WORK/b" "$@" "http://127.0.0.1:$PROXY/stream"; rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  cat "$WORK/h"; echo "[body: $(stat -c %s "$WORK/b" 2>/dev/null || echo 0) bytes, curl exit $rc after ${ms} ms]"
  if [ $rc -eq 28 ]; then record FAIL "$name" "curl timed out after 5 s: the body never ended (no FIN from the server)"
  elif [ $rc -ne 0 ]; then record FAIL "$name" "curl exit $rc"
  elif ! cmp -s "$WORK/b" "$WORK/stream.expected"; then record FAIL "$name" "body differs from what the backend sent"
  else record PASS "$name" "full body, ${ms} ms"; fi
}
bold "curl --http1.0 of a streamed (chunked upstream) response through --proxy"
curl_stream "curl --http1.0 streamed via proxy" --http1.0
bold "curl --http1.1 -H 'Connection: close' of a streamed response through --proxy"
curl_stream "curl Connection: close streamed via proxy" --http1.1 -H 'Connection: close'

# --- 3. 1,100 Connection: close requests, then no held socket --------------------------------------
bold "1,100 Connection: close requests (curl --parallel), then count the server's sockets"
start_server close-count --proxy "http://127.0.0.1:$BACKEND_PORT"
CC=$PORT
: >"$WORK/urls"
for i in $(seq 1100); do printf 'url = "http://127.0.0.1:%s/hello?n=%s"\noutput = "/dev/null"\n' "$CC" "$i" >>"$WORK/urls"; done
show curl --parallel --parallel-max 20 -H 'Connection: close' -K urls "(1,100 URLs)"
timeout 60 curl -sS --parallel --parallel-max 20 -H 'Connection: close' --max-time 10 -w '%{http_code}\n' -K "$WORK/urls" >"$WORK/codes"; rc=$?
ok=$(grep -c '^200$' "$WORK/codes"); total=$(wc -l <"$WORK/codes")
echo "curl exit $rc; $ok of $total responses were 200"
sleep 1
held=$(held_sockets "$CC" | wc -l)
echo "server sockets on :$CC 1 s later (besides LISTEN/TIME_WAIT): ${held} $(held_summary "$CC")"
if [ $rc -ne 0 ] || [ "$ok" != 1100 ]; then record FAIL "1,100 Connection: close via proxy" "curl exit $rc, $ok/1100 ok"
elif [ "$held" != 0 ]; then record FAIL "1,100 Connection: close via proxy" "server still holds $(held_summary "$CC")"
else record PASS "1,100 Connection: close via proxy" "all 200, no socket held 1 s later"; fi

# --- 4. a client that goes away ------------------------------------------------------------------
bold "curl --max-time 0.5 against a backend that answers after 3 s"
start_server gone --proxy "http://127.0.0.1:$BACKEND_PORT"
GONE=$PORT
id="gone-$$-$(date +%s)"
show curl -sS --max-time 0.5 "http://127.0.0.1:$GONE/slow?id=$id"
curl -sS --max-time 0.5 -o /dev/null "http://127.0.0.1:$GONE/slow?id=$id"; echo "curl exit $? (28 = timed out, expected)"
sleep 1.5
held=$(held_sockets "$GONE" | wc -l)
backend_saw=$(grep -E "^slow-(aborted|done) $id\$" "$WORK/backend.out" || true)
logline=$(grep -F "$id" "$WORK/gone.access.log" || true)
echo "server sockets on :$GONE: ${held} $(held_summary "$GONE")"
echo "backend: ${backend_saw:-<no close seen yet>}"
echo "access log: ${logline:-<no line yet>}"
problems=()
[ "$held" = 0 ] || problems+=("server holds $(held_summary "$GONE")")
[[ "$backend_saw" == slow-aborted* ]] || problems+=("backend did not see the abort")
grep -q '"status":499' <<<"$logline" || problems+=("access log has no 499 line")
if [ ${#problems[@]} -eq 0 ]; then record PASS "client goes away" "socket gone, backend aborted, 499 logged"
else record FAIL "client goes away" "$(printf "%s; " "${problems[@]}" | sed "s/; $//")"; fi

# --- 5. wrk ----------------------------------------------------------------------------------------
wrk_check() {
  local name=$1 url=$2
  if ! command -v wrk >/dev/null; then record SKIP "$name" "wrk not installed (apt-get install wrk)"; return; fi
  show wrk -t1 -c20 -d"${WRK_SECS}s" --timeout 2s "$url"
  local out rc
  out=$(timeout $((WRK_SECS + 30)) wrk -t1 -c20 -d"${WRK_SECS}s" --timeout 2s "$url" 2>&1); rc=$?
  echo "$out"
  if [ $rc -ne 0 ]; then record FAIL "$name" "wrk exit $rc"
  elif grep -q 'Socket errors' <<<"$out"; then record FAIL "$name" "$(grep 'Socket errors' <<<"$out" | xargs)"
  elif grep -q 'Non-2xx' <<<"$out"; then record FAIL "$name" "$(grep 'Non-2xx' <<<"$out" | xargs)"
  else record PASS "$name" "no socket errors"; fi
}
bold "wrk (sanity, not a benchmark)"
wrk_check "wrk static" "http://127.0.0.1:$STATIC/file.txt"
wrk_check "wrk via proxy" "http://127.0.0.1:$PROXY/hello"

# --- 6. curl range and conditional requests -------------------------------------------------------
bold "curl range and conditional requests against a static file"
U="http://127.0.0.1:$STATIC/file.txt"
status_of() { sed -n '1s/^HTTP\/1\.[01] \([0-9]*\).*/\1/p' "$WORK/h"; }
hdr() { sed -n "s/^$1: *\\(.*\\)\\r\$/\\1/Ip" "$WORK/h" | head -1; }
cget() { show curl -sS "$@" "$U"; curl -sS --max-time 5 -D "$WORK/h" -o "$WORK/b" "$@" "$U"; cat "$WORK/h"; }
cget
etag=$(hdr etag); lm=$(hdr last-modified)
[ "$(status_of)" = 200 ] && [ "$(sha256sum <"$WORK/b" | cut -d' ' -f1)" = "$FILE_SHA" ] \
  && record PASS "curl GET static" "200, body intact" || record FAIL "curl GET static" "status $(status_of)"
cget -r 0-9
[ "$(status_of)" = 206 ] && [ "$(hdr content-range)" = "bytes 0-9/$FILE_LEN" ] && cmp -s "$WORK/b" <(head -c 10 "$ROOT/file.txt") \
  && record PASS "curl -r 0-9" "206, Content-Range ok" || record FAIL "curl -r 0-9" "status $(status_of), $(hdr content-range)"
head -c 1000 "$ROOT/file.txt" >"$WORK/resume"
show curl -C - -o resume "$U"
curl -sS --max-time 5 -C - -o "$WORK/resume" "$U" && cmp -s "$WORK/resume" "$ROOT/file.txt" \
  && record PASS "curl -C - (resume)" "file whole" || record FAIL "curl -C - (resume)" "resumed file differs"
cget -z "$lm"
[ "$(status_of)" = 304 ] && record PASS "curl -z Last-Modified" "304" || record FAIL "curl -z Last-Modified" "status $(status_of)"
cget -H "If-None-Match: $etag"
[ "$(status_of)" = 304 ] && record PASS "curl If-None-Match" "304" || record FAIL "curl If-None-Match" "status $(status_of)"
cget --etag-save "$WORK/etag"; cget --etag-compare "$WORK/etag"
[ "$(status_of)" = 304 ] && record PASS "curl --etag-compare" "304" || record FAIL "curl --etag-compare" "status $(status_of)"

# --- 7. h2load --h1 (optional) -------------------------------------------------------------------
h2load_check() {
  local name=$1 url=$2
  if ! command -v h2load >/dev/null; then record SKIP "$name" "h2load not installed (apt-get install nghttp2-client)"; return; fi
  show h2load --h1 -n 5000 -c 10 "$url"
  local out rc line
  out=$(timeout 60 h2load --h1 -n 5000 -c 10 "$url" 2>&1); rc=$?
  echo "$out"
  line=$(grep '^requests:' <<<"$out")
  if [ $rc -ne 0 ]; then record FAIL "$name" "h2load exit $rc"
  elif grep -q ' 5000 succeeded, 0 failed, 0 errored, 0 timeout' <<<"$line" && grep -q '^status codes: 5000 2xx' <<<"$out"; then
    record PASS "$name" "5000 succeeded"
  else record FAIL "$name" "$line"; fi
}
bold "h2load --h1"
h2load_check "h2load --h1 static" "http://127.0.0.1:$STATIC/file.txt"
h2load_check "h2load --h1 via proxy" "http://127.0.0.1:$PROXY/hello"

# --- summary ---------------------------------------------------------------------------------------
bold "summary (target: $TARGET)"
printf '%s\n' "${RESULTS[@]}"
exit $FAILED
