"""Hash tags in cluster mode (issue 15, Must show 5), between real cairn-server processes:
commands of several keys that share a {tag} (RENAME, SMOVE, LMOVE, *STORE, MSETNX,
SINTERCARD, MULTI/EXEC with WATCH) run on the tag's replica and answer exactly as Redis
7 does: the same script runs against a redis-server started here and against a 3-node
cluster (N=3, W=2, R=2), a different node for every command, and every reply must match.
Keys of different tags get Redis Cluster's CROSSSLOT error.
"""
import os
import shutil
import socket
import subprocess
import time

import pytest

from cluster_util import Cluster, assert_converged, http_json, info, wait_for
from conftest import RespError, RespSocket

HOST = "127.0.0.1"


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@pytest.fixture
def redis(tmp_path):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (scripts/install-deps.sh installs it)")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", HOST, "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            conn = RespSocket(HOST, port, 5)
            if conn.command("PING") == "PONG":
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    yield port
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def nodes(tmp_path):
    c = Cluster(tmp_path / "cluster", 3)
    try:
        wait_for("3 members alive",
                 lambda: all(info(n).get("cluster_members_alive") == "3" for n in c))
        yield c
    finally:
        c.stop_all()


def normalize(reply):
    # Set replies have no order; errors compare by text.
    if isinstance(reply, list):
        return [normalize(r) for r in reply]
    return reply


