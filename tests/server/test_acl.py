"""ACLs against redis-server 7.0.15 side by side: the same ACL SETUSER rule sets, the same
commands run as those users, the same replies (NOPERM denials, ACL GETUSER/LIST, ACL CAT,
ACL DRYRUN, AUTH failures, ACL LOG entries). Then what only cairn has: the aclfile round
trip across a restart, the HTTP API with a restricted user, cluster-free MULTI/EXEC and
script checks, subscribers dropped when their channels are revoked.
"""
import base64
import os
import urllib.error
import urllib.request

import pytest

from conftest import RedisServer, RespError, RespSocket


@pytest.fixture
def ref(redis_server):
    """The port of redis-server side by side (conftest's redis_server)."""
    return redis_server.port


class Pair:
    """One connection to cairn and one to Redis, driven in step."""

    def __init__(self, cairn_port, redis_port):
        self.c = RespSocket("127.0.0.1", cairn_port)
        self.r = RespSocket("127.0.0.1", redis_port)

    def both(self, *args):
        return self.c.command(*args), self.r.command(*args)

    def same(self, *args, norm=lambda x: x):
        got, want = self.both(*args)
        assert norm(got) == norm(want), "%r: cairn %r, redis %r" % (args, got, want)
        return got


def norm_rules(text):
    """ACL LIST/GETUSER command rules: Redis emits single commands in its hash table's
    (random) order; categories keep their order, single commands are compared as a set.
    cairn's own commands (CAIRN.*) have no counterpart in Redis and are left out."""
    if isinstance(text, bytes):
        text = text.decode()
    if isinstance(text, RespError):
        return text
    out, singles = [], []
    depth_parts = []
    for tok in text.replace("(", " ( ").replace(")", " ) ").split():
        if tok in ("(", ")"):
            out.append(sorted(singles))
            singles = []
            out.append(tok)
        elif tok[1:].startswith("cairn."):
            continue
        elif (tok[0] in "+-") and "@" not in tok:
            singles.append(tok)
        else:
            out.append(tok)
    out.append(sorted(singles))
    del depth_parts
    return out


def norm_getuser(reply):
    if not isinstance(reply, list):
        return reply
    out = []
    for i, v in enumerate(reply):
        if i > 0 and reply[i - 1] == b"commands":
            out.append(norm_rules(v))
        elif i > 0 and reply[i - 1] == b"selectors":
            out.append([norm_getuser(s) for s in v])
        else:
            out.append(v)
    return out


def norm_list(reply):
    return [norm_rules(line) for line in reply] if isinstance(reply, list) else reply


def seed(conn):
    for args in [("SET", "a1", "1"), ("SET", "b1", "2"), ("SET", "r1", "x"), ("SET", "w1", "y"),
                 ("RPUSH", "la", "3", "1", "2"), ("HSET", "ha", "f", "v"), ("SET", "secret", "s")]:
        conn.command(*args)


# Rule sets: each is applied to a fresh user "u" on both servers; then every command of
# COMMANDS runs as "u" on both, and ACL DRYRUN of each is compared.
RULE_SETS = [
    ["on", ">pw", "~a*", "+get", "+set"],
    ["on", ">pw", "~*", "+@all", "-@dangerous", "+info"],
    ["on", ">pw", "allkeys", "+@read", "-@hash"],
    ["on", ">pw", "%R~r*", "%W~w*", "~a*", "+@all"],
    ["on", ">pw", "~a*", "+@string", "-set", "+config|get", "+client|id"],
    ["on", ">pw", "~*", "&ch*", "+@all", "-flushall"],
    ["on", ">pw", "resetchannels", "&news", "allcommands", "allkeys"],
    ["on", ">pw", "~a*", "+get", "(~b* +set)", "(%R~r* +@read)"],
    ["on", ">pw", "nocommands", "+select|0", "+ping", "+@connection"],
    ["on", "nopass", "~*", "+@all", "-@write", "+del"],
    ["on", ">pw", "+@all", "~*", "reset", "on", ">pw", "+get", "~a*"],
    ["on", ">pw", "~a*", "+@all", "clearselectors", "(~b* +get)", "clearselectors", "(~r* +get)"],
    ["on", ">pw", "#" + "a" * 64, ">pw", "!" + "a" * 64, "~*", "+@hash", "+@list", "-lpush"],
    ["on", ">pw", "skip-sanitize-payload", "allchannels", "+@pubsub", "+@slow", "-@admin"],
]

