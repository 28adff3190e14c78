"""End-to-end tests of cairn-server's RESP port with real clients: redis-py, redis-cli and
raw sockets (for exact bytes: RESP3 types, error strings, protocol errors)."""
import os
import re
import subprocess
import threading
import time

import pytest
import redis

from conftest import RespSocket, in_cluster

REDIS_CLI = "redis-cli"


def connect_retrying(server, deadline_s=3.0):
    """A raw connection that answered PING. A client that just disconnected may still count
    against maxclients for a moment, so a rejection is retried until the deadline."""
    deadline = time.monotonic() + deadline_s
    while True:
        conn = server.raw()
        reply = conn.command("PING")
        if reply == "PONG":
            return conn
        conn.close()
        assert time.monotonic() < deadline, reply
        time.sleep(0.05)


# --- protocol versions and pipelining ---------------------------------------------------


def test_resp2_reply_types(server):
    r = server.client()
    assert r.set("k", "v") is True
    assert r.get("k") == b"v"
    assert r.get("missing") is None
    assert r.incr("n") == 1 and r.incrby("n", 41) == 42
    assert r.mget("k", "missing", "n") == [b"v", None, b"42"]
    assert r.exists("k", "k", "missing") == 2
    assert r.ttl("k") == -1 and r.ttl("missing") == -2
    assert r.type("k") == b"string" and r.type("missing") == b"none"
    assert r.incrbyfloat("f", "2.5") == 2.5
    assert r.dbsize() == 3


def test_resp3_hello_map_and_reply_types(server):
    c = server.raw()
    hello = c.command("HELLO", "3")
    assert c.last_type == "%"
    assert hello[b"server"] == b"redis" and hello[b"proto"] == 3
    assert hello[b"version"].startswith(b"7.")
    assert isinstance(hello[b"id"], int) and hello[b"mode"] == b"standalone"
    assert hello[b"role"] == b"master" and hello[b"modules"] == []
    # RESP3 types where Redis 7.0 uses them.
    assert c.command("GET", "missing") is None and c.last_type == "_"
    assert c.command("SET", "k", "v") == "OK" and c.last_type == "+"
    assert c.command("CONFIG", "GET", "maxclients") == {b"maxclients": b"10000"}
    assert c.last_type == "%"
    assert c.command("CLIENT", "INFO").startswith(b"id=") and c.last_type == "="
    assert b"resp=3" in c.command("CLIENT", "INFO")
    assert c.command("INFO", "server").startswith(b"# Server") and c.last_type == "="
    assert c.command("TTL", "k") == -1 and c.last_type == ":"
    assert c.command("MGET", "k", "missing") == [b"v", None]
    assert c.command("HELLO", "4") == "NOPROTO unsupported protocol version"
    # Back to RESP2: the same commands answer with RESP2 types.
    hello2 = c.command("HELLO", "2")
    assert c.last_type == "*" and hello2[:6] == [b"server", b"redis", b"version",
                                                  hello[b"version"], b"proto", 2]
    assert c.command("GET", "missing") is None and c.last_type == "$"
    assert c.command("CONFIG", "GET", "maxclients") == [b"maxclients", b"10000"]
    assert c.command("CLIENT", "INFO").startswith(b"id=") and c.last_type == "$"
    try:
        r3 = redis.Redis(host=server.host, port=server.port, protocol=3)
    except TypeError:
        return  # this redis-py (< 5) has no RESP3 support: the raw checks above stand
    assert r3.get("k") == b"v" and r3.get("missing") is None
    assert r3.config_get("maxclients") == {"maxclients": "10000"}


def test_pipeline_of_1000_commands(server):
    r = server.client()
    p = r.pipeline(transaction=False)
    for i in range(500):
        p.set("p:%d" % i, "v%d" % i)
    for i in range(499):
        p.get("p:%d" % i)
    p.dbsize()
    out = p.execute()
    assert len(out) == 1000
    assert out[:500] == [True] * 500
    assert out[500:999] == [b"v%d" % i for i in range(499)]
    assert out[999] == 500


