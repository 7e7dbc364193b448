#!/usr/bin/env bash
# The fuzz campaign: every target in fuzz/Cargo.toml, one after another, for a fixed number of
# executions each (default 10,000,000), at the lowest CPU priority and on one core at a time.
# Not part of scripts/test.sh: it needs a nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz --locked`) and takes hours. Results: docs/security.md#fuzzing.
#
# Usage: scripts/fuzz.sh [-n RUNS] [TARGET...]
#   -n RUNS   executions per target (also FUZZ_RUNS; default 10000000)
#   TARGET    the targets to run (default: every [[bin]] of fuzz/Cargo.toml, as `cargo fuzz list`)
#
# Each target is built as cargo-fuzz builds by default (release, debug assertions and overflow
# checks, AddressSanitizer) and run as
#   cargo +nightly fuzz run TARGET fuzz/corpus/TARGET fuzz/seeds/TARGET -- -runs=RUNS
#       -max_len=… [-dict=…] -timeout=10 -print_final_stats=1
# The corpus grows in fuzz/corpus/TARGET (git-ignored; kept between campaigns), starting from the
# seeds in fuzz/seeds/TARGET; a crash, leak or input slower than 10 s is written to
# fuzz/artifacts/TARGET/ and fails the script (after the remaining targets have run). Each run's
# full libFuzzer log is kept in fuzz/artifacts/logs/TARGET.log.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
fuzz=$root/fuzz

runs=${FUZZ_RUNS:-10000000}
while getopts "n:h" opt; do
  case $opt in
    n) runs=$OPTARG ;;
    h) sed -n '2,22p' "$0"; exit 0 ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
case $runs in '' | *[!0-9]*) echo "RUNS must be a number: $runs" >&2; exit 2 ;; esac

cd "$fuzz"
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

# Longest input per target (libFuzzer grows its inputs up to this), and its dictionary.
settings() {
  dict=
  case $1 in
    decode_batch) max_len=32768 ;;  # a Bayeux request up to max_request_bytes
    channel_name) max_len=1024 ;;   # both sides of the 512-byte channel name limit
    soql_parse) max_len=4096; dict=$fuzz/soql.dict ;;  # PushTopic queries stop at 1,300 chars
    log_record) max_len=4096 ;;     # a stored event record
    bench_frame) max_len=16384 ;;   # a response body or WebSocket frame the bench reads
    soap_envelope) max_len=65536; dict=$fuzz/soap_envelope.dict ;;  # the SOAP body limit
    rest_json) max_len=16384; dict=$fuzz/rest_json.dict ;;  # create/update/composite/push bodies
    *) max_len=4096 ;;
  esac
}

echo "==> Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "==> Toolchain: $(rustc +nightly --version), $(cargo fuzz --version 2>/dev/null || echo cargo-fuzz)"
echo "==> $(date -u +%Y-%m-%dT%H:%M:%SZ): ${#targets[@]} targets, $runs executions each"
echo "==> Building every fuzz target (once, so that the timed runs only run)"
nice -n 19 cargo +nightly fuzz build

mkdir -p "$fuzz/artifacts/logs"
rows=()
failed=()
for target in "${targets[@]}"; do
  settings "$target"
  corpus=$fuzz/corpus/$target
  mkdir -p "$corpus"
  dirs=("$corpus")
  [ -d "$fuzz/seeds/$target" ] && dirs+=("$fuzz/seeds/$target")
  args=(-runs="$runs" -max_len="$max_len" -timeout=10 -print_final_stats=1)
  [ -n "$dict" ] && args+=(-dict="$dict")
  log=$fuzz/artifacts/logs/$target.log
  echo
  echo "==> $target: cargo +nightly fuzz run $target ${dirs[*]#"$root"/} -- ${args[*]//"$root"\//}"
  start=$(date +%s.%N)
  status=0
  nice -n 19 cargo +nightly fuzz run "$target" "${dirs[@]}" -- "${args[@]}" >"$log" 2>&1 || status=$?
  end=$(date +%s.%N)
  wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  executed=${executed:-$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')}
  executed=${executed:-0}
  rate=$(awk -v n="$executed" -v s="$wall" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|NEW|REDUCE|pulse|INITED)' "$log" | tail -n 1 || true)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([0-9]+)\/.*/\1/p' <<<"$last")
  if [ "$status" -eq 0 ]; then
    result=0
  else
    result="FAILED (exit $status)"
    failed+=("$target")
    echo "--- $target failed; the end of $log:"
    grep -v '# Uses:' "$log" | tail -n 40
  fi
  printf '    %s executions in %s s (%s exec/s), cov %s, ft %s, corpus %s, crashes %s\n' \
    "$executed" "$wall" "$rate" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
  rows+=("| \`$target\` | $executed | $wall s | $rate | ${cov:-?} | ${ft:-?} | $max_len | $result |")
done

echo
echo "==> Summary ($(date -u +%Y-%m-%d), $(nproc) cores, nice 19, one target at a time)"
echo "| Target | Executions | Wall time | Exec/s | Coverage (edges) | Features | max_len | Crashes |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${rows[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "==> FAILED: ${failed[*]} (inputs in fuzz/artifacts/<target>/; minimise with cargo +nightly fuzz tmin)" >&2
  exit 1
fi
echo "==> No failures"