COMMANDS = [
    ("GET", "a1"), ("GET", "b1"), ("SET", "a1", "v"), ("SET", "b1", "v"), ("GET", "r1"),
    ("SET", "r1", "z"), ("SET", "w1", "z"), ("GET", "w1"), ("COPY", "r1", "w2"),
    ("COPY", "w1", "r2"), ("MGET", "a1", "b1"), ("MSET", "a1", "1", "zz", "2"),
    ("HGET", "ha", "f"), ("LRANGE", "la", "0", "-1"), ("FLUSHALL",), ("INFO", "keyspace"),
    ("CONFIG", "GET", "maxmemory"), ("CONFIG", "SET", "maxmemory", "0"), ("CLIENT", "ID"),
    ("SELECT", "0"), ("SELECT", "1"), ("PING",), ("PUBLISH", "ch1", "m"),
    ("PUBLISH", "news", "m"), ("PUBLISH", "other", "m"), ("DEL", "a1"), ("EXISTS", "a1", "zz"),
    ("SORT", "la"), ("SORT", "la", "BY", "w*"), ("SORT", "la", "GET", "#"), ("SORT", "la", "BY", "nosort"),
    ("SORT", "la", "STORE", "w9"), ("ECHO", "x"), ("DBSIZE",), ("KEYS", "a*"),
]

# Replies whose content legitimately differs (server info, ids) are compared by kind.
def norm_reply(cmd):
    name = cmd[0].upper()
    sub = cmd[1].upper() if len(cmd) > 1 else ""

    def f(v):
        if isinstance(v, RespError):
            return v
        if name in ("INFO",) or (name, sub) in (("CLIENT", "ID"), ("CONFIG", "GET")):
            return type(v).__name__
        if name == "PUBLISH":
            return "int"
        return v
    return f


@pytest.mark.parametrize("rules", RULE_SETS, ids=lambda r: " ".join(r)[:40])
def test_rule_sets_match_redis(server, ref, rules):
    admin = Pair(server.port, ref)
    seed(admin.c)
    seed(admin.r)
    admin.same("ACL", "SETUSER", "u", *rules)
    admin.same("ACL", "GETUSER", "u", norm=norm_getuser)
    admin.same("ACL", "LIST", norm=norm_list)
    admin.same("ACL", "USERS")
    for cmd in COMMANDS:
        admin.same("ACL", "DRYRUN", "u", *cmd)
    user = Pair(server.port, ref)
    user.same("AUTH", "u", "pw")
    user.same("ACL", "WHOAMI")
    for cmd in COMMANDS:
        user.same(*cmd, norm=norm_reply(cmd))
        if cmd[0] == "FLUSHALL" or cmd[0] == "DEL":
            seed(admin.c)
            seed(admin.r)
    # The denials are in ACL LOG, as Redis logs them.
    entries = admin.same("ACL", "LOG", "100", norm=norm_log)
    assert isinstance(entries, list)


def norm_log(reply):
    if not isinstance(reply, list):
        return reply
    out = []
    for e in reply:
        d = dict(zip(e[::2], e[1::2]))
        d.pop(b"age-seconds")
        info = d.pop(b"client-info")
        assert b"user=" in info and b"addr=" in info
        out.append(d)
    return out


SETUSER_ERRORS = [
    ("u9", "(~x", "+get"), ("u9", "(~x bad)"), ("u9", "(on)"), ("u9", "foo"), ("u9", "+nosuch"),
    ("u9", "~*", "~x"), ("u9", "&*", "&x"), ("u9", "<nopw"), ("u9", "#abc"),
    ("u9", "+config|get|x"), ("u9", "-select|0"), ("u9", "%X~a"), ("u9", "+@nosuch"),
    ("u9", "+config|nosuch"), ("u9", "allkeys", "~x"), ("a b", "on"), ("u9", "on", "+get", "bad"),
    # Whitespace or NUL in a name or a pattern would break the one-user-per-line aclfile.
    ("a\nb", "on"), ("a\tb", "on"), ("a\x00b", "on"), ("a\rb", "on"),
    ("u9", "on", "nopass", "~x\nuser evil on nopass ~*", "&*", "+@all"), ("u9", "&x y"),
    ("u9", "%R~x y"), ("u9", "~x\ty"), ("u9", "&a\x00"), ("u9", "%W~\x0b"),
]


