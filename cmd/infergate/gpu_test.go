package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infergate/infergate/internal/gpu"
	"github.com/infergate/infergate/internal/kservetest"
	"github.com/infergate/infergate/internal/ortlib"
	"github.com/infergate/infergate/result"
)

// fakeNVML is one GPU whose processes hold fixed amounts of memory.
type fakeNVML struct {
	devices []gpu.DeviceInfo
	memory  map[int]int64 // by PID
	closed  bool
}

func (f *fakeNVML) Devices() []gpu.DeviceInfo { return f.devices }
func (f *fakeNVML) Device(i int) (gpu.Device, error) {
	if i < 0 || i >= len(f.devices) {
		return nil, fmt.Errorf("no GPU %d", i)
	}
	return &fakeDevice{info: f.devices[i], memory: f.memory}, nil
}
func (f *fakeNVML) FindProcess(pid int) (int, bool) {
	_, ok := f.memory[pid]
	return 0, ok
}
func (f *fakeNVML) Close() error { f.closed = true; return nil }

type fakeDevice struct {
	info   gpu.DeviceInfo
	memory map[int]int64
}

func (d *fakeDevice) Info() gpu.DeviceInfo { return d.info }
func (d *fakeDevice) Sample() (gpu.Sample, error) {
	util := map[int]float64{}
	var used int64
	for pid, m := range d.memory {
		util[pid] = 30
		used += m
	}
	return gpu.Sample{UtilisationPct: 60, SMClockMHz: 1980, MemoryUsedBytes: used, ProcessMemory: d.memory, ProcessSMUtil: util}, nil
}

var fakeH100 = gpu.DeviceInfo{Index: 0, UUID: "GPU-fake", Name: "Fake H100", MemoryTotalBytes: 80 << 30, Driver: "580.159.04", CUDA: "13.0", SMClockMaxMHz: 1980}

func withNVML(lib *fakeNVML, err error) func(*env) {
	return func(e *env) {
		e.OpenGPU = func() (gpuLibrary, error) {
			if err != nil {
				return nil, err
			}
			return lib, nil
		}
	}
}

