"""End-to-end tests of the Redis 7 collection types on cairn-server's RESP port: hashes,
lists, sets and sorted sets, plus keyspace commands on each type.

redis-py (RESP2, bytes) for the plain replies; a raw socket (server.raw()) wherever the
exact error string or the exact reply type matters. Every test here passes against a real
redis-server 7.0, which is the reference for the expected values.
"""
import threading
import time

import pytest

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
MINMAX_NOT_FLOAT = "ERR min or max is not a float"
MINMAX_NOT_LEX = "ERR min or max not valid string range item"
NOT_POSITIVE = "ERR value is out of range, must be positive"


def scan_all(fetch):
    """Calls fetch(cursor) -> (cursor, items) from 0 until the cursor returns to 0."""
    items = []
    cursor = 0
    for _ in range(10000):
        cursor, page = fetch(cursor)
        if isinstance(page, dict):
            page = list(page.items())
        items.extend(page)
        if cursor == 0:
            return items
    raise AssertionError("scan did not return to cursor 0")


# --- hashes ---------------------------------------------------------------------------


def test_hset_counts_new_fields_and_hget_reads_them(server):
    r = server.client()
    assert r.hset("h", mapping={"f1": "v1", "f2": "v2"}) == 2
    assert r.hset("h", mapping={"f1": "x", "f3": "y"}) == 1  # f1 updated, f3 new
    assert r.hget("h", "f1") == b"x"
    assert r.hget("h", "f3") == b"y"
    assert r.hget("h", "nofield") is None
    assert r.hget("nohash", "f1") is None


def test_hset_with_odd_field_value_count_is_an_arity_error(server):
    c = server.raw()
    assert c.command("HSET", "h", "f") == "ERR wrong number of arguments for 'hset' command"
    assert c.command("HSET", "h", "f", "v", "g") == \
        "ERR wrong number of arguments for 'hset' command"
    assert c.command("EXISTS", "h") == 0


def test_hsetnx_sets_only_a_missing_field(server):
    r = server.client()
    assert r.hsetnx("h", "f", "first") == 1
    assert r.hsetnx("h", "f", "second") == 0
    assert r.hget("h", "f") == b"first"


def test_hmget_returns_nil_for_missing_fields_and_keys(server):
    r = server.client()
    r.hset("h", mapping={"a": "1", "b": "2"})
    assert r.hmget("h", ["a", "nope", "b"]) == [b"1", None, b"2"]
    assert r.hmget("nohash", ["a", "b"]) == [None, None]


def test_hmset_replies_ok(server):
    c = server.raw()
    assert c.command("HMSET", "h", "a", "1", "b", "2") == "OK"
    assert c.command("HMSET", "h", "a", "3") == "OK"
    assert c.command("HGETALL", "h") == [b"a", b"3", b"b", b"2"]


def test_hdel_counts_removed_fields_and_hlen_follows(server):
    r = server.client()
    r.hset("h", mapping={"a": "1", "b": "2", "c": "3"})
    assert r.hlen("h") == 3
    assert r.hdel("h", "a", "nope", "a") == 1
    assert r.hlen("h") == 2
    assert r.hdel("nohash", "a") == 0
    assert r.hlen("nohash") == 0


def test_hstrlen_and_hexists(server):
    r = server.client()
    r.hset("h", "f", "hello")
    assert r.hstrlen("h", "f") == 5
    assert r.hstrlen("h", "nope") == 0
    assert r.hstrlen("nohash", "f") == 0
    assert r.hexists("h", "f") is True
    assert r.hexists("h", "nope") is False
    assert r.hexists("nohash", "f") is False


def test_hkeys_hvals_hgetall_agree(server):
    r = server.client()
    fields = {b"f%d" % i: b"v%d" % i for i in range(20)}
    r.hset("h", mapping=fields)
    keys, vals, everything = r.hkeys("h"), r.hvals("h"), r.hgetall("h")
    assert everything == fields
    assert sorted(keys) == sorted(fields)
    assert dict(zip(keys, vals)) == fields  # same order in HKEYS and HVALS
    assert r.hkeys("nohash") == [] and r.hvals("nohash") == [] and r.hgetall("nohash") == {}


def test_hincrby_creates_and_increments(server):
    r = server.client()
    assert r.hincrby("h", "n", 5) == 5
    assert r.hincrby("h", "n", -8) == -3
    assert r.hget("h", "n") == b"-3"


def test_hincrby_errors(server):
    c = server.raw()
    assert c.command("HSET", "h", "s", "abc", "big", "9223372036854775807") == 2
    assert c.command("HINCRBY", "h", "s", "1") == "ERR hash value is not an integer"
    assert c.command("HINCRBY", "h", "n", "x") == NOT_INTEGER
    assert c.command("HINCRBY", "h", "big", "1") == \
        "ERR increment or decrement would overflow"
    assert c.command("HGET", "h", "big") == b"9223372036854775807"


def test_hincrbyfloat(server):
    c = server.raw()
    assert c.command("HINCRBYFLOAT", "h", "f", "10.5") == b"10.5"
    assert c.command("HINCRBYFLOAT", "h", "f", "-0.25") == b"10.25"
    assert c.command("HSET", "h", "e", "5.0e3") == 1
    assert c.command("HINCRBYFLOAT", "h", "e", "2.0e2") == b"5200"
    assert c.command("HGET", "h", "e") == b"5200"
    assert c.command("HSET", "h", "s", "abc") == 1
    assert c.command("HINCRBYFLOAT", "h", "s", "1") == "ERR hash value is not a float"
    assert c.command("HINCRBYFLOAT", "h", "f", "abc") == NOT_FLOAT


def test_hrandfield_positive_count_returns_distinct_fields(server):
    r = server.client()
    fields = {b"f%d" % i: b"v%d" % i for i in range(5)}
    r.hset("h", mapping=fields)
    some = r.hrandfield("h", 3)
    assert len(some) == 3 and len(set(some)) == 3 and set(some) <= set(fields)
    every = r.hrandfield("h", 10)  # more than the hash holds: each field once
    assert sorted(every) == sorted(fields)
    single = r.hrandfield("h")
    assert single in fields


def test_hrandfield_negative_count_may_repeat(server):
    r = server.client()
    r.hset("h", mapping={"a": "1", "b": "2"})
    got = r.hrandfield("h", -10)
    assert len(got) == 10 and set(got) <= {b"a", b"b"}


def test_hrandfield_withvalues_returns_field_value_pairs(server):
    c = server.raw()
    c.command("HSET", "h", "a", "1", "b", "2", "c", "3")
    got = c.command("HRANDFIELD", "h", "2", "WITHVALUES")
    assert len(got) == 4
    pairs = dict(zip(got[0::2], got[1::2]))
    assert len(pairs) == 2 and all({b"a": b"1", b"b": b"2", b"c": b"3"}[f] == v
                                   for f, v in pairs.items())
    got = c.command("HRANDFIELD", "h", "-5", "WITHVALUES")
    assert len(got) == 10
    assert all({b"a": b"1", b"b": b"2", b"c": b"3"}[f] == v
               for f, v in zip(got[0::2], got[1::2]))


def test_hrandfield_on_missing_key(server):
    c = server.raw()
    assert c.command("HRANDFIELD", "nohash") is None
    assert c.command("HRANDFIELD", "nohash", "3") == []
    assert c.command("HRANDFIELD", "nohash", "-3", "WITHVALUES") == []


