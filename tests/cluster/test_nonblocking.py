"""Cluster commands that wait on replicas never hold up anything else (real cairn-server
processes, N=3 W=2 R=2):

- Pipelines of 16 commands (redis-py, transaction=False) from several connections to
  node0 and node1 while node2 is killed with SIGKILL: every reply is the one its own
  command must give (a reply out of order would show as a wrong value), a command fails
  only with a NOQUORUM error, and every acknowledged write is readable afterwards through
  node0, node1 and node2 once it is back.
- With node1 and node2 stopped (SIGSTOP: their connections stay open, nothing answers),
  GET/SET pipelines on node0 wait for their replicas' timeout; meanwhile PING on other
  connections to node0 answers at once, and the waiting commands end with NOQUORUM.
"""
import os
import signal
import statistics
import threading
import time

import redis

from cluster_util import HOST, Cluster, info, wait_for

PIPELINE = 16  # commands per pipeline: 4 groups of 4


def alive_everywhere(nodes, expected):
    return all(info(n).get("cluster_members_alive") == str(expected) for n in nodes)


def client(node, timeout=30.0):
    # No retries (redis-py 4's default): a pipeline is never sent twice behind our back.
    return redis.Redis(host=HOST, port=node.port, socket_timeout=timeout,
                       socket_connect_timeout=10)


def is_noquorum(reply):
    return isinstance(reply, redis.exceptions.ResponseError) and str(reply).startswith("NOQUORUM")


