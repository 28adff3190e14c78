#!/usr/bin/env bash
# cairn-server against redis-server 7 under redis-benchmark: SET and GET, 50 clients,
# 64-byte values, a 1M key space, pipeline 1 and 16.
#
# Usage:
#   bench/server_vs_redis.sh                 # ~6 s per measurement, 8 measurements
#   SECONDS_PER_TEST=2 bench/server_vs_redis.sh
#   TESTS="HSET LPUSH LPOP SADD ZADD" PIPELINES=1 bench/server_vs_redis.sh   # data types
#
# Environment (all optional):
#   CAIRN_SERVER_BIN   cairn-server binary      (default: build/bin/cairn-server)
#   REDIS_SERVER       redis-server 7 binary    (default: redis-server on PATH)
#   REDIS_BENCHMARK    redis-benchmark binary   (default: redis-benchmark on PATH)
#   SECONDS_PER_TEST   target length of one measurement (default 6). -n is sized from a
#                      short calibration run against each server, so both run this long.
#   CLIENTS            redis-benchmark -c (default 50)
#   PIPELINES          pipeline depths to measure (default "1 16")
#   TESTS              redis-benchmark tests, in order (default "SET GET"; LPOP pops what
#                      LPUSH pushed, so list it after LPUSH)
#   IO_THREADS         cairn-server --io-threads (default 0: one per core)
#   KEEP_DIRS=1        keep the temporary data directories and logs
#   TLS_DIR            measure over TLS: a directory with ca.crt, server.crt/.key and
#                      client.crt/.key (bench/tls_vs_redis.sh makes one). Both servers then
#                      also listen on a TLS port with those files (client certificates
#                      required, Redis's default) and redis-benchmark --tls runs against it.
#
# Setup: cairn-server with --wal-sync everysec; redis-server with --appendonly yes
# --appendfsync everysec --save '' (the same durability promise); each in a fresh temp dir
# on free loopback ports. Measurements alternate which server goes first, so neither always
# runs on a warmer (or more fragmented) machine. Throughput, p50 and p99 come from
# redis-benchmark --csv (redis-benchmark 7); with an older redis-benchmark whose CSV has no
# percentiles, they are parsed from its "latency summary" block instead, else shown as n/a.
# Run it on an otherwise idle machine: client and servers share the cores.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CAIRN_SERVER_BIN="${CAIRN_SERVER_BIN:-$ROOT/build/bin/cairn-server}"
REDIS_SERVER="${REDIS_SERVER:-redis-server}"
REDIS_BENCHMARK="${REDIS_BENCHMARK:-redis-benchmark}"
SECONDS_PER_TEST="${SECONDS_PER_TEST:-6}"
CLIENTS="${CLIENTS:-50}"
PIPELINES="${PIPELINES:-1 16}"
TESTS="${TESTS:-SET GET}"
IO_THREADS="${IO_THREADS:-0}"
TLS_DIR="${TLS_DIR:-}"
VALUE_SIZE=64
KEYSPACE=1000000

for bin in "$CAIRN_SERVER_BIN" "$REDIS_SERVER" "$REDIS_BENCHMARK"; do
  command -v "$bin" >/dev/null || { echo "server_vs_redis: $bin not found" >&2; exit 2; }
done

WORK="$(mktemp -d -t cairn-vs-redis.XXXXXX)"
CAIRN_PID=""
REDIS_PID=""

stop_server() {  # stop_server PID: SIGTERM, wait up to 30 s, then SIGKILL
  local pid="$1"
  if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then return 0; fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  stop_server "$CAIRN_PID"
  stop_server "$REDIS_PID"
  if [[ "${KEEP_DIRS:-0}" == 1 ]]; then
    echo "data and logs kept in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_ping() {  # wait_for_ping PORT PID NAME LOG
  for _ in $(seq 300); do
    [[ "$(redis-cli -h 127.0.0.1 -p "$1" PING 2>/dev/null)" == PONG ]] && return 0
    kill -0 "$2" 2>/dev/null || { echo "$3 exited; log:" >&2; tail -20 "$4" >&2; exit 1; }
    sleep 0.1
  done
  echo "$3 does not answer PING; log:" >&2
  tail -20 "$4" >&2
  exit 1
}

