package main

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infergate/infergate/internal/kservetest"
	"github.com/infergate/infergate/internal/ortlib"
	"github.com/infergate/infergate/result"
)

func TestConcurrencySweepLocal(t *testing.T) {
	ortlib.Require(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "r.json")
	args := []string{"run", "--candidate", td("mlp_same.onnx"), "--production", td("mlp_base.onnx"),
		"--dataset", td("mlp.parquet"), "--requests", "100", "--rounds", "2", "--warmup", "10",
		"--intra-op-threads", "1", "--quiet", "--max-error-rate", "0.1",
		"--concurrency-sweep", "1,2", "--json", out, "--markdown", filepath.Join(dir, "r.md"),
		"--junit", filepath.Join(dir, "r.xml"), "--html", filepath.Join(dir, "r.html"),
		"--openmetrics", filepath.Join(dir, "r.prom")}
	r := runCLI(t, context.Background(), "1", args...)
	if r.code != ExitPass {
		t.Fatalf("exit %d, stderr:\n%s\nstdout:\n%s", r.code, r.stderr, r.stdout)
	}
	res := readResult(t, out)
	if len(res.Stages) != 2 {
		t.Fatalf("%d stages, want 2", len(res.Stages))
	}
	for i, want := range []int{1, 2} {
		st := res.Stages[i]
		if st.Concurrency != want || st.Name != "concurrency="+string(rune('0'+want)) {
			t.Errorf("stage %d: %q concurrency %d, want %d", i, st.Name, st.Concurrency, want)
		}
		if st.Verdict != result.VerdictPass || len(st.Checks) != 1 || st.Interrupted || st.Error != "" {
			t.Errorf("stage %s: verdict %s, %d checks, interrupted %v, error %q", st.Name, st.Verdict, len(st.Checks), st.Interrupted, st.Error)
		}
		if len(st.Targets) != 2 {
			t.Fatalf("stage %s: %d targets", st.Name, len(st.Targets))
		}
		for _, tg := range st.Targets {
			if tg.Latency.Count != 100 || len(tg.Rounds) != 2 || tg.Rounds[0].Histogram == "" {
				t.Errorf("stage %s %s: %d samples, %d rounds", st.Name, tg.Role, tg.Latency.Count, len(tg.Rounds))
			}
			if h, err := tg.Histogram(); err != nil || h.Count() != 100 {
				t.Errorf("stage %s %s: histogram %v", st.Name, tg.Role, err)
			}
		}
	}
	// The top level mirrors the last stage.
	if res.Config.Concurrency != 2 || res.Verdict != result.VerdictPass || len(res.Targets) != 2 ||
		res.Targets[0].Latency != res.Stages[1].Targets[0].Latency {
		t.Errorf("top level: concurrency %d, verdict %s, targets %d", res.Config.Concurrency, res.Verdict, len(res.Targets))
	}
	if got := res.Config.ConcurrencySweep; len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("config concurrency_sweep %v", got)
	}
	for _, want := range []string{"stages", "concurrency=1", "concurrency=2", "checks at concurrency=2"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestRateSweepEndpoints(t *testing.T) {
	skipTimingInShort(t)
	prod := sumServer(t, kservetest.Faults{Latency: time.Millisecond})
	cand := sumServer(t, kservetest.Faults{Latency: time.Millisecond})
	out := filepath.Join(t.TempDir(), "r.json")
	args := []string{"run", "--production-url", prod.ModelURL(), "--candidate-url", cand.ModelURL(),
		"--dataset", td("mlp.parquet"), "--requests", "80", "--rounds", "2", "--warmup", "20", "--quiet",
		"--max-error-rate", "0.05", "--rate-sweep", "50,100", "--json", out}
	if testing.Verbose() {
		args = append(args, "--quiet=false")
	}
	r := runCLI(t, context.Background(), "1", args...)
	if r.code != ExitPass {
		t.Fatalf("exit %d, stderr:\n%s\nstdout:\n%s", r.code, r.stderr, r.stdout)
	}
	t.Log(r.stderr)
	res := readResult(t, out)
	if len(res.Stages) != 2 {
		t.Fatalf("%d stages, want 2", len(res.Stages))
	}
	for i, rate := range []float64{50, 100} {
		st := res.Stages[i]
		if st.Rate != rate || st.Name != []string{"rate=50/s", "rate=100/s"}[i] {
			t.Errorf("stage %d: %q rate %v, want %v", i, st.Name, st.Rate, rate)
		}
		for _, tg := range st.Targets {
			got := tg.Throughput.InferencesPerS
			if math.Abs(got-rate) > 0.3*rate {
				t.Errorf("stage %s %s: %.1f inferences/s, want within 30%% of %v", st.Name, tg.Role, got, rate)
			}
		}
	}
	if res.Config.Rate != 100 || res.Config.Arrival != "constant" || len(res.Config.RateSweep) != 2 {
		t.Errorf("config rate %v arrival %q rate_sweep %v", res.Config.Rate, res.Config.Arrival, res.Config.RateSweep)
	}
}

func TestSweepFlagErrors(t *testing.T) {
	local := func(extra ...string) []string {
		return append(runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet"), extra...)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{local("--concurrency-sweep", "1,0"), `"0" is not a positive whole number`},
		{local("--concurrency-sweep", "1,x"), `"x" is not a positive whole number`},
		{local("--concurrency-sweep", "1,,2"), `"" is not a positive whole number`},
		{local("--concurrency-sweep", "2,2"), "given twice"},
		{local("--concurrency-sweep", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"), "at most 16"},
		{local("--concurrency-sweep", "1,2", "--concurrency", "4"), "leave out --concurrency"},
		{local("--concurrency-sweep", "1,2", "--rate-sweep", "10"), "not both"},
		{local("--rate-sweep", "10,20"), "--rate-sweep drives endpoints"},
		{local("--rate-sweep", "10,-1"), `"-1" is not a positive rate`},
		{local("--rate-sweep", "10,inf"), `"inf" is not a positive rate`},
		{append([]string{"bench", "--model", td("mlp_base.onnx"), "--dataset", td("mlp.parquet")}, "--concurrency-sweep", "0"), "--concurrency-sweep"},
		{append(endpointRun("http://127.0.0.1:1/v2/models/x", "http://127.0.0.1:1/v2/models/y"), "--rate-sweep", "50", "--rate", "10"), "leave out --rate"},
	} {
		r := runCLI(t, context.Background(), "1", tc.args...)
		if r.code != ExitBadInput || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line with %q", tc.args[len(tc.args)-4:], r.code, r.stderr, tc.want)
		}
	}
}

func TestSweepInterruptKeepsStages(t *testing.T) {
	skipTimingInShort(t)
	ortlib.Require(t)
	out := filepath.Join(t.TempDir(), "r.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	args := []string{"run", "--candidate", td("mlp_same.onnx"), "--production", td("mlp_base.onnx"),
		"--dataset", td("mlp.parquet"), "--duration", "60s", "--rounds", "60", "--warmup", "10",
		"--intra-op-threads", "1", "--quiet", "--max-latency-increase", "1.5",
		"--concurrency-sweep", "1,2", "--json", out}
	r := runCLI(t, ctx, "1", args...)
	if r.code != ExitInterrupted {
		t.Fatalf("exit %d, want %d; stderr: %s", r.code, ExitInterrupted, r.stderr)
	}
	res := readResult(t, out)
	if !res.Interrupted || len(res.Stages) != 1 || !res.Stages[0].Interrupted || res.Stages[0].Verdict != result.VerdictInconclusive {
		t.Fatalf("interrupted %v, stages %+v", res.Interrupted, res.Stages)
	}
	if len(res.Targets) != 2 || len(res.Stages[0].Targets[0].Rounds) == 0 {
		t.Errorf("the partial stage's rounds are not kept")
	}
}

func TestSweepRunFailureStopsWithReport(t *testing.T) {
	prod := sumServer(t, kservetest.Faults{Latency: time.Millisecond})
	dead := sumServer(t, kservetest.Faults{StallFraction: 1})
	out := filepath.Join(t.TempDir(), "r.json")
	args := append(endpointRun(prod.ModelURL(), dead.ModelURL(), "--max-latency-increase", "1.5",
		"--timeout", "100ms", "--concurrency-sweep", "1,2"), "--json", out)
	r := runCLI(t, context.Background(), "1", args...)
	if r.code != ExitRunFailed {
		t.Fatalf("exit %d, want %d; stderr: %s", r.code, ExitRunFailed, r.stderr)
	}
	res := readResult(t, out)
	if res.Verdict != result.VerdictError || len(res.Stages) != 1 || res.Stages[0].Error == "" || res.Stages[0].Verdict != result.VerdictError {
		t.Fatalf("verdict %s, stages %+v", res.Verdict, res.Stages)
	}
}
