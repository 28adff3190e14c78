#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs dependencies, builds
# (release with GCC; debug with clang + AddressSanitizer/UBSan and -Wthread-safety) and
# runs every test in both builds. This is what CI runs (.ci/run).
#
#   CAIRN_TEST_PRESETS="release"  ./scripts/test.sh   # only the release build
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
export CAIRN_REQUIRE_NODE=1  # the Node.js client tests run, never skip (install-deps.sh)

presets=${CAIRN_TEST_PRESETS:-"release asan"}
for preset in $presets; do
  echo "=== $preset: configure and build ==="
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  echo "=== $preset: test ==="
  ctest --preset "$preset" -j 2
done
