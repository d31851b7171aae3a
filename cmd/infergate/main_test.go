package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infergate/infergate/internal/ortlib"
	"github.com/infergate/infergate/result"
)

// The test binary doubles as the infergate binary that workers are started
// from: with cmdWorkerEnv set it runs the command line it was given.
const cmdWorkerEnv = "INFERGATE_CMD_TEST_WORKER"

func TestMain(m *testing.M) {
	switch os.Getenv(cmdWorkerEnv) {
	case "":
		os.Exit(m.Run())
	case "1":
		os.Exit(Main(os.Args[1:]))
	case "crash":
		// A model that takes its worker down: die before answering.
		os.Stderr.WriteString("fatal: simulated crash while loading\n")
		os.Exit(139)
	}
}

type cliResult struct {
	code           ExitCode
	stdout, stderr string
}

// runCLI runs infergate in-process, with workers started from the test
// binary. extraEnv entries ("K=V") override the environment it sees.
func runCLI(t *testing.T, ctx context.Context, workerMode string, args ...string) cliResult {
	t.Helper()
	return runCLIEnv(t, ctx, workerMode, nil, args...)
}

// runCLIEnv is runCLI with vars overriding the environment infergate
// reads. The real GITHUB_* variables are hidden, so that tests run on a
// GitHub runner never write to its step summary or outputs.
func runCLIEnv(t *testing.T, ctx context.Context, workerMode string, vars map[string]string, args ...string) cliResult {
	t.Helper()
	return runCLIConfigured(t, ctx, workerMode, vars, nil, args...)
}

// runCLIConfigured is runCLIEnv with configure, when not nil, adjusting
// the environment (a fake NVML, say) before the command runs.
func runCLIConfigured(t *testing.T, ctx context.Context, workerMode string, vars map[string]string, configure func(*env), args ...string) cliResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		if strings.HasPrefix(k, "GITHUB_") {
			return ""
		}
		return os.Getenv(k)
	}
	e := &env{
		Stdout:     &stdout,
		Stderr:     &stderr,
		Getenv:     getenv,
		Executable: func() (string, error) { return os.Args[0], nil },
		WorkerEnv:  append(os.Environ(), cmdWorkerEnv+"="+workerMode),
	}
	if configure != nil {
		configure(e)
	}
	code := execute(ctx, e, args)
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func td(name string) string { return filepath.Join("..", "..", "testdata", name) }

// quick keeps end-to-end runs short: these tests check plumbing, not speed.
var quick = []string{"--requests", "200", "--rounds", "4", "--warmup", "20", "--intra-op-threads", "1", "--quiet"}

func runArgs(candidate, production, dataset string, extra ...string) []string {
	args := []string{"run", "--candidate", td(candidate), "--production", td(production), "--dataset", td(dataset)}
	args = append(args, quick...)
	return append(args, extra...)
}

