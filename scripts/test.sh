#!/usr/bin/env bash
# Sets up the machine, checks the layering and the formatting, builds, and runs the whole test
# suite: unit tests, then integration tests against real redis-server and tfproxy processes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/check_layers.sh
scripts/check_format.sh
scripts/build.sh -DTFPROXY_TESTS=ON -DTFPROXY_INTEGRATION_TESTS=ON
cd build
ctest -L unit --output-on-failure
ctest -L integration --output-on-failure
