"""End-to-end tests of MULTI/EXEC/DISCARD/WATCH on cairn-server's RESP port.

Raw sockets (server.raw()) where the exact replies matter (+QUEUED, error strings, the nil
EXEC of an aborted transaction); redis-py's pipeline(transaction=True) with WATCH where that
is how clients use it. Every test here passes against a real redis-server 7.0.
"""
import time

import pytest
import redis

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
EXECABORT = "EXECABORT Transaction discarded because of previous errors."


def exec_aborted(c):
    """EXEC on a raw connection; True when the reply is the nil array (*-1) of a transaction
    aborted by WATCH (not an empty array, not an error)."""
    return c.command("EXEC") is None and c.last_type == "*"


# --- MULTI / EXEC / DISCARD -----------------------------------------------------------


def test_multi_exec_returns_every_reply_in_order(server):
    c = server.raw()
    assert c.command("MULTI") == "OK"
    assert c.command("SET", "{t}k", "v") == "QUEUED"
    assert c.command("INCR", "{t}n") == "QUEUED"
    assert c.command("INCRBY", "{t}n", "10") == "QUEUED"
    assert c.command("GET", "{t}k") == "QUEUED"
    assert c.command("GET", "{t}missing") == "QUEUED"
    assert c.command("EXEC") == ["OK", 1, 11, b"v", None]
    assert c.command("GET", "{t}n") == b"11"


def test_queued_commands_are_not_executed_before_exec(server):
    c = server.raw()
    other = server.client()
    assert c.command("MULTI") == "OK"
    assert c.command("SET", "{t}k", "v") == "QUEUED"
    assert c.command("RPUSH", "{t}l", "a") == "QUEUED"
    assert other.exists("{t}k", "{t}l") == 0
    assert c.command("EXEC") == ["OK", 1]
    assert other.get("{t}k") == b"v" and other.lrange("{t}l", 0, -1) == [b"a"]


def test_multi_exec_with_collection_commands(server):
    c = server.raw()
    assert c.command("MULTI") == "OK"
    for cmd in (("HSET", "{t}h", "f", "v"), ("LPUSH", "{t}l", "a", "b"),
                ("SADD", "{t}s", "x"), ("ZADD", "{t}z", "1.5", "m"), ("HGETALL", "{t}h"),
                ("LRANGE", "{t}l", "0", "-1"), ("SMEMBERS", "{t}s"),
                ("ZRANGE", "{t}z", "0", "-1", "WITHSCORES"), ("TYPE", "{t}z")):
        assert c.command(*cmd) == "QUEUED"
    assert c.command("EXEC") == [1, 2, 1, 1, [b"f", b"v"], [b"b", b"a"], [b"x"],
                                 [b"m", b"1.5"], "zset"]


def test_empty_transaction_returns_an_empty_array(server):
    c = server.raw()
    assert c.command("MULTI") == "OK"
    assert c.command("EXEC") == [] and c.last_type == "*"


def test_discard_drops_the_queued_commands(server):
    c = server.raw()
    assert c.command("MULTI") == "OK"
    assert c.command("SET", "k", "v") == "QUEUED"
    assert c.command("DISCARD") == "OK"
    assert c.command("GET", "k") is None  # executed at once: no longer in MULTI
    assert c.command("EXEC") == "ERR EXEC without MULTI"


def test_exec_without_multi(server):
    c = server.raw()
    assert c.command("EXEC") == "ERR EXEC without MULTI"


def test_discard_without_multi(server):
    c = server.raw()
    assert c.command("DISCARD") == "ERR DISCARD without MULTI"


def test_nested_multi_is_an_error_that_keeps_the_transaction(server):
    c = server.raw()
    assert c.command("MULTI") == "OK"
    assert c.command("SET", "k", "1") == "QUEUED"
    assert c.command("MULTI") == "ERR MULTI calls can not be nested"
    assert c.command("INCR", "k") == "QUEUED"
    assert c.command("EXEC") == ["OK", 2]  # the nested MULTI did not abort it


def test_watch_inside_multi_is_an_error_that_keeps_the_transaction(server):
    c = server.raw()
    assert c.command("MULTI") == "OK"
    assert c.command("SET", "k", "1") == "QUEUED"
    assert c.command("WATCH", "k") == "ERR WATCH inside MULTI is not allowed"
    assert c.command("EXEC") == ["OK"]


def test_unknown_command_while_queuing_aborts_exec(server):
    c = server.raw()
    assert c.command("MULTI") == "OK"
    assert c.command("SET", "{t}k", "v") == "QUEUED"
    assert c.command("NOSUCHCMD", "a") == \
        "ERR unknown command 'NOSUCHCMD', with args beginning with: 'a' "
    assert c.command("SET", "{t}k2", "v") == "QUEUED"  # still queued after the error
    assert c.command("EXEC") == EXECABORT
    assert c.command("EXISTS", "{t}k", "{t}k2") == 0  # nothing ran
    assert c.command("EXEC") == "ERR EXEC without MULTI"  # the transaction is over


