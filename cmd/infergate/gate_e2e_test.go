package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/infergate/infergate/internal/ortlib"
	"github.com/infergate/infergate/result"
)

// gateE2EEnv opts into the end-to-end gate decisions: they measure for
// about a minute and need the machine to themselves, so `make test` runs
// them in a step of their own after the parallel package tests.
const gateE2EEnv = "INFERGATE_GATE_E2E"

// TestGateDecisions is the core promise on real models of about 20 µs per
// call: a candidate of the same cost passes --max-latency-increase 1.15 and
// one about 30% costlier fails it, each with the default plan and the
// default percentile (p95).
func TestGateDecisions(t *testing.T) {
	if os.Getenv(gateE2EEnv) == "" {
		t.Skipf("set %s=1 to run (make test does)", gateE2EEnv)
	}
	ortlib.Require(t)
	for _, tc := range []struct {
		candidate string
		code      ExitCode
		verdict   result.Verdict
	}{
		{"mlp_same.onnx", ExitPass, result.VerdictPass},
		{"mlp_plus25.onnx", ExitRegression, result.VerdictFail},
	} {
		t.Run(tc.candidate, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "result.json")
			r := runCLI(t, context.Background(), "1", "run",
				"--candidate", td(tc.candidate), "--production", td("mlp_base.onnx"),
				"--dataset", td("mlp.parquet"), "--max-latency-increase", "1.15",
				"--intra-op-threads", "1", "--quiet", "--json", out)
			res := readResult(t, out)
			if r.code != tc.code || res.Verdict != tc.verdict {
				t.Fatalf("exit %d verdict %s, want %d %s\n%s", r.code, res.Verdict, tc.code, tc.verdict, r.stdout)
			}
			t.Logf("%s: %s", tc.candidate, res.Checks[0].Message)
		})
	}
}
