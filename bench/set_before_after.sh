#!/bin/bash
# usage: set_before_after.sh CAIRN_SERVER LABEL [redis-benchmark options]: one server on a
# fresh directory, 400 000 SETs from 50 clients, prints LABEL OPTIONS requests/s.
bin=$1; label=$2; shift 2
d=$(mktemp -d /tmp/set-bench.XXXX)
port=$(( 20000 + RANDOM % 20000 ))
$bin --dir $d/data --port $port --http-port 0 --io-threads 2 >$d/log 2>&1 &
pid=$!
for i in $(seq 100); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done
echo "$label $* $(redis-benchmark -p $port -t set -n 400000 -c 50 "$@" -q 2>/dev/null | grep -o "[0-9.]* requests per second" | cut -d' ' -f1)"
kill $pid; wait $pid; rm -rf $d
