"""SORT and SORT_RO against redis-server 7.0.15 side by side: the same command sequences go
to both, and every reply, errors included, must be equal. Lists, sets and sorted sets;
numeric and ALPHA order, ASC/DESC, LIMIT, BY (string keys, hash fields, nosort), GET
(#, string keys, hash fields), STORE (read back), and the errors.

Keys share the hash tag {t} so the same cases run on a 3-node cluster, where BY and GET
patterns of the sorted key's tag are allowed. A set's own order is storage order in both
servers (and differs), so unsorted set replies are compared as sets.
"""
import pytest

from conftest import RespError, in_cluster
from test_against_redis import both, redis, same  # noqa: F401 (the redis fixture)

SETUP = [
    ("RPUSH", "{t}l", "3", "1", "2", "10", "-1.5", "2.5e1", "0"),
    ("RPUSH", "{t}words", "pear", "apple", "fig", "banana", "apple"),
    ("SADD", "{t}s", "5", "3", "9", "1", "7"),
    ("ZADD", "{t}z", "3", "c", "1", "a", "2", "b", "5", "e", "4", "d"),
    ("MSET", "{t}w_3", "30", "{t}w_1", "10", "{t}w_2", "20", "{t}w_10", "5", "{t}w_0", "-7", "{t}w_-1.5", "100"),
    ("MSET", "{t}n_3", "three", "{t}n_1", "one", "{t}n_2", "two", "{t}n_10", "ten"),
    ("HSET", "{t}h_a", "weight", "9", "name", "Ann"), ("HSET", "{t}h_b", "weight", "3", "name", "Bob"),
    ("HSET", "{t}h_c", "weight", "7"), ("HSET", "{t}h_d", "name", "Dee"),
    ("MSET", "{t}zw_a", "z", "{t}zw_b", "y", "{t}zw_c", "x", "{t}zw_d", "w", "{t}zw_e", "v"),
]

