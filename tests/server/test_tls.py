"""TLS on the RESP port and HTTPS on the HTTP port (docs/tls.md), with real clients:
redis-cli --tls, redis-py over SSL, openssl s_client and curl. Certificates are made
per module with the openssl command line: a CA, a server certificate (SAN 127.0.0.1 and
localhost), a client certificate, a second server certificate with another serial (for
rotation), an encrypted copy of the server key, and an unrelated CA with its own client.
"""
import ctypes
import json
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request

import pytest
import redis

from conftest import HOST, SERVER_BIN, RespSocket, free_port

READY = re.compile(r"ready: RESP on [^ ]+:(\d+), HTTP on [^ ]+:(\d+)(?:, RESP over TLS on [^ ]+:(\d+))?")
REDIS_CLI = shutil.which("redis-cli")
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None or REDIS_CLI is None,
                                reason="needs openssl and redis-cli")


def sh(cmd, cwd):
    subprocess.run(cmd, shell=True, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    with open(d / "san.ext", "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for ca in ("ca", "other"):
        sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout %s.key -out %s.crt -days 2 "
           "-subj /CN=%s-ca" % (ca, ca, ca), d)

    def issue(name, ca, serial, ext=True):
        sh("openssl req -newkey rsa:2048 -nodes -keyout %s.key -out %s.csr -subj /CN=%s" %
           (name, name, name), d)
        sh("openssl x509 -req -in %s.csr -CA %s.crt -CAkey %s.key -set_serial %d -out %s.crt "
           "-days 2 %s" % (name, ca, ca, serial, name, "-extfile san.ext" if ext else ""), d)

    issue("server", "ca", 0x1001)
    issue("server2", "ca", 0x2002)
    issue("client", "ca", 0x3003, ext=False)
    issue("stranger", "other", 0x4004, ext=False)
    sh("openssl pkey -in server.key -aes256 -passout pass:hunter2pw -out server_enc.key", d)
    return d


class Srv:
    def __init__(self, proc, log_path, m):
        self.proc, self.log_path = proc, log_path
        self.port, self.http_port = int(m.group(1)), int(m.group(2))
        self.tls_port = int(m.group(3)) if m.group(3) else 0

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def tls_client(self, certs, **kw):
        return redis.Redis(host=HOST, port=self.tls_port, ssl=True,
                           ssl_ca_certs=str(certs / "ca.crt"),
                           ssl_certfile=str(certs / "client.crt"),
                           ssl_keyfile=str(certs / "client.key"), socket_timeout=10, **kw)


@pytest.fixture
def start(tmp_path):
    """start(*flags): a cairn-server with these flags; stopped (exit 0 checked) after the test."""
    started = []

    def run(*args, expect_ready=True, preexec_fn=None):
        n = len(started)
        if "--http-port" not in args:
            args = ("--http-port", "auto") + args
        if "--port" not in args:  # never the default 7379, which another server may hold
            args = ("--port", "auto") + args
        log_path = tmp_path / ("server%d.log" % n)
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [SERVER_BIN, "--dir", str(tmp_path / ("data%d" % n)), "--bind", HOST,
                 "--io-threads", "2", "--wal-sync", "none", *args],
                stdout=log, stderr=log, stdin=subprocess.PIPE, preexec_fn=preexec_fn)
        started.append(proc)
        deadline = time.monotonic() + 30
        while True:
            text = open(log_path, "rb").read().decode(errors="replace")
            m = READY.search(text)
            if m:
                return Srv(proc, log_path, m)
            if proc.poll() is not None:
                if expect_ready:
                    raise AssertionError("cairn-server exited %d:\n%s" % (proc.returncode, text))
                return proc.returncode, text
            assert time.monotonic() < deadline, "not ready:\n" + text
            time.sleep(0.02)

    yield run
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0


def tls_flags(certs, *extra):
    return ["--tls-cert-file", str(certs / "server.crt"), "--tls-key-file", str(certs / "server.key"),
            "--tls-ca-cert-file", str(certs / "ca.crt"), *extra]


