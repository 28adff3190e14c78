"""A real cairn-server over a failing disk (DEBUG FAULT-INJECT, enable-debug-command).

While the engine is read-only, clients keep being served: reads answer, writes get
Redis's MISCONF error, INFO says why, HTTP reads answer and writes get 503. Only a reply
that would acknowledge a write the disk did not take is withheld (its connection is
closed). When the disk recovers, writes work again without a restart, and everything
acknowledged is there after one.
"""
import json
import time
import urllib.error
import urllib.request

import pytest

from conftest import RespError, in_cluster

# everysec: replies are sent after one WAL write per batch (deferred writes), the mode in
# which a failed WAL write must not silence the clients that only read.
FAULTY = pytest.mark.server_args("--enable-debug-command", "yes", "--wal-sync", "everysec")
FAULTY_SYNC = pytest.mark.server_args("--enable-debug-command", "yes", "--wal-sync", "always")


def info_field(conn, section, name):
    text = conn.command("INFO", section).decode()
    for line in text.split("\r\n"):
        if line.startswith(name + ":"):
            return line.split(":", 1)[1]
    raise AssertionError("no %s in INFO %s" % (name, section))


def http(server, method, path, body=None):
    req = urllib.request.Request(server.http_url(path), data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_writable(conn, timeout=15.0):
    deadline = time.monotonic() + timeout
    while info_field(conn, "persistence", "aof_last_write_status") != "ok":
        assert time.monotonic() < deadline, "the engine did not resume"
        time.sleep(0.05)


def test_debug_is_refused_unless_enabled(server):
    c = server.raw()
    reply = c.command("DEBUG", "FAULT-INJECT", "writes")
    assert isinstance(reply, RespError)
    assert reply.startswith("ERR DEBUG command not allowed.")
    assert c.command("SET", "k", "v") == "OK"


@FAULTY
def test_full_disk_serves_reads_refuses_writes_and_recovers_without_restart(server):
    c = server.raw()
    for i in range(100):
        assert c.command("SET", "acked:%d" % i, "v%d" % i) == "OK"
    assert c.command("RPUSH", "list", "a", "b") == 2
    assert c.command("DEBUG", "FAULT-INJECT", "writes") == "OK"

    # The write that meets the full disk: refused with an error, never acknowledged; its
    # connection may instead be closed if the failure shows only at the WAL flush.
    w = server.raw()
    try:
        reply = w.command("SET", "during", "x")
        assert isinstance(reply, RespError), reply
    except ConnectionError:
        pass

    # Everyone else is served: reads answer, writes get MISCONF.
    r = server.raw()
    assert r.command("GET", "acked:7") == b"v7"
    assert r.command("LRANGE", "list", "0", "-1") == [b"a", b"b"]
    assert r.command("PING") == "PONG"
    for cmd in (("SET", "x", "1"), ("INCR", "n"), ("DEL", "acked:1"), ("LPUSH", "list", "z"),
                ("HSET", "h", "f", "v")):
        reply = r.command(*cmd)
        assert isinstance(reply, RespError) and reply.startswith(
            "MISCONF Errors writing to the AOF file: "), (cmd, reply)
    assert info_field(r, "persistence", "aof_last_write_status") == "err"
    assert "No space left on device" in info_field(r, "persistence", "engine_background_error_reason")
    assert r.command("GET", "acked:1") == b"v1"  # the refused DEL changed nothing
    status, body = http(server, "GET", "/v1/kv/acked:3")
    assert (status, body) == (200, b"v3")
    status, body = http(server, "PUT", "/v1/kv/y", b"1")
    assert status == 503 and "read-only after a failed disk write" in json.loads(body)["error"]
    assert "writes refused (MISCONF)" in server.log()

    # Space is back: the engine resumes by itself.
    assert r.command("DEBUG", "FAULT-INJECT", "none") == "OK"
    wait_writable(r)
    assert r.command("SET", "after", "1") == "OK"
    assert r.command("LPUSH", "list", "z") == 3
    assert http(server, "PUT", "/v1/kv/y", b"1")[0] == 200
    assert int(info_field(r, "persistence", "engine_resumes")) >= 1
    assert "writes accepted again" in server.log()

    # Nothing acknowledged is lost across a restart.
    server.restart()
    c = server.raw()
    for i in range(100):
        assert c.command("GET", "acked:%d" % i) == b"v%d" % i
    assert c.command("GET", "after") == b"1"
    assert c.command("LRANGE", "list", "0", "-1") == [b"z", b"a", b"b"]


@FAULTY_SYNC
def test_failed_fsync_and_read_errors(server):
    c = server.raw()
    if not in_cluster():
        # The active expiry's scan of the (empty) expiry index reads the table block that
        # also holds k, which the block cache then answers the GET below from.
        assert c.command("DEBUG", "SET-ACTIVE-EXPIRE", "0") == "OK"
    assert c.command("SET", "k", "v") == "OK"
    assert c.command("DEBUG", "FAULT-INJECT", "syncs", ".log") == "OK"
    w = server.raw()
    try:
        assert isinstance(w.command("SET", "k2", "v2"), RespError)  # always: sync per write
    except ConnectionError:
        pass
    r = server.raw()
    assert r.command("GET", "k") == b"v"
    assert r.command("DEBUG", "FAULT-INJECT", "none") == "OK"
    wait_writable(r)
    assert r.command("SET", "k3", "v3") == "OK"
    # Reads that fail are errors, never nil: the data is in tables after the resume.
    assert r.command("DEBUG", "FAULT-INJECT", "reads", ".sst") == "OK"
    reply = r.command("GET", "k")
    if in_cluster():
        # One node's failing disk fails one replica: the others answer the read (R=2 of 3).
        assert reply == b"v", reply
    else:
        assert isinstance(reply, RespError) and "Input/output error" in reply, reply
    assert r.command("DEBUG", "FAULT-INJECT", "none") == "OK"
    assert r.command("GET", "k") == b"v"
    assert r.command("GET", "k3") == b"v3"
