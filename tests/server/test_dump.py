"""DUMP and RESTORE against redis-server 7.0.15 side by side: payloads move both ways.

Every value is built on one server, dumped there and restored on the other, and the two
must then hold the same contents (and TTL). The values cover each encoding Redis 7.0
dumps: strings raw, integer-encoded and LZF-compressed; lists as quicklists of one and of
several listpack nodes; sets as intsets and hashtables; sorted sets and hashes as
listpacks and as skiplists/hashtables; streams with several nodes, deleted entries,
consumer groups, pending entries and consumers, and empty streams. Errors (checksum,
version, BUSYKEY, TTL, options, arity, truncated payloads) are compared reply for reply.

Keys share the hash tag {d} so the suite also runs on a 3-node cluster.
"""
import random
import struct
import time

import pytest

from test_against_redis import both, redis, same  # noqa: F401 (the redis fixture)

POLY = 0x95AC9329AC4BC9B5  # Redis's crc64: Jones polynomial, reflected
CRC_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ POLY if _c & 1 else _c >> 1
    CRC_TABLE.append(_c)


def crc64(data):
    crc = 0
    for b in data:
        crc = CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def payload(body, version=10):
    """body with a footer of this RDB version and a correct checksum."""
    b = bytes(body) + struct.pack("<H", version)
    return b + struct.pack("<Q", crc64(b))


def values():
    """(name, commands building key "{d}v") for each type and Redis encoding."""
    rnd = random.Random(7)
    words = ["w%d-%s" % (i, "x" * rnd.randint(0, 30)) for i in range(700)]
    ints = [str(rnd.randint(-10**12, 10**12)) for _ in range(700)]
    rep = "abcdefgh" * 40  # LZF compresses it
    k = "{d}v"
    return [
        ("string raw", [("SET", k, "hello world")]),
        ("string empty", [("SET", k, "")]),
        ("string int", [("SET", k, "12345")]),
        ("string negative int", [("SET", k, "-7")]),
        ("string int32", [("SET", k, "2000000000")]),
        ("string int64", [("SET", k, "9223372036854775807")]),
        ("string lzf", [("SET", k, rep)]),
        ("string binary", [("SET", k, bytes(range(256)) * 3)]),
        ("string large", [("SET", k, "".join(rnd.choice("ab") for _ in range(70000)))]),
        ("list small", [("RPUSH", k, "a", "1", "-300", "70000", "x" * 30, "", "-9223372036854775808")]),
        ("list lzf node", [("RPUSH", k, *([rep] * 5))]),
        ("list many nodes", [("RPUSH", k, *(words + ints))]),
        ("list long elements", [("RPUSH", k, *(("%d" % i) * 3000 for i in range(10)))]),
        ("set intset", [("SADD", k, "1", "2", "3", "-5", "100000", str(2**40))]),
        ("set intset16", [("SADD", k, *(str(i) for i in range(0, 300, 7)))]),
        ("set strings", [("SADD", k, "a", "b", "c" * 40)]),
        ("set large ints", [("SADD", k, *ints)]),
        ("set large", [("SADD", k, *words)]),
        ("zset listpack", [("ZADD", k, "1", "a", "2.5", "b", "-3", "c", "1e100", "d", "inf", "e",
                            "-inf", "f", "0", rep[:48])]),
        ("zset skiplist", [("ZADD", k, *[x for i, w in enumerate(words[:300])
                                          for x in (str(i * 1.25 - 100), w)])]),
        ("zset long member", [("ZADD", k, "1", "m" * 100, "2", "n")]),
        ("hash listpack", [("HSET", k, "f", "v", "n", "12", "neg", "-4000", "big", "123456789012",
                            "r", rep[:60])]),
        ("hash hashtable", [("HSET", k, *[x for w, i in zip(words, ints) for x in (w, i)])]),
        ("hash long value", [("HSET", k, "a", "v" * 100, "b", rep)]),
    ]


