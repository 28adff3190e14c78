"""MONITOR against redis-server 7.0.15 side by side (issue 18): the same commands go to
both while a monitor watches each; the lines (timestamps and client addresses set aside)
must be equal: order (a transaction's commands before its EXEC, a script's after its
EVAL), quoting, redaction of AUTH, admin commands left out, a blocked command shown once.
"""
import re
import time

from conftest import RespError, RespSocket, in_cluster
from test_against_redis import both, redis  # noqa: F401 (the redis fixture)

LINE = re.compile(r"^\d+\.\d{6} \[(\d+) ([^\]]+)\] (.*)$")


def watch(port, commands):
    """The monitor's lines for commands sent by another client, normalized."""
    mon = RespSocket("127.0.0.1", port)
    assert mon.command("MONITOR") == "OK"
    client = RespSocket("127.0.0.1", port)
    for args in commands:
        client.command(*args)
    client.command("ECHO", "done")
    lines = []
    while True:
        line = mon.read_reply()
        m = LINE.match(line)
        assert m, line
        db, addr, rest = m.groups()
        lines.append((int(db), "lua" if addr == "lua" else "client", rest))
        if rest == '"ECHO" "done"':
            break
    mon.close()
    client.close()
    return lines


COMMANDS = [
    ("SET", "{m}foo", "bar"), ("GET", "{m}foo"), ("SET", "{m}odd key", 'q"uo\\te\n\r\t\x01\x7f\xff'),
    ("MULTI",), ("SET", "{m}foo", "1"), ("INCR", "{m}foo"), ("EXEC",),
    ("MULTI",), ("NOSUCHCOMMAND",), ("EXEC",),
    ("AUTH", "secret"), ("AUTH", "user", "secret"),
    ("CONFIG", "GET", "maxmemory"),  # admin: not shown
    ("BLPOP", "{m}list", "0.1"),     # shown once although it waited
    ("GET",),                        # refused (arity): not shown
    ("PING",),
]


def test_monitor_lines_match_redis(server, redis):
    both(server, redis)
    redis_port = redis.sock.getpeername()[1]
    commands = list(COMMANDS)
    if not in_cluster():
        # A script runs on its keys' replica in a cluster, which may be another node.
        commands += [("EVAL", "redis.call('set', KEYS[1], ARGV[1]) return 1", "1", "{m}foo", "bar"),
                     ("FUNCTION", "LOAD", "REPLACE", "#!lua name=mlib\nredis.register_function('mf', "
                      "function(keys, args) return redis.call('get', keys[1]) end)"),
                     ("FCALL", "mf", "1", "{m}foo"), ("EVALSHA", "0" * 40, "0")]
    want = watch(redis_port, commands)
    got = watch(server.port, commands)
    assert got == want


def test_monitor_ends_with_reset_and_a_second_monitor_is_ignored(server):
    mon = RespSocket("127.0.0.1", server.port)
    assert mon.command("MONITOR") == "OK"
    mon.send(RespSocket.encode("MONITOR"))       # ignored: no reply
    assert mon.command("RESET") == "RESET"      # the RESET's own reply comes first
    client = RespSocket("127.0.0.1", server.port)
    client.command("SET", "{m}after", "1")
    assert mon.command("PING") == "PONG"        # no line for the SET in between
    assert mon.command("MULTI") == "OK"
    if in_cluster():  # a transaction of no key cannot run on a replica
        assert mon.command("MONITOR").startswith("ERR 'monitor' cannot be queued")
        return
    assert mon.command("MONITOR") == "QUEUED"
    assert mon.command("EXEC") == [RespError("ERR MONITOR isn't allowed for DENY BLOCKING client")]


def test_many_monitors_and_a_closed_one(server):
    mons = [RespSocket("127.0.0.1", server.port) for _ in range(3)]
    for m in mons:
        assert m.command("MONITOR") == "OK"
    mons[0].close()
    time.sleep(0.1)
    client = RespSocket("127.0.0.1", server.port)
    client.command("SET", "{m}k", "v")
    for m in mons[1:]:
        assert m.read_reply().endswith('"SET" "{m}k" "v"')
