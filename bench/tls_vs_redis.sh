#!/usr/bin/env bash
# cairn-server against redis-server 7, both over TLS with the same certificates:
# redis-benchmark --tls, SET and GET, 50 clients, pipeline 1 and 16, and the cairn/Redis
# ratio of each figure (bench/server_vs_redis.sh with TLS_DIR; its environment applies:
# SECONDS_PER_TEST, CLIENTS, PIPELINES, TESTS, IO_THREADS, KEEP_DIRS).
#
# Usage:
#   bench/tls_vs_redis.sh
#   SECONDS_PER_TEST=3 bench/tls_vs_redis.sh
#
# Certificates: a throwaway CA, a server certificate (SAN 127.0.0.1, localhost) and a
# client certificate (both servers require one, Redis's default tls-auth-clients yes),
# RSA 2048, made with the openssl command line in a temporary directory.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v openssl >/dev/null || { echo "tls_vs_redis: openssl not found" >&2; exit 2; }
CERTS="$(mktemp -d -t cairn-tls-certs.XXXXXX)"
trap 'rm -rf "$CERTS"' EXIT
(
  cd "$CERTS"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=bench-ca
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
  for name in server client; do
    openssl req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" -subj "/CN=$name"
    openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
      -out "$name.crt" -days 2 -extfile san.ext
  done
) >/dev/null 2>&1 || { echo "tls_vs_redis: certificate generation failed" >&2; exit 1; }

TLS_DIR="$CERTS" "$ROOT/bench/server_vs_redis.sh"