def test_setuser_errors_cat_and_admin_replies_match_redis(server, ref):
    p = Pair(server.port, ref)
    for args in SETUSER_ERRORS:
        p.same("ACL", "SETUSER", *args)
    p.same("ACL", "GETUSER", "u9")  # never created: every failure left nothing behind
    p.same("ACL", "SETUSER", "u9", "on", "~a*")
    p.same("ACL", "SETUSER", "u9", "+get", "~b*", "+nosuch")
    p.same("ACL", "GETUSER", "u9", norm=norm_getuser)  # unchanged by the failed SETUSER
    p.same("ACL", "CAT")
    for cat in p.r.command("ACL", "CAT"):
        # (cairn's own CAIRN.* commands are in some categories too)
        p.same("ACL", "CAT", cat, norm=lambda v: sorted(x for x in v if not x.startswith(b"cairn."))
               if isinstance(v, list) else v)
    for args in [("ACL", "CAT", "nosuch"), ("ACL", "DRYRUN", "nosuch", "get", "a"),
                 ("ACL", "DRYRUN", "u9", "nosuch", "a"), ("ACL", "DRYRUN", "u9", "get"),
                 ("ACL", "DELUSER", "default"), ("ACL", "LOG", "x"), ("ACL", "LOG", "1", "2"),
                 ("ACL", "FOO"), ("ACL",), ("ACL", "GETUSER"), ("ACL", "WHOAMI", "x"),
                 ("ACL", "GENPASS", "0"), ("ACL", "GENPASS", "4097"), ("ACL", "SETUSER"),
                 ("ACL", "HELP"), ("ACL", "WHOAMI"), ("ACL", "DELUSER", "nosuch", "u9"),
                 ("ACL", "SAVE"), ("ACL", "LOAD"), ("ACL", "LOG", "RESET")]:
        p.same(*args)
    for bits in ("1", "5", "256", "4096"):
        got, want = p.both("ACL", "GENPASS", bits)
        assert len(got) == len(want)


def test_star_patterns_are_the_all_flags_match_redis(server, ref):
    p = Pair(server.port, ref)
    for _ in range(2):
        p.same("ACL", "SETUSER", "u", "on", ">pw", "~*", "&*", "+@all")
    p.same("ACL", "SETUSER", "default", "~*")
    p.same("ACL", "SETUSER", "default", "&*", "allchannels", "&*")
    p.same("ACL", "SETUSER", "u", "~x")  # ~* is allkeys: a pattern after it is refused
    p.same("ACL", "SETUSER", "u", "&x")
    p.same("ACL", "SETUSER", "v", "on", ">pw", "%RW~*", "~foo", "+@all")  # an ordinary pattern
    p.same("ACL", "SETUSER", "w", "on", ">pw", "%R~", "~", "+@all")
    p.same("ACL", "GETUSER", "w", norm=norm_getuser)
    for user in ("u", "v", "w"):
        for line in (("GET", "k"), ("SET", "foo", "1")):
            p.same("ACL", "DRYRUN", user, *line)
    p.same("ACL", "DRYRUN", "w", "GET", "")  # (Redis 7.0's "*" does not match '': not compared)
    p.same("ACL", "DRYRUN", "w", "SET", "", "1")


def test_names_and_patterns_with_newlines_cannot_smuggle_users(server, tmp_path):
    aclfile = tmp_path / "users.acl"
    server.restart(server.args + ["--aclfile", str(aclfile)])
    c = server.raw()
    got = c.command("ACL", "SETUSER", "bob", "on", "nopass", "~x\nuser evil on nopass ~*", "&*",
                    "+@all")
    assert isinstance(got, RespError), got
    assert isinstance(c.command("ACL", "SETUSER", "x\nuser evil on nopass ~* +@all", "on"),
                      RespError)
    # An ordinary %RW~* pattern round-trips through the file with the patterns after it.
    assert c.command("ACL", "SETUSER", "v", "on", ">pw", "%RW~*", "~foo", "+get") == "OK"
    assert c.command("ACL", "SAVE") == "OK"
    assert c.command("ACL", "LOAD") == "OK"
    assert c.command("ACL", "USERS") == [b"default", b"v"]
    assert c.command("ACL", "GETUSER", "v")[7] == b"%RW~* ~foo"


def test_georadius_checks_every_store_key(server):
    c = server.raw()
    assert c.command("ACL", "SETUSER", "t", "on", ">p", "~allowed*", "+@all") == "OK"
    c.command("GEOADD", "allowedsrc", "13.361389", "38.115556", "Palermo")
    t = server.raw()
    assert t.command("AUTH", "t", "p") == "OK"
    for store in (("STORE", "allowedx", "STORE", "secret"),
                  ("STORE", "allowedx", "STOREDIST", "secret"),
                  ("STOREDIST", "allowedx", "STOREDIST", "secret")):
        got = t.command("GEORADIUS", "allowedsrc", "13", "38", "500", "km", *store)
        assert got == RespError(
            "NOPERM this user has no permissions to access one of the keys used as arguments")
        assert c.command("EXISTS", "secret") == 0
    assert t.command("GEORADIUSBYMEMBER", "allowedsrc", "Palermo", "500", "km", "STORE",
                     "secret", "STORE", "allowedx") == RespError(
        "NOPERM this user has no permissions to access one of the keys used as arguments")
    assert t.command("GEORADIUS", "allowedsrc", "13", "38", "500", "km", "STORE", "allowedx") == 1
    assert c.command("EXISTS", "secret") == 0