def test_hscan_iterates_to_cursor_zero_and_returns_every_field(server):
    r = server.client()
    fields = {b"field:%04d" % i: b"%d" % i for i in range(1000)}
    r.hset("h", mapping=fields)
    got = scan_all(lambda cur: r.hscan("h", cur, count=50))
    assert dict(got) == fields
    assert len({f for f, _ in got}) == 1000


def test_hscan_small_hash_and_match(server):
    r = server.client()
    r.hset("h", mapping={"apple": "1", "avocado": "2", "banana": "3"})
    got = scan_all(lambda cur: r.hscan("h", cur, match="a*"))
    assert dict(got) == {b"apple": b"1", b"avocado": b"2"}
    assert r.hscan("nohash", 0) == (0, {})


# --- lists ----------------------------------------------------------------------------


def test_lpush_and_rpush_order(server):
    r = server.client()
    assert r.lpush("l", "a", "b", "c") == 3
    assert r.lrange("l", 0, -1) == [b"c", b"b", b"a"]
    assert r.rpush("l", "x", "y") == 5
    assert r.lrange("l", 0, -1) == [b"c", b"b", b"a", b"x", b"y"]


def test_lpushx_and_rpushx_only_push_onto_an_existing_list(server):
    r = server.client()
    assert r.lpushx("l", "a") == 0
    assert r.rpushx("l", "a") == 0
    assert r.exists("l") == 0
    r.rpush("l", "m")
    assert r.lpushx("l", "a", "b") == 3
    assert r.rpushx("l", "z") == 4
    assert r.lrange("l", 0, -1) == [b"b", b"a", b"m", b"z"]


def test_lpop_and_rpop_single(server):
    r = server.client()
    r.rpush("l", "a", "b", "c")
    assert r.lpop("l") == b"a"
    assert r.rpop("l") == b"c"
    assert r.lpop("nolist") is None
    assert r.rpop("nolist") is None


def test_lpop_and_rpop_with_count(server):
    r = server.client()
    r.rpush("l", "a", "b", "c", "d", "e")
    assert r.lpop("l", 2) == [b"a", b"b"]
    assert r.rpop("l", 2) == [b"e", b"d"]
    assert r.rpop("l", 10) == [b"c"]  # more than there is: all of it
    assert r.exists("l") == 0


def test_pop_count_zero_and_missing_key_replies(server):
    c = server.raw()
    c.command("RPUSH", "l", "a")
    assert c.command("LPOP", "l", "0") == [] and c.last_type == "*"
    assert c.command("RPOP", "l", "0") == []
    assert c.command("LLEN", "l") == 1
    # A missing key with a count: a nil array (*-1), not an empty one.
    assert c.command("LPOP", "nolist", "2") is None and c.last_type == "*"
    assert c.command("RPOP", "nolist", "0") is None and c.last_type == "*"
    assert c.command("LPOP", "l", "-1") == NOT_POSITIVE


def test_llen_and_lindex_with_negative_index(server):
    r = server.client()
    r.rpush("l", "a", "b", "c")
    assert r.llen("l") == 3 and r.llen("nolist") == 0
    assert r.lindex("l", 0) == b"a"
    assert r.lindex("l", -1) == b"c"
    assert r.lindex("l", -3) == b"a"
    assert r.lindex("l", 3) is None
    assert r.lindex("l", -4) is None
    assert r.lindex("nolist", 0) is None


def test_lset_and_its_errors(server):
    c = server.raw()
    c.command("RPUSH", "l", "a", "b", "c")
    assert c.command("LSET", "l", "1", "B") == "OK"
    assert c.command("LSET", "l", "-1", "C") == "OK"
    assert c.command("LRANGE", "l", "0", "-1") == [b"a", b"B", b"C"]
    assert c.command("LSET", "l", "3", "x") == "ERR index out of range"
    assert c.command("LSET", "l", "-4", "x") == "ERR index out of range"
    assert c.command("LSET", "nolist", "0", "x") == "ERR no such key"
    assert c.command("LSET", "l", "one", "x") == NOT_INTEGER


def test_lrange_negative_and_out_of_range_indexes(server):
    r = server.client()
    r.rpush("l", "a", "b", "c", "d")
    assert r.lrange("l", 0, -1) == [b"a", b"b", b"c", b"d"]
    assert r.lrange("l", -2, -1) == [b"c", b"d"]
    assert r.lrange("l", -100, 100) == [b"a", b"b", b"c", b"d"]
    assert r.lrange("l", 1, 1) == [b"b"]
    assert r.lrange("l", 5, 10) == []
    assert r.lrange("l", 2, 1) == []
    assert r.lrange("l", -1, -2) == []
    assert r.lrange("nolist", 0, -1) == []


def test_ltrim_keeps_a_range_and_deletes_an_emptied_list(server):
    r = server.client()
    r.rpush("l", "a", "b", "c", "d", "e")
    assert r.ltrim("l", 1, -2) is True
    assert r.lrange("l", 0, -1) == [b"b", b"c", b"d"]
    assert r.ltrim("l", -2, 100) is True
    assert r.lrange("l", 0, -1) == [b"c", b"d"]
    assert r.ltrim("l", 5, 10) is True
    assert r.exists("l") == 0


def test_lrem_with_positive_negative_and_zero_count(server):
    r = server.client()
    r.rpush("l", "x", "a", "x", "b", "x", "c", "x")
    assert r.lrem("l", 2, "x") == 2  # from the head
    assert r.lrange("l", 0, -1) == [b"a", b"b", b"x", b"c", b"x"]
    assert r.lrem("l", -1, "x") == 1  # from the tail
    assert r.lrange("l", 0, -1) == [b"a", b"b", b"x", b"c"]
    r.rpush("l", "x", "x")
    assert r.lrem("l", 0, "x") == 3  # all of them
    assert r.lrange("l", 0, -1) == [b"a", b"b", b"c"]
    assert r.lrem("l", 0, "nope") == 0
    assert r.lrem("nolist", 0, "x") == 0


def test_linsert_before_and_after(server):
    r = server.client()
    r.rpush("l", "a", "c")
    assert r.linsert("l", "BEFORE", "c", "b") == 3
    assert r.linsert("l", "AFTER", "c", "d") == 4
    assert r.linsert("l", "after", "a", "a2") == 5
    assert r.lrange("l", 0, -1) == [b"a", b"a2", b"b", b"c", b"d"]


def test_linsert_missing_pivot_key_and_bad_position(server):
    c = server.raw()
    c.command("RPUSH", "l", "a")
    assert c.command("LINSERT", "l", "BEFORE", "nope", "x") == -1
    assert c.command("LINSERT", "nolist", "BEFORE", "a", "x") == 0
    assert c.command("EXISTS", "nolist") == 0
    assert c.command("LINSERT", "l", "MIDDLE", "a", "x") == "ERR syntax error"
    assert c.command("LRANGE", "l", "0", "-1") == [b"a"]