def contents(conn, key):
    t = conn.command("TYPE", key)
    if t == "string":
        return t, conn.command("GET", key)
    if t == "list":
        return t, conn.command("LRANGE", key, "0", "-1")
    if t == "set":
        return t, sorted(conn.command("SMEMBERS", key))
    if t == "zset":
        return t, conn.command("ZRANGE", key, "0", "-1", "WITHSCORES")
    if t == "hash":
        flat = conn.command("HGETALL", key)
        return t, sorted(zip(flat[::2], flat[1::2]))
    return t, None


@pytest.mark.parametrize("name,cmds", values(), ids=[v[0] for v in values()])
def test_redis_dump_restores_on_cairn(server, redis, name, cmds):
    cairn = both(server, redis)
    for cmd in cmds:
        redis.command(*cmd)
    data = redis.command("DUMP", "{d}v")
    assert isinstance(data, bytes)
    assert cairn.command("RESTORE", "{d}v", "0", data) == "OK"
    assert contents(cairn, "{d}v") == contents(redis, "{d}v")
    assert cairn.command("PTTL", "{d}v") == -1
    # With a TTL, and over a key of another type (REPLACE).
    cairn.command("DEL", "{d}t")
    cairn.command("HSET", "{d}t", "x", "y")
    assert cairn.command("RESTORE", "{d}t", "50000", data, "REPLACE") == "OK"
    assert contents(cairn, "{d}t") == contents(redis, "{d}v")
    assert 40000 < cairn.command("PTTL", "{d}t") <= 50000
    # Round trip: cairn's own DUMP restores on Redis to the same value.
    again = cairn.command("DUMP", "{d}v")
    assert redis.command("RESTORE", "{d}back", "0", again) == "OK"
    assert contents(redis, "{d}back") == contents(redis, "{d}v")


@pytest.mark.parametrize("name,cmds", values(), ids=[v[0] for v in values()])
def test_cairn_dump_restores_on_redis(server, redis, name, cmds):
    cairn = both(server, redis)
    for cmd in cmds:
        cairn.command(*cmd)
        redis.command(*cmd)
    data = cairn.command("DUMP", "{d}v")
    assert isinstance(data, bytes)
    assert redis.command("RESTORE", "{d}r", "0", data) == "OK"
    assert contents(redis, "{d}r") == contents(redis, "{d}v")
    assert contents(cairn, "{d}v") == contents(redis, "{d}r")
    at = int(time.time() * 1000) + 3600_000
    assert redis.command("RESTORE", "{d}r", str(at), data, "REPLACE", "ABSTTL") == "OK"
    assert redis.command("PEXPIRETIME", "{d}r") == at
    # And back: ABSTTL keeps the exact instant on cairn too.
    assert cairn.command("RESTORE", "{d}r", str(at), data, "ABSTTL") == "OK"
    assert cairn.command("PEXPIRETIME", "{d}r") == at
    assert contents(cairn, "{d}r") == contents(redis, "{d}v")