def test_auth_failures_and_log_match_redis(server, ref):
    p = Pair(server.port, ref)
    p.same("ACL", "SETUSER", "alice", "on", ">a1", "~a*", "+get")
    p.same("ACL", "SETUSER", "off1", "off", ">x", "+@all")
    p.same("AUTH", "pw")  # default has no password
    p.same("AUTH", "alice", "wrong")
    p.same("AUTH", "nosuch", "x")
    p.same("AUTH", "off1", "x")
    p.same("AUTH", "alice", "wrong")  # grouped with the first: count 2
    p.same("HELLO", "2", "AUTH", "alice", "bad")
    q = Pair(server.port, ref)
    q.same("AUTH", "alice", "a1")
    q.same("GET", "b1")
    q.same("SET", "a1", "x")
    q.same("GET", "b1")
    p.same("ACL", "LOG", norm=norm_log)
    p.same("ACL", "LOG", "2", norm=norm_log)
    p.same("CONFIG", "SET", "requirepass", "top")
    r = Pair(server.port, ref)
    r.same("GET", "a1")
    r.same("AUTH", "bad")
    r.same("AUTH", "top")
    r.same("HELLO", "2", "AUTH", "default", "top", norm=lambda v: type(v).__name__)
    p.same("CONFIG", "SET", "requirepass", "")


def test_multi_exec_denials_match_redis(server, ref):
    admin = Pair(server.port, ref)
    admin.same("ACL", "SETUSER", "m", "on", ">pw", "~a*", "+@all")
    p = Pair(server.port, ref)
    p.same("AUTH", "m", "pw")
    p.same("MULTI")
    p.same("SET", "a1", "1")
    p.same("SET", "b1", "1")  # refused at queue time: EXEC aborts
    p.same("EXEC")
    p.same("MULTI")
    p.same("SET", "a1", "1")
    p.same("INCR", "a2")
    admin.same("ACL", "SETUSER", "m", "-incr")  # rules change before EXEC
    p.same("EXEC")
    admin.same("ACL", "LOG", norm=norm_log)


def test_scripts_checked_against_caller_match_redis(server, ref):
    admin = Pair(server.port, ref)
    admin.same("ACL", "SETUSER", "s", "on", ">pw", "~a*", "&ch", "+@all")
    admin.same("ACL", "SETUSER", "s2", "on", ">pw", "~*", "+get", "+eval")
    admin.c.command("SET", "secret", "x")
    admin.r.command("SET", "secret", "x")
    p = Pair(server.port, ref)
    p.same("AUTH", "s", "pw")
    p.same("EVAL", "return redis.call('get','secret')", "0")
    p.same("EVAL", "return redis.pcall('get','secret')", "0")
    p.same("EVAL", "return redis.call('get','a1')", "0")
    p.same("EVAL", "return redis.call('publish','x','y')", "0")
    p.same("EVAL", "return redis.call('get',KEYS[1])", "1", "secret")
    q = Pair(server.port, ref)
    q.same("AUTH", "s2", "pw")
    q.same("EVAL", "return redis.call('set','a','b')", "0")
    admin.same("ACL", "LOG", norm=norm_log)


def test_pubsub_channels_match_redis(server, ref):
    admin = Pair(server.port, ref)
    admin.same("ACL", "SETUSER", "ps", "on", ">pw", "resetchannels", "&news.*", "&chat", "+@all")
    p = Pair(server.port, ref)
    p.same("AUTH", "ps", "pw")
    p.same("PUBLISH", "other", "m")
    p.same("PUBLISH", "news.1", "m")
    p.same("SUBSCRIBE", "chat", "other")
    p.same("PSUBSCRIBE", "news.1*")
    p.same("PSUBSCRIBE", "news.*")
    p.same("SSUBSCRIBE", "x")
    admin.same("ACL", "LOG", "3", norm=norm_log)
    # Revoking a subscribed channel disconnects the subscriber, as Redis 7 does.
    sub = Pair(server.port, ref)
    sub.same("AUTH", "ps", "pw")
    sub.same("SUBSCRIBE", "chat")
    admin.same("ACL", "SETUSER", "ps", "resetchannels", "&news.*")
    assert sub.c.closed_by_server() and sub.r.closed_by_server()


def test_deleted_user_is_disconnected(server):
    admin = server.raw()
    assert admin.command("ACL", "SETUSER", "gone", "on", ">pw", "+@all", "~*") == "OK"
    c = server.raw()
    assert c.command("AUTH", "gone", "pw") == "OK"
    assert c.command("PING") == "PONG"
    assert admin.command("ACL", "DELUSER", "gone") == 1
    assert c.closed_by_server()


