package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/infergate/infergate/compare"
	"github.com/infergate/infergate/report"
	"github.com/infergate/infergate/result"
)

// runSaved runs infergate in-process for commands that measure nothing,
// with exactly the environment given (nothing of the real one, so a test
// never writes to a real runner's GITHUB_OUTPUT).
func runSaved(t *testing.T, vars map[string]string, args ...string) cliResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := &env{
		Stdout:     &stdout,
		Stderr:     &stderr,
		Getenv:     func(k string) string { return vars[k] },
		Executable: func() (string, error) { return "", os.ErrNotExist },
	}
	code := execute(context.Background(), e, args)
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// synthTarget is one side of a synthetic result: latencies around base,
// times each round's drift.
type synthTarget struct {
	role  result.Role
	name  string
	base  time.Duration
	rss   int64
	errs  int64
	batch int64
}

// synthRounds draws each target's samples, round by round: lognormal noise
// around base, times a drift shared by the targets within a round.
func synthRounds(seed uint64, rounds, samples int, ts ...synthTarget) [][][]int64 {
	rng := rand.New(rand.NewPCG(seed, 11))
	out := make([][][]int64, len(ts))
	for range rounds {
		drift := math.Exp(0.05 * rng.NormFloat64())
		for i, tg := range ts {
			s := make([]int64, samples)
			for k := range s {
				s[k] = int64(float64(tg.base) * drift * math.Exp(0.1*rng.NormFloat64()))
			}
			out[i] = append(out[i], s)
		}
	}
	return out
}

// synthDoc builds a result document as run or bench writes it from the
// given rounds of samples (indices from 0), with summaries computed the
// way the scheduler computes them.
func synthDoc(t *testing.T, samples [][][]int64, ts ...synthTarget) *result.Result {
	t.Helper()
	r := &result.Result{
		SchemaVersion: result.SchemaVersion,
		Tool:          result.Tool{Name: "infergate", Version: "test"},
		StartedAt:     time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		FinishedAt:    time.Date(2026, 1, 2, 3, 5, 5, 0, time.UTC),
		Config:        result.Config{Command: "run", Dataset: "test.parquet", DatasetRows: 100, BatchSize: 1, Concurrency: 1, Device: "cpu", GraphOptimization: "all"},
		Machine:       result.Machine{OS: "linux", Arch: "amd64", CPUModel: "Test CPU", Cores: 2, GoVersion: "go1.26"},
		Checks:        []result.Check{},
		Verdict:       result.VerdictNone,
	}
	if len(ts) == 1 {
		r.Config.Command = "bench"
	}
	for i, tg := range ts {
		batch := max(tg.batch, 1)
		target := result.Target{Role: tg.role, Name: tg.name, Kind: "onnx", Model: "models/" + tg.name,
			Memory: result.Memory{LoadRSSBytes: tg.rss / 2, PeakRSSBytes: tg.rss},
			Errors: result.Errors{Total: tg.errs, ByKind: map[string]int64{}}}
		if tg.errs > 0 {
			target.Errors.ByKind["runtime"] = tg.errs
		}
		all := result.NewHistogram()
		var busy, reqs int64
		for k, s := range samples[i] {
			h := result.NewHistogram()
			var elapsed int64
			for _, ns := range s {
				h.RecordNS(ns)
				elapsed += ns
			}
			enc, err := h.Encode()
			if err != nil {
				t.Fatal(err)
			}
			all.Merge(h)
			target.Rounds = append(target.Rounds, result.Round{Index: k, Position: (k + i) % 2, Requests: int64(len(s)),
				Rows: int64(len(s)) * batch, ElapsedNS: elapsed, Histogram: enc, PeakRSSBytes: tg.rss})
			busy += elapsed
			reqs += int64(len(s))
		}
		target.Latency = all.Summary()
		secs := float64(busy) / 1e9
		target.Throughput = result.Throughput{InferencesPerS: float64(reqs) / secs, RowsPerS: float64(reqs*batch) / secs}
		r.Targets = append(r.Targets, target)
	}
	return r
}

func writeDoc(t *testing.T, dir, name string, r *result.Result) string {
	t.Helper()
	var b bytes.Buffer
	if err := result.Write(&b, r); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	prodT = synthTarget{role: result.RoleProduction, name: "production.onnx", base: time.Millisecond, rss: 100 << 20}
	candT = synthTarget{role: result.RoleCandidate, name: "candidate.onnx", base: time.Millisecond, rss: 110 << 20}
)

// benchDoc is a bench result of one model of the given latency.
func benchDoc(t *testing.T, seed uint64, rounds int, base time.Duration) *result.Result {
	tg := synthTarget{role: result.RoleSingle, name: "model.onnx", base: base, rss: 100 << 20}
	return synthDoc(t, synthRounds(seed, rounds, 200, tg), tg)
}

// wantOneLine asserts the bad-input contract: exit 2, one line on stderr
// naming what was wrong, nothing on stdout.
func wantOneLine(t *testing.T, r cliResult, code ExitCode, contains ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "infergate: ") {
		t.Errorf("want one line on stderr, got:\n%s", r.stderr)
	}
	for _, c := range contains {
		if !strings.Contains(r.stderr, c) {
			t.Errorf("stderr %q lacks %q", r.stderr, c)
		}
	}
	if r.stdout != "" {
		t.Errorf("bad input, yet stdout has:\n%s", r.stdout)
	}
}