def test_raw_pipeline_in_one_write(server):
    # 1000 commands in one send; replies in order, none lost.
    c = server.raw()
    c.send(b"".join(RespSocket.encode("INCR", "ctr") for _ in range(1000)))
    assert [c.read_reply() for _ in range(1000)] == list(range(1, 1001))


# --- expiry ---------------------------------------------------------------------------


def test_ttl_expiry_happens(server):
    r = server.client()
    assert r.set("short", "v", px=200) is True
    assert r.set("long", "v", ex=100) is True
    assert 0 < r.pttl("short") <= 200
    assert 99 <= r.ttl("long") <= 100
    assert r.get("short") == b"v"
    time.sleep(0.35)
    assert r.get("short") is None
    assert r.exists("short") == 0
    assert r.pttl("short") == -2
    assert r.keys("*") == [b"long"]
    # PERSIST removes a TTL; EXPIRE in the past deletes at once.
    assert r.persist("long") is True and r.ttl("long") == -1
    assert r.set("gone", "v") and r.expireat("gone", 1) is True
    assert r.get("gone") is None


# --- authentication -------------------------------------------------------------------


@pytest.mark.server_args("--requirepass", "s3cret", "--users", "alice:wonder")
def test_auth_requirepass_and_users(server):
    c = server.raw()
    assert c.command("GET", "k") == "NOAUTH Authentication required."
    assert c.command("SET", "k", "v") == "NOAUTH Authentication required."
    assert c.command("AUTH", "wrong") == \
        "WRONGPASS invalid username-password pair or user is disabled."
    assert c.command("AUTH", "alice", "bad") == \
        "WRONGPASS invalid username-password pair or user is disabled."
    assert c.command("GET", "k") == "NOAUTH Authentication required."
    assert c.command("AUTH", "s3cret") == "OK"
    assert c.command("SET", "k", "v") == "OK"
    # A named user, and HELLO 3 AUTH on a fresh connection.
    a = server.raw()
    assert a.command("AUTH", "alice", "wonder") == "OK"
    assert a.command("GET", "k") == b"v"
    h = server.raw()
    assert h.command("HELLO", "3", "AUTH", "default", "s3cret")[b"proto"] == 3
    assert h.command("GET", "k") == b"v"
    # redis-py with and without the password.
    with pytest.raises(redis.exceptions.AuthenticationError):
        server.client().get("k")
    assert server.client(password="s3cret").get("k") == b"v"
    assert server.client(username="alice", password="wonder").get("k") == b"v"


# --- values ---------------------------------------------------------------------------


def test_one_megabyte_and_hundred_megabyte_values(server):
    r = server.client()
    mb = os.urandom(1 << 20)
    assert r.set("mb", mb) is True
    assert r.get("mb") == mb
    big = (bytes(range(256)) * 4096 + b"!") * 100  # 100 MiB + 100 bytes, not uniform
    assert r.set("big", big) is True
    assert r.strlen("big") == len(big)
    assert r.get("big") == big
    assert r.getrange("big", len(big) - 5, -1) == big[-5:]
    assert r.get("mb") == mb


def test_binary_safe_keys_and_values(server):
    r = server.client()
    p = r.pipeline(transaction=False)
    for b in range(256):
        p.set(b"{bin}:" + bytes([b]), bytes([b]) * 3 + b"\r\n\x00$-*")
    p.set(bytes(range(256)), bytes(reversed(range(256))))
    assert p.execute() == [True] * 257
    keys = [b"{bin}:" + bytes([b]) for b in range(256)]
    assert r.mget(keys) == [bytes([b]) * 3 + b"\r\n\x00$-*" for b in range(256)]
    assert r.get(bytes(range(256))) == bytes(reversed(range(256)))
    assert sorted(r.keys(b"{bin}:*")) == sorted(keys)
    assert r.dbsize() == 257
    assert r.append(b"{bin}:\x00", b"\xff\xfe") == 3 + 6 + 2
    assert r.getrange(b"{bin}:\x00", 0, 2) == b"\x00\x00\x00"
    assert r.rename(b"{bin}:\r", b"{bin}\n\n") is True  # one hash tag: RENAME in a cluster
    assert r.get(b"{bin}\n\n") == b"\r\r\r\r\n\x00$-*"


