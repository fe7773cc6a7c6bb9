#!/usr/bin/env bash
# Installs every Debian 12 package that building, testing and benchmarking
# tfproxy needs. Idempotent and non-interactive; run as root (or with sudo).
#
# V8 comes from Debian's libnode-dev, which needs Debian's own nodejs. A
# nodejs from another repository (NodeSource, say) usually carries a higher
# version and wins apt's choice, so the Debian version is named explicitly
# and a downgrade is allowed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config clang-format
  libboost1.81-dev libssl-dev
  libhiredis-dev libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev
  redis-server redis-tools nutcracker python3 python3-redis openssl
)

# The tests' Node.js tools (tsc and rollup for the typings, node-redis and ioredis as real
# clients, playwright-core driving Debian's chromium on the admin page) come from npm, pinned by
# tests/node/package-lock.json; npm and chromium are Debian's. Not needed where the tests are
# not (the container image's build stage).
repo=$(cd "$(dirname "$0")/.." && pwd)
node_tests=$repo/tests/node
if [ -f "$node_tests/package.json" ]; then packages+=(npm chromium); fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

# Installs the pinned Node.js tools unless node_modules is as new as the lock file.
node_tools() {
  [ -f "$node_tests/package.json" ] || return 0
  if [ ! -f "$node_tests/node_modules/.package-lock.json" ] ||
     [ "$node_tests/package-lock.json" -nt "$node_tests/node_modules/.package-lock.json" ]; then
    echo "setup: installing the tests' Node.js tools (npm ci in tests/node)"
    npm ci --prefix "$node_tests" --no-audit --no-fund --loglevel=error
  fi
}

missing=()
for p in "${packages[@]}" libnode-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present"
  node_tools
  exit 0
fi
echo "setup: installing ${missing[*]}"

$SUDO apt-get update -qq
# Debian's nodejs version (the one libnode-dev was built with).
node_version=$(apt-cache madison nodejs | awk -F'|' '$3 ~ /debian/ {gsub(/ /,"",$2); print $2; exit}')
if [ -z "$node_version" ]; then
  echo "setup: no Debian nodejs package found; check /etc/apt/sources.list" >&2
  exit 1
fi
$SUDO apt-get install -y -qq --no-install-recommends --allow-downgrades \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "nodejs=$node_version" "libnode108=$node_version" "libnode-dev=$node_version" \
  "${packages[@]}"
node_tools
echo "setup: done"
