package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infergate/infergate/internal/ortlib"
	"github.com/infergate/infergate/result"
)

func TestParseConfigStrict(t *testing.T) {
	known := knownConfigKeys(&env{})
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"typo", "dataset: d.parquet\nmax-latency-increse: 1.15\n", `infergate.yaml:2: unknown key "max-latency-increse" (did you mean "max-latency-increase"?)`},
		{"not a flag", "dataset: d.parquet\nfavourite-colour: blue\n", `infergate.yaml:2: unknown key "favourite-colour" (keys are flag names`},
		{"twice", "dataset: a.parquet\ndataset: b.parquet\n", "infergate.yaml:2: dataset is also set at line 1"},
		{"pair without a name", "pairs:\n  - candidate: a.onnx\n    production: b.onnx\n", "infergate.yaml:2: pairs: each pair needs a name"},
		{"pair names repeat", "pairs:\n  - name: a\n  - name: a\n", `infergate.yaml:3: pairs: "a" is also the name of the pair at line 2`},
		{"pairs not a list", "pairs: ranker\n", "infergate.yaml:1: pairs: want a list"},
		{"unknown key in a pair", "pairs:\n  - name: a\n    candiate: x.onnx\n", `infergate.yaml:3: unknown key "candiate" (did you mean "candidate"?)`},
		{"not a mapping", "- dataset\n", "infergate.yaml:1: want a mapping of settings"},
		{"no value", "dataset:\n", "infergate.yaml:1: dataset: no value"},
		{"bad YAML", "dataset: [unclosed\n", "infergate.yaml: yaml: line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig("infergate.yaml", []byte(tc.yaml), known)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("a multi-line error: %q", err)
			}
		})
	}
	cfg, err := parseConfig("infergate.yaml", []byte("# nothing yet\n"), known)
	if err != nil || len(cfg.settings) != 0 {
		t.Fatalf("a file of comments: %v, %+v", err, cfg)
	}
}

