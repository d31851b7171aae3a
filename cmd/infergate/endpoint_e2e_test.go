package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infergate/infergate/internal/kservetest"
	"github.com/infergate/infergate/internal/ortlib"
	"github.com/infergate/infergate/result"
)

// sumServer serves the test sum model with a "features" input that
// testdata/mlp.parquet binds to, with the given faults.
func sumServer(t *testing.T, faults kservetest.Faults, opts ...func(*kservetest.Options)) *kservetest.Server {
	t.Helper()
	o := kservetest.Options{
		Model: &kservetest.SumModel{In: []kservetest.TensorMeta{
			{Name: "features", Datatype: "FP32", Shape: []int64{-1, 64}},
		}},
		Faults:         faults,
		PreciseLatency: true,
	}
	for _, f := range opts {
		f(&o)
	}
	s, err := kservetest.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// endpointRun is a short sequential run judged on the median: it stops
// at the first look that decides, within 20 s.
func endpointRun(prodURL, candURL string, extra ...string) []string {
	args := []string{"run", "--production-url", prodURL, "--candidate-url", candURL,
		"--dataset", td("mlp.parquet"), "--max-duration", "20s", "--round-time", "50ms",
		"--latency-percentile", "p50", "--warmup", "20", "--quiet"}
	return append(args, extra...)
}

func TestEndpointGateDecisions(t *testing.T) {
	skipTimingInShort(t)
	base := sumServer(t, kservetest.Faults{Latency: time.Millisecond})
	same := sumServer(t, kservetest.Faults{Latency: time.Millisecond})
	slow := sumServer(t, kservetest.Faults{Latency: 1400 * time.Microsecond})
	flaky := sumServer(t, kservetest.Faults{Latency: time.Millisecond, ErrorFraction: 0.10})
	grpcSlow := sumServer(t, kservetest.Faults{Latency: 1400 * time.Microsecond})

	for _, tc := range []struct {
		name     string
		cand     string
		checks   []string
		code     ExitCode
		verdict  result.Verdict
		failed   string // the check that must fail
		protocol string
	}{
		{"equal endpoints pass", same.ModelURL(), []string{"--max-latency-increase", "1.15", "--max-error-rate", "0.01"}, ExitPass, result.VerdictPass, "", ""},
		{"40% slower fails", slow.ModelURL(), []string{"--max-latency-increase", "1.15"}, ExitRegression, result.VerdictFail, "max-latency-increase", ""},
		{"10% errors fail", flaky.ModelURL(), []string{"--max-latency-increase", "1.5", "--max-error-rate", "0.01"}, ExitRegression, result.VerdictFail, "max-error-rate", ""},
		{"gRPC candidate 40% slower fails", "grpc://" + grpcSlow.GRPCAddr + "/sum", []string{"--max-latency-increase", "1.15"}, ExitRegression, result.VerdictFail, "max-latency-increase", "kserve-grpc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "r.json")
			args := append(endpointRun(base.ModelURL(), tc.cand, tc.checks...), "--json", out, "--markdown", filepath.Join(dir, "r.md"))
			r := runCLI(t, context.Background(), "1", args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s\n%s", r.code, tc.code, r.stderr, r.stdout)
			}
			res := readResult(t, out)
			if res.Verdict != tc.verdict {
				t.Fatalf("verdict %s, want %s\n%s", res.Verdict, tc.verdict, r.stdout)
			}
			for _, c := range res.Checks {
				if c.Name == tc.failed && c.Outcome != result.OutcomeFail {
					t.Errorf("%s: %s, want fail (%s)", c.Name, c.Outcome, c.Message)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "r.md")); err != nil {
				t.Errorf("markdown report not written: %v", err)
			}
			cand := res.Target(result.RoleCandidate)
			if tc.protocol != "" && cand.Kind != tc.protocol {
				t.Errorf("candidate kind %q, want %q", cand.Kind, tc.protocol)
			}
			if tc.failed == "max-error-rate" && cand.Errors.ByKind["http_5xx"] == 0 {
				t.Errorf("errors by kind = %v, want http_5xx", cand.Errors.ByKind)
			}
		})
	}
}

