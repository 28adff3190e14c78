#!/usr/bin/env python3
"""Crash harness for cairn-server: kill -9 (or SIGTERM) a server under concurrent
pipelined load, restart it on the same directory, and check every key against a model
of the acknowledged operations.

    python3 tests/crash/server_crash.py --cycles 500 --wal-sync always [--seed N] [--json FILE]

Each cycle:
  1. starts cairn-server on the data directory (fresh on the first cycle) with --wal-sync;
  2. runs --clients connections (one thread each), each sending pipelined batches of
     1-16 commands: SET, SET PX (long: hours; short: 0.2-3 s), GET, DEL, INCR, HSET, HDEL,
     RPUSH, LPOP, SADD, SREM, ZADD, ZREM; some batches are runs of plain SETs (the server
     applies those as one write). Every client has its own key prefix, so the sequence of
     its acknowledged operations determines the state of its keys. An operation is
     applied to the client's model when its reply arrives (and the reply is checked
     against the model: INCR's value, LPOP's element, HSET's count ...);
  3. after a random 50-500 ms of load, sends SIGKILL (or SIGTERM, which must exit 0) and
     waits for the process to end; whatever replies were already in the client sockets
     count as acknowledged, the rest of each client's last batch is "in flight";
  4. restarts the server on the same directory and reads every key of every client
     (GET and PTTL, HGETALL, LRANGE 0 -1, SMEMBERS, ZRANGE 0 -1 WITHSCORES) and SCANs for
     keys that should not exist.

Verdict per key: with no operation in flight on it, it must equal the model exactly; with
operations in flight it must equal the model after some prefix of them. Across the keys
of one client the prefixes must agree (a connection's commands are applied in order, so a
later command cannot have landed without the earlier ones). Keys with a long TTL must
still have one (PTTL within what the elapsed time allows); keys with a short TTL must be
present with their value before their deadline, absent after it, either in between.

The same zero-loss check applies in every sync mode: the server hands every write to the
OS before replying (docs/architecture.md, "RESP request path"), so a process crash loses
nothing acknowledged even with --wal-sync none; only a power failure could.

The model (and the directory) carries over from one cycle to the next. A run stops after
the first cycle with a violation (unless --keep-going), keeps the directory and the server
log, prints each violation with the key, the expected and observed states, and the last
operations on the key, and exits 1.

Reproducibility: --seed fixes every random choice (operations, batch sizes, delays), but
how far the load gets before each kill depends on timing, so a seed does not replay a run
exactly.
"""
import argparse
import collections
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER_BIN = os.environ.get("CAIRN_SERVER_BIN", os.path.join(ROOT, "build", "bin", "cairn-server"))
HOST = "127.0.0.1"
READY = re.compile(r"ready: RESP on [^ ]+:(\d+), HTTP on [^ ]+:(\d+)")

LONG_PX = 6 * 3600 * 1000     # never expires during a run
SHORT_PX = (200, 3000)        # expires during the run, often across a restart
TTL_SLACK = 0.05              # seconds: clock granularity between us and the server
MAX_BATCH = 16


# --------------------------------------------------------------------------- RESP client

class RespError(str):
    """An error reply."""


