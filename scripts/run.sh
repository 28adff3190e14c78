#!/usr/bin/env bash
# Installs dependencies, builds cairn (release) and starts cairn-server with default
# settings: RESP on 127.0.0.1:7379, HTTP on 127.0.0.1:7380, data in ./cairn-data, WAL
# synced every second. Try it from another shell:
#
#   redis-cli -p 7379 set greeting hello && redis-cli -p 7379 get greeting
#   curl localhost:7380/v1/kv/greeting
#
# Arguments are passed to cairn-server (e.g. ./scripts/run.sh --port 7400); Ctrl-C stops it
# cleanly (the WAL is synced first).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target cairn-server cairn

exec build/bin/cairn-server "$@"
