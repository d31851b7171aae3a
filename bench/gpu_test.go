package bench

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/infergate/infergate/internal/gpu"
	"github.com/infergate/infergate/internal/ortlib"
	"github.com/infergate/infergate/result"
)

// fakeGPU is a device whose readings the test sets before each sample.
type fakeGPU struct {
	next  gpu.Sample
	err   error
	calls int
}

func (f *fakeGPU) Info() gpu.DeviceInfo { return gpu.DeviceInfo{Index: 0, Name: "Fake GPU"} }
func (f *fakeGPU) Sample() (gpu.Sample, error) {
	f.calls++
	return f.next, f.err
}

// tickTarget samples the monitor's device in the middle of each block, as
// a sampling tick would while the target runs.
type tickTarget struct {
	name string
	tick func()
}

func (t *tickTarget) Info() TargetInfo { return TargetInfo{Name: t.name} }
func (t *tickTarget) Close() error     { return nil }
func (t *tickTarget) Run(context.Context, Block) (BlockResult, error) {
	t.tick()
	return BlockResult{}, nil
}

func TestGPUMonitorAttributesMemoryUtilisationAndClocks(t *testing.T) {
	dev := &fakeGPU{}
	const prodPID, candPID = 100, 200
	// An interval far longer than the test: only the explicit ticks sample.
	m := NewGPUMonitor([]*GPUWatch{
		{Device: dev, DeviceIndex: 0, PID: prodPID, Interval: time.Hour},
		{Device: dev, DeviceIndex: 0, PID: candPID, Interval: time.Hour},
	})
	// After load: production holds 1 GiB, the candidate 1.5 GiB.
	dev.next = gpu.Sample{UtilisationPct: 0, SMClockMHz: 1980, MemoryUsedBytes: 3 << 30,
		ProcessMemory: map[int]int64{prodPID: 1 << 30, candPID: 3 << 29}}
	m.Start()
	defer m.Stop()

	tick := func() { m.sample(dev, []int{0, 1}) }
	prod := m.Wrap(0, &tickTarget{name: "production", tick: tick})
	cand := m.Wrap(1, &tickTarget{name: "candidate", tick: tick})

	// A warmup block: its readings are not the measured pass's.
	dev.next.ProcessMemory = map[int]int64{prodPID: 5 << 30, candPID: 5 << 30}
	if _, err := prod.Run(context.Background(), Block{}); err != nil {
		t.Fatal(err)
	}
	// The measured pass: production at 1980 MHz, the candidate throttled.
	dev.next = gpu.Sample{UtilisationPct: 50, SMClockMHz: 1980,
		ProcessMemory:   map[int]int64{prodPID: 1 << 30, candPID: 2 << 30},
		ProcessSMUtil:   map[int]float64{prodPID: 40, candPID: 80},
		MemoryUsedBytes: 3 << 30}
	if _, err := prod.Run(context.Background(), Block{ResetPeak: true}); err != nil {
		t.Fatal(err)
	}
	dev.next.SMClockMHz = 1600
	dev.next.ProcessSMUtil = map[int]float64{prodPID: 20, candPID: 60}
	for range 3 {
		if _, err := cand.Run(context.Background(), Block{}); err != nil {
			t.Fatal(err)
		}
	}
	// A tick between blocks counts memory but no target's clock.
	tick()

	u := m.Usage()
	if len(u) != 2 || u[0] == nil || u[1] == nil {
		t.Fatalf("usage %+v", u)
	}
	if u[0].LoadMemoryBytes != 1<<30 || u[1].LoadMemoryBytes != 3<<29 {
		t.Errorf("load memory %d / %d, want the readings after load", u[0].LoadMemoryBytes, u[1].LoadMemoryBytes)
	}
	if u[0].PeakMemoryBytes != 1<<30 || u[1].PeakMemoryBytes != 2<<30 {
		t.Errorf("peak memory %d / %d: the warmup's 5 GiB must not count", u[0].PeakMemoryBytes, u[1].PeakMemoryBytes)
	}
	// The pass's first block reads the device at once, then its tick and
	// the candidate's three and the one between blocks.
	if u[0].Samples != 6 || u[1].Samples != 6 {
		t.Errorf("samples %d / %d, want 6 each (every reading of the measured pass)", u[0].Samples, u[1].Samples)
	}
	// Per-process utilisation: production 40, 40, 20, 20, 20, 20.
	if got := u[0].UtilisationPct; got < 26.66 || got > 26.67 {
		t.Errorf("production utilisation %v, want 26.67", got)
	}
	if u[0].SMClockMHz == nil || u[0].SMClockMHz.Median != 1980 || u[0].SMClockMHz.Samples != 2 {
		t.Errorf("production clocks %+v, want the two readings in its block", u[0].SMClockMHz)
	}
	if c := u[1].SMClockMHz; c == nil || c.Min != 1600 || c.Max != 1600 || c.Samples != 3 {
		t.Errorf("candidate clocks %+v, want 3 samples at 1600", c)
	}
	if u[0].Source != result.GPUSourceProcess || u[0].PID != prodPID {
		t.Errorf("source %q pid %d", u[0].Source, u[0].PID)
	}
	w := ClockWarnings([]string{"production", "candidate"}, u)
	if len(w) != 1 || !strings.Contains(w[0], "1980 MHz") || !strings.Contains(w[0], "1600 MHz") {
		t.Errorf("clock warnings %q, want one naming both medians", w)
	}
}

