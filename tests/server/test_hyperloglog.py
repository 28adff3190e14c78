"""HyperLogLog (PFADD PFCOUNT PFMERGE) against redis-server 7.0.15 side by side: the
same commands go to both and every reply must be equal, errors included, and so must
the values' bytes (GET), in Redis's sparse and dense formats (issue 18, must-show 2).
The cached-cardinality bytes (8-15) are compared only where no PFCOUNT ran: cairn's
PFCOUNT does not write its result back into the value (docs/commands.md).
"""
import random

from test_against_redis import both, redis, same  # noqa: F401 (the redis fixture)


def same_value(cairn, redis, key, mask_cache):
    want, got = redis.command("GET", key), cairn.command("GET", key)
    if mask_cache and want is not None and got is not None:
        want, got = want[:8] + want[16:], got[:8] + got[16:]
    assert got == want, "GET %s differs (%d and %d bytes)" % (key, len(got or b""), len(want or b""))


def test_hll_replies_and_bytes_match_redis(server, redis):  # noqa: F811
    cairn = both(server, redis)
    same(cairn, redis, "PFADD", "{h}a")
    same_value(cairn, redis, "{h}a", False)  # a new, empty sparse HLL
    same(cairn, redis, "PFADD", "{h}a", "x", "y", "z")
    same(cairn, redis, "PFADD", "{h}a", "x")
    same_value(cairn, redis, "{h}a", False)
    same(cairn, redis, "PFCOUNT", "{h}a")
    same(cairn, redis, "PFCOUNT", "{h}missing")
    same(cairn, redis, "PFCOUNT", "{h}a", "{h}missing")
    same(cairn, redis, "SET", "{h}s", "not an hll")
    same(cairn, redis, "PFADD", "{h}s", "x")
    same(cairn, redis, "PFCOUNT", "{h}s")
    same(cairn, redis, "PFMERGE", "{h}d", "{h}s")
    same(cairn, redis, "LPUSH", "{h}l", "x")
    same(cairn, redis, "PFADD", "{h}l", "x")
    same(cairn, redis, "PFCOUNT", "{h}a", "{h}l")
    same(cairn, redis, "SET", "{h}fake", "HYLL\x07")  # a bad encoding byte
    same(cairn, redis, "PFCOUNT", "{h}fake")
    # Growing: sparse, then past 3000 bytes or a register above 32, dense.
    rng = random.Random(7)
    for n in (10, 100, 1000, 5000, 20000):
        elements = ["e%d" % rng.randrange(10 ** 9) for _ in range(n)]
        for start in range(0, n, 500):
            same(cairn, redis, "PFADD", "{h}big", *elements[start:start + 500])
        same_value(cairn, redis, "{h}big", False)
    same(cairn, redis, "PFCOUNT", "{h}big")
    same(cairn, redis, "PFADD", "{h}b2", *["f%d" % i for i in range(300)])
    same(cairn, redis, "PFMERGE", "{h}m", "{h}a", "{h}b2")
    same_value(cairn, redis, "{h}m", False)
    same(cairn, redis, "PFCOUNT", "{h}m")
    same(cairn, redis, "PFMERGE", "{h}m", "{h}big", "{h}missing")
    same_value(cairn, redis, "{h}m", True)
    same(cairn, redis, "PFCOUNT", "{h}m", "{h}a", "{h}b2")
    same(cairn, redis, "PFCOUNT", "{h}m")
    same(cairn, redis, "PFMERGE", "{h}empty")
    same_value(cairn, redis, "{h}empty", False)
    # A value written by Redis is read by cairn: copy the bytes across.
    cairn.command("SET", "{h}copied", redis.command("GET", "{h}big"))
    assert cairn.command("PFCOUNT", "{h}copied") == redis.command("PFCOUNT", "{h}big")


def test_random_hll_operations_match_redis(server, redis):  # noqa: F811
    cairn = both(server, redis)
    rng = random.Random(20261207)
    for step in range(300):
        key = "{r}%d" % rng.randrange(4)
        op = rng.randrange(4)
        if op == 0:
            same(cairn, redis, "PFADD", key, *["v%d" % rng.randrange(3000) for _ in range(rng.randrange(1, 40))])
            same_value(cairn, redis, key, True)
        elif op == 1:
            same(cairn, redis, "PFCOUNT", key)
        elif op == 2:
            same(cairn, redis, "PFCOUNT", "{r}0", "{r}1", "{r}2", "{r}3")
        else:
            same(cairn, redis, "PFMERGE", key, "{r}%d" % rng.randrange(4), "{r}%d" % rng.randrange(4))
            same_value(cairn, redis, key, True)
