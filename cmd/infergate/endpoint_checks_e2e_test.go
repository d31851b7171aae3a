package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infergate/infergate/internal/kservetest"
	"github.com/infergate/infergate/result"
)

// TestEndpointGateAllCoreChecks judges endpoints with every core check at
// once: equal endpoints pass them all, a candidate 1.4 times slower fails
// every latency and throughput check and passes the error rate. The
// memory check is refused for endpoints, before anything runs.
//
// Margins are generous on purpose: a 4 ms base, and a slow tail injected
// into every 40th call (20 ms more, 28 ms on the slow server). A round is
// 40 calls, so every round and every resample of rounds holds the same
// share of the tail, and p99 lies near its middle instead of on whatever
// the machine's scheduler did to 1% of the calls. A fixed plan judges
// every check once, on all rounds: a sequential one would stop at the
// first failed check, leaving the others undecided.
func TestEndpointGateAllCoreChecks(t *testing.T) {
	skipTimingInShort(t)
	timerLatency := func(o *kservetest.Options) { o.PreciseLatency = false } // no spinning: these latencies need no µs precision
	fast := kservetest.Faults{Latency: 4 * time.Millisecond, SlowFraction: 0.025, SlowLatency: 20 * time.Millisecond}
	base := sumServer(t, fast, timerLatency)
	same := sumServer(t, fast, timerLatency)
	slow := sumServer(t, kservetest.Faults{Latency: 5600 * time.Microsecond, SlowFraction: 0.025, SlowLatency: 28 * time.Millisecond}, timerLatency)
	// p99 is about 24 ms on the fast servers and never under 33.6 ms on
	// the slow one: a 30 ms budget passes the one and fails the other.
	checks := []string{
		"--max-latency-increase", "1.2", "--max-p99-increase", "1.2", "--min-throughput-ratio", "0.85",
		"--max-error-rate", "0.02", "--max-p99", "30ms",
	}
	run := func(cand string, extra ...string) []string {
		args := []string{"run", "--production-url", base.ModelURL(), "--candidate-url", cand,
			"--dataset", td("mlp.parquet"), "--requests", "400", "--rounds", "10", "--warmup", "20",
			"--latency-percentile", "p50", "--quiet"}
		return append(append(args, checks...), extra...)
	}
	for _, tc := range []struct {
		name    string
		cand    string
		code    ExitCode
		verdict result.Verdict
		want    map[string]result.Outcome
	}{
		{"equal endpoints pass", same.ModelURL(), ExitPass, result.VerdictPass, map[string]result.Outcome{
			"max-latency-increase": result.OutcomePass, "max-p99-increase": result.OutcomePass,
			"min-throughput-ratio": result.OutcomePass, "max-error-rate": result.OutcomePass, "max-p99": result.OutcomePass,
		}},
		{"40% slower fails", slow.ModelURL(), ExitRegression, result.VerdictFail, map[string]result.Outcome{
			"max-latency-increase": result.OutcomeFail, "max-p99-increase": result.OutcomeFail,
			"min-throughput-ratio": result.OutcomeFail, "max-error-rate": result.OutcomePass, "max-p99": result.OutcomeFail,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "r")
			args := run(tc.cand, "--json", out+".json", "--markdown", out+".md", "--junit", out+".xml", "--html", out+".html")
			r := runCLI(t, context.Background(), "1", args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s\n%s", r.code, tc.code, r.stderr, r.stdout)
			}
			res := readResult(t, out+".json")
			if res.Verdict != tc.verdict {
				t.Errorf("verdict %s, want %s", res.Verdict, tc.verdict)
			}
			if len(res.Checks) != len(tc.want) {
				t.Errorf("%d checks judged, want %d", len(res.Checks), len(tc.want))
			}
			for _, c := range res.Checks {
				want, ok := tc.want[c.Name]
				if !ok {
					t.Errorf("unexpected check %s", c.Name)
					continue
				}
				if c.Outcome != want {
					t.Errorf("%s: %s, want %s (ratio %.3f [%.3f, %.3f]; %s)", c.Name, c.Outcome, want, c.Ratio, c.Lower, c.Upper, c.Message)
				}
				t.Logf("%s: %s, ratio %.3f (candidate %.4g) [%.4g, %.4g]", c.Name, c.Outcome, c.Ratio, c.Candidate, c.Lower, c.Upper)
			}
			for _, ext := range []string{".md", ".xml", ".html"} {
				b, err := os.ReadFile(out + ext)
				if err != nil {
					t.Fatalf("%s report not written: %v", ext, err)
				}
				for name := range tc.want {
					if !strings.Contains(string(b), name) {
						t.Errorf("%s report does not name the check %s", ext, name)
					}
				}
			}
		})
	}

	t.Run("memory check refused", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "r.json")
		args := run(same.ModelURL(), "--max-memory-increase", "1.2", "--json", out)
		r := runCLI(t, context.Background(), "1", args...)
		if r.code != ExitBadInput || !strings.Contains(r.stderr, "--max-memory-increase compares local models' worker memory") {
			t.Errorf("exit %d, stderr %q; want 2 saying an endpoint's memory is not measured", r.code, r.stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Error("a refused run wrote a result")
		}
	})
}