CASES = [
    # numeric, lists
    ("SORT", "{t}l"), ("SORT", "{t}l", "DESC"), ("SORT", "{t}l", "ASC"), ("SORT", "{t}l", "desc", "asc"),
    ("SORT", "{t}l", "LIMIT", "0", "3"), ("SORT", "{t}l", "LIMIT", "2", "3", "DESC"),
    ("SORT", "{t}l", "LIMIT", "-5", "2"), ("SORT", "{t}l", "LIMIT", "5", "-1"), ("SORT", "{t}l", "LIMIT", "7", "2"),
    ("SORT", "{t}l", "LIMIT", "100", "2"), ("SORT", "{t}l", "LIMIT", "0", "0"), ("SORT", "{t}l", "LIMIT", "6", "100"),
    ("SORT", "{t}l", "LIMIT", "9223372036854775807", "1"), ("SORT", "{t}l", "LIMIT", "9223372036854775807", "-1"),
    ("SORT", "{t}l", "LIMIT", "1", "9223372036854775807"), ("SORT", "{t}l", "LIMIT", "x", "1"), ("SORT", "{t}l", "LIMIT", "0", "1.5"), ("SORT", "{t}l", "LIMIT", "0"),
    ("SORT", "{t}l", "ALPHA"), ("SORT", "{t}l", "ALPHA", "DESC", "LIMIT", "1", "2"),
    ("SORT", "{t}words"), ("SORT", "{t}words", "ALPHA"), ("SORT", "{t}words", "ALPHA", "DESC"),
    ("SORT_RO", "{t}words"), ("SORT_RO", "{t}words", "alpha", "limit", "1", "10"),
    # sets and sorted sets
    ("SORT", "{t}s"), ("SORT", "{t}s", "DESC", "LIMIT", "1", "2"), ("SORT", "{t}s", "ALPHA"),
    ("SORT", "{t}z"), ("SORT", "{t}z", "ALPHA"), ("SORT", "{t}z", "ALPHA", "DESC"),
    # BY nosort keeps lists' and sorted sets' order
    ("SORT", "{t}l", "BY", "nosort"), ("SORT", "{t}l", "BY", "nosort", "DESC"),
    ("SORT", "{t}l", "BY", "nosort", "LIMIT", "2", "3"), ("SORT", "{t}l", "BY", "nosort", "DESC", "LIMIT", "2", "3"),
    ("SORT", "{t}l", "BY", "nosort", "LIMIT", "10", "3"), ("SORT", "{t}l", "BY", "nosort", "ALPHA"),
    ("SORT", "{t}z", "BY", "nosort"), ("SORT", "{t}z", "BY", "nosort", "DESC"),
    ("SORT", "{t}z", "BY", "nosort", "LIMIT", "1", "3"), ("SORT", "{t}z", "BY", "nosort", "DESC", "LIMIT", "1", "3"),
    ("SORT", "{t}z", "BY", "nosort", "DESC", "LIMIT", "9", "3"),
    # BY patterns
    ("SORT", "{t}l", "BY", "{t}w_*"), ("SORT", "{t}l", "BY", "{t}w_*", "DESC"),
    ("SORT", "{t}l", "BY", "{t}w_*", "ALPHA"), ("SORT", "{t}s", "BY", "{t}w_*", "LIMIT", "0", "10"),
    ("SORT", "{t}z", "BY", "{t}zw_*", "ALPHA"), ("SORT", "{t}z", "BY", "{t}zw_*"),
    ("SORT", "{t}z", "BY", "{t}h_*->weight"), ("SORT", "{t}z", "BY", "{t}h_*->weight", "DESC", "LIMIT", "0", "2"),
    ("SORT", "{t}z", "BY", "{t}h_*->name", "ALPHA"), ("SORT", "{t}words", "BY", "{t}h_*->", "ALPHA"),
    ("SORT", "{t}z", "BY", "{t}zw_*", "ALPHA", "STORE", "{t}out"), ("LRANGE", "{t}out", "0", "-1"),
    # GET patterns
    ("SORT", "{t}l", "GET", "{t}n_*"), ("SORT", "{t}l", "GET", "#", "GET", "{t}n_*", "GET", "{t}w_*"),
    ("SORT", "{t}l", "GET", "{t}constant"), ("SORT", "{t}z", "GET", "{t}h_*->name", "GET", "{t}h_*->weight"),
    ("SORT", "{t}z", "ALPHA", "GET", "{t}h_*->missing", "GET", "#"), ("SORT", "{t}z", "ALPHA", "GET", "{t}h_*"),
    ("SORT", "{t}z", "BY", "nosort", "GET", "#", "GET", "{t}zw_*", "LIMIT", "1", "2"),
    ("SORT", "{t}l", "BY", "{t}w_*", "GET", "#", "GET", "{t}n_*", "LIMIT", "1", "4"),
    # STORE
    ("SORT", "{t}l", "STORE", "{t}out"), ("LRANGE", "{t}out", "0", "-1"), ("TYPE", "{t}out"),
    ("SORT", "{t}l", "DESC", "LIMIT", "1", "3", "STORE", "{t}out"), ("LRANGE", "{t}out", "0", "-1"),
    ("SORT", "{t}l", "GET", "{t}n_*", "GET", "#", "STORE", "{t}out"), ("LRANGE", "{t}out", "0", "-1"),
    ("SORT", "{t}s", "BY", "nosort", "STORE", "{t}out"), ("LRANGE", "{t}out", "0", "-1"),
    ("SORT", "{t}s", "BY", "nosort", "DESC", "LIMIT", "1", "3", "STORE", "{t}out"), ("LRANGE", "{t}out", "0", "-1"),
    ("SORT", "{t}z", "ALPHA", "DESC", "STORE", "{t}out"), ("LRANGE", "{t}out", "0", "-1"),
    ("SORT", "{t}l", "STORE", "{t}l2", "STORE", "{t}out"), ("LRANGE", "{t}out", "0", "-1"), ("EXISTS", "{t}l2"),
    ("SET", "{t}strdst", "x"), ("EXPIRE", "{t}strdst", "1000"), ("SORT", "{t}l", "STORE", "{t}strdst"),
    ("TYPE", "{t}strdst"), ("TTL", "{t}strdst"),
    ("SORT", "{t}l", "LIMIT", "0", "0", "STORE", "{t}out"), ("EXISTS", "{t}out"),
    ("SORT", "{t}missing", "STORE", "{t}strdst"), ("EXISTS", "{t}strdst"),
    ("SORT", "{t}l", "STORE", "{t}l"), ("LRANGE", "{t}l", "0", "-1"),
    ("SORT_RO", "{t}l", "STORE", "{t}out"), ("SORT_RO", "{t}l", "STORE"), ("SORT", "{t}l", "STORE"),
    # errors and edge cases
    ("SORT", "{t}words"), ("SORT", "{t}words", "STORE", "{t}out"), ("EXISTS", "{t}out"),
    ("SORT", "{t}l", "BY", "{t}n_*"), ("SORT", "{t}l", "BY", "{t}n_*", "ALPHA"),
    ("SORT", "{t}l", "BOGUS"), ("SORT", "{t}l", "BY"), ("SORT", "{t}l", "GET"), ("SORT", "{t}l", "LIMIT", "1"),
    ("SORT", "{t}missing"), ("SORT", "{t}missing", "BY", "{t}w_*", "GET", "#"), ("SORT_RO", "{t}missing"),
    ("SET", "{t}str", "v"), ("SORT", "{t}str"), ("SORT_RO", "{t}str"), ("HSET", "{t}hash", "f", "v"),
    ("SORT", "{t}hash"), ("SORT", "{t}str", "BOGUS"), ("SORT", "{t}str", "LIMIT", "x", "1"),
    ("RPUSH", "{t}nums", " 3", "", "0x10", "1e2", "-inf", "inf", "007"), ("SORT", "{t}nums"),
    ("SORT", "{t}nums", "DESC"),
    ("RPUSH", "{t}bad", "1", "nan"), ("SORT", "{t}bad"), ("RPUSH", "{t}big", "1", "1e400"), ("SORT", "{t}big"),
    ("RPUSH", "{t}ties", "b", "a", "c"), ("SORT", "{t}ties", "BY", "{t}nokey_*"),
    ("SORT", "{t}ties", "BY", "{t}nokey_*", "ALPHA"), ("SORT", "{t}ties", "BY", "{t}nokey_*", "DESC"),
    ("SORT", "{t}ties", "BY", "{t}nokey_*", "ALPHA", "DESC"),
]


