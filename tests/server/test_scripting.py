"""Lua scripting (EVAL, EVALSHA, SCRIPT, FUNCTION, FCALL) against redis-server 7.0.15 side
by side: the same sequence goes to both and every reply, errors included, must be equal
(issue 18, must-show 2); then what cannot be compared reply by reply (atomicity under
concurrent clients, SCRIPT KILL of a busy script, libraries across a restart, redis-py's
Script objects, redis-cli --eval).

Keys share the hash tag {s}, so the same cases run on a 3-node cluster
(CAIRN_TEST_CLUSTER=3), where a script runs on its declared keys' replica.
"""
import shutil
import subprocess
import threading
import time

import pytest
import redis as redis_py

from conftest import RespError, RespSocket, in_cluster
from test_against_redis import both, redis, same  # noqa: F401 (the redis fixture)

LIB = """#!lua name=lib1
redis.register_function('incr_by', function(keys, args) return redis.call('incrby', keys[1], args[1]) end)
redis.register_function{function_name='echo_ro', callback=function(keys, args) return args[1] end,
                        flags={'no-writes'}, description='echoes'}
redis.register_function('boom', function(keys, args) error('boom') end)
"""

CASES = [
    # Lua -> RESP conversions
    ("EVAL", "return 1", "0"), ("EVAL", "return 'x'", "0"), ("EVAL", "return 3.99", "0"),
    ("EVAL", "return -3.99", "0"), ("EVAL", "return {1,2,3.7,'x',nil,5}", "0"),
    ("EVAL", "return {true,false}", "0"), ("EVAL", "return true", "0"), ("EVAL", "return false", "0"),
    ("EVAL", "return nil", "0"), ("EVAL", "return {1,{2,{3}}}", "0"), ("EVAL", "return {}", "0"),
    ("EVAL", "return redis.status_reply('FINE')", "0"), ("EVAL", "return {ok='fine'}", "0"),
    ("EVAL", "return redis.error_reply('x y')", "0"), ("EVAL", "return redis.error_reply('-x y')", "0"),
    ("EVAL", "return redis.error_reply('y')", "0"), ("EVAL", "return redis.error_reply('Xy')", "0"),
    ("EVAL", "return {err='x y'}", "0"), ("EVAL", "return {err='-x y'}", "0"),
    ("EVAL", "return {1, {err='inner'}, 3}", "0"),
    ("EVAL", "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], #KEYS, #ARGV}", "2", "{s}a", "{s}b", "x", "y"),
    # redis.call and RESP -> Lua
    ("EVAL", "return redis.call('set', KEYS[1], ARGV[1])", "1", "{s}k", "v"),
    ("EVAL", "return redis.call('get', KEYS[1])", "1", "{s}k"),
    ("EVAL", "return type(redis.call('get', KEYS[1]))", "1", "{s}missing"),
    ("EVAL", "return redis.call('get', KEYS[1]) == false", "1", "{s}missing"),
    ("EVAL", "return redis.call('incr', KEYS[1])", "1", "{s}k"),
    ("EVAL", "return redis.pcall('incr', KEYS[1])", "1", "{s}k"),
    ("EVAL", "return redis.pcall('incr', KEYS[1])['err']", "1", "{s}k"),
    ("EVAL", "local t = redis.call('ping') return t.ok", "0"),
    ("EVAL", "return redis.call('hgetall', KEYS[1])", "1", "{s}nohash"),
    ("EVAL", "redis.call('hset', KEYS[1], 'f', 'v') return redis.call('hgetall', KEYS[1])", "1", "{s}h"),
    ("EVAL", "redis.call('rpush', KEYS[1], 'a', 'b', 'c') return redis.call('lrange', KEYS[1], 0, -1)",
     "1", "{s}l"),
    ("EVAL", "return redis.call('set', KEYS[1], 3.5)", "1", "{s}n"), ("GET", "{s}n"),
    ("EVAL", "return redis.call('set', KEYS[1], 0.1)", "1", "{s}n"), ("GET", "{s}n"),
    ("EVAL", "redis.call('set', KEYS[1], 100) return redis.call('incrby', KEYS[1], 1000)", "1", "{s}n2"),
    ("EVAL", "return redis.call('exists', KEYS[1], KEYS[2])", "2", "{s}k", "{s}nope"),
    ("EVAL", "redis.setresp(3) return redis.call('hgetall', KEYS[1])", "1", "{s}h"),
    ("EVAL", "redis.setresp(3) return redis.call('get', KEYS[1])", "1", "{s}missing"),
    ("EVAL", "redis.setresp(3) return {double=1.5}", "0"),
    # errors, as Redis words them
    ("EVAL", "return redis.call('nosuch')", "0"), ("EVAL", "return redis.call()", "0"),
    ("EVAL", "return x", "0"), ("EVAL", "x = 5", "0"), ("EVAL", "return 1 +", "0"),
    ("EVAL", "return redis.call('get', {})", "0"), ("EVAL", "return redis.call('get')", "0"),
    ("EVAL", "return redis.call('multi')", "0"), ("EVAL", "return redis.call('eval', 'return 1', '0')", "0"),
    ("EVAL", "return redis.call('blpop', KEYS[1], 0)", "1", "{s}empty"),
    ("EVAL_RO", "return redis.call('set', KEYS[1], 'b')", "1", "{s}k"),
    ("EVAL_RO", "return redis.call('get', KEYS[1])", "1", "{s}k"),
    ("EVAL", "return 1", "-1"), ("EVAL", "return 1", "2", "a"), ("EVAL", "return 1", "x"),
    ("EVAL", "error('boom')", "0"), ("EVAL", "error({err='MY thing'})", "0"),
    ("EVAL", "return os", "0"), ("EVAL", "return loadfile", "0"), ("EVAL", "return print", "0"),
    ("EVAL", "return debug", "0"), ("EVAL", "return require", "0"), ("EVAL", "return setfenv", "0"),
    ("EVAL", "rawset(_G, 'x', 1) return 1", "0"), ("EVAL", "string.foo = 1 return 1", "0"),
    ("EVAL", "function f() end", "0"), ("EVAL", "local ok = pcall(function() y = 1 end) return ok", "0"),
    ("EVAL", "return type(loadstring)", "0"), ("EVAL", "return _VERSION", "0"),
    ("EVAL", "getmetatable('').__index.upper = function() return 'pwned' end return 1", "0"),
    ("EVAL", "return string.upper('safe')", "0"), ("EVAL", "return ('abc'):upper()", "0"),
    ("EVAL", "local n = 0 for k, v in pairs(string) do n = n + 1 end return n > 10", "0"),
    ("EVAL", "return type(rawget(string, 'format'))", "0"),
    ("EVAL", "local ok, e = pcall(redis.call, 'incr', KEYS[1]) return {type(e), e}", "1", "{s}k"),
    ("EVAL", "local ok, e = pcall(redis.call, 'incr', KEYS[1]) return redis.error_reply(e)", "1", "{s}k"),
    ("EVAL", "local ok, e = pcall(redis.call, 'incr', KEYS[1]) error(e)", "1", "{s}k"),
    ("EVAL", "error('ERR custom thing')", "0"),
    ("EVAL", "return {pcall(struct.unpack, 'bc0', string.char(255) .. 'abc')}", "0"),
    ("EVAL", "return {pcall(struct.unpack, 'xxxxs', 'a')}", "0"),
    ("EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"), ("EVALSHA", "abc", "0"),
    # shebang flags
    ("EVAL", "#!lua\nreturn 1", "0"), ("EVAL", "#!lua flags=no-writes\nreturn redis.call('set', KEYS[1], 'x')",
                                        "1", "{s}k"),
    ("EVAL", "#!lua flags=bogus\nreturn 1", "0"), ("EVAL", "#!x\nreturn 1", "0"),
    ("EVAL", "#!lua foo=bar\nreturn 1", "0"),
    # the libraries scripts use
    ("EVAL", "return cjson.encode({a=1})", "0"), ("EVAL", "return cjson.decode('[1,2,{\"a\":3}]')[3].a", "0"),
    ("EVAL", "return cjson.encode(cjson.decode('{\"x\":[1,2,3]}'))", "0"),
    ("EVAL", "return cmsgpack.pack(1.5, -1, 300, -200, 2^40, 0.1, {1,2}, {a=1}, true, string.rep('x', 40))", "0"),
    ("EVAL", "return {cmsgpack.unpack(cmsgpack.pack(1.5, -1, 300, 'abc', {1, {2}}))}", "0"),
    ("EVAL", "return cmsgpack.unpack(cmsgpack.pack({a={b='c'}})).a.b", "0"),
    ("EVAL", "return cmsgpack.pack(string.rep('y', 300), -40000, 70000, -3000000000)", "0"),
    ("EVAL", "return bit.tohex(255)", "0"), ("EVAL", "return {bit.band(7, 3), bit.bor(1, 6), bit.bxor(5, 1), "
                                                    "bit.lshift(1, 10), bit.rshift(1024, 3), bit.bnot(0)}", "0"),
    ("EVAL", "return struct.pack('>I2i4', 513, -5)", "0"),
    ("EVAL", "return {struct.unpack('<i4', struct.pack('<i4', -5))}", "0"),
    ("EVAL", "return struct.size('>iI2d')", "0"),
    ("EVAL", "return {struct.unpack('>Bc3s', struct.pack('>Bc3s', 7, 'abc', 'zero'))}", "0"),
    ("EVAL", "return redis.sha1hex('')", "0"), ("EVAL", "return redis.sha1hex('abc')", "0"),
    ("EVAL", "return {redis.REDIS_VERSION, redis.REDIS_VERSION_NUM}", "0"),
    ("EVAL", "redis.log(redis.LOG_WARNING, 'from a test') return 1", "0"),
    ("EVAL", "return tostring(math.huge)", "0"), ("EVAL", "return string.format('%5.2f', 3.14159)", "0"),
    ("EVAL", "return table.concat({'a', 'b'}, ',')", "0"),
    # the script cache
    ("SCRIPT", "LOAD", "return 'loaded'"), ("EVALSHA", "b534286061d4b9e4026607613b95c06c06015ae8", "0"),
    ("SCRIPT", "EXISTS", "b534286061d4b9e4026607613b95c06c06015ae8", "ffffffffffffffffffffffffffffffffffffffff"),
    ("SCRIPT", "LOAD", "return 1 +"), ("SCRIPT", "FLUSH", "bad"), ("SCRIPT", "foo"), ("SCRIPT", "KILL"),
    ("SCRIPT", "FLUSH", "ASYNC"), ("SCRIPT", "FLUSH"),
    # functions
    ("FUNCTION", "FLUSH"), ("FUNCTION", "LOAD", LIB), ("FUNCTION", "LOAD", LIB),
    ("FCALL", "incr_by", "1", "{s}f", "5"), ("FCALL", "incr_by", "1", "{s}f", "x"),
    ("FCALL", "INCR_BY", "1", "{s}f", "1"),
    ("FCALL", "boom", "0"), ("FCALL", "nosuch", "0"), ("FCALL_RO", "incr_by", "1", "{s}f", "1"),
    ("FCALL_RO", "echo_ro", "0", "hi"), ("FCALL", "incr_by", "2", "{s}f"), ("FCALL", "incr_by", "x"),
    ("FUNCTION", "LOAD", "redis.register_function('f1', function() return 1 end)"),
    ("FUNCTION", "LOAD", "#!lua name=lib2\nreturn 1"),
    ("FUNCTION", "LOAD", "#!lua name=lib2\nredis.register_function('incr_by', function() return 1 end)"),
    ("FUNCTION", "LOAD", "#!lua name=lib2\nlocal x ="),
    ("FUNCTION", "LOAD", "#!lua name=lib2 foo=bar\n"), ("FUNCTION", "LOAD", "#!lua2 name=lib2\n"),
    ("FUNCTION", "LOAD", "#!lua name=l-b\nredis.register_function('f', function() return 1 end)"),
    ("FUNCTION", "LOAD", "#!lua name=lib3\nredis.register_function{function_name='g', "
                         "callback=function() return 1 end, flags={'bad'}}"),
    ("FUNCTION", "LOAD", "#!lua name=lib3\nredis.register_function('g', function() return 'g1' end)"),
    ("FUNCTION", "LIST", "LIBRARYNAME", "lib3"), ("FUNCTION", "LIST", "LIBRARYNAME", "lib3", "WITHCODE"),
    ("FUNCTION", "LIST", "LIBRARYNAME", "LIB3"),
    ("FUNCTION", "LOAD", "#!lua name=lib4\nredis.register_function{function_name='h', callback=function() "
                         "return 1 end, flags={'allow-stale', 'no-writes', 'no-cluster'}}"),
    ("FUNCTION", "LIST", "LIBRARYNAME", "lib4"), ("FUNCTION", "DELETE", "lib4"),
    ("FUNCTION", "LOAD", "REPLACE", "#!lua name=lib3\nredis.register_function('g', function() return 'g2' end)"),
    ("FCALL", "g", "0"), ("FUNCTION", "DELETE", "lib3"), ("FCALL", "g", "0"), ("FUNCTION", "DELETE", "lib3"),
    ("FUNCTION", "STATS"), ("FUNCTION", "KILL"), ("FUNCTION", "RESTORE", "xyz"),
    ("FUNCTION", "RESTORE", "xyz", "bad"), ("FUNCTION", "FLUSH"), ("FCALL", "incr_by", "1", "{s}f", "1"),
    ("FUNCTION", "LIST"),
]


