#!/usr/bin/env python3
"""How fast do keys that expire together leave? (issue 18: INFO expired_keys counted for
real). cairn-server and redis-server 7.0.15 side by side, each loaded with KEYS keys
(default 200 000) set with PX TTL_MS (default 3 000) through a pipeline; then INFO stats is
polled until expired_keys reaches KEYS. Prints, for each, the seconds from the first key's
expiry until all were counted, and the ratio (cairn / Redis).

    python3 bench/active_expiry.py
    KEYS=1000000 TTL_MS=5000 python3 bench/active_expiry.py

CAIRN_SERVER_BIN (default build/bin/cairn-server) and REDIS_SERVER (default redis-server).
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "server"))
from conftest import RespSocket  # noqa: E402

KEYS = int(os.environ.get("KEYS", "200000"))
TTL_MS = int(os.environ.get("TTL_MS", "3000"))
CAIRN = os.environ.get("CAIRN_SERVER_BIN", os.path.join(ROOT, "build", "bin", "cairn-server"))
REDIS = os.environ.get("REDIS_SERVER", shutil.which("redis-server") or "redis-server")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect(port):
    deadline = time.monotonic() + 20
    while True:
        try:
            return RespSocket("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def expired_keys(c):
    for line in c.command("INFO", "stats").decode().split("\r\n"):
        if line.startswith("expired_keys:"):
            return int(line.split(":")[1])
    raise RuntimeError("no expired_keys")


def run(name, c):
    start = time.monotonic()
    for b in range(0, KEYS, 5000):
        cmds = [("SET", "k%d" % i, "v", "PX", str(TTL_MS)) for i in range(b, min(KEYS, b + 5000))]
        c.send(b"".join(c.encode(*x) for x in cmds))
        for _ in cmds:
            c.read_reply()
    first_due = start + TTL_MS / 1000.0
    while expired_keys(c) < KEYS:
        time.sleep(0.05)
    drained = time.monotonic() - first_due
    print("%-6s %d keys with PX %d: all counted %.2f s after the first was due"
          % (name, KEYS, TTL_MS, drained))
    return drained


def main():
    with tempfile.TemporaryDirectory() as tmp:
        cport, rport = free_port(), free_port()
        cairn = subprocess.Popen([CAIRN, "--port", str(cport), "--http-port", "0", "--dir",
                                  os.path.join(tmp, "cairn"), "--wal-sync", "everysec"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        redis = subprocess.Popen([REDIS, "--port", str(rport), "--save", "", "--appendonly",
                                  "yes", "--appendfsync", "everysec", "--dir", tmp],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            c = run("cairn", connect(cport))
            r = run("redis", connect(rport))
            print("ratio (cairn / redis drain time): %.2f" % (c / r if r > 0 else float("inf")))
        finally:
            for p in (cairn, redis):
                p.kill()
                p.wait()


if __name__ == "__main__":
    main()
