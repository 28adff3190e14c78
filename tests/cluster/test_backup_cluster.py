"""Backups restored into new clusters (docs/backup.md, issue 20 must-show 1).

A node is backed up while a writer keeps writing and acknowledging keys; the backup is
restored into a new data directory (a server started on it) and into a new 3-node cluster:
every key acknowledged before the backup's timestamp is there with its value. A 3-node
cluster's own backup (`cairn cluster backup`) is restored into a 2-node cluster."""
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "server"))
from cluster_util import Cluster, wait_for  # noqa: E402
from conftest import ROOT, CairnServer  # noqa: E402

CAIRN = os.environ.get("CAIRN_BIN", os.path.join(ROOT, "build", "bin", "cairn"))


def cairn(*args):
    p = subprocess.run([CAIRN, *args], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
    return p.stdout


def meta_timestamp_ms(dest, backup_id):
    with open(os.path.join(dest, "meta", str(backup_id))) as f:
        return int(re.search(r"^timestamp_ms (\d+)$", f.read(), re.M).group(1))


def read_keys(conn, keys, batch=500):
    """{key: value} of GETs pipelined on one connection (None: absent)."""
    out = {}
    for start in range(0, len(keys), batch):
        part = keys[start:start + batch]
        conn.send(b"".join(conn.encode("GET", k) for k in part))
        for k in part:
            out[k] = conn.read_reply()
    return out


def wait_members(nodes, n):
    for node in nodes:
        wait_for("%d members alive" % n,
                 lambda node=node: ("cluster_members_alive:%d\r\n" % n) in
                 node.raw().command("INFO", "cluster").decode())


def test_backup_under_writes_restores_every_acknowledged_key(tmp_path):
    src = CairnServer(tmp_path / "src", ["--io-threads", "2", "--wal-sync", "none"],
                      tmp_path / "src.log").start()
    acked = []  # (key, value, Unix ms after the reply came)
    stop = threading.Event()
    errors = []

    def writer():
        try:
            conn = src.raw()
            i = 0
            while not stop.is_set():
                key, value = "key%07d" % i, "value-%d-%s" % (i, "x" * (i % 50))
                assert conn.command("SET", key, value) == "OK"
                acked.append((key, value, time.time() * 1000))
                i += 1
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    t = threading.Thread(target=writer)
    t.start()
    try:
        wait_for("10000 writes", lambda: len(acked) >= 10000, timeout=60, interval=0.05)
        dest = str(tmp_path / "backups")
        cairn("backup", "create", dest, "--http-port", str(src.http_port))
        during = len(acked)
        wait_for("writes after the backup", lambda: len(acked) >= during + 1000, timeout=60,
                 interval=0.05)
    finally:
        stop.set()
        t.join()
        src.stop()
    assert not errors, errors
    ts = meta_timestamp_ms(dest, 1)
    before = [(k, v) for k, v, at in acked if at < ts]
    assert len(before) >= 10000 and len(before) < len(acked)

    # Into a new directory, served by a new server.
    to = str(tmp_path / "restored")
    cairn("backup", "restore", dest, "--to", to)
    copy = CairnServer(to, ["--io-threads", "1"], tmp_path / "restored.log").start()
    try:
        conn = copy.raw()
        got = read_keys(conn, [k for k, _, _ in acked])
        missing = [k for k, v in before if got[k] != v.encode()]
        assert not missing, missing[:5]
        # One writer in order: the backup holds a prefix of its writes, values right.
        present = [k for k, _, _ in acked if got[k] is not None]
        assert present == [k for k, _, _ in acked[:len(present)]]
        assert conn.command("DBSIZE") == len(present)
    finally:
        copy.stop()

    # Into a new 3-node cluster.
    nodes = Cluster(tmp_path / "cluster", 3)
    try:
        wait_members(nodes, 3)
        to_nodes = ",".join("%s:%d" % (n.host, n.port) for n in nodes)
        # A copy with one flipped byte is refused before anything is written.
        bad = str(tmp_path / "damaged")
        shutil.copytree(dest, bad)
        table = os.path.join(bad, "shared", sorted(os.listdir(os.path.join(bad, "shared")))[0])
        with open(table, "r+b") as f:
            f.seek(200)
            b = f.read(1)
            f.seek(200)
            f.write(bytes([b[0] ^ 1]))
        p = subprocess.run([CAIRN, "cluster", "restore", bad, "--to", to_nodes],
                           capture_output=True, text=True, timeout=300)
        assert p.returncode != 0 and "fails verification" in p.stderr, (p.stdout, p.stderr)
        assert nodes[0].raw().command("DBSIZE") == 0
        out = cairn("cluster", "restore", dest, "--to", to_nodes)
        assert "restored %d keys" % len(present) in out, out
        for node in nodes:  # through every coordinator
            got = read_keys(node.raw(), [k for k, _ in before])
            missing = [k for k, v in before if got[k] != v.encode()]
            assert not missing, (node.name, missing[:5])
    finally:
        nodes.stop_all()


def test_cluster_backup_restores_into_a_cluster_of_another_size(tmp_path):
    nodes = Cluster(tmp_path / "old", 3)
    try:
        wait_members(nodes, 3)
        c = nodes[0].raw()
        keys = ["ck%05d" % i for i in range(3000)]
        for start in range(0, len(keys), 300):
            part = keys[start:start + 300]
            c.send(b"".join(c.encode("SET", k, "v" + k) for k in part))
            for _ in part:
                assert c.read_reply() == "OK"
        assert c.command("HSET", "{h}hash", "a", "1", "b", "2") == 2
        assert c.command("RPUSH", "{l}list", "x", "y") == 2
        assert c.command("SET", "expiring", "e", "EX", "1000") == "OK"
        dest = str(tmp_path / "cbackup")
        out = cairn("cluster", "backup", dest, "--http-port", str(nodes[0].http_port))
        assert "cluster backup 1: 3 members" in out, out
        with open(os.path.join(dest, "clusters", "1.json")) as f:
            manifest = json.load(f)
        assert manifest["format"] == "cairn-cluster-backup" and manifest["version"] == 1
        assert sorted(m["id"] for m in manifest["members"]) == ["node0", "node1", "node2"]
        for m in manifest["members"]:
            assert cairn("backup", "verify", os.path.join(dest, m["dir"])) == \
                "backup %d: ok\n" % m["backup_id"]
    finally:
        nodes.stop_all()

    new = Cluster(tmp_path / "new", 2)
    try:
        wait_members(new, 2)
        out = cairn("cluster", "restore", dest, "--to",
                    ",".join("%s:%d" % (n.host, n.port) for n in new))
        # Each key is held by every member (N=3 over 3 nodes): merged, then written once.
        assert "restored %d keys" % (len(keys) + 3) in out, out
        conn = new[1].raw()
        got = read_keys(conn, keys)
        assert all(got[k] == ("v" + k).encode() for k in keys)
        assert conn.command("HGETALL", "{h}hash") == [b"a", b"1", b"b", b"2"]
        assert conn.command("LRANGE", "{l}list", "0", "-1") == [b"x", b"y"]
        assert 900 < conn.command("TTL", "expiring") <= 1000  # the TTL runs on (slowly under ASan)
    finally:
        new.stop_all()


def test_restore_takes_the_newest_of_replicas_that_disagree(tmp_path):
    """A member missed the last writes (down, no hints, no anti-entropy): its stale copies
    must not win, whatever its place among the members."""
    nodes = Cluster(tmp_path / "old", 3,
                    extra=["--hinted-handoff", "no", "--anti-entropy-interval", "0"])
    try:
        wait_members(nodes, 3)
        with urllib.request.urlopen("http://%s:%d/v1/cluster" % (nodes[0].host, nodes[0].http_port),
                                    timeout=10) as r:
            order = [m["id"] for m in json.loads(r.read())["members"]]
        stale = next(n for n in nodes if n.name == order[0])  # read first by a naive restore
        live = [n for n in nodes if n is not stale]
        c = live[0].raw()
        keys = ["d%03d" % i for i in range(50)]
        for k in keys:
            assert c.command("SET", k, "old") == "OK"
        assert c.command("HSET", "{h}hash", "f", "old") == 1
        stale.stop()
        for k in keys:
            assert c.command("SET", k, "new") == "OK"
        assert c.command("HSET", "{h}hash", "f", "new") == 0
        stale.start([live[0].cluster_address])
        wait_members(nodes, 3)
        # The stale member still holds the old versions (nothing repaired it).
        assert stale.raw().command("CAIRN.REPLICA", "GET", keys[0])[0][0] == b"old"
        dest = str(tmp_path / "cbackup")
        cairn("cluster", "backup", dest, "--http-port", str(live[0].http_port))
        with open(os.path.join(dest, "clusters", "1.json")) as f:
            assert json.load(f)["members"][0]["id"] == stale.name
    finally:
        nodes.stop_all()
    new = Cluster(tmp_path / "new", 3)
    try:
        wait_members(new, 3)
        cairn("cluster", "restore", dest, "--to", "%s:%d" % (new[0].host, new[0].port))
        got = read_keys(new[2].raw(), keys)
        assert [k for k in keys if got[k] != b"new"] == []
        assert new[1].raw().command("HGET", "{h}hash", "f") == b"new"
    finally:
        new.stop_all()


def test_restore_does_not_resurrect_what_a_stale_member_still_holds(tmp_path):
    """Deletions, counters, removed hash fields and expiries a member missed (down, no hints,
    no anti-entropy): the restored cluster holds the live members' state, not the stale one."""
    nodes = Cluster(tmp_path / "old", 3,
                    extra=["--hinted-handoff", "no", "--anti-entropy-interval", "0"])
    try:
        wait_members(nodes, 3)
        with urllib.request.urlopen("http://%s:%d/v1/cluster" % (nodes[0].host, nodes[0].http_port),
                                    timeout=10) as r:
            order = [m["id"] for m in json.loads(r.read())["members"]]
        stale = next(n for n in nodes if n.name == order[0])
        live = [n for n in nodes if n is not stale]
        c = live[0].raw()
        keys = ["r%03d" % i for i in range(40)]
        for k in keys:
            assert c.command("SET", k, "old") == "OK"
        assert c.command("INCRBY", "counter", "5") == 5
        assert c.command("HSET", "{h}hash", "f", "1", "g", "2") == 2
        assert c.command("SADD", "{s}set", "a", "b") == 2
        assert c.command("SET", "willexpire", "x") == "OK"
        stale.stop()
        assert c.command("DEL", *keys[:20]) == 20
        assert c.command("INCRBY", "counter", "3") == 8
        assert c.command("HDEL", "{h}hash", "f") == 1
        assert c.command("SREM", "{s}set", "a") == 1
        assert c.command("PEXPIRE", "willexpire", "1") == 1
        time.sleep(0.1)
        stale.start([live[0].cluster_address])
        wait_members(nodes, 3)
        dest = str(tmp_path / "cbackup")
        cairn("cluster", "backup", dest, "--http-port", str(live[0].http_port))
    finally:
        nodes.stop_all()
    new = Cluster(tmp_path / "new", 3)
    try:
        wait_members(new, 3)
        cairn("cluster", "restore", dest, "--to", "%s:%d" % (new[0].host, new[0].port))
        conn = new[2].raw()
        got = read_keys(conn, keys)
        assert [k for k in keys[:20] if got[k] is not None] == []
        assert [k for k in keys[20:] if got[k] != b"old"] == []
        assert conn.command("GET", "counter") == b"8"
        assert conn.command("HGETALL", "{h}hash") == [b"g", b"2"]
        assert conn.command("SMEMBERS", "{s}set") == [b"b"]
        assert conn.command("EXISTS", "willexpire") == 0
    finally:
        new.stop_all()
