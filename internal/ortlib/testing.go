package ortlib

import (
	"os"
	"testing"
)

// Require returns the ONNX Runtime library path for a test. When the
// library is missing the test is skipped, unless $CI is set, in which case
// it fails: CI must run the real-runtime tests.
func Require(t testing.TB) string {
	t.Helper()
	p, err := Find()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v\nCI is set, so the real ONNX Runtime tests must not be skipped: run `make ort`", err)
		}
		t.Skipf("skipping: %v", err)
	}
	return p
}

// RequireInit is Require followed by Init; it fails the test if the
// runtime cannot be initialized.
func RequireInit(t testing.TB) string {
	t.Helper()
	p := Require(t)
	if err := Init(p); err != nil {
		t.Fatalf("%v", err)
	}
	return p
}
