"""Pub/sub against redis-server 7.0.15 side by side (issue 18, must-show 2): the same
subscriber and publisher sequences go to both, and every reply and message must be equal;
then redis-py's PubSub, a subscriber that does not read, and (CAIRN_TEST_CLUSTER=3)
messages published on one node reaching subscribers on every node.
"""
import threading
import time

import pytest

from conftest import RespError, RespSocket, in_cluster
from test_against_redis import both, redis  # noqa: F401 (the redis fixture)


class Pair:
    """The same role (a subscriber, a publisher) on cairn and on Redis."""

    def __init__(self, cairn_port, redis_port):
        self.c = RespSocket("127.0.0.1", cairn_port)
        self.r = RespSocket("127.0.0.1", redis_port)

    def same(self, *args):
        want, got = self.r.command(*args), self.c.command(*args)
        assert got == want, "%r: cairn %r, redis %r" % (args, got, want)
        return got

    def same_set(self, *args):
        """For replies in Redis's hash-table order (PUBSUB CHANNELS): compared sorted."""
        want, got = self.r.command(*args), self.c.command(*args)
        assert sorted(got) == sorted(want), "%r: cairn %r, redis %r" % (args, got, want)

    def send(self, *args):
        for conn in (self.c, self.r):
            conn.send(RespSocket.encode(*args))

    def read_same_unordered(self, what, n):
        """n confirmations of an unsubscribe from all: Redis goes in hash-table order, so
        the names are compared as a set and the counts in order."""
        want = [self.r.read_reply() for _ in range(n)]
        got = [self.c.read_reply() for _ in range(n)]
        assert sorted(x[1] for x in got) == sorted(x[1] for x in want), (what, got, want)
        assert [(x[0], x[2]) for x in got] == [(x[0], x[2]) for x in want], (what, got, want)

    def read_same(self, what):
        want, got = self.r.read_reply(), self.c.read_reply()
        assert got == want, "%s: cairn %r, redis %r" % (what, got, want)
        return got


def ports(server, redis):
    return server.port, redis.sock.getpeername()[1]


def test_subscribe_publish_unsubscribe_match_redis(server, redis):
    both(server, redis)
    sub, pub = Pair(*ports(server, redis)), Pair(*ports(server, redis))
    sub.send("SUBSCRIBE", "news", "sport", "news")
    for i in range(3):
        sub.read_same("subscribe confirmation %d" % i)
    sub.send("PSUBSCRIBE", "n*", "x?z")
    for i in range(2):
        sub.read_same("psubscribe confirmation %d" % i)
    sub.same("PING")
    sub.same("PING", "hi")
    sub.same("GET", "k")
    sub.same("CONFIG", "GET", "maxmemory")
    pub.same("PUBLISH", "news", "hello")  # a channel and a pattern: 2
    sub.read_same("message")
    sub.read_same("pmessage")
    pub.same("PUBLISH", "xyz", "p")
    sub.read_same("pmessage of x?z")
    pub.same("PUBLISH", "nobody", "x")
    sub.read_same("pmessage of n*")
    pub.same("PUBLISH", "other", "x")
    pub.same_set("PUBSUB", "CHANNELS")
    pub.same_set("PUBSUB", "CHANNELS", "s*")
    pub.same("PUBSUB", "NUMSUB", "news", "sport", "none")
    pub.same("PUBSUB", "NUMSUB")
    pub.same("PUBSUB", "NUMPAT")
    pub.same_set("PUBSUB", "SHARDCHANNELS")
    pub.same("PUBSUB", "nope")
    sub.send("UNSUBSCRIBE", "news", "nosuch")
    sub.read_same("unsubscribe news")
    sub.read_same("unsubscribe nosuch")
    sub.send("PUNSUBSCRIBE")
    sub.read_same_unordered("punsubscribe all", 2)
    sub.send("UNSUBSCRIBE")
    sub.read_same("unsubscribe all")
    sub.send("UNSUBSCRIBE")
    sub.read_same("unsubscribe with none")
    sub.same("PING")  # out of subscribed mode
    sub.same("GET", "k")
    pub.same("PUBLISH", "news", "gone")
    pub.same("PUBLISH", "news")
    # Shard channels
    sub.send("SSUBSCRIBE", "{s}a", "{s}b")
    sub.read_same("ssubscribe 1")
    sub.read_same("ssubscribe 2")
    pub.same("SPUBLISH", "{s}a", "sharded")
    sub.read_same("smessage")
    pub.same("PUBLISH", "{s}a", "not sharded")
    pub.same_set("PUBSUB", "SHARDCHANNELS")
    pub.same("PUBSUB", "SHARDNUMSUB", "{s}a")
    sub.send("SUNSUBSCRIBE")
    sub.read_same_unordered("sunsubscribe all", 2)
    # RESET leaves subscribed mode
    sub.send("SUBSCRIBE", "a")
    sub.read_same("subscribe a")
    sub.same("RESET")
    sub.same("GET", "k")
    pub.same("PUBLISH", "a", "after reset")


