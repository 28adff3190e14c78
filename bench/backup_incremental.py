#!/usr/bin/env python3
"""Full and incremental backup of a running node (issue 20, docs/backup.md).

Loads KEYS keys (default 1 000 000) of VALUE bytes (default 100, random, so compression does
not hide them) into a cairn-server, compacts nothing by hand, then runs
`cairn backup create` (a full backup), changes CHANGE_PCT percent of the keys (default 1),
and runs it again (incremental: the unchanged tables are shared). Prints both backups' size,
bytes copied and time, the wall time of each `cairn backup create`, and the time of
`cairn backup verify` and `restore`; then the same for redis-server's BGSAVE (a full RDB
each time) side by side, for orientation.

    python3 bench/backup_incremental.py
    KEYS=200000 python3 bench/backup_incremental.py
    LARGE=300 python3 bench/backup_incremental.py   # plus 300 values of 1 MiB (blob files)

LARGE values of LARGE_SIZE bytes (default 0 of 1 MiB) are added to the keys: values of 64 KiB
or more live in blob files (docs/large-values.md), which backups share as they share tables;
CHANGE_PCT percent of them change too.

CAIRN_SERVER_BIN / CAIRN_BIN (default build/bin/...) and REDIS_SERVER (default redis-server).
"""
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "server"))
from conftest import RespSocket  # noqa: E402

KEYS = int(os.environ.get("KEYS", "1000000"))
VALUE = int(os.environ.get("VALUE", "100"))
CHANGE_PCT = float(os.environ.get("CHANGE_PCT", "1"))
LARGE = int(os.environ.get("LARGE", "0"))
LARGE_SIZE = int(os.environ.get("LARGE_SIZE", str(1 << 20)))
SERVER = os.environ.get("CAIRN_SERVER_BIN", os.path.join(ROOT, "build", "bin", "cairn-server"))
CLI = os.environ.get("CAIRN_BIN", os.path.join(ROOT, "build", "bin", "cairn"))
REDIS = os.environ.get("REDIS_SERVER", shutil.which("redis-server") or "redis-server")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect(port):
    deadline = time.monotonic() + 30
    while True:
        try:
            return RespSocket("127.0.0.1", port, timeout=600)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def size_of(key):
    return LARGE_SIZE if key.startswith("large:") else VALUE


def load(conn, keys, rnd):
    part, pending = [], 0
    for i, k in enumerate(keys):
        part.append(conn.encode("SET", k, rnd.randbytes(size_of(k))))
        pending += size_of(k)
        if len(part) == 1000 or pending >= 16 << 20 or i == len(keys) - 1:
            conn.send(b"".join(part))
            for _ in part:
                assert conn.read_reply() == "OK"
            part, pending = [], 0


def du(path):
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(d, f))
    return total


def timed(args):
    start = time.monotonic()
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return time.monotonic() - start, out


def mb(n):
    return "%.1f MB" % (n / 1e6)


def bench_cairn(tmp, keys, changed):
    port, http = free_port(), free_port()
    log = open(os.path.join(tmp, "cairn.log"), "wb")
    proc = subprocess.Popen([SERVER, "--dir", os.path.join(tmp, "data"), "--port", str(port),
                             "--http-port", str(http), "--wal-sync", "none"],
                            stdout=log, stderr=log)
    try:
        conn = connect(port)
        rnd = random.Random(1)
        load(conn, keys, rnd)
        dest = os.path.join(tmp, "backups")
        rows = []
        for label, change in (("full", []), ("after %g%% changed" % CHANGE_PCT, changed)):
            load(conn, change, rnd)
            before = du(dest) if os.path.exists(dest) else 0
            wall, out = timed([CLI, "backup", "create", dest, "--http-port", str(http), "--quiet"])
            m = re.search(r"backup (\d+) .*, in (\d+) ms", out)
            with open(os.path.join(dest, "meta", m.group(1))) as f:
                size = sum(int(line.split()[1]) for line in f if line.startswith("file "))
            rows.append((label, mb(size), mb(du(dest) - before), int(m.group(2)), wall))
        vt, _ = timed([CLI, "backup", "verify", dest])
        rt, _ = timed([CLI, "backup", "restore", dest, "--to", os.path.join(tmp, "restored")])
        data = du(os.path.join(tmp, "data"))
        return rows, vt, rt, data
    finally:
        proc.terminate()
        proc.wait()


def bench_redis(tmp, keys, changed):
    port = free_port()
    d = os.path.join(tmp, "redis")
    os.makedirs(d)
    proc = subprocess.Popen([REDIS, "--port", str(port), "--save", "", "--appendonly", "no",
                             "--dir", d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conn = connect(port)
        rnd = random.Random(1)
        load(conn, keys, rnd)
        rows = []
        for label, change in (("full", []), ("after %g%% changed" % CHANGE_PCT, changed)):
            load(conn, change, rnd)
            last = conn.command("LASTSAVE")
            start = time.monotonic()
            assert conn.command("BGSAVE") == "Background saving started"
            while conn.command("LASTSAVE") == last:
                time.sleep(0.01)
            rows.append((label, mb(os.path.getsize(os.path.join(d, "dump.rdb"))),
                         time.monotonic() - start))
        return rows
    finally:
        proc.kill()
        proc.wait()


def main():
    keys = ["key:%010d" % i for i in range(KEYS)]
    changed = random.Random(2).sample(keys, int(KEYS * CHANGE_PCT / 100))
    large = ["large:%06d" % i for i in range(LARGE)]
    keys += large
    changed += random.Random(3).sample(large, int(LARGE * CHANGE_PCT / 100))
    tmp = tempfile.mkdtemp(prefix="cairn-backup-bench-")
    try:
        rows, vt, rt, data = bench_cairn(tmp, keys, changed)
        print("cairn: %d keys of %d B and %d of %d B, data directory %s"
              % (KEYS, VALUE, LARGE, LARGE_SIZE, mb(data)))
        print("| backup | size | bytes added to DEST | backup time (server) | `cairn backup create` wall |")
        print("|---|---|---|---|---|")
        for label, size, added, ms, wall in rows:
            print("| %s | %s | %s | %d ms | %.2f s |" % (label, size, added, ms, wall))
        print("verify of both: %.2f s; restore of the newest: %.2f s" % (vt, rt))
        try:
            red = bench_redis(tmp, keys, changed)
            print("redis-server BGSAVE (a full dump.rdb each time):")
            for label, size, secs in red:
                print("| %s | %s | %.2f s |" % (label, size, secs))
        except (OSError, subprocess.SubprocessError) as e:
            print("redis-server: skipped (%s)" % e)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