def test_lpos_rank_count_and_maxlen(server):
    r = server.client()
    r.rpush("l", "a", "b", "c", "1", "2", "3", "c", "c")
    assert r.lpos("l", "c") == 2
    assert r.lpos("l", "c", rank=2) == 6
    assert r.lpos("l", "c", rank=-1) == 7
    assert r.lpos("l", "c", rank=-3) == 2
    assert r.lpos("l", "c", rank=4) is None
    assert r.lpos("l", "c", count=2) == [2, 6]
    assert r.lpos("l", "c", count=0) == [2, 6, 7]
    assert r.lpos("l", "c", rank=-1, count=2) == [7, 6]
    assert r.lpos("l", "c", maxlen=2) is None  # only the first 2 elements compared
    assert r.lpos("l", "c", count=0, maxlen=7) == [2, 6]
    assert r.lpos("l", "z") is None
    assert r.lpos("l", "z", count=0) == []
    assert r.lpos("nolist", "a") is None


def test_lpos_errors(server):
    c = server.raw()
    c.command("RPUSH", "l", "a")
    assert c.command("LPOS", "l", "a", "RANK", "0") == \
        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second " \
        "... or use negative to start from the end of the list"
    assert c.command("LPOS", "l", "a", "COUNT", "-1") == "ERR COUNT can't be negative"
    assert c.command("LPOS", "l", "a", "MAXLEN", "-1") == "ERR MAXLEN can't be negative"
    assert c.command("LPOS", "l", "a", "BOGUS", "1") == "ERR syntax error"


def test_lmove_in_every_direction(server):
    r = server.client()
    r.rpush("{t}src", "1", "2", "3", "4")
    assert r.lmove("{t}src", "{t}dst", "LEFT", "RIGHT") == b"1"
    assert r.lmove("{t}src", "{t}dst", "RIGHT", "LEFT") == b"4"
    assert r.lmove("{t}src", "{t}dst", "LEFT", "LEFT") == b"2"
    assert r.lmove("{t}src", "{t}dst", "RIGHT", "RIGHT") == b"3"
    assert r.exists("{t}src") == 0
    assert r.lrange("{t}dst", 0, -1) == [b"2", b"4", b"1", b"3"]


def test_lmove_missing_source_and_bad_direction(server):
    c = server.raw()
    assert c.command("LMOVE", "{t}nolist", "{t}dst", "LEFT", "RIGHT") is None
    assert c.command("EXISTS", "{t}dst") == 0
    c.command("RPUSH", "{t}l", "a")
    assert c.command("LMOVE", "{t}l", "{t}dst", "UP", "RIGHT") == "ERR syntax error"


def test_lmove_into_a_non_list_is_wrongtype_and_moves_nothing(server):
    c = server.raw()
    c.command("RPUSH", "{t}l", "a")
    c.command("SET", "{t}str", "x")
    assert c.command("LMOVE", "{t}l", "{t}str", "LEFT", "RIGHT") == WRONGTYPE
    assert c.command("LRANGE", "{t}l", "0", "-1") == [b"a"]
    assert c.command("GET", "{t}str") == b"x"


def test_rpoplpush_including_same_source_and_destination(server):
    r = server.client()
    r.rpush("{t}a", "1", "2", "3")
    assert r.rpoplpush("{t}a", "{t}b") == b"3"
    assert r.lrange("{t}b", 0, -1) == [b"3"]
    assert r.rpoplpush("{t}a", "{t}a") == b"2"  # rotation
    assert r.lrange("{t}a", 0, -1) == [b"2", b"1"]
    assert r.lmove("{t}a", "{t}a", "LEFT", "RIGHT") == b"2"
    assert r.lrange("{t}a", 0, -1) == [b"1", b"2"]
    assert r.rpoplpush("{t}nolist", "{t}a") is None


def test_blpop_and_brpop_return_at_once_when_data_is_present(server):
    r = server.client()
    r.rpush("{t}second", "x", "y", "z")
    start = time.monotonic()
    assert r.blpop(["{t}empty", "{t}second"], timeout=5) == (b"{t}second", b"x")
    assert r.brpop(["{t}empty", "{t}second"], timeout=5) == (b"{t}second", b"z")
    assert time.monotonic() - start < 1.0
    r.rpush("{t}first", "f")
    assert r.blpop(["{t}first", "{t}second"], timeout=5) == (b"{t}first", b"f")  # key order


def test_blpop_and_brpop_time_out_with_nil(server):
    r = server.client()
    start = time.monotonic()
    assert r.blpop(["{t}nolist"], timeout=0.2) is None
    assert r.brpop(["{t}nolist", "{t}other"], timeout=0.2) is None
    elapsed = time.monotonic() - start
    assert 0.35 <= elapsed < 3.0


def test_blmove_returns_at_once_or_times_out(server):
    r = server.client()
    r.rpush("{t}src", "a", "b")
    assert r.blmove("{t}src", "{t}dst", 5, "RIGHT", "LEFT") == b"b"
    assert r.lrange("{t}dst", 0, -1) == [b"b"]
    start = time.monotonic()
    assert r.blmove("{t}nolist", "{t}dst", 0.2, "LEFT", "LEFT") is None
    assert 0.15 <= time.monotonic() - start < 3.0
    assert r.lrange("{t}dst", 0, -1) == [b"b"]


def test_blpop_timeout_errors(server):
    c = server.raw()
    assert c.command("BLPOP", "l", "-1") == "ERR timeout is negative"
    assert c.command("BLPOP", "l", "soon") == "ERR timeout is not a float or out of range"


def test_blpop_is_woken_by_a_push_from_another_connection(server):
    a, b = server.client(), server.client()
    result = {}

    def waiter():
        start = time.monotonic()
        result["value"] = a.blpop(["q"], timeout=5)
        result["elapsed"] = time.monotonic() - start

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.2)
    assert b.rpush("q", "job1", "job2") == 2
    t.join(10)
    assert not t.is_alive()
    assert result["value"] == (b"q", b"job1")
    assert result["elapsed"] < 4.0
    assert b.lrange("q", 0, -1) == [b"job2"]


def test_blmove_is_woken_by_a_push_from_another_connection(server):
    a, b = server.client(), server.client()
    result = {}
    t = threading.Thread(target=lambda: result.setdefault(
        "value", a.blmove("{t}src", "{t}dst", 5, "LEFT", "RIGHT")))
    t.start()
    time.sleep(0.2)
    b.lpush("{t}src", "item")
    t.join(10)
    assert result["value"] == b"item"
    assert b.exists("{t}src") == 0
    assert b.lrange("{t}dst", 0, -1) == [b"item"]


# --- sets -----------------------------------------------------------------------------


def test_sadd_and_srem_count_changes(server):
    r = server.client()
    assert r.sadd("s", "a", "b", "a") == 2
    assert r.sadd("s", "b", "c") == 1
    assert r.srem("s", "a", "nope", "a") == 1
    assert r.srem("noset", "a") == 0
    assert r.smembers("s") == {b"b", b"c"}


def test_smembers_sismember_smismember_scard(server):
    r = server.client()
    r.sadd("s", "a", "b", "1", "2")
    assert r.smembers("s") == {b"a", b"b", b"1", b"2"}
    assert r.sismember("s", "a") is True
    assert r.sismember("s", "z") is False
    assert r.sismember("noset", "a") is False
    assert r.smismember("s", ["a", "z", "2"]) == [1, 0, 1]
    assert r.smismember("noset", ["a", "b"]) == [0, 0]
    assert r.scard("s") == 4 and r.scard("noset") == 0
    assert r.smembers("noset") == set()


