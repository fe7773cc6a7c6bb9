#!/usr/bin/env bash
# Builds the sidecar image (docker/Dockerfile) with podman and runs it as users will: configured
# by TFPROXY_* environment variables, TLS on both sides with mounted certificates, the image's
# health check, a non-root user, and SIGTERM stopping it cleanly. Needs no registry: the Debian
# base images are made here with debootstrap (once; kept in podman's store).
#
# Run by .ci/run after scripts/test.sh; its minutes are printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()
for p in podman runc debootstrap openssl redis-server redis-tools; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

work=$(mktemp -d /tmp/tfproxy-container-XXXXXX)
container=tfproxy-test-$$
redis_pid=""
cleanup() {
  podman --runtime runc rm -f "$container" >/dev/null 2>&1 || true
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# No ulimits of podman's own (the sandbox refuses to raise them).
cat > "$work/containers.conf" <<'CONF'
[containers]
default_ulimits = []
CONF
export CONTAINERS_CONF="$work/containers.conf"
pod() { podman --runtime runc "$@"; }

# The base images the Dockerfile names, from the mirror apt uses.
if ! pod image exists docker.io/library/debian:12; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  echo "container: making the debian:12 base image from $mirror"
  $SUDO debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log"; exit 1; }
  $SUDO tar -C "$work/rootfs" -c . | pod import - docker.io/library/debian:12 >/dev/null
  pod tag docker.io/library/debian:12 docker.io/library/debian:12-slim
  $SUDO rm -rf "$work/rootfs"
fi

echo "container: building the image"
build_started=$SECONDS
# Docker format: OCI images have no HEALTHCHECK.
pod build --format docker --pull=never --network host -f docker/Dockerfile -t localhost/tfproxy:test . \
  >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; exit 1; }
build_seconds=$((SECONDS - build_started))
echo "container: image built in $build_seconds s"

# Certificates, mounted into the container as an operator would.
certs="$work/certs"
mkdir -p "$certs"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$certs/san.cnf"
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=ca -keyout "$certs/ca.key" \
  -out "$certs/ca.crt" 2>/dev/null
for name in server client; do
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$name" -keyout "$certs/$name.key" \
    -out "$certs/$name.csr" 2>/dev/null
  openssl x509 -req -in "$certs/$name.csr" -CA "$certs/ca.crt" -CAkey "$certs/ca.key" \
    -CAcreateserial -days 30 -out "$certs/$name.crt" -extfile "$certs/san.cnf" 2>/dev/null
done
chmod 644 "$certs"/*

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
redis_port=$(free_port)
tls_port=$(free_port)
health_port=$(free_port)
redis-server --port 0 --tls-port "$redis_port" --bind 127.0.0.1 --save '' \
  --tls-cert-file "$certs/server.crt" --tls-key-file "$certs/server.key" \
  --tls-ca-cert-file "$certs/ca.crt" --dir "$work" >"$work/redis.log" 2>&1 &
redis_pid=$!

echo "container: starting it (TLS on both sides, configured by environment)"
pod run -d --name "$container" --network host -v "$certs:/certs:ro" \
  -e TFPROXY_BACKEND="rediss://127.0.0.1:$redis_port" \
  -e TFPROXY_BACKEND_TLS_CA_CERT_FILE=/certs/ca.crt \
  -e TFPROXY_BACKEND_TLS_CERT_FILE=/certs/client.crt \
  -e TFPROXY_BACKEND_TLS_KEY_FILE=/certs/client.key \
  -e TFPROXY_BIND=127.0.0.1 -e TFPROXY_PORT=0 -e TFPROXY_TLS_PORT="$tls_port" \
  -e TFPROXY_TLS_CERT_FILE=/certs/server.crt -e TFPROXY_TLS_KEY_FILE=/certs/server.key \
  -e TFPROXY_TLS_CA_CERT_FILE=/certs/ca.crt -e TFPROXY_HEALTH_PORT="$health_port" \
  localhost/tfproxy:test >/dev/null 2>>"$work/podman.log"

cli() { redis-cli --tls --cacert "$certs/ca.crt" --cert "$certs/client.crt" --key "$certs/client.key" -p "$tls_port" "$@"; }
fail() { echo "container: FAILED: $*" >&2; pod logs "$container" >&2 || true; exit 1; }
expect() { # expect WANTED COMMAND...
  local wanted=$1; shift
  local got; got=$("$@" 2>&1) || true
  [ "$got" = "$wanted" ] || fail "$* answered '$got', wanted '$wanted'"
}

for _ in $(seq 100); do
  [ "$(cli PING 2>/dev/null)" = "PONG" ] && break
  sleep 0.1
done
expect PONG cli PING
expect OK cli TFUNCTION LOAD "#!js api_version=1.0 name=sidecar
redis.registerFunction('hits', (c, k) => c.call('incr', k));"
expect 1 cli TFCALL sidecar.hits 1 counter
expect 2 cli TFCALL sidecar.hits 1 counter
# The health check the image declares, as the runtime runs it (podman schedules it with systemd
# timers, which this machine lacks: run once, by hand).
pod healthcheck run "$container" >/dev/null || fail "the image's health check failed"
expect tfproxy pod exec "$container" id -un
[ "$(pod exec "$container" id -u)" != "0" ] || fail "runs as root"

echo "container: stopping it with SIGTERM"
pod stop -t 20 "$container" >/dev/null 2>>"$work/podman.log"
exit_code=$(pod inspect --format '{{.State.ExitCode}}' "$container")
[ "$exit_code" = "0" ] || fail "exit code $exit_code after SIGTERM"
pod logs "$container" 2>&1 | grep -q "tfproxy stopped" || fail "no clean stop in the log"
echo "container: passed in $((SECONDS - started)) s (image build $build_seconds s of it)"
