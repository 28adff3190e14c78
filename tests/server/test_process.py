"""The server process as an operator meets it: --version, and SIGHUP reopening the log file
after logrotate moved it away."""
import os
import signal
import socket
import subprocess
import time

import conftest
from conftest import SERVER_BIN, CairnServer, RespSocket


def test_version_flag():
    r = subprocess.run([SERVER_BIN, "--version"], capture_output=True, timeout=30)
    assert r.returncode == 0, r
    out = r.stdout.decode()
    assert out.startswith("cairn-server 0.1.0 "), out
    assert "Redis 7.0.15" in out, out


def wait_for_text(path, text, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and text in open(path, "rb").read().decode(errors="replace"):
            return
        time.sleep(0.05)
    raise AssertionError("%r never appeared in %s" % (text, path))


def test_sighup_reopens_the_log_file(tmp_path):
    log = tmp_path / "cairn.log"
    # The ready line and the log lines go to the same file (stdout appends to it too).
    srv = CairnServer(tmp_path / "data", ["--logfile", str(log), "--io-threads", "2"], log)
    srv.start()
    try:
        rotated = tmp_path / "cairn.log.1"
        os.rename(log, rotated)
        srv.proc.send_signal(signal.SIGHUP)
        wait_for_text(str(log), "received SIGHUP")  # a new file at the configured path
        assert "received SIGHUP" not in rotated.read_text(errors="replace")
        c = RespSocket(srv.host, srv.port)
        assert c.command("PING") == "PONG"  # SIGHUP did not stop it
        # A line logged after the reopen lands in the new file too.
        assert c.command("CONFIG", "SET", "tls-key-file-pass", "x") == "OK"
        srv.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while log.read_text(errors="replace").count("received SIGHUP") < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        assert srv.stop() == 0


def test_users_names_with_control_characters_are_refused(server):
    c = RespSocket(server.host, server.port)
    reply = c.command("CONFIG", "SET", "users", "a\nb:pw")
    assert str(reply).startswith("ERR") and "whitespace" in str(reply), reply
    assert c.command("CONFIG", "GET", "users") == [b"users", b""]


def test_io_threads_default_follows_the_cores(tmp_path):
    # io-threads 0 (the default): one I/O thread on two cores or fewer, else one per core
    # (docs/configuration.md#io-threads).
    log = tmp_path / "cairn.log"
    srv = CairnServer(tmp_path / "data", [], log)
    srv.start()
    try:
        c = RespSocket(srv.host, srv.port)
        info = c.command("INFO", "server").decode()
        active = int(info.split("io_threads_active:")[1].split("\r\n")[0])
        cores = os.cpu_count()  # what std::thread::hardware_concurrency counts too
        assert active == (1 if cores <= 2 else min(cores, 128)), (active, cores)
        c.close()
    finally:
        assert srv.stop() == 0


def test_redis_fixture_is_started_only_once_its_own_process_answers(tmp_path, monkeypatch):
    """A lost race for the port picked for redis-server: another process listens on it.
    The fixture must not take that one for redis-server (a comparison with Redis would then
    compare cairn with itself): it starts redis-server on another port."""
    squatter = socket.socket()
    squatter.bind((conftest.HOST, 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    real_free_port = conftest.free_port
    ports = [taken]
    monkeypatch.setattr(conftest, "free_port", lambda: ports.pop() if ports else real_free_port())
    srv = conftest.RedisServer(tmp_path / "redis")
    try:
        assert srv.port != taken
        assert srv.proc.poll() is None
        info = srv.client().info("server")
        assert info["process_id"] == srv.proc.pid and "redis_version" in info
    finally:
        srv.stop()
        squatter.close()