def test_aclfile_round_trip_and_broken_load(server, tmp_path):
    aclfile = tmp_path / "users.acl"
    server.restart(server.args + ["--aclfile", str(aclfile)])
    c = server.raw()
    assert c.command("ACL", "SETUSER", "bob", "on", ">pw", "~b*", "+get", "(+set ~x)") == "OK"
    before = c.command("ACL", "LIST")
    assert c.command("ACL", "SAVE") == "OK"
    text = aclfile.read_text()
    assert "user bob on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~b*" in text
    server.restart()
    c = server.raw()
    assert c.command("ACL", "LIST") == before
    assert c.command("AUTH", "bob", "pw") == "OK"
    assert c.command("GET", "b1") is None
    assert c.command("GET", "a1") == RespError(
        "NOPERM this user has no permissions to access one of the keys used as arguments")
    # A broken file changes nothing and names every problem, as Redis does.
    admin = server.raw()
    aclfile.write_text("user default on nopass ~* &* +@all\nuser bob on +nosuch\nfoo bar\n"
                       "user bob on\nuser x (~a\n")
    got = admin.command("ACL", "LOAD")
    p = str(aclfile)
    assert got == RespError(
        "ERR %s:2: Error in applying operation '+nosuch': Unknown command or category name in "
        "ACL. %s:3 should start with user keyword followed by the username. WARNING: Duplicate "
        "user 'bob' found on line 4. %s:5: Unmatched parenthesis in selector definition."
        "WARNING: ACL errors detected, no change to the previously active ACL rules was "
        "performed" % (p, p, p)), got
    assert admin.command("ACL", "LIST") == before
    assert c.command("GET", "b1") is None  # still logged in: nothing changed
    # A good file replaces the users; clients of replaced users are disconnected.
    aclfile.write_text("user default on nopass ~* &* +@all\nuser carol on >c ~c* +@read\n")
    assert admin.command("ACL", "LOAD") == "OK"
    assert admin.command("ACL", "USERS") == [b"carol", b"default"]
    assert c.closed_by_server()


def test_acl_save_follows_no_planted_symlink(server, tmp_path):
    aclfile = tmp_path / "users.acl"
    server.restart(server.args + ["--aclfile", str(aclfile)])
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    os.symlink(victim, str(aclfile) + ".tmp")  # the old, predictable temporary name
    c = server.raw()
    assert c.command("ACL", "SETUSER", "bob", "on", ">pw", "~b*", "+get") == "OK"
    assert c.command("ACL", "SAVE") == "OK"
    assert victim.read_text() == "keep\n"
    assert not aclfile.is_symlink() and "user bob on" in aclfile.read_text()
    assert (os.stat(aclfile).st_mode & 0o777) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("users.acl")) == [
        "users.acl", "users.acl.tmp"]  # no temporary file left behind
    assert c.command("ACL", "LOAD") == "OK"


def test_aclfile_load_error_matches_redis(server, ref, tmp_path):
    """The same broken file loaded by both: the same error once the paths are equal."""
    aclfile = tmp_path / "same.acl"
    aclfile.write_text("user default on nopass ~* &* +@all\n")
    server.restart(server.args + ["--aclfile", str(aclfile)])
    other = RedisServer(tmp_path / "redis-aclfile", ["--aclfile", str(aclfile)])
    try:
        r = other.raw()
        aclfile.write_text("user default on nopass ~* &* +@all\nuser bob on +nosuch\n"
                           "user ann on ~a %X~b\nuser u (+get\n")
        c = server.raw()
        assert c.command("ACL", "LOAD") == r.command("ACL", "LOAD")
        assert c.command("ACL", "USERS") == r.command("ACL", "USERS") == [b"default"]
    finally:
        other.stop()


def http(server, method, path, auth=None, body=None):
    req = urllib.request.Request(server.http_url(path), method=method, data=body)
    if auth is not None:
        req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def test_http_db_needs_select(server):
    c = server.raw()
    assert c.command("SELECT", "3") == "OK"
    assert c.command("SET", "k", "db3") == "OK"
    assert c.command("ACL", "SETUSER", "nosel", "on", ">p", "~*", "+@all", "-select") == "OK"
    assert c.command("ACL", "SETUSER", "sel0", "on", ">p", "~*", "+@all", "-select",
                     "+select|0") == "OK"
    assert c.command("ACL", "SETUSER", "sel3", "on", ">p", "~*", "+@all", "-select",
                     "+select|3") == "OK"
    batch = b'{"ops": [{"op": "put", "key": "k", "value": "x"}], "db": 3}'
    for user in ("nosel", "sel0"):
        auth = basic(user, "p")
        for method, path, body in (("GET", "/v1/kv/k?db=3", None), ("GET", "/v1/kv?db=3", None),
                                   ("PUT", "/v1/kv/k?db=3", b"x"), ("DELETE", "/v1/kv/k?db=3", None),
                                   ("POST", "/v1/batch", batch)):
            status, got = http(server, method, path, auth, body)
            assert status == 403 and got.startswith(b"{") and b"NOPERM" in got, (user, path, got)
        assert http(server, "GET", "/v1/kv/k?db=0", auth)[0] == 404  # db 0 needs no SELECT
    assert c.command("GET", "k") == b"db3"
    auth = basic("sel3", "p")
    assert http(server, "GET", "/v1/kv/k?db=3", auth) == (200, b"db3")
    assert http(server, "POST", "/v1/batch", auth, batch)[0] == 200
    assert c.command("GET", "k") == b"x"


