"""Real cairn-server processes forming a cluster on loopback ports.

    nodes = Cluster(tmp_path, n=3)          # node 0 first, the others seeded with it
    nodes.wait_members(3)                   # every node sees every node alive
    c = nodes[0].raw(); c.command("SET", "k", "v")
    nodes[2].kill()                         # kill -9
"""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "server"))
from conftest import RespSocket, SERVER_BIN  # noqa: E402

READY = re.compile(r"ready: RESP on [^ ]+:(\d+), HTTP on [^ ]+:(\d+), cluster on ([^ ]+:\d+)")
READY_SINGLE = re.compile(r"ready: RESP on [^ ]+:(\d+), HTTP on [^ ]+:(\d+)")
HOST = "127.0.0.1"


class Node:
    def __init__(self, root, name, extra, host=HOST, prefix=()):
        """host: the address it binds and clients use; prefix: what the command runs
        under (["ip", "netns", "exec", ns] for a node in a network namespace)."""
        self.host = host
        self.prefix = list(prefix)
        self.name = name
        self.dir = os.path.join(str(root), name)
        os.makedirs(self.dir, exist_ok=True)
        self.log_path = os.path.join(str(root), name + ".log")
        self.extra = list(extra)
        self.proc = None
        self.port = self.http_port = None
        self.cluster_address = None

    def start(self, seeds, timeout=30.0, cluster=True):
        """Starts the node (cluster=False: as a single-node server on the same directory)."""
        log = open(self.log_path, "ab")
        offset = log.tell()
        args = [*self.prefix, SERVER_BIN, "--dir", self.dir, "--bind", self.host, "--port", "auto",
                "--http-port", "auto",
                "--io-threads", "2", *self.extra]
        if cluster:
            args += ["--cluster", "yes", "--node-id", self.name, "--cluster-port",
                     self.cluster_address.rsplit(":", 1)[1] if self.cluster_address else "0",
                     "--seeds", ",".join(seeds)]
        self.proc = subprocess.Popen(args, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                m = (READY if cluster else READY_SINGLE).search(f.read().decode(errors="replace"))
            if m:
                self.port, self.http_port = int(m.group(1)), int(m.group(2))
                if cluster:
                    self.cluster_address = m.group(3)
                return self
            if self.proc.poll() is not None:
                raise AssertionError("%s exited early:\n%s" % (self.name, self.log()))
            assert time.monotonic() < deadline, "%s not ready:\n%s" % (self.name, self.log())
            time.sleep(0.02)

    def raw(self, timeout=10.0):
        return RespSocket(self.host, self.port, timeout)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        self.proc = None
        return code

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-4000:]


class Cluster:
    def __init__(self, root, n, extra=()):
        self.nodes = []
        for i in range(n):
            node = Node(root, "node%d" % i, extra)
            seeds = [self.nodes[0].cluster_address] if self.nodes else []
            self.nodes.append(node.start(seeds))

    def __getitem__(self, i):
        return self.nodes[i]

    def __iter__(self):
        return iter(self.nodes)

    def seeds(self):
        return [self.nodes[0].cluster_address]

    def stop_all(self):
        for node in self.nodes:
            if node.proc is not None:
                node.stop()


def info(node):
    """INFO cluster of a node as a dict."""
    text = node.raw().command("INFO", "cluster").decode()
    return dict(line.split(":", 1) for line in text.split("\r\n") if ":" in line)


def wait_for(what, predicate, timeout=30.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(interval)


def http_json(node, method, path, body=None):
    """(status, parsed JSON body) of an HTTP request to a node."""
    import json
    import urllib.error
    import urllib.request
    host = "[%s]" % node.host if ":" in node.host else node.host  # IPv6
    req = urllib.request.Request("http://%s:%d%s" % (host, node.http_port, path), data=body,
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def replica_digests(node, db=0):
    """{key: digest} of the versions this node stores itself (CAIRN.REPLICA DIGESTS)."""
    conn = node.raw()
    if db:
        conn.command("SELECT", str(db))
    out, cursor = {}, b""
    while True:
        cursor, flat = conn.command("CAIRN.REPLICA", "DIGESTS", cursor, "COUNT", "1000")
        for i in range(0, len(flat), 2):
            out[flat[i]] = flat[i + 1]
        if not cursor:
            return out


def preference_list(node, key):
    import urllib.parse
    status, body = http_json(node, "GET", "/v1/cluster?key=" + urllib.parse.quote(key))
    assert status == 200, body
    return body["preference_list"]


def divergent_keys(nodes, db=0):
    """Keys whose N replicas do not all hold the same versions, compared on the replicas
    themselves (not through a coordinator): [(key, {node: digest or None})]."""
    live = [n for n in nodes if n.proc is not None]
    digests = {n.name: replica_digests(n, db) for n in live}
    keys = set()
    for d in digests.values():
        keys.update(d)
    bad = []
    for key in sorted(keys):
        owners = preference_list(live[0], key)
        seen = {owner: digests.get(owner, {}).get(key) for owner in owners}
        if len(set(seen.values())) != 1 or None in seen.values():
            bad.append((key, seen))
    return bad


def assert_converged(nodes, db=0, timeout=30.0):
    """Waits until every key's N replicas hold the same versions; fails naming the keys
    that still differ."""
    deadline = time.monotonic() + timeout
    while True:
        bad = divergent_keys(nodes, db)
        if not bad:
            return
        assert time.monotonic() < deadline, "replicas did not converge: %s" % bad[:5]
        time.sleep(0.2)