func TestEndpointSecretsNeverReported(t *testing.T) {
	const token = "s3cr3t-T0KEN-never-print"
	auth := func(o *kservetest.Options) { o.RequireHeader = [2]string{"Authorization", "Bearer " + token} }
	prod := sumServer(t, kservetest.Faults{Latency: time.Millisecond}, auth)
	cand := sumServer(t, kservetest.Faults{Latency: time.Millisecond, ErrorFraction: 0.5}, auth)
	dir := t.TempDir()
	summary := filepath.Join(dir, "step-summary.md")
	outputs := filepath.Join(dir, "github-output")
	args := append(endpointRun(prod.ModelURL(), cand.ModelURL(), "--max-error-rate", "0.01", "--max-latency-increase", "1.5"),
		"--header", "Authorization: Bearer $INFERGATE_TEST_TOKEN", "--secret-header", "Authorization",
		"--json", filepath.Join(dir, "r.json"), "--markdown", filepath.Join(dir, "r.md"),
		"--junit", filepath.Join(dir, "r.xml"), "--html", filepath.Join(dir, "r.html"),
		"--openmetrics", filepath.Join(dir, "r.prom"))
	args[len(args)-1] = filepath.Join(dir, "r.prom")
	r := runCLIEnv(t, context.Background(), "1", map[string]string{
		"INFERGATE_TEST_TOKEN": token,
		"GITHUB_STEP_SUMMARY":  summary,
		"GITHUB_OUTPUT":        outputs,
		"GITHUB_ACTIONS":       "true",
	}, append(args[:len(args):len(args)], "--quiet=false")...)
	if r.code != ExitRegression {
		t.Fatalf("exit %d, want %d (the candidate's errors fail): %s", r.code, ExitRegression, r.stderr)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) < 7 {
		t.Fatalf("only %d output files: %v", len(files), files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), token) {
			t.Errorf("%s contains the token", filepath.Base(f))
		}
	}
	if strings.Contains(r.stdout, token) || strings.Contains(r.stderr, token) {
		t.Error("stdout or stderr contains the token")
	}
	// Without the header the server refuses: the token was really sent.
	noAuth := runCLI(t, context.Background(), "1", endpointRun(prod.ModelURL(), prod.ModelURL(), "--max-error-rate", "0.01")...)
	if noAuth.code != ExitBadInput || !strings.Contains(noAuth.stderr, "credentials") {
		t.Errorf("a run without the token: exit %d, %q; want 2 saying the credentials were refused", noAuth.code, noAuth.stderr)
	}
}

func TestEndpointNeverReadyIsARunFailureWithAReport(t *testing.T) {
	prod := sumServer(t, kservetest.Faults{})
	never := sumServer(t, kservetest.Faults{}, func(o *kservetest.Options) { o.NeverReady = true })
	out := filepath.Join(t.TempDir(), "r.json")
	r := runCLI(t, context.Background(), "1", append(endpointRun(prod.ModelURL(), never.ModelURL(),
		"--max-latency-increase", "1.15", "--ready-timeout", "500ms"), "--json", out)...)
	if r.code != ExitRunFailed {
		t.Fatalf("exit %d, want %d: %s", r.code, ExitRunFailed, r.stderr)
	}
	res := readResult(t, out)
	cand := res.Target(result.RoleCandidate)
	if res.Verdict != result.VerdictError || cand == nil || !strings.Contains(cand.Failed, "ready") {
		t.Fatalf("verdict %s, candidate %+v", res.Verdict, cand)
	}
	if !strings.Contains(r.stdout, "ready") {
		t.Errorf("the report does not say the endpoint never became ready:\n%s", r.stdout)
	}
}

func TestEndpointFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--header", "NoColon"}, "--header"},
		{[]string{"--header", "Authorization: Bearer $INFERGATE_SURELY_UNSET_VAR"}, "INFERGATE_SURELY_UNSET_VAR"},
		{[]string{"--secret-header", "X-Key"}, "--secret-header"},
		{[]string{"--protocol", "soap"}, "--protocol"},
		{[]string{"--arrival", "bursty"}, "--arrival"},
		{[]string{"--tf-format", "csv"}, "--tf-format"},
	} {
		args := append(endpointRun("http://127.0.0.1:1/v2/models/x", "http://127.0.0.1:1/v2/models/y"), tc.args...)
		r := runCLI(t, context.Background(), "1", args...)
		if r.code != ExitBadInput || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming %s", tc.args, r.code, r.stderr, tc.want)
		}
	}
	// --rate needs an endpoint.
	r := runCLI(t, context.Background(), "1", append(runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet"), "--rate", "100")...)
	if r.code != ExitBadInput || !strings.Contains(r.stderr, "--rate") {
		t.Errorf("--rate with local models: exit %d, %q", r.code, r.stderr)
	}
}

// TestServerWordsStayOutOfReports: a server whose errors quote the request
// (and so the test set) has its words in the log, never in a report.
func TestServerWordsStayOutOfReports(t *testing.T) {
	base := sumServer(t, kservetest.Faults{})
	echo := sumServer(t, kservetest.Faults{ErrorFraction: 0.5, EchoErrors: true})
	dir := t.TempDir()
	out := filepath.Join(dir, "r")
	args := []string{"run", "--production-url", base.ModelURL(), "--candidate-url", echo.ModelURL(),
		"--dataset", td("mlp.parquet"), "--requests", "40", "--rounds", "2", "--warmup", "4", "--max-error-rate", "0.01",
		"--json", out + ".json", "--markdown", out + ".md", "--junit", out + ".xml", "--html", out + ".html", "--openmetrics", out + ".prom"}
	r := runCLI(t, context.Background(), "1", args...)
	if r.code != ExitRegression {
		t.Fatalf("exit %d, want 1; stderr %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "injected failure for request") {
		t.Errorf("the log lacks the server's message:\n%s", r.stderr)
	}
	for _, ext := range []string{".json", ".md", ".xml", ".html", ".prom"} {
		b, err := os.ReadFile(out + ext)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "for request") {
			t.Errorf("%s quotes the request", ext)
		}
	}
	if strings.Contains(r.stdout, "for request") {
		t.Error("the table quotes the request")
	}
}

// TestBindingErrorNamesTheModel: a binding error says which model it is
// about, by file name for a local model and by URL for an endpoint (it
// once said "model model ." for both a bench model and an endpoint).
func TestBindingErrorNamesTheModel(t *testing.T) {
	s := sumServer(t, kservetest.Faults{})
	r := runCLI(t, context.Background(), "1", "bench", "--url", s.ModelURL(), "--dataset", td("seq.parquet"),
		"--requests", "10", "--rounds", "2", "--warmup", "2", "--quiet")
	want := "model " + s.ModelURL() + ": "
	if r.code != ExitBadInput || !strings.HasPrefix(strings.TrimPrefix(r.stderr, "infergate: "), want) || strings.Contains(r.stderr, "model model") {
		t.Errorf("endpoint: exit %d, stderr %q; want exit 2 starting %q", r.code, r.stderr, want)
	}
	ortlib.Require(t)
	r = runCLI(t, context.Background(), "1", "bench", "--model", td("seq.onnx"), "--dataset", td("mlp.parquet"),
		"--requests", "10", "--rounds", "2", "--warmup", "2", "--quiet")
	want = "model seq.onnx: "
	if r.code != ExitBadInput || !strings.HasPrefix(strings.TrimPrefix(r.stderr, "infergate: "), want) {
		t.Errorf("local: exit %d, stderr %q; want exit 2 starting %q", r.code, r.stderr, want)
	}
}
