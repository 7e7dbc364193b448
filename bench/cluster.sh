#!/usr/bin/env bash
# Bayou on NATS JetStream against the embedded backend (issue 15's measurements). Release
# `bayou serve` and nats-server on core 0, the load generator on core 1; everything on
# 127.0.0.1, every run bounded in time. Writes JSON per run under bench/results-cluster/ and
# prints a summary.
#
# Usage: bench/cluster.sh
# Settings (environment):
#   NATS=target/nats-venv/bin/nats-server   the NATS server (scripts/test.sh installs it there)
#   PARTS="latency publish fanout"          which runs to make
#   DURATION=10s                            measured time of each run
#   NICE=-10                                niceness of the servers and the bench
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out="$here/results-cluster"
mkdir -p "$out"
nats_bin=${NATS:-$repo/target/nats-venv/bin/nats-server}
parts=${PARTS:-"latency publish fanout"}
duration=${DURATION:-10s}
niceness=${NICE:--10}
want() { [[ " $parts " == *" $1 "* ]]; }
ulimit -n "$(ulimit -Hn)"
(cd "$repo" && cargo build --release -p bayou)
bayou="$repo/target/release/bayou"
on_server=(nice -n "$niceness" taskset -c 0)
bench=(nice -n "$niceness" taskset -c 1 "$bayou" bench --quiet)

pids=()
nats_pids=()
# Every data directory (NATS's and Bayou's) lives under one scratch folder, removed at exit.
scratch=$(mktemp -d)
cleanup() {
  for p in "${pids[@]}" "${nats_pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$scratch"
}
trap cleanup EXIT

# shellcheck source=bench/lib.sh
source "$here/lib.sh"

nats_urls=""
start_nats() { # start_nats COUNT: one server, or COUNT clustered with each other
  local count=$1 routes="" i
  nats_urls=""
  for i in $(seq "$count"); do routes+="${routes:+,}nats://127.0.0.1:$((16220 + i))"; done
  for i in $(seq "$count"); do
    local dir; dir=$(mktemp -d -p "$scratch")
    local cluster=()
    if [ "$count" -gt 1 ]; then
      cluster=(--cluster_name bench --cluster "nats://127.0.0.1:$((16220 + i))" --routes "$routes")
    fi
    "${on_server[@]}" "$nats_bin" -a 127.0.0.1 -p $((14220 + i)) -js -sd "$dir" -n "bench-$i" \
      "${cluster[@]}" >"$out/nats-$i.log" 2>&1 &
    nats_pids+=($!)
    nats_urls+="${nats_urls:+,}nats://127.0.0.1:$((14220 + i))"
  done
  for i in $(seq "$count"); do wait_port $((14220 + i)); done
}
stop_nats() {
  for p in "${nats_pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  nats_pids=()
}

start_bayou() { # start_bayou PORT EXTRA-ARGS…: the pid in $pid
  local port=$1; shift
  local data; data=$(mktemp -d -p "$scratch")
  "${on_server[@]}" "$bayou" serve --anonymous --log warn --listen "127.0.0.1:$port" --pubsub-listen off \
    --data-dir "$data" "$@" >"$out/bayou-$port.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  # A node waits up to 30 s for a fresh NATS cluster to elect its JetStream leaders.
  for _ in $(seq 800); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && return 0
    sleep 0.05
  done
  echo "bayou on port $port did not start" >&2; cat "$out/bayou-$port.log" >&2; exit 1
}
stop_bayou() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pids=()
}

# backend NAME: the flags a Bayou node gets for it, after starting what it needs.
# nats_cpu: CPU seconds every NATS server of this run has used so far.
nats_cpu() {
  local total=0 p ticks
  for p in "${nats_pids[@]}"; do
    ticks=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    total=$((total + ticks))
  done
  python3 -c "print($total / $(getconf CLK_TCK))"
}
# measured NAME COMMAND…: runs a bench and records the NATS servers' average CPU (cores) over it.
measured() {
  local name=$1; shift
  local before start; before=$(nats_cpu); start=$(date +%s.%N)
  "$@"
  python3 -c "print(round(($(nats_cpu) - $before) / ($(date +%s.%N) - $start), 3))" >"$out/$name.nats-cpu"
}

backend_args=()
backend() {
  case $1 in
    embedded-sync) backend_args=(--durability sync) ;;
    embedded-relaxed) backend_args=(--durability relaxed) ;;
    jetstream-r1) start_nats 1; backend_args=(--cluster "$nats_urls") ;;
    jetstream-r3) start_nats 3; backend_args=(--cluster "$nats_urls" --cluster-replicas 3) ;;
  esac
}