def test_resp3_pushes_match_redis(server, redis):
    both(server, redis)
    sub, pub = Pair(*ports(server, redis)), Pair(*ports(server, redis))
    for conn in (sub.c, sub.r):
        assert conn.command("HELLO", "3")[b"proto"] == 3
    sub.send("SUBSCRIBE", "ch")
    got = sub.read_same("subscribe push")
    assert sub.c.last_type == sub.r.last_type == ">"
    sub.same("SET", "k", "v")  # RESP3: any command while subscribed
    sub.same("GET", "k")
    pub.same("PUBLISH", "ch", "m")
    sub.read_same("message push")
    assert sub.c.last_type == ">", got
    sub.same("PING")


def test_redis_py_pubsub(server):
    r = server.client()
    p = r.pubsub()
    p.subscribe("events")
    p.psubscribe("ev*")
    assert p.get_message(timeout=5)["type"] == "subscribe"
    assert p.get_message(timeout=5)["type"] == "psubscribe"
    received = []
    done = threading.Event()

    def listen():
        for m in p.listen():
            if m["type"] in ("message", "pmessage"):
                received.append((m["type"], m["data"]))
                if len(received) == 200:
                    done.set()
                    return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    for i in range(100):
        assert r.publish("events", "m%d" % i) == 2
    assert done.wait(10), len(received)
    assert [d for kind, d in received if kind == "message"] == [b"m%d" % i for i in range(100)]
    p.close()


@pytest.mark.server_args("--pubsub-output-buffer-limit", "1mb")
def test_a_subscriber_that_does_not_read_is_disconnected(server):
    slow = server.raw()
    slow.sock.setsockopt(__import__("socket").SOL_SOCKET, __import__("socket").SO_RCVBUF, 4096)
    assert slow.command("SUBSCRIBE", "flood")[0] == b"subscribe"
    pub = server.raw()
    payload = "x" * 10000
    deadline = time.monotonic() + 30
    while pub.command("PUBSUB", "NUMSUB", "flood")[1] == 1:
        assert time.monotonic() < deadline, "the subscriber was never disconnected"
        for _ in range(100):
            pub.command("PUBLISH", "flood", payload)
    assert "pub/sub output buffer over" in server.log()
    assert pub.command("PING") == "PONG"


@pytest.mark.skipif(not in_cluster(), reason="messages across the nodes of a cluster")
def test_messages_reach_subscribers_on_every_node(server):
    nodes = server.cluster_nodes
    subs = []
    for node in nodes:
        s = node.raw()
        assert s.command("SUBSCRIBE", "all")[0] == b"subscribe"
        subs.append(s)
    for i, node in enumerate(nodes):
        # This node's subscribers count, as in Redis Cluster.
        assert node.raw().command("PUBLISH", "all", "from%d" % i) == 1
        for s in subs:
            assert s.read_reply() == [b"message", b"all", b"from%d" % i]
    s = nodes[2].raw()
    assert s.command("SSUBSCRIBE", "{t}shard")[0] == b"ssubscribe"
    assert nodes[0].raw().command("SPUBLISH", "{t}shard", "x") == 0
    assert s.read_reply() == [b"smessage", b"{t}shard", b"x"]
    assert isinstance(nodes[1].raw().command("EVAL", "return redis.call('publish', 'all', 'lua')", "0"), int)
    for s in subs:
        assert s.read_reply() == [b"message", b"all", b"lua"]
    assert not isinstance(subs[0].command("PING"), RespError)
