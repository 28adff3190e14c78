"""CLIENT TRACKING (client-side caching) against redis-server 7.0.15 side by side (issue
18): the same clients do the same things on both, and every reply and every
invalidation message must be equal: default mode over RESP3 and RESP2 with REDIRECT,
BCAST with prefixes, OPTIN/OPTOUT with CLIENT CACHING, NOLOOP, flushes, a redirect
that goes away, and the errors. Cluster mode refuses CLIENT TRACKING (tracking.h).
"""
import socket
import time

import pytest

from conftest import RespError, RespSocket, in_cluster
from test_against_redis import both, redis  # noqa: F401 (the redis fixture)

single = pytest.mark.skipif(in_cluster(), reason="CLIENT TRACKING is refused in cluster mode")


class Side:
    """One server's clients: name -> connection."""

    def __init__(self, port):
        self.port = port
        self.conns = {}

    def conn(self, name):
        if name not in self.conns:
            self.conns[name] = RespSocket("127.0.0.1", self.port)
        return self.conns[name]

    def pending(self, name, timeout=0.3):
        """Every message waiting on a connection (pushes), in order."""
        c = self.conn(name)
        out = []
        c.sock.settimeout(timeout)
        try:
            while True:
                out.append(c.read_reply())
        except (socket.timeout, TimeoutError):
            pass
        finally:
            c.sock.settimeout(10)
        return out


def run(port, script):
    side = Side(port)
    ids = {}
    log = []
    for step in script:
        who, what = step[0], step[1:]
        if what[0] == "@pending":
            log.append((who, "pending", side.pending(who)))
            continue
        if what[0] == "@sleep":  # let a closing connection finish closing on its own thread
            time.sleep(0.2)
            continue
        args = [ids[a[1:]] if isinstance(a, str) and a.startswith("$") else a for a in what]
        reply = side.conn(who).command(*args)
        if what[0] == "CLIENT" and what[1] == "ID":
            ids[who] = str(reply)
            reply = "<id>"
        log.append((who, tuple(what), reply))
    for c in side.conns.values():
        c.close()
    # Client IDs differ between the servers: named instead.
    names = {int(v): "<id of %s>" % k for k, v in ids.items()}

    def mask(x):
        if isinstance(x, bool):
            return x
        if isinstance(x, int) and x in names:
            return names[x]
        if isinstance(x, list):
            return [mask(y) for y in x]
        return x

    def normalized(what, reply):
        if isinstance(reply, dict):  # HELLO, or TRACKINGINFO over RESP3
            return {k: ("<id>" if k == b"id" else mask(v) if k == b"redirect" else v) for k, v in reply.items()}
        if what == "pending" or what[:2] in (("CLIENT", "TRACKINGINFO"), ("CLIENT", "GETREDIR")):
            return mask(reply)
        return reply
    return [(who, what, normalized(what, reply)) for who, what, reply in log]


def compare(server, redis_conn, script):
    both(server, redis_conn)
    want = run(redis_conn.sock.getpeername()[1], script)
    got = run(server.port, script)
    for w, g in zip(want, got):
        assert g == w, "cairn %r, redis %r" % (g, w)
    assert len(got) == len(want)


@single
def test_default_mode_resp3(server, redis):
    compare(server, redis, [
        ("t", "HELLO", "3"), ("t", "CLIENT", "TRACKING", "ON"), ("w", "SET", "a", "1"),
        ("t", "GET", "a"), ("t", "MGET", "b", "c"), ("t", "HGETALL", "h"),
        ("w", "SET", "a", "2"), ("t", "@pending"),
        ("w", "SET", "a", "3"), ("t", "@pending"),          # one message per read
        ("w", "MSET", "b", "1", "c", "2"), ("t", "@pending"),
        ("w", "HSET", "h", "f", "v"), ("t", "@pending"),
        ("t", "GET", "a"), ("t", "SET", "a", "4"), ("t", "@pending"),  # its own write too
        ("t", "CLIENT", "TRACKING", "ON", "NOLOOP"), ("t", "GET", "a"), ("t", "SET", "a", "5"),
        ("t", "@pending"),
        ("t", "GET", "a"), ("w", "FLUSHALL"), ("t", "@pending"),
        ("t", "CLIENT", "TRACKINGINFO"), ("t", "CLIENT", "GETREDIR"),
        ("t", "CLIENT", "TRACKING", "OFF"), ("t", "GET", "a"), ("w", "SET", "a", "6"), ("t", "@pending"),
        ("t", "CLIENT", "TRACKINGINFO"), ("t", "CLIENT", "GETREDIR"),
    ])


