"""Large values (docs/large-values.md): ten 100 MB values written and read over RESP and
over HTTP while the server's peak RSS (VmHWM) stays under 256 MB; values survive kill -9
and a restart intact; a damaged blob file reads as an error, never as wrong data.

The clients stream the values in 1 MiB chunks and hash replies as they arrive, so the
test's own memory stays small (bench/large_values.py holds the helpers).
"""
import glob
import http.client
import os
import signal
import socket
import sys
import time

import conftest
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import large_values as lv  # noqa: E402

MB = 1 << 20
RSS_LIMIT_MB = 256


def sanitized(binary):
    with open(binary, "rb") as f:
        return b"__asan_init" in f.read()


def vm_hwm_mb(server):
    return lv.vm_hwm_kb(server.proc.pid) // 1024


@pytest.mark.server_args("--wal-sync", "everysec")
def test_ten_100mb_values_over_resp_and_http_in_bounded_memory(server):
    host, port, http_port, _ = server
    size = 100 * MB
    keys = ["resp:%d" % i for i in range(10)] + ["http:%d" % i for i in range(10)]
    digests = {k: lv.digest_of(k, size) for k in keys}
    start = time.monotonic()
    for k in keys[:10]:
        lv.resp_set(host, port, k, size)
    for k in keys[10:]:
        lv.http_put(host, http_port, k, size)
    for k in keys[:10]:
        assert lv.resp_get_digest(host, port, k) == (size, digests[k]), k
    for k in keys[10:]:
        assert lv.http_get_digest(host, http_port, k) == (size, digests[k]), k
    # Across protocols too: a value written over HTTP read over RESP and back.
    assert lv.resp_get_digest(host, port, keys[10]) == (size, digests[keys[10]])
    assert lv.http_get_digest(host, http_port, keys[0]) == (size, digests[keys[0]])
    peak = vm_hwm_mb(server)
    print("20 x 100 MB written and read in %.1f s, server peak RSS %d MB" %
          (time.monotonic() - start, peak))
    # AddressSanitizer keeps freed memory in quarantine and has no jemalloc: the bound is
    # the release build's (the sanitized run still checks every byte above).
    if not sanitized(conftest.SERVER_BIN):
        assert peak < RSS_LIMIT_MB, "server peak RSS %d MB" % peak
    c = server.client()
    assert c.strlen(keys[0]) == size
    assert c.exists(*keys) == 20


def test_large_values_survive_restart_and_overwrite(server):
    host, port, http_port, datadir = server
    c = server.client()
    big = os.urandom(3 * MB + 7)
    c.set("big", big)
    c.set("small", b"x")
    c.set("exp", big, px=600000)
    assert c.get("big") == big
    assert 590 <= c.ttl("exp") <= 600
    assert glob.glob(os.path.join(datadir, "*.blob"))
    server.restart()
    c = server.client()
    assert c.get("big") == big
    assert c.get("exp") == big and c.ttl("exp") > 0
    assert c.get("small") == b"x"
    # SET over a large value, GETSET, APPEND and GETRANGE see the whole value.
    assert c.getrange("big", 5, 9) == big[5:10]
    c.append("big", b"tail")
    assert c.get("big") == big + b"tail"
    c.set("big", b"small again")
    assert c.get("big") == b"small again"
    assert c.type("exp") == b"string"
    c.hset("h", "f", b"y" * 100000)  # a large member of a hash
    assert c.hget("h", "f") == b"y" * 100000
    with pytest.raises(Exception, match="WRONGTYPE"):
        c.get("h")


