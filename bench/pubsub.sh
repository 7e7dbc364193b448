#!/usr/bin/env bash
# The Pub/Sub API (gRPC, Avro) against WebSocket Bayeux on the same events (issue 16's
# measurements). One release `bayou serve` on core 0, the load generator on core 1, everything
# on 127.0.0.1. Publishers publish over WebSocket Bayeux on platform event channels
# (/event/Bench_{room}__e, allowed with --bayeux-publish); the subscribers read them over
# WebSocket in one run and over the Pub/Sub API in the next, so both runs measure the same
# events and the same publishing cost. Writes JSON per run under bench/results-pubsub/ and
# prints a summary.
#
# Usage: bench/pubsub.sh
# Settings (environment):
#   RATES="1000 10000"      offered events/s of the one-subscriber runs
#   FANOUT=100              subscribers of the fan-out run (1,000 events/s)
#   DURATION=10s            measured time of each run
#   NICE=-10                niceness of the server and the bench
#   PLAINTEXT=1             serve the Pub/Sub API without TLS (to see what TLS costs)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out="$here/results-pubsub"
mkdir -p "$out"
rates=${RATES:-"1000 10000"}
fanout=${FANOUT:-100}
duration=${DURATION:-10s}
niceness=${NICE:--10}
plaintext=${PLAINTEXT:-}
ulimit -n "$(ulimit -Hn)"
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
(cd "$repo" && cargo build --release -p bayou)
bayou="$repo/target/release/bayou"
bench=(nice -n "$niceness" taskset -c 1 "$bayou" bench --quiet)

scratch=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT

port=18195
pubsub_port=18196
admin=bench-admin
export BAYOU_USERNAME=bench@bayou.test BAYOU_PASSWORD='bench password 1'
export BAYOU_CLIENT_ID=bench-client BAYOU_CLIENT_SECRET=bench-secret
nice -n "$niceness" taskset -c 0 "$bayou" serve --durability relaxed --log warn \
  --listen "127.0.0.1:$port" --pubsub-listen "127.0.0.1:$pubsub_port" --data-dir "$scratch/data" \
  --admin-token "$admin" --bayeux-publish '/event/**=allow' ${plaintext:+--pubsub-plaintext} \
  >"$out/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$port/healthz" >/dev/null || { echo "bayou did not start" >&2; exit 1; }

# The platform event types the bench publishes: its stamp's fields.
define_bench_events "$port" "$admin"
token=$(password_token "$port")

scheme=https
suffix=""
ca=(--ca-cert "$scratch/data/pubsub-cert.pem")
if [ -n "$plaintext" ]; then scheme=http; suffix="-plaintext"; ca=(); fi
run() { # run NAME TRANSPORT ARGS…
  local name=$1 transport=$2; shift 2
  "${bench[@]}" "http://127.0.0.1:$port/cometd/66.0" --transport "$transport" \
    --channel '/event/Bench_{room}__e' --token "$token" --server-pid "$pid" \
    --pubsub-url "$scheme://127.0.0.1:$pubsub_port" "${ca[@]}" \
    --warmup 2s --duration "$duration" --json "$out/$name$suffix.json" "$@"
}

for rate in $rates; do
  for transport in websocket pubsub; do
    echo "== one subscriber, $rate events/s, $transport"
    run "one-$rate-$transport" "$transport" --subscribers 1 --rate "$rate"
  done
done
for transport in websocket pubsub; do
  echo "== $fanout subscribers, 1,000 events/s, $transport"
  run "fanout-$transport" "$transport" --subscribers "$fanout" --rate 1000
done
