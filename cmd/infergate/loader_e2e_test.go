package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infergate/infergate/internal/onnxgen"
	"github.com/infergate/infergate/internal/ortlib"
	"github.com/infergate/infergate/result"
)

// short keeps these runs to a few hundred milliseconds: they check that
// bindings reach a real worker, not speed.
var short = []string{"--requests", "40", "--rounds", "2", "--warmup", "4", "--intra-op-threads", "1", "--quiet"}

// writeMLPNamed writes a small MLP (64 -> 16 -> 10, weights from seed)
// whose input is called input rather than "features".
func writeMLPNamed(t *testing.T, dir, input string, seed uint64) string {
	t.Helper()
	g := onnxgen.NewMLP("mlp_"+input, seed, 64, []int{16}, 10).Graph()
	g.Inputs[0].Name = input
	for i := range g.Nodes {
		for j, in := range g.Nodes[i].Inputs {
			if in == onnxgen.MLPInput {
				g.Nodes[i].Inputs[j] = input
			}
		}
	}
	data, err := g.Model().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, input+".onnx")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// wantMeasured asserts that every target of res made n calls without an
// error, and that its declared inputs start with the given names in order.
func wantMeasured(t *testing.T, res *result.Result, n int64, inputs map[result.Role][]string) {
	t.Helper()
	if len(res.Targets) != len(inputs) {
		t.Fatalf("%d targets, want %d", len(res.Targets), len(inputs))
	}
	for _, tg := range res.Targets {
		if tg.Latency.Count != n || tg.Errors.Total != 0 || tg.Failed != "" {
			t.Errorf("%s: %d calls, %d errors (%v), failed %q; want %d calls, 0 errors", tg.Role, tg.Latency.Count, tg.Errors.Total, tg.Errors.ByKind, tg.Failed, n)
		}
		want, ok := inputs[tg.Role]
		if !ok || len(tg.Inputs) != len(want) {
			t.Errorf("%s: inputs %q, want %q", tg.Role, tg.Inputs, want)
			continue
		}
		for i, name := range want {
			if !strings.HasPrefix(tg.Inputs[i], name+" ") {
				t.Errorf("%s: input %d is %q, want %s …", tg.Role, i, tg.Inputs[i], name)
			}
		}
	}
}

// TestPerModelInputMaps: two models that name their input differently
// each bind the same column through their own map, and both are measured.
// A map given to the wrong model does not leak to the other.
func TestPerModelInputMaps(t *testing.T) {
	ortlib.Require(t)
	dir := t.TempDir()
	cand := writeMLPNamed(t, dir, "cand_in", 11)
	prod := writeMLPNamed(t, dir, "prod_in", 12)
	out := filepath.Join(dir, "result.json")
	base := []string{"run", "--candidate", cand, "--production", prod, "--dataset", td("mlp.parquet"), "--max-latency-increase", "100"}
	base = append(base, short...)

	r := runCLI(t, context.Background(), "1", append(base, "--candidate-input-map", "cand_in=features",
		"--production-input-map", "prod_in=features", "--json", out)...)
	if r.code != ExitPass && r.code != ExitRegression {
		t.Fatalf("exit %d, want 0 or 1 (measured); stderr:\n%s", r.code, r.stderr)
	}
	wantMeasured(t, readResult(t, out), 40, map[result.Role][]string{
		result.RoleProduction: {"prod_in"},
		result.RoleCandidate:  {"cand_in"},
	})

	// Both maps name the candidate's input: production's is left
	// unbound (the candidate's map is not production's) and says so,
	// before anything is measured.
	r = runCLI(t, context.Background(), "1", append(base, "--candidate-input-map", "cand_in=features",
		"--production-input-map", "cand_in=features")...)
	if r.code != ExitBadInput || !strings.Contains(r.stderr, "production model prod_in.onnx: model input prod_in: no column named prod_in") {
		t.Errorf("production's input unmapped: exit %d, stderr %q; want 2 naming prod_in", r.code, r.stderr)
	}
}

// TestElementTypesAndFillsRun sends float16, value-checked integer and
// filled inputs through a real worker: each run ends with every call
// made and none failed.
func TestElementTypesAndFillsRun(t *testing.T) {
	ortlib.Require(t)
	for _, tc := range []struct {
		name  string
		model string
		args  []string
	}{
		{"float64 column to float16", "cast_float16.onnx", []string{"--input-map", "x=x_f64"}},
		{"float32 column to float16", "cast_float16.onnx", []string{"--input-map", "x=x_f32"}},
		{"float16 column to float16", "cast_float16.onnx", []string{"--input-map", "x=x_f16"}},
		// Every value of x_i64 is in [-9, 9]: it fits int8, so the
		// narrower type does not refuse the column.
		{"int64 column to int8", "cast_int8.onnx", []string{"--input-map", "x=x_i64"}},
		{"int64 column to float32", "cast_float32.onnx", []string{"--input-map", "x=x_i64"}},
		// fill.onnx: features [batch, 4], state [2, b2, 8], sr 0-d int64.
		{"fill shape and scalar", "fill.onnx", []string{"--input-map", "features=x_f32", "--fill", "state=zeros[2,3,8]", "--fill", "sr=16000"}},
		{"fill zeros and value with shape", "fill.onnx", []string{"--fill", "features=zeros", "--fill", "state=0.5[2,1,8]", "--fill", "sr=zeros"}},
		{"fill value and explicit 0-d", "fill.onnx", []string{"--fill", "features=0.25", "--fill", "state=zeros[2,2,8]", "--fill", "sr=16000[]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.json")
			args := append([]string{"bench", "--model", td(tc.model), "--dataset", td("types.parquet"), "--batch-size", "3", "--json", out}, short...)
			r := runCLI(t, context.Background(), "1", append(args, tc.args...)...)
			if r.code != ExitPass {
				t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
			inputs := []string{"x"}
			if tc.model == "fill.onnx" {
				inputs = []string{"features", "state", "sr"}
			}
			wantMeasured(t, readResult(t, out), 40, map[result.Role][]string{result.RoleSingle: inputs})
		})
	}
}