def test_http_api_applies_acl_per_route(server):
    c = server.raw()
    assert c.command("SET", "m1", "v") == "OK"
    assert c.command("SET", "other", "v") == "OK"
    assert c.command("ACL", "SETUSER", "metrics", "on", ">mp", "+info") == "OK"
    assert c.command("ACL", "SETUSER", "app", "on", ">ap", "~m*", "+get", "+set", "+scan") == "OK"
    assert c.command("ACL", "SETUSER", "reader", "on", ">rp", "%R~*", "+@read") == "OK"
    assert c.command("CONFIG", "SET", "requirepass", "adm") == "OK"
    m, a, r = basic("metrics", "mp"), basic("app", "ap"), basic("reader", "rp")
    assert http(server, "GET", "/v1/kv/m1")[0] == 401
    assert http(server, "GET", "/v1/kv/m1", basic("app", "wrong"))[0] == 401
    status, body = http(server, "GET", "/metrics", m)
    assert status == 200, body
    status, body = http(server, "GET", "/v1/kv/m1", m)
    assert status == 403 and b"NOPERM" in body and body.startswith(b"{"), body
    assert http(server, "GET", "/v1/kv/m1", a) == (200, b"v")
    assert http(server, "PUT", "/v1/kv/m2", a, b"x")[0] == 200
    assert http(server, "GET", "/v1/kv/other", a)[0] == 403
    assert http(server, "PUT", "/v1/kv/other", a, b"x")[0] == 403
    assert http(server, "DELETE", "/v1/kv/m1", a)[0] == 403  # no +del
    assert http(server, "GET", "/v1/kv?prefix=m", a)[0] == 403  # a listing reads every key
    assert http(server, "GET", "/metrics", a)[0] == 403
    assert http(server, "POST", "/v1/batch", a,
                b'{"ops": [{"op": "put", "key": "other", "value": "x"}]}')[0] == 403
    assert http(server, "GET", "/v1/kv?prefix=m", r)[0] == 200
    assert http(server, "PUT", "/v1/kv/m3", r, b"x")[0] == 403
    assert http(server, "GET", "/v1/kv/m1", "Bearer app:ap")[0] == 200
    assert http(server, "GET", "/v1/kv/other", "Bearer adm")[0] == 200
    assert c.command("AUTH", "adm") == "OK"
    assert c.command("CONFIG", "SET", "requirepass", "") == "OK"


def test_sort_by_and_cairn_range_need_full_read(server, ref):
    admin = Pair(server.port, ref)
    admin.same("ACL", "SETUSER", "srt", "on", ">pw", "~l*", "+@all")
    for conn in (admin.c, admin.r):
        conn.command("RPUSH", "l1", "2", "1")
        conn.command("SET", "w_1", "9")
        conn.command("SET", "w_2", "8")
    p = Pair(server.port, ref)
    p.same("AUTH", "srt", "pw")
    p.same("SORT", "l1")
    p.same("SORT", "l1", "BY", "w_*")
    p.same("SORT", "l1", "GET", "w_*")
    p.same("SORT_RO", "l1", "GET", "#")
    p.same("SORT", "l1", "BY", "nosort")
    p.same("EVAL", "return redis.call('sort','l1','by','w_*')", "0")
    assert p.c.command("CAIRN.RANGE", "", "", "WITHVALUES")[:6] == "NOPERM"
    admin.same("ACL", "SETUSER", "srt", "%R~*")
    p.same("SORT", "l1", "BY", "w_*")


