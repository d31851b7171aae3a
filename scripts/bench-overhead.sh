#!/usr/bin/env bash
# Harness overhead: the p50 that infergate reports (bench.Measure with the
# CLI's defaults, the model in its worker process) against a bare in-process
# loop calling Run on the same model, an MLP the benchmark tunes to about
# 15 µs per call, alternating 7 times in one run. Prints the median ratio
# and fails when it exceeds the limit (1.03); the paired line (two targets
# of the model measured together, as `infergate run` does) is for reading.
set -euo pipefail
cd "$(dirname "$0")/.."
limit="${OVERHEAD_LIMIT:-1.03}"
out="$(go test -count=1 -run '^$' -bench '^BenchmarkHarnessOverhead$' -benchtime 1x ./bench)"
echo "$out" | grep -E 'Benchmark|model:|pair [0-9]|overhead' || true
metric() { echo "$out" | awk -v m="$1" '/^BenchmarkHarnessOverhead/ { for (i = 1; i < NF; i++) if ($(i+1) == m) print $i }'; }
ratio="$(metric p50-ratio)"
[ -n "$ratio" ] || { echo "bench-overhead: no ratio in the benchmark output" >&2; echo "$out" >&2; exit 1; }
bare_ns="$(metric bare-p50-ns)"
echo "harness overhead: p50 ratio infergate/bare = ${ratio} (limit ${limit}; bare-loop p50 ${bare_ns} ns)"
echo "harness overhead, paired targets: p50 ratio infergate/bare = $(metric pair-p50-ratio) (not checked)"
awk -v r="$ratio" -v l="$limit" 'BEGIN { exit !(r <= l) }' || { echo "bench-overhead: ratio ${ratio} is above ${limit}" >&2; exit 1; }