def test_integer_and_string_members_mix(server):
    r = server.client()
    assert r.sadd("s", *range(100)) == 100
    assert r.sadd("s", "010", "10", "-5", "abc") == 3  # "10" is already there; "010" is not
    assert r.scard("s") == 103
    assert r.sismember("s", "010") and r.sismember("s", "-5") and r.sismember("s", "99")
    assert not r.sismember("s", "100")


def test_spop_single_and_with_count(server):
    c = server.raw()
    c.command("SADD", "s", "a", "b", "c", "d")
    one = c.command("SPOP", "s")
    assert one in (b"a", b"b", b"c", b"d")
    two = c.command("SPOP", "s", "2")
    assert len(two) == 2 and one not in two
    assert c.command("SCARD", "s") == 1
    rest = c.command("SPOP", "s", "10")
    assert sorted([one] + two + rest) == [b"a", b"b", b"c", b"d"]
    assert c.command("EXISTS", "s") == 0
    assert c.command("SPOP", "s") is None
    assert c.command("SPOP", "s", "3") == []
    c.command("SADD", "s", "a")
    assert c.command("SPOP", "s", "0") == []
    assert c.command("SPOP", "s", "-1") == NOT_POSITIVE


def test_srandmember_positive_and_negative_count(server):
    r = server.client()
    members = {b"m%d" % i for i in range(5)}
    r.sadd("s", *members)
    assert r.srandmember("s") in members
    three = r.srandmember("s", 3)
    assert len(three) == 3 and len(set(three)) == 3 and set(three) <= members
    assert sorted(r.srandmember("s", 50)) == sorted(members)
    repeats = r.srandmember("s", -20)
    assert len(repeats) == 20 and set(repeats) <= members
    assert r.scard("s") == 5  # nothing removed
    assert r.srandmember("noset") is None
    assert r.srandmember("noset", 5) == [] and r.srandmember("noset", -5) == []


def test_smove(server):
    r = server.client()
    r.sadd("{t}src", "a", "b")
    assert r.smove("{t}src", "{t}dst", "a") is True
    assert r.smembers("{t}src") == {b"b"} and r.smembers("{t}dst") == {b"a"}
    assert r.smove("{t}src", "{t}dst", "nope") is False
    assert r.smove("{t}nosrc", "{t}dst", "a") is False
    assert r.smove("{t}src", "{t}dst", "b") is True
    assert r.exists("{t}src") == 0
    assert r.smembers("{t}dst") == {b"a", b"b"}
    assert r.smove("{t}dst", "{t}dst", "a") is True  # same set: nothing changes
    assert r.smembers("{t}dst") == {b"a", b"b"}


def test_sinter_sunion_sdiff(server):
    r = server.client()
    r.sadd("{t}a", "1", "2", "3", "4")
    r.sadd("{t}b", "3", "4", "5")
    r.sadd("{t}c", "4", "6")
    assert r.sinter("{t}a", "{t}b") == {b"3", b"4"}
    assert r.sinter("{t}a", "{t}b", "{t}c") == {b"4"}
    assert r.sinter("{t}a", "{t}noset") == set()
    assert r.sunion("{t}a", "{t}b", "{t}c") == {b"1", b"2", b"3", b"4", b"5", b"6"}
    assert r.sunion("{t}noset", "{t}c") == {b"4", b"6"}
    assert r.sdiff("{t}a", "{t}b", "{t}c") == {b"1", b"2"}
    assert r.sdiff("{t}a", "{t}noset") == {b"1", b"2", b"3", b"4"}
    assert r.sdiff("{t}noset", "{t}a") == set()


def test_set_store_commands(server):
    r = server.client()
    r.sadd("{t}a", "1", "2", "3")
    r.sadd("{t}b", "2", "3", "4")
    assert r.sinterstore("{t}d", ["{t}a", "{t}b"]) == 2
    assert r.smembers("{t}d") == {b"2", b"3"}
    assert r.sunionstore("{t}d", ["{t}a", "{t}b"]) == 4  # overwrites
    assert r.smembers("{t}d") == {b"1", b"2", b"3", b"4"}
    assert r.sdiffstore("{t}d", ["{t}a", "{t}b"]) == 1
    assert r.smembers("{t}d") == {b"1"}
    assert r.sinterstore("{t}a", ["{t}a", "{t}b"]) == 2  # destination may be a source
    assert r.smembers("{t}a") == {b"2", b"3"}


def test_set_store_overwrites_other_types_and_deletes_on_empty_result(server):
    r = server.client()
    r.set("{t}d", "string")
    r.sadd("{t}a", "1")
    assert r.sunionstore("{t}d", ["{t}a"]) == 1
    assert r.type("{t}d") == b"set"
    assert r.sinterstore("{t}d", ["{t}a", "{t}noset"]) == 0
    assert r.exists("{t}d") == 0
    r.set("{t}d", "string")
    assert r.sdiffstore("{t}d", ["{t}noset"]) == 0
    assert r.exists("{t}d") == 0


def test_sintercard_and_limit(server):
    c = server.raw()
    c.command("SADD", "{t}a", "1", "2", "3", "4")
    c.command("SADD", "{t}b", "2", "3", "4", "5")
    assert c.command("SINTERCARD", "2", "{t}a", "{t}b") == 3
    assert c.command("SINTERCARD", "2", "{t}a", "{t}b", "LIMIT", "2") == 2
    assert c.command("SINTERCARD", "2", "{t}a", "{t}b", "LIMIT", "0") == 3  # 0: no limit
    assert c.command("SINTERCARD", "1", "{t}a") == 4
    assert c.command("SINTERCARD", "2", "{t}a", "{t}noset") == 0
    assert c.command("SINTERCARD", "0", "{t}a") == "ERR numkeys should be greater than 0"
    assert c.command("SINTERCARD", "1", "{t}a", "LIMIT", "-1") == "ERR LIMIT can't be negative"
    assert c.command("SINTERCARD", "3", "{t}a", "{t}b") == \
        "ERR Number of keys can't be greater than number of args"


def test_sscan_returns_every_member_and_honours_match(server):
    r = server.client()
    members = {b"m:%04d" % i for i in range(600)} | {b"other"}
    r.sadd("s", *members)
    got = scan_all(lambda cur: r.sscan("s", cur, count=40))
    assert set(got) == members and len(got) >= len(members)
    matched = scan_all(lambda cur: r.sscan("s", cur, match="m:000*"))
    assert sorted(set(matched)) == [b"m:%04d" % i for i in range(10)]
    r.sadd("ints", 1, 2, 3)
    assert sorted(scan_all(lambda cur: r.sscan("ints", cur))) == [b"1", b"2", b"3"]


# --- sorted sets ----------------------------------------------------------------------


def test_zadd_counts_new_members_and_updates_scores(server):
    r = server.client()
    assert r.zadd("z", {"a": 1, "b": 2}) == 2
    assert r.zadd("z", {"a": 5, "c": 3}) == 1
    assert r.zscore("z", "a") == 5.0
    assert r.zrange("z", 0, -1, withscores=True) == [(b"b", 2.0), (b"c", 3.0), (b"a", 5.0)]