// TestSavedResultBadInput: every command that reads results refuses
// anything that is not a result this infergate reads, with exit 2 and one
// line naming the file.
func TestSavedResultBadInput(t *testing.T) {
	dir := t.TempDir()
	good := writeDoc(t, dir, "good.json", benchDoc(t, 1, 4, time.Millisecond))
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newer := benchDoc(t, 1, 4, time.Millisecond)
	newer.SchemaVersion = result.SchemaVersion + 1
	other := benchDoc(t, 1, 4, time.Millisecond)
	other.Tool.Name = "k6"
	empty := benchDoc(t, 1, 4, time.Millisecond)
	empty.Targets = nil
	badHist := benchDoc(t, 1, 4, time.Millisecond)
	badHist.Targets[0].Rounds[1].Histogram = "bm90IGEgaGlzdG9ncmFt"
	cases := []struct {
		name string
		path string
		want []string
	}{
		{"missing file", filepath.Join(dir, "nope.json"), []string{"nope.json", "no such file"}},
		{"bad JSON", write("bad.json", `{"schema_version": 1, "targets": [`), []string{"bad.json", "not an infergate result"}},
		{"not infergate's", write("package.json", `{"name": "left-pad", "version": "1.3.0"}`), []string{"package.json", "not an infergate result", "no schema_version"}},
		{"newer schema", writeDoc(t, dir, "newer.json", newer), []string{"newer.json", "schema_version 2 is newer", "upgrade infergate"}},
		{"another tool", writeDoc(t, dir, "k6.json", other), []string{"k6.json", "not an infergate result", `"k6"`}},
		{"no targets", writeDoc(t, dir, "empty.json", empty), []string{"empty.json", "no targets"}},
		{"bad histogram", writeDoc(t, dir, "hist.json", badHist), []string{"hist.json", "round 1"}},
		{"directory", dir, []string{"is a directory"}},
	}
	for _, tc := range cases {
		for _, cmd := range []struct {
			name string
			args []string
		}{
			{"report", []string{"report", tc.path}},
			{"compare base", []string{"compare", tc.path, good, "--max-latency-increase", "1.2"}},
			{"compare new", []string{"compare", good, tc.path, "--max-latency-increase", "1.2"}},
			{"merge", []string{"merge", good, tc.path, "-o", filepath.Join(dir, "all.json")}},
		} {
			t.Run(tc.name+"/"+cmd.name, func(t *testing.T) {
				wantOneLine(t, runSaved(t, nil, cmd.args...), ExitBadInput, tc.want...)
			})
		}
	}
	// Usage errors of the new commands.
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"report without a file", []string{"report"}, "accepts 1 arg"},
		{"compare one file", []string{"compare", good}, "accepts 2 arg"},
		{"merge nothing", []string{"merge"}, "requires at least 1 arg"},
		{"compare bad threshold", []string{"compare", good, good, "--max-latency-increase", "fast"}, "max-latency-increase"},
		{"compare bad confidence", []string{"compare", good, good, "--confidence", "2"}, "--confidence"},
		{"compare bad policy", []string{"compare", good, good, "--on-inconclusive", "maybe"}, "--on-inconclusive"},
		{"two reports one file", []string{"report", good, "--json", filepath.Join(dir, "x"), "--markdown", filepath.Join(dir, "x")}, "--json and --markdown both write"},
		{"report into a directory", []string{"report", good, "--html", dir}, "is a directory"},
		{"bad pushgateway", []string{"report", good, "--pushgateway", "pushgateway:9091"}, "--pushgateway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantOneLine(t, runSaved(t, nil, tc.args...), ExitBadInput, tc.want)
		})
	}
}

