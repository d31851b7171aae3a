package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infergate/infergate/compare"
	"github.com/infergate/infergate/internal/ortlib"
	"github.com/infergate/infergate/result"
)

// seqCostRun is `run` of two sequence-cost models on seq.parquet, whose
// rows have lengths 3 … 40, so latency must grow with the input size.
func seqCostRun(candidate, out string, extra ...string) []string {
	args := []string{"run", "--production", td("seq_cost.onnx"), "--candidate", td(candidate),
		"--dataset", td("seq.parquet"), "--warmup", "20", "--intra-op-threads", "1", "--quiet", "--json", out}
	return append(args, extra...)
}

func TestSizeBucketsGrowWithLength(t *testing.T) {
	ortlib.Require(t)
	out := filepath.Join(t.TempDir(), "r.json")
	r := runCLI(t, context.Background(), "1", seqCostRun("seq_cost.onnx", out, "--requests", "400", "--rounds", "4")...)
	if r.code != ExitPass {
		t.Fatalf("exit %d, stderr:\n%s\nstdout:\n%s", r.code, r.stderr, r.stdout)
	}
	res := readResult(t, out)
	if res.InputSizes == nil || len(res.InputSizes.Buckets) < 3 {
		t.Fatalf("input sizes %+v, want at least 3 buckets", res.InputSizes)
	}
	targets := []*result.Target{res.Target(result.RoleProduction), res.Target(result.RoleCandidate)}
	if targets[0] == nil || targets[1] == nil {
		t.Fatalf("targets %+v", res.Targets)
	}
	profiles, err := compare.SizeProfiles(res, targets)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range profiles {
		var first, last *compare.SizeRow
		for k := range p.Rows {
			if p.Rows[k].HasLatency {
				if first == nil {
					first = &p.Rows[k]
				}
				last = &p.Rows[k]
			}
		}
		if first == nil || first == last {
			t.Fatalf("%s: fewer than two buckets with latency: %+v", targets[i].Role, p.Rows)
		}
		t.Logf("%s: p50 %.0fns at mean size %.1f → %.0fns at %.1f; slope %s", targets[i].Role,
			first.P50, first.MeanSize, last.P50, last.MeanSize, compare.FormatSlope(p.Slope))
		if !(last.P50 > first.P50) || !(last.MeanSize > first.MeanSize) {
			t.Errorf("%s: p50 %.0fns at size %.1f, %.0fns at size %.1f: latency does not grow with length",
				targets[i].Role, first.P50, first.MeanSize, last.P50, last.MeanSize)
		}
		if !p.HasSlope || p.Slope <= 0 {
			t.Errorf("%s: slope %v (has %v), want positive", targets[i].Role, p.Slope, p.HasSlope)
		}
	}
	if !strings.Contains(r.stdout, "slope") {
		t.Errorf("the table has no size section with slopes:\n%s", r.stdout)
	}
}

func TestMaxSizeSlopeIncrease(t *testing.T) {
	skipTimingInShort(t)
	ortlib.Require(t)
	plan := []string{"--max-duration", "12s", "--round-time", "100ms", "--max-size-slope-increase", "1.2"}
	for _, tc := range []struct {
		candidate string
		want      ExitCode
		outcomes  []result.Outcome
	}{
		{"seq_cost.onnx", ExitPass, []result.Outcome{result.OutcomePass, result.OutcomeInconclusive}},
		{"seq_cost_wide.onnx", ExitRegression, []result.Outcome{result.OutcomeFail}},
	} {
		t.Run(tc.candidate, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "r.json")
			r := runCLI(t, context.Background(), "1", seqCostRun(tc.candidate, out, plan...)...)
			if r.code != tc.want {
				t.Fatalf("exit %d, want %d; stderr:\n%s\nstdout:\n%s", r.code, tc.want, r.stderr, r.stdout)
			}
			res := readResult(t, out)
			var c *result.Check
			for i := range res.Checks {
				if res.Checks[i].Name == compare.NameMaxSizeSlopeIncrease {
					c = &res.Checks[i]
				}
			}
			if c == nil {
				t.Fatalf("no %s check in %+v", compare.NameMaxSizeSlopeIncrease, res.Checks)
			}
			t.Logf("%s: ratio %.2f [%.2f, %.2f] %s; %s", tc.candidate, c.Ratio, c.Lower, c.Upper, c.Outcome, c.Message)
			ok := false
			for _, o := range tc.outcomes {
				ok = ok || c.Outcome == o
			}
			if !ok {
				t.Errorf("outcome %s, want one of %v", c.Outcome, tc.outcomes)
			}
		})
	}
}

