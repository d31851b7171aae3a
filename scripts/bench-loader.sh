#!/usr/bin/env bash
# Loader memory: stream a ~1 GB Parquet test set (4M rows of 64 float32 in
# 1M-row row groups) once through `infergate bench` and report the peak
# resident memory of the infergate process itself (tool_peak_rss_bytes in
# the result; the model's worker is separate). Fails above the limit.
set -euo pipefail
cd "$(dirname "$0")/.."
limit_mb="${LOADER_RSS_LIMIT_MB:-300}"
rows="${LOADER_ROWS:-4000000}"
batch=1024
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
go run ./scripts/genbig -out "$work/big.parquet" -rows "$rows"
size_mb=$(( $(stat -c %s "$work/big.parquet") / 1048576 ))
echo "dataset: $work/big.parquet (${size_mb} MiB, ${rows} rows)"
requests=$(( (rows + batch - 1) / batch ))
start=$(date +%s.%N)
./bin/infergate bench --model testdata/mlp_base.onnx --dataset "$work/big.parquet" \
  --batch-size "$batch" --requests "$requests" --rounds 64 --warmup 0 \
  --intra-op-threads 1 --quiet --json "$work/result.json" >/dev/null
end=$(date +%s.%N)
python3 - "$work/result.json" "$limit_mb" "$start" "$end" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
limit = float(sys.argv[2]); secs = float(sys.argv[4]) - float(sys.argv[3])
peak = r["tool_peak_rss_bytes"] / 2**20
rows = r["targets"][0]["latency"]["count"] * r["config"]["batch_size"]
print(f"streamed {rows:,} rows in {secs:.1f}s; infergate peak RSS {peak:.0f} MiB (limit {limit:.0f} MiB)")
sys.exit(0 if peak <= limit else 1)
PY