// TestReportRerenders: report renders a saved result, whatever its
// verdict, and exits 0.
func TestReportRerenders(t *testing.T) {
	dir := t.TempDir()
	doc := synthDoc(t, synthRounds(2, 6, 100, prodT, candT), prodT, candT)
	doc.Verdict = result.VerdictFail
	doc.Checks = []result.Check{{Name: "max-latency-increase", Metric: "latency_p95", Unit: "ns", Threshold: 1.15,
		Ratio: 1.3, Lower: 1.2, Upper: 1.4, Outcome: result.OutcomeFail, Message: "p95 1.30× production"}}
	in := writeDoc(t, dir, "in.json", doc)
	out := filepath.Join(dir, "reports")
	r := runSaved(t, nil, "report", in, "--json", filepath.Join(out, "r.json"), "--markdown", filepath.Join(out, "r.md"),
		"--junit", filepath.Join(out, "r.xml"), "--html", filepath.Join(out, "r.html"), "--openmetrics", filepath.Join(out, "r.prom"))
	if r.code != ExitPass || r.stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"production.onnx", "candidate.onnx", "max-latency-increase", "FAIL"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
	back := readResult(t, filepath.Join(out, "r.json"))
	if back.Verdict != result.VerdictFail || len(back.Targets[1].Rounds) != 6 {
		t.Errorf("re-written result: verdict %s, %d rounds", back.Verdict, len(back.Targets[1].Rounds))
	}
	for _, f := range []string{"r.md", "r.xml", "r.html", "r.prom"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, "r.md"))
	if !strings.Contains(string(md), report.MarkdownMarker) {
		t.Errorf("markdown lacks the marker %q", report.MarkdownMarker)
	}
	// No temporary files left beside the reports.
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestCompareSavedResults(t *testing.T) {
	dir := t.TempDir()
	base := writeDoc(t, dir, "base.json", benchDoc(t, 1, 10, time.Millisecond))
	same := writeDoc(t, dir, "same.json", benchDoc(t, 2, 10, time.Millisecond))
	slow := writeDoc(t, dir, "slow.json", benchDoc(t, 3, 10, 1500*time.Microsecond))
	one := writeDoc(t, dir, "one.json", benchDoc(t, 4, 1, time.Millisecond))
	// A run result as the baseline: its production target is used.
	run := synthTarget{role: result.RoleProduction, name: "prod-from-run.onnx", base: time.Millisecond, rss: 100 << 20}
	other := synthTarget{role: result.RoleCandidate, name: "ignored.onnx", base: 5 * time.Millisecond, rss: 100 << 20}
	runDoc := writeDoc(t, dir, "run.json", synthDoc(t, synthRounds(5, 10, 200, run, other), run, other))

	for _, tc := range []struct {
		name      string
		base, new string
		extra     []string
		code      ExitCode
		verdict   result.Verdict
		prodName  string
	}{
		{"same cost passes", base, same, nil, ExitPass, result.VerdictPass, "model.onnx"},
		{"50% slower fails", base, slow, nil, ExitRegression, result.VerdictFail, "model.onnx"},
		{"one round: inconclusive, warn", base, one, nil, ExitPass, result.VerdictInconclusive, "model.onnx"},
		{"one round: inconclusive, fail", base, one, []string{"--on-inconclusive", "fail"}, ExitInconclusive, result.VerdictInconclusive, "model.onnx"},
		{"run result as baseline", runDoc, same, nil, ExitPass, result.VerdictPass, "prod-from-run.onnx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "cmp.json")
			args := append([]string{"compare", tc.base, tc.new, "--max-latency-increase", "1.25", "--min-throughput-ratio", "0.8", "--json", out}, tc.extra...)
			r := runSaved(t, nil, args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s\nstdout:\n%s", r.code, tc.code, r.stderr, r.stdout)
			}
			res := readResult(t, out)
			if res.Verdict != tc.verdict || res.Config.Command != "compare" || res.SchemaVersion != result.SchemaVersion {
				t.Fatalf("verdict %s, command %q", res.Verdict, res.Config.Command)
			}
			if len(res.Targets) != 2 || res.Targets[0].Role != result.RoleProduction || res.Targets[1].Role != result.RoleCandidate ||
				res.Targets[0].Name != tc.prodName || len(res.Targets[0].Rounds) != 10 {
				t.Fatalf("targets: %+v", res.Targets)
			}
			if res.Config.Thresholds["max-latency-increase"] != "1.25" || len(res.Checks) != 2 {
				t.Errorf("thresholds %v, %d checks", res.Config.Thresholds, len(res.Checks))
			}
			if !strings.Contains(strings.Join(res.Warnings, "\n"), compare.UnpairedNote) {
				t.Errorf("warnings lack the unpaired note: %q", res.Warnings)
			}
			if res.Checks[0].Method != compare.MethodPoint && !strings.Contains(res.Checks[0].Method, "two-sample block bootstrap") {
				t.Errorf("method %q", res.Checks[0].Method)
			}
			if !strings.Contains(r.stdout, "unpaired runs") {
				t.Errorf("table does not warn that the runs are unpaired:\n%s", r.stdout)
			}
		})
	}

	// Different datasets, batch sizes and machines are warned about.
	d := benchDoc(t, 2, 10, time.Millisecond)
	d.Config.Dataset, d.Config.BatchSize, d.Machine.CPUModel = "other.parquet", 8, "Other CPU"
	diff := writeDoc(t, dir, "diff.json", d)
	out := filepath.Join(dir, "diff-cmp.json")
	r := runSaved(t, nil, "compare", base, diff, "--max-latency-increase", "1.25", "--json", out)
	if r.code != ExitPass {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	w := strings.Join(readResult(t, out).Warnings, "\n")
	for _, want := range []string{"dataset test.parquet vs other.parquet", "batch size 1 vs 8", "different machines", "CPU Test CPU vs Other CPU"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
	// A failed run is nothing to compare.
	failed := benchDoc(t, 2, 10, time.Millisecond)
	failed.Targets[0].Failed = "worker died"
	failed.Verdict = result.VerdictError
	wantOneLine(t, runSaved(t, nil, "compare", base, writeDoc(t, dir, "failed.json", failed), "--max-latency-increase", "1.2"),
		ExitBadInput, "failed.json", "nothing to compare")
	// Ratios need two targets, absolute budgets judge NEW's.
	r = runSaved(t, nil, "compare", base, slow, "--max-p50", "1ms")
	if r.code != ExitRegression {
		t.Errorf("--max-p50 1ms on a 1.5ms model: exit %d; %s", r.code, r.stderr)
	}
}

// splitDoc cuts a synthetic run into shards of consecutive rounds, each
// re-indexed from 0 as a runner of its own would write it.
func splitDoc(t *testing.T, samples [][][]int64, cuts []int, ts ...synthTarget) []*result.Result {
	var docs []*result.Result
	from := 0
	for _, to := range cuts {
		part := make([][][]int64, len(samples))
		for i := range samples {
			part[i] = samples[i][from:to]
		}
		docs = append(docs, synthDoc(t, part, ts...))
		from = to
	}
	return docs
}

// TestMergeEqualsWhole: merging shards gives the result of all their
// rounds measured as one: the same counts, quantiles, throughput, rounds
// and, judged again, the same checks.
func TestMergeEqualsWhole(t *testing.T) {
	p := prodT
	c := candT
	c.errs, c.base = 3, 1100*time.Microsecond
	p.errs = 1
	samples := synthRounds(7, 12, 150, p, c)
	whole := synthDoc(t, samples, p, c)
	shards := splitDoc(t, samples, []int{5, 9, 12}, p, c)
	shards[1].Targets[1].Memory.PeakRSSBytes = 150 << 20 // the largest peak wins
	for _, sh := range shards {
		sh.Targets[0].ModelVersion = "5" // the model's own version is kept
	}
	thresholds := map[string]string{"max-latency-increase": "1.3", "min-throughput-ratio": "0.7", "max-error-rate": "5%", "max-p99": "5ms"}
	for _, d := range append(shards, whole) {
		d.Config.Thresholds = thresholds
		d.Config.LatencyPercentile = 0.9
		d.Config.Confidence = 0.9
	}
	dir := t.TempDir()
	var paths []string
	for i, d := range shards {
		paths = append(paths, writeDoc(t, dir, "shard"+string(rune('a'+i))+".json", d))
	}
	out := filepath.Join(dir, "all.json")
	r := runSaved(t, nil, append(append([]string{"merge"}, paths...), "-o", out)...)
	if r.code != ExitPass {
		t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", r.code, r.stderr, r.stdout)
	}
	merged := readResult(t, out)
	for i, wt := range whole.Targets {
		mt := merged.Targets[i]
		if mt.Role != wt.Role || mt.Name != wt.Name {
			t.Fatalf("target %d: %s %s, want %s %s", i, mt.Role, mt.Name, wt.Role, wt.Name)
		}
		if mt.Latency != wt.Latency {
			t.Errorf("%s latency\n got %+v\nwant %+v", mt.Name, mt.Latency, wt.Latency)
		}
		if math.Abs(mt.Throughput.InferencesPerS-wt.Throughput.InferencesPerS) > 1e-9*wt.Throughput.InferencesPerS ||
			math.Abs(mt.Throughput.RowsPerS-wt.Throughput.RowsPerS) > 1e-9*wt.Throughput.RowsPerS {
			t.Errorf("%s throughput %+v, want %+v", mt.Name, mt.Throughput, wt.Throughput)
		}
		if len(mt.Rounds) != 12 {
			t.Fatalf("%s: %d rounds, want 12", mt.Name, len(mt.Rounds))
		}
		for k, rd := range mt.Rounds {
			if rd.Index != k || rd.Histogram != wt.Rounds[k].Histogram || rd.Requests != wt.Rounds[k].Requests {
				t.Errorf("%s round %d: index %d, same histogram %v", mt.Name, k, rd.Index, rd.Histogram == wt.Rounds[k].Histogram)
			}
		}
		if mt.Errors.Total != 3*wt.Errors.Total || mt.Errors.ByKind["runtime"] != 3*wt.Errors.Total {
			t.Errorf("%s errors %+v, want 3× %d summed", mt.Name, mt.Errors, wt.Errors.Total)
		}
	}
	if v := merged.Targets[0].ModelVersion; v != "5" {
		t.Errorf("production model version %q, want the shards' 5", v)
	}
	if got := merged.Targets[1].Memory.PeakRSSBytes; got != 150<<20 {
		t.Errorf("candidate peak RSS %d, want the largest, %d", got, 150<<20)
	}
	// The checks judged again on all rounds equal those of the whole run.
	whole.Targets[1].Memory.PeakRSSBytes = 150 << 20
	for i := range whole.Targets {
		whole.Targets[i].Errors = merged.Targets[i].Errors
	}
	specs, err := specsFromConfig(whole)
	if err != nil {
		t.Fatal(err)
	}
	opts := compare.DefaultOptions()
	opts.Confidence = 0.9
	j, err := compare.JudgeWith(whole, specs, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(merged.Checks) != 4 || merged.Verdict != j.Verdict {
		t.Fatalf("merged: %d checks, verdict %s; whole: verdict %s", len(merged.Checks), merged.Verdict, j.Verdict)
	}
	for i, c := range merged.Checks {
		w := j.Checks[i]
		if c.Name != w.Name || c.Outcome != w.Outcome || c.Lower != w.Lower || c.Upper != w.Upper || c.Ratio != w.Ratio {
			t.Errorf("check %s: got %s [%v, %v], want %s [%v, %v]", c.Name, c.Outcome, c.Lower, c.Upper, w.Outcome, w.Lower, w.Upper)
		}
	}
	if merged.Config.LatencyPercentile != 0.9 || merged.Checks[0].Metric != "latency_p90" {
		t.Errorf("percentile %v, metric %s", merged.Config.LatencyPercentile, merged.Checks[0].Metric)
	}
	if !strings.Contains(strings.Join(merged.Warnings, "\n"), "merged 3 results: sharda.json, shardb.json, shardc.json") {
		t.Errorf("warnings = %q", merged.Warnings)
	}
}

func TestMergeVerdictsAndRefusals(t *testing.T) {
	dir := t.TempDir()
	samples := synthRounds(8, 6, 100, prodT, candT)
	shards := splitDoc(t, samples, []int{3, 6}, prodT, candT)
	a := writeDoc(t, dir, "a.json", shards[0])
	b := writeDoc(t, dir, "b.json", shards[1])

	// No thresholds in the config: verdict none, exit 0.
	out := filepath.Join(dir, "none.json")
	if r := runSaved(t, nil, "merge", a, b, "--output", out); r.code != ExitPass {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if res := readResult(t, out); res.Verdict != result.VerdictNone || len(res.Checks) != 0 {
		t.Errorf("verdict %s, checks %+v", res.Verdict, res.Checks)
	}

	// Thresholds the merged rounds break: exit 1, as run.
	for _, d := range shards {
		d.Config.Thresholds = map[string]string{"max-memory-increase": "1.01"}
	}
	fa, fb := writeDoc(t, dir, "fa.json", shards[0]), writeDoc(t, dir, "fb.json", shards[1])
	if r := runSaved(t, nil, "merge", fa, fb); r.code != ExitRegression || !strings.Contains(r.stdout, "max-memory-increase") {
		t.Errorf("exit %d, want %d; stdout:\n%s", r.code, ExitRegression, r.stdout)
	}

	// A shard that failed: the merged verdict is error, exit 3.
	shards[1].Targets[0].Failed = "worker died"
	fail := writeDoc(t, dir, "failed.json", shards[1])
	if r := runSaved(t, nil, "merge", fa, fail); r.code != ExitRunFailed {
		t.Errorf("merge with a failed shard: exit %d, want %d", r.code, ExitRunFailed)
	}

	// Different models: refused.
	other := candT
	other.name = "candidate-v2.onnx"
	odoc := synthDoc(t, synthRounds(9, 3, 100, prodT, other), prodT, other)
	wantOneLine(t, runSaved(t, nil, "merge", a, writeDoc(t, dir, "other.json", odoc)), ExitBadInput,
		"other.json has targets [production production.onnx, candidate candidate-v2.onnx]", "same models only")
	// A bench result and a run result: refused.
	wantOneLine(t, runSaved(t, nil, "merge", a, writeDoc(t, dir, "bench.json", benchDoc(t, 1, 3, time.Millisecond))), ExitBadInput,
		"bench.json has targets [model model.onnx]")
	// An unknown check in the config: refused.
	shards[0].Config.Thresholds = map[string]string{"max-vibes": "1"}
	wantOneLine(t, runSaved(t, nil, "merge", writeDoc(t, dir, "vibes.json", shards[0])), ExitBadInput, "max-vibes")

	// Differing configuration: merged, with a warning.
	d := synthDoc(t, synthRounds(10, 3, 100, prodT, candT), prodT, candT)
	d.Config.BatchSize = 4
	r := runSaved(t, nil, "merge", a, writeDoc(t, dir, "batch4.json", d))
	if r.code != ExitPass || !strings.Contains(r.stdout, "configuration of batch4.json differs") {
		t.Errorf("exit %d; stdout:\n%s", r.code, r.stdout)
	}
}

// parseOutputs reads a GITHUB_OUTPUT file written in the heredoc form.
func parseOutputs(t *testing.T, data string) map[string]string {
	t.Helper()
	out := map[string]string{}
	lines := strings.Split(data, "\n")
	for i := 0; i < len(lines); i++ {
		if lines[i] == "" {
			continue
		}
		name, delim, ok := strings.Cut(lines[i], "<<")
		if !ok || !strings.HasPrefix(delim, "ghadelimiter_") || len(delim) < len("ghadelimiter_")+16 {
			t.Fatalf("line %q is not name<<ghadelimiter_…", lines[i])
		}
		var val []string
		for i++; i < len(lines) && lines[i] != delim; i++ {
			val = append(val, lines[i])
		}
		if i == len(lines) {
			t.Fatalf("output %s: no closing delimiter", name)
		}
		out[name] = strings.Join(val, "\n")
	}
	return out
}

// TestGitHubIntegration: with a fake runner environment, infergate
// appends the Markdown report to the step summary, the step outputs to
// GITHUB_OUTPUT, and annotations after the table.
func TestGitHubIntegration(t *testing.T) {
	dir := t.TempDir()
	doc := synthDoc(t, synthRounds(2, 6, 100, prodT, candT), prodT, candT)
	doc.Verdict = result.VerdictFail
	doc.Checks = []result.Check{
		{Name: "max-latency-increase", Outcome: result.OutcomeFail, Message: "p95 1.30× production\n(100% of budget)"},
		{Name: "min-throughput-ratio", Outcome: result.OutcomeInconclusive, Message: "inferences/s 0.91× production; the interval straddles"},
		{Name: "max-error-rate", Outcome: result.OutcomePass, Message: "error rate 0%"},
	}
	in := writeDoc(t, dir, "in.json", doc)
	summary := filepath.Join(dir, "summary.md")
	outputs := filepath.Join(dir, "output.txt")
	if err := os.WriteFile(summary, []byte("earlier step\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(outputs, []byte("earlier<<EOF\nx\nEOF\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary, "GITHUB_OUTPUT": outputs}
	md := filepath.Join(dir, "r.md")
	r := runSaved(t, vars, "report", in, "--markdown", md, "--json", filepath.Join(dir, "r.json"))
	if r.code != ExitPass || r.stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}

	// Annotations: after the table, one per failed or inconclusive check,
	// with %, CR and LF escaped.
	i := strings.Index(r.stdout, "::error")
	if i < 0 || !strings.Contains(r.stdout[:i], "max-latency-increase") {
		t.Fatalf("no annotation after the table:\n%s", r.stdout)
	}
	tail := strings.Split(strings.TrimSpace(r.stdout[i:]), "\n")
	want := []string{
		"::error title=infergate::max-latency-increase failed: p95 1.30× production%0A(100%25 of budget)",
		"::warning title=infergate::min-throughput-ratio inconclusive: inferences/s 0.91× production; the interval straddles",
	}
	if strings.Join(tail, "\n") != strings.Join(want, "\n") {
		t.Errorf("annotations:\n%s\nwant:\n%s", strings.Join(tail, "\n"), strings.Join(want, "\n"))
	}

	// Step summary: appended, the Markdown report with its marker.
	s, _ := os.ReadFile(summary)
	if !strings.HasPrefix(string(s), "earlier step\n") || !strings.Contains(string(s), report.MarkdownMarker) {
		t.Errorf("step summary:\n%s", s)
	}
	mdFile, _ := os.ReadFile(md)
	if !strings.HasSuffix(string(s), string(mdFile)) {
		t.Errorf("step summary does not end with the Markdown report")
	}

	// Outputs: appended, heredoc-delimited, paths absolute, empty when not
	// written.
	o, _ := os.ReadFile(outputs)
	if !strings.HasPrefix(string(o), "earlier<<EOF\nx\nEOF\n") {
		t.Fatalf("outputs file lost what was there:\n%s", o)
	}
	got := parseOutputs(t, strings.TrimPrefix(string(o), "earlier<<EOF\nx\nEOF\n"))
	if got["verdict"] != "fail" || got["markdown"] != md || got["result-json"] != filepath.Join(dir, "r.json") ||
		got["junit"] != "" || got["html"] != "" {
		t.Errorf("outputs = %q", got)
	}

	// Outside Actions: no annotations, no files touched.
	r = runSaved(t, map[string]string{"GITHUB_STEP_SUMMARY": "", "GITHUB_ACTIONS": ""}, "report", in)
	if strings.Contains(r.stdout, "::") {
		t.Errorf("annotations outside GitHub Actions:\n%s", r.stdout)
	}

	// An unwritable summary is a warning, not a different exit code.
	r = runSaved(t, map[string]string{"GITHUB_STEP_SUMMARY": filepath.Join(dir, "no", "such", "dir", "s.md")}, "report", in)
	if r.code != ExitPass || !strings.Contains(r.stderr, "infergate: warning: step summary") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestCapSummary(t *testing.T) {
	line := strings.Repeat("é", 40) + "\n" // multi-byte, so a cut could split a rune
	big := []byte(strings.Repeat(line, (2<<20)/len(line)))
	got := capSummary(big, maxStepSummary)
	if len(got) > maxStepSummary || len(got) < maxStepSummary-2*len(line)-300 {
		t.Errorf("capped to %d bytes, want just under %d", len(got), maxStepSummary)
	}
	if !strings.Contains(string(got[len(got)-300:]), "1 MiB limit") || !strings.HasPrefix(string(got), line) {
		t.Errorf("no note at the end")
	}
	body := strings.TrimSuffix(string(got), string(got[bytes.LastIndex(got, []byte("\n\n> ")):]))
	if strings.Count(body, line) != len(body)/len(line) || len(body)%len(line) != len(line)-1 {
		t.Errorf("not cut at a line boundary: %d bytes", len(body))
	}
	small := []byte("# small\n")
	if string(capSummary(small, maxStepSummary)) != string(small) {
		t.Errorf("a small summary was changed")
	}
}

func TestEscapeData(t *testing.T) {
	if got := escapeData("50% of\r\nbudget %0A"); got != "50%25 of%0D%0Abudget %250A" {
		t.Errorf("escapeData = %q", got)
	}
}

// TestWriteOutputDelimiters: each output gets its own random delimiter.
func TestWriteOutputDelimiters(t *testing.T) {
	var b bytes.Buffer
	if err := writeOutput(&b, "a", "x"); err != nil {
		t.Fatal(err)
	}
	if err := writeOutput(&b, "b", "line1\nline2"); err != nil {
		t.Fatal(err)
	}
	got := parseOutputs(t, b.String())
	if got["a"] != "x" || got["b"] != "line1\nline2" {
		t.Errorf("outputs %q", got)
	}
	first, _, _ := strings.Cut(b.String(), "\n")
	if strings.Count(b.String(), strings.TrimPrefix(first, "a<<")) != 2 {
		t.Errorf("delimiter reused:\n%s", b.String())
	}
}

// pushed is what a fake Pushgateway received: the request line and the
// metric families decoded in the format its Content-Type names.
type pushed struct {
	method, path string
	format       expfmt.FormatType
	fams         map[string]*dto.MetricFamily
	err          error
}

func decodePush(r *http.Request) pushed {
	format := expfmt.ResponseFormat(r.Header)
	p := pushed{method: r.Method, path: r.URL.Path, format: format.FormatType(), fams: map[string]*dto.MetricFamily{}}
	dec := expfmt.NewDecoder(r.Body, format)
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			if !errors.Is(err, io.EOF) {
				p.err = err
			}
			return p
		}
		p.fams[mf.GetName()] = &mf
	}
}

// TestPushgateway: --pushgateway PUTs the OpenMetrics families to
// URL/metrics/job/infergate with client_golang's push client (delimited
// protobuf); the latency histogram arrives with the report's labels and
// counts. A server that refuses is a warning, not a different exit code,
// and its address's credentials stay out of it; one that never answers is
// cut off by the timeout.
func TestPushgateway(t *testing.T) {
	reqs := make(chan pushed, 4)
	var status atomic.Int32
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs <- decodePush(r)
		w.WriteHeader(int(status.Load()))
		io.WriteString(w, "bad push\n")
	}))
	defer srv.Close()
	dir := t.TempDir()
	doc := benchDoc(t, 1, 4, time.Millisecond)
	doc.Targets[0].ModelVersion = "3"
	in := writeDoc(t, dir, "in.json", doc)
	r := runSaved(t, nil, "report", in, "--pushgateway", srv.URL+"/")
	if r.code != ExitPass || r.stderr != "" {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	g := <-reqs
	if g.err != nil || g.method != http.MethodPut || g.path != "/metrics/job/infergate" || g.format != expfmt.TypeProtoDelim {
		t.Fatalf("request %s %s (format %v): decode error %v", g.method, g.path, g.format, g.err)
	}
	lat := g.fams["infergate_latency_seconds"]
	if lat.GetType() != dto.MetricType_HISTOGRAM || len(lat.GetMetric()) != 1 {
		t.Fatalf("latency family %v", lat)
	}
	m := lat.GetMetric()[0]
	ls := map[string]string{}
	for _, l := range m.GetLabel() {
		ls[l.GetName()] = l.GetValue()
	}
	want := map[string]string{"role": "model", "model": "model.onnx", "version": "3", "infergate_version": "test"}
	if fmt.Sprint(ls) != fmt.Sprint(want) {
		t.Errorf("latency labels %v, want %v", ls, want)
	}
	h := m.GetHistogram()
	if h.GetSampleCount() != 800 || len(h.GetBucket()) == 0 || h.GetSampleSum() <= 0 {
		t.Errorf("histogram count %d, sum %g, %d buckets; want 800 samples (4 rounds of 200)", h.GetSampleCount(), h.GetSampleSum(), len(h.GetBucket()))
	}
	// The samples are about 1 ms (lognormal, sigma about 0.11): every one
	// of them is at or below the 10 ms bound.
	prev := uint64(0)
	for _, b := range h.GetBucket() {
		if b.GetCumulativeCount() < prev {
			t.Errorf("buckets not cumulative: %v", h.GetBucket())
		}
		prev = b.GetCumulativeCount()
		if b.GetUpperBound() == 0.01 && b.GetCumulativeCount() != 800 {
			t.Errorf("%d samples at or below 10 ms, want all 800", b.GetCumulativeCount())
		}
	}
	if c := g.fams["infergate_requests_total"]; c.GetType() != dto.MetricType_COUNTER || c.GetMetric()[0].GetCounter().GetValue() != 800 {
		t.Errorf("requests family %v", c)
	}
	if g.fams["infergate_verdict"].GetType() != dto.MetricType_GAUGE {
		t.Errorf("no verdict gauge: %v", g.fams["infergate_verdict"])
	}

	status.Store(http.StatusBadRequest)
	withCreds := strings.Replace(srv.URL, "http://", "http://ci:pushs3cret@", 1)
	r = runSaved(t, nil, "report", in, "--pushgateway", withCreds)
	<-reqs
	if r.code != ExitPass || !strings.Contains(r.stderr, "infergate: warning: --pushgateway") || !strings.Contains(r.stderr, "400") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "pushs3cret") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("the warning is not one line free of the URL's password: %q", r.stderr)
	}

	// A server that never answers: the push gives up after pushTimeout.
	defer func(d time.Duration) { pushTimeout = d }(pushTimeout)
	pushTimeout = 100 * time.Millisecond
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer hung.Close()
	defer close(release)
	r = runSaved(t, nil, "report", in, "--pushgateway", hung.URL)
	if r.code != ExitPass || !strings.Contains(r.stderr, "infergate: warning: --pushgateway") || !strings.Contains(r.stderr, "Timeout") {
		t.Errorf("hung server: exit %d, stderr %q", r.code, r.stderr)
	}
}