func readResult(t *testing.T, path string) *result.Result {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := result.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRunPassWritesResult(t *testing.T) {
	ortlib.Require(t)
	out := filepath.Join(t.TempDir(), "result.json")
	// Thresholds no equal pair can miss, judged on the median: with four
	// rounds of 50 calls a p95 ratio's interval can reach past 5 on a
	// busy machine, and this test is about the document, not the tail.
	r := runCLI(t, context.Background(), "1", runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet",
		"--max-latency-increase", "5", "--latency-percentile", "p50", "--max-memory-increase", "5", "--max-error-rate", "0", "--json", out)...)
	if r.code != ExitPass {
		t.Fatalf("exit %d, stderr:\n%s\nstdout:\n%s", r.code, r.stderr, r.stdout)
	}
	for _, want := range []string{"p95", "p99.9", "production", "candidate", "max-latency-increase", "verdict"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
	res := readResult(t, out)
	if res.SchemaVersion != result.SchemaVersion || res.Verdict != result.VerdictPass {
		t.Errorf("schema %d verdict %s", res.SchemaVersion, res.Verdict)
	}
	if len(res.Targets) != 2 || res.Targets[0].Role != result.RoleProduction || res.Targets[1].Role != result.RoleCandidate {
		t.Fatalf("targets = %+v", res.Targets)
	}
	for _, tg := range res.Targets {
		if tg.Latency.Count != 200 || len(tg.Rounds) != 4 || tg.Latency.P50NS <= 0 || tg.Throughput.InferencesPerS <= 0 {
			t.Errorf("%s: latency %+v, %d rounds, throughput %+v", tg.Role, tg.Latency, len(tg.Rounds), tg.Throughput)
		}
		if tg.Memory.PeakRSSBytes <= 0 || tg.Memory.LoadRSSBytes <= 0 {
			t.Errorf("%s: memory %+v", tg.Role, tg.Memory)
		}
	}
	if len(res.Checks) != 3 {
		t.Errorf("checks = %+v, want 3", res.Checks)
	}
	if res.Machine.ORTVersion == "" || res.Machine.Cores == 0 {
		t.Errorf("machine = %+v", res.Machine)
	}
}

func TestLegacyFlagNames(t *testing.T) {
	ortlib.Require(t)
	args := []string{"run", "--model-path", td("mlp_same.onnx"), "--reference-path", td("mlp_base.onnx"),
		"--dataset", td("mlp.parquet"), "--max-latency-increase", "5"}
	r := runCLI(t, context.Background(), "1", append(args, quick...)...)
	if r.code != ExitPass {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}

func TestBenchSingleModel(t *testing.T) {
	ortlib.Require(t)
	out := filepath.Join(t.TempDir(), "out.json")
	args := append([]string{"bench", "--model", td("mlp_base.onnx"), "--dataset", td("mlp.parquet"), "--json", out, "--batch-size", "8"}, quick...)
	r := runCLI(t, context.Background(), "1", args...)
	if r.code != ExitPass {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	res := readResult(t, out)
	if len(res.Targets) != 1 || res.Targets[0].Role != result.RoleSingle || res.Verdict != result.VerdictNone {
		t.Fatalf("targets %+v verdict %s", res.Targets, res.Verdict)
	}
	if got := res.Targets[0].Throughput.RowsPerS / res.Targets[0].Throughput.InferencesPerS; got < 7.9 || got > 8.1 {
		t.Errorf("rows per inference = %.2f, want 8 (batch size)", got)
	}
}

// TestExitCodes is the exit-code contract, one row per code and cause.
func TestExitCodes(t *testing.T) {
	ortlib.Require(t)
	notParquet := td("not_parquet.parquet")
	for _, tc := range []struct {
		name   string
		mode   string
		args   []string
		code   ExitCode
		stderr string
	}{
		{"regression", "1", runArgs("mlp_plus25.onnx", "mlp_base.onnx", "mlp.parquet", "--max-p99", "1us"), ExitRegression, ""},
		{"bad threshold", "1", runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet", "--max-latency-increase", "fast"), ExitBadInput, "max-latency-increase"},
		{"negative threshold", "1", runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet", "--max-latency-increase", "-1"), ExitBadInput, "max-latency-increase"},
		{"bad percentile", "1", runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet", "--latency-percentile", "p101"), ExitBadInput, "percentile"},
		{"unknown flag", "1", runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet", "--max-latency-increas", "1.1"), ExitBadInput, "unknown flag"},
		{"unknown command", "1", []string{"rnu"}, ExitBadInput, "unknown command"},
		{"no candidate", "1", []string{"run", "--production", td("mlp_base.onnx"), "--dataset", td("mlp.parquet")}, ExitBadInput, "--candidate"},
		{"both names", "1", append(runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet"), "--model-path", td("mlp_same.onnx")), ExitBadInput, "not both"},
		{"missing dataset", "1", runArgs("mlp_same.onnx", "mlp_base.onnx", "nope.parquet"), ExitBadInput, "nope.parquet"},
		{"not parquet", "1", []string{"run", "--candidate", td("mlp_same.onnx"), "--production", td("mlp_base.onnx"), "--dataset", notParquet}, ExitBadInput, "not_parquet.parquet"},
		{"empty dataset", "1", runArgs("mlp_same.onnx", "mlp_base.onnx", "empty.parquet"), ExitBadInput, "no rows"},
		{"missing column", "1", runArgs("mlp_same.onnx", "mlp_base.onnx", "seq.parquet"), ExitBadInput, "features"},
		{"dtype mismatch", "1", runArgs("cast_int32.onnx", "cast_int32.onnx", "types.parquet", "--input-map", "x=x_f32"), ExitBadInput, "x_f32"},
		{"shape mismatch", "1", runArgs("mlp_same.onnx", "mlp_base.onnx", "types.parquet", "--input-map", "features=x_f32"), ExitBadInput, "x_f32"},
		{"missing model", "1", runArgs("nope.onnx", "mlp_base.onnx", "mlp.parquet"), ExitBadInput, "nope.onnx"},
		{"corrupt model", "1", runArgs("corrupt.onnx", "mlp_base.onnx", "mlp.parquet"), ExitBadInput, "corrupt.onnx"},
		{"input map names no input", "1", runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet", "--input-map", "featurs=features"), ExitBadInput, "featurs"},
		{"fill names no input", "1", runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet", "--fill", "nosuch=zeros"), ExitBadInput, "nosuch"},
		{"no ORT library", "1", runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet", "--ort-lib", "/nonexistent/libonnxruntime.so"), ExitBadInput, "ONNX Runtime"},
		{"worker crashes", "crash", runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet"), ExitRunFailed, "died"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, context.Background(), tc.mode, tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tc.code, r.stderr)
			}
			if tc.code == ExitBadInput || tc.code == ExitRunFailed {
				lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
				if len(lines) != 1 || !strings.HasPrefix(lines[0], "infergate: ") {
					t.Errorf("want one line on stderr, got:\n%s", r.stderr)
				}
				if !strings.Contains(r.stderr, tc.stderr) {
					t.Errorf("stderr %q lacks %q", r.stderr, tc.stderr)
				}
				if strings.Contains(r.stderr, "goroutine") || strings.Contains(r.stderr, "panic") {
					t.Errorf("stack trace on stderr:\n%s", r.stderr)
				}
			}
			if tc.code == ExitBadInput && r.stdout != "" {
				t.Errorf("nothing was measured, yet stdout has:\n%s", r.stdout)
			}
		})
	}
}

func TestExitCodeMapping(t *testing.T) {
	for _, tc := range []struct {
		verdict result.Verdict
		failInc bool
		want    ExitCode
	}{
		{result.VerdictPass, false, ExitPass},
		{result.VerdictNone, false, ExitPass},
		{result.VerdictFail, false, ExitRegression},
		{result.VerdictInconclusive, false, ExitPass},
		{result.VerdictInconclusive, true, ExitInconclusive},
		{result.VerdictError, false, ExitRunFailed},
	} {
		if got := exitCodeFor(nil, tc.verdict, tc.failInc); got != tc.want {
			t.Errorf("verdict %s (fail on inconclusive %v): exit %d, want %d", tc.verdict, tc.failInc, got, tc.want)
		}
	}
	if got := exitCodeFor(context.Canceled, "", false); got != ExitInterrupted {
		t.Errorf("cancelled: exit %d, want %d", got, ExitInterrupted)
	}
}

func TestInterruptWritesPartialResult(t *testing.T) {
	skipTimingInShort(t)
	ortlib.Require(t)
	out := filepath.Join(t.TempDir(), "partial.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	args := []string{"run", "--candidate", td("mlp_same.onnx"), "--production", td("mlp_base.onnx"),
		"--dataset", td("mlp.parquet"), "--duration", "60s", "--rounds", "60", "--warmup", "20",
		"--intra-op-threads", "1", "--quiet", "--max-latency-increase", "1.15", "--json", out}
	start := time.Now()
	r := runCLI(t, ctx, "1", args...)
	if r.code != ExitInterrupted {
		t.Fatalf("exit %d, want %d; stderr: %s", r.code, ExitInterrupted, r.stderr)
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("took %v to stop after the interrupt", time.Since(start))
	}
	res := readResult(t, out)
	if !res.Interrupted || len(res.Targets) != 2 {
		t.Fatalf("interrupted %v, %d targets", res.Interrupted, len(res.Targets))
	}
	if len(res.Targets[0].Rounds) == 0 {
		t.Errorf("no rounds kept from before the interrupt")
	}
	if !strings.Contains(strings.ToLower(r.stdout), "interrupted") {
		t.Errorf("report does not say it was interrupted:\n%s", r.stdout)
	}
}

// TestCorruptCorpusDatasets feeds every file of the real-world corpus's
// bad_data folder (and the file arrow-go panics on) to `infergate run`:
// each must end in one clear line and exit 2, never a panic.
func TestCorruptCorpusDatasets(t *testing.T) {
	ortlib.Require(t)
	corpus := filepath.Join("..", "..", "..", "shared", "parquet-testing")
	bad, _ := filepath.Glob(filepath.Join(corpus, "bad_data", "*.parquet"))
	if len(bad) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("no corpus under %s", corpus)
		}
		t.Skipf("no corpus under %s", corpus)
	}
	files := append(bad, filepath.Join(corpus, "data", "unknown-logical-type.parquet"))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := runCLI(t, context.Background(), "1", "run", "--candidate", td("mlp_same.onnx"),
				"--production", td("mlp_base.onnx"), "--dataset", f, "--requests", "10", "--rounds", "2", "--quiet")
			if r.code != ExitBadInput {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, ExitBadInput, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if len(lines) != 1 || strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine") {
				t.Errorf("want one clear line, got:\n%s", r.stderr)
			}
		})
	}
}

func TestInconclusivePolicy(t *testing.T) {
	skipTimingInShort(t)
	ortlib.Require(t)
	// One round cannot carry an interval: the check is inconclusive.
	args := func(policy string) []string {
		return []string{"run", "--candidate", td("mlp_same.onnx"), "--production", td("mlp_base.onnx"),
			"--dataset", td("mlp.parquet"), "--requests", "50", "--rounds", "1", "--warmup", "10",
			"--intra-op-threads", "1", "--quiet", "--max-latency-increase", "1.15", "--on-inconclusive", policy}
	}
	for policy, want := range map[string]ExitCode{"fail": ExitInconclusive, "warn": ExitPass, "pass": ExitPass} {
		r := runCLI(t, context.Background(), "1", args(policy)...)
		if r.code != want {
			t.Errorf("--on-inconclusive %s: exit %d, want %d; stderr: %s", policy, r.code, want, r.stderr)
		}
		if !strings.Contains(r.stdout, "INCONCLUSIVE") {
			t.Errorf("--on-inconclusive %s: report does not say INCONCLUSIVE:\n%s", policy, r.stdout)
		}
		warned := strings.Contains(r.stdout, "--on-inconclusive fail")
		if warned != (policy == "warn") {
			t.Errorf("--on-inconclusive %s: warning shown = %v", policy, warned)
		}
	}
}

func TestSequentialRunStopsAtFirstLook(t *testing.T) {
	skipTimingInShort(t)
	ortlib.Require(t)
	out := filepath.Join(t.TempDir(), "r.json")
	r := runCLI(t, context.Background(), "1", "run", "--candidate", td("mlp_same.onnx"), "--production", td("mlp_base.onnx"),
		"--dataset", td("mlp.parquet"), "--max-duration", "20s", "--min-rounds", "4", "--round-time", "20ms",
		"--intra-op-threads", "1", "--quiet", "--max-latency-increase", "3", "--latency-percentile", "p50", "--json", out)
	if r.code != ExitPass {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	res := readResult(t, out)
	// A same-cost pair against 3× at the median is decided at the first
	// look, even on a busy machine (a 4-round p95 might not be).
	if n := len(res.Targets[1].Rounds); n != 4 || res.Checks[0].Rounds != 4 {
		t.Errorf("%d rounds (check saw %d), want 4: the run should stop at the first look", n, res.Checks[0].Rounds)
	}
	if res.Config.MinRounds != 4 || res.Config.MaxDuration != "20s" || res.Checks[0].Lower >= res.Checks[0].Upper {
		t.Errorf("config %+v, check %+v", res.Config, res.Checks[0])
	}
}

func TestCalibrateReportsNoiseFloor(t *testing.T) {
	ortlib.Require(t)
	out := filepath.Join(t.TempDir(), "aa.json")
	r := runCLI(t, context.Background(), "1", "calibrate", "--production", td("mlp_base.onnx"),
		"--dataset", td("mlp.parquet"), "--requests", "2000", "--rounds", "10", "--warmup", "100",
		"--intra-op-threads", "1", "--quiet", "--max-latency-increase", "1.0001", "--json", out)
	if r.code != ExitPass {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	res := readResult(t, out)
	if !res.Config.AA || res.Targets[0].Model != res.Targets[1].Model {
		t.Fatalf("not an A/A run: %+v", res.Config)
	}
	if res.DetectableChange <= 1 {
		t.Errorf("detectable change = %v, want > 1", res.DetectableChange)
	}
	// A threshold of 1.0001 is finer than any run resolves: warned.
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "below what this run can resolve") {
		t.Errorf("warnings = %q", res.Warnings)
	}
	if !strings.Contains(r.stdout, "A/A") {
		t.Errorf("report does not say A/A:\n%s", r.stdout)
	}
}

// skipTimingInShort skips a test whose assertions rest on measured
// latency or rates: `make race` runs -short, and under the race detector,
// which slows code several-fold, such numbers are not the code's.
func skipTimingInShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("asserts on measured timing; skipped in -short runs (make race)")
	}
}
