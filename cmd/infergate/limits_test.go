package main

import (
	"context"
	"strings"
	"testing"

	"github.com/infergate/infergate/internal/ortlib"
)

// TestMaxMemoryFailsTheTarget caps the worker below what ONNX Runtime
// alone takes: the worker is killed, the run fails (exit 3) and says why.
func TestMaxMemoryFailsTheTarget(t *testing.T) {
	ortlib.Require(t)
	r := runCLI(t, context.Background(), "1", "bench", "--model", td("mlp_base.onnx"), "--dataset", td("mlp.parquet"),
		"--max-memory", "16MiB", "--requests", "100", "--quiet")
	if r.code != ExitRunFailed {
		t.Fatalf("exit %d, want %d; stderr %s", r.code, ExitRunFailed, r.stderr)
	}
	if want := "worker for mlp_base.onnx passed --max-memory 16 MiB"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q lacks %q", r.stderr, want)
	}
	// A cap it stays under changes nothing.
	r = runCLI(t, context.Background(), "1", "bench", "--model", td("mlp_base.onnx"), "--dataset", td("mlp.parquet"),
		"--max-memory", "4GiB", "--requests", "100", "--rounds", "2", "--quiet")
	if r.code != ExitPass {
		t.Fatalf("exit %d under a 4 GiB cap; stderr %s", r.code, r.stderr)
	}
}
