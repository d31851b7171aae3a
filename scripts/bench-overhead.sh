#!/usr/bin/env bash
# Harness overhead: infergate's measured p50 against a bare in-process loop
# calling Run on the same ~20 µs model, alternating 7 times in one run.
# Prints the median ratio and fails when it exceeds the limit (1.03).
set -euo pipefail
cd "$(dirname "$0")/.."
limit="${OVERHEAD_LIMIT:-1.03}"
out="$(go test -count=1 -run '^$' -bench '^BenchmarkHarnessOverhead$' -benchtime 1x ./bench)"
echo "$out" | grep -E 'Benchmark|overhead' || true
ratio="$(echo "$out" | awk '/p50-ratio/ { for (i = 1; i < NF; i++) if ($(i+1) == "p50-ratio") print $i }')"
[ -n "$ratio" ] || { echo "bench-overhead: no ratio in the benchmark output" >&2; echo "$out" >&2; exit 1; }
echo "harness overhead: p50 ratio infergate/bare = ${ratio} (limit ${limit})"
awk -v r="$ratio" -v l="$limit" 'BEGIN { exit !(r <= l) }' || { echo "bench-overhead: ratio ${ratio} is above ${limit}" >&2; exit 1; }
