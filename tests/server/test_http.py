"""End-to-end tests of cairn-server's HTTP API with the standard library's http.client."""
import base64
import http.client
import json
import time
import urllib.parse

import pytest

from conftest import in_cluster, put_reply


def call(server, method, path, body=None, headers=None):
    """One request on a fresh connection: (status, headers dict (lower-case names), body)."""
    conn = http.client.HTTPConnection(server.host, server.http_port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def call_json(server, method, path, body=None, headers=None):
    status, hdrs, data = call(server, method, path, body, headers)
    assert hdrs["content-type"] == "application/json", (status, data)
    return status, json.loads(data)


def kv(key):
    """The /v1/kv/ path of a key (str or bytes), every reserved byte percent-encoded."""
    return "/v1/kv/" + urllib.parse.quote(key, safe="")


def batch(server, ops, **extra):
    return call_json(server, "POST", "/v1/batch", json.dumps({"ops": ops, **extra}))


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode())
            .decode()}


# --- /v1/kv/{key} ---------------------------------------------------------------------


def test_put_get_delete_round_trip(server):
    assert put_reply(*call_json(server, "PUT", kv("greeting"), b"hello")) == (200, {"result": "ok"})
    status, hdrs, body = call(server, "GET", kv("greeting"))
    assert (status, body) == (200, b"hello")
    assert hdrs["content-type"] == "application/octet-stream"
    assert server.client().get("greeting") == b"hello"  # the same keyspace as RESP
    server.client().set("from-resp", "r")
    assert call(server, "GET", kv("from-resp"))[2] == b"r"
    assert put_reply(*call_json(server, "PUT", kv("greeting"), b"")) == (200, {"result": "ok"})
    assert call(server, "GET", kv("greeting"))[:3:2] == (200, b"")  # empty value, not missing
    assert call_json(server, "DELETE", kv("greeting")) == (200, {"deleted": 1})
    assert call_json(server, "DELETE", kv("greeting")) == (200, {"deleted": 0})
    assert server.client().exists("greeting") == 0
    status, hdrs, body = call(server, "HEAD", kv("from-resp"))
    assert (status, body) == (200, b"")



def test_head_ignores_range(server):
    """RFC 9110 defines Range for GET only: a HEAD answers 200 with the full length."""
    server.client().set("ranged", b"0123456789")
    for spec in ("bytes=2-5", "bytes=-3", "bytes=100-"):
        status, hdrs, body = call(server, "HEAD", kv("ranged"), headers={"Range": spec})
        assert (status, body) == (200, b""), spec
        assert hdrs["content-length"] == "10", spec
        assert "content-range" not in hdrs, spec
    status, hdrs, body = call(server, "GET", kv("ranged"), headers={"Range": "bytes=2-5"})
    if in_cluster():
        # A cluster's coordinator answers the whole value (RFC 9110 lets a server ignore
        # Range; docs/http-api.md): ranges are read by a single node's engine reader.
        assert (status, body) == (200, b"0123456789")
    else:
        assert (status, body, hdrs["content-range"]) == (206, b"2345", "bytes 2-5/10")


def test_collections_are_409_on_get_and_typed_in_scans(server):
    r = server.client()
    r.hset("h", "f", "v")
    r.rpush("l", "a")
    status, body = call_json(server, "GET", kv("h"))
    assert status == 409
    assert body["error"] == "WRONGTYPE the key holds a hash, not a string"
    status, body = call_json(server, "GET", "/v1/kv?prefix=")
    assert status == 200
    types = {item["key"]: item.get("type") for item in body["items"]}
    assert types == {"h": "hash", "l": "list"}
    assert all("value" not in item for item in body["items"])
    assert call_json(server, "DELETE", kv("h")) == (200, {"deleted": 1})
    assert r.exists("h") == 0


def test_http_writes_invalidate_resp_watch(server):
    r = server.client()
    r.set("w", "1")
    pipe = r.pipeline(transaction=True)
    pipe.watch("w")
    assert put_reply(*call_json(server, "PUT", kv("w"), b"from-http")) == (200, {"result": "ok"})
    pipe.multi()
    pipe.set("w", "from-exec")
    import redis
    with pytest.raises(redis.WatchError):
        pipe.execute()
    assert r.get("w") == b"from-http"


def test_missing_key_is_404_json(server):
    status, body = call_json(server, "GET", kv("nope"))
    assert status == 404
    assert body["status"] == 404 and isinstance(body["error"], str) and body["error"]