def test_arity_error_while_queuing_aborts_exec(server):
    c = server.raw()
    assert c.command("MULTI") == "OK"
    assert c.command("INCR", "n") == "QUEUED"
    assert c.command("GET") == "ERR wrong number of arguments for 'get' command"
    assert c.command("EXEC") == EXECABORT
    assert c.command("GET", "n") is None


def test_discard_after_a_queuing_error(server):
    c = server.raw()
    assert c.command("MULTI") == "OK"
    assert c.command("HSET", "h", "f") == "ERR wrong number of arguments for 'hset' command"
    assert c.command("DISCARD") == "OK"
    assert c.command("MULTI") == "OK"
    assert c.command("SET", "k", "v") == "QUEUED"
    assert c.command("EXEC") == ["OK"]  # a fresh transaction is not tainted


def test_runtime_error_does_not_abort_the_other_commands(server):
    c = server.raw()
    assert c.command("HSET", "{t}h", "f", "v") == 1
    assert c.command("MULTI") == "OK"
    assert c.command("SET", "{t}a", "1") == "QUEUED"
    assert c.command("INCR", "{t}h") == "QUEUED"  # type errors are found only when run
    assert c.command("LPUSH", "{t}h", "x") == "QUEUED"
    assert c.command("INCR", "{t}a") == "QUEUED"
    assert c.command("EXEC") == ["OK", WRONGTYPE, WRONGTYPE, 2]
    assert c.command("GET", "{t}a") == b"2"
    assert c.command("HGET", "{t}h", "f") == b"v"


def test_runtime_error_with_redis_py_pipeline(server):
    r = server.client()
    r.set("{t}s", "not a number")
    p = r.pipeline(transaction=True)
    p.set("{t}a", "1").incr("{t}s").incr("{t}a")
    out = p.execute(raise_on_error=False)
    assert out[0] is True and out[2] == 2
    assert isinstance(out[1], redis.exceptions.ResponseError)
    assert "value is not an integer or out of range" in str(out[1])


def test_blocking_pop_inside_multi_does_not_block(server):
    c = server.raw()
    assert c.command("MULTI") == "OK"
    assert c.command("BLPOP", "{t}nolist", "5") == "QUEUED"
    assert c.command("RPUSH", "{t}l", "a") == "QUEUED"
    assert c.command("BRPOP", "{t}l", "5") == "QUEUED"
    start = time.monotonic()
    assert c.command("EXEC") == [None, 1, [b"{t}l", b"a"]]
    assert time.monotonic() - start < 2.0


# --- WATCH ----------------------------------------------------------------------------


def test_watch_conflict_from_another_connection_aborts_exec(server):
    a = server.raw()
    b = server.client()
    b.set("k", "orig")
    assert a.command("WATCH", "k") == "OK"
    assert b.set("k", "from-b") is True
    assert a.command("MULTI") == "OK"
    assert a.command("SET", "k", "from-a") == "QUEUED"
    assert exec_aborted(a)
    assert b.get("k") == b"from-b"


def test_watch_with_no_change_lets_exec_run(server):
    a = server.raw()
    b = server.client()
    b.set("k", "orig")
    assert a.command("WATCH", "k") == "OK"
    assert b.get("k") == b"orig"  # reads do not count as changes
    assert a.command("MULTI") == "OK"
    assert a.command("SET", "k", "from-a") == "QUEUED"
    assert a.command("EXEC") == ["OK"]
    assert b.get("k") == b"from-a"


def test_watch_conflict_with_redis_py_pipeline(server):
    a = server.client()
    b = server.client()
    a.set("balance", 10)
    with a.pipeline(transaction=True) as p:
        p.watch("balance")
        current = int(p.get("balance"))
        b.incrby("balance", 5)  # concurrent change
        p.multi()
        p.set("balance", current - 3)
        with pytest.raises(redis.exceptions.WatchError):
            p.execute()
    assert a.get("balance") == b"15"
    with a.pipeline(transaction=True) as p:  # retry: no interference this time
        p.watch("balance")
        current = int(p.get("balance"))
        p.multi()
        p.set("balance", current - 3)
        assert p.execute() == [True]
    assert a.get("balance") == b"12"


def test_unwatch_clears_the_watched_keys(server):
    a = server.raw()
    b = server.client()
    assert a.command("WATCH", "k") == "OK"
    b.set("k", "changed")
    assert a.command("UNWATCH") == "OK"
    assert a.command("MULTI") == "OK"
    assert a.command("GET", "k") == "QUEUED"
    assert a.command("EXEC") == [b"changed"]


def test_exec_clears_the_watched_keys(server):
    a = server.raw()
    b = server.client()
    assert a.command("WATCH", "k") == "OK"
    assert a.command("MULTI") == "OK"
    assert a.command("EXEC") == []
    b.set("k", "changed after exec")
    assert a.command("MULTI") == "OK"
    assert a.command("SET", "other", "1") == "QUEUED"
    assert a.command("EXEC") == ["OK"]


def test_discard_clears_the_watched_keys(server):
    a = server.raw()
    b = server.client()
    assert a.command("WATCH", "k") == "OK"
    assert a.command("MULTI") == "OK"
    assert a.command("DISCARD") == "OK"
    b.set("k", "changed")
    assert a.command("MULTI") == "OK"
    assert a.command("SET", "other", "1") == "QUEUED"
    assert a.command("EXEC") == ["OK"]


