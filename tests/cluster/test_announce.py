"""announce-address: nodes bound to 0.0.0.0 never announce 0.0.0.0 (docs/cluster.md,
"Addresses"), and membership changes are logged at info level. Real nodes on loopback."""
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_util import SERVER_BIN, Node, http_json, info, wait_for  # noqa: E402

CAIRN = os.environ.get("CAIRN_BIN", os.path.join(os.path.dirname(SERVER_BIN), "cairn"))


def members(node):
    status, body = http_json(node, "GET", "/v1/cluster")
    assert status == 200, body
    return {m["id"]: m for m in body["members"]}


def wait_log(node, text, timeout=30):
    wait_for("%r in %s's log" % (text, node.name), lambda: text in node.log(), timeout)


def test_wildcard_bind_without_announce_address_is_refused(tmp_path):
    """No announce-address and no seed to find the address by: a clear refusal."""
    proc = subprocess.run([SERVER_BIN, "--dir", str(tmp_path / "d"), "--bind", "0.0.0.0",
                           "--port", "auto", "--http-port", "auto", "--cluster", "yes",
                           "--cluster-port", "0", "--node-id", "n"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "bind is 0.0.0.0" in out and "set announce-address" in out, out
    # An announce-address that is itself the wildcard is refused too.
    proc = subprocess.run([SERVER_BIN, "--dir", str(tmp_path / "e"), "--bind", "0.0.0.0",
                           "--port", "auto", "--http-port", "auto", "--cluster", "yes",
                           "--cluster-port", "0", "--node-id", "n", "--announce-address", "0.0.0.0"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0 and "announce-address 0.0.0.0" in proc.stdout + proc.stderr


def test_wildcard_bind_announces_reachable_addresses_and_logs_membership(tmp_path):
    # node0 bound to every interface, told its address; node1 bound to every interface
    # too, with no announce-address: it announces its address on the route to its seed.
    # (The test's clients connect to 0.0.0.0 too: Linux takes it for a local address.)
    node0 = Node(tmp_path, "node0", ["--announce-address", "127.0.0.1", "--wal-sync", "none"],
                 host="0.0.0.0")
    node1 = Node(tmp_path, "node1", ["--wal-sync", "none"], host="0.0.0.0")
    nodes = [node0, node1]
    try:
        node0.start([])
        port0 = node0.cluster_address.split(":")[1]
        node1.start(["127.0.0.1:" + port0])
        wait_for("2 members up", lambda: all(info(n).get("cluster_members_alive") == "2"
                                             and info(n).get("cluster_pending_change", "") == ""
                                             for n in nodes), 60)
        for n in nodes:
            for m in members(n).values():
                for field in ("cluster_address", "resp_address", "http_address"):
                    assert m[field].startswith("127.0.0.1:"), (n.name, m)
        assert "announcing address 127.0.0.1" in node1.log()
        # Data flows both ways through the announced addresses.
        c0, c1 = node0.raw(), node1.raw()
        for i in range(50):
            assert c0.command("SET", "k%d" % i, "v%d" % i) == "OK"
        assert all(c1.command("GET", "k%d" % i) == b"v%d" % i for i in range(50))

        # Membership changes at info level: join, ring change, down, up.
        wait_log(node0, "cluster: member node1 joined the view")
        assert "cluster: ring version" in node0.log()
        wait_log(node0, "cluster: member node1 is up")
        node1.kill()
        wait_log(node0, "cluster: member node1 is down")
        node1.start(["127.0.0.1:" + port0])
        wait_for("node1 back", lambda: info(node0).get("cluster_members_alive") == "2", 60)
        wait_for("node1 logged up twice", lambda: node0.log().count("cluster: member node1 is up") >= 2)
    finally:
        for n in nodes:
            if n.proc is not None:
                n.stop()


def test_announce_port_for_nat(tmp_path):
    """Behind NAT a node is reached at another address and port than it binds: the others
    are told those (here a port nothing listens on, so the member is seen but never up)."""
    node0 = Node(tmp_path, "node0", ["--wal-sync", "none"])
    node1 = Node(tmp_path, "node1", ["--wal-sync", "none", "--announce-address", "127.0.0.1",
                                     "--announce-port", "1"])
    try:
        node0.start([])
        node1.start([node0.cluster_address])
        wait_for("node0 to hear of node1", lambda: "node1" in members(node0), 30)
        assert members(node0)["node1"]["cluster_address"] == "127.0.0.1:1"
        assert members(node1)["node1"]["cluster_address"] == "127.0.0.1:1"
    finally:
        for n in (node0, node1):
            if n.proc is not None:
                n.stop()


def test_ipv6_addresses_are_bracketed_and_reachable(tmp_path):
    """Nodes bound to ::1: every announced address is [::1]:port (not ::1:port, another
    address), seeds in that form work, and the CLI reaches members by those addresses."""
    node0 = Node(tmp_path, "node0", ["--wal-sync", "none"], host="::1")
    node1 = Node(tmp_path, "node1", ["--wal-sync", "none"], host="::1")
    nodes = [node0, node1]
    try:
        node0.start([])
        assert node0.cluster_address.startswith("[::1]:"), node0.cluster_address
        node1.start([node0.cluster_address])
        wait_for("2 members up", lambda: all(info(n).get("cluster_members_alive") == "2"
                                             and info(n).get("cluster_pending_change", "") == ""
                                             for n in nodes), 60)
        for n in nodes:
            for m in members(n).values():
                for field in ("cluster_address", "resp_address", "http_address"):
                    assert m[field].startswith("[::1]:"), (n.name, m)
                    int(m[field].rsplit(":", 1)[1])
        c0, c1 = node0.raw(), node1.raw()
        for i in range(20):
            assert c0.command("SET", "k%d" % i, "v%d" % i) == "OK"
        assert all(c1.command("GET", "k%d" % i) == b"v%d" % i for i in range(20))
        # cairn cluster backup asks each member at its announced HTTP address.
        dest = str(tmp_path / "backups")
        p = subprocess.run([CAIRN, "cluster", "backup", dest, "--host", "::1",
                            "--http-port", str(node0.http_port)],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, (p.stdout, p.stderr)
        assert os.path.exists(os.path.join(dest, "clusters", "1.json"))
    finally:
        for n in nodes:
            if n.proc is not None:
                n.stop()
