package bench

import (
	"context"
	"encoding/gob"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/internal/ortlib"
	"github.com/infergate/infergate/loader"
)

// The test binary doubles as the worker: StartONNX re-executes it with
// workerModeEnv set, the way the standard library tests programs that exec
// themselves.
const workerModeEnv = "INFERGATE_BENCH_TEST_WORKER"

func TestMain(m *testing.M) {
	switch os.Getenv(workerModeEnv) {
	case "":
		// Endpoint targets run goroutines and keep connections; every one
		// must be gone once its target and server are closed.
		goleak.VerifyTestMain(m)
	case "serve":
		if err := ServeWorker(os.NewFile(3, "requests"), os.NewFile(4, "replies")); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	case "serve-prime":
		primeOnCPU = true
		if err := ServeWorker(os.NewFile(3, "requests"), os.NewFile(4, "replies")); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	case "crash-on-block":
		crashOnBlock()
	case "hog-on-block", "hang-on-block":
		misbehaveOnBlock(os.Getenv(workerModeEnv))
	}
}

// hoard keeps what a hogging worker took, so the collector cannot free it.
var hoard [][]byte

// misbehaveOnBlock serves a load like a real worker, then, on the first
// block, either takes memory until it is killed (hog) or never answers
// (hang).
func misbehaveOnBlock(mode string) {
	dec := gob.NewDecoder(os.NewFile(3, "requests"))
	enc := gob.NewEncoder(os.NewFile(4, "replies"))
	var w worker
	for {
		var req wireRequest
		if err := dec.Decode(&req); err != nil {
			os.Exit(0)
		}
		if req.Block == nil {
			if err := enc.Encode(w.load(req.Load)); err != nil {
				os.Exit(1)
			}
			continue
		}
		for {
			if mode == "hang-on-block" {
				time.Sleep(time.Hour)
			}
			chunk := make([]byte, 16<<20)
			for i := range chunk {
				chunk[i] = byte(i) // touch every page: resident, not just reserved
			}
			hoard = append(hoard, chunk)
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// crashOnBlock serves a load like a real worker, then dies the way a model
// that segfaults would: mid-request, without a reply.
func crashOnBlock() {
	dec := gob.NewDecoder(os.NewFile(3, "requests"))
	enc := gob.NewEncoder(os.NewFile(4, "replies"))
	var w worker
	for {
		var req wireRequest
		if err := dec.Decode(&req); err != nil {
			os.Exit(0)
		}
		if req.Block != nil {
			os.Stderr.WriteString("fatal: simulated crash in the model\n")
			os.Exit(139)
		}
		if err := enc.Encode(w.load(req.Load)); err != nil {
			os.Exit(1)
		}
	}
}

func testConfig(t testing.TB, model, mode string) ONNXConfig {
	t.Helper()
	lib := ortlib.Require(t)
	return ONNXConfig{
		Name:           "candidate",
		ModelPath:      model,
		LibPath:        lib,
		IntraOpThreads: 1,
		Worker: WorkerCommand{
			Path: os.Args[0],
			Env:  append(os.Environ(), workerModeEnv+"="+mode),
		},
	}
}

func testdata(name string) string { return filepath.Join("..", "testdata", name) }

func mlpBatch(rows int) BlockBatch {
	data := make([]float32, rows*64)
	for i := range data {
		data[i] = float32(i%7) / 7
	}
	return BlockBatch{Rows: rows, Tensors: []loader.Tensor{{
		Name: "features", DType: loader.Float32, Shape: []int64{int64(rows), 64}, Data: data,
	}}}
}

func TestONNXTargetRunsRealModel(t *testing.T) {
	tgt, err := StartONNX(context.Background(), testConfig(t, testdata("mlp_base.onnx"), "serve"))
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	info := tgt.Info()
	if len(info.Inputs) != 1 || info.Inputs[0].Name != "features" || info.Inputs[0].DType != loader.Float32 ||
		len(info.Inputs[0].Shape) != 2 || info.Inputs[0].Shape[0] != -1 || info.Inputs[0].Shape[1] != 64 {
		t.Fatalf("inputs = %v, want features float32[-1 64]", info.Inputs)
	}
	if !reflect.DeepEqual(info.Outputs, []string{"scores"}) || !reflect.DeepEqual(info.OutputShapes, [][]int64{{-1, 10}}) {
		t.Errorf("outputs = %v with shapes %v, want scores [-1 10] as declared", info.Outputs, info.OutputShapes)
	}
	if !strings.HasPrefix(info.ORTVersion, "1.24") {
		t.Errorf("ONNX Runtime version = %q, want 1.24.x", info.ORTVersion)
	}
	if info.LoadRSSBytes <= 0 {
		t.Errorf("load RSS = %d, want > 0", info.LoadRSSBytes)
	}

	// Warmup: not recorded.
	warm, err := tgt.Run(context.Background(), Block{Batches: []BlockBatch{mlpBatch(1)}, Requests: 20, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if warm.Histogram != nil || warm.Requests != 20 {
		t.Errorf("warmup: histogram %v, requests %d; want none, 20", warm.Histogram, warm.Requests)
	}

	for _, conc := range []int{1, 3} {
		res, err := tgt.Run(context.Background(), Block{
			Batches:     []BlockBatch{mlpBatch(1), mlpBatch(4)},
			Requests:    100,
			Concurrency: conc,
			Record:      true,
			ResetPeak:   true,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests != 100 || res.Rows != 250 || res.Errors != 0 {
			t.Errorf("concurrency %d: requests %d rows %d errors %d; want 100, 250, 0", conc, res.Requests, res.Rows, res.Errors)
		}
		if res.Histogram == nil || res.Histogram.Count() != 100 {
			t.Fatalf("concurrency %d: histogram %v, want 100 samples", conc, res.Histogram)
		}
		if p50 := res.Histogram.Quantile(0.5); p50 <= 0 || res.Elapsed < p50 {
			t.Errorf("concurrency %d: p50 %v, busy %v", conc, p50, res.Elapsed)
		}
		if res.PeakRSSBytes <= info.LoadRSSBytes {
			t.Errorf("peak RSS %d should include the process, above the model's load RSS %d", res.PeakRSSBytes, info.LoadRSSBytes)
		}
	}
}

func TestONNXTargetCountsRuntimeErrors(t *testing.T) {
	tgt, err := StartONNX(context.Background(), testConfig(t, testdata("mlp_base.onnx"), "serve"))
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	// 32 features where the model wants 64: every call fails in the runtime.
	bad := BlockBatch{Rows: 1, Tensors: []loader.Tensor{{Name: "features", DType: loader.Float32, Shape: []int64{1, 32}, Data: make([]float32, 32)}}}
	res, err := tgt.Run(context.Background(), Block{Batches: []BlockBatch{bad}, Requests: 5, Concurrency: 1, Record: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 5 || res.ErrorsByKind[errKindRuntime] != 5 || res.Requests != 0 || res.FirstError == "" {
		t.Errorf("got %+v, want 5 runtime errors with a message", res)
	}
}

func TestStartONNXBadInputs(t *testing.T) {
	lib := ortlib.Require(t)
	notALib := filepath.Join(t.TempDir(), "libonnxruntime.so")
	if err := os.WriteFile(notALib, []byte("not a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, model, lib, want string
	}{
		{"missing model", testdata("nope.onnx"), lib, "no such file"},
		{"corrupt model", testdata("corrupt.onnx"), lib, "cannot load"},
		{"model is a directory", testdata(""), lib, "directory"},
		{"missing library", testdata("mlp_base.onnx"), "/nonexistent/libonnxruntime.so", "no such file"},
		{"library is not a library", testdata("mlp_base.onnx"), notALib, "ONNX Runtime library"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, tc.model, "serve")
			cfg.LibPath = tc.lib
			tgt, err := StartONNX(context.Background(), cfg)
			if err == nil {
				tgt.Close()
				t.Fatal("started; want an error")
			}
			if errkind.Of(err) != errkind.KindInput || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v (kind %v), want an input error containing %q", err, errkind.Of(err), tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func TestWorkerCrashIsARunError(t *testing.T) {
	tgt, err := StartONNX(context.Background(), testConfig(t, testdata("mlp_base.onnx"), "crash-on-block"))
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	_, err = tgt.Run(context.Background(), Block{Batches: []BlockBatch{mlpBatch(1)}, Requests: 5, Concurrency: 1, Record: true})
	if err == nil || errkind.Of(err) != errkind.KindRun {
		t.Fatalf("err = %v, want a run error", err)
	}
	for _, want := range []string{"worker for candidate died", "exit status 139", "simulated crash"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %q, want it to contain %q", err, want)
		}
	}
}

func TestCancelKillsBusyWorker(t *testing.T) {
	tgt, err := StartONNX(context.Background(), testConfig(t, testdata("mlp_base.onnx"), "serve"))
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = tgt.Run(ctx, Block{Batches: []BlockBatch{mlpBatch(1)}, Requests: 1 << 40, Concurrency: 1, Record: true})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestONNXTargetReusesBatchesAndAccumulates(t *testing.T) {
	tgt, err := StartONNX(context.Background(), testConfig(t, testdata("mlp_base.onnx"), "serve"))
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	ctx := context.Background()
	first, err := tgt.Run(ctx, Block{Batches: []BlockBatch{mlpBatch(1), mlpBatch(3)}, Requests: 30, Concurrency: 1, Record: true, Accumulate: true})
	if err != nil {
		t.Fatal(err)
	}
	if first.Histogram != nil || first.Requests != 30 || first.Rows != 60 {
		t.Fatalf("accumulating block: histogram %v, %d requests, %d rows; want none, 30, 60", first.Histogram, first.Requests, first.Rows)
	}
	// No batches: the worker reuses the last ones, from offset 1 (3 rows first).
	second, err := tgt.Run(ctx, Block{Offset: 1, Requests: 11, Concurrency: 2, Record: true})
	if err != nil {
		t.Fatal(err)
	}
	if second.Histogram == nil || second.Histogram.Count() != 41 || second.Rows != 6*3+5*1 {
		t.Fatalf("closing block: histogram %v, %d rows; want 41 samples over both blocks, 23 rows", second.Histogram, second.Rows)
	}
}

func TestMaxMemoryKillsWorker(t *testing.T) {
	cfg := testConfig(t, testdata("mlp_base.onnx"), "hog-on-block")
	cfg.MaxMemory = 256 << 20
	tgt, err := StartONNX(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	_, err = tgt.Run(context.Background(), Block{Batches: []BlockBatch{mlpBatch(1)}, Requests: 10})
	if err == nil || errkind.Of(err) != errkind.KindRun {
		t.Fatalf("err = %v, want a run failure", err)
	}
	for _, want := range []string{"worker for candidate passed --max-memory 256 MiB", "was killed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}

func TestWorkerTimeoutKillsHungWorker(t *testing.T) {
	cfg := testConfig(t, testdata("mlp_base.onnx"), "hang-on-block")
	cfg.CallTimeout = 500 * time.Millisecond
	tgt, err := StartONNX(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	_, err = tgt.Run(context.Background(), Block{Batches: []BlockBatch{mlpBatch(1)}, Requests: 10})
	if err == nil || errkind.Of(err) != errkind.KindRun || !strings.Contains(err.Error(), "did not answer within 500ms") {
		t.Fatalf("err = %v, want a run failure naming the timeout", err)
	}
}

func TestExitReasonNamesSignals(t *testing.T) {
	for sig, want := range map[string]string{
		"KILL": "killed by SIGKILL (the kernel's OOM killer",
		"SEGV": "killed by SIGSEGV",
		"ABRT": "killed by SIGABRT",
	} {
		err := exec.Command("sh", "-c", "kill -"+sig+" $$").Run()
		if got := exitReason(err); !strings.HasPrefix(got, want) {
			t.Errorf("SIG%s: %q, want %q…", sig, got, want)
		}
	}
	if got := exitReason(exec.Command("sh", "-c", "exit 3").Run()); got != "exit status 3" {
		t.Errorf("exit 3: %q", got)
	}
}
