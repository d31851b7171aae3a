package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

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

// writeLinear writes scores = features·W for a seeded W of [64, out], or
// Relu(features)·W with relu; outDims is the output's declared shape.
// With and without relu the two agree exactly on rows whose features are
// all at least 0, and nowhere else.
func writeLinear(t *testing.T, dir, name string, out int, relu bool, outDims ...any) string {
	t.Helper()
	r := onnxgen.NewRNG(6001)
	w := make([]float32, 64*out)
	for i := range w {
		w[i] = r.Uniform(-1, 1)
	}
	g := onnxgen.NewGraph(name)
	g.Input(onnxgen.MLPInput, onnxgen.Float, "batch", 64)
	g.Initializer("w", []int64{64, int64(out)}, w)
	x := onnxgen.MLPInput
	if relu {
		g.Node("Relu", []string{x}, []string{"x"})
		x = "x"
	}
	g.Node("MatMul", []string{x, "w"}, []string{onnxgen.MLPOutput})
	g.Output(onnxgen.MLPOutput, onnxgen.Float, outDims...)
	data, err := g.Model().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".onnx")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeRuntimeShaped writes scores = Expand(features·w, [1, width]) for a
// w of [64, 1], with "width" an int64[1] input (--fill width=3 gives 3
// columns). ONNX Runtime cannot infer a dimension from an input's values,
// so the output's width is free in what the model declares: a width that
// differs from another model's shows only in the outputs themselves.
func writeRuntimeShaped(t *testing.T, dir, name string) string {
	t.Helper()
	g := onnxgen.NewGraph(name)
	g.Input(onnxgen.MLPInput, onnxgen.Float, "batch", 64)
	g.Input("width", onnxgen.Int64, 1)
	g.Initializer("w", []int64{64, 1}, make([]float32, 64))
	g.InitializerInt64("one", []int64{1}, []int64{1})
	g.Node("MatMul", []string{onnxgen.MLPInput, "w"}, []string{"y"})
	g.Node("Concat", []string{"one", "width"}, []string{"shape"}, onnxgen.Int("axis", 0))
	g.Node("Expand", []string{"y", "shape"}, []string{onnxgen.MLPOutput})
	g.Output(onnxgen.MLPOutput, onnxgen.Float, "batch", "width")
	data, err := g.Model().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".onnx")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// laterRowsDifferParquet writes rows of 64 features: the first `agree`
// rows in [0, 1), where writeLinear's pair agree, the rest in [-1, 1),
// where they do not.
func laterRowsDifferParquet(t *testing.T, dir string, agree, rows int) string {
	t.Helper()
	r := onnxgen.NewRNG(6002)
	return writeTestParquet(t, dir, "later_rows_differ.parquet",
		[]arrow.Field{{Name: onnxgen.MLPInput, Type: arrow.ListOf(arrow.PrimitiveTypes.Float32), Nullable: true}},
		func(b *array.RecordBuilder) {
			lb := b.Field(0).(*array.ListBuilder)
			vb := lb.ValueBuilder().(*array.Float32Builder)
			for i := range rows {
				lb.Append(true)
				for range 64 {
					if i < agree {
						vb.Append(r.Float32())
					} else {
						vb.Append(r.Uniform(-1, 1))
					}
				}
			}
		})
}

