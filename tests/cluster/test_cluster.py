"""Multi-process cluster tests: real cairn-server nodes on loopback ports (issue 7).

A 3-node and a 5-node cluster come up from one seed; a key written through node A is read
through node C; with N=3 W=2 R=2 a node is killed with SIGKILL during a write load and every
acknowledged write is still readable through the survivors; W=3 with a node down is
refused with the quorum error; commands without a cluster form are refused by name.
"""
import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from cluster_util import Cluster
from conftest import RespError


def info(node):
    text = node.raw().command("INFO", "cluster").decode()
    return dict(line.split(":", 1) for line in text.split("\r\n") if ":" in line)


def wait_alive(nodes, expected, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        states = [(n.name, info(n).get("cluster_members_alive")) for n in nodes]
        if all(alive == str(expected) for _, alive in states):
            return
        assert time.monotonic() < deadline, "membership did not converge: %s" % states
        time.sleep(0.2)


@pytest.fixture
def cluster3(tmp_path):
    c = Cluster(tmp_path, 3, extra=["--wal-sync", "always"])
    yield c
    c.stop_all()


def test_three_nodes_come_up_and_serve_every_key_from_every_node(cluster3):
    wait_alive(list(cluster3), 3)
    a, b, c = cluster3
    ra, rc = a.raw(), c.raw()
    for i in range(300):
        assert ra.command("SET", "key:%d" % i, "value:%d" % i) == "OK"
    for i in range(300):
        assert rc.command("GET", "key:%d" % i) == b"value:%d" % i
    assert rc.command("GET", "missing") is None
    # Counters, expiry, deletes, multi-key commands, through different nodes.
    rb = b.raw()
    assert rb.command("INCRBY", "counter", "5") == 5
    assert ra.command("INCR", "counter") == 6
    assert rc.command("SET", "ttl", "v", "EX", "100") == "OK"
    assert 95 <= ra.command("TTL", "ttl") <= 100
    assert rb.command("MSET", "m1", "1", "m2", "2") == "OK"
    assert rc.command("MGET", "m1", "m2", "m3") == [b"1", b"2", None]
    assert ra.command("DEL", "m1", "m2", "m3") == 2
    assert rb.command("EXISTS", "m1", "m2") == 0
    # Every member sees 3 up, each owning about a third with 3 replicas (all of it: N=3).
    i = info(a)
    assert i["cluster_members"] == "3" and i["cluster_ring_members"] == "3"
    # Commands with no cluster form are refused by name, never run on one node.
    for cmd in (("SWAPDB", "0", "1"), ("CAIRN.RANGE", "a", "b")):
        reply = ra.command(*cmd)
        assert isinstance(reply, RespError) and "is not supported in cluster mode" in reply, cmd
    # Commands of several keys are refused as Redis Cluster refuses keys of two slots.
    reply = ra.command("RENAME", "counter", "c2")
    assert isinstance(reply, RespError) and reply.startswith("CROSSSLOT"), reply
    assert ra.command("PING") == "PONG"


def test_flushdb_and_flushall_clear_every_node_and_need_every_node_up(cluster3):
    wait_alive(list(cluster3), 3)
    a, b, c = cluster3
    ra, rb = a.raw(), b.raw()
    for i in range(50):
        assert ra.command("SET", "k%d" % i, "v") == "OK"
        assert ra.command("HSET", "h%d" % i, "f", "v") == 1
    assert rb.command("SELECT", "1") == "OK"
    assert rb.command("SET", "other", "v") == "OK"
    assert c.raw().command("DBSIZE") == 100
    # INFO keyspace: the keys each node holds replicas of (all of them: N=3 on 3 nodes).
    for n in cluster3:
        text = n.raw().command("INFO", "keyspace").decode()
        assert "db0:keys=100,expires=0" in text and "db1:keys=1,expires=0" in text, text
    assert ra.command("FLUSHDB", "bogus").startswith("ERR syntax")
    assert c.raw().command("FLUSHDB", "ASYNC") == "OK"  # db 0, through another node
    for n in cluster3:
        assert n.raw().command("DBSIZE") == 0
        assert n.raw().command("CAIRN.REPLICA", "DIGESTS", "") == [b"", []]
        assert n.raw().command("GET", "k1") is None
    assert rb.command("GET", "other") == b"v"  # db 1 untouched
    assert ra.command("FLUSHALL") == "OK"
    assert rb.command("GET", "other") is None
    assert ra.command("SET", "after", "1") == "OK"
    c.kill()
    wait_alive([a, b], 2)
    reply = ra.command("FLUSHDB")
    assert isinstance(reply, RespError) and reply.startswith("NOQUORUM") and "node2" in reply, reply
    assert ra.command("GET", "after") == b"1"


def test_blocking_pops_wait_for_a_push_through_another_node(cluster3):
    wait_alive(list(cluster3), 3)
    a, b, c = cluster3
    ra = a.raw(timeout=30)
    assert ra.command("BLPOP", "{q}empty", "0.3") is None  # times out with nil
    result = {}

    def waiter():
        start = time.monotonic()
        result["value"] = ra.command("BLPOP", "{q}a", "{q}b", "10")
        result["elapsed"] = time.monotonic() - start

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.5)
    assert c.raw().command("RPUSH", "{q}b", "job") == 1  # pushed through another node
    t.join(15)
    assert result["value"] == [b"{q}b", b"job"] and result["elapsed"] < 5, result
    assert b.raw().command("LLEN", "{q}b") == 0
    # BLMOVE: answers at once when there is something to move.
    assert b.raw().command("RPUSH", "{q}src", "x") == 1
    assert ra.command("BLMOVE", "{q}src", "{q}dst", "LEFT", "RIGHT", "5") == b"x"
    assert c.raw().command("LRANGE", "{q}dst", "0", "-1") == [b"x"]
    reply = ra.command("BLPOP", "{q}a", "other", "1")
    assert isinstance(reply, RespError) and reply.startswith("CROSSSLOT"), reply
    reply = ra.command("BLPOP", "{q}a", "-1")
    assert isinstance(reply, RespError) and reply == "ERR timeout is negative", reply