def test_slowlog_redacts_credentials(server):
    c = server.raw()
    assert c.command("CONFIG", "SET", "slowlog-log-slower-than", "0") == "OK"
    c.command("ACL", "SETUSER", "hid", "on", ">topsecret")
    c.command("AUTH", "hid", "topsecret")
    c.command("AUTH", "default", "x")
    # A secret option's value, as Redis 7 redacts its sensitive configs (its name stays).
    assert c.command("CONFIG", "SET", "tls-key-file-pass", "topsecret", "maxclients", "1000") == "OK"
    entries = server.raw().command("SLOWLOG", "GET", "10")
    assert b"topsecret" not in repr(entries).encode()
    lines = [[a.lower() if i < 2 else a for i, a in enumerate(e[3])] for e in entries]
    assert [b"acl", b"setuser", b"(redacted)", b"(redacted)", b"(redacted)"] in lines
    assert [b"auth", b"(redacted)", b"(redacted)"] in lines
    assert [b"config", b"set", b"tls-key-file-pass", b"(redacted)", b"maxclients", b"1000"] in lines


def test_command_info_reports_redis_acl_categories(server, ref):
    p = Pair(server.port, ref)
    for name in ("get", "set", "flushall", "sort", "publish", "hset", "xread", "eval", "ping"):
        got, want = p.both("COMMAND", "INFO", name)
        assert got[0][6] == want[0][6], (name, got[0][6], want[0][6])
    assert p.c.command("COMMAND", "INFO", "cairn.range")[0][6] == [
        "@keyspace", "@read", "@slow", "@dangerous"]


def test_pipelined_sets_are_checked_each_match_redis(server, ref):
    """cairn batches a pipeline's plain SETs into one write: each is still checked."""
    admin = Pair(server.port, ref)
    admin.same("ACL", "SETUSER", "pl", "on", ">pw", "~a*", "+@all")
    p = Pair(server.port, ref)
    p.same("AUTH", "pl", "pw")
    batch = b"".join(RespSocket.encode("SET", k, "v") for k in ("a1", "a2", "zz", "a3", "b1"))
    for conn in (p.c, p.r):
        conn.send(batch)
    got = [p.c.read_reply() for _ in range(5)]
    want = [p.r.read_reply() for _ in range(5)]
    assert got == want and got[2].startswith("NOPERM"), (got, want)
    admin.same("MGET", "a1", "a2", "a3", "zz", "b1")


def test_pubsub_default_and_log_length_match_redis(server, ref):
    p = Pair(server.port, ref)
    p.same("CONFIG", "SET", "acl-pubsub-default", "allchannels")
    p.same("CONFIG", "GET", "acl-pubsub-default")
    p.same("ACL", "SETUSER", "pd", "on", ">pw", "(+get ~x)")
    p.same("ACL", "GETUSER", "pd", norm=norm_getuser)
    p.same("ACL", "SETUSER", "pd", "reset")
    p.same("ACL", "LIST", norm=norm_list)
    p.same("CONFIG", "SET", "acl-pubsub-default", "resetchannels")
    p.same("ACL", "SETUSER", "pd2", "on")
    p.same("ACL", "LIST", norm=norm_list)
    p.same("CONFIG", "SET", "acllog-max-len", "2")
    for user in ("x1", "x2", "x3"):
        p.same("AUTH", user, "bad")
    p.same("ACL", "LOG", norm=norm_log)