// annotationLines are the workflow commands in a command's stdout.
func annotationLines(stdout string) []string {
	var out []string
	for _, l := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(l, "::") {
			out = append(out, l)
		}
	}
	return out
}

// TestGitHubAnnotationsEveryStage: a sweep's failed and inconclusive
// checks are annotated in every stage, each naming its stage, not only
// those of the stage the top level mirrors; the stage where the run failed
// gets an error for its failed target, and the run's error, which quotes
// it, is not annotated twice.
func TestGitHubAnnotationsEveryStage(t *testing.T) {
	dir := t.TempDir()
	doc := synthDoc(t, synthRounds(3, 4, 50, prodT, candT), prodT, candT)
	stage := func(name string, checks ...result.Check) result.Stage {
		return result.Stage{Name: name, Concurrency: 1, Targets: slices.Clone(doc.Targets), Checks: checks, Verdict: result.VerdictPass}
	}
	s1 := stage("concurrency=1",
		result.Check{Name: "max-latency-increase", Outcome: result.OutcomeFail, Message: "p95 1.40× production"},
		result.Check{Name: "max-error-rate", Outcome: result.OutcomePass, Message: "error rate 0%"})
	s1.Verdict = result.VerdictFail
	s2 := stage("concurrency=4",
		result.Check{Name: "max-latency-increase", Outcome: result.OutcomeInconclusive, Message: "p95 1.10× production; the interval straddles"})
	s2.Verdict = result.VerdictInconclusive
	s3 := stage("concurrency=16")
	s3.Targets[1].Failed = "worker exited: signal: killed (out of memory?)"
	s3.Verdict, s3.Error = result.VerdictError, "candidate.onnx: worker exited: signal: killed (out of memory?)"
	doc.Stages = []result.Stage{s1, s2, s3}
	// The top level mirrors the last completed stage, as sweep.go writes it.
	doc.Checks, doc.Config.ConcurrencySweep = s2.Checks, []int{1, 4, 16}
	doc.Verdict, doc.Error = result.VerdictError, s3.Error
	in := writeDoc(t, dir, "sweep.json", doc)

	r := runSaved(t, map[string]string{"GITHUB_ACTIONS": "true"}, "report", in)
	if r.code != ExitPass {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	got := annotationLines(r.stdout)
	want := []string{
		"::error title=infergate::concurrency=1: max-latency-increase failed: p95 1.40× production",
		"::warning title=infergate::concurrency=4: max-latency-increase inconclusive: p95 1.10× production; the interval straddles",
		"::error title=infergate::concurrency=16: the candidate target candidate.onnx failed: worker exited: signal: killed (out of memory?)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("annotations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestGitHubAnnotationsFailedRuns: a failed target is an error annotation
// whatever the verdict, and a run error that names no target is one too.
func TestGitHubAnnotationsFailedRuns(t *testing.T) {
	dir := t.TempDir()
	gh := map[string]string{"GITHUB_ACTIONS": "true"}
	for _, tc := range []struct {
		name string
		edit func(*result.Result)
		want []string
	}{
		{"failed target, checks judged on what was measured", func(d *result.Result) {
			d.Targets[0].Failed = "HTTP 503 (the server's message is in the log)"
			d.Checks = []result.Check{{Name: "max-error-rate", Outcome: result.OutcomeFail, Message: "error rate 4.0%"}}
			d.Verdict = result.VerdictFail
		}, []string{
			"::error title=infergate::the production target production.onnx failed: HTTP 503 (the server's message is in the log)",
			"::error title=infergate::max-error-rate failed: error rate 4.0%25",
		}},
		{"run error quoting the failed target", func(d *result.Result) {
			d.Targets[1].Failed = "worker exited: signal: segmentation fault"
			d.Verdict, d.Error = result.VerdictError, "candidate.onnx: worker exited: signal: segmentation fault"
		}, []string{
			"::error title=infergate::the candidate target candidate.onnx failed: worker exited: signal: segmentation fault",
		}},
		{"run error of its own", func(d *result.Result) {
			d.Verdict, d.Error = result.VerdictError, "test set: read row group 3: unexpected EOF"
		}, []string{
			"::error title=infergate::the run failed: test set: read row group 3: unexpected EOF",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := synthDoc(t, synthRounds(4, 4, 50, prodT, candT), prodT, candT)
			tc.edit(doc)
			r := runSaved(t, gh, "report", writeDoc(t, dir, "in.json", doc))
			if r.code != ExitPass {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if got := annotationLines(r.stdout); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("annotations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