# --- durability -----------------------------------------------------------------------


def test_restart_keeps_data(server):
    r = server.client()
    assert r.set("plain", "v1")
    assert r.set("with-ttl", "v2", ex=1000)
    r.execute_command("SELECT", 3)
    assert r.set("in-db3", "v3")
    assert r.set("deleted", "x") and r.delete("deleted") == 1
    server.restart()  # SIGTERM, exit status 0 checked, same data dir
    r = server.client()
    assert r.get("plain") == b"v1"
    assert r.get("with-ttl") == b"v2"
    assert 990 <= r.ttl("with-ttl") <= 1000
    assert r.get("in-db3") is None
    r3 = server.client(db=3)
    assert r3.get("in-db3") == b"v3"
    assert r3.get("deleted") is None
    assert r.dbsize() == 2 and r3.dbsize() == 1


@pytest.mark.server_args("--wal-sync", "always")
def test_sigkill_with_wal_sync_always_keeps_every_acknowledged_write(server):
    acked = [[] for _ in range(3)]
    stop = threading.Event()

    def writer(n):
        r = server.client()
        i = 0
        try:
            while not stop.is_set():
                key = "w%d:%d" % (n, i)
                r.set(key, key * 3)
                acked[n].append(key)  # only after the OK arrived
                i += 1
        except (redis.exceptions.ConnectionError, OSError):
            pass  # the kill

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    server.kill()  # SIGKILL while the writers are busy: no shutdown sync
    stop.set()
    for t in threads:
        t.join(10)
    total = sum(len(a) for a in acked)
    assert total > 20, "too few writes to be a test: %d" % total
    server.start()
    r = server.client()
    for keys in acked:
        for start in range(0, len(keys), 1000):
            chunk = keys[start:start + 1000]
            values = r.mget(chunk)
            missing = [k for k, v in zip(chunk, values) if v != (k * 3).encode()]
            assert not missing, "acknowledged writes lost: %s" % missing[:5]
    # At most one write per connection was in flight when the process died.
    assert total <= r.dbsize() <= total + 3


@pytest.mark.server_args("--wal-sync", "always")
def test_keyspace_operations_survive_sigkill(server):
    r0, r1, r2 = server.client(db=0), server.client(db=1), server.client(db=2)
    assert r0.set("a", 1) and r1.set("b", 2) and r2.set("c", 3)
    if in_cluster():  # SWAPDB is refused in cluster mode (docs/cluster.md): the same by MOVE
        with pytest.raises(redis.ResponseError, match="not supported in cluster mode"):
            r0.swapdb(0, 1)
        assert r0.move("a", 1) is True and r1.move("b", 0) is True
    else:
        assert r0.swapdb(0, 1) is True  # db0: b, db1: a
    assert r2.flushdb() is True
    assert r0.move("b", 5) is True
    assert r0.set("t", "v", ex=500) and r0.set("{r}tmp", "x")
    assert r0.rename("{r}tmp", "{r}renamed") is True
    assert r1.delete("a") == 1 and r1.set("a2", "y")
    server.kill()
    server.start()
    keys = {db: sorted(server.client(db=db).keys()) for db in range(6)}
    assert keys == {0: [b"t", b"{r}renamed"], 1: [b"a2"], 2: [], 3: [], 4: [], 5: [b"b"]}
    assert 490 <= server.client().ttl("t") <= 500
    assert server.client().get("{r}renamed") == b"x"


# --- databases ------------------------------------------------------------------------


