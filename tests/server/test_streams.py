"""Streams against redis-server 7.0.15 side by side (issue 18, must-show 2): the same
command sequences go to both, and every reply, errors included, must be equal. IDs are
given explicitly where a reply would show the clock; XREAD BLOCK and XREADGROUP BLOCK are
checked with a second connection; XINFO and XPENDING's idle times, which depend on the
clock and on Redis's radix tree, are checked field by field.

Keys share the hash tag {x} so the same cases run on a 3-node cluster.
"""
import time

import pytest

from conftest import RespError, RespSocket, in_cluster
from test_against_redis import both, redis, same  # noqa: F401 (the redis fixture)

CASES = [
    # XADD: IDs, errors, NOMKSTREAM, trimming
    ("XADD", "{x}s", "1-1", "f", "v"), ("XADD", "{x}s", "1-1", "f", "v"), ("XADD", "{x}s", "1-0", "f", "v"),
    ("XADD", "{x}s", "1-*", "a", "1", "b", "2"), ("XADD", "{x}s", "2", "f", "v"), ("XADD", "{x}s", "0-0", "f", "v"),
    ("XADD", "{x}s", "3-x", "f", "v"), ("XADD", "{x}s", "5-1", "f"), ("XADD", "{x}s", "5-1"),
    ("XADD", "{x}new", "NOMKSTREAM", "1-1", "f", "v"), ("EXISTS", "{x}new"),
    ("XADD", "{x}s", "MAXLEN", "-1", "6-1", "f", "v"), ("XADD", "{x}s", "MAXLEN", "x", "6-1", "f", "v"),
    ("XADD", "{x}s", "MAXLEN", "10", "LIMIT", "5", "6-1", "f", "v"),
    ("XADD", "{x}s", "MAXLEN", "=", "3", "6-1", "f", "v"), ("XLEN", "{x}s"),
    ("XRANGE", "{x}s", "-", "+"), ("XREVRANGE", "{x}s", "+", "-"),
    ("XADD", "{x}s", "MINID", "6", "7-1", "f", "v"), ("XRANGE", "{x}s", "-", "+"),
    ("SET", "{x}str", "v"), ("XADD", "{x}str", "1-1", "f", "v"), ("XLEN", "{x}str"), ("TYPE", "{x}s"),
    # XRANGE / XREVRANGE bounds and COUNT
    ("DEL", "{x}r"),
    ("XADD", "{x}r", "1-1", "a", "1"), ("XADD", "{x}r", "1-2", "b", "2"), ("XADD", "{x}r", "2-1", "c", "3"),
    ("XADD", "{x}r", "3-5", "d", "4"), ("XADD", "{x}r", "18446744073709551615-0", "e", "5"),
    ("XRANGE", "{x}r", "-", "+", "COUNT", "2"), ("XRANGE", "{x}r", "1", "2"), ("XRANGE", "{x}r", "(1-1", "+"),
    ("XRANGE", "{x}r", "-", "(3-5"), ("XRANGE", "{x}r", "(-", "+"), ("XRANGE", "{x}r", "2-1", "1-1"),
    ("XRANGE", "{x}r", "-", "+", "COUNT", "0"), ("XRANGE", "{x}r", "-", "+", "COUNT", "-1"),
    ("XRANGE", "{x}r", "-", "+", "COUNT"), ("XRANGE", "{x}r", "x", "+"), ("XRANGE", "{x}nokey", "-", "+"),
    ("XREVRANGE", "{x}r", "+", "-", "COUNT", "3"), ("XREVRANGE", "{x}r", "(3-5", "1-2"),
    ("XRANGE", "{x}r", "(18446744073709551615-18446744073709551615", "+"),
    ("XRANGE", "{x}r", "-", "(0-0"),
    # XDEL, XTRIM
    ("XDEL", "{x}r", "1-2", "9-9", "1-2"), ("XDEL", "{x}r", "bad"), ("XLEN", "{x}r"),
    ("XTRIM", "{x}r", "MAXLEN", "2"), ("XRANGE", "{x}r", "-", "+"), ("XTRIM", "{x}r", "MINID", "(1"),
    ("XTRIM", "{x}r", "MINID", "4"), ("XTRIM", "{x}r", "MAXLEN", "=", "0"), ("XLEN", "{x}r"), ("EXISTS", "{x}r"),
    ("XTRIM", "{x}r", "FOO", "1"), ("XTRIM", "{x}r", "MAXLEN", "1", "LIMIT", "10"), ("XTRIM", "{x}nokey", "MAXLEN", "1"),
    # XSETID
    ("XSETID", "{x}nokey", "1-1"), ("XSETID", "{x}s", "1-1"), ("XSETID", "{x}s", "100-1"),
    ("XADD", "{x}s", "100-1", "f", "v"), ("XADD", "{x}s", "100-*", "f", "v"),
    ("XSETID", "{x}s", "200-0", "ENTRIESADDED", "1"), ("XSETID", "{x}s", "200-0", "MAXDELETEDID", "300-0"),
    # XREAD without blocking
    ("XREAD", "STREAMS", "{x}s", "0"), ("XREAD", "COUNT", "1", "STREAMS", "{x}s", "{x}r", "0", "0"),
    ("XREAD", "STREAMS", "{x}s", "$"), ("XREAD", "STREAMS", "{x}s"), ("XREAD", "STREAMS", "{x}s", ">"),
    ("XREAD", "COUNT", "x", "STREAMS", "{x}s", "0"), ("XREAD", "BLOCK", "-1", "STREAMS", "{x}s", "0"),
    ("XREAD", "FOO", "STREAMS", "{x}s", "0"), ("XREAD", "STREAMS", "{x}nokey", "0"),
    # consumer groups
    ("DEL", "{x}g"), ("XGROUP", "CREATE", "{x}g", "grp", "$"), ("XGROUP", "CREATE", "{x}g", "grp", "$", "MKSTREAM"),
    ("XGROUP", "CREATE", "{x}g", "grp", "$"), ("XADD", "{x}g", "1-1", "a", "1"), ("XADD", "{x}g", "2-1", "b", "2"),
    ("XADD", "{x}g", "3-1", "c", "3"),
    ("XREADGROUP", "GROUP", "grp", "alice", "COUNT", "2", "STREAMS", "{x}g", ">"),
    ("XREADGROUP", "GROUP", "grp", "bob", "STREAMS", "{x}g", ">"),
    ("XREADGROUP", "GROUP", "grp", "bob", "STREAMS", "{x}g", ">"),
    ("XREADGROUP", "GROUP", "grp", "alice", "STREAMS", "{x}g", "0"),
    ("XREADGROUP", "GROUP", "nogrp", "alice", "STREAMS", "{x}g", ">"),
    ("XREADGROUP", "GROUP", "grp", "alice", "STREAMS", "{x}g", "$"),
    ("XPENDING", "{x}g", "grp"), ("XPENDING", "{x}g", "nogrp"),
    ("XACK", "{x}g", "grp", "1-1", "9-9"), ("XACK", "{x}g", "nogrp", "1-1"), ("XPENDING", "{x}g", "grp"),
    ("XDEL", "{x}g", "2-1"), ("XREADGROUP", "GROUP", "grp", "alice", "STREAMS", "{x}g", "0"),
    ("XCLAIM", "{x}g", "grp", "carol", "0", "2-1", "JUSTID"), ("XCLAIM", "{x}g", "grp", "carol", "0", "3-1", "JUSTID"),
    ("XPENDING", "{x}g", "grp"), ("XCLAIM", "{x}g", "grp", "carol", "0", "3-1"),
    ("XAUTOCLAIM", "{x}g", "grp", "dave", "0", "0", "COUNT", "10"),
    ("XAUTOCLAIM", "{x}g", "grp", "dave", "0", "0", "JUSTID"), ("XAUTOCLAIM", "{x}g", "grp", "dave", "0", "0", "COUNT", "0"),
    ("XGROUP", "CREATECONSUMER", "{x}g", "grp", "erin"), ("XGROUP", "CREATECONSUMER", "{x}g", "grp", "erin"),
    ("XGROUP", "DELCONSUMER", "{x}g", "grp", "dave"), ("XPENDING", "{x}g", "grp"),
    ("XGROUP", "SETID", "{x}g", "grp", "0"), ("XGROUP", "SETID", "{x}g", "nogrp", "0"),
    ("XREADGROUP", "GROUP", "grp", "alice", "NOACK", "STREAMS", "{x}g", ">"), ("XPENDING", "{x}g", "grp"),
    ("XGROUP", "DESTROY", "{x}g", "grp"), ("XGROUP", "DESTROY", "{x}g", "grp"), ("XGROUP", "FOO", "{x}g"),
    ("XGROUP", "CREATE", "{x}nokey", "grp", "$"),
    # trimming that takes the entry being added; strict IDs; FORCE; entries-read and lag
    ("XADD", "{x}e", "MAXLEN", "0", "2-1", "f", "v"), ("XLEN", "{x}e"), ("XADD", "{x}e", "MINID", "10", "5-1", "f", "v"),
    ("XLEN", "{x}e"), ("XDEL", "{x}e", "-"), ("XACK", "{x}e", "g", "+"),
    ("DEL", "{x}l"), ("XADD", "{x}l", "1-1", "a", "1"), ("XADD", "{x}l", "2-1", "b", "2"), ("XADD", "{x}l", "3-1", "c", "3"),
    ("XGROUP", "CREATE", "{x}l", "g0", "0"), ("XGROUP", "CREATE", "{x}l", "gd", "$"),
    ("XREADGROUP", "GROUP", "g0", "c", "COUNT", "1", "STREAMS", "{x}l", ">"),
    ("XCLAIM", "{x}l", "g0", "c2", "0", "3-1", "FORCE", "JUSTID"), ("XCLAIM", "{x}l", "g0", "c3", "0", "9-9"),
]


