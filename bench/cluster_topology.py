#!/usr/bin/env python3
"""Topology changes, measured (docs/cluster.md, "Topology changes"; issue 17).

A 3-node cluster (N=3, W=2, R=2) is loaded with KEYS values of VALUE bytes, then:
1. client latency (redis-benchmark GET and SET, 20 clients, pipeline 1) before any change;
2. node3 joins unthrottled (transfer-rate 0) while the same clients run: the join's time,
   the bytes node3 received, MB/s, and the clients' p99 during it;
3. node3 leaves (decommission), unthrottled: time and MB/s;
4. node4 joins with transfer-rate 8mb: time and MB/s (the throttle holds);
5. node4 is killed (its disk counts as lost) and node5, empty, replaces it (cairn cluster
   replace): the time from the request until node5 holds node4's ranges, and the bytes;
6. node5 is killed too and removed: the time until its ranges are back on N replicas on
   the three others, and the bytes they received.

    python3 bench/cluster_topology.py            # KEYS=200000 VALUE=200 by default

All processes share this machine's cores. Prints one table; docs/BENCHMARKS.md keeps them.
"""
import csv
import io
import os
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
os.environ.setdefault("CAIRN_SERVER_BIN", os.path.join(ROOT, "build", "bin", "cairn-server"))
from cluster_util import Cluster, Node, http_json, info, wait_for  # noqa: E402

KEYS = int(os.environ.get("KEYS", "200000"))
VALUE = int(os.environ.get("VALUE", "200"))
BENCH = os.environ.get("REDIS_BENCHMARK", "redis-benchmark")
EXTRA = ["--replicas", "3", "--write-quorum", "2", "--read-quorum", "2",
         "--wal-sync", "everysec", "--transfer-rate", "0"]


def clients(port, seconds):
    """GET and SET at P1 for about `seconds`: (rps, p99 ms) of each."""
    out = {}
    for test in ("get", "set"):
        n = str(int(3000 * seconds))
        text = subprocess.run([BENCH, "-h", "127.0.0.1", "-p", str(port), "-n", n, "-c", "20",
                               "-r", str(KEYS), "-d", str(VALUE), "--csv", "-t", test],
                              check=True, capture_output=True, text=True).stdout
        row = list(csv.DictReader(io.StringIO(text)))[0]
        out[test] = (float(row["rps"]), float(row["p99_latency_ms"]))
    return out


def received(nodes):
    return sum(int(info(n).get("cluster_transfer_bytes_received", 0)) for n in nodes
               if n.proc is not None)


def settled(nodes, expected):
    live = [n for n in nodes if n.proc is not None]
    return all(info(n).get("cluster_members_alive") == str(expected)
               and info(n).get("cluster_pending_change", "") == "" for n in live)


def change(nodes, expected, start, under_load=None):
    """Waits for the change to finish; (seconds, bytes received by everyone, client stats)."""
    before = received(nodes)
    t0 = time.monotonic()
    stats = {}
    worker = None
    if under_load is not None:
        worker = threading.Thread(target=lambda: stats.update(clients(under_load, 4)))
        worker.start()
    start()
    wait_for("change done", lambda: settled(nodes, expected), 1800, 0.2)
    seconds = time.monotonic() - t0
    if worker is not None:
        worker.join()
    return seconds, received(nodes) - before, stats


def main():
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(tmp, 3, extra=EXTRA)
        nodes = cluster.nodes
        try:
            wait_for("3 up", lambda: settled(nodes, 3), 60)
            conn = nodes[0].raw(timeout=60)
            value = "v" * VALUE
            for start in range(0, KEYS, 500):
                args = []
                for i in range(start, min(KEYS, start + 500)):
                    args += ["key:%012d" % i, value]
                conn.command("MSET", *args)
            before = clients(nodes[0].port, 4)
            rows.append(("clients, no change", "", "", "", before))

            def join(name, rate="0"):
                node = Node(tmp, name, EXTRA[:-1] + [rate])  # the receiver's transfer-rate
                nodes.append(node)
                return lambda: node.start(cluster.seeds())

            s, b, during = change(nodes, 4, join("node3"), under_load=nodes[0].port)
            rows.append(("node3 joins, unthrottled", s, b, b / s / 1e6, during))

            s, b, _ = change(nodes, 3, lambda: http_json(nodes[3], "POST", "/v1/cluster/leave"))
            rows.append(("node3 leaves, unthrottled", s, b, b / s / 1e6, {}))
            nodes[3].stop()

            s, b, _ = change(nodes, 4, join("node4", "8mb"))
            rows.append(("node4 joins, transfer-rate 8mb", s, b, b / s / 1e6, {}))

            nodes[4].kill()  # its disk is gone: node5, empty, takes its place
            wait_for("node4 down", lambda: info(nodes[0]).get("cluster_members_alive") == "3", 60)
            node5 = Node(tmp, "node5", EXTRA)
            node5.start(cluster.seeds())
            nodes.append(node5)
            wait_for("node5 sees node4 down", lambda: http_json(
                node5, "GET", "/v1/cluster/plan?change=replace&node=node4")[0] == 200, 60, 0.2)
            s, b, _ = change(nodes, 4, lambda: http_json(node5, "POST", "/v1/cluster/replace?node=node4"))
            rows.append(("node4's disk lost; node5 (empty) replaces it", s, b, b / s / 1e6, {}))

            node5.kill()  # its disk is gone too: removed, its ranges rebuilt on the others
            wait_for("node5 down", lambda: info(nodes[0]).get("cluster_members_alive") == "3", 60)
            s, b, _ = change(nodes, 3, lambda: http_json(nodes[0], "POST", "/v1/cluster/remove?node=node5"))
            rows.append(("node5's disk lost; removed (ranges rebuilt)", s, b, b / s / 1e6, {}))
        finally:
            cluster.stop_all()
    print("%d keys of %d bytes, 3 nodes N=3 W=2 R=2, same machine" % (KEYS, VALUE))
    print("| step | seconds | bytes received | MB/s | GET P1 rps, p99 ms | SET P1 rps, p99 ms |")
    print("|---|---|---|---|---|---|")
    for name, s, b, rate, st in rows:
        def cell(test):
            return "%.0f, %.2f" % st[test] if test in st else ""
        print("| %s | %s | %s | %s | %s | %s |" % (
            name, "%.1f" % s if s != "" else "", b, "%.1f" % rate if rate != "" else "",
            cell("get"), cell("set")))


if __name__ == "__main__":
    main()
