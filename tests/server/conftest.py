"""Fixtures for the end-to-end suites: a real cairn-server on free loopback ports.

    def test_x(server):                      # --wal-sync none, fresh data dir
        host, port, http_port, datadir = server
        server.client().set("k", "v")       # redis-py, RESP2
        server.raw().command("HELLO", "3")  # raw RESP2/RESP3 socket (RespSocket)
        server.restart()                     # SIGTERM (exit 0 checked), start on the same dir

    @pytest.mark.server_args("--requirepass", "pw", "--timeout", "1")
    def test_y(server): ...

    def test_z(server, redis_server):        # redis-server 7.0.15 side by side
        assert server.raw().command("PING") == redis_server.raw().command("PING")

The server binds port "auto" for both RESP and HTTP (the kernel picks free ports, no race
between choosing and binding) and announces them in its "ready" log line. Teardown sends
SIGTERM and fails the test unless the process exits with status 0.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest
import redis

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER_BIN = os.environ.get("CAIRN_SERVER_BIN", os.path.join(ROOT, "build", "bin", "cairn-server"))
HOST = "127.0.0.1"
READY = re.compile(r"ready: RESP on [^ ]+:(\d+), HTTP on [^ ]+:(\d+)")


def pytest_configure(config):
    config.addinivalue_line("markers", "server_args(*args): extra cairn-server flags")


class RespError(str):
    """An error reply (the text after '-' or '!'), returned rather than raised."""


class RespSocket:
    """A bare RESP connection: sends raw bytes or commands, parses RESP2 and RESP3 replies.

    read_reply() maps + to str, $ and = (verbatim, format prefix stripped) to bytes, : to int,
    * ~ > to list, % | to dict, _ and null bulk/array to None, , to float, # to bool,
    ( to int, - and ! to RespError. last_type holds the type byte of the last reply read.
    """

    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = bytearray()
        self.last_type = None

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    @staticmethod
    def encode(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            elif isinstance(a, int):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def command(self, *args):
        self.send(self.encode(*args))
        return self.read_reply()

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("connection closed by server")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data = bytes(self.buf[:n])
        assert self.buf[n:n + 2] == b"\r\n", "bulk string not terminated by CRLF"
        del self.buf[:n + 2]
        return data

    def read_reply(self, top=True):
        line = self._line()
        kind, rest = chr(line[0]), line[1:]
        if top:
            self.last_type = kind
        if kind == "+":
            return rest.decode()
        if kind == "-":
            return RespError(rest.decode())
        if kind in ":(":
            return int(rest)
        if kind == ",":
            return float(rest)
        if kind == "#":
            return rest == b"t"
        if kind == "_":
            return None
        if kind in "$=!":
            n = int(rest)
            if n < 0:
                return None
            data = self._exact(n)
            if kind == "=":
                return data[4:]
            return RespError(data.decode()) if kind == "!" else data
        if kind in "*~>":
            n = int(rest)
            return None if n < 0 else [self.read_reply(False) for _ in range(n)]
        if kind in "%|":
            n = int(rest)
            out = {}
            for _ in range(n):
                k = self.read_reply(False)
                out[k] = self.read_reply(False)
            return out
        raise AssertionError("unknown RESP type byte in %r" % line)

    def closed_by_server(self, timeout=5.0):
        """True when the server closes the connection within timeout (pending input dropped)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True


class CairnServer:
    """One cairn-server process over a data directory; unpacks as (host, port, http_port, dir)."""

    def __init__(self, datadir, args, log_path):
        self.host = HOST
        self.datadir = str(datadir)
        self.args = list(args)
        self.log_path = str(log_path)
        self.proc = None
        self.port = None
        self.http_port = None

    def __iter__(self):
        return iter((self.host, self.port, self.http_port, self.datadir))

    def start(self, timeout=30.0):
        assert self.proc is None, "already running"
        log = open(self.log_path, "ab")
        offset = log.tell()
        self.proc = subprocess.Popen(
            [SERVER_BIN, "--dir", self.datadir, "--bind", HOST, "--port", "auto", "--http-port", "auto",
             *self.args], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                m = READY.search(f.read().decode(errors="replace"))
            if m:
                self.port, self.http_port = int(m.group(1)), int(m.group(2))
                break
            if self.proc.poll() is not None:
                code, self.proc = self.proc.returncode, None
                raise AssertionError("cairn-server exited with %d before ready:\n%s" %
                                     (code, self.log()))
            assert time.monotonic() < deadline, "cairn-server not ready:\n" + self.log()
            time.sleep(0.01)
        # Ready line printed: the listeners are open; wait until a command is answered.
        while True:
            try:
                conn = RespSocket(self.host, self.port, timeout=2)
                reply = conn.command("PING")
                conn.close()
                if reply == "PONG" or reply.startswith("NOAUTH"):
                    return self
            except OSError:
                pass
            assert time.monotonic() < deadline, "cairn-server does not answer PING"
            time.sleep(0.02)

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        """Sends sig, waits, returns the exit status (negative: killed by a signal)."""
        assert self.proc is not None, "not running"
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("cairn-server did not exit within %ss of signal %d:\n%s" %
                                 (timeout, sig, self.log()))
        finally:
            self.proc = None
        return code

    def kill(self):
        """SIGKILL: no shutdown code runs."""
        assert self.stop(signal.SIGKILL) == -signal.SIGKILL

    def restart(self, args=None):
        """Clean stop (asserting exit status 0), then a new process on the same directory.

        The ports change (both are picked afresh); reconnect after a restart.
        """
        if self.proc is not None:
            code = self.stop()
            assert code == 0, "exit status %d on SIGTERM:\n%s" % (code, self.log())
        if args is not None:
            self.args = list(args)
        return self.start()

    def client(self, **kwargs):
        """A redis-py client (RESP2) on this server."""
        return redis.Redis(host=self.host, port=self.port, socket_timeout=60, **kwargs)

    def raw(self, timeout=10.0):
        return RespSocket(self.host, self.port, timeout)

    def http_url(self, path):
        return "http://%s:%d%s" % (self.host, self.http_port, path)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-4000:]


# CAIRN_TEST_CLUSTER=3 runs the same suites against a cluster of that many nodes (N=3,
# W=2, R=2): the `server` fixture is then its first node, which every request reaches.
CLUSTER_SIZE = int(os.environ.get("CAIRN_TEST_CLUSTER", "0"))


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def in_cluster():
    return CLUSTER_SIZE > 0


def put_reply(status, body):
    """A PUT's (status, JSON body) with the causal context a cluster adds checked and
    removed, so suites expect the same reply in both modes (docs/cluster.md, HTTP API)."""
    if isinstance(body, (bytes, str)):
        body = json.loads(body)
    if in_cluster() and status == 200:
        assert isinstance(body.pop("context", None), str), body
    return status, body


def wait_cluster_members(nodes, expected, timeout=30.0, password=None):
    deadline = time.monotonic() + timeout
    while True:
        ok = True
        for n in nodes:
            conn = n.raw()
            if password is not None:
                conn.command("AUTH", password)
            text = conn.command("INFO", "cluster")
            text = text.decode() if isinstance(text, bytes) else str(text)
            if "cluster_members_alive:%d\r\n" % expected not in text:
                ok = False
        if ok:
            return
        assert time.monotonic() < deadline, "cluster members not all alive"
        time.sleep(0.1)


REDIS = shutil.which("redis-server")


class RedisServer:
    """A redis-server process on a free loopback port, to compare replies with."""

    def __init__(self, directory, args=()):
        """Starts it in directory (created; no RDB or AOF unless args say so) with the extra
        args and waits until it answers. Another process may take the free port first: it is
        started only once INFO on the port names its own pid, else on another port."""
        os.makedirs(directory, exist_ok=True)
        self.host, self.dir = HOST, str(directory)
        for _ in range(5):
            self.port = free_port()
            self.proc = subprocess.Popen([REDIS, "--port", str(self.port), "--bind", self.host,
                                          "--save", "", "--appendonly", "no", "--dir", self.dir,
                                          *args],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_answering():
                return
            self.stop()
        raise AssertionError("redis-server did not start (port %d)" % self.port)

    def _wait_answering(self):
        """True once this process answers INFO server on the port; False if it exits (a lost
        bind race) or does not answer within 10 s."""
        deadline = time.monotonic() + 10
        while self.proc.poll() is None and time.monotonic() < deadline:
            try:
                sock = RespSocket(self.host, self.port, timeout=1.0)
                try:
                    info = sock.command("INFO", "server")
                finally:
                    sock.close()
                if (isinstance(info, bytes) and b"redis_version:" in info
                        and b"\r\nprocess_id:%d\r\n" % self.proc.pid in info):
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def raw(self, timeout=10.0):
        return RespSocket(self.host, self.port, timeout)

    def client(self, **kwargs):
        """A redis-py client (RESP2) on this server."""
        return redis.Redis(host=self.host, port=self.port, **kwargs)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def redis_server(tmp_path):
    """redis-server (7.0.15 here) side by side; skips the test where it is not installed."""
    if REDIS is None:
        pytest.skip("redis-server is not installed")
    srv = RedisServer(tmp_path / "redis-server")
    yield srv
    srv.stop()


@pytest.fixture
def server(request, tmp_path):
    """A running cairn-server; flags from @pytest.mark.server_args (default --wal-sync none)."""
    args = ["--io-threads", "2"]
    marker = request.node.get_closest_marker("server_args")
    extra = list(marker.args) if marker else []
    if "--wal-sync" not in extra:
        args += ["--wal-sync", "none"]
    if not in_cluster():
        srv = CairnServer(tmp_path / "data", args + extra, tmp_path / "server.log")
        srv.start()
        yield srv
        if srv.proc is not None:
            code = srv.stop()
            assert code == 0, "exit status %d on SIGTERM:\n%s" % (code, srv.log())
        return
    nodes = []
    seeds = None
    for i in range(CLUSTER_SIZE):
        # A cluster port is chosen before the node binds it (the first node's is every
        # node's seed, and stays its own across restarts): another process may take it
        # meanwhile, so a node that finds it in use starts again on another.
        for attempt in range(5):
            port = free_port()
            node_args = args + ["--cluster", "yes", "--node-id", "node%d" % i,
                                "--cluster-port", str(port),
                                "--seeds", seeds or "%s:%d" % (HOST, port)] + extra
            node = CairnServer(tmp_path / ("data" if i == 0 else "data%d" % i), node_args,
                               tmp_path / ("server.log" if i == 0 else "node%d.log" % i))
            try:
                node.start()
                break
            except AssertionError as e:
                if "Address already in use" not in str(e) or attempt == 4:
                    raise
                if node.proc is not None:
                    node.proc.kill()
                    node.proc.wait()
                open(node.log_path, "w").close()  # the next attempt's log starts clean
        if seeds is None:
            seeds = "%s:%d" % (HOST, port)
        nodes.append(node)
    password = extra[extra.index("--requirepass") + 1] if "--requirepass" in extra else None
    wait_cluster_members(nodes, CLUSTER_SIZE, password=password)
    # A restart of the first node waits until it is back in the cluster.
    first_start = nodes[0].start

    def start_and_rejoin(timeout=30.0):
        first_start(timeout)
        wait_cluster_members(nodes, CLUSTER_SIZE, password=password)
        return nodes[0]
    nodes[0].start = start_and_rejoin
    nodes[0].cluster_nodes = nodes  # for tests that reach every node (test_pubsub.py)
    yield nodes[0]
    for n in reversed(nodes):
        if n.proc is not None:
            code = n.stop()
            assert code == 0, "exit status %d on SIGTERM:\n%s" % (code, n.log())
