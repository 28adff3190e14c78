"""Authenticated cluster traffic (docs/cluster-security.md): real nodes on loopback.

Three nodes share a cluster-secret. A node with another secret, and one with none, cannot
join; a raw connection that sends well-formed cluster messages (a write through
ExecuteCommand, a gossip that adds a member) without the handshake gets nothing back and
changes nothing. Each refusal is logged and counted (cluster_auth_failures in INFO,
cairn_cluster_auth_failures_total on /metrics). The secret is rotated live
("new,old" everywhere, then "new") while writes keep being served.
"""
import shutil
import signal
import socket
import struct
import subprocess
import time
import urllib.request

import pytest

from cluster_util import Cluster, Node, info, replica_digests, wait_for

# Secrets of at least 16 characters (shorter ones are refused).
OLD = "old-secret-4f1c9a0e7b2d"
NEW = "new-secret-9d3e2b6a1c0f"


# --- hand-encoded protobuf (cluster.proto), enough for two requests -------------------

def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number, payload):
    """A length-delimited field."""
    if isinstance(payload, str):
        payload = payload.encode()
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _frame(body):
    return struct.pack(">I", len(body)) + body


def execute_frame(*args):
    """Envelope{request_id: 1, execute: ExecuteCommand{args, w: 1, r: 1}} as one frame."""
    command = b"".join(_field(2, a) for a in args) + _varint(3 << 3) + b"\x01" + _varint(4 << 3) + b"\x01"
    return _frame(_varint(1 << 3 | 0) + _varint(1) + _field(23, command))


def gossip_frame(ghost_id, cluster_name="cairn"):
    """Envelope{request_id: 2, gossip: Gossip{from, nodes: [a NORMAL member], name}}."""
    state = (_field(1, ghost_id) + _field(2, "127.0.0.1:1") + _field(3, "127.0.0.1:2") +
             _varint(7 << 3) + _varint(1) + _varint(8 << 3) + _varint(1) +
             _varint(9 << 3) + _varint(100) + _varint(10 << 3) + _varint(1))
    gossip = _field(1, ghost_id) + _field(2, state) + _field(3, cluster_name)
    return _frame(_varint(1 << 3 | 0) + _varint(2) + _field(10, gossip))


def raw_exchange(address, data, wait=2.0):
    """Sends data to a cluster port; returns every byte received until the peer closes
    or `wait` seconds pass."""
    host, port = address.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    got = b""
    try:
        s.sendall(data)
        s.settimeout(wait)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    return got


def auth_failures(node):
    return int(info(node).get("cluster_auth_failures", "-1"))


