package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infergate/infergate/internal/onnxgen"
	"github.com/infergate/infergate/internal/ortlib"
)

func writeProfileMLP(t *testing.T, dir, name string, hidden []int) string {
	t.Helper()
	b, err := onnxgen.NewMLP(name, 3, 64, hidden, 10).Graph().Model().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".onnx")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A deliberately widened candidate: the same graph (same node names) with
// its second hidden layer 4096 wide instead of 48 (wide enough that
// profiler jitter on sub-microsecond nodes cannot outweigh it). The
// profile must blame that layer's MatMul by name, and the measured pass
// must be the one asked for, untouched.
func TestRunProfileBlamesWidenedMatMul(t *testing.T) {
	ortlib.Require(t)
	dir := t.TempDir()
	prod := writeProfileMLP(t, dir, "production", []int{48, 48})
	cand := writeProfileMLP(t, dir, "candidate", []int{48, 4096})
	// The widened layer is layer 1. The next layer's MatMul grows too (its
	// input is now 4096 wide), by 4096×10 multiply-adds per row against
	// the widened one's 48×4096: a fifth of the work, though a 10-wide
	// output vectorises worse, so on the 2-core VM it measured +4µs per
	// call against the widened one's +6–8µs. The widened one must rank
	// first.
	mlp := onnxgen.NewMLP("candidate", 3, 64, []int{48, 4096}, 10)
	widened, next := mlp.MatMulNode(1), mlp.MatMulNode(2)
	out := filepath.Join(dir, "result.json")
	md := filepath.Join(dir, "report.md")
	html := filepath.Join(dir, "report.html")
	r := runCLI(t, context.Background(), "1", "run", "--candidate", cand, "--production", prod,
		"--dataset", td("mlp.parquet"), "--requests", "200", "--rounds", "2", "--warmup", "20",
		"--intra-op-threads", "1", "--graph-optimization", "disable", "--quiet",
		"--profile", "--profile-requests", "150", "--json", out, "--markdown", md, "--html", html)
	if r.code != ExitPass {
		t.Fatalf("exit %d, stderr:\n%s\nstdout:\n%s", r.code, r.stderr, r.stdout)
	}
	res := readResult(t, out)
	for _, tg := range res.Targets {
		if len(tg.Rounds) != 2 || tg.Latency.Count != 200 {
			t.Errorf("%s: %d rounds, %d calls measured; the profile must not add to them", tg.Role, len(tg.Rounds), tg.Latency.Count)
		}
		var n int64
		for _, rd := range tg.Rounds {
			n += rd.Requests
		}
		if n != 200 {
			t.Errorf("%s: rounds hold %d requests, want 200", tg.Role, n)
		}
	}
	p := res.Profile
	if p == nil {
		t.Fatalf("no profile; warnings %v", res.Warnings)
	}
	if p.Requests != 150 || p.BatchSize != 1 || len(p.Nodes) == 0 {
		t.Fatalf("profile = %+v", p)
	}
	if top := p.Nodes[0]; top.Name != widened || top.Delta <= 0 {
		t.Errorf("top node = %+v, want the widened layer's %s slower; nodes %+v", top, widened, p.Nodes)
	}
	for i, n := range p.Nodes {
		if n.Name == next {
			t.Logf("the next layer's %s ranks %d with %+.1fµs per call (the widened %s: %+.1fµs)", next, i+1, n.Delta, widened, p.Nodes[0].Delta)
		}
	}
	if bt := p.ByOpType[0]; !strings.Contains(bt.OpType, "MatMul") || bt.Delta <= 0 {
		t.Errorf("top op type = %+v", p.ByOpType)
	}
	if len(p.Added) != 0 || len(p.Removed) != 0 {
		t.Errorf("added %v removed %v", p.Added, p.Removed)
	}
	if !strings.Contains(r.stdout, "where the time went") || !strings.Contains(r.stdout, p.Nodes[0].Name) {
		t.Errorf("table lacks the profile:\n%s", r.stdout)
	}
	for _, f := range []string{md, html} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Markdown escapes the underscore in a node name.
		text := strings.ReplaceAll(string(b), `\_`, "_")
		if !strings.Contains(strings.ToLower(text), "where the time went") || !strings.Contains(text, p.Nodes[0].Name) {
			t.Errorf("%s lacks the profile", filepath.Base(f))
		}
	}
}

func TestProfileNeedsLocalModels(t *testing.T) {
	f := profileFlags{Profile: true, ProfileRequests: 10}
	if _, err := f.validateProfile(true); err == nil {
		t.Error("endpoints accepted")
	}
	f.ProfileRequests = 0
	if _, err := f.validateProfile(false); err == nil {
		t.Error("--profile-requests 0 accepted")
	}
}
