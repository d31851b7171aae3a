#!/usr/bin/env bash
# GPU check of infergate (issue 7), on a borrowed GPU machine: no Go, no
# network, torch with CUDA, a CPU-only ONNX Runtime. See docs/gpu-check.md.
#
#   bash scripts/gpu-check.sh prepare   # here: build out/gpu-check/*.gz
#   bash scripts/gpu-check.sh           # there, from the repo root
#   bash scripts/gpu-check.sh local     # here, no GPU: the script's logic,
#                                       # python-backend servers, metrics path
#
# The device tool carries ignored paths only when named:
#   run(command="bash scripts/gpu-check.sh", carry=["out/gpu-check"])
#
# Exits 0 only when every required step passes (WARN and SKIP do not fail).
# With $OUT set, the log and every JSON/markdown result are copied there.
set -euo pipefail

cd "$(dirname "$0")/.."
MODE="${1:-gpu}"
ART=out/gpu-check
ORT_VERSION=1.24.3
MAX_ARTIFACT_BYTES=$((48 << 20))
SERVER_TIMEOUT=60

say() { printf '%s\n' "$*"; }
hr() { say ""; say "== $*"; }
die() { say "gpu-check: error: $*" >&2; exit 2; }

# ---------------------------------------------------------------- prepare
if [[ "$MODE" == prepare ]]; then
	command -v go >/dev/null || die "prepare needs Go"
	hr "make ort"
	make ort
	lib="${INFERGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/infergate}/onnxruntime/${ORT_VERSION}/libonnxruntime.so.1"
	[[ -f "$lib" ]] || die "no ONNX Runtime at $lib after make ort"
	rm -rf "$ART"
	mkdir -p "$ART"
	version="$(git describe --tags --always --dirty 2>/dev/null || echo dev)"
	hr "go build ./cmd/infergate (linux/amd64, cgo, version $version)"
	CGO_ENABLED=1 GOOS=linux GOARCH=amd64 \
		go build -ldflags "-s -w -X main.version=$version" -o "$ART/infergate" ./cmd/infergate
	say "glibc symbols the binary needs: $(objdump -T "$ART/infergate" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -1 || echo '?')"
	gzip -9 -f "$ART/infergate"
	gzip -9 -c "$lib" >"$ART/libonnxruntime.so.1.gz"
	hr "artifacts"
	total=0
	for f in "$ART"/infergate.gz "$ART"/libonnxruntime.so.1.gz; do
		n=$(stat -c %s "$f")
		total=$((total + n))
		printf '%-40s %10d bytes (%s MiB)\n' "$f" "$n" "$(awk -v n="$n" 'BEGIN{printf "%.1f", n/1048576}')"
	done
	printf '%-40s %10d bytes (%s MiB), limit %d MiB\n' total "$total" \
		"$(awk -v n="$total" 'BEGIN{printf "%.1f", n/1048576}')" $((MAX_ARTIFACT_BYTES >> 20))
	if ((total > MAX_ARTIFACT_BYTES)); then
		die "artifacts exceed $((MAX_ARTIFACT_BYTES >> 20)) MiB"
	fi
	say "ready: run(command=\"bash scripts/gpu-check.sh\", carry=[\"$ART\"])"
	exit 0
fi

case "$MODE" in
gpu | local) ;;
*) die "unknown mode '$MODE': want prepare, local or nothing (the GPU run)" ;;
esac