def test_scripting_replies_match_redis(server, redis):
    cairn = both(server, redis)
    for args in CASES:
        same(cairn, redis, *args)


def test_a_script_runs_alone(server):
    """Read-modify-write scripts from several clients at once: no increment is lost, as no
    other command runs between a script's GET and SET."""
    script = "local v = tonumber(redis.call('get', KEYS[1]) or '0') redis.call('set', KEYS[1], v + 1) return v + 1"
    per_thread, threads = 150, 4
    errors = []

    def work():
        conn = server.raw()
        for _ in range(per_thread):
            r = conn.command("EVAL", script, "1", "{s}counter")
            if isinstance(r, RespError):
                errors.append(r)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors, errors[:3]
    assert server.raw().command("GET", "{s}counter") == str(per_thread * threads).encode()


@pytest.mark.skipif(in_cluster(), reason="a single node's busy script; cluster mode runs scripts on replicas")
def test_a_busy_script_is_answered_busy_and_killed(server, redis):
    cairn = both(server, redis)
    for name, admin in (("cairn", cairn), ("redis", redis)):
        port = server.port if name == "cairn" else redis.sock.getpeername()[1]
        assert admin.command("CONFIG", "SET", "busy-reply-threshold", "100") == "OK"
        runner = RespSocket("127.0.0.1", port)
        runner.send(RespSocket.encode("EVAL", "local i = 0 while true do i = i + 1 end", "0"))
        time.sleep(0.4)
        other = RespSocket("127.0.0.1", port)
        busy = other.command("GET", "{s}k")
        assert busy == RespError("BUSY Redis is busy running a script. You can only call SCRIPT KILL "
                                 "or SHUTDOWN NOSAVE."), (name, busy)
        assert other.command("SCRIPT", "KILL") == "OK", name
        killed = runner.read_reply()
        assert isinstance(killed, RespError) and killed.startswith(
            "ERR Script killed by user with SCRIPT KILL..."), (name, killed)
        assert other.command("SCRIPT", "KILL") == RespError("NOTBUSY No scripts in execution right now."), name
        assert other.command("PING") == "PONG"


