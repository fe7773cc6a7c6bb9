#!/usr/bin/env bash
# Sets up the machine, checks the layering, the formatting and the docs' citations, builds, and
# runs the whole test suite: unit tests, then integration tests against real redis-server and
# tfproxy processes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/check_layers.sh
scripts/check_format.sh
scripts/check_citations.sh
scripts/build.sh -DTFPROXY_TESTS=ON -DTFPROXY_INTEGRATION_TESTS=ON
cd build
# Every test program starts its own processes on free ports, so they run side by side.
ctest -L unit -j"$(nproc)" --output-on-failure
ctest -L integration -j"$(nproc)" --output-on-failure
