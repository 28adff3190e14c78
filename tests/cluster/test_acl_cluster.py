"""ACLs in cluster mode (docs/acl.md): commands are checked on the node the client talks
to before they are routed; scripts, which run on another node, are refused to restricted
users; queued commands are checked again at EXEC; internal commands need every right.
"""
import pytest

from cluster_util import Cluster
from conftest import RespError, wait_cluster_members


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path / "cluster", 3)
    wait_cluster_members(list(c), 3)
    yield c
    c.stop_all()


def setuser_everywhere(cluster, *rules):
    for node in cluster:
        assert node.raw().command("ACL", "SETUSER", *rules) == "OK"


def test_restricted_user_in_cluster_mode(cluster):
    setuser_everywhere(cluster, "app", "on", ">pw", "~{a}*", "+@all")
    admin = cluster[0].raw()
    assert admin.command("SET", "{b}secret", "s") == "OK"
    c = cluster[1].raw()
    assert c.command("AUTH", "app", "pw") == "OK"
    assert c.command("SET", "{a}1", "v") == "OK"
    assert c.command("GET", "{a}1") == b"v"
    assert c.command("GET", "{b}secret") == RespError(
        "NOPERM this user has no permissions to access one of the keys used as arguments")
    # Scripts run on the keys' replica, where this user's rules are not checked: refused.
    got = c.command("EVAL", "return redis.call('get','{b}secret')", "0")
    assert isinstance(got, RespError) and got.startswith("NOPERM in cluster mode a script"), got
    for internal in (("CAIRN.REPLICA", "x"), ("CAIRN.FCALL", "x", "rw", "0", "0")):
        got = c.command(*internal)
        assert isinstance(got, RespError) and got.startswith("NOPERM"), got
    # Queued, then the rules change: EXEC refuses the transaction.
    assert c.command("MULTI") == "OK"
    assert c.command("INCR", "{a}n") == "QUEUED"
    assert cluster[1].raw().command("ACL", "SETUSER", "app", "-incr") == "OK"
    got = c.command("EXEC")
    assert isinstance(got, RespError) and got.startswith("EXECABORT") and "NOPERM ACLs rules changed" in got, got
    assert admin.command("GET", "{a}n") is None
    # Refused at queue time, as on a single node.
    assert c.command("MULTI") == "OK"
    assert c.command("SET", "{b}x", "1") == RespError(
        "NOPERM this user has no permissions to access one of the keys used as arguments")
    assert c.command("EXEC").startswith("EXECABORT")
    # A user with every right still runs scripts across the cluster.
    assert admin.command("EVAL", "return redis.call('get',KEYS[1])", "1", "{b}secret") == b"s"


def test_exec_rechecks_every_rule_in_cluster_mode(cluster):
    """A transaction queued by a user with every right, whose rules then shrink: EXEC
    applies the same refusals as queue time (not only the key and command rules)."""
    setuser_everywhere(cluster, "app", "on", ">pw", "~*", "&*", "+@all")
    admin = cluster[0].raw()
    assert admin.command("RPUSH", "{a}l", "1", "2") == 2
    c = cluster[1].raw()
    assert c.command("AUTH", "app", "pw") == "OK"
    assert c.command("MULTI") == "OK"
    assert c.command("SORT", "{a}l", "GET", "{a}w_*") == "QUEUED"
    assert cluster[1].raw().command("ACL", "SETUSER", "app", "resetkeys", "~{a}*") == "OK"
    got = c.command("EXEC")
    assert isinstance(got, RespError) and got.startswith("EXECABORT") and (
        "GET option of SORT denied due to insufficient ACL permissions" in got), got
    assert c.command("SORT", "{a}l") == [b"1", b"2"]
    # A script queued while the user had every right: refused at EXEC as at queue time.
    assert cluster[1].raw().command("ACL", "SETUSER", "app", "allkeys") == "OK"
    assert c.command("MULTI") == "OK"
    assert c.command("EVAL", "return redis.call('rpush', KEYS[1], 'x')", "1", "{a}l") == "QUEUED"
    assert cluster[1].raw().command("ACL", "SETUSER", "app", "-flushall") == "OK"
    got = c.command("EXEC")
    assert isinstance(got, RespError) and "NOPERM in cluster mode a script" in got, got
    assert admin.command("LLEN", "{a}l") == 2