@pytest.mark.skipif(in_cluster(), reason="SHUTDOWN of one node")
def test_a_script_that_wrote_cannot_be_killed_but_shutdown_stops_it(server):
    admin = server.raw()
    assert admin.command("CONFIG", "SET", "busy-reply-threshold", "100") == "OK"
    runner = server.raw()
    runner.send(RespSocket.encode("EVAL", "redis.call('set', KEYS[1], '1') while true do end", "1", "w"))
    time.sleep(0.4)
    other = server.raw()
    assert other.command("SCRIPT", "KILL").startswith("UNKILLABLE Sorry the script already executed write")
    other.send(RespSocket.encode("SHUTDOWN", "NOSAVE"))
    assert server.proc.wait(timeout=30) == 0
    server.proc = None


@pytest.mark.skipif(in_cluster(), reason="a restart of one node")
def test_functions_survive_a_restart_and_dump_restore(server):
    conn = server.raw()
    assert conn.command("FUNCTION", "LOAD", LIB) == b"lib1"
    dump = conn.command("FUNCTION", "DUMP")
    server.restart()
    conn = server.raw()
    assert conn.command("FCALL", "incr_by", "1", "n", "7") == 7
    assert conn.command("FUNCTION", "FLUSH") == "OK"
    assert conn.command("FCALL", "incr_by", "1", "n", "7") == RespError("ERR Function not found")
    assert conn.command("FUNCTION", "RESTORE", dump) == "OK"
    assert conn.command("FUNCTION", "RESTORE", dump) == RespError("ERR Library 'lib1' already exists")
    assert conn.command("FUNCTION", "RESTORE", dump, "REPLACE") == "OK"
    corrupt = dump[:-1] + bytes([dump[-1] ^ 1])
    assert conn.command("FUNCTION", "RESTORE", corrupt) == RespError(
        "ERR DUMP payload version or checksum are wrong")
    assert conn.command("FCALL", "incr_by", "1", "n", "1") == 8