def test_select_move_swapdb_across_connections(server):
    a = server.client(db=0)
    b = server.client(db=1)
    assert a.set("k", "from0") and b.get("k") is None
    assert a.move("k", 1) is True
    assert a.get("k") is None and b.get("k") == b"from0"
    assert a.set("k", "again") and b.set("only1", "x")
    assert a.move("k", 1) is False  # target exists: nothing moves
    assert a.get("k") == b"again" and b.get("k") == b"from0"
    c = server.raw()
    if in_cluster():  # SWAPDB is refused in cluster mode (docs/cluster.md)
        assert "not supported in cluster mode" in c.command("SWAPDB", "0", "1")
        assert c.command("SELECT", "16") == "ERR DB index is out of range"
        assert c.command("SELECT", "1") == "OK" and c.command("GET", "k") == b"from0"
        assert c.command("MOVE", "k", "1") == "ERR source and destination objects are the same"
        return
    assert c.command("SWAPDB", "0", "1") == "OK"
    # Other connections keep their index and see the swapped contents.
    assert a.get("k") == b"from0" and a.get("only1") == b"x"
    assert b.get("k") == b"again" and b.get("only1") is None
    assert a.dbsize() == 2 and b.dbsize() == 1
    assert c.command("SELECT", "16") == "ERR DB index is out of range"
    assert c.command("SELECT", "1") == "OK" and c.command("GET", "k") == b"again"
    assert c.command("MOVE", "k", "1") == "ERR source and destination objects are the same"
    assert c.command("SWAPDB", "0", "16") == "ERR DB index is out of range"


def test_scan_over_10k_keys_returns_each_exactly_once(server):
    r = server.client()
    p = r.pipeline(transaction=False)
    for i in range(10000):
        p.set("scan:%05d" % i, i)
    p.set("other", "x")
    p.execute()
    seen = []
    cursor = 0
    calls = 0
    while True:
        cursor, keys = r.scan(cursor, count=200)
        seen.extend(keys)
        calls += 1
        if cursor == 0:
            break
        assert calls < 1000
    assert calls > 10  # COUNT is honoured roughly: many pages, not one
    assert len(seen) == 10001
    assert set(seen) == {b"scan:%05d" % i for i in range(10000)} | {b"other"}
    matched = list(r.scan_iter(match="scan:0000*", count=500))
    assert sorted(matched) == [b"scan:%05d" % i for i in range(10)]
    assert len(list(r.scan_iter(count=1000, _type="string"))) == 10001
    assert list(r.scan_iter(count=1000, _type="list")) == []


def test_concurrent_increments_from_many_connections(server):
    def work():
        r = server.client()
        for _ in range(300):
            r.incr("ctr")
            r.append("log", "x")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    r = server.client()
    assert r.get("ctr") == b"2400"
    assert r.strlen("log") == 2400


# --- connections and introspection ----------------------------------------------------


def test_client_list_and_kill_another_connection(server):
    victim = server.raw()
    assert victim.command("CLIENT", "SETNAME", "victim") == "OK"
    assert victim.command("SET", "x", "1") == "OK"
    r = server.client()

    def client_list():
        lines = r.execute_command("CLIENT", "LIST").decode().splitlines()
        return [dict(f.split("=", 1) for f in line.split(" ")) for line in lines]

    # The fixture's readiness probe may still be listed for a moment after it hung up.
    deadline = time.monotonic() + 2
    while len(client_list()) > 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    entries = client_list()
    mine = [e for e in entries if e["name"] == "victim"]
    assert len(mine) == 1 and len(entries) == 2
    assert mine[0]["addr"] == "%s:%d" % victim.sock.getsockname()
    assert mine[0]["laddr"] == "%s:%d" % (server.host, server.port)
    victim_id = mine[0]["id"]
    assert r.execute_command("CLIENT", "KILL", "ID", victim_id) == 1
    assert victim.closed_by_server(5)
    # The server unregisters a client just after closing its socket: allow that moment.
    deadline = time.monotonic() + 2
    while b"name=victim" in r.execute_command("CLIENT", "LIST"):
        assert time.monotonic() < deadline, "killed client still listed"
        time.sleep(0.01)
    assert r.execute_command("CLIENT", "KILL", "ID", victim_id) == 0
    assert [e["name"] for e in client_list()] == [""]
    # The old form, by address.
    other = server.raw()
    assert other.command("PING") == "PONG"  # accepted and registered by now
    addr = "%s:%d" % other.sock.getsockname()
    assert r.execute_command("CLIENT", "KILL", addr) == b"OK"
    assert other.closed_by_server(5)
    # As above: unregistered just after its socket closed (a CI run under ASan saw the
    # second KILL find it still listed).
    deadline = time.monotonic() + 2
    while ("addr=" + addr).encode() in r.execute_command("CLIENT", "LIST"):
        assert time.monotonic() < deadline, "killed client still listed"
        time.sleep(0.01)
    with pytest.raises(redis.exceptions.ResponseError, match="No such client"):
        r.execute_command("CLIENT", "KILL", addr)
    assert r.get("x") == b"1"


