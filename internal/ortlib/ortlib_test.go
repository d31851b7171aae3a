package ortlib

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCachePathPrecedence(t *testing.T) {
	t.Setenv("INFERGATE_CACHE", "/c/ig")
	t.Setenv("XDG_CACHE_HOME", "/x")
	t.Setenv("HOME", "/h")
	p, err := CachePath()
	if err != nil || p != "/c/ig/onnxruntime/"+Version+"/libonnxruntime.so.1" {
		t.Fatalf("INFERGATE_CACHE: got %q, %v", p, err)
	}
	t.Setenv("INFERGATE_CACHE", "")
	p, _ = CachePath()
	if p != "/x/infergate/onnxruntime/"+Version+"/libonnxruntime.so.1" {
		t.Fatalf("XDG_CACHE_HOME: got %q", p)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	p, _ = CachePath()
	if p != "/h/.cache/infergate/onnxruntime/"+Version+"/libonnxruntime.so.1" {
		t.Fatalf("HOME: got %q", p)
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("INFERGATE_CACHE", dir)
	t.Setenv(EnvVar, "")
	if _, err := Find(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty cache: want ErrNotFound, got %v", err)
	}
	lib := filepath.Join(dir, "onnxruntime", Version, LibName)
	if err := os.MkdirAll(filepath.Dir(lib), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lib, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err := Find(); err != nil || p != lib {
		t.Fatalf("cache: got %q, %v", p, err)
	}
	other := filepath.Join(dir, "custom.so")
	t.Setenv(EnvVar, other)
	if _, err := Find(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing %s: want ErrNotFound, got %v", EnvVar, err)
	}
	if err := os.WriteFile(other, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err := Find(); err != nil || p != other {
		t.Fatalf("%s: got %q, %v", EnvVar, p, err)
	}
}

// TestPinMatchesFetchScript keeps the version and SHA-256 that infergate
// checks in step with what scripts/fetch-ort.sh installs.
func TestPinMatchesFetchScript(t *testing.T) {
	b, err := os.ReadFile("../../scripts/fetch-ort.sh")
	if err != nil {
		t.Fatal(err)
	}
	script := string(b)
	for _, want := range []string{`ORT_VERSION="` + Version + `"`, `WANT_SHA256="` + SHA256 + `"`} {
		if !strings.Contains(script, want) {
			t.Errorf("scripts/fetch-ort.sh lacks %s", want)
		}
	}
}
