package bareloop_test

import (
	"testing"

	"github.com/infergate/infergate/internal/bareloop"
	"github.com/infergate/infergate/internal/ortlib"
)

const model = "../../testdata/mlp_base.onnx"

func TestMedian(t *testing.T) {
	lib := ortlib.Require(t)
	m, err := bareloop.Median(lib, model, []int64{1, 64}, 300, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m <= 0 {
		t.Fatalf("median %v", m)
	}
	t.Logf("mlp_base.onnx batch 1: median %v", m)

	// A second call in the same process must reuse the environment.
	ms, err := bareloop.MedianInterleaved(lib, []string{model, "../../testdata/mlp_same.onnx"}, []int64{4, 64}, 100, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0] <= 0 || ms[1] <= 0 {
		t.Fatalf("medians %v", ms)
	}
}

func TestErrors(t *testing.T) {
	lib := ortlib.Require(t)
	if _, err := bareloop.Median(lib, "../../testdata/corrupt.onnx", []int64{1, 64}, 10, 1); err == nil {
		t.Error("corrupt model: want error")
	}
	if _, err := bareloop.Median(lib, model, []int64{1, 63}, 10, 1); err == nil {
		t.Error("wrong input shape: want error")
	}
	if _, err := bareloop.Median(lib, model, []int64{1, 64}, 0, 1); err == nil {
		t.Error("zero iters: want error")
	}
}

// TimeFreshOutput runs the model with an output allocated per call, and
// leaves the reused output of Time and Close working.
func TestTimeFreshOutput(t *testing.T) {
	lib := ortlib.Require(t)
	r, err := bareloop.Open(lib, model, []int64{1, 64}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		d, err := r.TimeFreshOutput()
		if err != nil || d <= 0 {
			t.Fatalf("call %d: %v, %v", i, d, err)
		}
		if d, err := r.Time(); err != nil || d <= 0 {
			t.Fatalf("Time after call %d: %v, %v", i, d, err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}
