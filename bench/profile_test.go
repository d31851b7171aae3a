package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infergate/infergate/compare"
	"github.com/infergate/infergate/internal/onnxgen"
)

// writeMLP writes an MLP with 64 inputs and 10 outputs; the same number of
// layers gives the same node names whatever the widths.
func writeMLP(t testing.TB, dir, name string, hidden []int) string {
	t.Helper()
	b, err := onnxgen.NewMLP(name, 7, 64, hidden, 10).Graph().Model().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".onnx")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func startProfiled(t *testing.T, model string) Target {
	t.Helper()
	cfg := testConfig(t, model, "serve")
	cfg.GraphOptimization = "disable" // keep the graph's own node names
	tg, err := StartONNX(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg
}

// A candidate whose second hidden layer is 4096 wide instead of 48: the
// profile diff must put that layer's MatMul on top, by name. The next
// layer's MatMul grows too (its input is 4096 wide now), by 4096×10
// multiply-adds per row against the widened one's 48×4096: a fifth of the
// work, though a 10-wide output vectorises worse, so on the 2-core VM it
// measured +10–12µs per call against the widened one's +20–26µs. The
// widened one must rank first.
func TestProfileFindsWidenedMatMul(t *testing.T) {
	dir := t.TempDir()
	prod := startProfiled(t, writeMLP(t, dir, "prod", []int{48, 48}))
	cand := startProfiled(t, writeMLP(t, dir, "cand", []int{48, 4096}))
	widened := onnxgen.NewMLP("cand", 7, 64, []int{48, 4096}, 10).MatMulNode(1)
	batches := []BlockBatch{mlpBatch(8), mlpBatch(8)}
	ctx := context.Background()

	var got []Profile
	for _, tg := range []Target{prod, cand} {
		// A measured block first, as a run does; the profile comes after.
		res, err := tg.Run(ctx, Block{Batches: batches, Requests: 50, Concurrency: 1, Record: true})
		if err != nil || res.Requests != 50 {
			t.Fatalf("block: %+v, %v", res, err)
		}
		p, err := tg.(Profiler).Profile(ctx, batches, 100)
		if err != nil {
			t.Fatal(err)
		}
		if p.Requests != 100 || len(p.Nodes) == 0 {
			t.Fatalf("profile = %+v", p)
		}
		for _, n := range p.Nodes {
			if n.Count != 100 {
				t.Errorf("node %s ran %d times, want 100", n.Name, n.Count)
			}
		}
		got = append(got, p)
		// The measured session still works after the profiled pass.
		if res, err := tg.Run(ctx, Block{Requests: 10, Concurrency: 1}); err != nil || res.Requests != 10 {
			t.Fatalf("block after profile: %+v, %v", res, err)
		}
	}
	d := compare.ProfileDiff(got[0].Nodes, got[0].Requests, got[1].Nodes, got[1].Requests)
	top := d.Nodes[0]
	if top.Name != widened || top.Delta <= 0 {
		t.Errorf("top node = %+v, want the widened layer's %s slower; nodes %+v", top, widened, d.Nodes)
	}
	if !strings.Contains(d.ByOpType[0].OpType, "MatMul") {
		t.Errorf("top op type = %+v", d.ByOpType)
	}
	if len(d.Added) != 0 || len(d.Removed) != 0 {
		t.Errorf("added %v removed %v: the graphs have the same nodes", d.Added, d.Removed)
	}
	t.Logf("top: %+v", d.Nodes[:3])
}
