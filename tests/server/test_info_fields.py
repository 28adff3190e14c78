"""INFO fields that Redis tooling reads (redis_exporter, Sentinel), side by side with
redis-server 7.0.15: each is present in both with the same kind of value, and cairn's are
computed, not constants: they move with clients, load and writes (issue 20).
"""
import threading
import time

import pytest

from conftest import in_cluster
from test_keyspace_counts import redis  # noqa: F401 - the redis-server fixture

# What redis_exporter's and Sentinel's parsers read from INFO, by section.
FIELDS = {
    "server": ["redis_version", "redis_git_sha1", "redis_build_id", "redis_mode", "os",
               "arch_bits", "multiplexing_api", "gcc_version", "process_id", "run_id",
               "tcp_port", "server_time_usec", "uptime_in_seconds", "uptime_in_days", "hz",
               "configured_hz", "lru_clock", "executable", "io_threads_active"],
    "clients": ["connected_clients", "maxclients", "blocked_clients", "tracking_clients"],
    "memory": ["used_memory", "used_memory_human", "used_memory_rss", "used_memory_rss_human",
               "used_memory_peak", "used_memory_peak_human", "used_memory_peak_perc",
               "total_system_memory", "total_system_memory_human", "number_of_cached_scripts",
               "maxmemory", "maxmemory_human", "maxmemory_policy", "mem_fragmentation_ratio",
               "mem_fragmentation_bytes", "mem_allocator"],
    "persistence": ["loading", "aof_enabled", "aof_last_write_status"],
    "stats": ["total_connections_received", "total_commands_processed",
              "instantaneous_ops_per_sec", "total_net_input_bytes", "total_net_output_bytes",
              "instantaneous_input_kbps", "instantaneous_output_kbps", "rejected_connections",
              "expired_keys", "evicted_keys", "keyspace_hits", "keyspace_misses",
              "pubsub_channels", "pubsub_patterns", "latest_fork_usec", "total_forks",
              "total_error_replies"],
    "replication": ["role", "connected_slaves", "master_failover_state", "master_replid",
                    "master_replid2", "master_repl_offset", "second_repl_offset",
                    "repl_backlog_active", "repl_backlog_size",
                    "repl_backlog_first_byte_offset", "repl_backlog_histlen"],
    "cpu": ["used_cpu_sys", "used_cpu_user", "used_cpu_sys_children", "used_cpu_user_children"],
}


def kind(v):
    return "number" if isinstance(v, (int, float)) else "text"


def test_fields_tooling_reads_match_redis(server, redis):  # noqa: F811
    cairn = server.client()
    for section, names in FIELDS.items():
        want = redis.info(section)
        got = cairn.info(section)
        for name in names:
            assert name in want, ("redis lacks", name)  # the list itself is right
            assert name in got, ("cairn lacks", section, name)
            if name == "redis_git_sha1":  # hex; Debian's Redis says 00000000, a "number"
                continue
            assert kind(got[name]) == kind(want[name]), (name, got[name], want[name])
    # The same machine: the same total memory; the same version and role.
    mine, theirs = cairn.info("all"), redis.info("all")
    assert mine["total_system_memory"] == theirs["total_system_memory"]
    assert mine["redis_version"] == theirs["redis_version"] == "7.0.15"
    assert mine["role"] == "master" and len(mine["master_replid"]) == 40
    assert abs(mine["server_time_usec"] / 1e6 - time.time()) < 5
    assert mine["used_memory_rss"] > 1_000_000
    assert mine["used_memory_peak"] >= mine["used_memory"] > 0
    assert mine["mem_fragmentation_ratio"] > 0
    assert mine["executable"].endswith("cairn-server")
    assert mine["redis_mode"] == ("cluster" if in_cluster() else "standalone")


def test_fields_move_with_the_server(server):
    r = server.client()
    offset = r.info("replication")["master_repl_offset"]
    r.set("a", "1")
    r.set("b", "2")
    assert r.info("replication")["master_repl_offset"] >= offset + 2

    # blocked_clients counts a client waiting in BLPOP, and drops when it is served.
    blocker = server.client()
    t = threading.Thread(target=lambda: blocker.blpop(["q"], timeout=20))
    t.start()
    deadline = time.monotonic() + 10
    while r.info("clients")["blocked_clients"] != 1:
        assert time.monotonic() < deadline, "blocked_clients never 1"
        time.sleep(0.02)
    r.rpush("q", "x")
    t.join()
    assert r.info("clients")["blocked_clients"] == 0

    # instantaneous_ops_per_sec and the kbps rates follow a load, sampled by the server
    # (every 100 ms, as Redis's cron) even when INFO is asked rarely.
    stop = threading.Event()

    def load():
        c = server.client()
        while not stop.is_set():
            c.set("load", "x" * 100)

    lt = threading.Thread(target=load)
    lt.start()
    try:
        time.sleep(2.5)
        stats = r.info("stats")
        assert stats["instantaneous_ops_per_sec"] > 50, stats["instantaneous_ops_per_sec"]
        assert stats["instantaneous_input_kbps"] > 0 and stats["instantaneous_output_kbps"] > 0
    finally:
        stop.set()
        lt.join()
    time.sleep(2.5)  # the window (1.6 s) has passed: only this INFO's own traffic
    assert r.info("stats")["instantaneous_ops_per_sec"] < 20


def test_tracking_clients_counts_clients_with_tracking_on(server):
    if in_cluster():
        pytest.skip("tracking is per node")
    r = server.client()
    t = server.raw()
    t.command("HELLO", "3")
    assert t.command("CLIENT", "TRACKING", "on") == "OK"
    assert r.info("clients")["tracking_clients"] == 1
    assert t.command("CLIENT", "TRACKING", "off") == "OK"
    assert r.info("clients")["tracking_clients"] == 0


def test_expiry_is_no_change_since_last_save(server, redis):  # noqa: F811
    """rdb_changes_since_last_save, side by side: SET PX and PEXPIRE count once each, as
    in Redis 7.0.15; neither the active expiry nor a read of an expired key counts."""
    cairn = server.client()

    def changes(r):
        return int(r.info("persistence")["rdb_changes_since_last_save"])

    def run(r):
        start = changes(r)
        for i in range(50):
            r.set("gone%d" % i, "v", px=100)
        r.set("stays", "v")
        r.pexpire("stays", 100_000)
        written = changes(r) - start
        deadline = time.monotonic() + 10
        while r.dbsize() != 1:  # the active expiry deletes the 50
            assert time.monotonic() < deadline
            time.sleep(0.05)
        r.set("lazy", "v", px=1)
        time.sleep(0.05)
        assert r.get("lazy") is None
        return written, changes(r) - start

    assert run(cairn) == run(redis) == (52, 53)
