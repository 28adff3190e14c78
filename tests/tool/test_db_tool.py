"""End-to-end tests of `cairn db DIR ...`, the offline tool, driven as a user would."""
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAIRN = os.environ.get("CAIRN_BIN", os.path.join(ROOT, "build", "bin", "cairn"))


def cairn(db, *args):
    return subprocess.run([CAIRN, "db", str(db), *args], capture_output=True, text=True,
                          timeout=120)


def test_put_get_del_and_exit_codes(tmp_path):
    db = tmp_path / "db"
    assert cairn(db, "get", "k").returncode == 2  # no database yet: an error, not "missing"
    assert cairn(db, "put", "k", "v1").returncode == 0
    r = cairn(db, "get", "k")
    assert (r.returncode, r.stdout) == (0, "v1\n")
    assert cairn(db, "put", "k", "v2").returncode == 0
    assert cairn(db, "get", "k").stdout == "v2\n"
    assert cairn(db, "del", "k").returncode == 0
    r = cairn(db, "get", "k")
    assert r.returncode == 1 and "not found" in r.stderr


def test_scan_ranges_limits_and_escaping(tmp_path):
    db = tmp_path / "db"
    assert cairn(db, "load", "50", "--value-size", "12").returncode == 0
    assert cairn(db, "put", "z\tkey", "line\nbreak\\").returncode == 0
    r = cairn(db, "scan", "--start", "key-0000000010", "--end", "key-0000000013")
    assert r.stdout.splitlines() == [
        "key-0000000010\t0000000010:k",
        "key-0000000011\t0000000011:l",
        "key-0000000012\t0000000012:m",
    ]
    assert len(cairn(db, "scan", "--limit", "7").stdout.splitlines()) == 7
    last = cairn(db, "scan", "--start", "z").stdout
    assert last == "z\\x09key\tline\\x0abreak\\\\\n"


def test_load_prints_acks_and_check_counts_everything(tmp_path):
    db = tmp_path / "db"
    r = cairn(db, "--write-buffer-size", "65536", "load", "3000", "--sync", "none")
    assert r.stdout.splitlines()[-1] == "acked 2999"
    r = cairn(db, "check")
    assert r.returncode == 0, r.stdout
    # "checked T tables (E entries), W WALs (R records): OK": every write is somewhere.
    m = re.search(r"checked (\d+) tables \((\d+) entries\), (\d+) WALs \((\d+) records\), \d+ blob files \(\d+ values\): OK",
                  r.stdout)
    assert m, r.stdout
    tables, entries, _, records = map(int, m.groups())
    assert tables >= 3 and entries + records == 3000


def test_second_process_gets_a_clear_lock_error(tmp_path):
    db = tmp_path / "db"
    loader = subprocess.Popen([CAIRN, "db", str(db), "load", "100000000", "--sync", "none"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        loader.stdout.readline()  # the database is open once the first write is acked
        r = cairn(db, "get", "key-0000000000")
        assert r.returncode == 2
        assert "already open in another process" in r.stderr
        assert cairn(db, "check").returncode == 2
    finally:
        loader.kill()
        loader.wait()
    assert cairn(db, "get", "key-0000000000").returncode == 0


def test_check_fails_on_a_damaged_table(tmp_path):
    db = tmp_path / "db"
    assert cairn(db, "load", "2000").returncode == 0
    assert cairn(db, "get", "key-0000000001").returncode == 0  # reopen: WAL -> table
    tables = sorted(p for p in os.listdir(db) if p.endswith(".sst"))
    path = db / max(tables, key=lambda p: os.path.getsize(db / p))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    r = cairn(db, "check")
    assert r.returncode == 1
    # "problem: 000012.sst at offset 4096 (data block): block checksum mismatch ...": the
    # file, where its damaged block starts (at or before the flipped byte) and its kind.
    m = re.search(r"problem: (\d+\.sst) at offset (\d+) \(data block\): .*checksum mismatch",
                  r.stdout)
    assert m, r.stdout
    assert m.group(1) == path.name
    assert len(data) // 2 - 16384 < int(m.group(2)) <= len(data) // 2
    # Every key reads back right, or fails with a corruption error: never missing, never
    # wrong.
    for i in range(0, 2000, 97):
        r = cairn(db, "get", "key-%010d" % i)
        if r.returncode == 0:
            assert r.stdout.startswith("%010d:" % i)
        else:
            assert r.returncode == 2 and "corruption" in r.stderr, r.stderr
