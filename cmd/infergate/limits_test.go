package main

import (
	"context"
	"os"
	"path/filepath"
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

// TestCachedLibraryChecked swaps the cached ONNX Runtime for another file:
// infergate refuses to load it.
func TestCachedLibraryChecked(t *testing.T) {
	cache := t.TempDir()
	dir := filepath.Join(cache, "onnxruntime", ortlib.Version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ortlib.LibName), []byte("not the library"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("INFERGATE_CACHE", cache)
	r := runCLIEnv(t, context.Background(), "1", map[string]string{ortlib.EnvVar: ""},
		"bench", "--model", td("mlp_base.onnx"), "--dataset", td("mlp.parquet"), "--quiet")
	if r.code != ExitBadInput || !strings.Contains(r.stderr, "is not the one `make ort` verified") {
		t.Fatalf("exit %d, stderr %q; want exit 2 refusing the library", r.code, r.stderr)
	}
}