# ---------------------------------------------------------------- setup
mkdir -p "$ART"
RES="$ART" # JSON/markdown results, infergate's output and server logs
rm -f "$RES"/*.json "$RES"/*.md "$RES"/*.stdout "$RES"/*.stderr "$RES"/*.log
LOGFILE="${OUT:-$RES}/gpu-check.log"
mkdir -p "$(dirname "$LOGFILE")"
: >"$LOGFILE"
exec > >(tee -a "$LOGFILE") 2>&1

TMP="$(mktemp -d)"
SERVER_PIDS=()
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	local code=$?
	set +e
	for pid in "${SERVER_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${SERVER_PIDS[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
	done
	if [[ -n "${OUT:-}" ]]; then
		cp -f "$RES"/*.json "$RES"/*.md "$RES"/*.stderr "$RES"/server-*.log "$OUT"/ 2>/dev/null
	fi
	rm -rf "$TMP"
	exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

STEPS=()    # "name|PASS/FAIL/WARN/SKIP|note"
record() {
	STEPS+=("$1|$2|$3")
	say "-> $1: $2${3:+ ($3)}"
}

hr "gpu-check ($MODE mode) $(date -u '+%Y-%m-%d %H:%M:%S UTC') on ${HOSTNAME:-?}, $(nproc) cores"
say "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?') $(git status --porcelain 2>/dev/null | grep -q . && echo '(dirty tree)')"

if [[ "$MODE" == local ]] && command -v go >/dev/null; then
	hr "build (local mode: go build, ORT from make ort)"
	make ort
	ORT="${INFERGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/infergate}/onnxruntime/${ORT_VERSION}/libonnxruntime.so.1"
	go build -o "$TMP/infergate" ./cmd/infergate
	IG="$TMP/infergate"
else
	hr "unpack $ART"
	for f in infergate.gz libonnxruntime.so.1.gz; do
		[[ -f "$ART/$f" ]] || die "no $ART/$f: run 'bash scripts/gpu-check.sh prepare' first, and carry $ART"
	done
	gunzip -c "$ART/infergate.gz" >"$TMP/infergate"
	chmod +x "$TMP/infergate"
	gunzip -c "$ART/libonnxruntime.so.1.gz" >"$TMP/libonnxruntime.so.1"
	IG="$TMP/infergate"
	ORT="$TMP/libonnxruntime.so.1"
fi
say "infergate: $("$IG" --version 2>&1 | head -1)"
say "ONNX Runtime (CPU build): $ORT"

hr "machine"
if command -v nvidia-smi >/dev/null; then
	nvidia-smi -L || true
	nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv || true
else
	say "nvidia-smi: not found"
fi
python3 - <<'EOF' || true
try:
    import torch
    print("torch", torch.__version__, "cuda available:", torch.cuda.is_available(),
          "cuda", torch.version.cuda,
          "devices:", [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])
except Exception as e:
    print("torch: not usable:", e)
EOF

if [[ "$MODE" == gpu ]]; then
	BACKEND=(--backend torch --device cuda)
else
	BACKEND=(--backend python)
fi

# run_ig NAME ARGS...: runs infergate with stdout and stderr in $RES/NAME.*,
# shows them, and leaves the exit code in RC.
run_ig() {
	local name=$1
	shift
	say "\$ infergate $*"
	set +e
	"$IG" "$@" >"$RES/$name.stdout" 2>"$RES/$name.stderr"
	RC=$?
	set -e
	sed 's/^/  | /' "$RES/$name.stdout" | grep -v '^  | \[ *[0-9.]*s\]' || true
	sed 's/^/  ! /' "$RES/$name.stderr" | grep -v '^  ! \[ *[0-9.]*s\]' || true
	say "exit code: $RC"
}

# show_result FILE: the checks, the targets' GPU usage and the GPUs.
show_result() {
	[[ -f "$1" ]] || { say "(no $1)"; return 0; }
	python3 - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
print("verdict:", json.dumps(d.get("verdict")))
for c in d.get("checks") or []:
    print("check %-28s %-13s ratio %.3f  production %s  candidate %s  %s" % (
        c.get("name"), c.get("outcome"), c.get("ratio", 0), c.get("production"),
        c.get("candidate"), c.get("message", "")))
for t in d.get("targets") or []:
    print("target %-10s gpu %s" % (t.get("role"), json.dumps(t.get("gpu"))))
print("machine.gpus", json.dumps((d.get("machine") or {}).get("gpus")))
for w in d.get("warnings") or []:
    print("warning:", w)
EOF
}

# gpu_outcome FILE: the outcome of the max-gpu-memory-increase check, or
# "none".
gpu_outcome() {
	python3 - "$1" <<'EOF' 2>/dev/null || echo none
import json, sys
d = json.load(open(sys.argv[1]))
o = [c.get("outcome") for c in d.get("checks") or [] if c.get("name") == "max-gpu-memory-increase"]
print(o[0] if o else "none")
EOF
}

# gpu_watched FILE: "yes" when every target has GPU figures.
gpu_watched() {
	python3 - "$1" <<'EOF' 2>/dev/null || echo no
import json, sys
d = json.load(open(sys.argv[1]))
ts = d.get("targets") or []
print("yes" if ts and all((t.get("gpu") or {}).get("peak_memory_bytes", 0) > 0 for t in ts) else "no")
EOF
}

# start_server LABEL NAME ARGS...: starts gpuserver.py in the background.
start_server() {
	local label=$1 name=$2
	shift 2
	python3 scripts/gpuserver.py --port 0 --name "$name" "${BACKEND[@]}" "$@" \
		>"$TMP/$label.ready" 2>"$RES/server-$label.log" &
	SERVER_PIDS+=($!)
	say "started server $label (model $name, $*) as PID $!"
}

# wait_server LABEL: waits for the ready line; sets PORT_<label>, PID_<label>.
wait_server() {
	local label=$1 line="" t0=$SECONDS
	while ((SECONDS - t0 < SERVER_TIMEOUT)); do
		line=$(grep -m1 '^ready port=' "$TMP/$label.ready" 2>/dev/null || true)
		[[ -n "$line" ]] && break
		sleep 0.2
	done
	if [[ -z "$line" ]]; then
		say "server $label not ready within ${SERVER_TIMEOUT}s; its log:"
		sed 's/^/  ! /' "$RES/server-$label.log"
		return 1
	fi
	local port pid
	port=$(sed -n 's/^ready port=\([0-9]*\) pid=\([0-9]*\)$/\1/p' <<<"$line")
	pid=$(sed -n 's/^ready port=\([0-9]*\) pid=\([0-9]*\)$/\2/p' <<<"$line")
	printf -v "PORT_$label" '%s' "$port"
	printf -v "PID_$label" '%s' "$pid"
	say "server $label ready on port $port, PID $pid ($((SECONDS - t0))s)"
	sed 's/^/  ! /' "$RES/server-$label.log"
}

# ---------------------------------------------------------------- step 1
hr "step 1: --device cuda with the CPU-only ONNX Runtime must be refused clearly"
run_ig step1 bench --model examples/production.onnx --dataset examples/test_data.parquet \
	--device cuda --ort-lib "$ORT" --duration 2s
if [[ $RC -eq 2 ]] && grep -q "GPU build of ONNX Runtime" "$RES/step1.stderr"; then
	record "1 device cuda, CPU-only ORT" PASS "exit 2, names the GPU build"
else
	record "1 device cuda, CPU-only ORT" FAIL "exit $RC; want 2 and a message naming the GPU build of ONNX Runtime"
fi

# ---------------------------------------------------------------- step 2
hr "step 2: start the model servers (${BACKEND[*]})"
start_server light light --hidden 1024 --layers 4
start_server light2 light --hidden 1024 --layers 4
start_server heavy heavy --hidden 4096 --layers 8 --reserve-mib 2048
servers_ok=yes
for s in light light2 heavy; do
	wait_server "$s" || servers_ok=no
done
if [[ $servers_ok == yes ]]; then
	# shellcheck disable=SC2154 # PID_* and PORT_* are set by wait_server
	record "2 start servers" PASS "light $PID_light:$PORT_light, light2 $PID_light2:$PORT_light2, heavy $PID_heavy:$PORT_heavy"
	if [[ "$MODE" == gpu ]] && command -v nvidia-smi >/dev/null; then
		nvidia-smi --query-compute-apps=pid,used_memory --format=csv || true
	fi
	for s in light heavy; do
		port_var="PORT_$s"
		say "metrics of $s:"
		python3 -c 'import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode(), end="")' \
			"http://127.0.0.1:${!port_var}/metrics" | sed 's/^/  /' || true
	done
else
	record "2 start servers" FAIL "a server did not start (see its log above)"
fi

url() { local p="PORT_$1"; echo "http://127.0.0.1:${!p}/v2/models/$2"; }
metrics() { local p="PORT_$1"; echo "http://127.0.0.1:${!p}/metrics"; }
COMMON=(--dataset examples/test_data.parquet --max-duration 20s)

# regression_step N NAME SOURCE-ARGS...: light (production) against heavy
# (candidate); wants exit 1 with the GPU memory check failed.
regression_step() {
	local n=$1 name=$2
	shift 2
	run_ig "$name" run --production-url "$(url light light)" --candidate-url "$(url heavy heavy)" "${COMMON[@]}" \
		"$@" --max-gpu-memory-increase 1.3 --max-latency-increase 1.15 --latency-percentile p50 \
		--json "$RES/$name.json" --markdown "$RES/$name.md"
	show_result "$RES/$name.json"
	local outcome
	outcome=$(gpu_outcome "$RES/$name.json")
	if [[ $RC -eq 1 && $outcome == fail ]]; then
		record "$n light vs heavy ($name)" PASS "exit 1, GPU memory check fail"
	elif [[ $RC -eq 2 && $name == heavy ]] && grep -q -- "--server-pid" "$RES/$name.stderr"; then
		PID_PATH=no
		record "$n light vs heavy ($name)" WARN "NVML does not list the servers' PIDs (container PID namespace?); the metrics path (step 5) covers the check"
	else
		record "$n light vs heavy ($name)" FAIL "exit $RC, GPU memory check '$outcome'; want exit 1 and fail"
	fi
}

# aa_step NAME SOURCE-ARGS...: light against a second light server; wants
# exit 0 with the GPU memory check passed. Only the GPU memory check is
# asked for: a latency check of two equal servers could fail by chance.
aa_step() {
	local name=$1
	shift
	run_ig "$name" run --production-url "$(url light light)" --candidate-url "$(url light2 light)" "${COMMON[@]}" \
		"$@" --max-gpu-memory-increase 1.3 --json "$RES/$name.json" --markdown "$RES/$name.md"
	show_result "$RES/$name.json"
	local outcome
	outcome=$(gpu_outcome "$RES/$name.json")
	if [[ $RC -eq 0 && $outcome == pass ]]; then
		record "4 light vs light ($name)" PASS "exit 0, GPU memory check pass"
	else
		record "4 light vs light ($name)" FAIL "exit $RC, GPU memory check '$outcome'; want exit 0 and pass"
	fi
}

if [[ $servers_ok == yes ]]; then
	PID_PATH=yes
	# ------------------------------------------------------------ step 3
	if [[ "$MODE" == gpu ]]; then
		hr "step 3: light vs heavy, GPU memory through NVML (--server-pid)"
		regression_step 3 heavy --server-pid "production=$PID_light" --server-pid "candidate=$PID_heavy"
	else
		record "3 light vs heavy (--server-pid)" SKIP "local mode: no NVML"
		PID_PATH=no
	fi

	# ------------------------------------------------------------ step 4
	if [[ $PID_PATH == yes ]]; then
		hr "step 4: light vs light, GPU memory through NVML (--server-pid)"
		aa_step aa --server-pid "production=$PID_light" --server-pid "candidate=$PID_light2"
	else
		hr "step 4: light vs light, GPU memory from the servers' metrics (--server-metrics)"
		aa_step aa-metrics --server-metrics "production=$(metrics light)" --server-metrics "candidate=$(metrics light2)"
	fi

	# ------------------------------------------------------------ step 5
	hr "step 5: light vs heavy, GPU memory from the servers' metrics (--server-metrics)"
	regression_step 5 heavy-metrics --server-metrics "production=$(metrics light)" --server-metrics "candidate=$(metrics heavy)"
else
	for s in "3 light vs heavy" "4 light vs light" "5 light vs heavy (metrics)"; do
		record "$s" FAIL "no servers"
	done
fi

# ---------------------------------------------------------------- step 6
hr "step 6: local ONNX models on the GPU (needs a GPU build of ONNX Runtime)"
if [[ "$MODE" == gpu && -n "${INFERGATE_ORT_GPU_LIB:-}" && -f "${INFERGATE_ORT_GPU_LIB:-}" ]]; then
	run_ig onnx-cuda run --candidate examples/candidate.onnx --production examples/production.onnx \
		"${COMMON[@]}" --device cuda --ort-lib "$INFERGATE_ORT_GPU_LIB" --max-gpu-memory-increase 1.5 \
		--json "$RES/onnx-cuda.json" --markdown "$RES/onnx-cuda.md"
	show_result "$RES/onnx-cuda.json"
	if [[ ($RC -eq 0 || $RC -eq 1) && $(gpu_watched "$RES/onnx-cuda.json") == yes ]]; then
		record "6 ONNX on cuda" PASS "exit $RC, GPU memory measured for both models"
	else
		record "6 ONNX on cuda" FAIL "exit $RC, GPU figures: $(gpu_watched "$RES/onnx-cuda.json")"
	fi
else
	say "SKIP (no GPU build of ONNX Runtime here)"
	record "6 ONNX on cuda" SKIP "no GPU build of ONNX Runtime here (set INFERGATE_ORT_GPU_LIB)"
fi

# ---------------------------------------------------------------- summary
hr "summary ($MODE mode)"
failed=0
for s in "${STEPS[@]}"; do
	IFS='|' read -r name verdict note <<<"$s"
	printf '%-4s  %-40s %s\n' "$verdict" "$name" "$note"
	[[ $verdict == FAIL ]] && failed=$((failed + 1))
done
if ((failed > 0)); then
	say "gpu-check: FAIL ($failed step(s) failed)"
	exit 1
fi
say "gpu-check: PASS"
exit 0