# (connection index, command, compare as a set)
SCRIPT = [
    (0, ("SET", "{u}a", "1")),
    (0, ("RENAME", "{u}a", "{u}b")),
    (1, ("GET", "{u}b")),
    (2, ("EXISTS", "{u}a")),
    (0, ("RENAME", "{u}missing", "{u}c")),
    (1, ("SET", "{u}c", "3")),
    (2, ("RENAMENX", "{u}b", "{u}c")),
    (0, ("RENAMENX", "{u}b", "{u}d")),
    (1, ("MGET", "{u}b", "{u}c", "{u}d")),
    (2, ("MSETNX", "{u}x", "1", "{u}y", "2")),
    (0, ("MSETNX", "{u}x", "3", "{u}z", "4")),
    (1, ("MGET", "{u}x", "{u}y", "{u}z")),
    (2, ("SADD", "{s}1", "a", "b", "c")),
    (0, ("SADD", "{s}2", "b", "c", "d")),
    (1, ("SMOVE", "{s}1", "{s}2", "a")),
    (2, ("SMOVE", "{s}1", "{s}2", "nope")),
    (0, ("SISMEMBER", "{s}2", "a")),
    (1, ("SCARD", "{s}1")),
    (2, ("SINTERCARD", "2", "{s}1", "{s}2")),
    (0, ("SUNIONSTORE", "{s}3", "{s}1", "{s}2")),
    (1, ("SINTERSTORE", "{s}4", "{s}1", "{s}2")),
    (2, ("SDIFFSTORE", "{s}5", "{s}2", "{s}1")),
    (0, ("SCARD", "{s}3")),
    (1, ("SCARD", "{s}5")),
    (2, ("SINTER", "{s}1", "{s}2"), "set"),
    # A *STORE into a destination that exists (found in review: its new members must not
    # mix with the old ones).
    (0, ("SADD", "{s}3", "extra")),
    (1, ("SUNIONSTORE", "{s}3", "{s}1", "{s}2")),
    (2, ("SCARD", "{s}3")),
    (0, ("SMEMBERS", "{s}3"), "set"),
    (1, ("SINTERSTORE", "{s}3", "{s}1", "{s}2")),
    (2, ("SMEMBERS", "{s}3"), "set"),
    (0, ("SINTERCARD", "0", "{s}1")),
    (1, ("SINTERCARD", "5", "{s}1")),
    (0, ("RPUSH", "{l}1", "a", "b", "c")),
    (1, ("LMOVE", "{l}1", "{l}2", "LEFT", "RIGHT")),
    (2, ("RPOPLPUSH", "{l}1", "{l}2")),
    (0, ("LRANGE", "{l}1", "0", "-1")),
    (1, ("LRANGE", "{l}2", "0", "-1")),
    (2, ("LMOVE", "{l}2", "{l}2", "LEFT", "RIGHT")),
    (0, ("LRANGE", "{l}2", "0", "-1")),
    (1, ("ZADD", "{z}1", "1", "a", "2", "b")),
    (2, ("ZADD", "{z}2", "3", "b", "4", "c")),
    (0, ("ZUNIONSTORE", "{z}3", "2", "{z}1", "{z}2")),
    (1, ("ZRANGE", "{z}3", "0", "-1", "WITHSCORES")),
    (2, ("ZINTERSTORE", "{z}4", "2", "{z}1", "{z}2", "WEIGHTS", "2", "3")),
    (0, ("ZRANGE", "{z}4", "0", "-1", "WITHSCORES")),
    (1, ("ZUNIONSTORE", "{z}5", "2", "{z}1", "{z}missing", "AGGREGATE", "MAX")),
    (2, ("TYPE", "{z}5")),
    # MOVE: the key and its namesake in the other database, on the key's replica.
    (0, ("SET", "{m}k", "v")),
    (0, ("HSET", "{m}h", "f", "1", "g", "2")),
    (0, ("EXPIRE", "{m}h", "1000")),
    (0, ("MOVE", "{m}k", "1")),
    (1, ("MOVE", "{m}h", "1")),
    (2, ("MOVE", "{m}missing", "1")),
    (0, ("SET", "{m}k", "again")),
    (1, ("MOVE", "{m}k", "1")),  # the target exists: nothing moves
    (2, ("SELECT", "1")),
    (2, ("GET", "{m}k")),
    (2, ("HGETALL", "{m}h")),
    (2, ("TTL", "{m}h")),
    (2, ("MOVE", "{m}h", "0")),
    (2, ("SELECT", "0")),
    (0, ("HGETALL", "{m}h")),
    (0, ("GET", "{m}k")),
    (1, ("MOVE", "{m}k", "0")),
    (2, ("MOVE", "{m}k", "99999")),
    (0, ("MOVE", "{m}k", "x")),
    (0, ("INCR", "{t}n")),
    # A transaction of one tag: every command's reply, in order, as Redis gives them.
    (1, ("MULTI",)),
    (1, ("INCR", "{t}n")),
    (1, ("SET", "{t}k", "v")),
    (1, ("LPUSH", "{t}k", "x")),  # WRONGTYPE inside EXEC: its reply, the rest still runs
    (1, ("GET", "{t}k")),
    (1, ("RENAME", "{t}k", "{t}k2")),
    (1, ("BLPOP", "{t}empty", "0")),  # does not block inside EXEC
    (1, ("EXEC",)),
    (2, ("MGET", "{t}n", "{t}k", "{t}k2")),
    # WATCH: a write of the watched key by another client makes EXEC answer nil.
    (0, ("WATCH", "{t}k2")),
    (1, ("SET", "{t}k2", "changed")),
    (0, ("MULTI",)),
    (0, ("SET", "{t}k2", "mine")),
    (0, ("EXEC",)),
    (2, ("GET", "{t}k2")),
    (0, ("WATCH", "{t}k2", "{t}other")),
    (0, ("MULTI",)),
    (0, ("SET", "{t}k2", "mine")),
    (0, ("INCR", "{t}n")),
    (0, ("EXEC",)),
    (2, ("MGET", "{t}k2", "{t}n")),
    (0, ("MULTI",)),
    (0, ("DISCARD",)),
    (0, ("EXEC",)),
    (1, ("WATCH", "{t}k2")),
    (1, ("UNWATCH",)),
    (2, ("SET", "{t}k2", "again")),
    (1, ("MULTI",)),
    (1, ("GET", "{t}k2")),
    (1, ("EXEC",)),
    (0, ("MULTI",)),
    (0, ("NOSUCHCOMMAND",)),
    (0, ("SET", "{t}k2", "x")),
    (0, ("EXEC",)),
    (1, ("GET", "{t}k2")),
]


def run(conns, script):
    out = []
    for step in script:
        i, cmd = step[0], step[1]
        reply = conns[i % len(conns)].command(*cmd)
        if len(step) > 2 and isinstance(reply, list):
            reply = sorted(reply)
        out.append(reply)
    return out


def test_hash_tagged_commands_answer_as_redis(nodes, redis):
    cluster_conns = [n.raw() for n in nodes]
    redis_conns = [RespSocket(HOST, redis, 10) for _ in range(3)]
    got = run(cluster_conns, SCRIPT)
    want = run(redis_conns, SCRIPT)
    for step, g, w in zip(SCRIPT, got, want):
        if isinstance(w, RespError):
            # Same error kind (the text after it may differ, as for unknown commands).
            assert isinstance(g, RespError) and g.split()[0] == w.split()[0], (step, g, w)
        else:
            assert g == w, (step, g, w)
    assert_converged(nodes)