# --- start both servers -------------------------------------------------------------------

SERVER_TLS=()
BENCH_TLS=()
if [[ -n "$TLS_DIR" ]]; then
  SERVER_TLS=(--tls-cert-file "$TLS_DIR/server.crt" --tls-key-file "$TLS_DIR/server.key"
              --tls-ca-cert-file "$TLS_DIR/ca.crt")
  BENCH_TLS=(--tls --cacert "$TLS_DIR/ca.crt" --cert "$TLS_DIR/client.crt"
             --key "$TLS_DIR/client.key")
fi

mkdir -p "$WORK/cairn" "$WORK/redis"
"$CAIRN_SERVER_BIN" --dir "$WORK/cairn/data" --bind 127.0.0.1 --port auto --http-port auto \
  ${TLS_DIR:+--tls-port auto} "${SERVER_TLS[@]}" \
  --wal-sync everysec --io-threads "$IO_THREADS" >"$WORK/cairn/log" 2>&1 &
CAIRN_PID=$!
CAIRN_PORT=""
for _ in $(seq 300); do
  CAIRN_PORT="$(sed -n 's/.*ready: RESP on [^ ]*:\([0-9]*\),.*/\1/p' "$WORK/cairn/log")"
  [[ -n "$CAIRN_PORT" ]] && break
  kill -0 "$CAIRN_PID" 2>/dev/null || { echo "cairn-server exited:" >&2; cat "$WORK/cairn/log" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$CAIRN_PORT" ]] || { echo "cairn-server not ready" >&2; exit 1; }
wait_for_ping "$CAIRN_PORT" "$CAIRN_PID" cairn-server "$WORK/cairn/log"

REDIS_PORT="$(free_port)"
REDIS_TLS_PORT=""
[[ -n "$TLS_DIR" ]] && REDIS_TLS_PORT="$(free_port)"
"$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" \
  ${TLS_DIR:+--tls-port "$REDIS_TLS_PORT"} "${SERVER_TLS[@]}" \
  --appendonly yes --appendfsync everysec --save '' --daemonize no \
  --logfile "$WORK/redis/log" &
REDIS_PID=$!
wait_for_ping "$REDIS_PORT" "$REDIS_PID" redis-server "$WORK/redis/log"

# The ports redis-benchmark measures: the TLS ones with TLS_DIR.
CAIRN_BENCH_PORT="$CAIRN_PORT"
REDIS_BENCH_PORT="$REDIS_PORT"
if [[ -n "$TLS_DIR" ]]; then
  CAIRN_BENCH_PORT="$(sed -n 's/.*RESP over TLS on [^ ]*:\([0-9]*\).*/\1/p' "$WORK/cairn/log")"
  [[ -n "$CAIRN_BENCH_PORT" ]] || { echo "cairn-server has no TLS port:" >&2; cat "$WORK/cairn/log" >&2; exit 1; }
  REDIS_BENCH_PORT="$REDIS_TLS_PORT"
fi

# --- measurements -------------------------------------------------------------------------

# run_benchmark PORT TEST PIPELINE N -> "rps p50_ms p99_ms" (n/a for a missing figure)
run_benchmark() {
  local out
  out="$("$REDIS_BENCHMARK" -h 127.0.0.1 -p "$1" "${BENCH_TLS[@]}" -t "$2" -P "$3" -n "$4" \
         -c "$CLIENTS" -d "$VALUE_SIZE" -r "$KEYSPACE" --csv 2>/dev/null)"
  local parsed
  parsed="$(awk -F, -v test="$2" '
    { gsub(/"/, "") }
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    toupper($1) == toupper(test) {
      rps = $col["rps"]
      p50 = ("p50_latency_ms" in col) ? $col["p50_latency_ms"] : "n/a"
      p99 = ("p99_latency_ms" in col) ? $col["p99_latency_ms"] : "n/a"
      print rps, p50, p99
    }' <<<"$out")"
  if [[ -z "$parsed" || "$parsed" == *n/a* ]]; then
    # No percentiles in the CSV: the normal output's "latency summary (msec)" block
    # (avg min p50 p95 p99 max).
    out="$("$REDIS_BENCHMARK" -h 127.0.0.1 -p "$1" "${BENCH_TLS[@]}" -t "$2" -P "$3" -n "$4" \
           -c "$CLIENTS" -d "$VALUE_SIZE" -r "$KEYSPACE" 2>/dev/null | tr '\r' '\n')"
    parsed="$(awk '
      /throughput summary:/ { rps = $3 }
      /latency summary/ { getline; getline; p50 = $3; p99 = $5 }
      END { if (rps == "") rps = "n/a"; if (p50 == "") { p50 = "n/a"; p99 = "n/a" }
            print rps, p50, p99 }' <<<"$out")"
  fi
  echo "$parsed"
}

# Requests for about SECONDS_PER_TEST seconds, from a short calibration run.
size_run() {  # size_run PORT TEST PIPELINE
  local cal=$((20000 * $3)) rps
  rps="$(run_benchmark "$1" "$2" "$3" "$cal" | awk '{ print $1 }')"
  awk -v rps="$rps" -v s="$SECONDS_PER_TEST" -v cal="$cal" \
    'BEGIN { n = (rps ~ /^[0-9.]+$/) ? int(rps * s) : cal * 5; if (n < cal) n = cal; print n }'
}

CAIRN_VERSION="$(redis-cli -p "$CAIRN_PORT" INFO server | tr -d '\r' | sed -n 's/^cairn_version://p')"
echo "cairn-server $CAIRN_VERSION (wal-sync everysec, io-threads $IO_THREADS) on :$CAIRN_BENCH_PORT${TLS_DIR:+ (TLS)}"
echo "$("$REDIS_SERVER" --version | awk '{ print $1, $2, $3 }') (appendonly everysec) on :$REDIS_BENCH_PORT${TLS_DIR:+ (TLS)}"
echo "$("$REDIS_BENCHMARK" --version), $CLIENTS clients, -d $VALUE_SIZE, -r $KEYSPACE," \
     "~${SECONDS_PER_TEST}s per measurement, $(nproc) cores"
echo

RESULTS="$WORK/results"
: >"$RESULTS"
round=0
for pipeline in $PIPELINES; do
  for test in $TESTS; do
    if (( round % 2 == 0 )); then order="cairn redis"; else order="redis cairn"; fi
    round=$((round + 1))
    for server in $order; do
      if [[ $server == cairn ]]; then port=$CAIRN_BENCH_PORT; else port=$REDIS_BENCH_PORT; fi
      n="$(size_run "$port" "$test" "$pipeline")"
      read -r rps p50 p99 <<<"$(run_benchmark "$port" "$test" "$pipeline" "$n")"
      printf '  %-5s %-3s P=%-3s n=%-9s %12s rps  p50 %7s ms  p99 %7s ms\n' \
        "$server" "$test" "$pipeline" "$n" "$rps" "$p50" "$p99" >&2
      echo "$test $pipeline $server $rps $p50 $p99" >>"$RESULTS"
    done
  done
done

echo
awk '
  function ratio(a, b) { return (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) ? sprintf("%.2f", a / b) : "n/a" }
  { key = $1 " " $2; rps[key, $3] = $4; p50[key, $3] = $5; p99[key, $3] = $6
    if (!(key in seen)) { seen[key] = 1; order[++n] = key } }
  END {
    printf "%-5s %3s | %12s %12s %6s | %9s %9s %6s | %9s %9s %6s\n", "test", "P",
           "cairn rps", "redis rps", "ratio", "cairn p50", "redis p50", "ratio",
           "cairn p99", "redis p99", "ratio"
    for (i = 1; i <= n; i++) {
      k = order[i]; split(k, f, " ")
      printf "%-5s %3s | %12s %12s %6s | %9s %9s %6s | %9s %9s %6s\n", f[1], f[2],
             rps[k, "cairn"], rps[k, "redis"], ratio(rps[k, "cairn"], rps[k, "redis"]),
             p50[k, "cairn"], p50[k, "redis"], ratio(p50[k, "cairn"], p50[k, "redis"]),
             p99[k, "cairn"], p99[k, "redis"], ratio(p99[k, "cairn"], p99[k, "redis"])
    }
    print "(latencies in ms; ratio = cairn / redis: above 1 is better for rps, worse for latency)"
  }' "$RESULTS"