// TestDeviceCUDAWithoutGPUBuild: on this machine (a CPU-only ONNX Runtime,
// and no NVIDIA driver unless a GPU machine runs the tests) --device cuda
// is bad input, with what to get.
func TestDeviceCUDAWithoutGPUBuild(t *testing.T) {
	ortlib.Require(t)
	r := runCLI(t, context.Background(), "1", "bench", "--model", td("mlp_base.onnx"), "--dataset", td("mlp.parquet"), "--device", "cuda", "--quiet")
	if r.code != ExitBadInput {
		t.Fatalf("exit %d, want %d; stderr %s", r.code, ExitBadInput, r.stderr)
	}
	msg := strings.TrimSpace(r.stderr)
	if strings.Count(msg, "\n") != 0 {
		t.Errorf("want one line, got %q", msg)
	}
	for _, want := range []string{"--device cuda:0", "CPU-only build", "libonnxruntime_providers_cuda.so", "GPU build of ONNX Runtime 1.24.3", "CUDA 12", "--ort-lib"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	if _, err := gpu.OpenNVML(); err != nil && !strings.Contains(msg, "NVML") {
		t.Errorf("no GPU is visible here, and the message does not say so: %s", msg)
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
}

// gpuBuildDir makes a directory that looks like a GPU build of ONNX
// Runtime: the real (CPU) library beside a provider plugin that is not one.
func gpuBuildDir(t *testing.T) string {
	t.Helper()
	lib := ortlib.Require(t)
	dir := t.TempDir()
	if err := os.Symlink(lib, filepath.Join(dir, "libonnxruntime.so.1")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "libonnxruntime_providers_cuda.so"), []byte("not a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "libonnxruntime.so.1")
}

func TestDeviceCUDAErrors(t *testing.T) {
	lib := gpuBuildDir(t)
	oneGPU := &fakeNVML{devices: []gpu.DeviceInfo{fakeH100}}
	base := []string{"bench", "--model", td("mlp_base.onnx"), "--dataset", td("mlp.parquet"), "--ort-lib", lib, "--quiet"}
	for _, tc := range []struct {
		name    string
		args    []string
		vars    map[string]string
		nvml    *fakeNVML
		nvmlErr error
		want    []string
	}{
		{"no such GPU", []string{"--device", "cuda:1"}, nil, oneGPU, nil, []string{"--device cuda:1", "only 1 GPU visible", "Fake H100"}},
		{"hidden by CUDA_VISIBLE_DEVICES", []string{"--device", "cuda"}, map[string]string{"CUDA_VISIBLE_DEVICES": "-1"}, oneGPU, nil, []string{"--device cuda:0", "CUDA_VISIBLE_DEVICES"}},
		{"no driver", []string{"--device", "cuda"}, nil, nil, fmt.Errorf("NVML not found (libnvidia-ml.so.1): is the NVIDIA driver installed?: %w", gpu.ErrUnavailable), []string{"--device cuda:0", "NVML not found", "GPU build of ONNX Runtime"}},
		// The checks pass; the worker's runtime then fails to start the
		// provider from the stub plugin: the real provider error.
		{"provider does not start", []string{"--device", "cuda"}, nil, oneGPU, nil, []string{"--device cuda:0", "cannot start its CUDA execution provider", "GPU build of ONNX Runtime 1.24", "--ort-lib"}},
		{"tensorrt plugin missing", []string{"--device", "tensorrt"}, nil, oneGPU, nil, []string{"--device tensorrt:0", "libonnxruntime_providers_tensorrt.so"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLIConfigured(t, context.Background(), "1", tc.vars, withNVML(tc.nvml, tc.nvmlErr), append(base, tc.args...)...)
			if r.code != ExitBadInput {
				t.Fatalf("exit %d, want %d; stderr %s", r.code, ExitBadInput, r.stderr)
			}
			for _, want := range tc.want {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q: %s", want, r.stderr)
				}
			}
			if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("want one line: %q", r.stderr)
			}
		})
	}
}

func TestGPUFlagValidation(t *testing.T) {
	local := []string{"run", "--production", td("mlp_base.onnx"), "--candidate", td("mlp_same.onnx"), "--dataset", td("mlp.parquet"), "--quiet"}
	remote := []string{"run", "--production-url", "http://127.0.0.1:1/v2/models/a", "--candidate-url", "http://127.0.0.1:1/v2/models/b", "--dataset", td("mlp.parquet"), "--quiet"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown device", append(local, "--device", "gpu"), `--device "gpu": want cpu, cuda[:N] or tensorrt[:N]`},
		{"provider option on cpu", append(local, "--provider-option", "arena_extend_strategy=kSameAsRequested"), "--provider-option configures the GPU execution provider"},
		{"device_id as an option", append(local, "--device", "cuda", "--provider-option", "device_id=1"), "the device comes from --device cuda:N"},
		{"server pid without endpoints", append(local, "--server-pid", "123"), "--server-pid watches an endpoint's server"},
		{"gpu check on cpu models", append(local, "--max-gpu-memory-increase", "1.3"), "the production model's GPU memory is not measured; run it with --device cuda"},
		{"gpu check, endpoint unwatched", append(remote, "--server-pid", "candidate=5", "--max-gpu-memory-increase", "1.3"), "the production model's GPU memory is not measured; give --server-pid or --server-metrics"},
		{"bad pid", append(remote, "--server-pid", "candidate=abc"), "want a process ID"},
		{"unknown role", append(remote, "--server-pid", "staging=12"), "no staging model in this run"},
		{"pid twice", append(remote, "--server-pid", "1", "--server-pid", "2"), "--server-pid given twice for every endpoint"},
		{"metrics not http", append(remote, "--server-metrics", "localhost:8002/metrics"), "want an http(s) URL"},
		{"pid and metrics for one endpoint", append(remote, "--server-pid", "candidate=5", "--server-metrics", "http://127.0.0.1:1/metrics"), "both --server-pid and --server-metrics"},
		{"device for endpoints", append(remote, "--device", "cuda"), "an endpoint runs where its server puts it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLIConfigured(t, context.Background(), "1", nil, withNVML(nil, fmt.Errorf("unused: %w", gpu.ErrUnavailable)), tc.args...)
			if r.code != ExitBadInput || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 with %q", r.code, r.stderr, tc.want)
			}
		})
	}
}