def test_kill9_of_a_replica_under_pipelined_writes_loses_no_acknowledged_write(tmp_path):
    nodes = Cluster(tmp_path, 3, extra=["--wal-sync", "always"])
    try:
        wait_for("3 members alive", lambda: alive_everywhere(nodes, 3))
        a, b, c = nodes
        stop = threading.Event()
        lock = threading.Lock()
        acked = {}          # key -> value of every SET answered OK and INCRBY answered n
        mismatches = []     # (thread, command, expected, reply): a reply not its command's
        failures = []       # exceptions (connection errors: never expected on node0/node1)
        noquorum = []       # (command, error text)
        done = {}           # thread -> pipelines completed, before / after the kill
        killed_at = [None]

        def worker(tid, node):
            r = client(node)
            seq, before, after = 0, 0, 0
            try:
                while not stop.is_set():
                    pipe = r.pipeline(transaction=False)
                    groups = []
                    for _ in range(PIPELINE // 4):
                        k, v = "k_%d_%d" % (tid, seq), b"v_%d_%d" % (tid, seq)
                        ctr, n = "c_%d_%d" % (tid, seq), seq + 1  # INCRBY of a new key: n
                        pipe.set(k, v)
                        pipe.incrby(ctr, n)
                        pipe.get(k)
                        pipe.get(ctr)
                        groups.append((k, v, ctr, n))
                        seq += 1
                    replies = pipe.execute(raise_on_error=False)
                    assert len(replies) == PIPELINE
                    with lock:
                        for g, (k, v, ctr, n) in enumerate(groups):
                            set_r, incr_r, get_k, get_c = replies[4 * g:4 * g + 4]
                            check(tid, ("SET", k), set_r, True, None)
                            check(tid, ("INCRBY", ctr, n), incr_r, n, None)
                            # A read after a write that failed may see it or not.
                            check(tid, ("GET", k), get_k, v, None if set_r is True else "maybe")
                            check(tid, ("GET", ctr), get_c, str(n).encode(),
                                  None if incr_r == n else "maybe")
                            if set_r is True:
                                acked[k] = v
                            if incr_r == n and not isinstance(incr_r, bool):
                                acked[ctr] = str(n).encode()
                    if killed_at[0] is None:
                        before += 1
                    else:
                        after += 1
            except Exception as e:  # noqa: BLE001
                with lock:
                    failures.append((tid, node.name, repr(e)))
            finally:
                done[tid] = (before, after)

        def check(tid, cmd, reply, expected, lenient):
            if isinstance(reply, Exception):
                if is_noquorum(reply):
                    noquorum.append((cmd, str(reply)))
                else:
                    mismatches.append((tid, cmd, expected, repr(reply)))
                return
            if reply == expected and type(reply) is type(expected):
                return
            if lenient and reply is None:
                return  # the failed write did not land
            mismatches.append((tid, cmd, expected, reply))

        # Two connections to node0, two to node1; node2 is only ever a replica.
        threads = [threading.Thread(target=worker, args=(t, (a, b)[t % 2])) for t in range(4)]
        start = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(1.5)
        c.kill()  # SIGKILL a replica of every key in the middle of the pipelines
        killed_at[0] = time.monotonic()
        # Keep going through failure detection (node2 still believed up: calls to it fail
        # at once) and a second after it (W=2 and R=2 of the two left); detection takes
        # 6-9 s, longer under this load, so give up waiting 12 s after the kill.
        detected = None
        while time.monotonic() < killed_at[0] + 12:
            if alive_everywhere([a, b], 2):
                detected = time.monotonic() - killed_at[0]
                time.sleep(1.0)
                break
            time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join(40)
        assert not any(t.is_alive() for t in threads), "a pipeline never got its replies"
        load_s = time.monotonic() - start

        assert not failures, failures[:5]
        assert not mismatches, "%d replies not those of their commands: %s" % (
            len(mismatches), mismatches[:10])
        for tid, (before, after) in done.items():
            assert before > 0 and after > 0, done  # every client went on after the kill
        assert len(acked) > 500, len(acked)

        def read_back(node):
            r = client(node)
            keys = sorted(acked)
            lost = []
            for i in range(0, len(keys), 256):
                chunk = keys[i:i + 256]
                pipe = r.pipeline(transaction=False)
                for k in chunk:
                    pipe.get(k)
                for k, got in zip(chunk, pipe.execute(raise_on_error=False)):
                    if got != acked[k]:
                        lost.append((k, acked[k], got))
            assert not lost, "%s: %d acknowledged writes not read back: %s" % (
                node.name, len(lost), lost[:10])

        t0 = time.monotonic()
        read_back(a)
        read_back(b)
        # node2 back: it serves every acknowledged write too (R=2 with node0 and node1).
        c.start(nodes.seeds())
        wait_for("node2 back", lambda: alive_everywhere(nodes, 3))
        read_back(c)
        print("load %.1f s (node2 seen down %s s after the kill), pipelines per client "
              "(before, after the kill) %s, acknowledged %d, NOQUORUM replies %d %s; "
              "read back %.1f s" % (
                  load_s, detected and round(detected, 1), done, len(acked), len(noquorum),
                  sorted({e for _, e in noquorum})[:2], time.monotonic() - t0))
    finally:
        nodes.stop_all()


def test_io_threads_answer_ping_while_every_replica_is_stalled(tmp_path):
    nodes = Cluster(tmp_path, 3, extra=["--wal-sync", "always"])
    stopped = []
    try:
        wait_for("3 members alive", lambda: alive_everywhere(nodes, 3))
        a, b, c = nodes
        setup = client(a)
        for i in range(8):
            assert setup.set("s%d" % i, "v%d" % i) is True
        # PING connections made first; several, so that both I/O threads carry some.
        pingers = [client(a, timeout=10) for _ in range(4)]
        for p in pingers:
            assert p.ping() is True

        for n in (b, c):
            os.kill(n.proc.pid, signal.SIGSTOP)
            stopped.append(n)

        results = {}

        def waiting(tid):
            r = client(a, timeout=60)
            pipe = r.pipeline(transaction=False)
            for i in range(8):
                pipe.get("s%d" % i)
                pipe.set("w_%d_%d" % (tid, i), "x")
            t0 = time.monotonic()
            try:
                replies = pipe.execute(raise_on_error=False)
            except Exception as e:  # noqa: BLE001
                replies = e
            results[tid] = (t0, time.monotonic(), replies)

        waiters = [threading.Thread(target=waiting, args=(t,)) for t in range(4)]
        for t in waiters:
            t.start()
        time.sleep(0.3)  # the pipelines are sent; node0 waits on node1 and node2

        ping_start = time.monotonic()
        rtts = []
        for i in range(200):
            p = pingers[i % len(pingers)]
            t0 = time.perf_counter()
            assert p.ping() is True
            rtts.append(time.perf_counter() - t0)
        ping_end = time.monotonic()
        # A connection opened now is served at once too.
        t0 = time.perf_counter()
        assert client(a, timeout=10).ping() is True
        fresh = time.perf_counter() - t0

        for t in waiters:
            t.join(60)
        assert not any(t.is_alive() for t in waiters), "a waiting pipeline never got its replies"
        for tid, (t0, t1, replies) in sorted(results.items()):
            assert not isinstance(replies, Exception), (tid, replies)
            assert len(replies) == 16
            assert all(is_noquorum(r) for r in replies), (tid, replies)
            # The pings ran while this pipeline was waiting on the stalled replicas.
            assert t0 < ping_start and ping_end < t1, (tid, t0, t1, ping_start, ping_end)

        rtts.sort()
        median, worst = statistics.median(rtts), rtts[-1]
        waits = [t1 - t0 for t0, t1, _ in results.values()]
        print("PING median %.3f ms, p99 %.3f ms, max %.3f ms, fresh connection %.3f ms; "
              "waiting pipelines took %.2f-%.2f s; first error %s" % (
                  median * 1e3, rtts[int(len(rtts) * 0.99) - 1] * 1e3, worst * 1e3,
                  fresh * 1e3, min(waits), max(waits), results[0][2][0]))
        assert median < 0.001, "PING median %.3f ms" % (median * 1e3)
        assert worst < 0.020, "PING max %.3f ms" % (worst * 1e3)
        assert fresh < 0.050, "PING on a new connection %.3f ms" % (fresh * 1e3)
    finally:
        for n in stopped:
            os.kill(n.proc.pid, signal.SIGCONT)
        nodes.stop_all()


def test_a_client_that_half_closes_gets_every_pending_reply(tmp_path):
    # The client sends its commands and shuts its side down at once (printf ... | nc -N):
    # the replies of commands still waiting for replicas are sent before the close.
    import socket
    nodes = Cluster(tmp_path, 3)
    try:
        wait_for("3 members alive", lambda: alive_everywhere(nodes, 3))
        for attempt in range(20):
            s = socket.create_connection((HOST, nodes[0].port))
            s.sendall(b"SET hk%d v\r\nGET hk%d\r\nINCR hc%d\r\nPING\r\n" % (attempt, attempt, attempt))
            s.shutdown(socket.SHUT_WR)
            data = b""
            s.settimeout(10)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            s.close()
            assert data == b"+OK\r\n$1\r\nv\r\n:1\r\n+PONG\r\n", data
    finally:
        nodes.stop_all()