def test_client_list_reports_last_command(server):
    c = server.raw()
    assert c.command("SET", "x", "1") == "OK"
    info = c.command("CLIENT", "INFO").decode()
    assert " cmd=client|info " in info
    r = server.client()
    line = [l for l in r.execute_command("CLIENT", "LIST").decode().splitlines()
            if "addr=%s:%d " % c.sock.getsockname() in l][0]
    assert " cmd=client|info " in line


def test_info_sections(server):
    r = server.client()
    r.set("a", 1, ex=100)
    r.set("b", 2)
    r.execute_command("SELECT", 5)
    r.set("c", 3)
    c = server.raw()  # redis-py would parse the text
    text = c.command("INFO").decode()
    for section in ("Server", "Clients", "Memory", "Persistence", "Stats", "Replication",
                    "Keyspace"):
        assert "# %s\r\n" % section in text, section
    info = r.info()
    assert info["redis_version"].startswith("7.")
    assert info["tcp_port"] == server.port
    assert info["connected_clients"] >= 1
    assert info["total_commands_processed"] >= 4
    assert info["db0"]["keys"] == 2 and info["db0"]["expires"] == 1
    assert info["db5"]["keys"] == 1 and info["db5"]["expires"] == 0
    only = c.command("INFO", "keyspace").decode()
    assert only.startswith("# Keyspace\r\n") and "# Server" not in only
    assert "cmdstat_set:calls=3," in c.command("INFO", "commandstats").decode()


def test_config_set_and_get(server):
    r = server.client()
    assert r.config_get("maxclients") == {"maxclients": "10000"}
    assert r.config_set("timeout", 300) is True
    assert r.config_get("timeout") == {"timeout": "300"}
    assert r.config_set("maxmemory", "1mb") is True
    assert r.config_get("maxmemory") == {"maxmemory": "1048576"}
    assert r.config_set("maxmemory", 0) is True
    got = r.config_get("max*")
    assert set(got) >= {"maxclients", "maxmemory"}
    assert all(k.startswith("max") for k in got)
    assert r.config_get("appendfsync") == {"appendfsync": "none"}
    c = server.raw()
    err = c.command("CONFIG", "SET", "maxclients", "abc")
    assert err.startswith("ERR CONFIG SET failed (possibly related to argument 'maxclients')")
    assert r.config_get("maxclients") == {"maxclients": "10000"}
    assert c.command("CONFIG", "SET", "dir", "/tmp").startswith("ERR CONFIG SET failed")
    # A runtime option takes effect: a lower maxclients refuses a new connection.
    assert r.config_set("maxclients", 1) is True
    late = server.raw()
    assert late.read_reply() == "ERR max number of clients reached"
    assert late.closed_by_server(5)
    assert r.config_set("maxclients", 10000) is True
    assert r.config_resetstat() is True
    assert r.info("stats")["total_commands_processed"] <= 2


@pytest.mark.server_args("--maxmemory", "1")
def test_maxmemory_refuses_writes_and_serves_reads(server):
    c = server.raw()
    oom = "OOM command not allowed when used memory > 'maxmemory'."
    assert c.command("SET", "k", "v") == oom
    assert c.command("INCR", "n") == oom
    assert c.command("GET", "k") is None and c.command("DEL", "k") == 0
    assert c.command("CONFIG", "SET", "maxmemory", "0") == "OK"
    assert c.command("SET", "k", "v") == "OK"


def test_config_set_timeout_applies_to_open_connections(server):
    idle = server.raw()
    assert idle.command("PING") == "PONG"
    assert server.client().config_set("timeout", 1) is True
    assert idle.closed_by_server(3.5)


