"""A data directory changes mode (issue 15, must-show 2): a single-node server's keys (strings,
TTLs, the four collection types, counters, several databases) are all there when the same
directory restarts as a cluster node, and the cluster node's keys, including what the
cluster changed, are all there when it restarts single-node (src/server/migration.h)."""
import time

import pytest

from cluster_util import Node
from conftest import RespError

ONE_NODE = ["--replicas", "1", "--write-quorum", "1", "--read-quorum", "1"]


def fill(c):
    for args in (
            ("SET", "s", "plain"),
            ("SET", "ttl", "soon", "EX", "1000"),
            ("SET", "gone", "v", "PX", "50"),
            ("INCRBY", "n", "41"), ("INCR", "n"),
            ("INCRBYFLOAT", "f", "1.25"),
            ("HSET", "h", "a", "1", "b", "2"), ("HINCRBY", "h", "c", "5"),
            ("PEXPIRE", "h", "900000"),
            ("RPUSH", "l", "x", "y", "z"), ("LPUSH", "l", "w"),
            ("SADD", "set", "m1", "m2", "m3"),
            ("ZADD", "z", "1.5", "one", "2", "two", "-3", "minus"), ("ZINCRBY", "z", "1", "one"),
            ("SET", "{t}a", "1"), ("SET", "{t}b", "2"),
            ("SELECT", "2"), ("HSET", "h2", "f", "v"), ("SET", "s2", "x", "EX", "5000"),
            ("SELECT", "0")):
        reply = c.command(*args)
        assert not isinstance(reply, RespError), (args, reply)


def dump(c):
    """What a client sees of every key, with absolute expiry times."""
    out = {}
    for db in (0, 2):
        c.command("SELECT", str(db))
        keys = sorted(c.command("KEYS", "*"))
        for key in keys:
            kind = c.command("TYPE", key)
            if kind == "string":
                value = c.command("GET", key)
            elif kind == "hash":
                flat = c.command("HGETALL", key)
                value = dict(zip(flat[::2], flat[1::2]))
            elif kind == "list":
                value = c.command("LRANGE", key, "0", "-1")
            elif kind == "set":
                value = sorted(c.command("SMEMBERS", key))
            else:
                value = c.command("ZRANGE", key, "0", "-1", "WITHSCORES")
            out[(db, key)] = (kind, value, c.command("PEXPIRETIME", key))
    c.command("SELECT", "0")
    return out


def test_single_node_directory_opens_as_cluster_node_and_back(tmp_path):
    node = Node(tmp_path, "node0", ONE_NODE)
    node.start([], cluster=False)
    try:
        c = node.raw()
        fill(c)
        time.sleep(0.1)  # "gone" expires
        single = dump(c)
        assert (0, b"gone") not in single
        assert single[(0, b"n")] == ("string", b"42", -1)
        assert single[(0, b"h")][1] == {b"a": b"1", b"b": b"2", b"c": b"5"}
        assert single[(0, b"h")][2] > 0 and single[(0, b"ttl")][2] > 0
        assert len(single) == 12
    finally:
        assert node.stop() == 0

    node.start([])
    try:
        assert "moved 12 keys" in node.log()
        c = node.raw()
        assert dump(c) == single
        # Cluster commands work on the moved keys: counters, collections, hash tags.
        assert c.command("INCR", "n") == 43
        assert c.command("INCRBYFLOAT", "f", "0.5") == b"1.75"
        assert c.command("HINCRBY", "h", "c", "2") == 7
        assert c.command("HSET", "h", "d", "4") == 1
        assert c.command("SREM", "set", "m2") == 1
        assert c.command("ZADD", "z", "9", "nine") == 1
        assert c.command("RPOP", "l") == b"z"
        assert c.command("RENAME", "{t}a", "{t}c") == "OK"
        assert c.command("SET", "new", "in-cluster", "EX", "3000") == "OK"
        assert c.command("DEL", "s") == 1
        clustered = dump(c)
        assert clustered[(0, b"h")][1] == {b"a": b"1", b"b": b"2", b"c": b"7", b"d": b"4"}
        assert clustered[(0, b"h")][2] == single[(0, b"h")][2]
        assert (0, b"s") not in clustered and (0, b"{t}c") in clustered
    finally:
        assert node.stop() == 0

    node.start([], cluster=False)
    try:
        c = node.raw()
        assert dump(c) == clustered
        assert c.command("INCR", "n") == 44  # a plain counter again
        assert c.command("HLEN", "h") == 4
    finally:
        assert node.stop() == 0

    # Once moved, a key is in one place only: starting again moves nothing.
    node.start([], cluster=False)
    try:
        assert dump(node.raw())[(0, b"n")] == ("string", b"44", -1)
    finally:
        assert node.stop() == 0
    with open(node.log_path) as f:
        assert f.read().count("moved 12 keys") == 2


def test_single_node_keys_do_not_move_into_a_node_joining_others(tmp_path):
    """Keys moved into a node that joins an existing cluster would sit where reads never
    look: the node refuses to start instead, and the keys stay."""
    node = Node(tmp_path, "node0", ONE_NODE)
    node.start([], cluster=False)
    try:
        assert node.raw().command("SET", "k", "v") == "OK"
    finally:
        assert node.stop() == 0
    with pytest.raises(AssertionError, match="exited early"):
        node.start(["127.0.0.1:1"])
    assert "start it as the first node of a cluster" in node.log()
    node.start([], cluster=False)
    try:
        assert node.raw().command("GET", "k") == b"v"
    finally:
        assert node.stop() == 0