def test_zadd_nx_and_xx(server):
    r = server.client()
    r.zadd("z", {"a": 1})
    assert r.zadd("z", {"a": 10, "b": 2}, nx=True) == 1  # only b added, a untouched
    assert r.zscore("z", "a") == 1.0
    assert r.zadd("z", {"a": 10, "c": 3}, xx=True) == 0  # a updated, c not added
    assert r.zscore("z", "a") == 10.0 and r.zscore("z", "c") is None
    assert r.zadd("nozset", {"a": 1}, xx=True) == 0
    assert r.exists("nozset") == 0


def test_zadd_gt_and_lt(server):
    c = server.raw()
    c.command("ZADD", "z", "5", "a")
    assert c.command("ZADD", "z", "GT", "3", "a") == 0
    assert c.command("ZSCORE", "z", "a") == b"5"
    assert c.command("ZADD", "z", "GT", "7", "a") == 0
    assert c.command("ZSCORE", "z", "a") == b"7"
    assert c.command("ZADD", "z", "LT", "9", "a") == 0
    assert c.command("ZSCORE", "z", "a") == b"7"
    assert c.command("ZADD", "z", "LT", "2", "a") == 0
    assert c.command("ZSCORE", "z", "a") == b"2"
    # GT/LT only restrict updates: new members are still added.
    assert c.command("ZADD", "z", "GT", "1", "b") == 1
    assert c.command("ZADD", "z", "LT", "100", "c") == 1
    assert c.command("ZADD", "z", "XX", "GT", "CH", "50", "b", "0", "c") == 1


def test_zadd_ch_counts_changed_members(server):
    c = server.raw()
    c.command("ZADD", "z", "1", "a", "2", "b")
    assert c.command("ZADD", "z", "CH", "1", "a", "20", "b", "3", "c") == 2  # b changed, c new
    assert c.command("ZADD", "z", "CH", "1", "a") == 0
    assert c.command("ZADD", "z", "GT", "CH", "0", "a") == 0


def test_zadd_incr_replies_with_the_new_score(server):
    c = server.raw()
    assert c.command("ZADD", "z", "INCR", "2.5", "a") == b"2.5"
    assert c.command("ZADD", "z", "INCR", "-1", "a") == b"1.5"
    assert c.command("ZADD", "z", "NX", "INCR", "1", "a") is None  # exists: nothing done
    assert c.command("ZADD", "z", "XX", "INCR", "1", "b") is None  # missing: nothing done
    assert c.command("ZADD", "z", "GT", "INCR", "-1", "a") is None  # would lower it
    assert c.command("ZSCORE", "z", "a") == b"1.5"
    assert c.command("ZSCORE", "z", "b") is None


def test_zadd_option_and_argument_errors(server):
    c = server.raw()
    assert c.command("ZADD", "z", "XX", "NX", "1", "a") == \
        "ERR XX and NX options at the same time are not compatible"
    gt_lt_nx = "ERR GT, LT, and/or NX options at the same time are not compatible"
    assert c.command("ZADD", "z", "GT", "LT", "1", "a") == gt_lt_nx
    assert c.command("ZADD", "z", "NX", "GT", "1", "a") == gt_lt_nx
    assert c.command("ZADD", "z", "NX", "LT", "1", "a") == gt_lt_nx
    assert c.command("ZADD", "z", "INCR", "1", "a", "2", "b") == \
        "ERR INCR option supports a single increment-element pair"
    assert c.command("ZADD", "z", "abc", "a") == NOT_FLOAT
    assert c.command("ZADD", "z", "nan", "a") == NOT_FLOAT
    assert c.command("ZADD", "z", "1", "a", "2") == "ERR syntax error"
    assert c.command("ZADD", "z", "1") == "ERR wrong number of arguments for 'zadd' command"
    assert c.command("EXISTS", "z") == 0


def test_zadd_accepts_infinities(server):
    c = server.raw()
    assert c.command("ZADD", "z", "+inf", "top", "-inf", "bottom", "0", "mid") == 3
    assert c.command("ZSCORE", "z", "top") == b"inf"
    assert c.command("ZSCORE", "z", "bottom") == b"-inf"
    assert c.command("ZRANGE", "z", "0", "-1") == [b"bottom", b"mid", b"top"]


def test_zrem_and_zcard(server):
    r = server.client()
    r.zadd("z", {"a": 1, "b": 2, "c": 3})
    assert r.zcard("z") == 3
    assert r.zrem("z", "a", "nope", "a") == 1
    assert r.zcard("z") == 2
    assert r.zrem("nozset", "a") == 0
    assert r.zcard("nozset") == 0


def test_zscore_and_zmscore(server):
    c = server.raw()
    c.command("ZADD", "z", "1.5", "a", "-3", "b", "10", "c")
    assert c.command("ZSCORE", "z", "a") == b"1.5"
    assert c.command("ZSCORE", "z", "b") == b"-3"
    assert c.command("ZSCORE", "z", "c") == b"10"
    assert c.command("ZSCORE", "z", "nope") is None
    assert c.command("ZSCORE", "nozset", "a") is None
    assert c.command("ZMSCORE", "z", "a", "nope", "c") == [b"1.5", None, b"10"]
    assert c.command("ZMSCORE", "nozset", "a", "b") == [None, None]


def test_zincrby(server):
    c = server.raw()
    assert c.command("ZINCRBY", "z", "2", "a") == b"2"
    assert c.command("ZINCRBY", "z", "-0.5", "a") == b"1.5"
    assert c.command("ZINCRBY", "z", "abc", "a") == NOT_FLOAT
    assert c.command("ZINCRBY", "z", "inf", "b") == b"inf"
    assert c.command("ZINCRBY", "z", "-inf", "b") == \
        "ERR resulting score is not a number (NaN)"
    assert c.command("ZSCORE", "z", "b") == b"inf"


def test_zcount_with_inclusive_exclusive_and_infinite_bounds(server):
    c = server.raw()
    c.command("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d")
    assert c.command("ZCOUNT", "z", "1", "3") == 3
    assert c.command("ZCOUNT", "z", "(1", "3") == 2
    assert c.command("ZCOUNT", "z", "(1", "(3") == 1
    assert c.command("ZCOUNT", "z", "-inf", "+inf") == 4
    assert c.command("ZCOUNT", "z", "-inf", "(2") == 1
    assert c.command("ZCOUNT", "z", "3", "1") == 0
    assert c.command("ZCOUNT", "nozset", "-inf", "+inf") == 0
    assert c.command("ZCOUNT", "z", "a", "3") == MINMAX_NOT_FLOAT
    assert c.command("ZCOUNT", "z", "1", "(x") == MINMAX_NOT_FLOAT


def test_zlexcount(server):
    c = server.raw()
    c.command("ZADD", "z", "0", "a", "0", "b", "0", "c", "0", "d")
    assert c.command("ZLEXCOUNT", "z", "-", "+") == 4
    assert c.command("ZLEXCOUNT", "z", "[a", "[c") == 3
    assert c.command("ZLEXCOUNT", "z", "(a", "[c") == 2
    assert c.command("ZLEXCOUNT", "z", "[a", "(b") == 1
    assert c.command("ZLEXCOUNT", "z", "(b", "+") == 2
    assert c.command("ZLEXCOUNT", "z", "-", "(a") == 0
    assert c.command("ZLEXCOUNT", "z", "a", "[c") == MINMAX_NOT_LEX
    assert c.command("ZLEXCOUNT", "z", "[a", "c") == MINMAX_NOT_LEX


