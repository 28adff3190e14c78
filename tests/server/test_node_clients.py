"""Real applications' Node.js clients against cairn and against redis-server 7.0.15
(issue 18, must-show 1): a BullMQ 5 queue (hundreds of jobs, several workers, delayed and
retried jobs, QueueEvents) and ioredis scripting (defineCommand, pipelines, MULTI) and
pub/sub. Each script prints a summary; cairn's must equal Redis's.

The npm packages are installed by scripts/install-deps.sh (npm ci in tests/clients/node);
without node or them the test fails, rather than skipping, when CAIRN_REQUIRE_NODE is set
(scripts/test.sh sets it).
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from test_against_redis import both, redis  # noqa: F401 (the redis fixture)

NODE_DIR = Path(__file__).resolve().parents[1] / "clients" / "node"
READY = shutil.which("node") is not None and (NODE_DIR / "node_modules" / "bullmq").is_dir()
pytestmark = pytest.mark.skipif(not READY and not os.environ.get("CAIRN_REQUIRE_NODE"),
                                reason="node or tests/clients/node/node_modules missing (scripts/install-deps.sh)")


def run(script, port):
    out = subprocess.run(["node", script, str(port)], cwd=NODE_DIR, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, "%s against port %d failed:\n%s\n%s" % (script, port, out.stdout, out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("script", ["bullmq_queue.mjs", "ioredis_clients.mjs"])
def test_node_client_runs_as_against_redis(server, redis, script):
    both(server, redis)
    got = run(script, server.port)
    want = run(script, redis.sock.getpeername()[1])
    assert got == want
