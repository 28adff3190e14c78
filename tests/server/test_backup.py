"""Backups of a single node (docs/backup.md): `cairn backup create|list|verify|restore|purge`,
SAVE/BGSAVE/LASTSAVE against redis-server 7.0.15 side by side, INFO persistence and the
backup metrics. The backup under a write load restored into a new directory and into a new
3-node cluster is tests/cluster/test_backup_cluster.py."""
import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import ROOT, CairnServer, RespError, RespSocket, free_port

CAIRN = os.environ.get("CAIRN_BIN", os.path.join(ROOT, "build", "bin", "cairn"))


def cairn(*args, check=True):
    p = subprocess.run([CAIRN, *args], capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
    return p


def info(conn, section="persistence"):
    text = conn.command("INFO", section).decode()
    return dict(line.split(":", 1) for line in text.split("\r\n") if ":" in line)


def fill(conn, n, prefix="k", value="v"):
    for start in range(0, n, 500):
        for i in range(start, min(n, start + 500)):
            conn.send(conn.encode("SET", "%s%06d" % (prefix, i), "%s%d" % (value, i)))
        for i in range(start, min(n, start + 500)):
            assert conn.read_reply() == "OK"


def flip_byte(path, offset=100):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x20]))


def test_backup_list_verify_restore_purge(server, tmp_path):
    c = server.raw()
    fill(c, 20000)
    c.command("RPUSH", "list", "a", "b", "c")
    c.command("HSET", "hash", "f", "1", "g", "2")
    c.command("SET", "ttl", "x", "EX", "1000")
    dest = str(tmp_path / "backups")
    out = cairn("backup", "create", dest, "--http-port", str(server.http_port)).stdout
    assert out.startswith("backup 1 of "), out
    for i in range(0, 200):
        c.command("SET", "k%06d" % (i * 100), "changed")
    out = cairn("backup", "create", dest, "--http-port", str(server.http_port)).stdout
    assert out.startswith("backup 2 of "), out
    listing = cairn("backup", "list", dest).stdout.splitlines()
    assert len(listing) == 3 and listing[1].split()[0] == "1" and listing[2].split()[0] == "2"
    assert cairn("backup", "verify", dest).stdout == "backup 1: ok\nbackup 2: ok\n"

    # Backup 1 restored and served: the state before the 200 changes.
    to = str(tmp_path / "restored1")
    cairn("backup", "restore", dest, "1", "--to", to)
    copy = CairnServer(to, ["--io-threads", "1"], tmp_path / "restored1.log").start()
    try:
        r = copy.raw()
        assert r.command("DBSIZE") == 20003
        assert r.command("GET", "k000100") == b"v100"
        assert r.command("LRANGE", "list", "0", "-1") == [b"a", b"b", b"c"]
        assert r.command("HGET", "hash", "g") == b"2"
        assert 900 < r.command("TTL", "ttl") <= 1000
    finally:
        copy.stop()
    # The newest by default: with the changes.
    to2 = str(tmp_path / "restored2")
    cairn("backup", "restore", dest, "--to", to2)
    copy = CairnServer(to2, ["--io-threads", "1"], tmp_path / "restored2.log").start()
    try:
        assert copy.raw().command("GET", "k000100") == b"changed"
        assert copy.raw().command("GET", "k000101") == b"v101"
    finally:
        copy.stop()
    # A target with files is refused.
    p = cairn("backup", "restore", dest, "--to", to2, check=False)
    assert p.returncode != 0 and "not empty" in p.stderr

    cairn("backup", "purge", dest, "--keep", "1")
    listing = cairn("backup", "list", dest).stdout.splitlines()
    assert [line.split()[0] for line in listing[1:]] == ["2"]
    assert cairn("backup", "verify", dest).stdout == "backup 2: ok\n"
    assert not os.path.exists(os.path.join(dest, "private", "1"))