def test_zrange_by_rank_with_negative_indexes_and_withscores(server):
    c = server.raw()
    c.command("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d")
    assert c.command("ZRANGE", "z", "0", "-1") == [b"a", b"b", b"c", b"d"]
    assert c.command("ZRANGE", "z", "-2", "-1", "WITHSCORES") == [b"c", b"3", b"d", b"4"]
    assert c.command("ZRANGE", "z", "1", "100") == [b"b", b"c", b"d"]
    assert c.command("ZRANGE", "z", "3", "1") == []
    assert c.command("ZRANGE", "z", "0", "1", "REV") == [b"d", b"c"]
    assert c.command("ZRANGE", "nozset", "0", "-1") == []


def test_zrange_byscore_with_rev_and_limit(server):
    c = server.raw()
    c.command("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e")
    assert c.command("ZRANGE", "z", "(1", "4", "BYSCORE") == [b"b", b"c", b"d"]
    assert c.command("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "2") == \
        [b"b", b"c"]
    # With REV the range is given max first.
    assert c.command("ZRANGE", "z", "4", "2", "BYSCORE", "REV") == [b"d", b"c", b"b"]
    assert c.command("ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "1", "2",
                     "WITHSCORES") == [b"d", b"4", b"c", b"3"]
    assert c.command("ZRANGE", "z", "0", "10", "BYSCORE", "LIMIT", "3", "-1") == [b"d", b"e"]
    assert c.command("ZRANGE", "z", "2", "4", "BYSCORE", "REV") == []


def test_zrange_bylex(server):
    c = server.raw()
    c.command("ZADD", "z", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e")
    assert c.command("ZRANGE", "z", "[b", "(e", "BYLEX") == [b"b", b"c", b"d"]
    assert c.command("ZRANGE", "z", "-", "+", "BYLEX", "LIMIT", "2", "2") == [b"c", b"d"]
    assert c.command("ZRANGE", "z", "+", "(c", "BYLEX", "REV") == [b"e", b"d"]
    assert c.command("ZRANGE", "z", "b", "d", "BYLEX") == MINMAX_NOT_LEX


def test_zrange_option_errors(server):
    c = server.raw()
    c.command("ZADD", "z", "1", "a")
    assert c.command("ZRANGE", "z", "0", "-1", "LIMIT", "0", "1") == \
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
    assert c.command("ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES") == \
        "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
    assert c.command("ZRANGE", "z", "a", "b", "BYSCORE") == MINMAX_NOT_FLOAT
    assert c.command("ZRANGE", "z", "x", "-1") == NOT_INTEGER


def test_zrangebyscore_and_zrevrangebyscore(server):
    r = server.client()
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4})
    assert r.zrangebyscore("z", 2, 4) == [b"b", b"c", b"d"]
    assert r.zrangebyscore("z", "(2", "+inf", withscores=True) == [(b"c", 3.0), (b"d", 4.0)]
    assert r.zrangebyscore("z", "-inf", "+inf", start=1, num=2) == [b"b", b"c"]
    assert r.zrevrangebyscore("z", 4, 2) == [b"d", b"c", b"b"]
    assert r.zrevrangebyscore("z", "+inf", "(1", start=0, num=2, withscores=True) == \
        [(b"d", 4.0), (b"c", 3.0)]
    assert r.zrevrangebyscore("z", 2, 4) == []  # max first


def test_zrangebylex_and_zrevrangebylex(server):
    r = server.client()
    r.zadd("z", {m: 0 for m in ("apple", "banana", "cherry", "date")})
    assert r.zrangebylex("z", "[b", "(d") == [b"banana", b"cherry"]
    assert r.zrangebylex("z", "-", "+", start=1, num=2) == [b"banana", b"cherry"]
    assert r.zrevrangebylex("z", "+", "[banana") == [b"date", b"cherry", b"banana"]


def test_zrank_and_zrevrank(server):
    r = server.client()
    r.zadd("z", {"a": 1, "b": 2, "c": 3})
    assert r.zrank("z", "a") == 0 and r.zrank("z", "c") == 2
    assert r.zrevrank("z", "a") == 2 and r.zrevrank("z", "c") == 0
    assert r.zrank("z", "nope") is None and r.zrevrank("z", "nope") is None
    assert r.zrank("nozset", "a") is None


def test_zremrangebyscore_byrank_bylex(server):
    r = server.client()
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5})
    assert r.zremrangebyscore("z", "(1", 2) == 1
    assert r.zrange("z", 0, -1) == [b"a", b"c", b"d", b"e"]
    assert r.zremrangebyrank("z", 0, 0) == 1
    assert r.zremrangebyrank("z", -1, -1) == 1
    assert r.zrange("z", 0, -1) == [b"c", b"d"]
    r.zadd("lex", {m: 0 for m in "abcde"})
    assert r.zremrangebylex("lex", "[b", "(d") == 2
    assert r.zrange("lex", 0, -1) == [b"a", b"d", b"e"]
    assert r.zremrangebylex("lex", "-", "+") == 3
    assert r.exists("lex") == 0
    assert r.zremrangebyrank("nozset", 0, -1) == 0


def test_zpopmin_and_zpopmax_with_count(server):
    r = server.client()
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4})
    assert r.zpopmin("z") == [(b"a", 1.0)]
    assert r.zpopmax("z") == [(b"d", 4.0)]
    assert r.zpopmin("z", 5) == [(b"b", 2.0), (b"c", 3.0)]
    assert r.exists("z") == 0
    assert r.zpopmin("z") == [] and r.zpopmax("z", 3) == []
    r.zadd("z", {"a": 1, "b": 2, "c": 3})
    assert r.zpopmax("z", 2) == [(b"c", 3.0), (b"b", 2.0)]


def test_zpop_count_errors_and_raw_reply(server):
    c = server.raw()
    c.command("ZADD", "z", "1", "a")
    assert c.command("ZPOPMIN", "z", "0") == []
    assert c.command("ZPOPMIN", "z", "-1") == NOT_POSITIVE
    assert c.command("ZPOPMAX", "z") == [b"a", b"1"]


def test_zrandmember(server):
    c = server.raw()
    c.command("ZADD", "z", "1", "a", "2", "b", "3", "c")
    scores = {b"a": b"1", b"b": b"2", b"c": b"3"}
    assert c.command("ZRANDMEMBER", "z") in scores
    two = c.command("ZRANDMEMBER", "z", "2")
    assert len(two) == 2 and len(set(two)) == 2 and set(two) <= set(scores)
    assert sorted(c.command("ZRANDMEMBER", "z", "10")) == [b"a", b"b", b"c"]
    many = c.command("ZRANDMEMBER", "z", "-7")
    assert len(many) == 7 and set(many) <= set(scores)
    ws = c.command("ZRANDMEMBER", "z", "-4", "WITHSCORES")
    assert len(ws) == 8 and all(scores[m] == s for m, s in zip(ws[0::2], ws[1::2]))
    assert c.command("ZRANDMEMBER", "nozset") is None
    assert c.command("ZRANDMEMBER", "nozset", "3") == []