def prometheus_auth_failures(node):
    with urllib.request.urlopen("http://%s:%d/metrics" % (node.host, node.http_port), timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("cairn_cluster_auth_failures_total "):
                return int(float(line.split()[1]))
    raise AssertionError("no cairn_cluster_auth_failures_total on /metrics")


def members(node):
    i = info(node)
    return int(i["cluster_members"]), int(i["cluster_members_alive"])


def wait_alive(nodes, expected, timeout=40.0):
    wait_for("%d members alive on every node" % expected,
             lambda: all(members(n) == (expected, expected) for n in nodes), timeout)


def log_of(node):
    with open(node.log_path, "rb") as f:
        return f.read().decode(errors="replace")


@pytest.fixture
def secured(tmp_path):
    c = Cluster(tmp_path, 3, extra=["--cluster-secret", OLD])
    yield c
    c.stop_all()


def test_a_well_formed_frame_is_served_without_a_secret(tmp_path):
    """The control for the raw-connection checks below: the same bytes sent to a node
    with no secret do write the key and do add the gossiped member."""
    node = Node(tmp_path, "open", ["--replicas", "1", "--write-quorum", "1",
                                   "--read-quorum", "1"]).start([])
    try:
        reply = raw_exchange(node.cluster_address, execute_frame(b"SET", b"k", b"evil"), wait=3)
        assert len(reply) > 4, "the crafted ExecuteCommand got no reply: the control is broken"
        assert node.raw().command("GET", "k") == b"evil"
        reply = raw_exchange(node.cluster_address, gossip_frame("ghost"), wait=3)
        assert len(reply) > 4
        wait_for("the ghost member", lambda: members(node)[0] == 2, 10)
    finally:
        node.stop()


def test_wrong_or_missing_secret_cannot_join_read_or_write(secured, tmp_path):
    started = time.monotonic()
    nodes = list(secured)
    wait_alive(nodes, 3)
    seed = nodes[0]
    assert seed.raw().command("SET", "k", "good") == "OK"
    before = auth_failures(seed)
    assert before == 0, log_of(seed)

    # A raw connection that skips the handshake: nothing comes back, nothing changes.
    for target in nodes:
        got = raw_exchange(target.cluster_address,
                           execute_frame(b"SET", b"k", b"evil") + gossip_frame("ghost"))
        assert got == b"", "an unauthenticated peer got %r" % got[:64]
    wait_for("refusals counted", lambda: auth_failures(seed) >= 1, 10)

    # A node with the wrong secret and a node with none, seeded with the cluster.
    wrong = Node(tmp_path, "wrong", ["--cluster-secret", "guessed-but-long-enough-0000"]).start(secured.seeds())
    none = Node(tmp_path, "none", []).start(secured.seeds())
    try:
        time.sleep(4)  # several gossip rounds
        for n in nodes:
            assert members(n) == (3, 3), (n.name, info(n))
        # Neither outsider learnt the cluster's members (nothing read through the port).
        assert members(wrong)[0] == 1, info(wrong)
        assert members(none)[0] == 1, info(none)
        for n in nodes:
            assert n.raw().command("GET", "k") == b"good"
        # The refusals are logged with the peer's address and the reason, and counted.
        text = log_of(seed)
        assert "cluster connection with 127.0.0.1:" in text, text[-2000:]
        assert "did not prove the cluster secret" in text or "closed the connection during the handshake" in text
        assert "no handshake" in text, text[-2000:]
        assert "did not prove the cluster secret" in log_of(wrong) or \
            "closed the connection during the handshake" in log_of(wrong)
        after = auth_failures(seed)
        assert after >= before + 3, after
        assert prometheus_auth_failures(seed) >= after
        # Rate-limited: about a line a second at most, however many refusals.
        lines = text.count("cluster connection with")
        assert lines <= time.monotonic() - started + 2, (lines, after)
    finally:
        wrong.stop()
        none.stop()


def test_handshake_timeout_closes_an_idle_connection(secured):
    nodes = list(secured)
    host, port = nodes[1].cluster_address.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    start = time.monotonic()
    s.sendall(b"CNAH")  # the start of a HELLO, never finished
    assert s.recv(100) == b""  # closed by the node
    took = time.monotonic() - start
    assert 3 <= took <= 9, took
    s.close()
    wait_for("timeout logged", lambda: "handshake timed out" in log_of(nodes[1]), 5)


def test_live_rotation_keeps_serving_writes(secured, tmp_path):
    nodes = list(secured)
    wait_alive(nodes, 3)
    clients = [n.raw() for n in nodes]
    written = 0

    def write_some(count=30):
        nonlocal written
        for i in range(count):
            c = clients[written % 3]
            assert c.command("SET", "rot:%d" % written, "v%d" % written) == "OK"
            written += 1

    write_some()
    for n, c in zip(nodes, clients):
        assert c.command("CONFIG", "SET", "cluster-secret", NEW + "," + OLD) == "OK"
        write_some()
    # A node that only knows the new secret already joins, and so would one with the old.
    for n, c in zip(nodes, clients):
        assert c.command("CONFIG", "SET", "cluster-secret", NEW) == "OK"
        write_some()
    assert clients[0].command("CONFIG", "GET", "cluster-secret") == [b"cluster-secret", NEW.encode()]
    # Connections made from now on need the new secret: a restarted member with it
    # comes back, a new node with only the old one is refused.
    nodes[2].stop()
    nodes[2].extra = ["--cluster-secret", NEW]
    nodes[2].start(secured.seeds())
    clients[2] = nodes[2].raw()
    wait_alive(nodes, 3)
    stale = Node(tmp_path, "stale", ["--cluster-secret", OLD]).start(secured.seeds())
    try:
        time.sleep(3)
        for n in nodes:
            assert members(n) == (3, 3), (n.name, info(n))
        assert members(stale)[0] == 1
    finally:
        stale.stop()
    write_some()
    for i in range(written):
        assert clients[i % 3].command("GET", "rot:%d" % i) == b"v%d" % i
    # A bad value is refused with the option's error and changes nothing.
    reply = clients[0].command("CONFIG", "SET", "cluster-secret", "a,,b")
    assert str(reply).startswith("ERR"), reply
    # So is a secret shorter than 16 characters, with an error that says so.
    reply = clients[0].command("CONFIG", "SET", "cluster-secret", NEW + ",0123456789abcde")
    assert str(reply).startswith("ERR") and "at least 16" in str(reply), reply
    assert clients[0].command("CONFIG", "GET", "cluster-secret") == [b"cluster-secret", NEW.encode()]


def test_a_short_secret_is_refused_at_startup(tmp_path):
    node = Node(tmp_path, "short", ["--cluster-secret", "s3cret"])
    with pytest.raises(AssertionError) as e:
        node.start([])
    assert "at least 16" in str(e.value), str(e.value)[-2000:]


def _hello(target, dialer_id="prober"):
    body = b"\x07" * 32 + struct.pack(">H", len(dialer_id)) + dialer_id.encode() + \
        struct.pack(">H", len(target)) + target.encode()
    return b"CNAH" + bytes([2, 1]) + struct.pack(">H", len(body)) + body


def test_an_unauthenticated_dialer_gets_no_proof(secured):
    """Version 2: the CHALLENGE an anonymous HELLO gets holds the listener's nonce and id
    and nothing else; a wrong PROOF gets the connection closed, no ACCEPTED."""
    node = list(secured)[1]
    host, port = node.cluster_address.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    try:
        s.sendall(_hello(node.cluster_address))
        got = b""
        while len(got) < 8 or len(got) < 8 + struct.unpack(">H", got[6:8])[0]:
            chunk = s.recv(4096)
            assert chunk, got
            got += chunk
        assert got[:6] == b"CNAH\x02\x02", got[:8]
        body = got[8:]
        id_len = struct.unpack(">H", body[32:34])[0]
        assert body[34:] == node.name.encode() and id_len == len(node.name), body
        proof = b"\x01" + b"\x00" * 32
        s.sendall(b"CNAH" + bytes([2, 3]) + struct.pack(">H", len(proof)) + proof)
        s.settimeout(5)
        assert s.recv(4096) == b""  # closed, nothing more
    finally:
        s.close()
    wait_for("refusal logged", lambda: "did not prove the cluster secret" in log_of(node), 5)


# --- tls-cluster ------------------------------------------------------------------------

def _openssl(*args):
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def make_ca(d, name):
    key, crt = d / (name + ".key"), d / (name + ".crt")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=" + name,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return key, crt


def make_cert(d, ca, name):
    """A node certificate signed by ca (key, crt), good as server and client."""
    key, csr, crt, ext = (d / (name + s) for s in (".key", ".csr", ".crt", ".ext"))
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", csr, "-subj", "/CN=" + name)
    ext.write_text("basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\n"
                   "extendedKeyUsage=serverAuth,clientAuth\n")
    _openssl("x509", "-req", "-in", csr, "-CA", ca[1], "-CAkey", ca[0], "-set_serial",
             str(abs(hash(name)) % 10**12 + 1), "-out", crt, "-days", "2", "-extfile", ext)
    return key, crt


def tls_args(cert, ca_file):
    return ["--tls-cluster", "yes", "--tls-cluster-cert-file", str(cert[1]),
            "--tls-cluster-key-file", str(cert[0]), "--tls-cluster-ca-cert-file", str(ca_file)]


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    ca1, ca2 = make_ca(d, "cluster-ca"), make_ca(d, "other-ca")
    return {"dir": d, "ca1": ca1, "ca2": ca2, "node": make_cert(d, ca1, "node"),
            "stranger": make_cert(d, ca2, "stranger")}


def test_tls_cluster_forms_replicates_and_refuses_other_cas(tmp_path, pki):
    # The clients' CA directory trusts the other CA: the cluster's own CA file must win, or
    # any certificate for clients would make a member.
    client_cas = pki["dir"] / "client-cas"
    client_cas.mkdir()
    shutil.copy(pki["ca2"][1], client_cas / "other-ca.crt")
    subprocess.run(["openssl", "rehash", str(client_cas)], check=True, capture_output=True)
    c = Cluster(tmp_path, 3, extra=tls_args(pki["node"], pki["ca1"][1]) +
                ["--tls-ca-cert-dir", str(client_cas)])
    others = []
    try:
        nodes = list(c)
        wait_alive(nodes, 3)
        r0 = nodes[0].raw()
        for i in range(50):
            assert r0.command("SET", "tls:%d" % i, "v%d" % i) == "OK"
        for i in range(50):
            assert nodes[2].raw().command("GET", "tls:%d" % i) == b"v%d" % i
        # N=3: every node stores every key itself, so each was replicated over TLS.
        wait_for("replicas on node2", lambda: sum(
            1 for k in replica_digests(nodes[2]) if k.startswith(b"tls:")) == 50, 20)
        assert auth_failures(nodes[0]) == 0
        # Plain cluster frames get no frame back (at most a TLS alert) and change nothing.
        got = raw_exchange(nodes[1].cluster_address, execute_frame(b"SET", b"tls:0", b"evil"))
        assert got == b"" or got[0] == 0x15, got[:16]
        assert r0.command("GET", "tls:0") == b"v0"

        # A certificate from another CA (trusting the cluster's CA itself), and no TLS.
        stranger = Node(tmp_path, "stranger", tls_args(pki["stranger"], pki["ca1"][1]))
        plain = Node(tmp_path, "plain", [])
        others = [stranger.start(c.seeds()), plain.start(c.seeds())]
        time.sleep(4)
        for n in nodes:
            assert members(n) == (3, 3), (n.name, info(n))
        assert members(stranger)[0] == 1 and members(plain)[0] == 1
        assert auth_failures(nodes[0]) >= 2
        assert "TLS handshake failed" in log_of(nodes[0]), log_of(nodes[0])[-2000:]
        for o in others:
            o.stop()
        others = []

        # A live move to a new CA: every node trusts a bundle of both, then a node with a
        # certificate of the new CA joins.
        bundle = pki["dir"] / "bundle.crt"
        bundle.write_bytes(pki["ca1"][1].read_bytes() + pki["ca2"][1].read_bytes())
        for n in nodes:
            assert n.raw().command("CONFIG", "SET", "tls-cluster-ca-cert-file", str(bundle)) == "OK"
        newcomer = Node(tmp_path, "newcomer", tls_args(make_cert(pki["dir"], pki["ca2"], "newcomer"),
                                                       bundle))
        others = [newcomer.start(c.seeds())]
        wait_alive(nodes + [newcomer], 4, timeout=60)
        assert r0.command("SET", "after-move", "yes") == "OK"
        assert newcomer.raw().command("GET", "after-move") == b"yes"
        # A bad file on reload keeps the running contexts: CONFIG SET is refused and says
        # so; a file broken on disk and a SIGHUP are logged and change nothing either.
        r1 = nodes[1].raw()
        reply = r1.command("CONFIG", "SET", "tls-cluster-ca-cert-file", "/nonexistent")
        assert "Unable to update TLS configuration" in str(reply), reply
        assert r1.command("CONFIG", "GET", "tls-cluster-ca-cert-file")[1] == str(bundle).encode()
        bundle.write_bytes(b"not a certificate")
        nodes[1].proc.send_signal(signal.SIGHUP)
        wait_for("reload failure logged", lambda: "cluster TLS reload failed" in log_of(nodes[1]), 5)
        assert r1.command("SET", "after-sighup", "yes") == "OK"
        assert r0.command("GET", "after-sighup") == b"yes"
    finally:
        for o in others:
            o.stop()
        c.stop_all()


# --- protected mode on the cluster port -------------------------------------------------

@pytest.fixture
def lab():
    """A network namespace linked to the host by a veth pair: the host side has
    <subnet>.254, the namespace <subnet>.1; neither is loopback."""
    import os
    if os.geteuid() != 0 or subprocess.run(["ip", "netns", "list"], capture_output=True).returncode:
        pytest.skip("needs root and ip netns")
    tag = "ca%d" % (os.getpid() % 100000)
    subnet = "10.79.%d" % (os.getpid() % 200)
    ns, host_end, ns_end = tag + "n", tag + "h", tag + "v"

    def ip(*args, check=True):
        return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)

    ip("netns", "add", ns)
    try:
        ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
        ip("link", "set", ns_end, "netns", ns)
        ip("addr", "add", subnet + ".254/24", "dev", host_end)
        ip("link", "set", host_end, "up")
        ip("-n", ns, "addr", "add", subnet + ".1/24", "dev", ns_end)
        ip("-n", ns, "link", "set", ns_end, "up")
        ip("-n", ns, "link", "set", "lo", "up")
        yield {"ns": ns, "host": subnet + ".254"}
    finally:
        ip("link", "del", host_end, check=False)
        ip("netns", "del", ns, check=False)