func TestGPUMonitorWholeDeviceAndErrors(t *testing.T) {
	dev := &fakeGPU{next: gpu.Sample{UtilisationPct: -1, MemoryUsedBytes: 7 << 30}}
	m := NewGPUMonitor([]*GPUWatch{nil, {Device: dev, DeviceIndex: -1, Interval: time.Hour}})
	m.Start()
	defer m.Stop()
	cand := m.Wrap(1, &tickTarget{tick: func() { m.sample(dev, []int{1}) }})
	if plain := (&tickTarget{}); m.Wrap(0, plain) != Target(plain) {
		t.Error("an unwatched target was wrapped")
	}
	if _, err := cand.Run(context.Background(), Block{ResetPeak: true}); err != nil {
		t.Fatal(err)
	}
	dev.err = errors.New("scrape failed: 503")
	if _, err := cand.Run(context.Background(), Block{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cand.Run(context.Background(), Block{}); err != nil {
		t.Fatal(err)
	}
	u := m.Usage()
	if u[0] != nil {
		t.Errorf("unwatched target has usage %+v", u[0])
	}
	if u[1].Source != result.GPUSourceMetrics || u[1].PeakMemoryBytes != 7<<30 || u[1].UtilisationPct != -1 || u[1].Samples != 2 {
		t.Errorf("whole-device usage %+v", u[1])
	}
	if w := m.Warnings(); len(w) != 1 || !strings.Contains(w[0], "503") {
		t.Errorf("warnings %q, want the failure once", w)
	}
}

func TestClockWarningsQuiet(t *testing.T) {
	at := func(dev, mhz int) *result.GPUUsage {
		return &result.GPUUsage{Device: dev, SMClockMHz: &result.ClockRange{Min: mhz, Median: mhz, Max: mhz, Samples: 5}}
	}
	names := []string{"production", "candidate"}
	for _, tc := range []struct {
		name string
		u    []*result.GPUUsage
	}{
		{"same clock", []*result.GPUUsage{at(0, 1980), at(0, 1980)}},
		{"within tolerance", []*result.GPUUsage{at(0, 1980), at(0, 1935)}},
		{"different GPUs", []*result.GPUUsage{at(0, 1980), at(1, 1200)}},
		{"one not watched", []*result.GPUUsage{at(0, 1980), nil}},
		{"no clock samples", []*result.GPUUsage{{Device: 0}, at(0, 1200)}},
	} {
		if w := ClockWarnings(names, tc.u); len(w) != 0 {
			t.Errorf("%s: %q", tc.name, w)
		}
	}
}

func TestParseDevice(t *testing.T) {
	for in, want := range map[string]string{
		"cpu": "cpu", "": "cpu", "CUDA": "cuda:0", "cuda:1": "cuda:1", "tensorrt": "tensorrt:0", "trt:2": "tensorrt:2",
	} {
		d, err := ParseDevice(in)
		if err != nil || d.String() != want {
			t.Errorf("ParseDevice(%q) = %v, %v; want %s", in, d, err, want)
		}
	}
	for _, in := range []string{"gpu", "cuda:-1", "cuda:x", "cpu:0", "rocm"} {
		if _, err := ParseDevice(in); err == nil || !strings.Contains(err.Error(), "--device") {
			t.Errorf("ParseDevice(%q): %v, want an error naming --device", in, err)
		}
	}
}

func TestParseProviderOptions(t *testing.T) {
	got, err := ParseProviderOptions([]string{"cudnn_conv_algo_search=HEURISTIC", " gpu_mem_limit = 4294967296 "})
	if err != nil || len(got) != 2 || got["gpu_mem_limit"] != "4294967296" {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range [][]string{{"novalue"}, {"=x"}, {"k="}, {"device_id=1"}, {"a=1", "a=2"}} {
		if _, err := ParseProviderOptions(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestProviderLibMissing(t *testing.T) {
	dir := t.TempDir()
	lib := dir + "/libonnxruntime.so.1.24.3"
	cuda := Device{Kind: DeviceCUDA}
	trt := Device{Kind: DeviceTensorRT}
	if got := ProviderLibMissing(cuda, lib); got != cudaProviderLib {
		t.Errorf("CPU-only build: missing %q", got)
	}
	if got := ProviderLibMissing(Device{Kind: DeviceCPU}, lib); got != "" {
		t.Errorf("cpu needs nothing, got %q", got)
	}
	writeFile(t, dir+"/"+cudaProviderLib)
	if got := ProviderLibMissing(cuda, lib); got != "" {
		t.Errorf("GPU build: missing %q", got)
	}
	if got := ProviderLibMissing(trt, lib); got != tensorRTProviderLib {
		t.Errorf("TensorRT without its plugin: missing %q", got)
	}
}

func writeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("stub"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCUDAProviderOnCPUBuild asks the real, CPU-only ONNX Runtime for the
// CUDA and TensorRT providers: the error must say which build to get.
func TestCUDAProviderOnCPUBuild(t *testing.T) {
	ortlib.RequireInit(t)
	opts, err := ort.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer opts.Destroy()
	for _, d := range []Device{{Kind: DeviceCUDA, Ordinal: 1}, {Kind: DeviceTensorRT}} {
		err := appendProvider(opts, d, map[string]string{"cudnn_conv_algo_search": "HEURISTIC"})
		if err == nil {
			t.Fatalf("%s: the CPU build accepted a GPU provider", d)
		}
		for _, want := range []string{"--device " + d.String(), "GPU build of ONNX Runtime 1.24", "CUDA 12", "--ort-lib"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q lacks %q", d, err, want)
			}
		}
	}
	if err := appendProvider(opts, Device{Kind: DeviceCPU}, map[string]string{"a": "b"}); err == nil {
		t.Error("provider options on cpu accepted")
	}
	if err := appendProvider(opts, Device{Kind: DeviceCPU}, nil); err != nil {
		t.Errorf("cpu: %v", err)
	}
}

// TestPrimeNewShapes: a GPU session runs each input shape once, untimed,
// the first time the shape arrives; shapes already seen are not primed
// again. primeOnCPU lets the CPU session stand in for a GPU here.
func TestPrimeNewShapes(t *testing.T) {
	tgt, err := StartONNX(context.Background(), testConfig(t, testdata("mlp_base.onnx"), "serve-prime"))
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	for i, step := range []struct {
		batches []BlockBatch
		primed  int64
	}{
		{[]BlockBatch{mlpBatch(1), mlpBatch(2), mlpBatch(1)}, 2}, // shapes [1 64] and [2 64]
		{nil, 0}, // the same batches again
		{[]BlockBatch{mlpBatch(2), mlpBatch(3)}, 1}, // [3 64] is new
	} {
		res, err := tgt.Run(context.Background(), Block{Batches: step.batches, Requests: 10, Record: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Primed != step.primed {
			t.Errorf("block %d: primed %d calls, want %d", i, res.Primed, step.primed)
		}
		// Priming is not measuring: the block's own calls are all counted,
		// and only they.
		if res.Requests != 10 || res.Histogram.Count() != 10 {
			t.Errorf("block %d: %d requests, %d recorded; want 10", i, res.Requests, res.Histogram.Count())
		}
	}
	// A CPU worker without the test switch never primes.
	cpu, err := StartONNX(context.Background(), testConfig(t, testdata("mlp_base.onnx"), "serve"))
	if err != nil {
		t.Fatal(err)
	}
	defer cpu.Close()
	res, err := cpu.Run(context.Background(), Block{Batches: []BlockBatch{mlpBatch(1)}, Requests: 5})
	if err != nil || res.Primed != 0 {
		t.Errorf("CPU worker primed %d (%v)", res.Primed, err)
	}
}