def cli(port, certs, *args, cert=None, ca="ca.crt"):
    cmd = [REDIS_CLI, "-h", HOST, "-p", str(port), "--tls", "--cacert", str(certs / ca)]
    if cert:
        cmd += ["--cert", str(certs / (cert + ".crt")), "--key", str(certs / (cert + ".key"))]
    r = subprocess.run(cmd + list(args), capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    return (r.stdout + r.stderr).decode(errors="replace").strip()


def s_client(port, certs, data=b"", *extra, cert="client"):
    """openssl s_client's output (stdout and stderr) after sending data."""
    cmd = ["openssl", "s_client", "-connect", "%s:%d" % (HOST, port), "-CAfile", str(certs / "ca.crt"),
           "-verify_return_error", "-ign_eof", *extra]
    if cert:
        cmd += ["-cert", str(certs / (cert + ".crt")), "-key", str(certs / (cert + ".key"))]
    r = subprocess.run(cmd, input=data, capture_output=True, timeout=30)
    return (r.stdout + r.stderr).decode(errors="replace")


def served_serial(port, certs):
    out = s_client(port, certs, b"QUIT\r\n", "-showcerts")
    pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
    assert pem, out
    r = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem.group(0).encode(),
                       capture_output=True, check=True)
    return r.stdout.decode().strip()  # "serial=1001"


def test_redis_cli_with_and_without_client_certificate(start, certs):
    # port 0: no plain RESP port, as in Redis; the TLS port alone serves.
    srv = start(*tls_flags(certs, "--port", "0", "--http-port", "0", "--tls-port", "auto",
                           "--tls-auth-clients", "optional"))
    assert srv.port == 0 and srv.tls_port > 0
    assert cli(srv.tls_port, certs, "PING") == "PONG"
    assert cli(srv.tls_port, certs, "PING", cert="client") == "PONG"
    assert cli(srv.tls_port, certs, "CONFIG", "GET", "port").split() == ["port", "0"]
    # optional still verifies a certificate that is sent: one from another CA is refused.
    assert "PONG" not in cli(srv.tls_port, certs, "PING", cert="stranger")
    # Plain RESP on the TLS port gets nothing back.
    with socket.create_connection((HOST, srv.tls_port), timeout=5) as s:
        s.sendall(b"PING\r\nQUIT\r\n")
        try:
            assert b"PONG" not in s.recv(100)
        except (ConnectionResetError, socket.timeout):
            pass


def test_auth_clients_yes_requires_a_certificate_from_the_ca(start, certs):
    srv = start(*tls_flags(certs, "--tls-port", "auto"))  # tls-auth-clients yes: the default
    assert cli(srv.tls_port, certs, "PING", cert="client") == "PONG"
    assert "PONG" not in cli(srv.tls_port, certs, "PING")
    assert "PONG" not in cli(srv.tls_port, certs, "PING", cert="stranger")
    # A client that does not trust the server's CA fails, certificate or not.
    refused = cli(srv.tls_port, certs, "PING", cert="client", ca="other.crt")
    assert "PONG" not in refused and "certificate verify failed" in refused
    # The plain port still works beside it.
    assert RespSocket(HOST, srv.port).command("PING") == "PONG"


def test_redis_py_over_ssl(start, certs):
    srv = start(*tls_flags(certs, "--tls-port", "auto"))
    r = srv.tls_client(certs)
    assert r.set("k", "v" * 100000)
    assert r.get("k") == b"v" * 100000
    p = r.pipeline(transaction=False)
    for i in range(1000):
        p.incr("n")
    assert p.execute()[-1] == 1000
    info = r.client_list()
    assert len(info) == 1
    with pytest.raises(redis.exceptions.ConnectionError):
        redis.Redis(host=HOST, port=srv.tls_port, ssl=True, ssl_ca_certs=str(certs / "other.crt"),
                    ssl_certfile=str(certs / "client.crt"), ssl_keyfile=str(certs / "client.key"),
                    socket_timeout=10).ping()