def test_watch_invalidated_by_expiry(server):
    a = server.raw()
    b = server.client()
    b.set("{t}k", "v")
    assert a.command("WATCH", "{t}k") == "OK"
    assert b.pexpire("{t}k", 100) is True  # itself a change; the expiry below too
    time.sleep(0.3)
    assert a.command("MULTI") == "OK"
    assert a.command("SET", "{t}other", "1") == "QUEUED"
    assert exec_aborted(a)
    assert b.exists("{t}other") == 0


def test_watch_invalidated_by_expiry_set_before_watch(server):
    a = server.raw()
    b = server.client()
    b.set("{t}k", "v", px=200)
    assert a.command("WATCH", "{t}k") == "OK"  # the key still exists here
    time.sleep(0.4)  # ...and expires before EXEC, with nobody touching it
    assert a.command("MULTI") == "OK"
    assert a.command("SET", "{t}other", "1") == "QUEUED"
    assert exec_aborted(a)
    assert b.exists("{t}other") == 0


def test_watch_invalidated_by_a_collection_command(server):
    a = server.raw()
    b = server.client()
    b.hset("h", "f", "v")
    assert a.command("WATCH", "h") == "OK"
    assert b.hset("h", "g", "w") == 1
    assert a.command("MULTI") == "OK"
    assert a.command("HSET", "h", "f", "from-a") == "QUEUED"
    assert exec_aborted(a)
    assert b.hgetall("h") == {b"f": b"v", b"g": b"w"}


@pytest.mark.parametrize("create,change", [
    (("RPUSH", "k", "a"), ("LPOP", "k")),
    (("SADD", "k", "a"), ("SADD", "k", "b")),
    (("ZADD", "k", "1", "a"), ("ZINCRBY", "k", "1", "a")),
    (("HSET", "k", "f", "v"), ("HDEL", "k", "f")),
    (("SET", "k", "v"), ("DEL", "k")),
    (("RPUSH", "k", "a"), ("EXPIRE", "k", "100")),
    (("SADD", "k", "a"), ("RENAME", "k", "{k}k2")),  # "k" has no tag: its tag is "k"
], ids=["lpop", "sadd", "zincrby", "hdel", "del", "expire", "rename"])
def test_watch_invalidated_by_each_kind_of_write(server, create, change):
    a = server.raw()
    b = server.raw()
    assert b.command(*create) in ("OK", 1)
    assert a.command("WATCH", "k") == "OK"
    assert b.command(*change) in ("OK", 1, 2, b"a", b"2")
    assert a.command("MULTI") == "OK"
    assert a.command("PING") == "QUEUED"
    assert exec_aborted(a)


def test_watch_of_a_missing_key_created_by_another_client(server):
    a = server.raw()
    b = server.client()
    assert a.command("WATCH", "k") == "OK"
    b.sadd("k", "m")
    assert a.command("MULTI") == "OK"
    assert a.command("SET", "k", "v") == "QUEUED"
    assert exec_aborted(a)
    assert b.type("k") == b"set"


def test_watch_several_keys_any_change_aborts(server):
    a = server.raw()
    b = server.client()
    assert a.command("WATCH", "{t}k1", "{t}k2") == "OK"
    assert a.command("WATCH", "{t}k3") == "OK"  # watches accumulate
    b.set("{t}k3", "x")
    assert a.command("MULTI") == "OK"
    assert a.command("SET", "{t}k1", "v") == "QUEUED"
    assert exec_aborted(a)
    assert b.exists("{t}k1") == 0


def test_own_write_after_watch_also_aborts(server):
    a = server.raw()
    assert a.command("WATCH", "k") == "OK"
    assert a.command("SET", "k", "mine") == "OK"
    assert a.command("MULTI") == "OK"
    assert a.command("SET", "k", "in-tx") == "QUEUED"
    assert exec_aborted(a)
    assert a.command("GET", "k") == b"mine"


def test_rewriting_the_same_value_still_counts_as_a_change(server):
    a = server.raw()
    b = server.client()
    b.set("k", "same")
    assert a.command("WATCH", "k") == "OK"
    b.set("k", "same")
    assert a.command("MULTI") == "OK"
    assert a.command("GET", "k") == "QUEUED"
    assert exec_aborted(a)


def test_watch_is_per_database(server):
    a = server.raw()
    b1 = server.client(db=1)
    assert a.command("WATCH", "k") == "OK"  # db 0
    b1.set("k", "in db 1")
    assert a.command("MULTI") == "OK"
    assert a.command("SET", "k", "in db 0") == "QUEUED"
    assert a.command("EXEC") == ["OK"]


def test_watch_invalidated_by_flushdb(server):
    a = server.raw()
    b = server.client()
    b.set("k", "v")
    assert a.command("WATCH", "k") == "OK"
    assert b.flushdb() is True
    assert a.command("MULTI") == "OK"
    assert a.command("SET", "k", "after") == "QUEUED"
    assert exec_aborted(a)
    assert b.exists("k") == 0
