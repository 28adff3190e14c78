#!/usr/bin/env python3
"""cairn-server against redis-server 7 under redis-benchmark, for the commands issue 18
added: EVALSHA of a small script, PUBLISH to 50 subscribers, XADD, SETBIT, BITCOUNT and
PFADD. Both servers run side by side in one run (cairn --wal-sync everysec, Redis
appendonly everysec), each test alternating which goes first; prints requests per second,
p50 and p99 of each and the ratio cairn / Redis.

    bench/commands_vs_redis.py                     # 50 clients, pipeline 1, ~4 s per test
    SECONDS_PER_TEST=2 PIPELINE=16 bench/commands_vs_redis.py

Environment: CAIRN_SERVER_BIN (build/bin/cairn-server), REDIS_SERVER, REDIS_BENCHMARK,
SECONDS_PER_TEST (4), CLIENTS (50), PIPELINE (1), IO_THREADS (0: one per core).
"""
import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CAIRN = os.environ.get("CAIRN_SERVER_BIN", str(ROOT / "build/bin/cairn-server"))
REDIS = os.environ.get("REDIS_SERVER", "redis-server")
BENCH = os.environ.get("REDIS_BENCHMARK", "redis-benchmark")
SECONDS = float(os.environ.get("SECONDS_PER_TEST", "4"))
CLIENTS = int(os.environ.get("CLIENTS", "50"))
PIPELINE = int(os.environ.get("PIPELINE", "1"))
IO_THREADS = os.environ.get("IO_THREADS", "0")
SCRIPT = "return redis.call('incr', KEYS[1])"
SHA = "c4dd3d5b3e0f1e0c0b0c3a6ffb7f3a4d3c1ddc4b"  # replaced by SCRIPT LOAD's answer


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(port, *args):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in
                                                      (x.encode() if isinstance(x, str) else x for x in args)))
        return s.recv(65536)


def wait_ready(port):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if command(port, "PING").startswith(b"+PONG"):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server on %d did not start" % port)


class Subscribers:
    """n connections subscribed to a channel, reading (and dropping) what arrives."""

    def __init__(self, port, channel, n):
        self.socks = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(channel), channel.encode()))
            s.recv(1024)
            self.socks.append(s)
        self.stop = False
        self.threads = [threading.Thread(target=self.drain, args=(s,), daemon=True) for s in self.socks]
        for t in self.threads:
            t.start()

    def drain(self, s):
        s.settimeout(0.5)
        while not self.stop:
            try:
                if not s.recv(1 << 16):
                    return
            except socket.timeout:
                continue
            except OSError:
                return

    def close(self):
        self.stop = True
        for s in self.socks:
            s.close()


def bench(port, args, n):
    out = subprocess.run([BENCH, "-p", str(port), "-c", str(CLIENTS), "-n", str(n), "-P", str(PIPELINE),
                          "-r", "1000000", "--csv"] + args, capture_output=True, text=True, timeout=600)
    rows = list(csv.reader(io.StringIO(out.stdout)))
    if len(rows) < 2:
        raise SystemExit("redis-benchmark failed: %s %s" % (out.stdout, out.stderr))
    head, row = rows[0], rows[-1]
    values = dict(zip(head, row))
    return float(values["rps"]), float(values.get("p50_latency_ms", "nan")), float(values.get("p99_latency_ms", "nan"))


def measure(port, args):
    rps, _, _ = bench(port, args, max(2000, CLIENTS * 40))  # calibration
    return bench(port, args, max(5000, int(rps * SECONDS)))


def main():
    for b in (CAIRN, REDIS, BENCH):
        if shutil.which(b) is None and not Path(b).exists():
            raise SystemExit("%s not found" % b)
    work = Path(tempfile.mkdtemp(prefix="cairn-cmds-vs-redis."))
    cport, rport = free_port(), free_port()
    cairn = subprocess.Popen([CAIRN, "--port", str(cport), "--http-port", "0", "--dir", str(work / "cairn"),
                              "--wal-sync", "everysec", "--io-threads", IO_THREADS],
                             stdout=open(work / "cairn.log", "w"), stderr=subprocess.STDOUT)
    redis = subprocess.Popen([REDIS, "--port", str(rport), "--bind", "127.0.0.1", "--dir", str(work),
                              "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""],
                             stdout=open(work / "redis.log", "w"), stderr=subprocess.STDOUT)
    try:
        wait_ready(cport)
        wait_ready(rport)
        shas = {p: command(p, "SCRIPT", "LOAD", SCRIPT).split(b"\r\n")[1].decode() for p in (cport, rport)}
        tests = [
            ("EVALSHA incr", lambda p: ["EVALSHA", shas[p], "1", "counter"]),
            ("PUBLISH to 50 subscribers", lambda p: ["PUBLISH", "news", "a-64-byte-message-" + "x" * 46]),
            ("XADD", lambda p: ["XADD", "stream", "*", "field", "value"]),
            # redis-benchmark pads __rand_int__ with zeros, which a bit offset may not have.
            ("SETBIT (12.5 KB bitmap)", lambda p: ["SETBIT", "bits", "100000", "1"]),
            ("BITCOUNT", lambda p: ["BITCOUNT", "bits"]),
            ("PFADD", lambda p: ["PFADD", "hll", "element:__rand_int__"]),
        ]
        print("clients %d, pipeline %d, %.0f s per test; cairn --wal-sync everysec, Redis appendfsync everysec"
              % (CLIENTS, PIPELINE, SECONDS))
        print("%-28s %12s %12s %7s %14s %14s" % ("test", "cairn rps", "redis rps", "ratio", "p50 c/r ms", "p99 c/r ms"))
        for i, (name, args) in enumerate(tests):
            subs = []
            if name.startswith("PUBLISH"):
                subs = [Subscribers(p, "news", 50) for p in (cport, rport)]
            order = [(cport, "c"), (rport, "r")] if i % 2 == 0 else [(rport, "r"), (cport, "c")]
            result = {}
            for port, who in order:
                result[who] = measure(port, args(port))
            for s in subs:
                s.close()
            (crps, cp50, cp99), (rrps, rp50, rp99) = result["c"], result["r"]
            print("%-28s %12.0f %12.0f %7.2f %14s %14s" % (name, crps, rrps, crps / rrps,
                                                        "%.3f/%.3f" % (cp50, rp50), "%.3f/%.3f" % (cp99, rp99)))
            sys.stdout.flush()
    finally:
        for p in (cairn, redis):
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