def test_zunionstore_with_weights_and_aggregate(server):
    r = server.client()
    r.zadd("{t}a", {"x": 1, "y": 2})
    r.zadd("{t}b", {"y": 10, "z": 20})
    assert r.zunionstore("{t}d", ["{t}a", "{t}b"]) == 3
    assert r.zrange("{t}d", 0, -1, withscores=True) == [(b"x", 1.0), (b"y", 12.0), (b"z", 20.0)]
    assert r.zunionstore("{t}d", {"{t}a": 2, "{t}b": 0.5}) == 3
    assert r.zrange("{t}d", 0, -1, withscores=True) == [(b"x", 2.0), (b"y", 9.0), (b"z", 10.0)]
    assert r.zunionstore("{t}d", ["{t}a", "{t}b"], aggregate="MIN") == 3
    assert r.zscore("{t}d", "y") == 2.0
    assert r.zunionstore("{t}d", ["{t}a", "{t}b"], aggregate="MAX") == 3
    assert r.zscore("{t}d", "y") == 10.0


def test_zinterstore_with_weights_and_aggregate(server):
    r = server.client()
    r.zadd("{t}a", {"x": 1, "y": 2, "w": 7})
    r.zadd("{t}b", {"y": 10, "w": 3, "z": 20})
    assert r.zinterstore("{t}d", ["{t}a", "{t}b"]) == 2
    assert r.zrange("{t}d", 0, -1, withscores=True) == [(b"w", 10.0), (b"y", 12.0)]
    assert r.zinterstore("{t}d", ["{t}a", "{t}b"], aggregate="MIN") == 2
    assert r.zrange("{t}d", 0, -1, withscores=True) == [(b"y", 2.0), (b"w", 3.0)]
    assert r.zinterstore("{t}d", ["{t}a", "{t}b"], aggregate="MAX") == 2
    assert r.zrange("{t}d", 0, -1, withscores=True) == [(b"w", 7.0), (b"y", 10.0)]
    assert r.zinterstore("{t}d", {"{t}a": 3, "{t}b": -1}, aggregate="SUM") == 2
    assert r.zrange("{t}d", 0, -1, withscores=True) == [(b"y", -4.0), (b"w", 18.0)]
    assert r.zinterstore("{t}d", ["{t}a", "{t}nozset"]) == 0
    assert r.exists("{t}d") == 0


def test_zunionstore_accepts_sets_with_score_one(server):
    r = server.client()
    r.sadd("{t}s", "x", "q")
    r.zadd("{t}z", {"x": 5})
    assert r.zunionstore("{t}d", ["{t}s", "{t}z"]) == 2
    assert r.zrange("{t}d", 0, -1, withscores=True) == [(b"q", 1.0), (b"x", 6.0)]


def test_zstore_argument_errors(server):
    c = server.raw()
    c.command("ZADD", "{t}a", "1", "x")
    assert c.command("ZUNIONSTORE", "{t}d", "0", "{t}a") == \
        "ERR at least 1 input key is needed for 'zunionstore' command"
    assert c.command("ZUNIONSTORE", "{t}d", "1", "{t}a", "WEIGHTS", "x") == \
        "ERR weight value is not a float"
    assert c.command("ZUNIONSTORE", "{t}d", "1", "{t}a", "AGGREGATE", "AVG") == "ERR syntax error"
    c.command("SET", "{t}str", "v")
    assert c.command("ZUNIONSTORE", "{t}d", "2", "{t}a", "{t}str") == WRONGTYPE


def test_zscan_returns_every_member_with_its_score(server):
    r = server.client()
    members = {b"m%04d" % i: float(i) for i in range(500)}
    r.zadd("z", members)
    got = scan_all(lambda cur: r.zscan("z", cur, count=30))
    assert dict(got) == members
    small = scan_all(lambda cur: r.zscan("small", cur))
    assert small == []
    r.zadd("small", {"alpha": 1.5, "beta": 2})
    assert sorted(scan_all(lambda cur: r.zscan("small", cur, match="a*"))) == [(b"alpha", 1.5)]


def test_equal_scores_order_by_member_bytes(server):
    r = server.client()
    members = [b"b", b"a", b"B", b"\xff", b"\x00", b"ab", b"", b"a\x00"]
    r.zadd("z", {m: 1 for m in members})
    r.zadd("z", {"low": 0, "high": 2})
    expected = [b"low"] + sorted(members) + [b"high"]
    assert r.zrange("z", 0, -1) == expected
    assert r.zrevrange("z", 0, -1) == list(reversed(expected))
    assert r.zrank("z", b"\x00") == 2  # after "low" and the empty member
    r.zadd("lex", {m: 0 for m in members})
    assert r.zrangebylex("lex", "-", "+") == sorted(members)
    assert r.zrangebylex("lex", "(", "[a") == [b"\x00", b"B", b"a"]  # "(" + empty member


# --- edge cases across types ----------------------------------------------------------


def test_collections_vanish_when_emptied(server):
    r = server.client()
    r.hset("h", "f", "v")
    r.rpush("l", "a")
    r.sadd("s", "m")
    r.zadd("z", {"m": 1})
    assert r.exists("h", "l", "s", "z") == 4
    assert r.hdel("h", "f") == 1 and r.exists("h") == 0
    assert r.lpop("l") == b"a" and r.exists("l") == 0
    assert r.srem("s", "m") == 1 and r.exists("s") == 0
    assert r.zrem("z", "m") == 1 and r.exists("z") == 0
    assert r.type("h") == b"none" and r.keys("*") == []
    assert r.dbsize() == 0


def test_wrongtype_errors_in_both_directions(server):
    c = server.raw()
    c.command("HSET", "h", "f", "v")
    c.command("SET", "str", "v")
    c.command("SADD", "s", "m")
    c.command("RPUSH", "l", "a")
    c.command("ZADD", "z", "1", "m")
    assert c.command("GET", "h") == WRONGTYPE
    assert c.command("APPEND", "l", "x") == WRONGTYPE
    assert c.command("INCR", "z") == WRONGTYPE
    assert c.command("HSET", "str", "f", "v") == WRONGTYPE
    assert c.command("HGET", "str", "f") == WRONGTYPE
    assert c.command("LPUSH", "s", "x") == WRONGTYPE
    assert c.command("LRANGE", "h", "0", "-1") == WRONGTYPE
    assert c.command("SADD", "z", "x") == WRONGTYPE
    assert c.command("SMEMBERS", "l") == WRONGTYPE
    assert c.command("ZADD", "l", "1", "x") == WRONGTYPE
    assert c.command("ZSCORE", "s", "m") == WRONGTYPE
    assert c.command("HLEN", "z") == WRONGTYPE
    # Nothing changed.
    assert c.command("GET", "str") == b"v"
    assert c.command("SMEMBERS", "s") == [b"m"]


def test_set_overwrites_a_collection(server):
    r = server.client()
    r.hset("h", "f", "v")
    assert r.set("h", "now a string") is True
    assert r.type("h") == b"string" and r.get("h") == b"now a string"


