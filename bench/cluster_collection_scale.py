#!/usr/bin/env python3
"""Does a write of one member cost the same in a small and a huge collection? (issue 15,
must-show 3). A 3-node cairn cluster (N=3, W=2, R=2) on this machine: a hash, a set and a
sorted set of SIZE members (default 1 000 000) and of 10 members, and a stream of
STREAM_SIZE entries (default 100 000: loaded one XADD at a time) and of 10, and a bitmap
of BITMAP_BYTES (default 1 MiB) and of 10 bytes; then OPS single-member writes (HSET,
SADD, ZADD of a new member, XADD, SETBIT of a random bit) to each, one at a time from one client,
alternating between the two collections; prints
p50 and p99 per write and the large/small ratio of the p50s.

    python3 bench/cluster_collection_scale.py                   # SIZE=1000000 OPS=300
    SIZE=100000 OPS=200 python3 bench/cluster_collection_scale.py
    KINDS=stream STREAM_SIZE=100000 python3 bench/cluster_collection_scale.py

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
STREAM_SIZE = int(os.environ.get("STREAM_SIZE", str(min(SIZE, 100000))))
BITMAP_BYTES = int(os.environ.get("BITMAP_BYTES", str(1 << 20)))
KINDS = os.environ.get("KINDS", "hash,set,zset,stream,bitmap").split(",")
BATCH = 1000  # members per loading command


def load(conn, kind, key, n):
    """n members, BATCH per command, pipelined 8 commands deep (a stream: one entry per
    XADD, BATCH commands deep)."""
    if kind == "bitmap":  # n bytes: one SETBIT of the last bit
        assert conn.command("SETBIT", key, str(8 * n - 1), "1") == 0
        return
    if kind == "stream":
        for start in range(0, n, BATCH):
            count = min(BATCH, n - start)
            conn.send(b"".join(conn.encode("XADD", key, "*", "f", "v%d" % (start + i)) for i in range(count)))
            for _ in range(count):
                reply = conn.read_reply()
                assert isinstance(reply, bytes), reply
        return
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
    cmd = {"hash": "HSET", "set": "SADD", "zset": "ZADD", "stream": "XADD", "bitmap": "SETBIT"}[kind]
    lat = {key: [] for key in keys}
    for i in range(OPS):
        member = "new%d" % i
        args = {"hash": [member, "v"], "set": [member], "zset": ["0.5", member],
                "stream": ["*", "f", member]}.get(kind)
        for key in keys:
            if kind == "bitmap":  # a bit of the first 10 bytes, so both sizes take it
                args = [str((i * 7919) % 79), "1" if i % 2 == 0 else "0"]
            t = time.perf_counter()
            reply = conn.command(cmd, key, *args)
            assert reply == 1 or (kind == "stream" and isinstance(reply, bytes)) or \
                (kind == "bitmap" and reply in (0, 1)), reply
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
        for kind in KINDS:
            big = {"stream": STREAM_SIZE, "bitmap": BITMAP_BYTES}.get(kind, SIZE)
            loaded = {}
            for size in (10, big):
                t = time.perf_counter()
                load(conn, kind, "%s:%d" % (kind, size), size)
                loaded[size] = time.perf_counter() - t
            times = measure(conn, kind, ["%s:%d" % (kind, size) for size in (10, big)])
            for size in (10, big):
                p50, p99 = times["%s:%d" % (kind, size)]
                results[(kind, size)] = p50
                print("%-5s %12d %10.3f %10.3f %10.1f" % (kind, size, p50, p99, loaded[size]),
                      flush=True)
        for kind in KINDS:
            big = {"stream": STREAM_SIZE, "bitmap": BITMAP_BYTES}.get(kind, SIZE)
            print("%s: p50 with %d members / with 10 = %.2f" %
                  (kind, big, results[(kind, big)] / results[(kind, 10)]))
    finally:
        nodes.stop_all()


if __name__ == "__main__":
    main()