@single
def test_redirect_resp2_and_broken(server, redis):
    compare(server, redis, [
        ("r", "CLIENT", "ID"), ("r", "SUBSCRIBE", "__redis__:invalidate"),
        ("t", "CLIENT", "TRACKING", "ON", "REDIRECT", "$r"), ("t", "GET", "k"), ("w", "SET", "k", "1"),
        ("r", "@pending"), ("t", "GET", "k"), ("w", "FLUSHDB"), ("r", "@pending"),
        ("t", "CLIENT", "TRACKINGINFO"),
        # A RESP3 redirect target gets pushes; when it goes, a RESP3 tracker hears of it.
        ("r3", "HELLO", "3"), ("r3", "CLIENT", "ID"),
        ("t3", "HELLO", "3"), ("t3", "CLIENT", "TRACKING", "ON", "REDIRECT", "$r3"), ("t3", "GET", "x"),
        ("w", "SET", "x", "1"), ("r3", "@pending"), ("t3", "@pending"),
        ("r3", "QUIT"), ("r3", "@sleep"), ("t3", "GET", "x"), ("w", "SET", "x", "2"), ("t3", "@pending"),
        ("t3", "CLIENT", "TRACKINGINFO"),
    ])


@single
def test_bcast_prefixes(server, redis):
    compare(server, redis, [
        ("t", "HELLO", "3"), ("t", "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a:", "PREFIX", "b:"),
        ("w", "MSET", "a:1", "x", "b:1", "y", "c:1", "z"), ("t", "@pending"),
        ("w", "SET", "a:2", "x"), ("t", "@pending"),
        ("t", "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "c:"), ("w", "SET", "c:9", "1"), ("t", "@pending"),
        ("t", "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a"),
        ("t", "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "d", "PREFIX", "dd"),
        ("t", "CLIENT", "TRACKINGINFO"),
        ("a", "HELLO", "3"), ("a", "CLIENT", "TRACKING", "ON", "BCAST"), ("w", "SET", "anything", "1"),
        ("a", "@pending"), ("w", "DEL", "anything"), ("a", "@pending"),
        ("a", "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "x"), ("a", "CLIENT", "TRACKINGINFO"),
        ("a", "CLIENT", "TRACKING", "ON", "BCAST"), ("a", "CLIENT", "TRACKINGINFO"),
        ("t", "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a:"),
        ("w", "EVAL", "for i = 1, 5 do redis.call('incr', 'a:n') end", "0"), ("t", "@pending"),
        ("t", "CLIENT", "TRACKING", "ON"),
    ])


@single
def test_optin_optout(server, redis):
    compare(server, redis, [
        ("i", "HELLO", "3"), ("i", "CLIENT", "TRACKING", "ON", "OPTIN"),
        ("i", "GET", "k1"), ("i", "CLIENT", "CACHING", "YES"), ("i", "GET", "k2"), ("i", "GET", "k3"),
        ("w", "MSET", "k1", "1", "k2", "2", "k3", "3"), ("i", "@pending"),
        ("i", "CLIENT", "CACHING", "NO"), ("i", "CLIENT", "CACHING", "MAYBE"),
        ("i", "CLIENT", "CACHING", "YES"), ("i", "MULTI"), ("i", "GET", "k1"), ("i", "GET", "k3"), ("i", "EXEC"),
        ("w", "MSET", "k1", "1", "k3", "3"), ("i", "@pending"),
        ("i", "CLIENT", "TRACKING", "ON", "OPTOUT"), ("i", "CLIENT", "TRACKING", "ON", "BCAST"),
        ("o", "HELLO", "3"), ("o", "CLIENT", "TRACKING", "ON", "OPTOUT"), ("o", "GET", "k1"),
        ("o", "CLIENT", "CACHING", "NO"), ("o", "GET", "k2"), ("o", "CLIENT", "TRACKINGINFO"),
        ("w", "MSET", "k1", "1", "k2", "2"), ("o", "@pending"), ("o", "CLIENT", "CACHING", "YES"),
    ])


@single
def test_errors(server, redis):
    compare(server, redis, [
        ("t", "CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"), ("t", "CLIENT", "TRACKING", "ON", "BCAST", "OPTIN"),
        ("t", "CLIENT", "TRACKING", "ON", "PREFIX", "a"), ("t", "CLIENT", "TRACKING", "ON", "REDIRECT", "999999"),
        ("t", "CLIENT", "TRACKING", "ON", "REDIRECT", "x"), ("t", "CLIENT", "TRACKING", "MAYBE"),
        ("t", "CLIENT", "TRACKING", "ON", "BOGUS"), ("t", "CLIENT", "TRACKING", "ON", "REDIRECT"),
        ("t", "CLIENT", "CACHING", "YES"), ("t", "CLIENT", "CACHING"), ("t", "CLIENT", "TRACKING"),
        ("t", "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a", "PREFIX", "ab"),
        ("t", "CLIENT", "GETREDIR"), ("t", "CLIENT", "TRACKINGINFO"),
    ])




@pytest.mark.skipif(not in_cluster(), reason="cluster mode only")
def test_refused_in_cluster_mode(server):
    conn = server.raw()
    assert conn.command("CLIENT", "TRACKING", "ON").startswith("ERR CLIENT TRACKING is not supported in cluster mode")
    assert conn.command("CLIENT", "TRACKING", "OFF") == "OK"
    assert conn.command("CLIENT", "GETREDIR") == -1
