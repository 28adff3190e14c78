#!/usr/bin/python3
"""Writes and reads N large values over RESP (redis-py) and HTTP (PUT/GET /v1/kv/{key})
against a fresh cairn-server, sampling the server's peak RSS (VmHWM of /proc/PID/status).

    /usr/bin/python3 bench/large_values.py [--count 10] [--mb 100] [--server build/bin/cairn-server]
    /usr/bin/python3 bench/large_values.py --redis       # the same against redis-server

Prints one line per phase: elapsed seconds, MB/s and the peak RSS so far. The values are
generated once (a repeating pattern with the key mixed in) and streamed from the client side
in chunks, so the client's own memory stays small.
"""
import argparse
import hashlib
import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHUNK = 1 << 20


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def chunk_for(key, i):
    """Chunk i of key's value: deterministic, distinct per key and chunk, 1 MiB."""
    seed = hashlib.sha256(("%s/%d" % (key, i)).encode()).digest()
    return (seed * (CHUNK // len(seed)))[:CHUNK]


def value_chunks(key, size):
    n = size // CHUNK
    for i in range(n):
        yield chunk_for(key, i)
    rest = size - n * CHUNK
    if rest:
        yield chunk_for(key, n)[:rest]


def digest_of(key, size):
    h = hashlib.sha256()
    for c in value_chunks(key, size):
        h.update(c)
    return h.hexdigest()


def resp_set(host, port, key, size):
    """SET key <size bytes>, sent in 1 MiB chunks (redis-py would build the whole value)."""
    s = socket.create_connection((host, port), timeout=120)
    kb = key.encode()
    s.sendall(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n" % (len(kb), kb, size))
    for c in value_chunks(key, size):
        s.sendall(c)
    s.sendall(b"\r\n")
    reply = s.recv(64)
    s.close()
    if reply != b"+OK\r\n":
        raise RuntimeError("SET %s: %r" % (key, reply))


def resp_get_digest(host, port, key):
    """GET key, hashing the bulk reply as it arrives; returns (length, sha256 hex)."""
    s = socket.create_connection((host, port), timeout=120)
    kb = key.encode()
    s.sendall(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(kb), kb))
    buf = b""
    while b"\r\n" not in buf:
        buf += s.recv(65536)
    head, buf = buf.split(b"\r\n", 1)
    if not head.startswith(b"$"):
        raise RuntimeError("GET %s: %r" % (key, head))
    n = int(head[1:])
    h = hashlib.sha256()
    got = 0
    while True:
        take = buf[:n - got]
        h.update(take)
        got += len(take)
        if got == n:
            break
        buf = s.recv(1 << 20)
        if not buf:
            raise RuntimeError("GET %s: connection closed after %d bytes" % (key, got))
    s.close()
    return n, h.hexdigest()


def http_put(host, port, key, size):
    c = http.client.HTTPConnection(host, port, timeout=120)
    c.putrequest("PUT", "/v1/kv/" + key)
    c.putheader("Content-Length", str(size))
    c.endheaders()
    for ch in value_chunks(key, size):
        c.send(ch)
    r = c.getresponse()
    body = r.read()
    c.close()
    if r.status // 100 != 2:
        raise RuntimeError("PUT %s: %d %r" % (key, r.status, body[:200]))


def http_get_digest(host, port, key):
    c = http.client.HTTPConnection(host, port, timeout=120)
    c.request("GET", "/v1/kv/" + key)
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError("GET %s: %d %r" % (key, r.status, r.read()[:200]))
    h = hashlib.sha256()
    n = 0
    while True:
        b = r.read(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    c.close()
    return n, h.hexdigest()


def run(args):
    tmp = tempfile.mkdtemp(prefix="large_values.")
    log = open(os.path.join(tmp, "server.log"), "wb")
    if args.redis:
        port = free_port()
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--save", "",
                                 "--appendonly", "no", "--dir", tmp], stdout=log, stderr=log)
        http_port = None
        wait_port(port)
    else:
        proc = subprocess.Popen([args.server, "--dir", os.path.join(tmp, "data"), "--bind",
                                 "127.0.0.1", "--port", "auto", "--http-port", "auto",
                                 *args.server_args], stdout=log, stderr=log)
        port, http_port = wait_ready(os.path.join(tmp, "server.log"), proc)
    size = args.mb << 20
    try:
        digests = {}
        t0 = time.monotonic()
        report = []

        def phase(name, fn):
            start = time.monotonic()
            fn()
            el = time.monotonic() - start
            mb = args.count * args.mb
            line = "%-10s %6.1f s %7.1f MB/s  peak RSS %5d MB" % (
                name, el, mb / el, vm_hwm_kb(proc.pid) // 1024)
            print(line, flush=True)
            report.append(line)

        def keys(prefix):
            return ["%s:%d" % (prefix, i) for i in range(args.count)]

        for k in keys("resp") + keys("http"):
            digests[k] = digest_of(k, size)
        print("server pid %d, %d values of %d MB, idle peak RSS %d MB" %
              (proc.pid, args.count, args.mb, vm_hwm_kb(proc.pid) // 1024), flush=True)

        def check(k, got):
            if got != (size, digests[k]):
                raise RuntimeError("%s: read back %d bytes, wrong content" % (k, got[0]))

        phase("resp-set", lambda: [resp_set("127.0.0.1", port, k, size) for k in keys("resp")])
        phase("resp-get", lambda: [check(k, resp_get_digest("127.0.0.1", port, k))
                                   for k in keys("resp")])
        if http_port:
            phase("http-put", lambda: [http_put("127.0.0.1", http_port, k, size)
                                       for k in keys("http")])
            phase("http-get", lambda: [check(k, http_get_digest("127.0.0.1", http_port, k))
                                       for k in keys("http")])
        print("total %.1f s, server peak RSS %d MB" % (time.monotonic() - t0,
                                                       vm_hwm_kb(proc.pid) // 1024))
        return vm_hwm_kb(proc.pid) // 1024
    finally:
        proc.terminate()
        proc.wait()
        log.close()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port):
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("server not listening")


def wait_ready(log_path, proc):
    ready = re.compile(r"ready: RESP on [^ ]+:(\d+), HTTP on [^ ]+:(\d+)")
    for _ in range(3000):
        with open(log_path, "rb") as f:
            m = ready.search(f.read().decode(errors="replace"))
        if m:
            return int(m.group(1)), int(m.group(2))
        if proc.poll() is not None:
            raise RuntimeError("server exited: " + open(log_path).read())
        time.sleep(0.01)
    raise RuntimeError("server not ready")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--mb", type=int, default=100)
    p.add_argument("--server", default=os.path.join(ROOT, "build", "bin", "cairn-server"))
    p.add_argument("--redis", action="store_true")
    p.add_argument("--keep", action="store_true")
    p.add_argument("server_args", nargs="*")
    a = p.parse_args()
    run(a)
