#!/usr/bin/env bash
# Installs dependencies, builds cairn (release) and runs it with default settings.
#
# Until cairn-server exists (issue 4), this drives the storage engine through the
# offline tool on a demo directory: load keys, read some back, scan, verify every file.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target cairn

cairn=build/bin/cairn
demo=${CAIRN_DEMO_DIR:-./cairn-demo}
echo "=== $cairn db $demo load 100000 (WAL sync everysec) ==="
$cairn db "$demo" load 100000 --sync everysec | tail -n 1
echo "=== get key-0000000042 ==="
$cairn db "$demo" get key-0000000042
echo "=== scan --start key-0000099997 ==="
$cairn db "$demo" scan --start key-0000099997
echo "=== check ==="
$cairn db "$demo" check
echo "=== stats ==="
$cairn db "$demo" stats
