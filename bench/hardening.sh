#!/usr/bin/env bash
# Slow consumers, idle sessions and handshake storms against a release `bayou serve` (issue 17's
# benchmarks). Server on core 0, load generator on core 1; everything on 127.0.0.1, every run
# bounded in time. Writes JSON per run under bench/results-hardening/ and prints a summary.
#
# Usage: bench/hardening.sh
# Settings (environment):
#   IDLE=18000        idle sessions per transport (each process may hold 20,000 files here,
#                     the server included: the figure above that is shown from the per-session cost)
#   RATE=10000        chat messages/s offered in the slow-consumer runs
#   STALLED=1000      slow consumers
#   NICE=-10          niceness of the server and the bench
#   PARTS="idle stalled storm"   which runs to make
#   STALL_DURATION=20s  measured time of the slow-consumer runs
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out="$here/results-hardening"
mkdir -p "$out"
idle=${IDLE:-18000}
rate=${RATE:-10000}
stalled=${STALLED:-1000}
niceness=${NICE:--10}
parts=${PARTS:-"idle stalled storm"}
want() { [[ " $parts " == *" $1 "* ]]; }
ulimit -n "$(ulimit -Hn)"
(cd "$repo" && cargo build --release -p bayou)
bayou="$repo/target/release/bayou"
server=(nice -n "$niceness" taskset -c 0 "$bayou" serve --anonymous --durability relaxed --log warn --pubsub-listen off)
bench=(nice -n "$niceness" taskset -c 1 "$bayou" bench --quiet)

pid=""
# Each server's data directory lives under one scratch folder, removed at exit.
scratch=$(mktemp -d)
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi; rm -rf "$scratch"' EXIT
start() { # start PORT EXTRA-ARGS…
  local port=$1; shift
  local data; data=$(mktemp -d -p "$scratch")
  "${server[@]}" --listen "127.0.0.1:$port" --data-dir "$data" "$@" >"$out/server-$port.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && return 0
    sleep 0.1
  done
  echo "the server on port $port did not start" >&2; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; }

want idle && echo "== idle sessions: $idle per transport"
want idle && for transport in websocket long-polling; do
  start 18181
  "${bench[@]}" http://127.0.0.1:18181/cometd/66.0 --transport "$transport" \
    --subscribers "$idle" --rooms "$idle" --rooms-per-client 1 --rate 1 \
    --warmup 1s --duration 10s --setup-concurrency 256 --server-pid "$pid" \
    --json "$out/idle-$transport.json"
  stop
done

want stalled && echo "== slow consumers: chat, 1,000 subscribers, $rate msg/s, 0 and $stalled stalled"
want stalled && for n in 0 "$stalled"; do
  start 18182 --max-queue-bytes 1048576 --write-timeout 10000
  "${bench[@]}" http://127.0.0.1:18182/cometd/66.0 --scenario chat --transport websocket \
    --rate "$rate" --stalled "$n" --warmup 2s --duration "${STALL_DURATION:-20s}" --server-pid "$pid" \
    --json "$out/stalled-$n.json"
  curl -fs http://127.0.0.1:18182/healthz >"$out/stalled-$n-healthz.json"
  stop
done

if want storm; then
  echo "== handshake storm: 64 loops, 10 s"
  start 18183
  "${bench[@]}" http://127.0.0.1:18183/cometd/66.0 --scenario handshakes --subscribers 64 \
    --duration 10s --server-pid "$pid" --json "$out/handshakes.json"
  stop
fi

python3 - "$out" <<'PY'
import json, sys, os
out = sys.argv[1]
load = lambda name: json.load(open(os.path.join(out, name)))
exists = lambda name: os.path.exists(os.path.join(out, name))
print("\n| run | sessions | server RSS before → after setup | per session | p99 | server CPU |")
print("|---|---|---|---|---|---|")
for t in [t for t in ["websocket", "long-polling"] if exists(f"idle-{t}.json")]:
    r = load(f"idle-{t}.json"); s = r["server"]
    print(f"| idle {t} | {r['subscribers']} | {s['rss_before_bytes']/2**20:.0f} → {s['rss_after_setup_bytes']/2**20:.0f} MiB | {s['rss_per_session_bytes']/1024:.1f} KiB | — | — |")
for n in [n for n in ["0", os.environ.get("STALLED", "1000")] if exists(f"stalled-{n}.json")]:
    r = load(f"stalled-{n}.json"); s = r["server"]; h = load(f"stalled-{n}-healthz.json")
    print(f"| chat + {n} stalled | {h['sessions']} left at the end | {s['rss_before_bytes']/2**20:.0f} → max {s['rss_max_bytes']/2**20:.0f} MiB | — | {r['latency_ms']['p99']:.1f} ms ({r['deliveries_per_s']:.0f} deliveries/s, lost {r['lost']}) | {s['cpu_cores'] or 0:.2f} |")
r = load("handshakes.json") if exists("handshakes.json") else None
r and print(f"\nhandshakes: {r['handshakes_per_s']:.0f}/s, p99 {r['latency_ms']['p99']:.1f} ms, failed {r['failed']}, server CPU {r['server_cpu_cores'] or 0:.2f}, bench CPU {r['bench_cpu_cores'] or 0:.2f}, server RSS {r['server_rss_before_bytes']/2**20:.0f} → {r['server_rss_after_bytes']/2**20:.0f} MiB")
PY