def test_watch_of_a_key_already_expired_does_not_abort(nodes):
    r = nodes[0].raw()
    assert r.command("SET", "{w}k", "v", "PX", "50") == "OK"
    time.sleep(0.2)
    assert r.command("WATCH", "{w}k") == "OK"
    assert r.command("MULTI") == "OK"
    assert r.command("SET", "{w}k", "new") == "QUEUED"
    assert r.command("EXEC") == ["OK"]  # as Redis 7: a key expired before WATCH is absent
    # A key watched in one database and written there while the client is in another.
    assert r.command("WATCH", "{w}k") == "OK"
    assert nodes[1].raw().command("SET", "{w}k", "other") == "OK"
    assert r.command("SELECT", "1") == "OK"
    assert r.command("MULTI") == "OK"
    assert r.command("SET", "{w}k", "db1") == "QUEUED"
    assert r.command("EXEC") is None


def test_http_batch_of_one_tag_is_one_transaction(nodes):
    import json
    ops = [{"op": "put", "key": "{b}1", "value": "one"},
           {"op": "put", "key": "{b}2", "value": "two", "ttl": 100},
           {"op": "delete", "key": "{b}3"}]
    assert nodes[2].raw().command("SET", "{b}3", "x") == "OK"
    status, body = http_json(nodes[1], "POST", "/v1/batch", json.dumps({"ops": ops}).encode())
    assert (status, body) == (200, {"applied": 3}), body
    r = nodes[0].raw()
    assert r.command("MGET", "{b}1", "{b}2", "{b}3") == [b"one", b"two", None]
    assert 95 <= r.command("TTL", "{b}2") <= 100
    status, body = http_json(nodes[0], "POST", "/v1/batch", json.dumps(
        {"ops": [{"op": "put", "key": "{b}1", "value": "x"},
                 {"op": "put", "key": "{c}1", "value": "y"}]}).encode())
    assert status == 400 and "CROSSSLOT" in body["error"], body
    assert r.command("GET", "{b}1") == b"one"  # nothing applied
    status, body = http_json(nodes[0], "POST", "/v1/batch", b"{not json")
    assert status == 400, body
    status, body = http_json(nodes[0], "GET", "/v1/batch")
    assert status == 405, body
    assert_converged(nodes)


def test_keys_of_different_tags_get_crossslot(nodes):
    r = nodes[0].raw()
    assert r.command("SET", "{a}1", "x") == "OK"
    for cmd in (("RENAME", "{a}1", "{b}1"), ("SMOVE", "{a}s", "{b}s", "m"),
                ("SUNIONSTORE", "{a}d", "{a}s", "{b}s"), ("MSETNX", "{a}1", "1", "{b}1", "2"),
                ("SINTERCARD", "2", "{a}s", "{b}s"), ("ZUNIONSTORE", "{a}z", "2", "{a}z", "{b}z"),
                ("LMOVE", "a", "b", "LEFT", "LEFT")):
        reply = r.command(*cmd)
        assert isinstance(reply, RespError) and reply.startswith("CROSSSLOT"), (cmd, reply)
    # In a transaction: refused as it is queued, and EXEC aborts.
    assert r.command("MULTI") == "OK"
    assert r.command("SET", "{a}1", "y") == "QUEUED"
    reply = r.command("SET", "{b}1", "y")
    assert isinstance(reply, RespError) and reply.startswith("CROSSSLOT"), reply
    reply = r.command("EXEC")
    assert isinstance(reply, RespError) and reply.startswith("EXECABORT"), reply
    assert r.command("GET", "{a}1") == b"x"
    # A watched key of another tag than the transaction's commands.
    assert r.command("WATCH", "{a}1") == "OK"
    assert r.command("MULTI") == "OK"
    reply = r.command("SET", "{b}1", "y")
    assert isinstance(reply, RespError) and reply.startswith("CROSSSLOT"), reply
    assert isinstance(r.command("EXEC"), RespError)
    reply = r.command("WATCH", "{a}1", "{b}1")
    assert isinstance(reply, RespError) and reply.startswith("CROSSSLOT"), reply
    # Keyless commands that touch data or the connection cannot be queued (a transaction
    # runs on one tag's replica); PING, ECHO and TIME can, and run there.
    assert r.command("MULTI") == "OK"
    reply = r.command("DBSIZE")
    assert isinstance(reply, RespError) and "cluster mode" in reply, reply
    assert r.command("DISCARD") == "OK"
    assert r.command("MULTI") == "OK"
    assert r.command("PING") == "QUEUED"
    assert r.command("ECHO", "hi") == "QUEUED"
    assert r.command("SET", "{a}p", "1") == "QUEUED"
    assert r.command("EXEC") == ["PONG", b"hi", "OK"]
    assert r.command("MULTI") == "OK"
    assert r.command("PING", "only") == "QUEUED"
    assert r.command("EXEC") == [b"only"]
