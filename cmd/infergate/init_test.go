package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/infergate/infergate/internal/ortlib"
	"github.com/infergate/infergate/loader"
)

var updateInitSample = flag.Bool("update-init-sample", false, "rewrite examples/workflows/init-gate.yml")

// TestInitWritesConfigAndWorkflow runs init as a new user would: in a
// folder with two models and a test set.
func TestInitWritesConfigAndWorkflow(t *testing.T) {
	ortlib.Require(t)
	dir := t.TempDir()
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	args := []string{"init", "--candidate", abs(td("mlp_plus25.onnx")), "--production", abs(td("mlp_base.onnx")),
		"--dataset", abs(td("mlp.parquet")), "--dir", dir}
	r := runCLI(t, context.Background(), "1", args...)
	if r.code != ExitPass {
		t.Fatalf("exit %d; stderr %s", r.code, r.stderr)
	}
	cfgPath := filepath.Join(dir, "infergate.yaml")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"features float32[-1 64] ← column features (by name)", "max-latency-increase: 1.15", "candidate: " + abs(td("mlp_plus25.onnx"))} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("the config lacks %q:\n%s", want, cfg)
		}
	}
	if _, err := parseConfig(cfgPath, cfg, knownConfigKeys(&env{})); err != nil {
		t.Errorf("the config does not read back: %v", err)
	}
	wf, err := os.ReadFile(filepath.Join(dir, ".github/workflows/infergate.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(wf, &doc); err != nil || doc["jobs"] == nil {
		t.Errorf("the workflow is not a workflow (%v):\n%s", err, wf)
	}
	// Never overwrite without --force.
	r = runCLI(t, context.Background(), "1", args...)
	if r.code != ExitBadInput || !strings.Contains(r.stderr, "infergate.yaml exists") {
		t.Fatalf("a second init: exit %d, stderr %q", r.code, r.stderr)
	}
	if r = runCLI(t, context.Background(), "1", append(args, "--force")...); r.code != ExitPass {
		t.Fatalf("init --force: exit %d, stderr %q", r.code, r.stderr)
	}
	// The config alone gives the verdict.
	r = runCLI(t, context.Background(), "1", "run", "--config", cfgPath, "--requests", "200", "--rounds", "2", "--quiet",
		"--json", filepath.Join(dir, "r.json"), "--markdown", filepath.Join(dir, "r.md"))
	if r.code != ExitPass && r.code != ExitRegression {
		t.Fatalf("run --config: exit %d, stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "verdict:") {
		t.Errorf("no verdict:\n%s", r.stdout)
	}
}

func TestInferBinding(t *testing.T) {
	ds, err := loader.Open(td("mlp.parquet"), loader.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	mb := inferBinding(ds, "m.onnx", []loader.InputSpec{
		{Name: "Features", DType: loader.Float32, Shape: []int64{-1, 64}},
		{Name: "token_type_ids", DType: loader.Int64, Shape: []int64{-1, 8}},
	})
	if mb.mapped["Features"] != "features" {
		t.Errorf("mapped %v, want Features → features", mb.mapped)
	}
	if len(mb.unbound) != 1 || mb.unbound[0] != "token_type_ids" {
		t.Errorf("unbound %v", mb.unbound)
	}
	cfg := renderConfig(&initOptions{Candidate: "m.onnx", Production: "m.onnx", Dataset: "d.parquet"}, ds, []modelBinding{mb})
	for _, want := range []string{"input-map:\n  Features: features\n", "# input-map: {token_type_ids: COLUMN}   # TODO"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	if _, err := parseConfig("c.yaml", []byte(cfg), knownConfigKeys(&env{})); err != nil {
		t.Errorf("the config does not read back: %v", err)
	}
}

// TestInitWorkflowSample keeps examples/workflows/init-gate.yml, which
// `make lint-actions` lints with actionlint, the workflow init writes.
func TestInitWorkflowSample(t *testing.T) {
	got := renderWorkflow(&initOptions{Candidate: "models/model.onnx", Production: "models/model.onnx", Dataset: "data/test.parquet"})
	const sample = "../../examples/workflows/init-gate.yml"
	if *updateInitSample {
		if err := os.WriteFile(sample, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("%s differs from what init writes: go test ./cmd/infergate -run TestInitWorkflowSample -update-init-sample", sample)
	}
}