def test_flipped_byte_is_reported_by_verify_and_refused_by_restore(server, tmp_path):
    c = server.raw()
    fill(c, 5000)
    dest = str(tmp_path / "backups")
    cairn("backup", "create", dest, "--http-port", str(server.http_port))
    shared = os.listdir(os.path.join(dest, "shared"))
    assert len(shared) >= 1
    flip_byte(os.path.join(dest, "shared", shared[0]))
    p = cairn("backup", "verify", dest, "1", check=False)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "backup 1: FAILED" in p.stdout and shared[0] in p.stdout and "checksum mismatch" in p.stdout
    to = str(tmp_path / "restored")
    p = cairn("backup", "restore", dest, "--to", to, check=False)
    assert p.returncode == 1 and shared[0] in p.stderr, (p.stdout, p.stderr)
    assert not os.path.exists(to) and not os.path.exists(to + ".restoring")
    # A damaged meta file is reported too.
    flip_byte(os.path.join(dest, "meta", "1"), 20)
    p = cairn("backup", "verify", dest, check=False)
    assert p.returncode != 0 and "checksum mismatch" in (p.stdout + p.stderr)


def test_restore_into_an_empty_mount_point(server, tmp_path):
    """A fresh file system's mount point as --to: neither removable nor a rename target
    from another file system; its lost+found is no data."""
    c = server.raw()
    fill(c, 3000)
    dest = str(tmp_path / "backups")
    cairn("backup", "create", dest, "--http-port", str(server.http_port))
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + p.stderr.strip())
    try:
        (mnt / "lost+found").mkdir()
        cairn("backup", "restore", dest, "--to", str(mnt))
        assert not os.path.exists(str(mnt) + ".restoring")
        assert "CURRENT" in os.listdir(mnt) and ".cairn-restoring" not in os.listdir(mnt)
        copy = CairnServer(str(mnt), ["--io-threads", "1"], tmp_path / "mnt.log").start()
        try:
            r = copy.raw()
            assert r.command("DBSIZE") == 3000
            assert r.command("GET", "k002999") == b"v2999"
        finally:
            copy.stop()
        # Not empty now: refused, as any directory with files.
        p = cairn("backup", "restore", dest, "--to", str(mnt), check=False)
        assert p.returncode == 2 and "exists and is not empty" in p.stderr, (p.stdout, p.stderr)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_create_needs_a_server_and_reports_its_error(server, tmp_path):
    p = cairn("backup", "create", str(tmp_path / "b"), "--http-port", str(free_port()), check=False)
    assert p.returncode == 2 and "cairn backup:" in p.stderr
    # A destination the server cannot write: the error comes back, the server stays up.
    blocker = tmp_path / "file"
    blocker.write_text("x")
    p = cairn("backup", "create", str(blocker / "sub"), "--http-port", str(server.http_port), check=False)
    assert p.returncode == 2 and "backup failed" in p.stderr, p.stderr
    assert info(server.raw())["rdb_last_bgsave_status"] == "err"
    assert server.raw().command("PING") == "PONG"


@pytest.fixture
def ref(redis_server):
    """The port of redis-server side by side (conftest's redis_server)."""
    return redis_server.port


