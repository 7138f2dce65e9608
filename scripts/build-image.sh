#!/usr/bin/env bash
# Builds the DreamServer container image offline: stages the compiled binary, the shared
# libraries `ldd` lists, CA certificates, /etc/passwd and /etc/group with a non-root user, and
# the default config into a build context, then `podman build --format docker` (which keeps the
# HEALTHCHECK) from deploy/container/Containerfile (FROM scratch: nothing is pulled).
#
# Usage: scripts/build-image.sh [TAG]   (default dreamserver:<version>)
# Podman on these machines needs runc and the cgroupfs manager; CONTAINERS_CONF points at a
# containers.conf that says so (scripts/podman-containers.conf).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=$(node -p 'require("./package.json").version' 2>/dev/null || grep -o '"version": *"[^"]*"' package.json | cut -d'"' -f4)
TAG=${1:-dreamserver:$VERSION}
BIN=${BIN:-dist/dreamserver}
[ -x "$BIN" ] || { echo "build-image: $BIN is missing; run npm run build first" >&2; exit 2; }
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/scripts/podman-containers.conf}

CTX=$(mktemp -d /tmp/ds-image.XXXXXX)
trap 'rm -rf "$CTX"' EXIT
R="$CTX/rootfs"
mkdir -p "$R/usr/local/bin" "$R/etc/dreamserver" "$R/etc/ssl/certs" "$R/srv/www"
cp "$BIN" "$R/usr/local/bin/dreamserver"
for lib in $(ldd "$BIN" | grep -o '/[^ ]*' | sort -u); do
  mkdir -p "$R$(dirname "$lib")"
  cp -L "$lib" "$R$lib"
done
echo 'dreamserver:x:65532:65532:dreamserver:/:/nonexistent' > "$R/etc/passwd"
echo 'dreamserver:x:65532:' > "$R/etc/group"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cp /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/"; fi
cp deploy/container/dreamserver.toml "$R/etc/dreamserver/dreamserver.toml"
cp staticfiles/index.html "$R/srv/www/index.html"
cp deploy/container/Containerfile "$CTX/Containerfile"
podman build --format docker --runtime runc --cgroup-manager cgroupfs -t "$TAG" "$CTX" >&2
podman image inspect "$TAG" --format '{{.Size}}' | awk -v t="$TAG" '{ printf "built %s: %.1f MiB\n", t, $1 / 1048576 }'