def test_databases_by_query_parameter(server):
    assert call_json(server, "PUT", kv("k") + "?db=3", b"three")[0] == 200
    assert call(server, "GET", kv("k"))[0] == 404
    assert call(server, "GET", kv("k") + "?db=3")[2] == b"three"
    assert server.client(db=3).get("k") == b"three"
    assert call_json(server, "GET", kv("k") + "?db=16")[0] == 400
    assert call_json(server, "GET", kv("k") + "?db=x")[0] == 400


def test_bad_requests(server):
    for ttl in ("abc", "0", "-1", "1.5", ""):
        status, body = call_json(server, "PUT", kv("k") + "?ttl=" + ttl, b"v")
        assert (status, body["status"]) == (400, 400), ttl
    assert call(server, "GET", kv("k"))[0] == 404  # nothing was written
    assert call_json(server, "GET", "/v1/kv/%zz")[0] == 400
    assert call_json(server, "GET", "/v1/kv/%4")[0] == 400
    assert call_json(server, "GET", "/v1/kv?limit=-1")[0] == 400
    assert call_json(server, "GET", "/v1/kv?limit=many")[0] == 400
    assert call_json(server, "GET", "/no/such/endpoint")[0] == 404


def test_wrong_methods_are_405(server):
    for method, path in [("POST", kv("k")), ("PATCH", kv("k")), ("PUT", "/v1/kv"),
                         ("DELETE", "/v1/kv"), ("GET", "/v1/batch"), ("PUT", "/v1/batch"),
                         ("POST", "/metrics"), ("DELETE", "/v1/stats"), ("POST", "/healthz")]:
        status, body = call_json(server, method, path, b"x")
        assert (status, body["status"]) == (405, 405), (method, path)


def test_percent_encoded_binary_keys(server):
    every_byte = bytes(range(256))
    value = bytes(reversed(range(256))) * 3
    assert call_json(server, "PUT", kv(every_byte), value)[0] == 200
    assert call(server, "GET", kv(every_byte))[2] == value
    assert server.client().get(every_byte) == value  # the key arrived byte for byte
    for b in (0, ord("/"), ord("?"), ord("%"), ord("+"), ord("#"), 0x80, 0xFF):
        key = b"k" + bytes([b]) + b"z"
        assert call_json(server, "PUT", kv(key), bytes([b]))[0] == 200
        assert server.client().get(key) == bytes([b]), key
    # '+' in a path is a plus, not a space; a space must be %20.
    assert server.client().get(b"k+z") == b"+"
    assert call(server, "GET", "/v1/kv/k+z")[2] == b"+"
    server.client().set(b"a b", b"space")
    assert call(server, "GET", "/v1/kv/a%20b")[2] == b"space"
    assert call_json(server, "DELETE", kv(every_byte)) == (200, {"deleted": 1})
    assert server.client().exists(every_byte) == 0


def test_ttl_expiry_over_http(server):
    assert call_json(server, "PUT", kv("short") + "?ttl=2", b"v")[0] == 200
    assert call_json(server, "PUT", kv("long") + "?ttl=1000", b"v")[0] == 200
    assert 1000 < server.client().pttl("short") <= 2000
    assert 990 <= server.client().ttl("long") <= 1000
    assert call(server, "GET", kv("short"))[2] == b"v"
    items = call_json(server, "GET", "/v1/kv")[1]["items"]
    assert [i["key"] for i in items] == ["long", "short"]
    assert all(i["expire_at_ms"] > time.time() * 1000 for i in items)
    time.sleep(2.2)
    assert call(server, "GET", kv("short"))[0] == 404
    assert [i["key"] for i in call_json(server, "GET", "/v1/kv")[1]["items"]] == ["long"]
    assert server.client().exists("short") == 0
    # PUT without ttl replaces the TTL too (a plain SET).
    assert call_json(server, "PUT", kv("long"), b"w")[0] == 200
    assert server.client().ttl("long") == -1


# --- /v1/batch ------------------------------------------------------------------------


def test_batch_applies_puts_and_deletes(server):
    # One hash tag for every key of a batch: a cluster applies a batch on one tag's replicas.
    server.client().set("{t}old", "x")
    status, body = batch(server, [
        {"op": "put", "key": "{t}a", "value": "1"},
        {"op": "put", "key": "{t}b", "value": "2", "ttl": 100},
        {"op": "put", "key_base64": base64.b64encode(b"{t}\x00\xff").decode(),
         "value_base64": base64.b64encode(b"\xfe").decode()},
        {"op": "delete", "key": "{t}old"},
        {"op": "delete", "key": "{t}never-existed"},
    ])
    assert (status, body) == (200, {"applied": 5})
    r = server.client()
    assert r.mget("{t}a", "{t}b", b"{t}\x00\xff", "{t}old") == [b"1", b"2", b"\xfe", None]
    assert 90 <= r.ttl("{t}b") <= 100 and r.ttl("{t}a") == -1
    assert batch(server, [{"op": "put", "key": "in3", "value": "v"}], db=3)[0] == 200
    assert server.client(db=3).get("in3") == b"v" and r.get("in3") is None
    assert batch(server, []) == (200, {"applied": 0})


