#!/usr/bin/env bash
# Installs every build and test dependency of cairn from Debian 12 packages.
# Safe to run repeatedly; nothing is downloaded at build time.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang-14 libclang-rt-14-dev
  clang-format clang-tidy
  # libraries
  libabsl-dev libboost-dev libzstd-dev liblz4-dev libsnappy-dev libxxhash-dev
  libprotobuf-dev protobuf-compiler libspdlog-dev libfmt-dev libcli11-dev
  libtomlplusplus-dev nlohmann-json3-dev libssl-dev libjemalloc-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  liblua5.1-0-dev lua-cjson-dev lua-bitop-dev
  # tests and baselines
  python3 python3-pytest python3-redis python3-hypothesis redis-tools redis-server
  # the dashboard test (tests/server/test_dashboard.py): a headless browser
  chromium chromium-driver python3-selenium
  # the packaging test (tests/packaging): systemd-analyze verify, dpkg-shlibdeps for CPack
  systemd dpkg-dev
  librocksdb-dev libleveldb-dev
  # certificates for the TLS tests; network namespaces for the protected-mode and lab tests
  openssl iproute2
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Node.js client tests (tests/clients/node: BullMQ, ioredis): Node.js and npm from Debian
# unless the machine has them, then the packages pinned by package-lock.json from the npm
# registry (never at build time).
if ! command -v npm >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi
node_dir="$(dirname "$0")/../tests/clients/node"
if [ ! -d "$node_dir/node_modules/bullmq" ] || [ "$node_dir/package-lock.json" -nt "$node_dir/node_modules" ]; then
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
