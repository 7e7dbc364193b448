#!/usr/bin/env bash
# One run of bench/pubsub.sh's setup against a fresh server, for A/B series: the same
# platform event types, credentials and pinning (server on CPU 0, bench on CPU 1, niceness
# -10), subscribers over TRANSPORT (websocket or pubsub), publishers over WebSocket.
# Prints one line: server CPU, delivered/s, p50, p99, lost; writes OUT.json.
#
# Usage: bench/pubsub_ab.sh BINARY TRANSPORT OUT BENCH-ARGS...
#   e.g. bench/pubsub_ab.sh target/release/bayou pubsub /tmp/one --subscribers 1 --rate 10000
# Settings (environment): DURATION=9s (measured, after 2 s of warm-up), PLAINTEXT=1 (the
# Pub/Sub API without TLS).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bayou=$1 transport=$2 out=$3
shift 3
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
scratch=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT

port=18295 pubsub_port=18296 admin=bench-admin
export BAYOU_USERNAME=bench@bayou.test BAYOU_PASSWORD='bench password 1'
export BAYOU_CLIENT_ID=bench-client BAYOU_CLIENT_SECRET=bench-secret
plaintext=${PLAINTEXT:-}
nice -n -10 taskset -c 0 "$bayou" serve --durability relaxed --log warn \
  --listen "127.0.0.1:$port" --pubsub-listen "127.0.0.1:$pubsub_port" --data-dir "$scratch/data" \
  --admin-token "$admin" --bayeux-publish '/event/**=allow' ${plaintext:+--pubsub-plaintext} \
  >"$scratch/server.log" 2>&1 &
pid=$!
wait_port "$port"
define_bench_events "$port" "$admin"
token=$(password_token "$port")
scheme=https ca=(--ca-cert "$scratch/data/pubsub-cert.pem")
if [ -n "$plaintext" ]; then scheme=http ca=(); fi
nice -n -10 taskset -c 1 "$bayou" bench --quiet "http://127.0.0.1:$port/cometd/66.0" \
  --transport "$transport" --channel '/event/Bench_{room}__e' --token "$token" --server-pid "$pid" \
  --pubsub-url "$scheme://127.0.0.1:$pubsub_port" "${ca[@]}" \
  --warmup 2s --duration "${DURATION:-9s}" --json "$out.json" "$@" >/dev/null
jq -r --arg name "$(basename "$out")" \
  '"\($name): server \(.server.cpu_cores * 1000 | floor / 1000) cores, \(.deliveries_per_s | floor) delivered/s, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, lost \(.lost)"' \
  "$out.json"
