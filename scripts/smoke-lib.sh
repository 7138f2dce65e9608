# Shared by scripts/check-empty-root.sh and scripts/check-image.sh (sourced, not run): free
# ports, the smoke-test config, a one-answer backend on the host, and the check helper.
# Expects BUN (the bun binary) to be set; sets PORT, ADMIN, BPORT and BACKEND_PID.

free_port() { "$BUN" -e 'const l = Bun.listen({hostname: "127.0.0.1", port: 0, socket: {data() {}}}); console.log(l.port); l.stop(true)'; }
PORT=$(free_port)
ADMIN=$(free_port)
BPORT=$(free_port)
BACKEND_PID=""

# The config both checks run: a static route from /srv/www, a proxy route to the backend,
# the admin listener, the access log on stdout (the root is read-only or empty).
smoke_config() {
  cat <<CONF
[server]
workers = 1
[log]
access = "-"
[admin]
listen = "127.0.0.1:$ADMIN"
[[site]]
listen = ["127.0.0.1:$PORT"]
  [[site.route]]
  path = "/api/"
  strip_prefix = "/api"
  proxy = { to = ["http://127.0.0.1:$BPORT"] }
  [[site.route]]
  path = "/"
  static = { root = "/srv/www" }
CONF
}

# A backend on the host's loopback that answers every connection "from backend".
start_backend() {
  "$BUN" -e "Bun.listen({hostname: '127.0.0.1', port: $BPORT, socket: {data(s) { s.write('HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\nfrom backend'); s.end(); }}})" &
  BACKEND_PID=$!
}

fail=0
# check NAME EXPECTED-BODY URL
check() {
  local got
  got=$(curl -s --max-time 5 "$3" || true)
  if [ "$got" = "$2" ]; then echo "ok: $1"; else echo "FAIL: $1: got '$got'"; fail=1; fi
}
