package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/internal/ortlib"
)

// onlyORTLib is a getenv that sets ONNXRUNTIME_LIB to v ("" unset) and
// nothing else.
func onlyORTLib(v string) func(string) string {
	return func(k string) string {
		if k == ortlib.EnvVar {
			return v
		}
		return ""
	}
}

// wantLibraryErr asserts a bad-input error holding every fragment.
func wantLibraryErr(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error containing %q, got none", fragments)
	}
	if errkind.Of(err) != errkind.KindInput {
		t.Errorf("%q is not bad input (exit 2)", err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q lacks %q", err, f)
		}
	}
}

// TestLibraryLookupOrder: --ort-lib, then ONNXRUNTIME_LIB, then the
// per-user cache. Each place is consulted only when the ones before it
// are unset: a path the user gave that is missing is an error naming it,
// not a fall back to the next place; and the cache's file must be the
// pinned build.
func TestLibraryLookupOrder(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("INFERGATE_CACHE", filepath.Join(dir, "cache"))
	flagLib := writeFile(t, filepath.Join(dir, "flag.so"), "flag\n", 0o644)
	envLib := writeFile(t, filepath.Join(dir, "env.so"), "env\n", 0o644)
	cached, err := ortlib.CachePath()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		t.Fatal(err)
	}
	// Not the pinned build: refused whenever the cache is the place used.
	writeFile(t, cached, "swapped\n", 0o644)

	if p, err := libraryPath(flagLib, onlyORTLib(envLib)); p != flagLib || err != nil {
		t.Errorf("--ort-lib and %s set: got %q, %v; want the flag's %s", ortlib.EnvVar, p, err, flagLib)
	}
	if p, err := libraryPath("", onlyORTLib(envLib)); p != envLib || err != nil {
		t.Errorf("%s set: got %q, %v; want %s (the cache not consulted)", ortlib.EnvVar, p, err, envLib)
	}
	_, err = libraryPath("", onlyORTLib(""))
	wantLibraryErr(t, err, "the cached ONNX Runtime at "+cached+" is not the one `make ort` verified")

	// Missing explicit paths: errors naming the path and where it came
	// from, though a later place has a library.
	missing := filepath.Join(dir, "nope", "libonnxruntime.so")
	p, err := libraryPath(missing, onlyORTLib(envLib))
	wantLibraryErr(t, err, "ONNX Runtime library "+missing+": no such file", "--ort-lib")
	if p != missing {
		t.Errorf("missing --ort-lib: path %q, want %q (for `version` to show)", p, missing)
	}
	_, err = libraryPath("", onlyORTLib(missing))
	wantLibraryErr(t, err, "ONNX Runtime library "+missing+": no such file", ortlib.EnvVar)
	_, err = libraryPath(dir, onlyORTLib(""))
	wantLibraryErr(t, err, "ONNX Runtime library "+dir+" is a directory")

	// Nothing anywhere: the error says how to get a library.
	if err := os.Remove(cached); err != nil {
		t.Fatal(err)
	}
	p, err = libraryPath("", onlyORTLib(""))
	wantLibraryErr(t, err, "no ONNX Runtime library found", "make ort", cached)
	if p != "" {
		t.Errorf("empty cache: path %q, want none", p)
	}
}

// TestLibraryLookupCachePinned: the cache's pinned library is found, and
// the SHA-256 check stays in force once it has passed: another file put at
// the same path afterwards is refused, not waved through by the memory of
// the earlier check. (That memory is keyed by size and modification time,
// so a same-size file with the old time kept would pass within the same
// process; a CLI run checks once, before it loads the library.)
func TestLibraryLookupCachePinned(t *testing.T) {
	pinned := ortlib.Require(t)
	dir := t.TempDir()
	t.Setenv("INFERGATE_CACHE", dir)
	cached, err := ortlib.CachePath()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(pinned, cached); err != nil {
		t.Fatal(err)
	}
	if p, err := libraryPath("", onlyORTLib("")); p != cached || err != nil {
		t.Fatalf("pinned library in the cache: got %q, %v; want %s", p, err, cached)
	}
	if err := os.Remove(cached); err != nil {
		t.Fatal(err)
	}
	writeFile(t, cached, "swapped after the check\n", 0o644)
	_, err = libraryPath("", onlyORTLib(""))
	wantLibraryErr(t, err, "the cached ONNX Runtime at "+cached+" is not the one `make ort` verified")
}