def test_stream_replies_match_redis(server, redis):
    cairn = both(server, redis)
    for args in CASES:
        same(cairn, redis, *args)


def test_xinfo_and_pending_fields(server, redis):
    cairn = both(server, redis)
    for conn in (cairn, redis):
        conn.command("XADD", "{x}i", "1-1", "a", "1")
        conn.command("XADD", "{x}i", "2-1", "b", "2")
        conn.command("XDEL", "{x}i", "1-1")
        conn.command("XGROUP", "CREATE", "{x}i", "g", "0")
        conn.command("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "{x}i", ">")

    def fields(reply):
        return dict(zip(reply[::2], reply[1::2])) if isinstance(reply, list) else reply

    want, got = fields(redis.command("XINFO", "STREAM", "{x}i")), fields(cairn.command("XINFO", "STREAM", "{x}i"))
    for k in (b"length", b"last-generated-id", b"max-deleted-entry-id", b"entries-added",
              b"recorded-first-entry-id", b"groups", b"first-entry", b"last-entry"):
        assert got[k] == want[k], (k, got, want)
    want = [fields(g) for g in redis.command("XINFO", "GROUPS", "{x}i")]
    got = [fields(g) for g in cairn.command("XINFO", "GROUPS", "{x}i")]
    assert got == want
    want = [fields(g) for g in redis.command("XINFO", "CONSUMERS", "{x}i", "g")]
    got = [fields(g) for g in cairn.command("XINFO", "CONSUMERS", "{x}i", "g")]
    assert [(g[b"name"], g[b"pending"]) for g in got] == [(g[b"name"], g[b"pending"]) for g in want]
    want = redis.command("XPENDING", "{x}i", "g", "-", "+", "10")
    got = cairn.command("XPENDING", "{x}i", "g", "-", "+", "10")
    assert [(e[0], e[1], e[3]) for e in got] == [(e[0], e[1], e[3]) for e in want]
    same(cairn, redis, "XPENDING", "{x}i", "g", "IDLE", "100000", "-", "+", "10")
    for conn in (cairn, redis):
        for i in range(1, 4):
            conn.command("XADD", "{x}lag", "%d-1" % i, "f", "v")
        conn.command("XGROUP", "CREATE", "{x}lag", "from0", "0")
        conn.command("XGROUP", "CREATE", "{x}lag", "fromlast", "$")
        conn.command("XGROUP", "CREATE", "{x}lag", "reader", "0")
        conn.command("XREADGROUP", "GROUP", "reader", "c", "COUNT", "1", "STREAMS", "{x}lag", ">")
    want = [fields(g) for g in redis.command("XINFO", "GROUPS", "{x}lag")]
    got = [fields(g) for g in cairn.command("XINFO", "GROUPS", "{x}lag")]
    assert sorted(got, key=lambda g: g[b"name"]) == sorted(want, key=lambda g: g[b"name"])
    same(cairn, redis, "XINFO", "STREAM", "{x}nokey")


def test_xread_block_wakes_on_xadd(server):
    reader = server.raw()
    reader.send(RespSocket.encode("XREAD", "BLOCK", "5000", "STREAMS", "{x}b", "$"))
    time.sleep(0.3)
    writer = server.raw()
    assert writer.command("XADD", "{x}b", "5-1", "f", "v") == b"5-1"
    assert reader.read_reply() == [[b"{x}b", [[b"5-1", [b"f", b"v"]]]]]
    # "$" was the last ID when the reader blocked: an entry added meanwhile counts.
    reader.send(RespSocket.encode("XREAD", "BLOCK", "200", "STREAMS", "{x}b", "$"))
    assert reader.read_reply() is None
    group = server.raw()
    assert group.command("XGROUP", "CREATE", "{x}b", "g", "$") == "OK"
    group.send(RespSocket.encode("XREADGROUP", "GROUP", "g", "c", "BLOCK", "5000", "STREAMS", "{x}b", ">"))
    time.sleep(0.3)
    assert writer.command("XADD", "{x}b", "6-1", "k", "w") == b"6-1"
    assert group.read_reply() == [[b"{x}b", [[b"6-1", [b"k", b"w"]]]]]


def test_approximate_trimming_keeps_whole_nodes(server, redis):
    cairn = both(server, redis)
    for conn in (cairn, redis):
        for i in range(1, 351):
            conn.command("XADD", "{x}t", "%d-1" % i, "f", "v")
    same(cairn, redis, "XTRIM", "{x}t", "MAXLEN", "~", "120")
    same(cairn, redis, "XLEN", "{x}t")
    same(cairn, redis, "XADD", "{x}t", "MAXLEN", "~", "10", "LIMIT", "100", "400-1", "f", "v")
    same(cairn, redis, "XLEN", "{x}t")
    same(cairn, redis, "XTRIM", "{x}t", "MINID", "~", "330")


@pytest.mark.skipif(not in_cluster(), reason="a stream's replicas in a cluster")
def test_a_stream_survives_its_coordinator_changing(server):
    nodes = server.cluster_nodes
    for i in range(50):
        assert nodes[i % 3].raw().command("XADD", "{x}c", "%d-1" % (i + 1), "n", str(i)) == b"%d-1" % (i + 1)
    for node in nodes:
        assert node.raw().command("XLEN", "{x}c") == 50
        assert node.raw().command("XRANGE", "{x}c", "-", "+", "COUNT", "1") == [[b"1-1", [b"n", b"0"]]]
    assert not isinstance(nodes[1].raw().command("XGROUP", "CREATE", "{x}c", "g", "0"), RespError)
    assert len(nodes[2].raw().command("XREADGROUP", "GROUP", "g", "c", "STREAMS", "{x}c", ">")[0][1]) == 50
    assert nodes[0].raw().command("XPENDING", "{x}c", "g")[0] == 50