// TestOpenLoopLateStartsReported: a candidate server that stalls for 50 ms
// every 200 ms, driven at 200 requests/s with at most 4 in flight, keeps
// all four callers waiting while about ten more calls fall due, so those
// start late. The result counts them, the reports show them, and the
// warning follows the fraction.
func TestOpenLoopLateStartsReported(t *testing.T) {
	skipTimingInShort(t)
	prod := sumServer(t, kservetest.Faults{Latency: time.Millisecond})
	cand := sumServer(t, kservetest.Faults{Latency: time.Millisecond})
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				cand.Stall(50 * time.Millisecond)
			case <-done:
				return
			}
		}
	})
	t.Cleanup(func() { close(done); wg.Wait() })

	dir := t.TempDir()
	out := filepath.Join(dir, "r")
	r := runCLI(t, context.Background(), "1", "run", "--production-url", prod.ModelURL(), "--candidate-url", cand.ModelURL(),
		"--dataset", td("mlp.parquet"), "--requests", "400", "--rounds", "4", "--warmup", "20", "--quiet",
		"--rate", "200", "--concurrency", "4", "--max-error-rate", "0.05",
		"--json", out+".json", "--markdown", out+".md", "--html", out+".html")
	if r.code != ExitPass {
		t.Fatalf("exit %d, want 0; stderr: %s\n%s", r.code, r.stderr, r.stdout)
	}
	res := readResult(t, out+".json")
	if res.Config.LateStartThresholdNS != int64(time.Millisecond) {
		t.Errorf("late_start_threshold_ns = %d, want 1ms", res.Config.LateStartThresholdNS)
	}
	c := res.Target(result.RoleCandidate)
	if c.LateStarts == 0 {
		t.Fatalf("no late starts recorded, though every caller waited out each stall\n%s", r.stdout)
	}
	var inRounds int64
	for _, rd := range c.Rounds {
		inRounds += rd.LateStarts
	}
	if inRounds != c.LateStarts {
		t.Errorf("rounds hold %d late starts, the target %d", inRounds, c.LateStarts)
	}
	const line = "late starts (over 1ms)"
	if !strings.Contains(r.stdout, line) {
		t.Errorf("the table lacks %q:\n%s", line, r.stdout)
	}
	for _, ext := range []string{".md", ".html"} {
		b, err := os.ReadFile(out + ext)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), line) {
			t.Errorf("%s report lacks %q", ext, line)
		}
	}
	frac := float64(c.LateStarts) / float64(c.Latency.Count+c.Errors.Total)
	warned := false
	for _, w := range res.Warnings {
		if strings.HasPrefix(w, "candidate: ") && strings.Contains(w, "could not keep the rate of 200/s") {
			warned = true
		}
	}
	if warned != (frac > 0.01) {
		t.Errorf("%d late starts (%.1f%%): warned %v; want a warning exactly above 1%%; warnings %q",
			c.LateStarts, 100*frac, warned, res.Warnings)
	}
	t.Logf("candidate: %d late starts of %d calls (%.1f%%); production: %d",
		c.LateStarts, c.Latency.Count+c.Errors.Total, 100*frac, res.Target(result.RoleProduction).LateStarts)
}
