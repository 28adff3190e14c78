#!/usr/bin/env python3
"""Does a write of one member cost the same in a small and a huge collection? (issue 15,
must-show 3). A 3-node cairn cluster (N=3, W=2, R=2) on this machine: a hash, a set and a
sorted set of SIZE members (default 1 000 000) and of 10 members; then OPS single-member
writes (HSET, SADD, ZADD of a new member) to each, one at a time from one client,
alternating between the two collections; prints
p50 and p99 per write and the large/small ratio of the p50s.

    python3 bench/cluster_collection_scale.py                   # SIZE=1000000 OPS=300
    SIZE=100000 OPS=200 python3 bench/cluster_collection_scale.py

CAIRN_SERVER_BIN (default build/bin/cairn-server) may be set.
"""
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
os.environ.setdefault("CAIRN_SERVER_BIN", os.path.join(ROOT, "build", "bin", "cairn-server"))
from cluster_util import Cluster, info, wait_for  # noqa: E402

SIZE = int(os.environ.get("SIZE", "1000000"))
OPS = int(os.environ.get("OPS", "300"))
BATCH = 1000  # members per loading command


def load(conn, kind, key, n):
    """n members, BATCH per command, pipelined 8 commands deep."""
    sent = 0
    pending = 0
    while sent < n:
        args = []
        for i in range(sent, min(n, sent + BATCH)):
            if kind == "hash":
                args += ["f%d" % i, "v"]
            elif kind == "set":
                args.append("m%d" % i)
            else:
                args += [str(i), "m%d" % i]
        cmd = {"hash": "HSET", "set": "SADD", "zset": "ZADD"}[kind]
        conn.send(conn.encode(cmd, key, *args))
        pending += 1
        sent += BATCH
        if pending == 8:
            for _ in range(pending):
                reply = conn.read_reply()
                assert isinstance(reply, int), reply
            pending = 0
    for _ in range(pending):
        reply = conn.read_reply()
        assert isinstance(reply, int), reply


def measure(conn, kind, keys):
    """Writes alternate between the keys, so both see the same machine load."""
    cmd = {"hash": "HSET", "set": "SADD", "zset": "ZADD"}[kind]
    lat = {key: [] for key in keys}
    for i in range(OPS):
        member = "new%d" % i
        args = [member, "v"] if kind == "hash" else [member] if kind == "set" else ["0.5", member]
        for key in keys:
            t = time.perf_counter()
            assert conn.command(cmd, key, *args) == 1
            lat[key].append(time.perf_counter() - t)
    out = {}
    for key, values in lat.items():
        values.sort()
        out[key] = (values[len(values) // 2] * 1000, values[int(len(values) * 0.99)] * 1000)
    return out


def main():
    root = tempfile.mkdtemp(prefix="cairn-scale-")
    nodes = Cluster(root, 3, extra=["--wal-sync", "none"])
    try:
        wait_for("3 members alive",
                 lambda: all(info(n).get("cluster_members_alive") == "3" for n in nodes))
        conn = nodes[0].raw(timeout=600)
        print("3-node cluster, N=3 W=2 R=2; %d single-member writes per case" % OPS)
        print("%-5s %12s %10s %10s %10s" % ("type", "members", "p50 ms", "p99 ms", "load s"))
        results = {}
        for kind in ("hash", "set", "zset"):
            loaded = {}
            for size in (10, SIZE):
                t = time.perf_counter()
                load(conn, kind, "%s:%d" % (kind, size), size)
                loaded[size] = time.perf_counter() - t
            times = measure(conn, kind, ["%s:%d" % (kind, size) for size in (10, SIZE)])
            for size in (10, SIZE):
                p50, p99 = times["%s:%d" % (kind, size)]
                results[(kind, size)] = p50
                print("%-5s %12d %10.3f %10.3f %10.1f" % (kind, size, p50, p99, loaded[size]),
                      flush=True)
        for kind in ("hash", "set", "zset"):
            print("%s: p50 with %d members / with 10 = %.2f" %
                  (kind, SIZE, results[(kind, SIZE)] / results[(kind, 10)]))
    finally:
        nodes.stop_all()


if __name__ == "__main__":
    main()