def test_save_bgsave_lastsave_replies_match_redis(server, ref, tmp_path):
    backup_dir = str(tmp_path / "saves")
    c = server.raw()
    assert c.command("CONFIG", "SET", "backup-dir", backup_dir) == "OK"
    r = RespSocket("127.0.0.1", ref)
    # Enough data that a background save is still running when the next command arrives.
    fill(c, 60000, value="x" * 200)
    fill(r, 60000, value="x" * 200)
    started = int(time.time())
    for conn in (c, r):
        before = info(conn)
        assert before["rdb_bgsave_in_progress"] == "0"
        assert int(before["rdb_changes_since_last_save"]) >= 60000
        assert conn.command("SAVE") == "OK"
        assert abs(conn.command("LASTSAVE") - started) <= 2
        assert info(conn)["rdb_changes_since_last_save"] == "0"
        assert conn.command("SET", "after", "1") == "OK"
        assert info(conn)["rdb_changes_since_last_save"] == "1"
    replies = {}
    for name, conn in (("cairn", c), ("redis", r)):
        got = [conn.command("BGSAVE")]
        # Sent at once, while the first still runs (the ordering matters, not the timing:
        # the second command is pipelined right behind the first).
        conn.send(conn.encode("BGSAVE") + conn.encode("SAVE"))
        got += [conn.read_reply(), conn.read_reply()]
        got.append(conn.command("BGSAVE", "foo"))
        got.append(conn.command("SAVE", "x"))
        got.append(conn.command("LASTSAVE", "x"))
        replies[name] = [str(g) for g in got]
    assert replies["cairn"] == replies["redis"], replies
    assert replies["cairn"][:3] == ["Background saving started",
                                    "ERR Background save already in progress",
                                    "ERR Background save already in progress"]
    deadline = time.monotonic() + 60
    while info(c)["rdb_bgsave_in_progress"] != "0":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    fields = info(c)
    assert fields["rdb_last_bgsave_status"] == "ok"
    assert int(fields["rdb_last_save_time"]) >= started
    assert int(fields["backup_last_size_bytes"]) > 60000 * 10  # lz4 shrinks the repeated bytes
    assert fields["backup_last_id"] == "2"  # SAVE's was 1
    # The backups SAVE and BGSAVE took are ordinary backups.
    assert cairn("backup", "verify", backup_dir).stdout == "backup 1: ok\nbackup 2: ok\n"
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % server.http_port, timeout=10) as m:
        metrics = m.read().decode()
    assert "cairn_backup_last_size_bytes %s\n" % fields["backup_last_size_bytes"] in metrics
    assert "cairn_backup_in_progress 0\n" in metrics
    assert "cairn_backup_last_duration_milliseconds " in metrics
    with urllib.request.urlopen("http://127.0.0.1:%d/v1/backup" % server.http_port, timeout=10) as m:
        state = json.loads(m.read())
    assert state["last"]["id"] == 2 and state["dest"] == backup_dir and state["last_ok"]


