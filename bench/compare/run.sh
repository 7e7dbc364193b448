#!/usr/bin/env bash
# Bayou against faye and cometd-nodejs-server, same load generator (`bayou bench`), same
# scenarios, one run. Writes JSON and SVG per run under bench/compare/results/ and the table
# with ratios into docs/benchmarks.md (between the compare:begin/end markers).
#
# Everything listens on 127.0.0.1 only; every load is bounded in time and stops by itself.
# Not part of scripts/test.sh: benchmarks are not tests.
#
# Usage: bench/compare/run.sh            (full run, about 20 minutes)
#        QUICK=1 bench/compare/run.sh    (short runs, fewer search steps: a dry run)
# Settings (environment):
#   BAYOU_BIN=path        use this bayou binary instead of building target/release/bayou
#   BAYOU_DURABILITY=sync|relaxed   Bayou's publish durability [relaxed: faye and CometD keep
#                         nothing on disk; sync = fdatasync before every acknowledgement]
#   PIN=0                 do not pin the server and the bench to separate cores
#   SERVERS="bayou faye cometd bayou-sync"   which servers to run (bayou-sync: Bayou with
#                         --durability sync, the 50-client and chat runs only)
#   NICE=-10              niceness of the servers and the bench [0]; on a machine shared with
#                         other work (builds), a negative value keeps them from waiting for CPU
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
results="$here/results"
mkdir -p "$results"
quick=${QUICK:-0}
pin=${PIN:-1}
servers=${SERVERS:-"bayou faye cometd bayou-sync"}
durability=${BAYOU_DURABILITY:-relaxed}

# 10,000 sockets on each side, plus files: raise the descriptor limit for every process.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 12000 ]; then
  echo "warning: the file descriptor limit is $(ulimit -n); 10,000 subscribers need over 10,000 per process" >&2
fi

niceness=${NICE:-0}
if [ "$pin" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  server_cpu=(nice -n "$niceness" taskset -c 0)
  bench_cpu=(nice -n "$niceness" taskset -c 1)
else
  server_cpu=(nice -n "$niceness")
  bench_cpu=(nice -n "$niceness")
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "installing Debian's nodejs and npm" >&2
  apt-get install -y nodejs npm
fi
(cd "$here" && npm ci --no-audit --no-fund --silent)

bayou=${BAYOU_BIN:-$repo/target/release/bayou}
if [ -z "${BAYOU_BIN:-}" ]; then
  (cd "$repo" && cargo build --release -p bayou)
fi

if [ "$quick" = 1 ]; then
  dur=2s; warm=1s; steps=4; big=2000
else
  dur=8s; warm=2s; steps=10; big=10000
fi

server_pid=""
server_url=""
data_dir=""

start_server() { # name
  local name=$1 log="$results/$1.server.log"
  case $name in
    bayou|bayou-sync)
      local mode=$durability
      if [ "$name" = bayou-sync ]; then mode=sync; fi
      data_dir=$(mktemp -d)
      "${server_cpu[@]}" "$bayou" serve --anonymous --listen 127.0.0.1:0 --data-dir "$data_dir" \
        --log warn --durability "$mode" >"$log" 2>&1 &
      server_pid=$! ;;
    faye)
      "${server_cpu[@]}" node "$here/faye-server.js" >"$log" 2>&1 &
      server_pid=$! ;;
    cometd)
      "${server_cpu[@]}" node "$here/cometd-server.js" >"$log" 2>&1 &
      server_pid=$! ;;
  esac
  for _ in $(seq 300); do
    if grep -q '^listening on ' "$log"; then break; fi
    sleep 0.1
  done
  server_url=$(sed -n 's/^listening on \(http[^ ]*\).*/\1/p' "$log" | head -1)
  [ -n "$server_url" ] || { echo "$name did not start:" >&2; cat "$log" >&2; exit 1; }
  case $name in bayou*) server_url="$server_url/cometd/66.0" ;; esac
  echo "== $name at $server_url (pid $server_pid)" >&2
}

stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  if [ -n "$data_dir" ]; then rm -rf "$data_dir"; data_dir=""; fi
}
trap stop_server EXIT

bench() { # name label args...
  local name=$1 label=$2; shift 2
  echo "-- $name $label" >&2
  if ! "${bench_cpu[@]}" "$bayou" bench "$server_url" --server-pid "$server_pid" \
      --json "$results/$name.$label.json" --svg "$results/$name.$label.svg" "$@"; then
    echo "{\"failed\":true,\"name\":\"$name\",\"label\":\"$label\"}" >"$results/$name.$label.json"
  fi
}

transports_of() {
  case $1 in
    cometd) echo long-polling ;;  # cometd-nodejs-server has no WebSocket transport
    *) echo websocket long-polling ;;
  esac
}

for name in $servers; do
  rm -f "$results/$name".*
  for t in $(transports_of "$name"); do
    start_server "$name"
    # Three times: on a shared machine the tail moves from run to run; the table shows the
    # median run and all three p99s.
    for i in 1 2 3; do
      bench "$name" "fifty$i.$t" --scenario fifty-clients --transport "$t" \
        --warmup "$warm" --duration "$dur"
    done
    # CometD's documented run: 1,000 clients, 100 rooms, 10 rooms each, 1,000 msg/s offered.
    bench "$name" "chat1000.$t" --scenario chat --subscribers 1000 --transport "$t" \
      --warmup "$warm" --duration "$dur"
    if [ "$name" = bayou-sync ]; then stop_server; continue; fi
    # The highest rate at 1,000 subscribers with p99 <= 50 ms and nothing lost.
    bench "$name" "search1000.$t" --scenario chat --subscribers 1000 --transport "$t" \
      --search --max-p99-ms 50 --start-rate 250 --max-steps "$steps" --attempts 2 \
      --warmup "$warm" --duration "$dur"
    stop_server
    # 10,000 subscribers on one channel, 1 message/s: sessions held, memory per session.
    start_server "$name"
    bench "$name" "hold$big.$t" --subscribers "$big" --rate 1 --transport "$t" \
      --setup-concurrency 200 --warmup "$warm" --duration "$dur" --drain 10s
    stop_server
  done
done

node "$here/report.js" "$results" "$repo/docs/benchmarks.md" "$durability" "$pin" "$niceness" \
  "$([ "$quick" = 1 ] && echo quick || echo full)"
echo "table written to docs/benchmarks.md; results in $results" >&2
