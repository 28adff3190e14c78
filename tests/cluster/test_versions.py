"""Versions and repair between real cairn-server processes (issue 8).

(a) hinted handoff: a write while one replica is stopped is kept as a hint and delivered
    when it is back; the replica then serves the new value.
(b) read repair: a replica left stale (hinted handoff off) is repaired by a read with R=2,
    after the answer by default and before it with REPAIR SYNC.
(c) siblings: two writers on different sides of a partition (DEBUG CLUSTER-PARTITION on
    both sides) make concurrent versions; HTTP shows both with a causal context, a PUT with
    that context resolves them, RESP answers the last writer's value meanwhile.
After each, every key's N replicas hold the same versions, checked on the replicas
themselves (CAIRN.REPLICA DIGESTS), not through a coordinator.
"""
import time
import urllib.parse

import pytest

from cluster_util import (Cluster, assert_converged, divergent_keys, http_json, info,
                          preference_list, wait_for)


def alive_everywhere(nodes, expected):
    return all(info(n).get("cluster_members_alive") == str(expected) for n in nodes)


def versions_on(node, key):
    return node.raw().command("CAIRN.REPLICA", "GET", key)


def test_a_hint_for_a_stopped_replica_is_delivered_when_it_is_back(tmp_path):
    nodes = Cluster(tmp_path, 4, extra=["--wal-sync", "always"])
    try:
        wait_for("4 members alive", lambda: alive_everywhere(nodes, 4))
        by_name = {n.name: n for n in nodes}
        # A key one of whose replicas is node3; written through a node that is not node3.
        key = next(k for k in ("hinted:%d" % i for i in range(1000))
                   if "node3" in preference_list(nodes[0], k.encode()))
        replicas = preference_list(nodes[0], key.encode())
        down = by_name["node3"]
        coordinator = next(n for n in nodes if n.name != "node3")
        assert coordinator.raw().command("SET", key, "before") == "OK"
        assert_converged(nodes)
        down.stop()
        wait_for("node3 seen down", lambda: all(
            info(n).get("cluster_members_alive") == "3" for n in nodes if n is not down))
        assert coordinator.raw().command("SET", key, "after") == "OK"  # W=2 of the other two
        # The hint travels to its keeper after the write is acknowledged (W=2 reached).
        wait_for("the hint kept", lambda: sum(
            int(info(n)["cluster_hints_pending"]) for n in nodes if n is not down) == 1)
        pending = sum(int(info(n)["cluster_hints_pending"]) for n in nodes if n is not down)
        assert pending == 1
        # The hint is kept by the next node on the ring past the key's replicas (the one
        # node that is not a replica), durably.
        keeper = next(n for n in nodes if n.name not in replicas)
        assert keeper.raw().command("CAIRN.REPLICA", "HINTS") == [b"node3", 1]
        assert versions_on(keeper, key) == []  # a hint is not a replica
        down.start(nodes.seeds())
        wait_for("hint delivered", lambda: sum(
            int(info(n)["cluster_hints_delivered"]) for n in nodes) == 1)
        assert sum(int(info(n)["cluster_hints_pending"]) for n in nodes) == 0
        stored = versions_on(down, key)
        assert [v[0] for v in stored] == [b"after"]
        own = down.raw()
        assert own.command("CAIRN.CONSISTENCY", "1", "1") == "OK"
        assert own.command("GET", key) == b"after"
        assert_converged(nodes)
    finally:
        nodes.stop_all()


def test_a_read_with_r2_repairs_a_stale_replica(tmp_path):
    nodes = Cluster(tmp_path, 3, extra=["--wal-sync", "always", "--hinted-handoff", "no"])
    try:
        wait_for("3 members alive", lambda: alive_everywhere(nodes, 3))
        a, b, c = nodes
        ra = a.raw()
        for key in ("async", "sync", "missing"):
            if key != "missing":
                assert ra.command("SET", key, "old") == "OK"
        assert_converged(nodes)
        c.stop()
        wait_for("c seen down", lambda: info(a)["cluster_members_alive"] == "2")
        for key in ("async", "sync", "missing"):
            assert ra.command("SET", key, "new") == "OK"
        c.start(nodes.seeds())
        wait_for("c back", lambda: alive_everywhere(nodes, 3))
        # Nothing told c: it is stale (and lacks "missing").
        assert [v[0] for v in versions_on(c, "async")] == [b"old"]
        assert versions_on(c, "missing") == []
        stale = [k for k, _ in divergent_keys(nodes)]
        assert sorted(stale) == [b"async", b"missing", b"sync"]
        # Default: repaired after the answer.
        rb = b.raw()
        assert rb.command("GET", "async") == b"new"
        assert rb.command("GET", "missing") == b"new"
        wait_for("async repair", lambda: [v[0] for v in versions_on(c, "async")] == [b"new"], 10)
        wait_for("missing repaired", lambda: [v[0] for v in versions_on(c, "missing")] == [b"new"], 10)
        # REPAIR SYNC: repaired before the answer.
        assert rb.command("CAIRN.CONSISTENCY", "2", "2", "REPAIR", "SYNC") == "OK"
        assert rb.command("CAIRN.CONSISTENCY") == [2, 2, b"sync"]
        assert rb.command("GET", "sync") == b"new"
        assert [v[0] for v in versions_on(c, "sync")] == [b"new"]
        assert int(info(b)["cluster_read_repairs"]) >= 3
        assert_converged(nodes)
    finally:
        nodes.stop_all()