# --- redis-cli ------------------------------------------------------------------------


def cli(server, *args, stdin=None):
    p = subprocess.run([REDIS_CLI, "-h", server.host, "-p", str(server.port), *args],
                       input=stdin, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.decode()


def test_redis_cli_commands_and_pipe_mass_insert(server):
    assert cli(server, "SET", "greeting", "hello world") == "OK\n"
    assert cli(server, "GET", "greeting") == "hello world\n"
    assert cli(server, "INCRBY", "n", "5") == "5\n"  # not a tty: raw output
    assert cli(server, "--no-raw", "GET", "missing") == "(nil)\n"
    assert cli(server, "PING") == "PONG\n"
    assert "redis_version:7." in cli(server, "INFO", "server")
    mass = b"".join(RespSocket.encode("SET", "mass:%d" % i, "value-%d" % i)
                    for i in range(10000))
    out = cli(server, "--pipe", stdin=mass)
    assert "errors: 0, replies: 10000" in out, out
    assert cli(server, "DBSIZE") == "10002\n"
    assert cli(server, "GET", "mass:9999") == "value-9999\n"
    assert cli(server, "--raw", "TTL", "greeting") == "-1\n"
    # redis-cli's --scan walks SCAN to the end.
    scanned = cli(server, "--scan", "--pattern", "mass:99*").split()
    assert sorted(scanned) == sorted(["mass:99"] + ["mass:99%d" % i for i in range(10)] +
                                     ["mass:99%02d" % i for i in range(100)])


# --- errors ---------------------------------------------------------------------------


def test_exact_redis_error_strings(server):
    c = server.raw()
    assert c.command("GET") == "ERR wrong number of arguments for 'get' command"
    assert c.command("SET", "k") == "ERR wrong number of arguments for 'set' command"
    assert c.command("SET", "k", "v", "NX", "XX") == "ERR syntax error"
    assert c.command("SET", "k", "v", "BOGUS") == "ERR syntax error"
    assert c.command("SET", "k", "notanumber") == "OK"
    assert c.command("INCR", "k") == "ERR value is not an integer or out of range"
    assert c.command("EXPIRE", "k", "soon") == "ERR value is not an integer or out of range"
    assert c.command("SET", "k", "v", "EX", "0") == "ERR invalid expire time in 'set' command"
    assert c.command("INCRBYFLOAT", "k", "1") == "ERR value is not a valid float"
    assert c.command("SET", "big", "9223372036854775807") == "OK"
    assert c.command("INCR", "big") == "ERR increment or decrement would overflow"
    assert c.command("RENAME", "{t}nokey", "{t}x") == "ERR no such key"
    assert c.command("SETRANGE", "k", "-1", "x") == "ERR offset is out of range"
    assert c.command("SCAN", "x") == "ERR invalid cursor"
    assert c.command("EXPIRE", "k", "10", "NX", "XX") == \
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    assert c.command("NOSUCH", "a", "b") == \
        "ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' "
    assert c.command("nosuch") == "ERR unknown command 'nosuch', with args beginning with: "
    # Errors leave the connection usable.
    assert c.command("GET", "k") == b"notanumber"


def test_exact_subcommand_error_strings(server):
    c = server.raw()
    assert c.command("CLIENT", "FOO") == "ERR unknown subcommand 'FOO'. Try CLIENT HELP."
    assert c.command("CONFIG", "FOO") == "ERR unknown subcommand 'FOO'. Try CONFIG HELP."
    assert c.command("CLIENT", "SETNAME") == \
        "ERR wrong number of arguments for 'client|setname' command"
    assert c.command("CONFIG", "GET") == "ERR wrong number of arguments for 'config|get' command"


def test_config_set_unknown_option_error_string(server):
    c = server.raw()
    assert c.command("CONFIG", "SET", "nosuch", "1") == \
        "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"


def test_protocol_errors_close_only_the_offending_connection(server):
    bystander = server.client()
    assert bystander.set("k", "v")
    c = server.raw()
    # A multibulk count <= 0 is an empty command: no reply, the connection goes on.
    c.send(b"*-5\r\n*0\r\n*1\r\n$4\r\nPING\r\n")
    assert c.read_reply() == "PONG"
    # Inline commands work too.
    c.send(b"SET inline \"a b\"\r\n")
    assert c.read_reply() == "OK" and bystander.get("inline") == b"a b"
    cases = [
        (b"*1\r\n$abc\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*abc\r\n", "ERR Protocol error: invalid multibulk length"),
        (b"*1\r\n+PING\r\n", "ERR Protocol error: expected '$', got '+'"),
        (b"SET k \"unbalanced\r\n", "ERR Protocol error: unbalanced quotes in request"),
        (b"*1\r\n$-1\r\n", "ERR Protocol error: invalid bulk length"),
    ]
    for data, error in cases:
        bad = server.raw()
        bad.send(data + b"*1\r\n$4\r\nPING\r\n")  # never answered: the connection closes
        assert bad.read_reply() == error, data
        assert bad.closed_by_server(5), data
        assert bystander.get("k") == b"v"
    assert c.command("PING") == "PONG"
    assert bystander.info("stats")["protocol_errors"] == len(cases)


@pytest.mark.server_args("--requirepass", "pw")
def test_unauthenticated_clients_cannot_announce_big_requests(server):
    # Redis 7 refuses big requests before AUTH; cairn also never sizes a buffer by an
    # announced length, so this costs the server nothing.
    bad = server.raw()
    bad.send(b"*1\r\n$536870000\r\n")
    assert bad.read_reply() == "ERR Protocol error: unauthenticated bulk length"
    assert bad.closed_by_server(5)
    ok = server.raw()
    ok.send(b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n")
    assert ok.read_reply() == "OK"
    assert ok.command("SET", "big", "x" * 100000) == "OK"


@pytest.mark.server_args("--timeout", "1")
def test_idle_timeout_closes_idle_connections_only(server):
    idle = server.raw()
    busy = server.raw()
    assert idle.command("PING") == "PONG"
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        assert busy.command("PING") == "PONG"
        time.sleep(0.2)
    assert idle.closed_by_server(1.0)
    assert busy.command("GET", "x") is None  # active all along: still open


@pytest.mark.server_args("--maxclients", "2")
def test_maxclients_rejects_the_third_client(server):
    first = connect_retrying(server)
    second = connect_retrying(server)
    third = server.raw()
    assert third.read_reply() == "ERR max number of clients reached"
    assert third.closed_by_server(5)
    assert first.command("PING") == "PONG" and second.command("PING") == "PONG"
    second.close()
    fourth = connect_retrying(server)  # a slot is free again
    assert fourth.command("SET", "k", "v") == "OK"
    assert re.search(r"rejected_connections:([1-9]\d*)",
                     first.command("INFO", "stats").decode())


def test_shutdown_command_exits_cleanly(server):
    c = server.raw()
    assert c.command("SET", "k", "v") == "OK"
    c.send(RespSocket.encode("SHUTDOWN"))
    assert c.closed_by_server(10)
    assert server.proc.wait(15) == 0
    server.proc = None
    server.start()
    assert server.client().get("k") == b"v"


def test_client_list_filters(server):
    a = server.raw()
    b = server.raw()
    a_id = a.command("CLIENT", "ID")
    b_id = b.command("CLIENT", "ID")
    listed = a.command("CLIENT", "LIST", "ID", str(b_id)).decode()
    assert listed.count("\n") == 1 and ("id=%d " % b_id) in listed
    both = a.command("CLIENT", "LIST", "ID", str(a_id), str(b_id)).decode()
    assert both.count("\n") == 2
    assert a.command("CLIENT", "LIST", "TYPE", "pubsub").decode() == ""
    assert a.command("CLIENT", "LIST", "TYPE", "bogus") == "ERR Unknown client type 'bogus'"


def test_config_get_port_reports_the_bound_ports(server):
    # The fixture starts with --port auto --http-port auto: the kernel picks both.
    r = server.client()
    assert r.config_get("port") == {"port": str(server.port)}
    assert r.config_get("http-port") == {"http-port": str(server.http_port)}