if want latency; then
  echo "== publish → deliver latency: 1 subscriber (WebSocket), 1,000 and 10,000 events/s"
  for b in embedded-sync embedded-relaxed jetstream-r1 jetstream-r3; do
    for rate in 1000 10000; do
      backend "$b"
      start_bayou 18301 "${backend_args[@]}"
      measured "latency-$b-$rate" "${bench[@]}" http://127.0.0.1:18301/cometd/66.0 --subscribers 1 --publishers 4 \
        --rate "$rate" --warmup 2s --duration "$duration" --server-pid "$pid" \
        --json "$out/latency-$b-$rate.json"
      stop_bayou; stop_nats
    done
  done
fi

if want publish; then
  echo "== highest publish rate: 8 publishers as fast as acknowledged, 1 subscriber"
  for b in embedded-sync embedded-relaxed jetstream-r1 jetstream-r3; do
    for batch in 1 10; do
      backend "$b"
      start_bayou 18302 "${backend_args[@]}"
      measured "publish-$b-batch$batch" "${bench[@]}" http://127.0.0.1:18302/cometd/66.0 --subscribers 1 --publishers 8 \
        --rate max --max-in-flight 64 --batch "$batch" --warmup 2s --duration "$duration" \
        --server-pid "$pid" --json "$out/publish-$b-batch$batch.json"
      stop_bayou; stop_nats
    done
  done
fi

if want fanout; then
  echo "== fan-out: chat, 1,000 subscribers, 2,000 msg/s: one node, then three nodes on one NATS"
  for b in embedded-relaxed jetstream-r1; do
    backend "$b"
    start_bayou 18303 "${backend_args[@]}"
    measured "fanout-$b-1node" "${bench[@]}" http://127.0.0.1:18303/cometd/66.0 --scenario chat --rate 2000 \
      --warmup 2s --duration "$duration" --server-pid "$pid" --json "$out/fanout-$b-1node.json"
    stop_bayou; stop_nats
  done
  # Three nodes, each with a third of the subscribers and of the publishers, each bench on
  # its own channels: every node still takes every event from the stream.
  backend jetstream-r1
  node_pids=()
  for i in 1 2 3; do
    start_bayou $((18310 + i)) "${backend_args[@]}" --node-id "bench-$i"
    node_pids+=("$pid")
  done
  bench_pids=()
  for i in 1 2 3; do
    "${bench[@]}" http://127.0.0.1:$((18310 + i))/cometd/66.0 --scenario chat --subscribers 334 \
      --publishers 4 --rate 667 --channel "/chat/node$i" --warmup 2s --duration "$duration" \
      --server-pid "${node_pids[$((i - 1))]}" --json "$out/fanout-jetstream-r1-3nodes-$i.json" &
    bench_pids+=($!)
  done
  for p in "${bench_pids[@]}"; do wait "$p"; done
  stop_bayou; stop_nats
fi

python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
def load(name):
    path = os.path.join(out, name)
    return json.load(open(path)) if os.path.exists(path) else None

def cpu(r):
    s = r.get("server") or {}
    return s.get("cpu_cores") or s.get("cpu") or 0

def nats(name):
    path = os.path.join(out, name + ".nats-cpu")
    return open(path).read().strip() if os.path.exists(path) else "–"

def line(label, r, name=None):
    if r is None:
        return
    lat = r["latency_ms"]
    print(f"| {label} | {r['publish_rate']:.0f} | {r['deliveries_per_s']:.0f} | "
          f"{lat['p50']:.2f} | {lat['p99']:.2f} | {r['lost']} | {r['duplicated']} | {cpu(r):.2f} | "
          f"{nats(name) if name else '–'} |")

print("\n| run | published/s | deliveries/s | p50 ms | p99 ms | lost | dup | Bayou CPU (cores) | NATS CPU (cores) |")
print("|---|---|---|---|---|---|---|---|---|")
for b in ["embedded-sync", "embedded-relaxed", "jetstream-r1", "jetstream-r3"]:
    for rate in [1000, 10000]:
        line(f"latency {b} {rate}/s", load(f"latency-{b}-{rate}.json"), f"latency-{b}-{rate}")
for b in ["embedded-sync", "embedded-relaxed", "jetstream-r1", "jetstream-r3"]:
    for batch in [1, 10]:
        line(f"publish max {b} batch {batch}", load(f"publish-{b}-batch{batch}.json"), f"publish-{b}-batch{batch}")
for b in ["embedded-relaxed", "jetstream-r1"]:
    line(f"fan-out {b} 1 node", load(f"fanout-{b}-1node.json"), f"fanout-{b}-1node")
for i in [1, 2, 3]:
    line(f"fan-out jetstream-r1 3 nodes: node {i}", load(f"fanout-jetstream-r1-3nodes-{i}.json"))
PY