# Commands whose keys Redis finds by keyword, count or a procedure, each with keys that
# a read-only (r*), write-only (w*) and read-write (rw*) pattern do or do not cover.
KEY_SPEC_LINES = [
    ("ZUNIONSTORE", "w1", "2", "r1", "rw1"), ("ZUNIONSTORE", "r1", "2", "r1", "rw1"),
    ("ZINTER", "2", "r1", "w1"), ("SINTERCARD", "2", "r1", "rw2"), ("SINTERCARD", "2", "r1", "w2"),
    ("LMPOP", "2", "rw1", "rw2", "LEFT"), ("LMPOP", "2", "rw1", "r2", "LEFT"),
    ("BLMPOP", "0", "1", "w1", "LEFT"), ("ZMPOP", "1", "rw1", "MIN"),
    ("EVAL", "return 1", "2", "rw1", "r1"), ("EVAL_RO", "return 1", "1", "r1"),
    ("FCALL", "f", "1", "rw1"), ("FCALL_RO", "f", "1", "w1"),
    ("XREAD", "STREAMS", "r1", "rw1", "0", "0"), ("XREAD", "COUNT", "2", "STREAMS", "w1", "0"),
    ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "r1", ">"),
    ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "rw1", ">"),
    ("GEORADIUS", "r1", "0", "0", "1", "km", "STORE", "w1"),
    ("GEORADIUS", "r1", "0", "0", "1", "km", "STORE", "r2"),
    ("GEOSEARCHSTORE", "w1", "r1", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km"),
    ("MIGRATE", "h", "1", "", "0", "5", "KEYS", "rw1", "r1"), ("MIGRATE", "h", "1", "rw1", "0", "5"),
    ("MIGRATE", "h", "1", "", "0", "5", "AUTH", "keys", "KEYS", "rw1", "w1"),
    ("MIGRATE", "h", "1", "", "0", "5000", "AUTH", "AUTH2", "KEYS", "secret"),
    ("MIGRATE", "h", "1", "", "0", "5000", "AUTH2", "u", "KEYS", "KEYS", "rw1"),
    ("MIGRATE", "h", "1", "secret", "0", "5", "AUTH"), ("MIGRATE", "h", "1", "rw1", "0", "5", "AUTH"),
    ("MIGRATE", "h", "1", "secret", "0", "5", "AUTH2", "x"), ("MIGRATE", "h", "1", "", "0", "5", "KEYS"),
    ("MIGRATE", "h", "1", "rw1", "0", "5", "KEYS"), ("MIGRATE", "h", "1", "", "0", "5", "AUTH", "x", "KEYS"),
    ("MIGRATE", "h", "1", "secret", "0", "5", "AUTH2", "KEYS", "KEYS", "KEYS", "rw1"),
    ("MIGRATE", "h", "1", "", "0", "5", "COPY", "KEYS", "rw1"),
    ("MIGRATE", "h", "1", "", "0", "5", "KEYS", "rw1", "secret"),
    ("MIGRATE", "h", "1", "", "0", "5", "AUTH2", "KEYS", "KEYS", "KEYS", "rw1"),
    ("MIGRATE", "h", "1", "secret", "0", "5", "KEYS", "rw1"),
    ("MIGRATE", "h", "1", "", "0", "5", "AUTH", "x", "KEYS", "rw1"),
    ("SORT", "r1", "STORE", "w1"), ("SORT", "r1", "STORE", "r2"), ("SORT_RO", "r1"),
    ("OBJECT", "ENCODING", "w1"), ("MEMORY", "USAGE", "w1"), ("BITOP", "AND", "w1", "r1", "r2"),
    ("BITOP", "AND", "r1", "r2"), ("LMOVE", "rw1", "w1", "LEFT", "RIGHT"),
    ("RPOPLPUSH", "r1", "w1"), ("SMOVE", "rw1", "w2", "m"), ("RENAME", "rw1", "w1"),
    ("RENAME", "r1", "w1"), ("COPY", "r1", "w1"), ("PFMERGE", "w1", "r1"),
    ("PFCOUNT", "r1", "w1"), ("XGROUP", "CREATE", "rw1", "g", "$"), ("XINFO", "STREAM", "r1"),
    ("BITFIELD", "r1", "GET", "u8", "0"), ("BITFIELD", "r1", "SET", "u8", "0", "1"),
    ("BITFIELD", "w1", "INCRBY", "u8", "0", "1"), ("BITFIELD_RO", "r1", "GET", "u8", "0"),
    ("SET", "w1", "v"), ("SET", "w1", "v", "GET"), ("SET", "rw1", "v", "GET"),
    ("GETEX", "r1"), ("GETDEL", "w1"), ("GETDEL", "rw1"), ("LCS", "r1", "r2"),
    ("TOUCH", "w1"), ("EXISTS", "w1"), ("DEL", "w1"), ("UNLINK", "r1"), ("TYPE", "w1"),
    ("SUNIONSTORE", "w1", "r1", "rw2"), ("ZRANGESTORE", "w1", "r1", "0", "-1"),
    ("WATCH", "w1"), ("EXPIRE", "r1", "10"), ("APPEND", "w1", "x"), ("INCR", "r1"),
    ("HSET", "w1", "f", "v"), ("HGET", "w1", "f"), ("LPOS", "r1", "x"), ("SPUBLISH", "ch", "m"),
    ("SSUBSCRIBE", "ch"), ("PUBSUB", "NUMSUB", "ch"), ("RESTORE", "w1", "0", "x"),
    ("DUMP", "w1"), ("MSETNX", "w1", "v", "rw1", "v"), ("BLPOP", "r1", "w1", "0"),
    ("BRPOPLPUSH", "rw1", "w1", "0"), ("XADD", "w1", "*", "f", "v"), ("XLEN", "w1"),
    ("GEODIST", "r1", "a", "b"), ("SCRIPT", "FLUSH"), ("FUNCTION", "LIST"), ("MOVE", "rw1", "1"),
]


def test_key_specs_match_redis(server, ref):
    p = Pair(server.port, ref)
    p.same("ACL", "SETUSER", "ks", "on", ">pw", "%R~r*", "%W~w*", "~rw*", "&ch", "+@all")
    p.same("ACL", "SETUSER", "ks2", "on", ">pw", "%R~*", "~w*", "+@all", "(~x* +get)")
    for line in KEY_SPEC_LINES:
        p.same("ACL", "DRYRUN", "ks", *line)
        p.same("ACL", "DRYRUN", "ks2", *line)