class ConnectionDead(Exception):
    pass


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Resp:
    """A RESP2 connection; bulk strings decode to str."""

    def __init__(self, host, port, timeout=30.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise ConnectionDead(repr(e))

    def _fill(self):
        try:
            chunk = self.sock.recv(1 << 20)
        except OSError as e:  # ECONNRESET, timeout
            raise ConnectionDead(repr(e))
        if not chunk:
            raise ConnectionDead("EOF")
        self.buf += chunk

    def _line(self):
        start = 0
        while True:
            i = self.buf.find(b"\r\n", start)
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            start = max(0, len(self.buf) - 1)
            self._fill()

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data = bytes(self.buf[:n])
        del self.buf[:n + 2]
        return data

    def read(self):
        """One whole reply. A reply cut short by the connection's end raises ConnectionDead
        (so it never counts as an acknowledgement). Parsing is all-or-nothing: the buffer is
        only consumed as the reply is completed, and a dead connection ends its use."""
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode(errors="surrogateescape")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise AssertionError("unexpected RESP type in %r" % line)

    def pipeline(self, commands):
        self.send(b"".join(encode(c) for c in commands))
        return [self.read() for _ in commands]


# --------------------------------------------------------------------------- the server

class Server:
    """cairn-server over one data directory, on kernel-chosen ports."""

    def __init__(self, datadir, log_path, extra_args=(), server_bin=None):
        self.datadir = str(datadir)
        self.log_path = str(log_path)
        self.extra_args = list(extra_args)
        self.server_bin = server_bin or SERVER_BIN
        self.proc = None
        self.port = None

    def start(self, wal_sync, timeout=60.0):
        assert self.proc is None
        log = open(self.log_path, "ab")
        log.write(b"=== harness: starting with --wal-sync %s\n" % wal_sync.encode())
        log.flush()
        offset = log.tell()
        self.proc = subprocess.Popen(
            [self.server_bin, "--dir", self.datadir, "--bind", HOST, "--port", "auto",
             "--http-port", "auto", "--wal-sync", wal_sync, *self.extra_args],
            stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                m = READY.search(f.read().decode(errors="replace"))
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                code, self.proc = self.proc.returncode, None
                raise RuntimeError("cairn-server exited with status %d before ready:\n%s"
                                   % (code, self.log_tail()))
            if time.monotonic() > deadline:
                raise RuntimeError("cairn-server not ready after %ss:\n%s"
                                   % (timeout, self.log_tail()))
            time.sleep(0.005)
        while True:
            try:
                c = Resp(HOST, self.port, timeout=5)
                reply = c.pipeline([["PING"]])[0]
                c.close()
                if reply == "PONG":
                    return
            except (OSError, ConnectionDead):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("cairn-server does not answer PING:\n" + self.log_tail())
            time.sleep(0.01)

    def signal_and_wait(self, sig, timeout=60.0):
        """Sends sig and waits for the exit; returns the exit status (negative: signal)."""
        assert self.proc is not None
        os.kill(self.proc.pid, sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        self.proc = None
        return code

    def stop_quietly(self):
        if self.proc is not None:
            self.signal_and_wait(signal.SIGTERM)

    def log_tail(self, n=4000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-n:]
        except OSError:
            return ""


# --------------------------------------------------------------------------- the model
#
# States (None or an empty container: the key does not exist):
#   str   (value, ttl)  ttl None, or (px, t_send, t_ack): the server set the deadline
#                       between t_send + px and t_ack + px (wall clock, seconds)
#   tmp   (value, deadline_min, deadline_max)
#   cnt   int
#   hash  dict field -> value
#   list  tuple
#   set   frozenset
#   zset  dict member -> score (float)

KINDS = ("str", "tmp", "cnt", "hash", "list", "set", "zset")
POOL = {"str": 10, "tmp": 4, "cnt": 5, "hash": 5, "list": 5, "set": 5, "zset": 5}
FIELDS = ["f%d" % i for i in range(8)]
MEMBERS = ["m%d" % i for i in range(12)]
ANY = "<any>"
WRITES = frozenset(["SET", "DEL", "INCR", "HSET", "HDEL", "RPUSH", "LPOP", "SADD", "SREM",
                    "ZADD", "ZREM"])

# (weight, kind, command)
MIX = [(14, "str", "SET"), (6, "str", "SETPX"), (4, "str", "GET"), (3, "str", "DEL"),
       (4, "tmp", "SETPX"), (1, "tmp", "DEL"),
       (12, "cnt", "INCR"), (1, "cnt", "DEL"),
       (8, "hash", "HSET"), (5, "hash", "HDEL"), (1, "hash", "DEL"),
       (6, "list", "RPUSH"), (6, "list", "LPOP"), (1, "list", "DEL"),
       (7, "set", "SADD"), (5, "set", "SREM"), (1, "set", "DEL"),
       (7, "zset", "ZADD"), (5, "zset", "ZREM"), (1, "zset", "DEL")]
MIX_CUM = []
_total = 0
for _w, _k, _c in MIX:
    _total += _w
    MIX_CUM.append(_total)
_pad_rng = random.Random(0)
PAD = "".join(_pad_rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12000))


class Op:
    __slots__ = ("seq", "cycle", "kind", "key", "name", "args", "arg", "extra", "t_send",
                 "t_ack", "status", "reply")

    def __init__(self, seq, cycle, kind, key, name, args, arg=None, extra=None):
        self.seq, self.cycle, self.kind, self.key, self.name = seq, cycle, kind, key, name
        self.args, self.arg, self.extra = args, arg, extra
        self.t_send = self.t_ack = None
        self.status = "sent"
        self.reply = None

    def describe(self):
        args = [a if len(a) <= 40 else a[:37] + "...(%d)" % len(a) for a in map(str, self.args)]
        return "cycle %d #%d %-9s %s%s" % (self.cycle, self.seq, self.status, " ".join(args),
                                           "" if self.status != "acked" else
                                           " -> %s" % short(self.reply))


def short(v, n=200):
    s = repr(v)
    return s if len(s) <= n else s[:n] + "...(%d chars)" % len(s)


def is_empty(kind, state):
    return state is None or (kind in ("hash", "list", "set", "zset") and not state)


def tmp_alive(state, t0, t1):
    """Whether a tmp key holds its value over the interval [t0, t1]: True, False, or None
    when the deadline may fall inside."""
    if state is None:
        return False
    _, dmin, dmax = state
    if t1 < dmin - TTL_SLACK:
        return True
    if t0 > dmax + TTL_SLACK:
        return False
    return None


def apply_op(op, state, t_ack):
    """Returns (new state, expected reply); the expected reply is ANY when timing decides."""
    k, name = op.kind, op.name
    if name == "DEL":
        if k == "tmp":
            alive = tmp_alive(state, op.t_send, t_ack)
            return None, ANY if alive is None else int(alive)
        return None, int(not is_empty(k, state))
    if k == "str":
        if name == "SET":
            return (op.arg, None), "OK"
        if name == "SETPX":
            return (op.arg, (op.extra, op.t_send, t_ack)), "OK"
        if name == "GET":
            return state, None if state is None else state[0]
    elif k == "tmp":
        if name == "SETPX":
            return (op.arg, op.t_send + op.extra / 1000.0, t_ack + op.extra / 1000.0), "OK"
    elif k == "cnt":
        if name == "INCR":
            v = (state or 0) + 1
            return v, v
    elif k == "hash":
        d = state or {}
        if name == "HSET":
            new = dict(d)
            new[op.arg] = op.extra
            return new, int(op.arg not in d)
        if name == "HDEL":
            if op.arg not in d:
                return d, 0
            new = dict(d)
            del new[op.arg]
            return new, 1
    elif k == "list":
        lst = state or ()
        if name == "RPUSH":
            return lst + (op.arg,), len(lst) + 1
        if name == "LPOP":
            return (lst[1:], lst[0]) if lst else (lst, None)
    elif k == "set":
        s = state or frozenset()
        if name == "SADD":
            return s | {op.arg}, int(op.arg not in s)
        if name == "SREM":
            return s - {op.arg}, int(op.arg in s)
    elif k == "zset":
        d = state or {}
        if name == "ZADD":
            new = dict(d)
            new[op.arg] = op.extra
            return new, int(op.arg not in d)
        if name == "ZREM":
            if op.arg not in d:
                return d, 0
            new = dict(d)
            del new[op.arg]
            return new, 1
    raise AssertionError("no model for %s %s" % (k, name))


def reply_ok(op, expected, reply, state_before):
    if isinstance(reply, RespError):
        return False
    if expected is ANY:
        if op.kind == "tmp" and op.name == "DEL":
            return reply in (0, 1)
        return True
    return reply == expected


def read_commands(kind, key):
    if kind in ("str", "tmp"):
        return [["GET", key], ["PTTL", key]]
    if kind == "cnt":
        return [["GET", key]]
    if kind == "hash":
        return [["HGETALL", key]]
    if kind == "list":
        return [["LRANGE", key, "0", "-1"]]
    if kind == "set":
        return [["SMEMBERS", key]]
    return [["ZRANGE", key, "0", "-1", "WITHSCORES"]]


def observe(kind, replies):
    """The observed state (in the model's terms, plus PTTL for strings) from the replies of
    read_commands, or raises ValueError with a description of a malformed reply."""
    for r in replies:
        if isinstance(r, RespError):
            raise ValueError("error reply %r" % r)
    r = replies[0]
    if kind in ("str", "tmp"):
        return (r, replies[1])
    if kind == "cnt":
        return None if r is None else int(r)
    if kind == "hash":
        if len(r) % 2:
            raise ValueError("odd HGETALL reply")
        return {r[i]: r[i + 1] for i in range(0, len(r), 2)}
    if kind == "list":
        return tuple(r)
    if kind == "set":
        if len(set(r)) != len(r):
            raise ValueError("SMEMBERS with duplicates: %r" % r)
        return frozenset(r)
    if len(r) % 2:
        raise ValueError("odd ZRANGE WITHSCORES reply")
    pairs = [(r[i], float(r[i + 1])) for i in range(0, len(r), 2)]
    if pairs != sorted(pairs, key=lambda p: (p[1], p[0].encode(errors="surrogateescape"))):
        raise ValueError("ZRANGE out of (score, member) order: %r" % pairs)
    d = dict(pairs)
    if len(d) != len(pairs):
        raise ValueError("ZRANGE with duplicate members: %r" % pairs)
    return d


def matches(kind, state, obs, tv0, tv1):
    """Whether the observed state (read between tv0 and tv1) is consistent with state."""
    if kind == "str":
        value, pttl = obs
        if state is None:
            return value is None and pttl == -2
        if value != state[0]:
            return False
        ttl = state[1]
        if ttl is None:
            return pttl == -1
        px, t_send, t_ack = ttl
        # The server's deadline lies in [t_send + px, t_ack + px]; PTTL is read in [tv0, tv1].
        lo = (t_send + px / 1000.0 - tv1 - TTL_SLACK) * 1000
        hi = (t_ack + px / 1000.0 - tv0 + TTL_SLACK) * 1000
        return pttl > 0 and lo <= pttl <= hi
    if kind == "tmp":
        value, pttl = obs
        alive = tmp_alive(state, tv0, tv1)
        if value is None:
            return alive is not True and pttl == -2
        if alive is False or value != state[0]:
            return False
        if pttl == -2:  # expired between the GET and the PTTL
            return alive is None
        return pttl > 0 and pttl <= (state[2] - tv0 + TTL_SLACK) * 1000
    if is_empty(kind, state):
        return is_empty(kind, obs)
    return state == obs


def state_from_observation(kind, obs, now):
    """A model state for an observed key (only used to go on after a violation)."""
    if kind == "str":
        value, pttl = obs
        if value is None:
            return None
        return (value, None if pttl < 0 else (pttl, now - 1.0, now))
    if kind == "tmp":
        value, pttl = obs
        if value is None:
            return None
        d = now + max(pttl, 0) / 1000.0
        return (value, d - 0.1, d + 0.1)
    return None if is_empty(kind, obs) else obs


def show_state(kind, state):
    if kind == "str" and state is not None:
        value, ttl = state
        return "%s%s" % (short(value), "" if ttl is None else " (PX %d)" % ttl[0])
    if kind == "tmp" and state is not None:
        return "%s (deadline in [%.3f, %.3f])" % (short(state[0]), state[1], state[2])
    if kind == "set" and state is not None:
        return short(sorted(state))
    return short(state)


def show_obs(kind, obs):
    if kind in ("str", "tmp"):
        return "%s (PTTL %s)" % (short(obs[0]), obs[1])
    if kind == "set":
        return short(sorted(obs))
    return short(obs)


# --------------------------------------------------------------------------- one client

class Client:
    """One connection's key space, model and load generator."""

    def __init__(self, cid, seed, run_tag):
        self.cid = cid
        self.prefix = "%s:c%d:" % (run_tag, cid)
        self.rng = random.Random(seed)
        self.keys = {kind: [self.prefix + "%s:%d" % (kind, i) for i in range(POOL[kind])]
                     for kind in KINDS}
        self.kind_of = {key: kind for kind, keys in self.keys.items() for key in keys}
        self.model = {key: None for key in self.kind_of}
        self.history = {key: collections.deque(maxlen=8) for key in self.kind_of}
        self.seq = 0
        self.cycle = 0
        self.in_flight = []
        self.acked = 0
        self.acked_writes = 0
        self.reply_violations = []
        self.error = None

    def new_op(self, kind=None, name=None):
        rng = self.rng
        if kind is None:
            x = rng.randrange(MIX_CUM[-1])
            for i, c in enumerate(MIX_CUM):
                if x < c:
                    _, kind, name = MIX[i]
                    break
        key = rng.choice(self.keys[kind])
        self.seq += 1
        seq = self.seq
        tag = "%d.%d.%d" % (self.cid, self.cycle, seq)
        if name == "SET" or name == "SETPX":
            r = rng.random()
            n = rng.randrange(0, 32) if r < 0.8 else (rng.randrange(100, 1000) if r < 0.95
                                                      else rng.randrange(2000, 9000))
            off = rng.randrange(0, len(PAD) - n + 1)
            value = tag + ":" + PAD[off:off + n]
            if name == "SET":
                return Op(seq, self.cycle, kind, key, name, ["SET", key, value], value)
            px = LONG_PX if kind == "str" else rng.randrange(*SHORT_PX)
            return Op(seq, self.cycle, kind, key, name, ["SET", key, value, "PX", str(px)],
                      value, px)
        if name in ("GET", "DEL", "INCR", "LPOP"):
            return Op(seq, self.cycle, kind, key, name, [name, key])
        if name == "HSET":
            f = rng.choice(FIELDS)
            return Op(seq, self.cycle, kind, key, name, ["HSET", key, f, tag], f, tag)
        if name == "HDEL":
            f = rng.choice(FIELDS)
            return Op(seq, self.cycle, kind, key, name, ["HDEL", key, f], f)
        if name == "RPUSH":
            return Op(seq, self.cycle, kind, key, name, ["RPUSH", key, tag], tag)
        if name in ("SADD", "SREM", "ZREM"):
            m = rng.choice(MEMBERS)
            return Op(seq, self.cycle, kind, key, name, [name, key, m], m)
        if name == "ZADD":
            m = rng.choice(MEMBERS)
            score = rng.randrange(-200, 200) / 4.0
            return Op(seq, self.cycle, kind, key, name, ["ZADD", key, repr(score), m], m, score)
        raise AssertionError(name)

    def batch(self):
        n = self.rng.randint(1, MAX_BATCH)
        if self.rng.random() < 0.2:  # a run of plain SETs: the server applies it as one write
            return [self.new_op("str", "SET") for _ in range(n)]
        return [self.new_op() for _ in range(n)]

    def run_load(self, port, stop):
        """Sends batches until the connection dies (or stop is set); ops whose replies
        arrived are applied to the model, the rest stay in self.in_flight."""
        try:
            conn = Resp(HOST, port)
        except OSError as e:
            self.error = "connect: %r" % e
            return
        try:
            while not stop.is_set():
                ops = self.batch()
                t = time.time()
                for op in ops:
                    op.t_send = t
                    self.history[op.key].append(op)
                self.in_flight = ops
                try:
                    conn.send(b"".join(encode(op.args) for op in ops))
                except ConnectionDead:
                    return
                for i, op in enumerate(ops):
                    try:
                        reply = conn.read()
                    except ConnectionDead:
                        self.in_flight = ops[i:]
                        return
                    self.ack(op, reply, time.time())
                self.in_flight = []
        except Exception as e:  # a harness bug: report it rather than hang the cycle
            import traceback
            self.error = traceback.format_exc()
        finally:
            conn.close()

    def ack(self, op, reply, t_ack):
        op.t_ack, op.status, op.reply = t_ack, "acked", reply
        before = self.model[op.key]
        after, expected = apply_op(op, before, t_ack)
        if not reply_ok(op, expected, reply, before):
            self.reply_violations.append({
                "kind": "wrong reply", "key": op.key, "command": " ".join(map(str, op.args)),
                "expected": short(expected), "got": short(reply),
                "model before": show_state(op.kind, before),
                "last ops": [o.describe() for o in self.history[op.key]]})
        self.model[op.key] = after
        self.acked += 1
        if op.name in WRITES:
            self.acked_writes += 1


# --------------------------------------------------------------------------- the harness

class Harness:
    def __init__(self, workdir, seed, clients=4, io_threads=2, write_buffer_size=65536,
                 server_bin=None, extra_args=(), out=sys.stdout, run_tag="crash"):
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.datadir = os.path.join(self.workdir, "data")
        self.seed = seed
        self.rng = random.Random(seed)
        args = ["--io-threads", str(io_threads)]
        if write_buffer_size:
            args += ["--write-buffer-size", str(write_buffer_size)]
        self.server = Server(self.datadir, os.path.join(self.workdir, "server.log"),
                             args + list(extra_args), server_bin)
        self.clients = [Client(i, self.rng.randrange(1 << 62), run_tag)
                        for i in range(clients)]
        self.all_keys = {key for c in self.clients for key in c.kind_of}
        self.run_tag = run_tag
        self.cycle_no = 0
        self.results = []
        self.out = out

    def log(self, msg):
        if self.out is not None:
            print(msg, file=self.out, flush=True)

    # One cycle: load, signal, restart, verify.
    def cycle(self, wal_sync, sig=signal.SIGKILL, delay=None):
        self.cycle_no += 1
        n = self.cycle_no
        t_start = time.monotonic()
        if delay is None:
            delay = self.rng.uniform(0.05, 0.5)
        violations = []
        result = {"cycle": n, "wal_sync": wal_sync,
                  "signal": "SIGKILL" if sig == signal.SIGKILL else "SIGTERM",
                  "delay_ms": round(delay * 1000)}
        for c in self.clients:
            c.cycle, c.in_flight, c.acked, c.acked_writes = n, [], 0, 0
            c.reply_violations, c.error = [], None

        try:
            self.server.start(wal_sync)
        except RuntimeError as e:
            violations.append({"kind": "server did not start", "detail": str(e)})
            return self._finish(result, violations, t_start)

        stop = threading.Event()
        threads = [threading.Thread(target=c.run_load, args=(self.server.port, stop),
                                    daemon=True) for c in self.clients]
        for t in threads:
            t.start()
        time.sleep(delay)
        code = self.server.signal_and_wait(sig)
        t_dead = time.time()
        for t in threads:
            t.join(30)
        stop.set()
        for t in threads:
            t.join(30)
            if t.is_alive():
                violations.append({"kind": "client thread hung after the server ended"})
        if sig == signal.SIGTERM and code != 0:
            violations.append({"kind": "unclean exit on SIGTERM", "exit status": code,
                               "log": self.server.log_tail(2000)})
        elif sig == signal.SIGKILL and code != -signal.SIGKILL:
            violations.append({"kind": "server did not die of SIGKILL", "exit status": code,
                               "log": self.server.log_tail(2000)})
        for c in self.clients:
            if c.error:
                violations.append({"kind": "client error", "client": c.cid, "detail": c.error})
            violations.extend(dict(v, client=c.cid) for v in c.reply_violations)
            for op in c.in_flight:
                op.status = "in-flight"
                op.t_ack = t_dead
        result["acked"] = sum(c.acked for c in self.clients)
        result["acked_writes"] = sum(c.acked_writes for c in self.clients)
        result["in_flight"] = sum(len(c.in_flight) for c in self.clients)

        try:
            self.server.start(wal_sync)
        except RuntimeError as e:
            violations.append({"kind": "restart failed", "detail": str(e)})
            return self._finish(result, violations, t_start)
        try:
            checked, landed = self.verify(violations)
        finally:
            self.server.stop_quietly()
        result["keys_checked"] = checked
        result["in_flight_landed"] = landed
        # Every acknowledged write of this cycle touched a key that was just read back.
        result["ops_verified"] = result["acked_writes"] if checked == len(self.all_keys) else 0
        return self._finish(result, violations, t_start)

    def _finish(self, result, violations, t_start):
        for v in violations:
            v.setdefault("cycle", self.cycle_no)
            v.setdefault("wal_sync", result["wal_sync"])
            v.setdefault("signal", result["signal"])
        result["violations"] = violations
        result["seconds"] = round(time.monotonic() - t_start, 3)
        self.results.append(result)
        self.log("cycle %4d %-8s %-7s load %3d ms: acked %5d (writes %5d) in flight %2d "
                 "landed %2s  keys %3s  violations %d  %.2fs" % (
                     result["cycle"], result["wal_sync"], result["signal"], result["delay_ms"],
                     result.get("acked", 0), result.get("acked_writes", 0),
                     result.get("in_flight", 0), result.get("in_flight_landed", "-"),
                     result.get("keys_checked", "-"), len(violations), result["seconds"]))
        for v in violations:
            self.log(format_violation(v))
        return result

    def verify(self, violations):
        conn = Resp(HOST, self.server.port, timeout=60)
        checked = 0
        landed_total = 0
        try:
            for c in self.clients:
                keys = sorted(c.kind_of)
                cmds, spans = [], []
                for key in keys:
                    rc = read_commands(c.kind_of[key], key)
                    spans.append((len(cmds), len(rc)))
                    cmds.extend(rc)
                tv0 = time.time()
                replies = conn.pipeline(cmds)
                tv1 = time.time()
                landed = self.verify_client(c, keys, spans, replies, tv0, tv1, violations)
                if landed is not None:
                    landed_total += landed
                checked += len(keys)
            # No key outside the pools (garbage, or a key that should not exist).
            found, cursor = [], "0"
            while True:
                cursor, batch = conn.pipeline([["SCAN", cursor, "MATCH", self.run_tag + ":*",
                                                "COUNT", "1000"]])[0]
                found.extend(batch)
                if cursor == "0":
                    break
            for key in found:
                if key not in self.all_keys:
                    violations.append({"kind": "unexpected key", "key": key})
            if len(found) != len(set(found)):
                violations.append({"kind": "SCAN returned a key twice",
                                   "keys": sorted(k for k, n in collections.Counter(found).items()
                                                  if n > 1)})
        finally:
            conn.close()
        return checked, landed_total

    def verify_client(self, c, keys, spans, replies, tv0, tv1, violations):
        """Checks one client's keys; returns how many in-flight ops landed (the largest
        prefix consistent with every key), and updates the model to the observed state."""
        m = len(c.in_flight)
        allowed_all = set(range(m + 1))
        per_key = {}
        for key, (start, n) in zip(keys, spans):
            kind = c.kind_of[key]
            try:
                obs = observe(kind, replies[start:start + n])
            except ValueError as e:
                violations.append({"kind": "bad reply", "client": c.cid, "key": key,
                                   "detail": str(e), "last ops":
                                   [o.describe() for o in c.history[key]]})
                per_key[key] = (None, None, {})
                continue
            # candidates[L] = the key's state if the first L in-flight ops landed.
            state = c.model[key]
            candidates = []
            for op in c.in_flight:
                candidates.append(state)
                if op.key == key:
                    state, _ = apply_op(op, state, op.t_ack)
            candidates.append(state)
            allowed = {L for L, s in enumerate(candidates) if matches(kind, s, obs, tv0, tv1)}
            per_key[key] = (obs, allowed, candidates)
            if not allowed:
                distinct = []
                for s in candidates:
                    if s not in distinct:
                        distinct.append(s)
                touched = any(op.key == key for op in c.in_flight)
                violations.append({
                    "kind": "acknowledged write lost or wrong" if not touched else
                            "state matches neither the acknowledged nor an in-flight state",
                    "client": c.cid, "key": key,
                    "expected": show_state(kind, distinct[0]) if len(distinct) == 1 else
                                "one of " + " | ".join(show_state(kind, s) for s in distinct),
                    "got": show_obs(kind, obs),
                    "last ops": [o.describe() for o in c.history[key]]})
            else:
                allowed_all &= allowed
        if not allowed_all:
            violations.append({
                "kind": "in-flight ops landed out of order (no single prefix explains the keys)",
                "client": c.cid,
                "in flight": [o.describe() for o in c.in_flight],
                "prefixes per key": {k: sorted(v[1]) for k, v in per_key.items()
                                     if v[1] is not None and v[1] != set(range(m + 1))}})
        L = max(allowed_all) if allowed_all else None
        for op in c.in_flight[:L or 0]:
            op.status = "landed"
        # Go on from what the server holds.
        now = time.time()
        for key, (obs, allowed, candidates) in per_key.items():
            kind = c.kind_of[key]
            if allowed is None:  # unreadable: keep the model as it was
                continue
            if not allowed:
                c.model[key] = state_from_observation(kind, obs, now)
            elif L is not None:
                c.model[key] = candidates[L]
            else:
                c.model[key] = candidates[max(allowed)]
        c.in_flight = []
        return L


def format_violation(v):
    lines = ["VIOLATION (cycle %s, --wal-sync %s, %s): %s" % (
        v.get("cycle"), v.get("wal_sync"), v.get("signal"), v["kind"])]
    for k, val in v.items():
        if k in ("kind", "cycle", "wal_sync", "signal"):
            continue
        if isinstance(val, list):
            lines.append("  %s:" % k)
            lines.extend("    " + str(x) for x in val)
        elif isinstance(val, dict):
            lines.append("  %s:" % k)
            lines.extend("    %s: %s" % kv for kv in val.items())
        else:
            lines.append("  %s: %s" % (k, val))
    return "\n".join(lines)


def run(workdir, cycles, wal_sync="always", sig="kill", seed=None, clients=4, io_threads=2,
        write_buffer_size=65536, keep_going=False, server_bin=None, out=sys.stdout):
    """Runs `cycles` cycles; wal_sync may be a list (used in turn); sig is "kill", "term"
    or "mix" (SIGTERM one cycle in 10). Returns a summary dict."""
    if seed is None:
        seed = int(time.time())
    modes = [wal_sync] if isinstance(wal_sync, str) else list(wal_sync)
    h = Harness(workdir, seed, clients=clients, io_threads=io_threads,
                write_buffer_size=write_buffer_size, server_bin=server_bin, out=out)
    h.log("server_crash: seed %d, %d clients, --wal-sync %s, signal %s, dir %s" % (
        seed, clients, ",".join(modes), sig, workdir))
    t0 = time.monotonic()
    try:
        for i in range(cycles):
            s = {"kill": signal.SIGKILL, "term": signal.SIGTERM}.get(sig)
            if s is None:
                s = signal.SIGTERM if h.rng.random() < 0.1 else signal.SIGKILL
            r = h.cycle(modes[i % len(modes)], s)
            if r["violations"] and not keep_going:
                break
    finally:
        h.server.stop_quietly()
    violations = [v for r in h.results for v in r["violations"]]
    summary = {"seed": seed, "wal_sync": modes, "signal": sig, "clients": clients,
               "cycles": len(h.results),
               "acked": sum(r.get("acked", 0) for r in h.results),
               "acked_writes": sum(r.get("acked_writes", 0) for r in h.results),
               "ops_verified": sum(r.get("ops_verified", 0) for r in h.results),
               "in_flight": sum(r.get("in_flight", 0) for r in h.results),
               "violations": violations,
               "seconds": round(time.monotonic() - t0, 1),
               "workdir": str(workdir), "results": h.results}
    h.log("summary: seed %d, %d cycles (--wal-sync %s, %s), %d ops acknowledged (%d writes, "
          "%d verified), %d in flight, %d violations, %.1f s" % (
              seed, summary["cycles"], ",".join(modes), sig, summary["acked"],
              summary["acked_writes"], summary["ops_verified"], summary["in_flight"],
              len(violations), summary["seconds"]))
    return summary


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cycles", type=int, default=100)
    p.add_argument("--wal-sync", default="always",
                   help="always, everysec or none; a comma list is used in turn")
    p.add_argument("--signal", choices=["kill", "term", "mix"], default="kill",
                   help="kill: SIGKILL; term: SIGTERM (graceful); mix: SIGTERM 1 cycle in 10")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--io-threads", type=int, default=2)
    p.add_argument("--write-buffer-size", type=int, default=65536,
                   help="server memtable size: small, so flushes and compactions happen "
                        "between crashes (0: the server's default)")
    p.add_argument("--server-bin", default=None, help="default: $CAIRN_SERVER_BIN or "
                   "build/bin/cairn-server")
    p.add_argument("--dir", default=None, help="work directory (default: a new temporary one, "
                   "removed after a clean run)")
    p.add_argument("--keep-going", action="store_true", help="go on after a violation")
    p.add_argument("--json", default=None, help="write the summary and per-cycle results here")
    a = p.parse_args(argv)
    modes = a.wal_sync.split(",")
    for m in modes:
        if m not in ("always", "everysec", "none"):
            p.error("--wal-sync: %r" % m)
    workdir = a.dir or tempfile.mkdtemp(prefix="cairn-server-crash-")
    summary = run(workdir, a.cycles, modes, a.signal, a.seed, a.clients, a.io_threads,
                  a.write_buffer_size, a.keep_going, a.server_bin)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f, indent=1, default=str)
    if summary["violations"]:
        print("FAILED: %d violations; seed %d; directory and server log kept in %s" % (
            len(summary["violations"]), summary["seed"], workdir), flush=True)
        return 1
    if a.dir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