@pytest.mark.server_args("--wal-sync", "always")
def test_acknowledged_large_values_survive_kill9(server):
    host, port, http_port, _ = server
    size = 5 * MB
    acked = []
    # Writes in flight on one connection while others complete: kill -9 mid-stream.
    s = socket.create_connection((host, port))
    s.sendall(b"*3\r\n$3\r\nSET\r\n$8\r\ninflight\r\n$%d\r\n" % size)
    s.sendall(b"z" * (size // 2))
    for i in range(8):
        k = "acked:%d" % i
        lv.resp_set(host, port, k, size)
        acked.append(k)
    server.kill()
    s.close()
    server.start()
    for k in acked:
        assert lv.resp_get_digest(host, server.port, k) == (size, lv.digest_of(k, size)), k
    assert server.client().get("inflight") is None


def test_damaged_blob_reads_as_error_never_wrong_data(server):
    host, port, http_port, datadir = server
    c = server.client()
    value = os.urandom(2 * MB)
    c.set("k", value)
    server.stop()
    blobs = sorted(glob.glob(os.path.join(datadir, "*.blob")))
    assert blobs
    with open(blobs[0], "r+b") as f:
        f.seek(MB)
        b = f.read(1)
        f.seek(MB)
        f.write(bytes([b[0] ^ 0x01]))
    server.start()
    c = server.client()
    with pytest.raises(Exception) as e:
        c.get("k")
    assert "corrupt" in str(e.value).lower()
    # Over HTTP a large value streams: the damage shows as an error status or, once the
    # status line is out, as a body cut short; never as the bytes.
    conn = http.client.HTTPConnection(host, server.http_port, timeout=30)
    conn.request("GET", "/v1/kv/k")
    try:
        r = conn.getresponse()
        body = r.read()
        assert r.status >= 500 and value not in body
    except (http.client.IncompleteRead, ConnectionError):
        pass
    conn.close()
    # A small value is answered whole: the damage is a 5xx.
    c.set("small", b"s" * 200000)
    server.stop()
    with open(sorted(glob.glob(os.path.join(datadir, "*.blob")))[-1], "r+b") as f:
        f.seek(-100, os.SEEK_END)
        b = f.read(1)
        f.seek(-100, os.SEEK_END)
        f.write(bytes([b[0] ^ 0x01]))
    server.start()
    conn = http.client.HTTPConnection(host, server.http_port, timeout=30)
    conn.request("GET", "/v1/kv/small")
    r = conn.getresponse()
    assert r.status >= 500 and b"s" * 1000 not in r.read()


def _http(server, method, path, headers=None, body=None):
    conn = http.client.HTTPConnection(server.host, server.http_port, timeout=60)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r, data


def test_http_range_reads_only_the_range(server):
    value = os.urandom(3 * MB + 11)
    r, _ = _http(server, "PUT", "/v1/kv/big", body=value)
    assert r.status == 200
    r, data = _http(server, "GET", "/v1/kv/big")
    assert r.status == 200 and data == value and r.getheader("Accept-Ranges") == "bytes"
    size = len(value)
    for spec, first, last in [("bytes=0-9", 0, 9), ("bytes=65530-65545", 65530, 65545),
                              ("bytes=%d-" % (size - 5), size - 5, size - 1),
                              ("bytes=-7", size - 7, size - 1),
                              ("bytes=100-%d" % (size + 1000), 100, size - 1),
                              ("bytes=1000000-2999999", 1000000, 2999999)]:
        r, data = _http(server, "GET", "/v1/kv/big", {"Range": spec})
        assert r.status == 206, spec
        assert r.getheader("Content-Range") == "bytes %d-%d/%d" % (first, last, size), spec
        assert data == value[first:last + 1], spec
    r, data = _http(server, "GET", "/v1/kv/big", {"Range": "bytes=%d-" % size})
    assert r.status == 416 and r.getheader("Content-Range") == "bytes */%d" % size
    # Several ranges, another unit or a malformed one: the whole value, as HTTP allows.
    for spec in ["bytes=0-1,5-6", "items=0-1", "bytes=5-2", "bytes=x-"]:
        r, data = _http(server, "GET", "/v1/kv/big", {"Range": spec})
        assert r.status == 200 and data == value, spec
    _http(server, "PUT", "/v1/kv/small", body=b"hello")
    r, data = _http(server, "GET", "/v1/kv/small", {"Range": "bytes=1-3"})
    assert r.status == 206 and data == b"ell"
    # A chunked PUT (no Content-Length) is accepted.
    conn = http.client.HTTPConnection(server.host, server.http_port, timeout=60)
    conn.request("PUT", "/v1/kv/chunked", body=iter([value[:MB], value[MB:]]),
                 encode_chunked=True)
    assert conn.getresponse().status == 200
    conn.close()
    r, data = _http(server, "GET", "/v1/kv/chunked")
    assert data == value


def test_http_head_answers_the_get_headers_without_the_body(server):
    # A small value (in the tree), one in a blob file read whole by GET, one streamed.
    values = {"tiny": b"hello", "blob": os.urandom(200000), "streamed": os.urandom(3 * MB + 5)}
    for key, value in values.items():
        assert _http(server, "PUT", "/v1/kv/" + key, body=value)[0].status == 200
    conn = http.client.HTTPConnection(server.host, server.http_port, timeout=60)
    for key, value in values.items():
        for headers, status, length in [({}, 200, len(value)),
                                        ({"Range": "bytes=1-3"}, 206, 3)]:
            # One connection throughout: a body sent after a HEAD would be read as the
            # next response.
            conn.request("GET", "/v1/kv/" + key, headers=headers)
            get = conn.getresponse()
            body = get.read()
            conn.request("HEAD", "/v1/kv/" + key, headers=headers)
            head = conn.getresponse()
            assert head.read() == b""
            assert get.status == status, key
            assert get.getheader("Content-Length") == str(length), key
            assert body == (value if status == 200 else value[1:4]), key
            # RFC 9110: Range is for GET only; a HEAD describes the whole value.
            assert head.status == 200, key
            assert head.getheader("Content-Length") == str(len(value)), key
            assert head.getheader("Content-Range") is None, key
            for name in ["Content-Type", "Accept-Ranges"]:
                assert head.getheader(name) == get.getheader(name), (key, name)
    conn.request("HEAD", "/v1/kv/absent")
    head = conn.getresponse()
    assert head.status == 404 and head.read() == b"" and int(head.getheader("Content-Length")) > 0
    conn.request("GET", "/v1/kv/tiny")
    assert conn.getresponse().read() == b"hello"
    conn.close()