def test_batch_with_an_invalid_op_applies_nothing(server):
    r = server.client()
    r.set("keep", "original")
    bad_batches = [
        [{"op": "put", "key": "x", "value": "1"}, {"op": "frobnicate", "key": "y"}],
        [{"op": "delete", "key": "keep"}, {"op": "put", "key": "y"}],  # no value
        [{"op": "put", "key": "x", "value": "1"}, {"op": "put", "key": "y", "value": "2",
                                                  "ttl": -5}],
        [{"op": "put", "key": "x", "value": "1"}, {"op": "put", "value": "2"}],  # no key
        [{"op": "put", "key": "x", "value": "1"}, "not an object"],
        [{"op": "delete", "key": "keep"}, {"op": "put", "key": "x", "value": 7}],
    ]
    for ops in bad_batches:
        status, body = batch(server, ops)
        assert (status, body["status"]) == (400, 400), ops
        assert r.get("keep") == b"original" and r.exists("x", "y") == 0, ops
    assert batch(server, [{"op": "put", "key": "x", "value": "1"}], db=99)[0] == 400
    assert r.exists("x") == 0


def test_batch_bad_json_is_400(server):
    for body in (b"{not json", b"", b"[]", b'{"ops": 5}', b'"ops"', b'{"ops": [] '):
        status, reply = call_json(server, "POST", "/v1/batch", body)
        assert (status, reply["status"]) == (400, 400), body
    assert server.client().dbsize() == 0


def test_writes_over_maxmemory_are_507(server):
    server.client().set("k", "v")
    server.client().config_set("maxmemory", 1)
    assert call_json(server, "PUT", kv("x"), b"v")[0] == 507
    assert batch(server, [{"op": "put", "key": "x", "value": "v"}])[0] == 507
    assert call(server, "GET", kv("k"))[::2] == (200, b"v")  # reads still served
    assert batch(server, [{"op": "delete", "key": "k"}]) == (200, {"applied": 1})
    assert server.client().dbsize() == 0


# --- /v1/kv range scan ----------------------------------------------------------------


def test_scan_pagination_with_limit_and_next(server):
    r = server.client()
    keys = ["item:%02d" % i for i in range(25)]
    for k in keys:
        r.set(k, "v-" + k)
    r.set("aaa", "before")
    r.set("zzz", "after")
    got, start, pages = [], "item:", 0
    while True:
        q = urllib.parse.urlencode({"prefix": "item:", "start": start, "limit": 10})
        status, page = call_json(server, "GET", "/v1/kv?" + q)
        assert status == 200
        assert page["count"] == len(page["items"]) <= 10
        assert all(i["value"] == "v-" + i["key"] for i in page["items"])
        got += [i["key"] for i in page["items"]]
        pages += 1
        if "next" not in page:
            break
        start = page["next"]
    assert pages == 3 and got == keys
    # start inclusive, end exclusive; values=false leaves values out.
    q = urllib.parse.urlencode({"start": "item:05", "end": "item:08", "values": "false"})
    page = call_json(server, "GET", "/v1/kv?" + q)[1]
    assert page["items"] == [{"key": "item:05"}, {"key": "item:06"}, {"key": "item:07"}]
    everything = call_json(server, "GET", "/v1/kv?limit=1000")[1]
    assert everything["count"] == 27 and "next" not in everything
    assert everything["items"][0]["key"] == "aaa" and everything["items"][-1]["key"] == "zzz"
    assert call_json(server, "GET", "/v1/kv?limit=0")[1]["count"] == 0


def test_scan_shows_non_utf8_as_base64(server):
    r = server.client()
    r.set(b"bin\xff", b"\x80\x81")
    r.set("text", "caf\u00e9")
    items = call_json(server, "GET", "/v1/kv")[1]["items"]
    assert items == [{"key_base64": base64.b64encode(b"bin\xff").decode(),
                      "value_base64": base64.b64encode(b"\x80\x81").decode()},
                     {"key": "text", "value": "caf\u00e9"}]
    page = call_json(server, "GET", "/v1/kv?limit=1&start=bin")[1]
    assert page["next"] == "text"
    page = call_json(server, "GET", "/v1/kv?limit=0&start=a")[1]
    assert page["items"] == [] and base64.b64decode(page["next_base64"]) == b"bin\xff"