def test_redis_py_scripts_and_functions(server):
    r = server.client()
    incr = r.register_script("return redis.call('incrby', KEYS[1], ARGV[1])")
    assert incr(keys=["{s}py"], args=[2]) == 2  # EVALSHA fails NOSCRIPT, then EVAL
    assert incr(keys=["{s}py"], args=[3]) == 5  # EVALSHA
    r.script_flush()
    assert incr(keys=["{s}py"], args=[1]) == 6
    assert r.eval("return {KEYS[1], ARGV[1]}", 1, "{s}a", "b") == [b"{s}a", b"b"]
    r.set("{s}a", "x")
    with pytest.raises(redis_py.ResponseError, match="value is not an integer"):
        r.eval("return redis.call('incr', KEYS[1])", 1, "{s}a")
    assert r.function_load(LIB) == b"lib1"
    assert r.fcall("incr_by", 1, "{s}fn", 4) == 4
    assert r.fcall_ro("echo_ro", 0, "x") == b"x"


def test_scripts_in_a_transaction(server):
    # In cluster mode the transaction runs on its tag's replica, which may not have this
    # node's scripts or libraries; ten tags make sure some replica is another node.
    r = server.client()
    r.function_load(LIB, replace=True)
    sha = r.script_load("return redis.call('incr', KEYS[1])")
    for i in range(10):
        key = f"{{t{i}}}m"
        p = r.pipeline(transaction=True)
        p.evalsha(sha, 1, key)
        p.fcall("incr_by", 1, key, 5)
        p.eval("return redis.call('get', KEYS[1])", 1, key)
        assert p.execute() == [1, 6, b"6"], key
    r.script_flush()
    p = r.pipeline(transaction=True)
    p.evalsha(sha, 1, "{t0}m")
    p.incr("{t0}m")
    with pytest.raises(redis_py.exceptions.NoScriptError):
        p.execute()
    assert r.get("{t0}m") == b"7"  # EXEC ran the rest, as Redis does


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli is not installed")
def test_redis_cli_eval(server, tmp_path):
    script = tmp_path / "script.lua"
    script.write_text("redis.call('set', KEYS[1], ARGV[1]) return redis.call('get', KEYS[1])")
    out = subprocess.run(["redis-cli", "-p", str(server.port), "--eval", str(script), "{s}cli", ",", "hello"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "hello"