def test_type_del_exists_on_every_collection(server):
    r = server.client()
    r.hset("h", "f", "v")
    r.rpush("l", "a")
    r.sadd("s", "m")
    r.zadd("z", {"m": 1})
    assert [r.type(k) for k in ("h", "l", "s", "z", "none")] == \
        [b"hash", b"list", b"set", b"zset", b"none"]
    assert r.exists("h", "l", "s", "z", "none") == 4
    assert r.delete("h", "l", "s", "z", "none") == 4
    assert r.exists("h", "l", "s", "z") == 0
    assert r.hgetall("h") == {} and r.lrange("l", 0, -1) == []
    assert r.smembers("s") == set() and r.zrange("z", 0, -1) == []


MAKERS = {
    "hash": lambda r, k: r.hset(k, mapping={"f1": "v1", "f2": "v2"}),
    "list": lambda r, k: r.rpush(k, "a", "b", "c"),
    "set": lambda r, k: r.sadd(k, "a", "b"),
    "zset": lambda r, k: r.zadd(k, {"a": 1, "b": 2}),
}
READERS = {
    "hash": lambda r, k: r.hgetall(k),
    "list": lambda r, k: r.lrange(k, 0, -1),
    "set": lambda r, k: r.smembers(k),
    "zset": lambda r, k: r.zrange(k, 0, -1, withscores=True),
}


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_expire_ttl_and_actual_expiry_of_a_collection(server, kind):
    r = server.client()
    MAKERS[kind](r, "k")
    assert r.ttl("k") == -1
    assert r.expire("k", 100) is True
    assert 99 <= r.ttl("k") <= 100
    assert r.pexpire("k", 100) is True
    assert 0 < r.pttl("k") <= 100
    time.sleep(0.3)
    assert r.exists("k") == 0
    assert r.type("k") == b"none"
    assert r.ttl("k") == -2
    assert READERS[kind](r, "k") in ({}, [], set())
    MAKERS[kind](r, "k")  # recreated: a fresh key without the old TTL
    assert r.ttl("k") == -1


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_persist_on_a_collection(server, kind):
    r = server.client()
    MAKERS[kind](r, "k")
    assert r.persist("k") is False  # no TTL to remove
    assert r.pexpire("k", 200) is True
    assert r.persist("k") is True
    assert r.ttl("k") == -1
    time.sleep(0.3)
    assert r.exists("k") == 1


def test_modifying_a_collection_keeps_its_ttl(server):
    r = server.client()
    for kind, maker in MAKERS.items():
        maker(r, kind)
        r.expire(kind, 100)
    r.hset("hash", "f3", "v3")
    r.rpush("list", "d")
    r.sadd("set", "c")
    r.zadd("zset", {"c": 3})
    r.hdel("hash", "f1")
    assert all(99 <= r.ttl(k) <= 100 for k in MAKERS)


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_rename_moves_a_collection(server, kind):
    r = server.client()
    MAKERS[kind](r, "{t}src")
    before = READERS[kind](r, "{t}src")
    r.set("{t}dst", "old string value")
    assert r.rename("{t}src", "{t}dst") is True
    assert r.exists("{t}src") == 0
    assert r.type("{t}dst") == kind.encode()
    assert READERS[kind](r, "{t}dst") == before


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_renamenx_of_a_collection(server, kind):
    r = server.client()
    MAKERS[kind](r, "{t}src")
    before = READERS[kind](r, "{t}src")
    r.sadd("{t}taken", "x")
    assert r.renamenx("{t}src", "{t}taken") is False
    assert READERS[kind](r, "{t}src") == before and r.smembers("{t}taken") == {b"x"}
    assert r.renamenx("{t}src", "{t}free") is True
    assert r.exists("{t}src") == 0
    assert READERS[kind](r, "{t}free") == before


def test_rename_keeps_the_ttl_of_a_collection(server):
    r = server.client()
    r.rpush("{t}l", "a")
    r.expire("{t}l", 100)
    assert r.rename("{t}l", "{t}l2") is True
    assert 99 <= r.ttl("{t}l2") <= 100


def test_scan_with_type_filter(server):
    r = server.client()
    for i in range(30):
        r.hset("h%d" % i, "f", "v")
        r.rpush("l%d" % i, "a")
        r.sadd("s%d" % i, "m")
        r.zadd("z%d" % i, {"m": 1})
        r.set("str%d" % i, "v")
    for kind, prefix in (("hash", "h"), ("list", "l"), ("set", "s"), ("zset", "z"),
                         ("string", "str")):
        got = set(r.scan_iter(count=20, _type=kind))
        assert got == {b"%s%d" % (prefix.encode(), i) for i in range(30)}, kind
    assert set(r.scan_iter(match="h1*", _type="hash")) == \
        {b"h1"} | {b"h1%d" % i for i in range(10)}


def test_binary_safe_hash_fields_and_values(server):
    r = server.client()
    key, field, value = b"h\x00\xff", b"f\x00\xff\r\n", b"\x00\xffv\r\n"
    assert r.hset(key, field, value) == 1
    assert r.hset(key, b"f", b"plain") == 1  # a prefix of the binary field: distinct
    assert r.hget(key, field) == value
    assert r.hgetall(key) == {field: value, b"f": b"plain"}
    assert r.hexists(key, b"f\x00") is False
    assert r.hdel(key, field) == 1 and r.hkeys(key) == [b"f"]


def test_binary_safe_list_elements(server):
    r = server.client()
    elems = [b"\x00", b"\xff", b"a\x00b", b"\r\n", b""]
    assert r.rpush(b"l\x00", *elems) == 5
    assert r.lrange(b"l\x00", 0, -1) == elems
    assert r.lpos(b"l\x00", b"a\x00b") == 2
    assert r.lrem(b"l\x00", 0, b"\x00") == 1
    assert r.lpop(b"l\x00", 4) == [b"\xff", b"a\x00b", b"\r\n", b""]


def test_binary_safe_set_members(server):
    r = server.client()
    members = {b"\x00", b"\x00\x00", b"\xff", b"x\x00y", b""}
    assert r.sadd(b"{t}s\xff", *members) == 5
    assert r.smembers(b"{t}s\xff") == members
    assert r.sismember(b"{t}s\xff", b"\x00\x00") and not r.sismember(b"{t}s\xff", b"x")
    r.sadd(b"{t}t", b"\xff", b"other")
    assert r.sinter(b"{t}s\xff", b"{t}t") == {b"\xff"}


def test_binary_safe_zset_members(server):
    r = server.client()
    assert r.zadd(b"z\x00", {b"\x00a": 1, b"\xff": 2, b"a\x00": 3}) == 3
    assert r.zscore(b"z\x00", b"\xff") == 2.0
    assert r.zrange(b"z\x00", 0, -1) == [b"\x00a", b"\xff", b"a\x00"]
    assert r.zrank(b"z\x00", b"a\x00") == 2
    assert r.zrem(b"z\x00", b"\x00a") == 1


def test_blpop_timeout_is_not_restarted_by_writes_that_leave_the_list_empty(server):
    """A write to the key wakes the waiter, which finds nothing and waits again: until its
    original deadline, not a fresh one."""
    import threading
    waiter = server.client()
    writer = server.client()
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            writer.delete("churn")  # a write to the key that leaves it empty
            time.sleep(0.05)

    t = threading.Thread(target=churn)
    t.start()
    try:
        start = time.monotonic()
        assert waiter.blpop(["churn"], timeout=1) is None
        assert time.monotonic() - start < 2.5
    finally:
        stop.set()
        t.join()
