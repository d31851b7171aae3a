package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infergate/infergate/internal/ortlib"
	"github.com/infergate/infergate/internal/reportcheck"
	"github.com/infergate/infergate/report"
	"github.com/infergate/infergate/result"
)

// TestRunWritesEveryReport: run writes each report file it is asked for,
// and under a (fake) GitHub runner the step summary, the outputs and the
// annotations.
func TestRunWritesEveryReport(t *testing.T) {
	ortlib.Require(t)
	dir := t.TempDir()
	summary, outputs := filepath.Join(dir, "summary.md"), filepath.Join(dir, "out.txt")
	vars := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary, "GITHUB_OUTPUT": outputs}
	rep := filepath.Join(dir, "reports")
	// --max-p99 1us cannot pass: a failed check to annotate.
	r := runCLIEnv(t, context.Background(), "1", vars, runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet",
		"--max-latency-increase", "5", "--max-p99", "1us",
		"--json", filepath.Join(rep, "result.json"), "--markdown", filepath.Join(rep, "report.md"),
		"--junit", filepath.Join(rep, "junit.xml"), "--html", filepath.Join(rep, "report.html"),
		"--openmetrics", filepath.Join(rep, "metrics.prom"))...)
	if r.code != ExitRegression {
		t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, ExitRegression, r.stderr)
	}
	for file, want := range map[string]string{
		"result.json":  `"schema_version": 1`,
		"report.md":    report.MarkdownMarker,
		"junit.xml":    "<testsuite",
		"report.html":  "<html",
		"metrics.prom": "# EOF",
	} {
		b, err := os.ReadFile(filepath.Join(rep, file))
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("%s: %v; lacks %q", file, err, want)
		}
	}
	// Read as their readers do: the comment as GitHub renders it, the page
	// in a browser.
	md, _ := os.ReadFile(filepath.Join(rep, "report.md"))
	g := reportcheck.CheckMarkdown(t, string(md), "FAIL", report.MarkdownMarker)
	if len(g.Checks) != 2 {
		t.Errorf("checks table has %d rows, want 2: %q", len(g.Checks), g.Checks)
	}
	page, _ := os.ReadFile(filepath.Join(rep, "report.html"))
	if plots := strings.Count(string(page), `<svg class="plot"`); plots < 2 {
		t.Errorf("%d plots in the page, want percentiles and rounds at least", plots)
	} else {
		reportcheck.CheckHTML(t, reportcheck.RequireChromium(t), string(page), plots, "")
	}
	if i := strings.Index(r.stdout, "::error title=infergate::max-p99 failed"); i < 0 || !strings.Contains(r.stdout[:i], "verdict") {
		t.Errorf("no error annotation after the table:\n%s", r.stdout)
	}
	if s, _ := os.ReadFile(summary); !strings.Contains(string(s), report.MarkdownMarker) {
		t.Errorf("step summary:\n%s", s)
	}
	o, _ := os.ReadFile(outputs)
	got := parseOutputs(t, string(o))
	if got["verdict"] != "fail" || got["junit"] != filepath.Join(rep, "junit.xml") || got["html"] != filepath.Join(rep, "report.html") {
		t.Errorf("outputs %q", got)
	}
}

// TestReportFlagsValidatedFirst: an unwritable report path stops run before
// anything is measured (no ONNX Runtime needed to see it).
func TestReportFlagsValidatedFirst(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"--json", "--markdown", "--junit", "--html", "--openmetrics"} {
		for _, cmd := range [][]string{
			{"run", "--candidate", "c.onnx", "--production", "p.onnx", "--dataset", "d.parquet"},
			{"bench", "--model", "m.onnx", "--dataset", "d.parquet"},
			{"calibrate", "--production", "p.onnx", "--dataset", "d.parquet"},
		} {
			r := runCLI(t, context.Background(), "1", append(cmd, flag, filepath.Join(blocker, "x.out"))...)
			wantOneLine(t, r, ExitBadInput, flag)
			r = runCLI(t, context.Background(), "1", append(cmd, flag, dir)...)
			wantOneLine(t, r, ExitBadInput, flag, "is a directory")
		}
	}
}

// TestBenchCompareMerge: two bench runs of real models, compared and
// merged through the saved results.
func TestBenchCompareMerge(t *testing.T) {
	ortlib.Require(t)
	dir := t.TempDir()
	bench := func(model, out string) {
		t.Helper()
		args := append([]string{"bench", "--model", td(model), "--dataset", td("mlp.parquet"), "--json", filepath.Join(dir, out)}, quick...)
		if r := runCLI(t, context.Background(), "1", args...); r.code != ExitPass {
			t.Fatalf("bench %s: exit %d: %s", model, r.code, r.stderr)
		}
	}
	bench("mlp_base.onnx", "base1.json")
	bench("mlp_base.onnx", "base2.json")
	bench("mlp_same.onnx", "same.json")

	// Two separate runs of equal models, judged on the median with a
	// threshold no machine misses: under the race detector a 4-round p95
	// of separate runs has come out 6× apart.
	r := runCLI(t, context.Background(), "1", "compare", filepath.Join(dir, "base1.json"), filepath.Join(dir, "same.json"),
		"--max-latency-increase", "100", "--latency-percentile", "p50", "--json", filepath.Join(dir, "cmp.json"))
	if r.code != ExitPass {
		t.Fatalf("compare: exit %d: %s\n%s", r.code, r.stderr, r.stdout)
	}
	cmp := readResult(t, filepath.Join(dir, "cmp.json"))
	if cmp.Config.Command != "compare" || cmp.Targets[0].Name != "mlp_base.onnx" || cmp.Targets[1].Name != "mlp_same.onnx" ||
		cmp.Checks[0].Outcome != result.OutcomePass {
		t.Errorf("compare result: command %q, targets %s/%s, check %+v", cmp.Config.Command, cmp.Targets[0].Name, cmp.Targets[1].Name, cmp.Checks[0])
	}

	r = runCLI(t, context.Background(), "1", "merge", filepath.Join(dir, "base1.json"), filepath.Join(dir, "base2.json"), "-o", filepath.Join(dir, "all.json"))
	if r.code != ExitPass {
		t.Fatalf("merge: exit %d: %s", r.code, r.stderr)
	}
	all := readResult(t, filepath.Join(dir, "all.json"))
	if n := len(all.Targets[0].Rounds); n != 8 || all.Targets[0].Latency.Count != 400 || all.Targets[0].Rounds[7].Index != 7 {
		t.Errorf("merged %d rounds, %d samples", n, all.Targets[0].Latency.Count)
	}
	// Different models are not shards of one run.
	r = runCLI(t, context.Background(), "1", "merge", filepath.Join(dir, "base1.json"), filepath.Join(dir, "same.json"))
	wantOneLine(t, r, ExitBadInput, "same.json has targets [model mlp_same.onnx]")
}
