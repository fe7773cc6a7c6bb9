#!/usr/bin/env bash
# Sets up the machine, builds, and starts tfproxy on 127.0.0.1:6380 in front of a private
# redis-server (the embedded default). Arguments are passed to tfproxy.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh -DTFPROXY_TESTS=OFF
exec build/server/tfproxy "$@"
