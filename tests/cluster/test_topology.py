"""Topology changes under load (docs/cluster.md, "Topology changes"): 3 -> 5 -> 3 nodes
while clients write strings, counters and hashes at W=2, with kill -9 of a node receiving
ranges and of one sending them in the middle of the transfers. Afterwards: no
acknowledged write is lost, every key reads its latest acknowledged value at R=1 and R=2
through every node, every counter holds its acknowledged increments, replicas agree, and
no node keeps keys of ranges it no longer owns.

CAIRN_TOPOLOGY_SECONDS (default 0: the bounded run of the suite) adds that many seconds of
load after the joins and after the leaves: the longer run of docs/cluster.md.
"""
import os
import random
import threading
import time

import pytest

from cluster_util import (Cluster, Node, divergent_keys, http_json, info, preference_list,
                          replica_digests, wait_for)

EXTRA = ["--replicas", "3", "--write-quorum", "2", "--read-quorum", "2", "--enable-debug-command", "yes",
         "--transfer-rate", "400kb"]
STRINGS = 1500
COUNTERS = 40
HASHES = 30
EXTRA_SECONDS = float(os.environ.get("CAIRN_TOPOLOGY_SECONDS", "0"))


class Load:
    """Clients writing through every live node. Each key has one writer at a time, so the
    last acknowledged value of a key is the one it must read."""

    def __init__(self, nodes):
        self.nodes = nodes
        self.stop = threading.Event()
        self.strings = {}      # key -> last acknowledged value
        self.pending = {}      # key -> values written without an answer since the last ack
        self.counters = {}     # key -> (acknowledged increments, attempted increments)
        self.fields = {}       # (hash, field) -> last acknowledged value
        self.field_pending = {}
        self.errors = 0
        self.acks = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(3)]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def conn(self, rng):
        live = [n for n in self.nodes if n.proc is not None and n.port]
        return rng.choice(live).raw(timeout=10)

    def run(self, worker):
        rng = random.Random(worker)
        conn = None
        seq = 0
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = self.conn(rng)
                what = rng.random()
                seq += 1
                if what < 0.6:
                    key = "s%d" % (rng.randrange(STRINGS // 3) * 3 + worker)
                    value = "%d-%d" % (worker, seq)
                    with self.lock:
                        self.pending.setdefault(key, set()).add(value)
                    reply = conn.command("SET", key, value)
                    if reply == b"OK":
                        with self.lock:
                            self.strings[key] = value
                            self.pending[key] = set()
                            self.acks += 1
                elif what < 0.8:
                    key = "c%d" % (rng.randrange(COUNTERS // 3) * 3 + worker)
                    with self.lock:
                        acked, tried = self.counters.get(key, (0, 0))
                        self.counters[key] = (acked, tried + 1)
                    reply = conn.command("INCR", key)
                    if isinstance(reply, int):
                        with self.lock:
                            acked, tried = self.counters[key]
                            self.counters[key] = (acked + 1, tried)
                            self.acks += 1
                else:
                    h = "h%d" % (rng.randrange(HASHES // 3) * 3 + worker)
                    field = "f%d" % rng.randrange(5)
                    value = "%d-%d" % (worker, seq)
                    with self.lock:
                        self.field_pending.setdefault((h, field), set()).add(value)
                    reply = conn.command("HSET", h, field, value)
                    if isinstance(reply, int):
                        with self.lock:
                            self.fields[(h, field)] = value
                            self.field_pending[(h, field)] = set()
                            self.acks += 1
            except Exception:  # an error reply or a killed node: not acknowledged
                self.errors += 1
                conn = None
                time.sleep(0.05)


def wait_members(nodes, expected, timeout=90):
    wait_for("%d members up" % expected,
             lambda: all(info(n).get("cluster_members_alive") == str(expected)
                         and info(n).get("cluster_pending_change", "") == ""
                         for n in nodes if n.proc is not None), timeout)


def formed_and_loaded(nodes):
    """Once the 3 nodes formed: STRINGS keys of 200 bytes (data to move: transfers take
    seconds at 400 KB/s), then the clients' Load, started."""
    wait_members(nodes, 3)
    conn = nodes[0].raw()
    for i in range(STRINGS):
        conn.command("SET", "pre%d" % i, "x" * 200)
    load = Load(nodes)
    load.start()
    return load


def wait_transferring(node, timeout=30):
    """Until node has received some keys of a change still under way."""
    def receiving():
        status, body = http_json(node, "GET", "/v1/cluster/transfers")
        return status == 200 and body["receiving"] and body["keys_received"] > 0
    wait_for("transfers to %s" % node.name, receiving, timeout)


CLI = os.environ.get("CAIRN_BIN", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "bin", "cairn"))


def cli(*args):
    import subprocess
    done = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def member_status(node, name):
    for m in http_json(node, "GET", "/v1/cluster")[1]["members"]:
        if m["id"] == name:
            return m["status"]
    return None


def check_reads(load, nodes, w, r):
    for node in nodes:
        conn = node.raw(timeout=10)
        assert conn.command("CAIRN.CONSISTENCY", str(w), str(r)) in ("OK", b"OK")
        for key, value in load.strings.items():
            got = conn.command("GET", key)
            assert got == value.encode() or (got is not None and got.decode() in
                                              load.pending.get(key, ())), \
                "%s: %s at R=%d read %r, last acknowledged %r" % (node.name, key, r, got, value)
        for key, (acked, tried) in load.counters.items():
            got = int(conn.command("GET", key) or 0)
            assert acked <= got <= tried, "%s: counter %s is %d, acknowledged %d, tried %d" % (
                node.name, key, got, acked, tried)
        for (h, field), value in load.fields.items():
            got = conn.command("HGET", h, field)
            assert got == value.encode() or (got is not None and got.decode() in
                                              load.field_pending.get((h, field), ())), \
                "%s: %s.%s read %r, last acknowledged %r" % (node.name, h, field, got, value)


def check_after(load, nodes):
    """After the changes: replicas agree with no reads (within 60 s), every read agrees
    with the load's acknowledgements at R=2 and R=1 through every node, the preloaded keys
    are there, and old owners drop what they gave away."""
    deadline = time.monotonic() + 60
    while divergent_keys(nodes):
        if time.monotonic() > deadline:
            bad = divergent_keys(nodes)[:3]
            detail = {key: {n.name: n.raw().command("CAIRN.REPLICA", "GET", key) for n in nodes}
                      for key, _ in bad}
            raise AssertionError("replicas differ: %s" % detail)
        time.sleep(1)
    check_reads(load, nodes, 2, 2)
    check_reads(load, nodes, 2, 1)
    for i in range(0, STRINGS, 7):
        assert nodes[-1].raw().command("GET", "pre%d" % i) == b"x" * 200
    wait_for("old copies dropped", lambda: not _misplaced(nodes), 60, 1)


def check_ownership(nodes):
    """No node keeps a key of a range it does not own."""
    for node in nodes:
        for key in replica_digests(node):
            owners = preference_list(nodes[0], key.decode())
            assert node.name in owners, "%s still holds %r, owned by %s" % (node.name, key, owners)


def test_grow_to_five_and_shrink_to_three_under_load(tmp_path):
    cluster = Cluster(tmp_path, 3, extra=EXTRA)
    nodes = cluster.nodes
    try:
        load = formed_and_loaded(nodes)
        time.sleep(1)

        # Grow: two nodes join; one is killed while it receives, one sender while it sends.
        for name in ("node3", "node4"):
            node = Node(tmp_path, name, EXTRA)
            node.start(cluster.seeds())
            nodes.append(node)
        wait_transferring(nodes[3])
        nodes[3].kill()
        time.sleep(0.5)
        nodes[3].start(cluster.seeds())
        wait_transferring(nodes[4])
        nodes[1].kill()
        time.sleep(0.5)
        nodes[1].start(cluster.seeds())
        wait_members(nodes, 5)
        time.sleep(EXTRA_SECONDS)

        # Shrink: node4 and node3 leave, one after the other; node3's sender is killed.
        for leaving in (nodes[4], nodes[3]):
            status, body = http_json(leaving, "POST", "/v1/cluster/leave")
            assert status == 202, body
            if leaving is nodes[3]:
                status, body = http_json(nodes[0], "POST", "/v1/cluster/remove?node=node1")
                assert status == 409, body  # one change at a time
                time.sleep(0.3)
                leaving.kill()
                time.sleep(0.5)
                leaving.start(cluster.seeds())
            wait_for("%s left" % leaving.name,
                     lambda: member_status(nodes[0], leaving.name) == "left", 120)
            leaving.stop()
        nodes[:] = nodes[:3]
        wait_members(nodes, 3)
        time.sleep(EXTRA_SECONDS)
        load.finish()
        assert load.acks > 100, (load.acks, load.errors)

        # Replicas agree with no reads (hints, hand-offs), then every read agrees.
        check_after(load, nodes)
    finally:
        cluster.stop_all()


def _misplaced(nodes):
    try:
        check_ownership(nodes)
        return False
    except AssertionError:
        return True


def test_one_change_at_a_time_and_plan(tmp_path):
    cluster = Cluster(tmp_path, 3, extra=EXTRA)
    nodes = cluster.nodes
    try:
        wait_members(nodes, 3)
        status, plan = http_json(nodes[2], "GET", "/v1/cluster/plan?change=leave")
        assert status == 200, plan
        # Three nodes and N=3: the other two hold everything already; node2 would own nothing.
        after = {m["id"]: m["owns_after"] for m in plan["members"]}
        assert after == {"node0": 1.0, "node1": 1.0, "node2": 0.0}, plan
        assert plan["copies_moving"] == 0, plan
        status, body = http_json(nodes[2], "POST", "/v1/cluster/reweight?weight=0")
        assert status == 400, body
        # The CLI: a plan without --yes changes nothing.
        out = cli("cluster", "leave", "--http-port", str(nodes[2].http_port))
        assert "node2" in out and "run again with --yes" in out, out
        assert http_json(nodes[2], "GET", "/v1/cluster")[1]["pending_change"] == ""
        status, body = http_json(nodes[0], "POST", "/v1/cluster/remove?node=node1")
        assert status == 409 and "alive" in body["error"], body
        status, body = http_json(nodes[0], "POST", "/v1/cluster/leave?node=node1")
        assert status == 400, body
        # A reweight moves data, then completes; cancel with nothing under way is refused.
        status, body = http_json(nodes[2], "POST", "/v1/cluster/reweight?weight=2")
        assert status == 202, body
        # Once node1 has heard of it (node2 announces it at once; two changes accepted
        # before they hear of each other become one larger change, docs/cluster.md).
        wait_for("node1 sees the reweight", lambda: "node2" in
                 info(nodes[1]).get("cluster_pending_change", ""), 10, 0.01)
        status, body = http_json(nodes[1], "POST", "/v1/cluster/leave")
        assert status == 409 and "under way" in body["error"], body
        wait_members(nodes, 3)
        weights = {m["id"]: m["weight"] for m in http_json(nodes[0], "GET", "/v1/cluster")[1]["members"]}
        assert weights["node2"] == 2, weights
        status, body = http_json(nodes[2], "POST", "/v1/cluster/cancel")
        assert status == 409, body
        out = cli("cluster", "reweight", "1", "--yes", "--http-port", str(nodes[2].http_port))
        assert "committed" in out, out
        out = cli("cluster", "transfers", "--watch", "--http-port", str(nodes[2].http_port))
        assert "no change under way" in out.splitlines()[-3] or "received" in out, out
        wait_members(nodes, 3)
    finally:
        cluster.stop_all()


def test_a_dead_node_is_removed_and_its_ranges_rebuilt(tmp_path):
    cluster = Cluster(tmp_path, 4, extra=EXTRA)
    nodes = cluster.nodes
    try:
        wait_members(nodes, 4)
        conn = nodes[0].raw()
        for i in range(500):
            conn.command("SET", "k%d" % i, "v%d" % i)
        nodes[3].kill()
        wait_for("node3 down", lambda: info(nodes[0]).get("cluster_members_alive") == "3", 30)
        status, body = http_json(nodes[0], "POST", "/v1/cluster/remove?node=node3")
        assert status == 202, body
        wait_members(nodes[:3], 3)
        members = {m["id"]: m["status"] for m in http_json(nodes[1], "GET", "/v1/cluster")[1]["members"]}
        assert members["node3"] == "removed", members
        # Every key is on its 3 owners again (all three nodes).
        for node in nodes[:3]:
            assert len([k for k in replica_digests(node) if k.startswith(b"k")]) == 500, node.name
    finally:
        cluster.stop_all()


@pytest.mark.parametrize("how", ["cli", "startup"])
def test_a_node_whose_disk_is_gone_is_replaced_by_an_empty_one(tmp_path, how):
    """node3's disk is lost; node4, new and empty, takes its place (cairn cluster replace,
    or --cluster-replace at start): the same tokens, so every key's replicas are those of
    before with node4 for node3, and every key is on its 3 owners again. Prints the time
    and the bytes it took."""
    import shutil
    cluster = Cluster(tmp_path, 4, extra=EXTRA)
    nodes = cluster.nodes
    try:
        wait_members(nodes, 4)
        conn = nodes[0].raw()
        keys = ["k%d" % i for i in range(1000)]
        for key in keys:
            conn.command("SET", key, "v" * 100)
        sample = keys[::10]
        before = {key: preference_list(nodes[0], key) for key in sample}
        nodes[3].kill()
        shutil.rmtree(nodes[3].dir)
        wait_for("node3 down", lambda: info(nodes[0]).get("cluster_members_alive") == "3", 30)
        started = time.monotonic()
        if how == "startup":
            new = Node(tmp_path, "node4", EXTRA + ["--cluster-replace", "node3"])
            new.start(cluster.seeds())
            wait_for("node4 replacing node3", lambda: "node3 being removed" in
                     info(nodes[0]).get("cluster_pending_change", ""), 30)
        else:
            new = Node(tmp_path, "node4", EXTRA)
            new.start(cluster.seeds())
            # The plan first: node4 receives what node3 held, nobody else anything.
            wait_for("node4 sees node3 down", lambda: http_json(
                new, "GET", "/v1/cluster/plan?change=replace&node=node3")[0] == 200, 30)
            plan = http_json(new, "GET", "/v1/cluster/plan?change=replace&node=node3")[1]
            receives = {m["id"]: m["receives"] for m in plan["members"]}
            assert receives["node4"] > 0.5 and all(
                v == 0 for k, v in receives.items() if k != "node4"), plan
            status, body = http_json(new, "POST", "/v1/cluster/replace?node=node2")
            assert status == 409 and "alive" in body["error"], body
            started = time.monotonic()
            out = cli("cluster", "replace", "node3", "--yes", "--http-port", str(new.http_port))
            assert "committed" in out, out
        nodes[3] = new
        wait_members(nodes, 4, timeout=120)
        took = time.monotonic() - started
        members = {m["id"]: m["status"] for m in http_json(nodes[1], "GET", "/v1/cluster")[1]["members"]}
        assert members["node3"] == "removed" and members["node4"] == "normal", members
        for key in sample:
            want = sorted("node4" if n == "node3" else n for n in before[key])
            assert sorted(preference_list(nodes[1], key)) == want, key
        # Every key is on its 3 owners again.
        held = {node.name: replica_digests(node) for node in nodes}
        for key in keys:
            owners = preference_list(nodes[0], key) if key in before else None
            count = sum(1 for d in held.values() if key.encode() in d)
            assert count == 3, (key, count, owners)
        received = int(info(new).get("cluster_transfer_bytes_received", "0"))
        print("replace of node3 (%s): %.1f s, %d bytes received by node4" % (how, took, received))
        assert received > 0
    finally:
        cluster.stop_all()


def test_a_partition_during_a_transfer_heals(tmp_path):
    """node3 joins while clients write; in the middle of its transfers it is cut off from
    node0 and node1 (DEBUG CLUSTER-PARTITION on both sides), then healed."""
    cluster = Cluster(tmp_path, 3, extra=EXTRA)
    nodes = cluster.nodes
    try:
        load = formed_and_loaded(nodes)
        joining = Node(tmp_path, "node3", EXTRA)
        joining.start(cluster.seeds())
        nodes.append(joining)
        wait_transferring(joining)
        assert joining.raw().command("DEBUG", "CLUSTER-PARTITION", "node0", "node1") == "OK"
        for n in nodes[:2]:
            assert n.raw().command("DEBUG", "CLUSTER-PARTITION", "node3") == "OK"
        time.sleep(3)
        assert info(nodes[0]).get("cluster_pending_change") != "", "the join completed cut off"
        for n in nodes:
            assert n.raw().command("DEBUG", "CLUSTER-HEAL") == "OK"
        wait_members(nodes, 4, 120)
        load.finish()
        assert load.acks > 100, (load.acks, load.errors)
        check_after(load, nodes)
    finally:
        cluster.stop_all()