// TestServerGPUMemoryGate compares two endpoints whose servers a fake NVML
// says hold 1 GiB and 1.5 GiB of GPU memory: the whole path from sampling
// to the verdict and the reports, without a GPU.
func TestServerGPUMemoryGate(t *testing.T) {
	prod := sumServer(t, kservetest.Faults{Latency: 200 * time.Microsecond})
	cand := sumServer(t, kservetest.Faults{Latency: 200 * time.Microsecond})
	const prodPID, candPID = 4101, 4202
	nvml := &fakeNVML{devices: []gpu.DeviceInfo{fakeH100}, memory: map[int]int64{prodPID: 1 << 30, candPID: 3 << 29}}

	for _, tc := range []struct {
		limit   string
		code    ExitCode
		outcome result.Outcome
	}{
		{"1.3", ExitRegression, result.OutcomeFail},
		{"1.6", ExitPass, result.OutcomePass},
	} {
		t.Run(tc.limit, func(t *testing.T) {
			dir := t.TempDir()
			out, md := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.md")
			args := []string{"run", "--production-url", prod.ModelURL(), "--candidate-url", cand.ModelURL(),
				"--dataset", td("mlp.parquet"), "--requests", "200", "--rounds", "4", "--warmup", "20", "--quiet",
				"--server-pid", fmt.Sprintf("production=%d", prodPID), "--server-pid", fmt.Sprintf("candidate=%d", candPID),
				"--max-gpu-memory-increase", tc.limit, "--json", out, "--markdown", md}
			r := runCLIConfigured(t, context.Background(), "1", nil, withNVML(nvml, nil), args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %s\n%s", r.code, tc.code, r.stderr, r.stdout)
			}
			res := readResult(t, out)
			if len(res.Checks) != 1 || res.Checks[0].Name != "max-gpu-memory-increase" || res.Checks[0].Outcome != tc.outcome {
				t.Fatalf("checks %+v", res.Checks)
			}
			if c := res.Checks[0]; c.Ratio != 1.5 || c.Production != 1<<30 || c.Candidate != 3<<29 {
				t.Errorf("check %+v, want 1 GiB → 1.5 GiB", c)
			}
			if len(res.Machine.GPUs) != 1 || res.Machine.GPUs[0].Name != "Fake H100" || res.Machine.GPUs[0].CUDA != "13.0" || res.Machine.GPU != "Fake H100" {
				t.Errorf("machine GPUs %+v (%q)", res.Machine.GPUs, res.Machine.GPU)
			}
			clocks := 0
			for _, tg := range res.Targets {
				g := tg.GPU
				if g == nil || g.Source != result.GPUSourceProcess || g.Samples == 0 || g.UtilisationPct != 30 {
					t.Fatalf("%s: GPU usage %+v", tg.Role, g)
				}
				if g.SMClockMHz != nil {
					clocks++
				}
			}
			// The first reading of the measured pass falls in the first
			// target's block; later ones as the sampling ticks fall.
			if clocks == 0 {
				t.Error("no SM clock reading attributed to either target")
			}
			if !nvml.closed {
				t.Error("NVML left open")
			}
			b, err := os.ReadFile(md)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), "max-gpu-memory-increase") {
				t.Errorf("markdown lacks the check:\n%s", b)
			}
		})
	}
}

func TestServerMetricsGPUMemoryGate(t *testing.T) {
	prod := sumServer(t, kservetest.Faults{Latency: 200 * time.Microsecond})
	cand := sumServer(t, kservetest.Faults{Latency: 200 * time.Microsecond})
	metrics := func(used int64) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, "# TYPE nv_gpu_memory_used_bytes gauge\nnv_gpu_memory_used_bytes{gpu_uuid=\"GPU-1\"} %d\n# TYPE nv_gpu_utilization gauge\nnv_gpu_utilization{gpu_uuid=\"GPU-1\"} 0.5\n", used)
		}))
		t.Cleanup(s.Close)
		return s
	}
	pm, cm := metrics(2<<30), metrics(3<<30)
	dir := t.TempDir()
	out := filepath.Join(dir, "r.json")
	args := []string{"run", "--production-url", prod.ModelURL(), "--candidate-url", cand.ModelURL(),
		"--dataset", td("mlp.parquet"), "--requests", "100", "--rounds", "2", "--warmup", "10", "--quiet",
		"--server-metrics", "production=" + pm.URL + "/metrics?token=SECRET", "--server-metrics", "candidate=" + cm.URL + "/metrics",
		"--max-gpu-memory-increase", "1.3", "--json", out}
	// No NVML is needed for metrics: opening it would fail the test.
	r := runCLIConfigured(t, context.Background(), "1", nil, withNVML(nil, fmt.Errorf("must not open: %w", gpu.ErrUnavailable)), args...)
	if r.code != ExitRegression {
		t.Fatalf("exit %d, want 1; stderr %s\n%s", r.code, r.stderr, r.stdout)
	}
	res := readResult(t, out)
	p, c := res.Target(result.RoleProduction).GPU, res.Target(result.RoleCandidate).GPU
	if p == nil || c == nil || p.Source != result.GPUSourceMetrics || p.PeakMemoryBytes != 2<<30 || c.PeakMemoryBytes != 3<<30 || p.UtilisationPct != 50 {
		t.Fatalf("GPU usage %+v / %+v", p, c)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "SECRET") || strings.Contains(r.stdout+r.stderr, "SECRET") {
		t.Error("the metrics URL's token leaked")
	}
}

func TestORTVersionOf(t *testing.T) {
	for path, want := range map[string]string{
		"/opt/ort/lib/libonnxruntime.so.1.22.0":                         "1.22.0",
		"/root/.cache/infergate/onnxruntime/1.24.3/libonnxruntime.so.1": "1.24.3",
		// A path that does not say: the version infergate is built for.
		"/tmp/x/libonnxruntime.so.1": ortlib.Version,
		"libonnxruntime.so":          ortlib.Version,
	} {
		if got := ortVersionOf(path); got != want {
			t.Errorf("ortVersionOf(%q) = %q, want %q", path, got, want)
		}
	}
}
