#!/usr/bin/env python3
"""A 3-node cairn cluster (N=3, W=2, R=2) against a single cairn-server, same machine.

redis-benchmark SET and GET (64-byte values, 100 000 keys, 50 clients, pipeline 1 and 16),
and INCR, HSET and LPUSH on 100 000 small keys at pipeline 1 (INCR and HSET at 16 too:
read-modify-write commands, which in cluster mode run on the key's first replica), against node 0 of the cluster,
then against a single node; prints throughput, p50 and p99 of each and the
cluster/single ratio. All processes share this machine's cores, so
the cluster pays for three servers' work plus the replication.

    python3 bench/cluster_vs_single.py            # REQUESTS=100000 by default
    REQUESTS=20000 python3 bench/cluster_vs_single.py

CAIRN_SERVER_BIN (default build/bin/cairn-server) and REDIS_BENCHMARK (default
redis-benchmark) may be set.
"""
import csv
import io
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
os.environ.setdefault("CAIRN_SERVER_BIN", os.path.join(ROOT, "build", "bin", "cairn-server"))
from cluster_util import Cluster, Node  # noqa: E402

BENCH = os.environ.get("REDIS_BENCHMARK", "redis-benchmark")
REQUESTS = int(os.environ.get("REQUESTS", "100000"))


# Commands of many small collections (redis-benchmark's own HSET and LPUSH use one key).
CUSTOM = {
    "HSET": ["HSET", "h:__rand_int__", "f", "v"],
    "LPUSH": ["LPUSH", "l:__rand_int__", "v"],
}


def run(port, test, pipeline):
    what = CUSTOM.get(test.upper(), None)
    what = what if what else ["-t", test]
    out = subprocess.run([BENCH, "-h", "127.0.0.1", "-p", str(port), "-n",
                          str(REQUESTS), "-c", "50", "-P", str(pipeline), "-r", "100000",
                          "-d", "64", "--csv"] + what, check=True, capture_output=True,
                         text=True).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    row = rows[0]
    return float(row["rps"]), float(row["p50_latency_ms"]), float(row["p99_latency_ms"])


def measure(port):
    results = {}
    for pipeline in (1, 16):
        for test in ("set", "get"):
            results[(test.upper(), pipeline)] = run(port, test, pipeline)
    for test in ("incr", "hset", "lpush"):
        results[(test.upper(), 1)] = run(port, test, 1)
    for test in ("incr", "hset"):
        results[(test.upper(), 16)] = run(port, test, 16)
    return results


def main():
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(os.path.join(tmp, "cluster"), 3,
                          extra=["--wal-sync", "everysec", "--replicas", "3",
                                 "--write-quorum", "2", "--read-quorum", "2"])
        try:
            deadline = time.monotonic() + 30
            while True:
                text = cluster[0].raw().command("INFO", "cluster").decode()
                if "cluster_members_alive:3" in text:
                    break
                assert time.monotonic() < deadline, "cluster did not form"
                time.sleep(0.2)
            clustered = measure(cluster[0].port)
        finally:
            cluster.stop_all()
        single_dir = os.path.join(tmp, "single")
        os.makedirs(single_dir)
        log = open(os.path.join(tmp, "single.log"), "wb")
        proc = subprocess.Popen([os.environ["CAIRN_SERVER_BIN"], "--dir", single_dir, "--bind",
                                 "127.0.0.1", "--port", "auto", "--http-port", "auto", "--wal-sync",
                                 "everysec"], stdout=log, stderr=log)
        try:
            port = None
            deadline = time.monotonic() + 30
            while port is None:
                with open(os.path.join(tmp, "single.log")) as f:
                    for line in f:
                        if "ready: RESP on" in line:
                            port = int(line.split("RESP on ")[1].split(",")[0].rsplit(":", 1)[1])
                assert time.monotonic() < deadline
                time.sleep(0.05)
            single = measure(port)
        finally:
            proc.terminate()
            proc.wait()
    print("| Test | Pipeline | 3 nodes N=3 W=2 R=2: req/s, p50, p99 (ms) | single node: req/s, p50, p99 (ms) | cluster / single |")
    print("|---|---|---|---|---|")
    for (test, pipeline), (rps, p50, p99) in clustered.items():
        s_rps, s_p50, s_p99 = single[(test, pipeline)]
        print("| %s | %d | %.0f, %.3f, %.3f | %.0f, %.3f, %.3f | %.2f |" %
              (test, pipeline, rps, p50, p99, s_rps, s_p50, s_p99, rps / s_rps))


if __name__ == "__main__":
    main()