// Parity samples rows spread over the whole test set: a candidate that
// agrees on the first half of the rows and not on the second fails, where
// the first --parity-rows rows alone would have passed it. Over the first
// half only (--rows), the same pair passes, so the first rows do agree.
func TestParitySampleSpreadsOverTestSet(t *testing.T) {
	ortlib.Require(t)
	dir := t.TempDir()
	prod := writeLinear(t, dir, "linear", 4, false, "batch", 4)
	cand := writeLinear(t, dir, "linear_relu", 4, true, "batch", 4)
	data := laterRowsDifferParquet(t, dir, 200, 400)
	base := append([]string{"run", "--candidate", cand, "--production", prod, "--dataset", data}, quick...)
	base = append(base, "--check-outputs", "--parity-rows", "16", "--batch-size", "4")

	out := filepath.Join(dir, "spread.json")
	r := runCLI(t, context.Background(), "1", append(base, "--json", out)...)
	if r.code != ExitRegression {
		t.Fatalf("exit %d, want 1 (later rows differ); stderr:\n%s\nstdout:\n%s", r.code, r.stderr, r.stdout)
	}
	p := readResult(t, out).Parity
	if p == nil || p.Rows != 16 || p.Sample == nil || *p.Sample != (result.ParitySample{Rule: result.SampleSpread, Of: 400}) {
		t.Fatalf("parity %+v, want 16 rows spread over 400", p)
	}
	// Rows 0, 25, …, 175 agree exactly; 200, 225, …, 375 do not.
	if o := p.Outputs[0]; o.WithinTol < 0.5 || o.WithinTol >= 1 || o.MaxAbs <= 1e-4 || o.Rows != 16 {
		t.Fatalf("output parity %+v, want half the rows within tolerance", o)
	}
	if !strings.Contains(r.stdout, "16 rows spread evenly over the 400 the run read") {
		t.Errorf("report does not say which rows it compared:\n%s", r.stdout)
	}

	first := filepath.Join(dir, "first.json")
	r = runCLI(t, context.Background(), "1", append(base, "--rows", "200", "--json", first)...)
	if r.code != ExitPass {
		t.Fatalf("--rows 200: exit %d, want 0; stderr:\n%s\nstdout:\n%s", r.code, r.stderr, r.stdout)
	}
	p = readResult(t, first).Parity
	if p.Sample == nil || p.Sample.Of != 200 || p.Outputs[0].MaxAbs != 0 || p.Outputs[0].WithinTol != 1 {
		t.Fatalf("--rows 200: parity %+v sample %+v", p.Outputs, p.Sample)
	}

	// With --shuffle the sample is spread over the shuffled order, and the
	// seed is recorded with the rule.
	shuffled := filepath.Join(dir, "shuffled.json")
	r = runCLI(t, context.Background(), "1", append(base, "--shuffle", "5", "--json", shuffled)...)
	p = readResult(t, shuffled).Parity
	if p == nil || p.Sample == nil || p.Sample.Of != 400 || p.Sample.ShuffleSeed == nil || *p.Sample.ShuffleSeed != 5 {
		t.Fatalf("--shuffle 5: exit %d, parity %+v; stderr:\n%s", r.code, p, r.stderr)
	}
	if !strings.Contains(r.stdout, "(in --shuffle 5 order)") {
		t.Errorf("--shuffle 5: report does not name the order:\n%s", r.stdout)
	}
}

// Output shapes the models declare apart are refused before anything is
// measured (exit 2, no result, nothing on stdout); shapes that only the
// outputs show (free dimensions) are still explained after measuring.
func TestParityDeclaredShapesRefusedEarly(t *testing.T) {
	ortlib.Require(t)
	dir := t.TempDir()
	prod := writeLinear(t, dir, "linear4", 4, false, "batch", 4)
	data := laterRowsDifferParquet(t, dir, 8, 8)
	run := func(cand string, extra ...string) cliResult {
		args := []string{"run", "--candidate", cand, "--production", prod, "--dataset", data,
			"--requests", "200", "--rounds", "4", "--warmup", "20", "--intra-op-threads", "1", "--check-outputs"}
		return runCLI(t, context.Background(), "1", append(args, extra...)...)
	}

	out := filepath.Join(dir, "declared.json")
	r := run(writeLinear(t, dir, "linear3", 3, false, "batch", 3), "--verbose", "--json", out)
	if r.code != ExitBadInput || r.stdout != "" {
		t.Fatalf("exit %d, want 2 and no report; stderr:\n%s\nstdout:\n%s", r.code, r.stderr, r.stdout)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	last := lines[len(lines)-1]
	if !strings.Contains(last, "output shapes differ: candidate scores has [-1 3], production scores has [-1 4]") {
		t.Fatalf("last stderr line %q, want the shapes explained", last)
	}
	for _, l := range lines {
		if strings.Contains(l, "warmup") || strings.Contains(l, "measuring") {
			t.Errorf("measured before refusing: %q", l)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a result was written (%v): nothing was measured", err)
	}

	// Declared with a free width, the shapes differ only at run time: the
	// same explanation comes after the measured pass, as bad input.
	out = filepath.Join(dir, "runtime.json")
	r = run(writeRuntimeShaped(t, dir, "expand"), "--fill", "width=3", "--quiet", "--json", out)
	if r.code != ExitBadInput || !strings.Contains(r.stderr, "output shapes differ: candidate scores has [1 3], production scores has [1 4]") {
		t.Fatalf("free width: exit %d, want 2 explaining the shapes; stderr:\n%s", r.code, r.stderr)
	}
	if res := readResult(t, out); len(res.Targets) != 2 || len(res.Targets[0].Rounds) != 4 {
		t.Errorf("free width: want the measured pass in the result, got %d targets", len(res.Targets))
	}
}