def exchange_from(ns, address, data, wait=2.0):
    """raw_exchange run inside network namespace ns: the bytes received back."""
    host, port = address.rsplit(":", 1)
    script = (
        "import socket,sys,time\n"
        "s=socket.create_connection((%r,%d),timeout=5)\n"
        "s.sendall(bytes.fromhex(%r))\n"
        "s.settimeout(%r)\n"
        "got=b''\n"
        "try:\n"
        "    while True:\n"
        "        c=s.recv(65536)\n"
        "        if not c: break\n"
        "        got+=c\n"
        "except (socket.timeout, ConnectionResetError):\n"
        "    pass\n"
        "sys.stdout.write(got.hex())\n") % (host, int(port), data.hex(), wait)
    out = subprocess.run(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", script],
                         check=True, capture_output=True, text=True, timeout=30)
    return bytes.fromhex(out.stdout)


def test_protected_mode_refuses_remote_cluster_peers_without_secret_or_tls(tmp_path, lab):
    # requirepass: the test's own RESP connection (host to a non-loopback address) is not
    # refused by the RESP port's protected mode; the cluster port's ignores requirepass.
    node = Node(tmp_path, "prot", ["--requirepass", "pw", "--replicas", "1", "--write-quorum", "1",
                                   "--read-quorum", "1"], host=lab["host"]).start([])
    try:
        r = node.raw()
        assert r.command("AUTH", "pw") == "OK"
        assert r.command("SET", "k", "good") == "OK"

        def failures():
            text = r.command("INFO", "cluster").decode()
            return int(dict(l.split(":", 1) for l in text.split("\r\n") if ":" in l)["cluster_auth_failures"])

        got = exchange_from(lab["ns"], node.cluster_address, execute_frame(b"SET", b"k", b"evil"))
        assert got == b"", got[:32]
        assert r.command("GET", "k") == b"good"
        assert failures() == 1
        assert "protected mode" in log_of(node)
        # A secret lifts protected mode: the peer must now prove it (and cannot).
        assert r.command("CONFIG", "SET", "cluster-secret", OLD) == "OK"
        got = exchange_from(lab["ns"], node.cluster_address, execute_frame(b"SET", b"k", b"evil"))
        assert got == b""
        assert r.command("GET", "k") == b"good"
        # The control: with protected mode off and no secret the same bytes are served.
        assert r.command("CONFIG", "SET", "cluster-secret", "") == "OK"
        assert r.command("CONFIG", "SET", "protected-mode", "no") == "OK"
        got = exchange_from(lab["ns"], node.cluster_address, execute_frame(b"SET", b"k", b"evil"), 3)
        assert len(got) > 4
        assert r.command("GET", "k") == b"evil"
    finally:
        node.stop()
