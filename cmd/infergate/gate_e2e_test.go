package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/infergate/infergate/internal/ortlib"
	"github.com/infergate/infergate/result"
)

// gateE2EEnv opts into the end-to-end gate decisions: they measure for
// about a minute and need the machine to themselves, so `make test` runs
// them in a step of their own after the parallel package tests.
const gateE2EEnv = "INFERGATE_GATE_E2E"

// TestGateDecisions is the core promise on real models of about 20 µs per
// call, each judged inside a 60 s measuring budget: a candidate of the
// same cost passes --max-latency-increase 1.15 at the default percentile
// (p95); the bundled example's candidate, 25% costlier per call, fails it
// judged on that cost (p50); and a ~30% costlier one fails it at p95.
//
// Why not the 25% pair at p95: its p95 ratio comes out 1.20-1.22 here
// (the machine's slow calls, about 2% of them, compress the tail's ratio),
// within 5% of the threshold, and once stayed inconclusive, [1.14, 1.24],
// for the whole 60 s: the right answer for that run, and a flaky test.
// docs/eval-gate.md judges a 1.24x pair at p95 with the default budget,
// 30 of 30 times. Deciding within --max-duration is the time limit; the
// wall time, warmup and loading included, is logged, not judged.
func TestGateDecisions(t *testing.T) {
	if os.Getenv(gateE2EEnv) == "" {
		t.Skipf("set %s=1 to run (make test does)", gateE2EEnv)
	}
	ortlib.Require(t)
	example := func(name string) string { return filepath.Join("..", "..", "examples", name) }
	for _, tc := range []struct {
		name                        string
		candidate, production, data string
		percentile                  string // "" is the default, p95
		code                        ExitCode
		verdict                     result.Verdict
	}{
		{"same cost", td("mlp_same.onnx"), td("mlp_base.onnx"), td("mlp.parquet"), "", ExitPass, result.VerdictPass},
		{"25% costlier", example("candidate.onnx"), example("production.onnx"), example("test_data.parquet"), "p50", ExitRegression, result.VerdictFail},
		{"30% costlier at p95", td("mlp_plus25.onnx"), td("mlp_base.onnx"), td("mlp.parquet"), "", ExitRegression, result.VerdictFail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "result.json")
			start := time.Now()
			args := []string{"run", "--candidate", tc.candidate, "--production", tc.production,
				"--dataset", tc.data, "--max-latency-increase", "1.15", "--max-duration", "60s",
				"--intra-op-threads", "1", "--quiet", "--json", out}
			if tc.percentile != "" {
				args = append(args, "--latency-percentile", tc.percentile)
			}
			r := runCLI(t, context.Background(), "1", args...)
			res := readResult(t, out)
			if r.code != tc.code || res.Verdict != tc.verdict {
				t.Fatalf("exit %d verdict %s, want %d %s\n%s", r.code, res.Verdict, tc.code, tc.verdict, r.stdout)
			}
			t.Logf("%s: %s; %d rounds, %.1f s wall", tc.name, res.Checks[0].Message, res.Checks[0].Rounds, time.Since(start).Seconds())
		})
	}
}