def test_writers_on_two_sides_of_a_partition_make_siblings_that_a_put_with_context_resolves(tmp_path):
    nodes = Cluster(tmp_path, 3, extra=["--wal-sync", "always", "--enable-debug-command", "yes"])
    try:
        wait_for("3 members alive", lambda: alive_everywhere(nodes, 3))
        a, b, c = nodes
        assert a.raw().command("SET", "doc", "base") == "OK"
        assert_converged(nodes)
        # node0 on one side, node1 and node2 on the other: no gossip, no replica traffic.
        assert a.raw().command("DEBUG", "CLUSTER-PARTITION", "node1", "node2") == "OK"
        for n in (b, c):
            assert n.raw().command("DEBUG", "CLUSTER-PARTITION", "node0") == "OK"
        wait_for("partition seen", lambda: info(a)["cluster_members_alive"] == "1"
                 and info(c)["cluster_members_alive"] == "2")
        ra, rc = a.raw(), c.raw()
        for conn in (ra, rc):
            assert conn.command("CAIRN.CONSISTENCY", "1", "1") == "OK"
        assert ra.command("SET", "doc", "written on node0") == "OK"
        time.sleep(0.01)
        assert rc.command("SET", "doc", "written on node2") == "OK"  # later: the LWW winner
        assert ra.command("GET", "doc") == b"written on node0"  # each side sees its own
        for n in nodes:
            assert n.raw().command("DEBUG", "CLUSTER-HEAL") == "OK"
        wait_for("partition healed", lambda: alive_everywhere(nodes, 3))
        # Hints carry each side's write to the other: both versions everywhere.
        wait_for("hints delivered", lambda: sum(int(info(n)["cluster_hints_pending"]) for n in nodes) == 0)
        status, body = http_json(b, "GET", "/v1/kv/doc?siblings=true&r=3")
        assert status == 200, body
        assert sorted(s["value"] for s in body["siblings"]) == ["written on node0", "written on node2"]
        assert b.raw().command("GET", "doc") == b"written on node2"  # RESP: last writer wins
        assert all(len(versions_on(n, "doc")) == 2 for n in nodes)
        assert_converged(nodes)
        # A PUT with the context supersedes both.
        context = urllib.parse.quote(body["context"])
        status, put = http_json(a, "PUT", "/v1/kv/doc?w=3&context=" + context, b"merged")
        assert status == 200, put
        status, body = http_json(c, "GET", "/v1/kv/doc?siblings=true&r=3")
        assert [s["value"] for s in body["siblings"]] == ["merged"]
        assert all([v[0] for v in versions_on(n, "doc")] == [b"merged"] for n in nodes)
        # The context a PUT returns covers that PUT: writing with it replaces, no sibling.
        status, again = http_json(a, "PUT", "/v1/kv/doc?w=3&context=" + urllib.parse.quote(put["context"]),
                                  b"merged again")
        assert status == 200, again
        status, body = http_json(c, "GET", "/v1/kv/doc?siblings=true&r=3")
        assert [s["value"] for s in body["siblings"]] == ["merged again"], body
        # A stale context (from before the merge) makes a sibling, not a silent overwrite.
        status, _ = http_json(c, "PUT", "/v1/kv/doc?w=3&context=" + context, b"stale writer")
        assert status == 200
        status, body = http_json(c, "GET", "/v1/kv/doc?siblings=true&r=3")
        assert sorted(s["value"] for s in body["siblings"]) == ["merged again", "stale writer"]
        assert_converged(nodes)
        status, body = http_json(c, "PUT", "/v1/kv/doc?context=not-a-context", b"x")
        assert status == 400 and "context" in body["error"]
    finally:
        nodes.stop_all()


def test_a_delete_every_replica_stored_is_collected_after_the_grace(tmp_path):
    nodes = Cluster(tmp_path, 3, extra=["--hint-window", "1", "--tombstone-grace", "2",
                                        "--max-clock-drift", "0"])
    try:
        wait_for("3 members alive", lambda: alive_everywhere(nodes, 3))
        a, b, c = nodes
        ra = a.raw()
        assert ra.command("CAIRN.CONSISTENCY", "3", "3") == "OK"
        assert ra.command("SET", "gone", "v") == "OK"
        assert ra.command("SET", "kept", "v") == "OK"
        assert ra.command("DEL", "gone") == 1
        assert all(versions_on(n, "gone")[0][0] is None for n in nodes)  # tombstones
        wait_for("tombstones collected", lambda: all(versions_on(n, "gone") == [] for n in nodes), 15)
        assert sum(int(info(n)["cluster_tombstones_collected"]) for n in nodes) == 3
        assert ra.command("GET", "gone") is None
        assert ra.command("GET", "kept") == b"v"
        assert_converged(nodes)
    finally:
        nodes.stop_all()


def test_tombstone_grace_shorter_than_the_hint_window_is_refused(tmp_path):
    with pytest.raises(AssertionError, match="tombstone-grace"):
        Cluster(tmp_path, 1, extra=["--hint-window", "100", "--tombstone-grace", "10"])