def test_errors_like_redis(server, redis):
    cairn = both(server, redis)
    for conn in (cairn, redis):
        conn.command("SET", "{d}busy", "old")
        conn.command("RPUSH", "{d}list", "a", "b")
    good = redis.command("DUMP", "{d}list")
    body = good[:-10]
    bad_crc = good[:-1] + bytes([good[-1] ^ 1])
    past = str(int(time.time() * 1000) - 10000)
    cases = [
        ("DUMP", "{d}missing"), ("DUMP",), ("DUMP", "{d}a", "{d}b"),
        ("RESTORE", "{d}n", "0"), ("RESTORE", "{d}n"),
        ("RESTORE", "{d}busy", "0", good),
        ("RESTORE", "{d}n", "-1", good), ("RESTORE", "{d}n", "abc", good),
        ("RESTORE", "{d}n", "1.5", good),
        ("RESTORE", "{d}n", "0", bad_crc), ("RESTORE", "{d}n", "0", "short"),
        ("RESTORE", "{d}n", "0", b""),
        ("RESTORE", "{d}n", "0", payload(body, 11)),
        ("RESTORE", "{d}n", "0", payload(b"\x63\x00")),  # unknown type
        ("RESTORE", "{d}n", "0", payload(b"\x02\x00")),  # empty set
        ("RESTORE", "{d}n", "0", payload(b"\x04\x05\x01a")),  # truncated hash
        ("RESTORE", "{d}n", "0", payload(b"\x00\xc3\x05\x0b\x00\x61\xe0\x00\x00")),  # bad LZF
        ("RESTORE", "{d}n", "0", payload(b"\x0b\x04\x02\x00\x00\x00")),  # truncated intset
        ("RESTORE", "{d}n", "0", payload(body, 9)), ("LRANGE", "{d}n", "0", "-1"),
        ("RESTORE", "{d}busy", "0", good, "REPLACE"), ("LRANGE", "{d}busy", "0", "-1"),
        ("RESTORE", "{d}busy", past, good, "REPLACE", "ABSTTL"), ("EXISTS", "{d}busy"),
        ("RESTORE", "{d}p", past, good, "ABSTTL"), ("EXISTS", "{d}p"),
        ("RESTORE", "{d}z", "0", good, "ABSTTL"), ("PTTL", "{d}z"),
        ("RESTORE", "{d}i", "0", good, "IDLETIME", "-1"),
        ("RESTORE", "{d}i", "0", good, "IDLETIME", "x"),
        ("RESTORE", "{d}i", "0", good, "IDLETIME"),
        ("RESTORE", "{d}i", "0", good, "IDLETIME", "10"), ("EXISTS", "{d}i"),
        ("RESTORE", "{d}f", "0", good, "FREQ", "256"),
        ("RESTORE", "{d}f", "0", good, "FREQ", "-1"),
        ("RESTORE", "{d}f", "0", good, "FREQ", "5"), ("EXISTS", "{d}f"),
        ("RESTORE", "{d}g", "0", good, "IDLETIME", "1", "FREQ", "1"),
        ("RESTORE", "{d}g", "0", good, "FREQ", "1", "IDLETIME", "1"),
        ("RESTORE", "{d}g", "0", good, "REPLACE", "FOO"),
        ("RESTORE", "{d}list", "-1", good, "FREQ", "300"),  # options are checked first
        ("RESTORE", "{d}list", "-1", bad_crc),  # BUSYKEY before the TTL and the payload
        ("RESTORE", "{d}n2", "-1", bad_crc),  # the TTL before the payload
        ("restore", "{d}n3", "0", good, "replace", "absttl"), ("LRANGE", "{d}n3", "0", "-1"),
    ]
    for case in cases:
        same(cairn, redis, *case)