def test_sort_replies_match_redis(server, redis):
    cairn = both(server, redis)
    for args in SETUP + CASES:
        same(cairn, redis, *args)


def test_unsorted_sets_hold_the_same_members(server, redis):
    cairn = both(server, redis)
    for args in SETUP:
        same(cairn, redis, *args)
    for args in (("SORT", "{t}s", "BY", "nosort"), ("SORT", "{t}s", "BY", "nosort", "GET", "#", "GET", "{t}w_*"),
                 ("SORT_RO", "{t}s", "BY", "nosort", "DESC")):
        got, want = cairn.command(*args), redis.command(*args)
        assert sorted(got, key=repr) == sorted(want, key=repr), (args, got, want)


def test_sort_command_info_matches_redis(server, redis):
    cairn = both(server, redis)
    for name in ("sort", "sort_ro"):
        got, want = cairn.command("COMMAND", "INFO", name)[0], redis.command("COMMAND", "INFO", name)[0]
        assert got[:2] == want[:2] and got[3:6] == want[3:6], (name, got, want)


@pytest.mark.skipif(not in_cluster(), reason="cluster mode's refusal of patterns of other tags")
def test_cluster_refuses_patterns_of_other_tags(server):
    conn = server.raw()
    conn.command("RPUSH", "{t}cl", "2", "1")
    conn.command("MSET", "{t}cw_1", "5", "{t}cw_2", "3")
    by_err = ("ERR BY option of SORT denied in Cluster mode when keys formed by the pattern may be "
              "in different slots.")
    get_err = by_err.replace("BY option", "GET option")
    assert conn.command("SORT", "{t}cl", "BY", "w_*") == by_err
    assert conn.command("SORT", "{t}cl", "BY", "{u}w_*") == by_err
    assert conn.command("SORT", "{t}cl", "BY", "*{t}w") == by_err
    assert conn.command("SORT_RO", "{t}cl", "GET", "n_*") == get_err
    assert conn.command("SORT", "{t}cl", "GET", "#", "GET", "{}x*") == get_err
    assert conn.command("SORT", "{t}cl", "BY", "{t}cw_*", "GET", "#", "GET", "{t}cw_*") == [b"2", b"3", b"1", b"5"]
    assert conn.command("SORT", "{t}cl", "BY", "nosort", "GET", "#") == [b"2", b"1"]
    reply = conn.command("SORT", "{t}cl", "STORE", "{u}out")
    assert isinstance(reply, RespError) and reply.startswith("CROSSSLOT"), reply
    assert conn.command("SORT", "{t}cl", "STORE", "{t}out") == 2


def test_watch_hears_only_of_what_changed(server, redis):
    """A SORT without STORE, a search without STORE and a GEOADD that changed nothing
    write nothing: a transaction watching those keys still runs, as in Redis; SORT ...
    STORE and GEOSEARCHSTORE do abort one watching their destination."""
    cairn = both(server, redis)
    for args in SETUP + [("GEOADD", "{t}geo", "13.361389", "38.115556", "Palermo")]:
        same(cairn, redis, *args)
    for cmd in (("SORT", "{t}l"), ("SORT", "{t}missing", "STORE", "{t}absent"),
                ("GEORADIUS", "{t}geo", "13", "38", "100", "km"),
                ("GEOADD", "{t}geo", "13.361389", "38.115556", "Palermo"),
                ("SORT", "{t}l", "STORE", "{t}dst"), ("GEOSEARCHSTORE", "{t}dst", "{t}geo", "FROMMEMBER", "Palermo",
                                                        "BYRADIUS", "1", "km")):
        watched = cmd[1] if cmd[0] != "SORT" or "STORE" not in cmd else cmd[-1]
        if cmd[0] == "GEOSEARCHSTORE":
            watched = cmd[1]
        for conn in (cairn, redis):
            conn.command("WATCH", watched)
        other_c, other_r = server.raw(), redis.__class__("127.0.0.1", redis.sock.getpeername()[1])
        same(other_c, other_r, *cmd)
        for conn in (cairn, redis):
            conn.command("MULTI")
            conn.command("PING")
        got, want = cairn.command("EXEC"), redis.command("EXEC")
        assert got == want, (cmd, got, want)


def test_sort_in_a_script_sorts_an_unsorted_set(server, redis):
    cairn = both(server, redis)
    for args in SETUP:
        same(cairn, redis, *args)
    same(cairn, redis, "EVAL", "return redis.call('SORT', KEYS[1], 'BY', 'nosort')", "1", "{t}s")
    same(cairn, redis, "EVAL", "return redis.call('SORT_RO', KEYS[1], 'BY', '{t}w_*', 'GET', '#')", "1", "{t}l")
