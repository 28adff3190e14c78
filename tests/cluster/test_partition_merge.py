"""Data types across a partition (issue 15, Must show 4), between real cairn-server
processes: node0 alone against node1 and node2 (DEBUG CLUSTER-PARTITION on both sides),
each side writing with W=1 R=1. After the partition heals and hints carry each side's
writes across:
- every field either side set in one hash is there, and a field removed by one side that
  the other did not touch stays removed;
- a counter INCRed on both sides equals the sum of every acknowledged increment;
- the same for set members and sorted-set members (with the later score for a member
  both sides wrote);
- a stream keeps every entry either side added, without the one a side deleted;
- a bitmap (a string past a chunk, changed by SETBIT) keeps the bits each side set in
  different chunks (it replicates by chunk);
whichever node serves the read, and the replicas hold the same versions.
"""
import time

import pytest

from cluster_util import Cluster, assert_converged, info, wait_for


def alive_everywhere(nodes, expected):
    return all(info(n).get("cluster_members_alive") == str(expected) for n in nodes)


def partition(nodes):
    a, b, c = nodes
    assert a.raw().command("DEBUG", "CLUSTER-PARTITION", "node1", "node2") == "OK"
    for n in (b, c):
        assert n.raw().command("DEBUG", "CLUSTER-PARTITION", "node0") == "OK"
    wait_for("partition seen", lambda: info(a)["cluster_members_alive"] == "1"
             and info(b)["cluster_members_alive"] == "2" and info(c)["cluster_members_alive"] == "2")


def heal(nodes):
    for n in nodes:
        assert n.raw().command("DEBUG", "CLUSTER-HEAL") == "OK"
    wait_for("partition healed", lambda: alive_everywhere(nodes, 3))
    wait_for("hints delivered",
             lambda: sum(int(info(n)["cluster_hints_pending"]) for n in nodes) == 0)


def as_dict(flat):
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


@pytest.fixture
def nodes(tmp_path):
    cluster = Cluster(tmp_path, 3, extra=["--wal-sync", "always", "--enable-debug-command", "yes"])
    try:
        wait_for("3 members alive", lambda: alive_everywhere(cluster, 3))
        yield cluster
    finally:
        cluster.stop_all()