def test_restore_other_encodings(server, redis):
    """Encodings Redis 7.0 no longer writes but still loads (plain LIST, ZSET with text
    scores, ziplists of a quicklist, hash and sorted set), and a quicklist's plain node
    (Redis writes one for an element of 1 GB and more)."""
    cairn = both(server, redis)

    def ziplist(entries):
        out = b""
        prev = 0
        for e in entries:
            if isinstance(e, int):
                enc = b"\xe0" + struct.pack("<q", e)
            else:
                enc = bytes([len(e)]) + e
            entry = bytes([prev]) + enc
            out += entry
            prev = len(entry)
        total = 10 + len(out) + 1
        tail = 10 + len(out) - prev
        return struct.pack("<IIH", total, tail, len(entries)) + out + b"\xff"

    def rdb_string(b):
        return bytes([len(b)]) + b

    def listpack(entries):
        out = b""
        for e in entries:
            entry = bytes([0x80 | len(e)]) + e
            out += entry + bytes([len(entry)])
        return struct.pack("<IH", 6 + len(out) + 1, len(entries)) + out + b"\xff"

    cases = [
        b"\x01\x02" + rdb_string(b"a") + rdb_string(b"bc"),  # LIST
        b"\x03\x02" + rdb_string(b"a") + b"\x031.5" + rdb_string(b"b") + b"\xfe",  # ZSET
        b"\x0e\x01" + rdb_string(ziplist([b"x", 5, b"y"])),  # QUICKLIST of ziplists
        b"\x0a" + rdb_string(ziplist([b"x", -5])),  # LIST_ZIPLIST
        b"\x0d" + rdb_string(ziplist([b"f", b"v", b"g", 7])),  # HASH_ZIPLIST
        b"\x0c" + rdb_string(ziplist([b"m", b"2.5", b"n", 3])),  # ZSET_ZIPLIST
        # QUICKLIST_2: a plain node, then a packed one
        b"\x12\x02\x01" + rdb_string(b"plain") + b"\x02" + rdb_string(listpack([b"p", b"q"])),
    ]
    for i, body in enumerate(cases):
        key = "{d}old%d" % i
        p = payload(body)
        same(cairn, redis, "RESTORE", key, "0", p)
        assert contents(cairn, key) == contents(redis, key), body


def fields(reply):
    return dict(zip(reply[::2], reply[1::2])) if isinstance(reply, list) else reply


def stream_contents(conn, key):
    """What a client can see of a stream, without idle times (they depend on the clock)
    and Redis's radix-tree sizes (cairn has no radix tree)."""
    info = fields(conn.command("XINFO", "STREAM", key))
    info = {k: info[k] for k in (b"length", b"last-generated-id", b"max-deleted-entry-id",
                                 b"entries-added", b"recorded-first-entry-id", b"groups",
                                 b"first-entry", b"last-entry")}
    groups = [fields(g) for g in conn.command("XINFO", "GROUPS", key)]
    consumers, pending = {}, {}
    for g in groups:
        name = g[b"name"]
        consumers[name] = [(c[b"name"], c[b"pending"])
                           for c in map(fields, conn.command("XINFO", "CONSUMERS", key, name))]
        pending[name] = [(e[0], e[1], e[3])
                         for e in conn.command("XPENDING", key, name, "-", "+", "1000")]
    return (info, groups, consumers, pending, conn.command("XRANGE", key, "-", "+"),
            conn.command("XREVRANGE", key, "+", "-", "COUNT", "7"))


