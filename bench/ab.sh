#!/usr/bin/env bash
# One bench run against a fresh server, for A/B comparisons of two builds of Bayou: run it
# alternately with each binary. The server (and NATS, for the JetStream backend) on CPU 0, the
# bench on CPU 1, both at niceness -10, everything on 127.0.0.1, as bench/cluster.sh does.
# Writes OUT.json and prints one line: publish rate, latency, Bayou's and NATS's CPU.
#
# Usage: bench/ab.sh BINARY BACKEND OUT BENCH-ARGS...
#   BACKEND: sync | relaxed (the embedded log's durability) | js (JetStream, one NATS server)
#   e.g. bench/ab.sh target/release/bayou sync /tmp/one --publishers 1 --rate max --batch 1
# Settings (environment):
#   NATS=target/nats-venv/bin/nats-server   the NATS server (scripts/test.sh installs it there)
#   DURATION=8s                             measured time (after 2 s of warm-up)
#   NATS_CPU=0                              the CPU NATS runs on (1: beside the bench instead)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
bayou=$1 backend=$2 out=$3
shift 3
nats_bin=${NATS:-$repo/target/nats-venv/bin/nats-server}
on_cpu0=(nice -n -10 taskset -c 0)
scratch=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$scratch"
}
trap cleanup EXIT

# shellcheck source=bench/lib.sh
source "$here/lib.sh"
cpu_seconds() { # cpu_seconds PID: user + system time so far (0 without a PID)
  [ -z "${1:-}" ] && { echo 0; return; }
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}

nats_pid=""
case $backend in
  sync | relaxed) args=(--durability "$backend") ;;
  js)
    nice -n -10 taskset -c "${NATS_CPU:-0}" "$nats_bin" -a 127.0.0.1 -p 14298 -js -sd "$scratch/nats" >"$scratch/nats.log" 2>&1 &
    nats_pid=$!
    pids+=("$nats_pid")
    wait_port 14298
    args=(--cluster nats://127.0.0.1:14298)
    ;;
  *) echo "BACKEND is sync, relaxed or js" >&2; exit 2 ;;
esac
"${on_cpu0[@]}" "$bayou" serve --anonymous --log warn --listen 127.0.0.1:18398 --pubsub-listen off \
  --data-dir "$scratch/bayou" "${args[@]}" >"$scratch/bayou.log" 2>&1 &
bayou_pid=$!
pids+=("$bayou_pid")
for _ in $(seq 400); do
  curl -fs http://127.0.0.1:18398/healthz >/dev/null && break
  sleep 0.05
done
nats_before=$(cpu_seconds "$nats_pid") start=$(date +%s.%N)
nice -n -10 taskset -c 1 "$bayou" bench --quiet http://127.0.0.1:18398/cometd/66.0 --warmup 2s \
  --duration "${DURATION:-8s}" --server-pid "$bayou_pid" --json "$out.json" "$@" >/dev/null
nats_cores=$(python3 -c "print(round(($(cpu_seconds "$nats_pid") - $nats_before) / ($(date +%s.%N) - $start), 2))")
jq -r --arg nats "$nats_cores" --arg name "$(basename "$out")" \
  '"\($name): published \(.publish_rate | floor)/s, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, Bayou \(.server.cpu_cores * 100 | floor / 100) cores, NATS \($nats) cores, lost \(.lost), duplicated \(.duplicated)"' \
  "$out.json"
