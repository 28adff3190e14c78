"""Anti-entropy alone (docs/cluster.md, "Anti-entropy"): with hinted handoff off and no
reads, a replica that missed writes while it was down converges once its peers compare
hash trees with it; the bytes exchanged are a small part of the data.

CAIRN_AAE_KEYS (default 20000) sets the data size; docs/BENCHMARKS.md records a run with
1,000,000.
"""
import os
import time

from cluster_util import Cluster, http_json, info, replica_digests, wait_for

KEYS = int(os.environ.get("CAIRN_AAE_KEYS", "20000"))
EXTRA = ["--replicas", "3", "--write-quorum", "2", "--read-quorum", "2",
         "--hinted-handoff", "no", "--anti-entropy-interval", "0"]


def divergent_keys(nodes):
    """Keys whose replicas differ. Three nodes and N=3: every node holds every key."""
    digests = [replica_digests(n) for n in nodes]
    keys = set()
    for d in digests:
        keys.update(d)
    return [k for k in keys if len({d.get(k) for d in digests}) != 1]


def load(conn, keys, value):
    for start in range(0, len(keys), 500):
        args = []
        for k in keys[start:start + 500]:
            args += [k, value]
        assert conn.command("MSET", *args) in ("OK", b"OK")


def test_a_replica_that_missed_writes_converges_without_reads(tmp_path):
    cluster = Cluster(tmp_path, 3, extra=EXTRA)
    nodes = cluster.nodes
    try:
        wait_for("3 up", lambda: all(info(n).get("cluster_members_alive") == "3" for n in nodes))
        conn = nodes[0].raw(timeout=60)
        keys = ["k%07d" % i for i in range(KEYS)]
        load(conn, keys, "v" * 100)
        nodes[2].kill()
        wait_for("node2 down", lambda: info(nodes[0]).get("cluster_members_alive") == "2", 30)
        missed = keys[::100]  # 1%: updated while node2 is down, no hint kept
        load(conn, missed, "w" * 100)
        for k in missed[:20]:
            conn.command("DEL", k)
        nodes[2].start(cluster.seeds())
        wait_for("3 up", lambda: all(info(n).get("cluster_members_alive") == "3" for n in nodes))
        assert len(divergent_keys(nodes)) >= len(missed) // 2
        for node in nodes:
            status, body = http_json(node, "POST", "/v1/cluster/repair")
            assert status == 202, body

        def repaired():
            done = [http_json(n, "GET", "/v1/cluster/repair")[1] for n in nodes]
            return all(d["rounds"] >= 1 and not d["running"] for d in done) and done
        stats = wait_for("a repair round on every node", repaired, 120, 0.5)
        wait_for("replicas converged", lambda: not divergent_keys(nodes), 60, 1)
        repaired_keys = sum(s["keys_repaired"] for s in stats)
        exchanged = sum(s["bytes_sent"] + s["bytes_received"] for s in stats)
        data = KEYS * 3 * 110
        print("keys %d, missed %d, repaired %d, bytes exchanged %d (%.2f%% of %d bytes of replicas)"
              % (KEYS, len(missed), repaired_keys, exchanged, 100.0 * exchanged / data, data))
        assert repaired_keys >= len(missed)
        assert exchanged < data * 0.5, (exchanged, data)
        # A second round finds nothing: 4 KB of branch hashes per pair.
        before = [http_json(n, "GET", "/v1/cluster/repair")[1] for n in nodes]
        http_json(nodes[0], "POST", "/v1/cluster/repair")
        wait_for("second round", lambda: http_json(nodes[0], "GET", "/v1/cluster/repair")[1]["rounds"] == 2, 60, 0.5)
        after = http_json(nodes[0], "GET", "/v1/cluster/repair")[1]
        assert after["keys_repaired"] == before[0]["keys_repaired"], after
        # node2's own replicas hold what it missed: new values, and tombstones of deletes.
        replica = nodes[2].raw()
        for i, k in enumerate(missed):
            versions = replica.command("CAIRN.REPLICA", "GET", k)
            values = [v[0] for v in versions]
            assert values == ([None] if i < 20 else [b"w" * 100]), (k, versions)
    finally:
        cluster.stop_all()


def test_anti_entropy_lets_a_tombstone_every_replica_holds_be_collected(tmp_path):
    """A delete acknowledged by two replicas of three (the third down past the hint window) is not
    marked seen by all, so it would be kept for ever. A repair round brings it to the
    third; the next round finds every replica holding it, marks it, and each replica
    collects it once older than the grace period. The value does not come back."""
    extra = EXTRA + ["--hint-window", "1", "--tombstone-grace", "2", "--max-clock-drift", "0",
                     "--wal-sync", "always"]
    cluster = Cluster(tmp_path, 3, extra=extra)
    nodes = cluster.nodes
    try:
        wait_for("3 up", lambda: all(info(n).get("cluster_members_alive") == "3" for n in nodes))
        conn = nodes[0].raw()
        assert conn.command("SET", "gone", "old") in ("OK", b"OK")
        # W=2 acknowledges before the third replica has it: wait until node2 does (and
        # its WAL, synced on every write here, holds it) before killing it.
        wait_for("node2 holds the value", lambda: [v[0] for v in nodes[2].raw().command(
            "CAIRN.REPLICA", "GET", "gone")] == [b"old"], 30, 0.1)
        nodes[2].kill()
        wait_for("node2 down", lambda: info(nodes[0]).get("cluster_members_alive") == "2", 30)
        assert conn.command("DEL", "gone") == 1
        # Past the hint window before node2 is back, so the hint for it expires unsent
        # (a restart within the window would get the delete delivered as a hint).
        time.sleep(1.5)
        nodes[2].start(cluster.seeds())
        wait_for("3 up", lambda: all(info(n).get("cluster_members_alive") == "3" for n in nodes))
        assert nodes[2].raw().command("CAIRN.REPLICA", "GET", "gone")[0][0] == b"old"

        def round_on(node):
            before = http_json(node, "GET", "/v1/cluster/repair")[1]["rounds"]
            http_json(node, "POST", "/v1/cluster/repair")
            wait_for("a round on %s" % node.name, lambda: http_json(
                node, "GET", "/v1/cluster/repair")[1]["rounds"] > before, 60, 0.2)
        round_on(nodes[0])
        for node in nodes:  # a tombstone on every replica, not yet collectable
            assert node.raw().command("CAIRN.REPLICA", "GET", "gone")[0][0] is None, node.name
        time.sleep(1)
        for node in nodes:
            round_on(node)
        marked = sum(int(info(n).get("cluster_aae_tombstones_marked", "0")) for n in nodes)
        assert marked == 3, marked
        wait_for("tombstones collected", lambda: all(
            n.raw().command("CAIRN.REPLICA", "GET", "gone") in ([], None) for n in nodes), 20, 0.5)
        # Later rounds neither copy anything back nor find a difference.
        for node in nodes:
            round_on(node)
        assert all(n.raw().command("CAIRN.REPLICA", "GET", "gone") in ([], None) for n in nodes)
        assert conn.command("GET", "gone") is None
    finally:
        cluster.stop_all()
