#!/usr/bin/env bash
# Long-polling against WebSocket and against the peers, in one run (issue 20's measurements):
# Bayou over long-polling and over WebSocket, cometd-nodejs-server 1.2.1 (long-polling only)
# and faye 1.4.3 over long-polling, the same load generator (`bayou bench`) for all.
#
# For each: CPU per delivery at a fixed load (chat and fan-out, 1,000 subscribers, 200,000
# deliveries/s offered), the highest sustained rate at p99 <= 50 ms (chat and fan-out), and
# memory per session with 10,000 subscribers held idle. Servers on core 0, the bench on core 1,
# both at niceness NICE; everything on 127.0.0.1, every run bounded in time. Writes JSON per
# run under bench/results-long-polling/ and prints a summary table.
#
# Usage: bench/long-polling.sh            (about 30 minutes)
# Settings (environment):
#   SERVERS="bayou-lp bayou-ws cometd faye"   which to run
#   PARTS="fixed search hold"                 which measurements
#   DURATION=6s WARMUP=2s STEPS=8             run length and search steps
#   NICE=-10
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out="$here/results-long-polling"
mkdir -p "$out"
servers=${SERVERS:-"bayou-lp bayou-ws cometd faye"}
parts=${PARTS:-"fixed search hold"}
duration=${DURATION:-6s}
warmup=${WARMUP:-2s}
steps=${STEPS:-8}
niceness=${NICE:--10}
ulimit -n "$(ulimit -Hn)"

(cd "$repo" && cargo build --release -p bayou)
(cd "$here/compare" && npm ci --no-audit --no-fund --silent)
bayou="$repo/target/release/bayou"

scratch=$(mktemp -d)
pid=""
url=""
stop_server() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  pid=""
  rm -rf "${scratch:?}/data"
}
trap 'stop_server; rm -rf "$scratch"' EXIT

start_server() { # NAME
  local log="$scratch/server.log"
  case $1 in
    bayou-*)
      nice -n "$niceness" taskset -c 0 "$bayou" serve --anonymous --listen 127.0.0.1:0 \
        --pubsub-listen off --data-dir "$scratch/data" --log warn --durability relaxed \
        >"$log" 2>&1 & ;;
    cometd) nice -n "$niceness" taskset -c 0 node "$here/compare/cometd-server.js" >"$log" 2>&1 & ;;
    faye) nice -n "$niceness" taskset -c 0 node "$here/compare/faye-server.js" >"$log" 2>&1 & ;;
  esac
  pid=$!
  for _ in $(seq 300); do
    grep -q '^listening on ' "$log" && break
    sleep 0.1
  done
  url=$(sed -n 's/^listening on \(http[^ ]*\).*/\1/p' "$log" | head -1)
  [ -n "$url" ] || { echo "$1 did not start:" >&2; cat "$log" >&2; exit 1; }
  case $1 in bayou-*) url="$url/cometd/66.0" ;; esac
}

transport_of() { case $1 in bayou-ws) echo websocket ;; *) echo long-polling ;; esac; }

bench() { # NAME LABEL ARGS…
  local name=$1 label=$2; shift 2
  echo "-- $name $label" >&2
  nice -n "$niceness" taskset -c 1 "$bayou" bench "$url" --quiet --server-pid "$pid" \
    --transport "$(transport_of "$name")" --warmup "$warmup" --duration "$duration" \
    --json "$out/$name.$label.json" "$@" ||
    echo "{\"failed\":true}" >"$out/$name.$label.json"
}

for name in $servers; do
  rm -f "$out/$name".*
  for part in $parts; do
    start_server "$name"
    case $part in
      fixed)
        bench "$name" chat-fixed --scenario chat --rate 2000
        bench "$name" fanout-fixed --scenario fanout --subscribers 1000 --rate 200 ;;
      search)
        for scenario in chat fanout; do
          bench "$name" "$scenario-search" --scenario "$scenario" --subscribers 1000 \
            --search --max-p99-ms 50 --start-rate 250 --max-steps "$steps" --attempts 2
        done ;;
      hold)
        bench "$name" hold --subscribers 10000 --rate 1 --setup-concurrency 200 --drain 10s ;;
    esac
    stop_server
  done
done

# The summary: one line per run; for a search, its best sustained step and the first rate
# above it that was not sustained.
for f in "$out"/*.json; do
  jq -r --arg run "$(basename "$f" .json)" '
    def line($r): "\($r.deliveries_per_s | floor) deliveries/s\tp99 \($r.latency_ms.p99) ms\t" +
      "server \($r.server.cpu_cores * 1000 | floor / 1000) cores\t" +
      "\($r.server.cpu_cores / ([$r.deliveries_per_s, 1] | max) * 1e9 | floor / 1000) µs/delivery\t" +
      "bench \($r.bench.cpu_cores * 1000 | floor / 1000) cores\t" +
      "RSS/session \(($r.server.rss_per_session_bytes // 0) / 102.4 | floor / 10) KiB\tlost \($r.lost)";
    if .failed then "\($run)\tFAILED"
    elif .steps then
      ([.steps[] | select(.sustained)] | max_by(.rate)) as $best |
      ([.steps[] | select(.sustained | not) | select(.rate > ($best.rate // 0))] | min_by(.rate)) as $next |
      if $best == null then "\($run)\tnothing sustained" else
      "\($run)\tbest \($best.rate) msg/s\t" + line($best.result) +
      "\tnext \($next.rate // "-"): \($next.reason // "-")" end
    else "\($run)\t" + line(.) end' "$f"
done | column -t -s $'\t'
