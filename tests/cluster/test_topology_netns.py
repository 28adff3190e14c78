"""A real network partition during a join (issue 17): every node runs in a network
namespace of its own, made here, linked to a bridge in another namespace; the test
process reaches them through a link of its own. Cutting a node's link on the bridge is a
partition the kernel makes (nothing in cairn knows of it); bringing it back heals it.

node3 joins a 3-node cluster under a W=2 load of strings, counters and hashes; in the
middle of its transfers it is cut off from everyone for 10 s (long enough to be seen
down), then healed. Afterwards: the join completes, no acknowledged write is lost,
replicas agree with no reads, reads at R=2 and R=1 through every node see the last
acknowledged values, and old owners drop what they gave away.

Needs root and `ip netns` (skipped otherwise). Addresses: 10.78.<pid % 200>.0/24.
"""
import os
import subprocess
import time

import pytest

from cluster_util import Node, http_json, info, wait_for
from test_topology import (EXTRA, check_after, formed_and_loaded, wait_members,
                           wait_transferring)

NODES = 4


def ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


class Net:
    """A bridge namespace, one namespace per node, and the test's own link."""

    def __init__(self):
        tag = "c%d" % os.getpid()
        self.subnet = "10.78.%d" % (os.getpid() % 200)
        self.bridge = tag + "br"
        self.ns = ["%sn%d" % (tag, i) for i in range(NODES)]
        self.ports = ["%sp%d" % (tag, i) for i in range(NODES)]  # bridge ends
        self.host_link = tag + "h"
        ip("netns", "add", self.bridge)
        ip("-n", self.bridge, "link", "add", "br0", "type", "bridge")
        ip("-n", self.bridge, "link", "set", "br0", "up")
        for i, ns in enumerate(self.ns):
            ip("netns", "add", ns)
            inner = "%sv%d" % (tag, i)
            ip("link", "add", inner, "type", "veth", "peer", "name", self.ports[i])
            ip("link", "set", inner, "netns", ns)
            ip("link", "set", self.ports[i], "netns", self.bridge)
            ip("-n", self.bridge, "link", "set", self.ports[i], "master", "br0")
            ip("-n", self.bridge, "link", "set", self.ports[i], "up")
            ip("-n", ns, "addr", "add", "%s.%d/24" % (self.subnet, i + 1), "dev", inner)
            ip("-n", ns, "link", "set", inner, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        ip("link", "add", self.host_link, "type", "veth", "peer", "name", tag + "hp")
        ip("link", "set", tag + "hp", "netns", self.bridge)
        ip("-n", self.bridge, "link", "set", tag + "hp", "master", "br0")
        ip("-n", self.bridge, "link", "set", tag + "hp", "up")
        ip("addr", "add", "%s.254/24" % self.subnet, "dev", self.host_link)
        ip("link", "set", self.host_link, "up")

    def address(self, i):
        return "%s.%d" % (self.subnet, i + 1)

    def cut(self, i):
        ip("-n", self.bridge, "link", "set", self.ports[i], "down")

    def heal(self, i):
        ip("-n", self.bridge, "link", "set", self.ports[i], "up")

    def close(self):
        ip("link", "del", self.host_link, check=False)
        for ns in self.ns + [self.bridge]:
            ip("netns", "del", ns, check=False)


def member_state(node, name):
    for m in http_json(node, "GET", "/v1/cluster")[1]["members"]:
        if m["id"] == name:
            return m["state"]
    return None


@pytest.fixture
def net():
    if os.geteuid() != 0 or subprocess.run(["ip", "netns", "list"], capture_output=True).returncode:
        pytest.skip("needs root and ip netns")
    n = Net()
    try:
        yield n
    finally:
        n.close()


def test_a_network_partition_during_a_join_heals(net, tmp_path):
    nodes = []

    def node(i):
        return Node(tmp_path, "node%d" % i, EXTRA + ["--protected-mode", "no"], host=net.address(i),
                    prefix=["ip", "netns", "exec", net.ns[i]])

    try:
        nodes.append(node(0).start([]))
        for i in (1, 2):
            nodes.append(node(i).start([nodes[0].cluster_address]))
        load = formed_and_loaded(nodes)
        joining = node(3)
        joining.start([nodes[0].cluster_address])
        nodes.append(joining)
        wait_transferring(joining)
        net.cut(3)
        wait_for("node3 seen down", lambda: member_state(nodes[0], "node3") == "down", 30)
        time.sleep(1)
        assert info(nodes[0]).get("cluster_pending_change") != "", "the join completed cut off"
        net.heal(3)
        wait_members(nodes, 4, 120)
        load.finish()
        assert load.acks > 100, (load.acks, load.errors)
        check_after(load, nodes)
    finally:
        for n in nodes:
            if n.proc is not None:
                n.stop()
