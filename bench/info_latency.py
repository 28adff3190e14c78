#!/usr/bin/python3
"""INFO and DBSIZE latency on a large keyspace (issue 20, must-show 5).

Starts build/bin/cairn-server on a fresh directory, loads --keys keys (MSET of 1000 keys
per command, pipelined; 1 in 10 with an expiry), checks INFO keyspace names them all,
then times --calls plain INFO (every default section) and DBSIZE calls, one at a time,
and prints the median, p99 and max. Figures and the command line in docs/BENCHMARKS.md.

  /usr/bin/python3 bench/info_latency.py --keys 10000000
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import redis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=10_000_000)
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--server", default=os.path.join(ROOT, "build", "bin", "cairn-server"))
    ap.add_argument("--dir", default=None, help="data directory (default: a temporary one)")
    a = ap.parse_args()
    tmp = a.dir or tempfile.mkdtemp(prefix="info-bench-")
    log = open(os.path.join(tmp, "server.log"), "ab")
    proc = subprocess.Popen([a.server, "--dir", os.path.join(tmp, "data"), "--port", "auto",
                             "--http-port", "0", "--wal-sync", "none"], stdout=log, stderr=log)
    try:
        port = None
        deadline = time.monotonic() + 30
        while port is None:
            with open(os.path.join(tmp, "server.log"), "rb") as f:
                m = re.search(rb"ready: RESP on [^ ]+:(\d+)", f.read())
            if m:
                port = int(m.group(1))
            assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
            time.sleep(0.05)
        r = redis.Redis(port=port, socket_timeout=300)
        while True:
            try:
                r.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        t = time.monotonic()
        batch = 1000
        p = r.pipeline(transaction=False)
        for i in range(0, a.keys, batch):
            p.mset({b"key:%d" % j: b"v" for j in range(i, min(a.keys, i + batch))})
            if (i // batch) % 100 == 99:
                p.execute()
        p.execute()
        p = r.pipeline(transaction=False)
        expiring = 0
        for i in range(0, a.keys, 10):
            p.expire(b"key:%d" % i, 86400)
            expiring += 1
            if expiring % 100_000 == 0:
                p.execute()
        p.execute()
        load_s = time.monotonic() - t
        ks = r.info("keyspace")["db0"]
        assert ks["keys"] == a.keys and ks["expires"] == expiring, ks
        for name, cmd in (("INFO", ("INFO",)), ("DBSIZE", ("DBSIZE",))):
            times = []
            for _ in range(a.calls):
                t = time.perf_counter()
                r.execute_command(*cmd)
                times.append(time.perf_counter() - t)
            times.sort()
            print("%s on %d keys: median %.3f ms, p99 %.3f ms, max %.3f ms (%d calls, one "
                  "at a time, client round trip included)" %
                  (name, a.keys, times[len(times) // 2] * 1e3, times[int(len(times) * 0.99)] * 1e3,
                   times[-1] * 1e3, a.calls))
        print("loaded %d keys (%d with an expiry) in %.1f s; db0 %s" % (a.keys, expiring, load_s, ks))
    finally:
        proc.terminate()
        proc.wait()
        if a.dir is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