func TestBatchSizeSweep(t *testing.T) {
	ortlib.Require(t)
	out := filepath.Join(t.TempDir(), "r.json")
	r := runCLI(t, context.Background(), "1", "bench", "--model", td("mlp_base.onnx"), "--dataset", td("mlp.parquet"),
		"--requests", "100", "--rounds", "2", "--warmup", "10", "--intra-op-threads", "1", "--quiet",
		"--batch-sizes", "1,4", "--json", out)
	if r.code != ExitPass {
		t.Fatalf("exit %d, stderr:\n%s\nstdout:\n%s", r.code, r.stderr, r.stdout)
	}
	res := readResult(t, out)
	if len(res.Stages) != 2 {
		t.Fatalf("%d stages, want 2", len(res.Stages))
	}
	for i, want := range []int{1, 4} {
		st := res.Stages[i]
		if st.BatchSize != want || st.Name != []string{"batch=1", "batch=4"}[i] || !st.Completed() {
			t.Errorf("stage %d: %q batch size %d, want %d", i, st.Name, st.BatchSize, want)
		}
		if len(st.Targets) != 1 {
			t.Fatalf("stage %s: %d targets", st.Name, len(st.Targets))
		}
		tg := st.Targets[0]
		if tg.Throughput.RowsPerS <= 0 || tg.Latency.Count != 100 {
			t.Errorf("stage %s: %.0f rows/s, %d samples", st.Name, tg.Throughput.RowsPerS, tg.Latency.Count)
		}
		var reqs, rows int64
		for _, rd := range tg.Rounds {
			reqs, rows = reqs+rd.Requests, rows+rd.Rows
		}
		if rows != int64(want)*reqs {
			t.Errorf("stage %s: %d rows in %d requests, want %d per request", st.Name, rows, reqs, want)
		}
	}
	if got := res.Config.BatchSizeSweep; len(got) != 2 || got[0] != 1 || got[1] != 4 {
		t.Errorf("config batch_size_sweep %v", got)
	}
	if res.Config.BatchSize != 4 {
		t.Errorf("top level batch size %d, want the last stage's 4", res.Config.BatchSize)
	}
	for _, want := range []string{"batch=1", "batch=4"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestBatchSizesFlagErrors(t *testing.T) {
	local := func(extra ...string) []string {
		return append(runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet"), extra...)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{local("--batch-sizes", "1,0"), `"0" is not a positive whole number`},
		{local("--batch-sizes", "1,x"), `"x" is not a positive whole number`},
		{local("--batch-sizes", "4,4"), "given twice"},
		{local("--batch-sizes", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"), "at most 16"},
		{local("--batch-sizes", "1,8", "--batch-size", "4"), "leave out --batch-size"},
		{local("--batch-sizes", "1,8", "--concurrency-sweep", "1,2"), "give one sweep"},
		{append([]string{"bench", "--model", td("mlp_base.onnx"), "--dataset", td("mlp.parquet")}, "--batch-sizes", "-1"), "--batch-sizes"},
	} {
		r := runCLI(t, context.Background(), "1", tc.args...)
		if r.code != ExitBadInput || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line with %q", tc.args[len(tc.args)-4:], r.code, r.stderr, tc.want)
		}
	}
}