def test_openssl_s_client_on_resp_and_https_and_curl(start, certs):
    srv = start(*tls_flags(certs, "--tls-port", "auto", "--http-tls", "yes"))
    assert "+PONG" in s_client(srv.tls_port, certs, b"PING\r\nQUIT\r\n")
    out = s_client(srv.http_port, certs, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert "HTTP/1.1 200" in out, out
    curl = ["curl", "-s", "--cacert", str(certs / "ca.crt"), "--cert", str(certs / "client.crt"),
            "--key", str(certs / "client.key")]
    r = subprocess.run(curl + ["-X", "PUT", "--data-binary", "hello",
                               "https://localhost:%d/v1/kv/greeting" % srv.http_port],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r
    r = subprocess.run(curl + ["https://127.0.0.1:%d/v1/kv/greeting" % srv.http_port],
                       capture_output=True, timeout=30)
    assert r.stdout == b"hello", r
    assert srv.tls_client(certs).get("greeting") == b"hello"
    # HTTPS only: plain HTTP on that port is not answered.
    r = subprocess.run(["curl", "-s", "-m", "5", "http://127.0.0.1:%d/healthz" % srv.http_port],
                       capture_output=True, timeout=30)
    assert r.returncode != 0 and b"ok" not in r.stdout
    # tls-auth-clients applies to HTTPS too.
    r = subprocess.run(["curl", "-s", "--cacert", str(certs / "ca.crt"),
                        "https://127.0.0.1:%d/healthz" % srv.http_port], capture_output=True, timeout=30)
    assert r.returncode != 0


def replace_cert(certs, live, name):
    for ext in ("crt", "key"):
        shutil.copy(certs / ("%s.%s" % (name, ext)), live / ("server.%s" % ext))


def test_rotation_with_config_set(start, certs, tmp_path):
    live = tmp_path / "live"
    live.mkdir()
    replace_cert(certs, live, "server")
    srv = start("--tls-port", "auto", "--tls-cert-file", str(live / "server.crt"), "--tls-key-file",
                str(live / "server.key"), "--tls-ca-cert-file", str(certs / "ca.crt"))
    assert served_serial(srv.tls_port, certs) == "serial=1001"
    opened = srv.tls_client(certs)
    opened.set("before", "1")
    plain = redis.Redis(host=HOST, port=srv.port)

    replace_cert(certs, live, "server2")
    assert served_serial(srv.tls_port, certs) == "serial=1001"  # not yet reloaded
    assert plain.config_set("tls-cert-file", str(live / "server.crt"))
    assert served_serial(srv.tls_port, certs) == "serial=2002"
    assert opened.get("before") == b"1"  # the open connection keeps its context

    # A broken file: an error, and the current certificate keeps being served.
    with open(live / "server.crt", "w") as f:
        f.write("not a certificate\n")
    with pytest.raises(redis.exceptions.ResponseError) as e:
        plain.config_set("tls-cert-file", str(live / "server.crt"))
    assert str(e.value) == ("CONFIG SET failed (possibly related to argument 'tls-cert-file') - "
                            "Unable to update TLS configuration. Check server logs.")
    assert served_serial(srv.tls_port, certs) == "serial=2002"
    assert "server.crt" in srv.log()  # the log says which file
    # A missing key file fails too, and the setting is not changed.
    with pytest.raises(redis.exceptions.ResponseError):
        plain.config_set("tls-key-file", str(live / "nope.key"))
    assert plain.config_get("tls-key-file")["tls-key-file"] == str(live / "server.key")
    # Cert and key together (a new key pair) in one CONFIG SET.
    replace_cert(certs, live, "server")
    assert plain.execute_command("CONFIG", "SET", "tls-cert-file", str(live / "server.crt"),
                                 "tls-key-file", str(live / "server.key"))
    assert served_serial(srv.tls_port, certs) == "serial=1001"


def test_rotation_with_sighup(start, certs, tmp_path):
    live = tmp_path / "live"
    live.mkdir()
    replace_cert(certs, live, "server")
    srv = start("--tls-port", "auto", "--tls-cert-file", str(live / "server.crt"), "--tls-key-file",
                str(live / "server.key"), "--tls-ca-cert-file", str(certs / "ca.crt"))
    opened = srv.tls_client(certs)
    assert opened.ping()
    replace_cert(certs, live, "server2")
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while served_serial(srv.tls_port, certs) != "serial=2002":
        assert time.monotonic() < deadline, srv.log()
        time.sleep(0.05)
    assert opened.ping()
    # A broken file on SIGHUP: logged, the server lives on with the current certificate.
    with open(live / "server.key", "w") as f:
        f.write("garbage\n")
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "TLS reload failed" not in srv.log():
        assert time.monotonic() < deadline, srv.log()
        time.sleep(0.05)
    assert srv.proc.poll() is None
    assert served_serial(srv.tls_port, certs) == "serial=2002"
    assert srv.tls_client(certs).ping()


def test_tls13_only_refuses_a_tls12_client(start, certs):
    srv = start(*tls_flags(certs, "--tls-port", "auto", "--tls-protocols", "TLSv1.3"))
    assert "+PONG" not in s_client(srv.tls_port, certs, b"PING\r\nQUIT\r\n", "-tls1_2")
    assert "+PONG" in s_client(srv.tls_port, certs, b"PING\r\nQUIT\r\n", "-tls1_3")
    r = redis.Redis(host=HOST, port=srv.port)
    with pytest.raises(redis.exceptions.ResponseError):
        r.config_set("tls-protocols", "TLSv1.2 SSLv3")
    # TLSv1.2 only, at run time: now the TLSv1.3 client is refused.
    assert r.config_set("tls-protocols", "tlsv1.2")
    assert "+PONG" in s_client(srv.tls_port, certs, b"PING\r\nQUIT\r\n", "-tls1_2")
    assert "+PONG" not in s_client(srv.tls_port, certs, b"PING\r\nQUIT\r\n", "-tls1_3")


def test_encrypted_key_with_password(start, certs):
    flags = ["--tls-port", "auto", "--tls-cert-file", str(certs / "server.crt"),
             "--tls-key-file", str(certs / "server_enc.key"), "--tls-ca-cert-file", str(certs / "ca.crt")]
    # No password: refuses to start, without waiting for one on stdin (an open pipe).
    code, text = start(*flags, expect_ready=False)
    assert code != 0 and "server_enc.key" in text, text
    code, text = start(*flags, "--tls-key-file-pass", "wrong", expect_ready=False)
    assert code != 0 and "wrong" not in text, text
    srv = start(*flags, "--tls-key-file-pass", "hunter2pw")
    assert srv.tls_client(certs).ping()
    assert "hunter2pw" not in srv.log()


def test_bad_settings_refuse_to_start(start, certs, tmp_path):
    code, text = start("--tls-port", "auto", "--tls-cert-file", str(tmp_path / "missing.crt"),
                       "--tls-key-file", str(certs / "server.key"), "--tls-ca-cert-file",
                       str(certs / "ca.crt"), expect_ready=False)
    assert code != 0 and "missing.crt" in text, text
    code, text = start("--tls-port", "auto", "--tls-cert-file", str(certs / "server.crt"),
                       "--tls-key-file", str(certs / "server.key"), expect_ready=False)
    assert code != 0 and "tls-ca-cert-file" in text, text
    # Nothing to listen on.
    code, text = start("--port", "0", "--http-port", "0", expect_ready=False)
    assert code != 0 and "configured to not listen anywhere" in text, text


def test_tls_port_at_run_time(start, certs):
    srv = start(*tls_flags(certs))
    assert srv.tls_port == 0
    r = redis.Redis(host=HOST, port=srv.port)
    port = free_port()
    assert r.config_set("tls-port", port)
    assert cli(port, certs, "PING", cert="client") == "PONG"
    assert r.config_get("tls-port") == {"tls-port": str(port)}
    busy = socket.socket()
    busy.bind((HOST, 0))
    busy.listen()
    with pytest.raises(redis.exceptions.ResponseError) as e:
        r.config_set("tls-port", busy.getsockname()[1])
    assert "Unable to listen on this port" in str(e.value)
    assert cli(port, certs, "PING", cert="client") == "PONG"  # still on the old one
    assert r.config_set("tls-port", "auto")  # any free port; CONFIG GET tells which
    moved = int(r.config_get("tls-port")["tls-port"])
    assert moved not in (0, port)
    assert cli(moved, certs, "PING", cert="client") == "PONG"
    assert r.config_set("tls-port", 0)
    time.sleep(0.2)
    with pytest.raises(OSError):
        socket.create_connection((HOST, moved), timeout=2).close()
    with pytest.raises(OSError):
        socket.create_connection((HOST, port), timeout=2).close()
    busy.close()


def http_get(port, path="/healthz"):
    try:
        with urllib.request.urlopen("http://%s:%d%s" % (HOST, port, path), timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_maxclients_counts_http_connections(start, certs):
    srv = start("--http-port", "auto", "--maxclients", "3")
    held = [RespSocket(HOST, srv.port) for _ in range(3)]
    for c in held:
        assert c.command("PING") == "PONG"
    status, body = http_get(srv.http_port)
    assert status == 503 and json.loads(body)["error"] == "max number of clients reached"
    # A refused connection that sends nothing is not kept for long.
    idle = socket.create_connection((HOST, srv.http_port), timeout=10)
    t0 = time.monotonic()
    assert idle.recv(100) == b"" and time.monotonic() - t0 < 5
    held.pop().close()
    time.sleep(0.2)
    assert http_get(srv.http_port)[0] == 200
    # Open HTTP connections (keep-alive) count against the same limit for RESP.
    keep = socket.create_connection((HOST, srv.http_port), timeout=10)
    keep.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"200 OK" in keep.recv(4096)
    late = RespSocket(HOST, srv.port)
    assert late.command("PING") == "ERR max number of clients reached"
    keep.close()
    time.sleep(0.2)
    assert RespSocket(HOST, srv.port).command("PING") == "PONG"


def test_an_http_connection_that_never_sends_gives_its_place_back(start, certs):
    # Before its first request passes the access check, an HTTP connection has 10 s to
    # send the header (not `timeout`'s 300 s): idle ones cannot lock clients out.
    srv = start("--http-port", "auto", "--maxclients", "2", "--requirepass", "pw")
    idle = [socket.create_connection((HOST, srv.http_port), timeout=20) for _ in range(2)]
    time.sleep(0.3)
    assert RespSocket(HOST, srv.port).command("PING") == "ERR max number of clients reached"
    t0 = time.monotonic()
    assert idle[0].recv(100) == b"" and idle[1].recv(100) == b""
    assert 8 < time.monotonic() - t0 < 13
    c = RespSocket(HOST, srv.port)
    assert c.command("AUTH", "pw") == "OK" and c.command("PING") == "PONG"


def test_maxclients_counts_tls_handshakes(start, certs):
    srv = start(*tls_flags(certs, "--tls-port", "auto", "--maxclients", "3"))
    # Connections that never start their handshake hold places until they end.
    stalled = [socket.create_connection((HOST, srv.tls_port), timeout=10) for _ in range(3)]
    time.sleep(0.3)
    assert RespSocket(HOST, srv.port).command("PING") == "ERR max number of clients reached"
    # A TLS client past the limit is dropped before any handshake.
    assert "PONG" not in cli(srv.tls_port, certs, "PING", cert="client")
    for s in stalled:
        s.close()
    time.sleep(0.3)
    assert cli(srv.tls_port, certs, "PING", cert="client") == "PONG"
    info = redis.Redis(host=HOST, port=srv.port).info("stats")
    assert info["rejected_connections"] >= 2


def test_handshake_deadline_closes_a_silent_connection(start, certs):
    srv = start(*tls_flags(certs, "--tls-port", "auto"))
    s = socket.create_connection((HOST, srv.tls_port), timeout=20)
    t0 = time.monotonic()
    assert s.recv(10) == b""  # closed by the server
    assert 8 < time.monotonic() - t0 < 15


def test_open_files_limit_lowers_maxclients(start, certs):
    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200, 1200))
        if os.geteuid() == 0:  # root could raise the hard limit again: not this process
            libc = ctypes.CDLL(None, use_errno=True)
            assert libc.prctl(24, 24, 0, 0, 0) == 0  # PR_CAPBSET_DROP, CAP_SYS_RESOURCE

    srv = start("--maxclients", "10000", preexec_fn=low_limit)
    log = srv.log()
    assert "You requested maxclients of 10000 requiring at least 11032 max file descriptors." in log
    assert "maxclients has been reduced to 168" in log
    r = redis.Redis(host=HOST, port=srv.port)
    assert r.config_get("maxclients") == {"maxclients": "168"}
    with pytest.raises(redis.exceptions.ResponseError) as e:
        r.config_set("maxclients", 5000)
    assert "The operating system is not able to handle the specified number of clients, try with 168" in str(e.value)
    assert r.config_set("maxclients", 100)