def test_keys_dbsize_and_scan_gather_from_every_node(cluster3):
    wait_alive(list(cluster3), 3)
    a, b, c = cluster3
    ra = a.raw()
    for i in range(250):
        assert ra.command("SET", "k:%03d" % i, "v") == "OK"
    assert ra.command("SET", "other", "v") == "OK"
    assert ra.command("DEL", "k:000") == 1
    rc = c.raw()
    assert rc.command("DBSIZE") == 250
    assert sorted(rc.command("KEYS", "k:*")) == [b"k:%03d" % i for i in range(1, 250)]
    seen, cursor = [], b"0"
    while True:
        cursor, keys = b.raw().command("SCAN", cursor, "MATCH", "k:*", "COUNT", "40")
        seen += keys
        if cursor == b"0":
            break
    assert sorted(seen) == [b"k:%03d" % i for i in range(1, 250)]  # each exactly once


def test_cluster_status_over_http_and_the_cli(cluster3):
    wait_alive(list(cluster3), 3)
    a, b, c = cluster3
    with urllib.request.urlopen("http://127.0.0.1:%d/v1/cluster?key=user%%3A42" % b.http_port,
                                timeout=10) as r:
        status = json.loads(r.read())
    assert (status["replicas"], status["write_quorum"], status["read_quorum"]) == (3, 2, 2)
    assert sorted(m["id"] for m in status["members"]) == ["node0", "node1", "node2"]
    assert all(m["state"] == "up" for m in status["members"])
    assert abs(sum(m["owns_primary"] for m in status["members"]) - 1.0) < 1e-6
    assert status["key"] == "user:42" and sorted(status["preference_list"]) == [
        "node0", "node1", "node2"]
    cli = os.environ.get("CAIRN_BIN", os.path.join(os.path.dirname(__file__), "..", "..",
                                                   "build", "bin", "cairn"))
    out = subprocess.run([cli, "cluster", "status", "--http-port", str(a.http_port), "--key",
                          "user:42"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "N=3 W=2 R=2" in out.stdout
    for name in ("node0", "node1", "node2"):
        assert name in out.stdout
    assert "replicas of user:42:" in out.stdout
    c.kill()
    wait_alive([a, b], 2)
    out = subprocess.run([cli, "cluster", "status", "--http-port", str(a.http_port)],
                         capture_output=True, text=True, timeout=30)
    line = [l for l in out.stdout.splitlines() if l.startswith("node2")][0]
    assert " down " in line


def http(node, method, path, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (node.http_port, path), data=body,
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_http_api_with_w_and_r_through_any_node(cluster3):
    wait_alive(list(cluster3), 3)
    a, b, c = cluster3
    for i in range(20):
        assert http(a, "PUT", "/v1/kv/h:%02d?w=2" % i, b"v%d" % i)[0] == 200
    assert http(c, "GET", "/v1/kv/h:05?r=2") == (200, b"v5")
    assert http(b, "GET", "/v1/kv/h:05?r=3") == (200, b"v5")
    assert http(c, "GET", "/v1/kv/nope")[0] == 404
    status, body = http(b, "GET", "/v1/kv?prefix=h:&limit=100&values=false")
    assert status == 200
    assert [item["key"] for item in json.loads(body)["items"]] == ["h:%02d" % i for i in range(20)]
    assert http(c, "DELETE", "/v1/kv/h:00")[1] == b'{"deleted":1}\n'
    assert http(a, "GET", "/v1/kv/h:00")[0] == 404
    assert http(a, "PUT", "/v1/kv/x?w=9", b"1")[0] == 400
    assert http(a, "POST", "/v1/batch", b'{"ops":[]}') == (200, b'{"applied":0}\n')
    c.kill()
    wait_alive([a, b], 2)
    status, body = http(a, "PUT", "/v1/kv/h:01?w=3", b"new")
    assert status == 503
    assert json.loads(body) == {"error": "NOQUORUM write needs 3 replicas, 2 up (N=3)",
                                "status": 503}
    assert http(b, "GET", "/v1/kv/h:01") == (200, b"v1")


def test_five_nodes_spread_keys_over_three_replicas_each(tmp_path):
    c = Cluster(tmp_path, 5, extra=["--wal-sync", "none"])
    try:
        wait_alive(list(c), 5)
        first = c[0].raw()
        for i in range(200):
            assert first.command("SET", "k%d" % i, "v%d" % i) == "OK"
        for node in c:
            r = node.raw()
            for i in range(0, 200, 7):
                assert r.command("GET", "k%d" % i) == b"v%d" % i
        shares = []
        for line_key, value in info(c[2]).items():
            if line_key.startswith("member"):
                shares.append(float(value.split("owns=")[1]))
        assert len(shares) == 5
        assert abs(sum(shares) - 3.0) < 1e-6  # 3 replicas of every position
        assert max(shares) / min(shares) < 1.15
    finally:
        c.stop_all()


def test_kill9_during_writes_loses_no_acknowledged_write(cluster3):
    wait_alive(list(cluster3), 3)
    a, b, c = cluster3
    acked = {}
    stop = threading.Event()
    errors = []

    def writer(node, prefix):
        r = node.raw(timeout=10)
        i = 0
        while not stop.is_set():
            key = "%s:%d" % (prefix, i)
            try:
                reply = r.command("SET", key, "v%d" % i)
            except OSError:
                r = node.raw(timeout=10)
                continue
            if reply == "OK":
                acked[key] = b"v%d" % i
            elif not isinstance(reply, RespError):
                errors.append(reply)
            i += 1

    threads = [threading.Thread(target=writer, args=(n, n.name)) for n in (a, b)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    c.kill()  # SIGKILL one replica in the middle of the load
    time.sleep(2.0)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert len(acked) > 100
    # Every acknowledged write is readable through the survivors (R=2 of the two left).
    for node in (a, b):
        r = node.raw()
        for key, value in acked.items():
            assert r.command("GET", key) == value, (node.name, key)


def test_w3_with_a_node_down_is_refused_with_noquorum(cluster3):
    wait_alive(list(cluster3), 3)
    a, b, c = cluster3
    r = a.raw()
    assert r.command("SET", "k", "before") == "OK"
    c.kill()
    wait_alive([a, b], 2)
    assert r.command("CAIRN.CONSISTENCY", "3", "2") == "OK"
    reply = r.command("SET", "k", "after")
    assert isinstance(reply, RespError)
    assert reply == "NOQUORUM write needs 3 replicas, 2 up (N=3)"
    assert r.command("GET", "k") == b"before"  # nothing was written
    assert r.command("CAIRN.CONSISTENCY", "0", "0") == "OK"  # back to W=2 R=2
    assert r.command("SET", "k", "after") == "OK"
    assert b.raw().command("GET", "k") == b"after"
    i = info(a)
    assert int(i["cluster_quorum_failures"]) >= 1
    assert int(i["cluster_writes"]) >= 3 and float(i["cluster_write_fanout_avg_us"]) > 0
    peers = [v for k, v in i.items() if k.startswith("peer")]
    assert len(peers) == 2 and all("calls=" in p for p in peers)
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % a.http_port, timeout=10) as r:
        metrics = r.read().decode()
    assert "cairn_cluster_quorum_failures_total" in metrics
    assert 'cairn_cluster_peer_calls_total{peer="' in metrics
