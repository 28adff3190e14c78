#!/usr/bin/env python3
"""One hash, one set and one sorted set of N members each (default 1,000,000) on a fresh
cairn-server: created, ranged, scanned and deleted, with the server's resident memory
sampled throughout. Shows that collections live on disk, not in memory, and that
deleting one returns at once.

    python3 bench/large_collections.py [--members 1000000] [--server-bin PATH]

Prints one line per step and a JSON summary (--json FILE writes it too). The end-to-end
suite runs a bounded version (tests/server/test_large_collections.py).
"""
import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import redis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_kib(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    """Samples the server's resident memory every 50 ms: peak_kib is the largest RSS seen,
    peak_anon_kib the largest anonymous part (heap, memtables, block cache). The rest of
    RSS is file pages of tables read through mmap, which the kernel reclaims at will."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak_kib, self.peak_anon_kib = pid, 0, 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                self.peak_kib = max(self.peak_kib, rss_kib(self.pid))
                self.peak_anon_kib = max(self.peak_anon_kib, rss_kib(self.pid, "RssAnon"))
            except OSError:
                return
            self.stop.wait(0.05)


def start_server(server_bin, data_dir, extra):
    log = open(os.path.join(data_dir, "server.log"), "w")
    proc = subprocess.Popen([server_bin, "--dir", os.path.join(data_dir, "data"), "--port", "auto",
                             "--http-port", "auto"] + extra, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    port = None
    while port is None:
        if proc.poll() is not None:
            raise RuntimeError("cairn-server exited: " + open(log.name).read())
        if time.monotonic() > deadline:
            raise RuntimeError("cairn-server not ready: " + open(log.name).read())
        m = re.search(r"ready: RESP on [^ ]*:(\d+),", open(log.name).read())
        if m:
            port = int(m.group(1))
        else:
            time.sleep(0.05)
    return proc, port


def member(i):
    return "member:%09d" % i


def load(r, kind, key, n, batch=1000, depth=8):
    """Adds n members in commands of `batch` members, `depth` commands per round trip."""
    pipe = r.pipeline(transaction=False)
    queued = 0
    for start in range(0, n, batch):
        ids = range(start, min(n, start + batch))
        if kind == "hash":
            args = []
            for i in ids:
                args += [member(i), "value:%d" % i]
            pipe.execute_command("HSET", key, *args)
        elif kind == "set":
            pipe.execute_command("SADD", key, *[member(i) for i in ids])
        else:
            args = []
            for i in ids:
                args += [str(i), member(i)]
            pipe.execute_command("ZADD", key, *args)
        queued += 1
        if queued == depth:
            pipe.execute()
            queued = 0
    if queued:
        pipe.execute()


def full_scan(r, kind, key):
    cmd = {"hash": "HSCAN", "set": "SSCAN", "zset": "ZSCAN"}[kind]
    cursor, seen = b"0", set()
    while True:
        cursor, items = r.execute_command(cmd, key, cursor, "COUNT", 1000)
        # redis-py decodes HSCAN into a dict, ZSCAN into (member, score) pairs.
        if kind == "hash":
            seen.update(items.keys())
        elif kind == "zset":
            seen.update(m for m, _ in items)
        else:
            seen.update(items)
        if cursor in (b"0", 0, "0"):
            return seen


def run(args):
    server_bin = args.server_bin
    n = args.members
    work = tempfile.mkdtemp(prefix="cairn-large-")
    proc, port = start_server(server_bin, work, args.server_arg)
    sampler = Sampler(proc.pid)
    sampler.start()
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=600)
    summary = {"members": n, "server": server_bin, "steps": {}}
    rnd = random.Random(7)

    def step(name, fn):
        t = time.monotonic()
        result = fn()
        secs = time.monotonic() - t
        rss = rss_kib(proc.pid) / 1024
        anon = rss_kib(proc.pid, "RssAnon") / 1024
        summary["steps"][name] = {"seconds": round(secs, 3), "rss_mib": round(rss, 1),
                                  "anon_mib": round(anon, 1)}
        shown = "%d items" % len(result) if isinstance(result, (list, tuple)) else result
        print("%-24s %9.3f s   rss %7.1f MiB (anon %6.1f)   %s" %
              (name, secs, rss, anon, "" if shown is None else shown))
        sys.stdout.flush()
        return result

    try:
        base = rss_kib(proc.pid) / 1024
        print("cairn-server on :%d, %d members per collection, rss at start %.1f MiB" % (port, n, base))
        for kind in ("hash", "set", "zset"):
            key = "big:" + kind
            step(kind + " create", lambda: load(r, kind, key, n))
            size_cmd = {"hash": "HLEN", "set": "SCARD", "zset": "ZCARD"}[kind]
            size = step(kind + " size", lambda: r.execute_command(size_cmd, key))
            assert size == n, (kind, size)
            picks = [rnd.randrange(n) for _ in range(1000)]
            if kind == "hash":
                got = step("hash hmget 1000", lambda: r.hmget(key, [member(i) for i in picks]))
                assert got == [("value:%d" % i).encode() for i in picks]
            elif kind == "set":
                got = step("set smismember 1000",
                           lambda: r.execute_command("SMISMEMBER", key, *[member(i) for i in picks]))
                assert got == [1] * 1000
            else:
                got = step("zset zrange 0 99", lambda: r.zrange(key, 0, 99))
                assert got == [member(i).encode() for i in range(100)]
                mid = n // 2
                got = step("zset zrangebyscore 1000",
                           lambda: r.zrangebyscore(key, mid, mid + 999, withscores=True))
                assert [m for m, _ in got] == [member(i).encode() for i in range(mid, mid + 1000)]
                got = step("zset zrevrange 0 9", lambda: r.zrevrange(key, 0, 9))
                assert got == [member(i).encode() for i in range(n - 1, n - 11, -1)]
            seen = step(kind + " full scan", lambda: len(full_scan(r, kind, key)))
            assert seen == n, (kind, seen)
            deleted = step(kind + " del", lambda: r.delete(key))
            assert deleted == 1 and r.exists(key) == 0
        summary["rss_start_mib"] = round(base, 1)
        summary["rss_peak_mib"] = round(max(sampler.peak_kib, rss_kib(proc.pid, "VmHWM")) / 1024, 1)
        summary["rss_end_mib"] = round(rss_kib(proc.pid) / 1024, 1)
        summary["anon_peak_mib"] = round(sampler.peak_anon_kib / 1024, 1)
        summary["data_mib"] = round(sum(
            os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(work) for f in fs) / 2**20, 1)
        print("rss: start %.1f MiB, peak %.1f MiB (anonymous peak %.1f MiB), end %.1f MiB; "
              "data directory %.1f MiB" % (summary["rss_start_mib"], summary["rss_peak_mib"],
                                          summary["anon_peak_mib"], summary["rss_end_mib"],
                                          summary["data_mib"]))
    finally:
        sampler.stop.set()
        proc.terminate()
        proc.wait(timeout=60)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    return summary


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--members", type=int, default=1000000)
    p.add_argument("--server-bin", default=os.environ.get(
        "CAIRN_SERVER_BIN", os.path.join(ROOT, "build", "bin", "cairn-server")))
    p.add_argument("--server-arg", action="append", default=[],
                   help="extra cairn-server flag (repeatable), e.g. --server-arg=--wal-sync=none")
    p.add_argument("--json", help="write the summary here")
    p.add_argument("--keep", action="store_true", help="keep the data directory")
    return p.parse_args(argv)


if __name__ == "__main__":
    run(parse_args())
