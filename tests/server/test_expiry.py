"""Active expiry against redis-server 7.0.15 side by side (issue 18): keys whose time
passed are deleted in the background and counted once each in INFO's expired_keys, as
Redis's expire cycle does; a key rewritten, deleted or persisted before its time is not
counted; hz is kept clamped to 1..500; DEBUG SET-ACTIVE-EXPIRE 0 pauses the deletions.
Cluster mode keeps expired versions (active_expiry.h): single node only.
"""
import time

import pytest

from conftest import RespError, RespSocket, in_cluster
from test_against_redis import redis  # noqa: F401 (the redis fixture)

pytestmark = pytest.mark.skipif(in_cluster(), reason="cluster replicas count no expiry")


def expired_keys(conn):
    info = conn.command("INFO", "stats").decode()
    for line in info.split("\r\n"):
        if line.startswith("expired_keys:"):
            return int(line.split(":")[1])
    raise AssertionError("no expired_keys in INFO stats")


def wait_for(cond, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def sides(server, redis):  # noqa: F811
    return [("cairn", RespSocket("127.0.0.1", server.port)), ("redis", redis)]


def test_a_key_set_with_px_10_is_counted_once(server, redis):  # noqa: F811
    for name, c in sides(server, redis):
        before = expired_keys(c)
        assert c.command("SET", "exp", "1", "PX", "10") == "OK"
        # Redis's own test waits 100 x 10 ms for exactly one more.
        assert wait_for(lambda: expired_keys(c) == before + 1, timeout=1.0), name
        time.sleep(0.3)
        assert expired_keys(c) == before + 1, name
        assert c.command("EXISTS", "exp") == 0, name


def pipeline(conn, commands):
    """Sends every command at once and reads the replies (so a slow build still sets every
    key well before its time)."""
    conn.send(b"".join(conn.encode(*cmd) for cmd in commands))
    return [conn.read_reply() for _ in commands]


def test_only_keys_that_reach_their_time_are_counted(server, redis):  # noqa: F811
    results = []
    for name, c in sides(server, redis):
        c.command("FLUSHALL")
        c.command("CONFIG", "RESETSTAT")
        commands = []
        for i in range(300):
            commands += [
                ("SET", "s%d" % i, "v", "PX", "1500"),
                ("HSET", "h%d" % i, "f", "v"), ("PEXPIRE", "h%d" % i, "1500"),
                # Each of these leaves a stale expiry behind, which must not count.
                ("SET", "rewritten%d" % i, "v", "PX", "1500"), ("SET", "rewritten%d" % i, "v"),
                ("SET", "persisted%d" % i, "v", "PX", "1500"), ("PERSIST", "persisted%d" % i),
                ("SET", "deleted%d" % i, "v", "PX", "1500"), ("DEL", "deleted%d" % i),
                ("SET", "later%d" % i, "v", "PX", "1500"), ("PEXPIRE", "later%d" % i, "100000"),
            ]
        assert not any(isinstance(r, RespError) for r in pipeline(c, commands)), name
        assert wait_for(lambda: expired_keys(c) >= 600, timeout=8.0), (name, expired_keys(c))
        time.sleep(0.3)
        results.append((expired_keys(c), c.command("DBSIZE")))
    assert results[0] == results[1] == (600, 900)


def test_tracking_clients_hear_of_an_expiry(server, redis):  # noqa: F811
    pushes = []
    for name, c in sides(server, redis):
        reader = RespSocket("127.0.0.1", c.sock.getpeername()[1])
        reader.command("HELLO", "3")
        assert reader.command("CLIENT", "TRACKING", "ON") == "OK"
        c.command("SET", "tracked", "v", "PX", "200")
        assert reader.command("GET", "tracked") == b"v"
        reader.sock.settimeout(3)
        pushes.append(reader.read_reply())
    assert pushes[0] == pushes[1], pushes
    assert pushes[0][0] == b"invalidate" and pushes[0][1] == [b"tracked"]


def test_watch_sees_a_key_expire(server, redis):  # noqa: F811
    for name, c in sides(server, redis):
        c.command("SET", "w", "1", "PX", "50")
        assert c.command("WATCH", "w") == "OK"
        time.sleep(0.4)
        c.command("MULTI")
        c.command("SET", "x", "1")
        assert c.command("EXEC") is None, name


def test_hz_is_clamped_like_redis(server, redis):  # noqa: F811
    replies = []
    for _, c in sides(server, redis):
        out = []
        for v in ("1000", "0", "-1", "abc", "10"):
            reply = c.command("CONFIG", "SET", "hz", v)
            # Both refuse the same values; the texts of the reasons differ.
            out.append("error" if isinstance(reply, RespError) else reply)
            out.append(c.command("CONFIG", "GET", "hz"))
        replies.append(out)
    assert replies[0] == replies[1]
    assert replies[0][1] == [b"hz", b"500"]


@pytest.mark.server_args("--enable-debug-command", "yes")
def test_debug_set_active_expire_pauses_deletions(server):
    c = RespSocket("127.0.0.1", server.port)
    assert c.command("DEBUG", "SET-ACTIVE-EXPIRE", "0") == "OK"
    before = expired_keys(c)
    c.command("SET", "k", "v", "PX", "10")
    time.sleep(0.4)
    assert expired_keys(c) == before
    assert c.command("GET", "k") is None  # hidden all the same
    assert c.command("DEBUG", "SET-ACTIVE-EXPIRE", "1") == "OK"
    assert wait_for(lambda: expired_keys(c) == before + 1)


@pytest.mark.server_args("--enable-debug-command", "yes")
def test_debug_set_active_expire_reads_its_argument_with_atoi(server):
    """Redis reads the flag with C's atoi (checked on redis-server 7.0.15 with
    enable-debug-command): leading blanks, a sign, digits up to anything else; 2^32 wraps
    to 0."""
    c = RespSocket("127.0.0.1", server.port)
    for arg, on in (("01", True), ("+1", True), (" 1", True), ("1abc", True), ("-1", True),
                    ("0", False), ("x", False), ("4294967296", False), ("", False)):
        assert c.command("DEBUG", "SET-ACTIVE-EXPIRE", arg) == "OK"
        before = expired_keys(c)
        c.command("SET", "k", "v", "PX", "10")
        if on:
            assert wait_for(lambda: expired_keys(c) == before + 1), arg
        else:
            time.sleep(0.3)
            assert expired_keys(c) == before, arg
            c.command("DEL", "k")
    reply = c.command("DEBUG", "Set-Active-Expire")
    assert isinstance(reply, RespError)
    assert str(reply) == ("ERR unknown subcommand or wrong number of arguments for "
                          "'Set-Active-Expire'. Try DEBUG HELP.")
    c.command("DEBUG", "SET-ACTIVE-EXPIRE", "1")