def test_scan_base64_for_invalid_utf8_that_looks_valid(server):
    r = server.client()
    for i, bad in enumerate([b"\xc0\x80", b"\xed\xa0\x80", b"\xf5\x80\x80\x80"]):
        r.set(b"k%d" % i, bad)
    status, page = call_json(server, "GET", "/v1/kv")
    assert status == 200
    assert [base64.b64decode(i["value_base64"]) for i in page["items"]] == \
        [b"\xc0\x80", b"\xed\xa0\x80", b"\xf5\x80\x80\x80"]


# --- /metrics, /v1/stats, /healthz ----------------------------------------------------


def test_metrics_prometheus_text(server):
    r = server.client()
    for i in range(20):
        r.set("m%d" % i, i)
    r.get("m1")
    status, hdrs, body = call(server, "GET", "/metrics")
    assert status == 200 and hdrs["content-type"].startswith("text/plain")
    text = body.decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    assert "# TYPE cairn_commands_processed_total counter" in text
    assert values["cairn_commands_processed_total"] >= 21
    assert values['cairn_command_calls_total{command="set"}'] == 20
    assert values['cairn_command_calls_total{command="get"}'] == 1
    assert values['cairn_command_duration_seconds_bucket{command="set",le="+Inf"}'] == 20
    assert values['cairn_command_duration_seconds_count{command="set"}'] == 20
    assert values["cairn_connected_clients"] >= 1


def test_stats_is_json(server):
    server.client().set("k", "v")
    server.client().get("missing")
    call(server, "GET", kv("k"))
    status, stats = call_json(server, "GET", "/v1/stats")
    assert status == 200
    assert stats["commands"]["set"]["calls"] == 1
    assert stats["commands"]["get"]["calls"] == 1
    assert stats["keyspace_hits"] >= 1 and stats["keyspace_misses"] >= 1
    assert stats["commands_processed"] >= 2 and isinstance(stats["used_memory"], int)
    assert call_json(server, "GET", "/healthz") == (200, {"status": "ok"})


# --- authentication -------------------------------------------------------------------


@pytest.mark.server_args("--requirepass", "pw", "--users", "alice:wonder")
def test_http_auth(server):
    server.client(password="pw").set("k", "v")
    status, hdrs, _ = call(server, "GET", kv("k"))
    assert status == 401 and hdrs["www-authenticate"].startswith("Basic")
    for headers in (basic("default", "nope"), basic("alice", "pw"), basic("bob", "wonder"),
                    {"Authorization": "Bearer nope"}, {"Authorization": "Bearer "},
                    {"Authorization": "Basic !!!notbase64"}, {"Authorization": "pw"}):
        for method, path in (("GET", kv("k")), ("PUT", kv("k")), ("GET", "/v1/kv"),
                             ("POST", "/v1/batch"), ("GET", "/metrics"), ("GET", "/v1/stats")):
            status, body = call_json(server, method, path, b"changed", headers)
            assert (status, body["status"]) == (401, 401), (headers, method, path)
    assert server.client(password="pw").get("k") == b"v"  # no write got through
    for headers in (basic("default", "pw"), basic("alice", "wonder"),
                    {"Authorization": "Bearer pw"}):
        assert call(server, "GET", kv("k"), headers=headers)[::2] == (200, b"v"), headers
        assert call(server, "GET", "/metrics", headers=headers)[0] == 200
    assert call_json(server, "PUT", kv("k"), b"new", {"Authorization": "Bearer pw"})[0] == 200
    assert server.client(password="pw").get("k") == b"new"
    assert call(server, "GET", "/healthz")[0] == 200  # liveness probes need no credentials


@pytest.mark.server_args("--requirepass", "pw")
def test_credentials_are_checked_before_the_body_is_read(server):
    # A client without credentials announces a 500 MB body and sends a few bytes of it:
    # the answer is 401 at once, without the server waiting for (or buffering) the body.
    import socket
    s = socket.create_connection((server.host, server.http_port), timeout=5)
    s.sendall(b"PUT /v1/kv/big HTTP/1.1\r\nHost: x\r\nContent-Length: 500000000\r\n\r\nabc")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    assert data.startswith(b"HTTP/1.1 401"), data
    s.close()
    status, _, _ = call(server, "PUT", kv("small"), b"v",
                     headers={"Authorization": "Bearer pw"})
    assert status == 200