def test_http_backup_requires_an_absolute_destination(server):
    req = urllib.request.Request(server.http_url("/v1/backup?dest=relative/dir"), method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 400


def test_save_inside_multi_is_refused_as_redis_does(server, ref, tmp_path):
    """SAVE is no-multi in Redis 7: refused when queued, and EXEC aborts the transaction."""
    c = server.raw()
    assert c.command("CONFIG", "SET", "backup-dir", str(tmp_path / "saves")) == "OK"
    r = RespSocket("127.0.0.1", ref)
    replies = {}
    for name, conn in (("cairn", c), ("redis", r)):
        got = [conn.command("MULTI"), conn.command("SET", "a", "1"), conn.command("SAVE"),
               conn.command("EXEC"), conn.command("EXISTS", "a")]
        replies[name] = [str(g) for g in got]
    assert replies["cairn"] == replies["redis"], replies
    assert replies["cairn"][2] == "ERR Command not allowed inside a transaction"
    assert not os.path.exists(str(tmp_path / "saves" / "meta" / "1"))


def test_create_into_a_path_with_url_special_characters(server, tmp_path):
    """DEST goes to the server in a query string: '+', '&', '%', '#' and spaces reach it
    as typed (they named another directory: 'a+b' became 'a b', 'a&b' became 'a')."""
    server.raw().command("SET", "k", "v")
    for name in ("a+b", "c&d=e", "f%41g", "h i#j"):
        dest = str(tmp_path / name)
        out = cairn("backup", "create", dest, "--http-port", str(server.http_port)).stdout
        assert out.startswith("backup 1 of ") and (" in %s:" % dest) in out, out
        assert cairn("backup", "verify", dest).stdout == "backup 1: ok\n"
    assert not [n for n in os.listdir(str(tmp_path)) if n in ("a b", "c", "fAg", "h i")]


def test_cluster_restore_keeps_each_expiry_instant(server, tmp_path):
    """`cairn cluster restore` carries a key's expiry as its instant (PEXPIRETIME, RESTORE
    ABSTTL): a remaining TTL read on one server and set on another drifts by the time in
    between, and a TTL read as 0 (expiring that very millisecond) made a key persistent."""
    c = server.raw()
    keys = ["t%05d" % i for i in range(3000)]
    at = int(time.time() * 1000) + 3600 * 1000
    for start in range(0, len(keys), 500):
        part = keys[start:start + 500]
        c.send(b"".join(c.encode("SET", k, "v", "PXAT", str(at + i)) for i, k in enumerate(part)))
        for _ in part:
            assert c.read_reply() == "OK"
    c.command("SET", "forever", "x")
    dest = str(tmp_path / "b")
    cairn("backup", "create", dest, "--http-port", str(server.http_port))
    target = CairnServer(str(tmp_path / "target"), ["--io-threads", "1"], tmp_path / "target.log").start()
    try:
        out = cairn("cluster", "restore", dest, "--to", "127.0.0.1:%d" % target.port).stdout
        assert "restored %d keys" % (len(keys) + 1) in out, out
        t = target.raw()
        for start in range(0, len(keys), 500):
            part = keys[start:start + 500]
            t.send(b"".join(t.encode("PEXPIRETIME", k) for k in part))
            got = [t.read_reply() for _ in part]
            assert got == [at + i for i in range(len(part))], (start, got[:5])
        assert t.command("PEXPIRETIME", "forever") == -1
    finally:
        target.stop()


def test_info_is_not_split_by_a_destination_with_line_breaks(server, tmp_path):
    """backup_last_dest shows a path the client chose: a CR/LF in it would add INFO fields."""
    dest = str(tmp_path / "a\r\nrole:slave")
    req = urllib.request.Request(
        server.http_url("/v1/backup?dest=" + urllib.parse.quote(dest, safe="/")), method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 202
    deadline = time.monotonic() + 30
    while info(server.raw())["rdb_bgsave_in_progress"] != "0":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    text = server.raw().command("INFO", "persistence").decode()
    assert "\r\nrole:" not in text, text
    assert info(server.raw())["backup_last_dest"] == dest.replace("\r", " ").replace("\n", " ")


def test_bgsave_twice_in_one_transaction_replies_as_redis(server, ref, tmp_path):
    c = server.raw()
    assert c.command("CONFIG", "SET", "backup-dir", str(tmp_path / "saves")) == "OK"
    r = RespSocket("127.0.0.1", ref)
    replies = {}
    for name, conn in (("cairn", c), ("redis", r)):
        got = [conn.command("MULTI"), conn.command("BGSAVE"), conn.command("BGSAVE", "SCHEDULE"),
               conn.command("BGSAVE"), conn.command("EXEC")]
        deadline = time.monotonic() + 30
        while info(conn)["rdb_bgsave_in_progress"] != "0":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        replies[name] = [str(g) for g in got]
    assert replies["cairn"] == replies["redis"], replies
    assert replies["cairn"][-1] == str(["Background saving scheduled"] * 3)


def test_http_backup_destination_needs_config_set_too(server, tmp_path):
    """POST /v1/backup chooses the directory the server writes: a user allowed BGSAVE (into
    backup-dir) but not CONFIG SET may not write elsewhere."""
    import base64
    c = server.raw()
    assert c.command("ACL", "SETUSER", "saver", "on", ">p", "+bgsave", "+info") == "OK"
    assert c.command("ACL", "SETUSER", "admin2", "on", ">p", "+bgsave", "+info",
                     "+config|set") == "OK"
    url = server.http_url("/v1/backup?dest=" + urllib.parse.quote(str(tmp_path / "elsewhere")))
    for user, want in (("saver", 403), ("admin2", 202)):
        req = urllib.request.Request(url, method="POST")
        req.add_header("Authorization",
                       "Basic " + base64.b64encode(("%s:p" % user).encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        assert status == want, user
        deadline = time.monotonic() + 30
        while info(c)["rdb_bgsave_in_progress"] != "0":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        if user == "saver":
            assert not os.path.exists(str(tmp_path / "elsewhere"))
    auth = RespSocket(server.host, server.port)
    assert auth.command("AUTH", "saver", "p") == "OK"
    assert auth.command("BGSAVE") == "Background saving started"  # into backup-dir: allowed