func TestConfigValues(t *testing.T) {
	known := knownConfigKeys(&env{})
	cfg, err := parseConfig("c.yaml", []byte(`
dataset: d.parquet
max-latency-increase: 1.15
max-error-rate: 1%
input-map: {input_ids: ids, attention_mask: mask}
concurrency-sweep: [1, 2, 4]
header:
  Authorization: Bearer $TOKEN
shuffle: 7
`), known)
	if err != nil {
		t.Fatal(err)
	}
	o := &runOptions{}
	fs := newRunCmd(&env{}).Flags()
	_ = o
	if err := fs.Parse([]string{"--max-latency-increase", "1.3"}); err != nil {
		t.Fatal(err)
	}
	if err := cfg.apply(fs, cfg.settings); err != nil {
		t.Fatal(err)
	}
	get := func(name string) string { return fs.Lookup(name).Value.String() }
	for name, want := range map[string]string{
		"dataset":              "d.parquet",
		"max-latency-increase": "1.3", // the command line wins
		"max-error-rate":       "1%",
		"input-map":            "[input_ids=ids,attention_mask=mask]",
		"concurrency-sweep":    "1,2,4",
		"header":               "[Authorization: Bearer $TOKEN]",
		"shuffle":              "7",
	} {
		if got := get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if !fs.Changed("shuffle") {
		t.Error("a setting from the file counts as given (--shuffle's seed is used only when given)")
	}
	// One value flags refuse lists.
	bad, err := parseConfig("c.yaml", []byte("dataset: [a.parquet, b.parquet]\n"), known)
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.apply(newRunCmd(&env{}).Flags(), bad.settings); err == nil || !strings.Contains(err.Error(), "c.yaml:1: dataset takes one value") {
		t.Errorf("a list for dataset: %v", err)
	}
}

func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "infergate.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunFromConfigAlone: `infergate run --config infergate.yaml` gives the
// verdict with nothing else on the command line; a flag overrides it.
func TestRunFromConfigAlone(t *testing.T) {
	ortlib.Require(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "result.json")
	cfg := writeConfig(t, dir, `# the gate, as in CI
candidate: `+td("mlp_same.onnx")+`
production: `+td("mlp_base.onnx")+`
dataset: `+td("mlp.parquet")+`
requests: 400
rounds: 8
warmup: 20
intra-op-threads: 1
quiet: true
max-latency-increase: 5
latency-percentile: p50 # steady even under the race detector
max-memory-increase: 5
max-error-rate: 0
json: `+out+`
`)
	r := runCLI(t, context.Background(), "1", "run", "--config", cfg)
	if r.code != ExitPass {
		t.Fatalf("exit %d; stderr %s", r.code, r.stderr)
	}
	res := readResult(t, out)
	if len(res.Checks) != 3 || res.Verdict != result.VerdictPass {
		t.Fatalf("checks %d, verdict %s", len(res.Checks), res.Verdict)
	}
	// The command line overrides the file: a check no model can pass.
	r = runCLI(t, context.Background(), "1", "run", "--config", cfg, "--max-error-rate", "0", "--max-p50", "1ns")
	if r.code != ExitRegression {
		t.Fatalf("with --max-p50 1ns: exit %d; stderr %s", r.code, r.stderr)
	}
}

// TestRunPairs runs two pairs from one config: each has its own reports,
// and the exit code is the worse pair's.
func TestRunPairs(t *testing.T) {
	ortlib.Require(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "result.json")
	cfg := writeConfig(t, dir, `dataset: `+td("mlp.parquet")+`
production: `+td("mlp_base.onnx")+`
requests: 200
rounds: 2
warmup: 10
quiet: true
json: `+out+`
max-error-rate: 0
pairs:
  - name: same
    candidate: `+td("mlp_same.onnx")+`
  - name: impossible
    candidate: `+td("mlp_plus25.onnx")+`
    max-p50: 1ns
`)
	r := runCLI(t, context.Background(), "1", "run", "--config", cfg)
	if r.code != ExitRegression {
		t.Fatalf("exit %d, want 1 (the second pair fails); stderr %s", r.code, r.stderr)
	}
	same := readResult(t, filepath.Join(dir, "result-same.json"))
	imp := readResult(t, filepath.Join(dir, "result-impossible.json"))
	if same.Verdict != result.VerdictPass || len(same.Checks) != 1 {
		t.Errorf("pair same: %s with %d checks", same.Verdict, len(same.Checks))
	}
	if imp.Verdict != result.VerdictFail || len(imp.Checks) != 2 {
		t.Errorf("pair impossible: %s with %d checks", imp.Verdict, len(imp.Checks))
	}
	if !strings.Contains(r.stdout, "== pair same (1 of 2)") || !strings.Contains(r.stdout, "== pair impossible (2 of 2)") {
		t.Errorf("stdout does not head each pair:\n%s", r.stdout)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a pair wrote the unsuffixed report")
	}
	// Models on the command line replace the pairs.
	r = runCLI(t, context.Background(), "1", "run", "--config", cfg, "--candidate", td("mlp_same.onnx"))
	if r.code != ExitPass || !strings.Contains(r.stdout, "verdict: PASS") || strings.Contains(r.stdout, "== pair") {
		t.Fatalf("with --candidate: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestConfigErrorsAreBadInput(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "dataset: x.parquet\ncandidate: a.onnx\nproduction: b.onnx\nmax-latency-increase: fast\n")
	r := runCLI(t, context.Background(), "1", "run", "--config", cfg)
	if r.code != ExitBadInput || !strings.Contains(r.stderr, `--max-latency-increase "fast"`) {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCLI(t, context.Background(), "1", "run", "--config", filepath.Join(dir, "missing.yaml"))
	if r.code != ExitBadInput || !strings.Contains(r.stderr, "--config") {
		t.Fatalf("missing config: exit %d, stderr %q", r.code, r.stderr)
	}
}
