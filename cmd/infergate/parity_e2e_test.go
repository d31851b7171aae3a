package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infergate/infergate/internal/onnxgen"
	"github.com/infergate/infergate/internal/ortlib"
	"github.com/infergate/infergate/result"
)

var parityQuick = []string{"--check-outputs", "--parity-rows", "64", "--batch-size", "8"}

// Different weights: every output differs far beyond the default
// tolerances, so the gate fails (exit 1) and names the output.
func TestParityDifferentWeightsFails(t *testing.T) {
	ortlib.Require(t)
	out := filepath.Join(t.TempDir(), "result.json")
	md := filepath.Join(t.TempDir(), "result.md")
	args := append(runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet", "--json", out, "--markdown", md), parityQuick...)
	r := runCLI(t, context.Background(), "1", args...)
	if r.code != ExitRegression {
		t.Fatalf("exit %d, want 1; stderr:\n%s\nstdout:\n%s", r.code, r.stderr, r.stdout)
	}
	res := readResult(t, out)
	if res.Parity == nil || len(res.Parity.Outputs) != 1 {
		t.Fatalf("parity %+v", res.Parity)
	}
	o := res.Parity.Outputs[0]
	if o.Name != "scores" || o.MaxAbs <= 1e-4 || o.WithinTol >= 1 || res.Parity.Rows != 64 || !o.Classifier {
		t.Fatalf("output parity %+v", o)
	}
	for _, want := range []string{"output parity", "scores", "output-parity", fmt.Sprintf("%.4g", o.MaxAbs)} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, r.stdout)
		}
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "Output parity") {
		t.Errorf("markdown lacks the parity section:\n%s", b)
	}
	if res.Verdict != result.VerdictFail {
		t.Errorf("verdict %s", res.Verdict)
	}
}

// A byte copy of the same model gives identical outputs: parity and top-1
// pass.
func TestParitySameModelPasses(t *testing.T) {
	ortlib.Require(t)
	dir := t.TempDir()
	b, err := os.ReadFile(td("mlp_base.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(dir, "copy.onnx")
	if err := os.WriteFile(cp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "result.json")
	args := append([]string{"run", "--candidate", cp, "--production", td("mlp_base.onnx"), "--dataset", td("mlp.parquet"), "--json", out}, quick...)
	args = append(args, parityQuick...)
	args = append(args, "--min-top1-agreement", "0.99")
	r := runCLI(t, context.Background(), "1", args...)
	if r.code != ExitPass {
		t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", r.code, r.stderr, r.stdout)
	}
	res := readResult(t, out)
	o := res.Parity.Outputs[0]
	if o.MaxAbs != 0 || o.WithinTol != 1 || o.Top1 != 1 {
		t.Fatalf("output parity %+v", o)
	}
	names := map[string]bool{}
	for _, c := range res.Checks {
		names[c.Name] = c.Outcome == result.OutcomePass
	}
	if !names["output-parity"] || !names["min-top1-agreement"] || res.Verdict != result.VerdictPass {
		t.Fatalf("checks %+v verdict %s", res.Checks, res.Verdict)
	}
}

// writeRenamedMLP writes mlp_base's network (same seed, same weights) with
// its output named "logits" instead of "scores".
func writeRenamedMLP(t *testing.T) string {
	t.Helper()
	hidden := make([]int, 48)
	for i := range hidden {
		hidden[i] = 48
	}
	m := onnxgen.NewMLP("renamed", 2001, 64, hidden, 10)
	g := onnxgen.NewGraph("renamed")
	g.Input(onnxgen.MLPInput, onnxgen.Float, "batch", m.In)
	x := onnxgen.MLPInput
	for i, l := range m.Layers {
		w, b := fmt.Sprintf("w%d", i), fmt.Sprintf("b%d", i)
		g.Initializer(w, []int64{int64(l.In), int64(l.Out)}, l.W)
		g.Initializer(b, []int64{int64(l.Out)}, l.B)
		mm, add := fmt.Sprintf("mm%d", i), fmt.Sprintf("add%d", i)
		if !l.Relu {
			add = "logits"
		}
		g.Node("MatMul", []string{x, w}, []string{mm})
		g.Node("Add", []string{mm, b}, []string{add})
		x = add
		if l.Relu {
			h := fmt.Sprintf("h%d", i)
			g.Node("Relu", []string{add}, []string{h})
			x = h
		}
	}
	g.Output("logits", onnxgen.Float, "batch", m.Out)
	data, err := g.Model().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "renamed.onnx")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Output names that differ are bad input (exit 2, before measuring) unless
// --output-map pairs them.
func TestParityOutputNamesDiffer(t *testing.T) {
	ortlib.Require(t)
	renamed := writeRenamedMLP(t)
	base := []string{"run", "--candidate", renamed, "--production", td("mlp_base.onnx"), "--dataset", td("mlp.parquet")}
	base = append(base, quick...)
	base = append(base, parityQuick...)

	r := runCLI(t, context.Background(), "1", base...)
	if r.code != ExitBadInput {
		t.Fatalf("exit %d, want 2; stderr:\n%s\nstdout:\n%s", r.code, r.stderr, r.stdout)
	}
	line := strings.TrimSpace(r.stderr)
	if strings.Count(line, "\n") != 0 || !strings.Contains(line, "[logits]") || !strings.Contains(line, "[scores]") || !strings.Contains(line, "--output-map") {
		t.Fatalf("want one line naming both output lists, got:\n%s", r.stderr)
	}

	out := filepath.Join(t.TempDir(), "result.json")
	r = runCLI(t, context.Background(), "1", append(base, "--output-map", "logits=scores", "--json", out)...)
	if r.code != ExitPass {
		t.Fatalf("with --output-map: exit %d; stderr:\n%s\nstdout:\n%s", r.code, r.stderr, r.stdout)
	}
	o := readResult(t, out).Parity.Outputs[0]
	if o.Name != "scores" || o.Candidate != "logits" || o.WithinTol != 1 {
		t.Fatalf("output parity %+v", o)
	}
}