def stream_values():
    k = "{d}v"
    big = [("XADD", k, "%d-%d" % (10 + i // 3, i % 3), "f", str(i), "g%d" % (i % 7), "v" * (i % 50))
           for i in range(250)]
    return [
        ("small", [("XADD", k, "1-1", "a", "1", "b", "2"), ("XADD", k, "1-2", "a", "3", "b", "4"),
                   ("XADD", k, "2-0", "c", "x")]),
        ("groups", [("XADD", k, "1-1", "a", "1", "b", "2"), ("XADD", k, "1-2", "a", "3", "b", "4"),
                    ("XADD", k, "2-0", "c", "x"), ("XADD", k, "3-0", "a", "5", "b", "6"),
                    ("XDEL", k, "1-2"),
                    ("XGROUP", "CREATE", k, "g", "0"),
                    ("XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "STREAMS", k, ">"),
                    ("XREADGROUP", "GROUP", "g", "bob", "COUNT", "1", "STREAMS", k, ">"),
                    ("XCLAIM", k, "g", "alice", "0", "2-0"),
                    ("XGROUP", "CREATE", k, "g2", "$"),
                    ("XGROUP", "CREATECONSUMER", k, "g2", "carol"),
                    ("XGROUP", "CREATE", k, "g3", "0"),
                    ("XREADGROUP", "GROUP", "g3", "dan", "STREAMS", k, ">"),
                    ("XACK", k, "g3", "1-1")]),
        ("many nodes", big + [("XDEL", k, "10-1", "50-0"), ("XGROUP", "CREATE", k, "g", "0"),
                              ("XREADGROUP", "GROUP", "g", "c", "COUNT", "120", "STREAMS", k, ">")]),
        ("empty", [("XADD", k, "5-5", "a", "1"), ("XDEL", k, "5-5"),
                   ("XGROUP", "CREATE", k, "g", "$")]),
        ("mkstream", [("XGROUP", "CREATE", k, "g", "$", "MKSTREAM")]),
    ]


@pytest.mark.parametrize("name,cmds", stream_values(), ids=[v[0] for v in stream_values()])
def test_stream_both_ways(server, redis, name, cmds):
    cairn = both(server, redis)
    for cmd in cmds:
        cairn.command(*cmd)
        redis.command(*cmd)
    want = stream_contents(redis, "{d}v")
    assert stream_contents(cairn, "{d}v") == want
    # Redis's payload on cairn.
    data = redis.command("DUMP", "{d}v")
    assert cairn.command("RESTORE", "{d}r", "0", data) == "OK"
    assert stream_contents(cairn, "{d}r") == want
    # cairn's payload on Redis.
    data = cairn.command("DUMP", "{d}v")
    assert isinstance(data, bytes)
    assert redis.command("RESTORE", "{d}r", "0", data) == "OK"
    assert stream_contents(redis, "{d}r") == want
    # Both restored streams go on as the original: new entries, reads and deletions.
    for conn in (cairn, redis):
        conn.command("XADD", "{d}v", "900-1", "new", "1")
        conn.command("XADD", "{d}r", "900-1", "new", "1")
    for case in [("XADD", "{d}r", "1-0", "x", "y"), ("XDEL", "{d}r", "10-2", "900-1"),
                 ("XRANGE", "{d}r", "-", "+", "COUNT", "3"), ("XREVRANGE", "{d}r", "+", "-", "COUNT", "3"),
                 ("XTRIM", "{d}r", "MAXLEN", "5"), ("XRANGE", "{d}r", "-", "+")]:
        same(cairn, redis, *case)
    if name in ("groups", "many nodes"):
        same(cairn, redis, "XREADGROUP", "GROUP", "g", "zed", "COUNT", "2", "STREAMS", "{d}v", ">")


def test_stream_payload_errors_like_redis(server, redis):
    cairn = both(server, redis)
    redis.command("XADD", "{d}s", "1-1", "f", "v")
    redis.command("XGROUP", "CREATE", "{d}s", "g", "0")
    redis.command("XREADGROUP", "GROUP", "g", "c", "STREAMS", "{d}s", ">")
    body = redis.command("DUMP", "{d}s")[:-10]
    for n in (1, 2, 20, len(body) // 2, len(body) - 1):
        same(cairn, redis, "RESTORE", "{d}t%d" % n, "0", payload(body[:n]))


def test_stream_of_redis_6(server, redis):
    """STREAM_LISTPACKS (Redis 5 and 6): type 15, without the first and max-deleted IDs,
    entries-added and groups' entries-read. Made from a 7.0 payload of small numbers,
    where each of those fields is one byte."""
    cairn = both(server, redis)
    for conn in (cairn, redis):
        for i in range(5):
            conn.command("XADD", "{d}s", "%d-1" % (i + 1), "f", str(i))
    body = redis.command("DUMP", "{d}s")[:-10]
    # ... entries, last ms, last seq, first ms, first seq, max-deleted ms, seq, added, groups
    assert body[-9:] == bytes([5, 5, 1, 1, 1, 0, 0, 5, 0])
    old = bytes([15]) + body[1:-6] + body[-1:]
    same(cairn, redis, "RESTORE", "{d}old", "0", payload(old))
    assert stream_contents(cairn, "{d}old") == stream_contents(redis, "{d}old")