def test_both_sides_of_a_partition_keep_every_acknowledged_change(nodes):
    a, b, c = nodes
    setup = a.raw()
    assert setup.command("CAIRN.CONSISTENCY", "3", "3") == "OK"
    assert setup.command("HSET", "h", "base", "0", "gone", "x", "kept", "y") == 3
    assert setup.command("SET", "ctr", "10") == "OK"
    assert setup.command("INCR", "ctr") == 11
    assert setup.command("SADD", "s", "base", "gone") == 2
    assert setup.command("ZADD", "z", "1", "base", "2", "both") == 2
    assert setup.command("SET", "plain", "1") == "OK"
    assert setup.command("INCR", "rl") == 1
    assert setup.command("HSET", "h", "hits", "10") == 1
    assert setup.command("XADD", "x", "1-1", "f", "base") == b"1-1"
    assert setup.command("XADD", "x", "1-2", "f", "kept") == b"1-2"
    assert setup.command("SETBIT", "bm", "80000", "0") == 0  # 10 001 bytes: chunked
    assert setup.command("SETBIT", "bm2", "80000", "1") == 0
    assert_converged(nodes)

    partition(nodes)
    ra, rc = a.raw(), c.raw()
    for conn in (ra, rc):
        assert conn.command("CAIRN.CONSISTENCY", "1", "1") == "OK"
    acked = 1  # the INCR before the partition
    for i in range(20):
        assert ra.command("HSET", "h", "a%d" % i, "va%d" % i) == 1
        assert rc.command("HSET", "h", "c%d" % i, "vc%d" % i) == 1
        assert ra.command("INCR", "ctr") > 0
        acked += 1
        assert rc.command("INCRBY", "ctr", "3") > 0
        acked += 3
        assert ra.command("SADD", "s", "a%d" % i) == 1
        assert rc.command("SADD", "s", "c%d" % i) == 1
        assert ra.command("ZADD", "z", str(i), "a%d" % i) == 1
        assert rc.command("ZADD", "z", str(100 + i), "c%d" % i) == 1
        # Streams: each side's entries (IDs that interleave: node0's seq 1, node2's seq 2).
        assert ra.command("XADD", "x", "%d-1" % (2000 + i), "f", "a%d" % i) == b"%d-1" % (2000 + i)
        assert rc.command("XADD", "x", "%d-2" % (2000 + i), "f", "c%d" % i) == b"%d-2" % (2000 + i)
    assert ra.command("XDEL", "x", "1-1") == 1
    assert ra.command("SETBIT", "bm", "100", "1") == 0     # chunk 0
    assert rc.command("SETBIT", "bm", "70000", "1") == 0   # chunk 8
    assert rc.command("SETBIT", "bm", "90000", "1") == 0   # grows it to chunk 10
    assert rc.command("SETBIT", "bm2", "70000", "1") == 0  # the old bm2, chunk 8
    time.sleep(0.01)
    assert ra.command("DEL", "bm2") == 1                    # later: a new bm2
    assert ra.command("SETBIT", "bm2", "20000", "1") == 0
    assert ra.command("DECRBY", "ctr", "5") > 0
    acked -= 5
    assert ra.command("HDEL", "h", "gone") == 1   # node0's side removes what it saw
    assert rc.command("SREM", "s", "gone") == 1   # node2's side too
    assert ra.command("ZADD", "z", "5", "both") == 0
    time.sleep(0.01)
    assert rc.command("ZADD", "z", "7", "both") == 0  # later: its score wins
    assert rc.command("INCRBYFLOAT", "plain", "0.5") == b"1.5"
    assert ra.command("INCRBYFLOAT", "plain", "2") == b"3"
    # HINCRBY / HINCRBYFLOAT / ZINCRBY of one field or member on both sides: all count.
    for _ in range(3):
        assert ra.command("HINCRBY", "h", "hits", "1") > 0
    for _ in range(2):
        assert rc.command("HINCRBY", "h", "hits", "2") > 0
    assert ra.command("HINCRBYFLOAT", "h", "f", "0.5") == b"0.5"
    assert rc.command("HINCRBYFLOAT", "h", "f", "0.25") == b"0.25"
    assert ra.command("ZINCRBY", "z", "1.5", "base") == b"2.5"
    assert rc.command("ZINCRBY", "z", "2", "base") == b"3"
    # A rate limiter's INCR + EXPIRE on each side: the expiry change is no reset.
    for conn in (ra, rc):
        assert conn.command("MULTI") == "OK"
        assert conn.command("INCR", "rl") == "QUEUED"
        assert conn.command("EXPIRE", "rl", "100") == "QUEUED"
        assert conn.command("EXEC") == [2, 1]
    # Each side sees its own changes only.
    assert ra.command("HLEN", "h") == 24 and rc.command("HLEN", "h") == 25
    assert int(ra.command("GET", "ctr")) == 11 + 20 - 5
    assert int(rc.command("GET", "ctr")) == 11 + 60

    heal(nodes)
    expected_hash = {b"base": b"0", b"kept": b"y", b"hits": b"17", b"f": b"0.75"}
    for i in range(20):
        expected_hash[b"a%d" % i] = b"va%d" % i
        expected_hash[b"c%d" % i] = b"vc%d" % i
    expected_set = {b"base"} | {b"a%d" % i for i in range(20)} | {b"c%d" % i for i in range(20)}
    expected_zset = {b"base": 4.5, b"both": 7.0}
    for i in range(20):
        expected_zset[b"a%d" % i] = float(i)
        expected_zset[b"c%d" % i] = float(100 + i)
    expected_stream = [b"1-2"] + sorted((b"%d-%d" % (2000 + i, side) for i in range(20) for side in (1, 2)),
                                        key=lambda x: tuple(map(int, x.split(b"-"))))
    for n in nodes:
        r = n.raw()
        assert r.command("CAIRN.CONSISTENCY", "2", "3") == "OK"
        assert as_dict(r.command("HGETALL", "h")) == expected_hash, n.name
        assert r.command("HLEN", "h") == len(expected_hash)
        assert int(r.command("GET", "ctr")) == 10 + acked, n.name
        assert set(r.command("SMEMBERS", "s")) == expected_set, n.name
        assert r.command("SCARD", "s") == len(expected_set)
        z = r.command("ZRANGE", "z", "0", "-1", "WITHSCORES")
        assert {k: float(v) for k, v in as_dict(z).items()} == expected_zset, n.name
        assert r.command("GET", "plain") == b"3.5", n.name
        assert r.command("GET", "rl") == b"3", n.name
        assert 0 < r.command("TTL", "rl") <= 100
        ids = [e[0] for e in r.command("XRANGE", "x", "-", "+")]
        assert ids == expected_stream, n.name
        assert r.command("XLEN", "x") == len(expected_stream), n.name
        assert [r.command("GETBIT", "bm", str(b)) for b in (100, 70000, 90000, 101)] == [1, 1, 1, 0], n.name
        assert r.command("BITCOUNT", "bm") == 3 and r.command("STRLEN", "bm") == 11251, n.name
        bm = r.command("GET", "bm")
        assert len(bm) == 11251 and bm[12] == 0x08 and bm[8750] == 0x80, n.name
        # Each replica holds the bitmap as a header naming its generation (8 bytes); the
        # bytes are in its chunk registers. (Siblings: each side's header, until a write.)
        assert {len(v[0]) for v in r.command("CAIRN.REPLICA", "GET", "bm")} == {8}, n.name
        # bm2 was deleted and written anew on node0's side while node2's side changed the
        # old one: the new string (the later header) has none of the old string's bits.
        assert r.command("STRLEN", "bm2") == 2501 and r.command("BITCOUNT", "bm2") == 1, n.name
        assert r.command("GETBIT", "bm2", "20000") == 1, n.name
    assert_converged(nodes)
    # A write on the merged value keeps everything and leaves one version.
    rb = b.raw()
    assert rb.command("CAIRN.CONSISTENCY", "3", "3") == "OK"
    assert rb.command("INCR", "ctr") == 10 + acked + 1
    assert rb.command("HSET", "h", "after", "1") == 1
    assert rb.command("HLEN", "h") == len(expected_hash) + 1
    new_id = rb.command("XADD", "x", "*", "f", "after")
    assert rb.command("XRANGE", "x", "-", "+")[-1][0] == new_id
    assert rb.command("XLEN", "x") == len(expected_stream) + 1
    for n in nodes:
        assert len(n.raw().command("CAIRN.REPLICA", "GET", "ctr")) == 1
        assert len(n.raw().command("CAIRN.REPLICA", "GET", "h")) == 1
    assert_converged(nodes)


def test_a_set_over_a_counter_resets_it_but_keeps_increments_it_did_not_see(nodes):
    a, b, c = nodes
    setup = a.raw()
    assert setup.command("CAIRN.CONSISTENCY", "3", "3") == "OK"
    assert setup.command("INCRBY", "ctr", "7") == 7
    assert setup.command("INCRBY", "gone", "7") == 7
    partition(nodes)
    ra, rc = a.raw(), c.raw()
    for conn in (ra, rc):
        assert conn.command("CAIRN.CONSISTENCY", "1", "1") == "OK"
    assert ra.command("SET", "ctr", "100") == "OK"
    assert ra.command("DEL", "gone") == 1
    assert ra.command("INCR", "gone") == 1  # counts on after the DEL (found in review)
    for _ in range(4):
        assert rc.command("INCR", "ctr") > 0
    assert rc.command("INCRBY", "gone", "2") == 9
    heal(nodes)
    for n in nodes:
        r = n.raw()
        assert r.command("CAIRN.CONSISTENCY", "2", "3") == "OK"
        assert r.command("GET", "ctr") == b"104", n.name  # the SET, plus what it did not see
        assert r.command("GET", "gone") == b"3", n.name   # the DEL removed only the 7 it saw
    assert_converged(nodes)
