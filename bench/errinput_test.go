package bench

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/infergate/infergate/loader"
	"github.com/infergate/infergate/result"
)

func TestInputClass(t *testing.T) {
	f32 := func(v ...float32) []loader.Tensor {
		return []loader.Tensor{{Name: "x", DType: loader.Float32, Shape: []int64{1, int64(len(v))}, Data: v}}
	}
	nan32 := float32(math.NaN())
	for _, tc := range []struct {
		name        string
		tensors     []loader.Tensor
		empty       int64
		size, limit float64
		want        string
	}{
		{"normal", f32(1, 2), 0, 4, 8, InputNormal},
		{"float32 NaN", f32(1, nan32), 0, 4, 8, InputNaN},
		{"float64 NaN", []loader.Tensor{{DType: loader.Float64, Data: []float64{0, math.NaN()}}}, 0, 4, 8, InputNaN},
		{"float16 NaN", []loader.Tensor{{DType: loader.Float16, Data: []uint16{0x3c00, 0x7e00}}}, 0, 4, 8, InputNaN},
		{"float16 inf is not NaN", []loader.Tensor{{DType: loader.Float16, Data: []uint16{0x7c00, 0xfc00}}}, 0, 4, 8, InputNormal},
		{"int64 bits are not floats", []loader.Tensor{{DType: loader.Int64, Data: []int64{-1}}}, 0, 4, 8, InputNormal},
		{"empty", f32(1), 1, 4, 8, InputEmpty},
		{"NaN beats empty", f32(nan32), 1, 40, 8, InputNaN},
		{"oversized", f32(1), 0, 9, 8, InputOversized},
		{"no limit", f32(1), 0, 9, 0, InputNormal},
	} {
		if got := inputClass(tc.tensors, loader.SizeMeasure{EmptyRows: tc.empty}, tc.size, tc.limit); got != tc.want {
			t.Errorf("%s: class %q, want %q", tc.name, got, tc.want)
		}
	}
	// A null comes first: a filled one could pass for any other class.
	if got := inputClass(f32(1), loader.SizeMeasure{NullRows: 1}, 4, 8); got != InputNull {
		t.Errorf("null: class %q", got)
	}
	if got := inputClass(f32(nan32), loader.SizeMeasure{NullRows: 2, EmptyRows: 1}, 40, 8); got != InputNull {
		t.Errorf("null beside NaN, empty and oversized: class %q", got)
	}
}

func TestMergeErrorsCapsExamples(t *testing.T) {
	var e errRec
	for i := range 4 {
		e.fail("http_5xx", InputNaN, int64(i))
		e.fail("http_5xx", InputNaN, int64(i)) // duplicates are kept once
	}
	byClass, ex := mergeErrors(nil, nil, e.byClass, e.examples)
	byClass, ex = mergeErrors(byClass, ex, map[string]int64{InputNormal: 3}, map[string][]int64{"http_5xx": {10, 11, 12}, "timeout": {7}})
	if byClass[InputNaN] != 8 || byClass[InputNormal] != 3 {
		t.Errorf("by class %v", byClass)
	}
	if !slices.Equal(ex["http_5xx"], []int64{0, 1, 2, 3, 10}) || !slices.Equal(ex["timeout"], []int64{7}) {
		t.Errorf("examples %v", ex)
	}
}

// classSource is fakeSource with a NaN in batch nan, an empty list in
// batch empty, a long sequence in batch long and a null in batch null.
type classSource struct {
	fakeSource
	nan, empty, long, null int
}

func (s *classSource) Next(ctx context.Context) (*loader.Batch, error) {
	b, err := s.fakeSource.Next(ctx)
	if err != nil {
		return nil, err
	}
	m := loader.SizeMeasure{Elements: 4, SeqLen: 4}
	switch b.Index {
	case s.nan:
		for _, ts := range b.Tensors {
			ts[0].Data = []float32{float32(math.NaN())}
		}
	case s.empty:
		m.EmptyRows = 1
	case s.long:
		m = loader.SizeMeasure{Elements: 100, SeqLen: 100}
	case s.null:
		m.NullRows = 1
	}
	for range b.Tensors {
		b.Sizes = append(b.Sizes, m)
	}
	return b, nil
}

// classTarget is fakeTarget that fails every recorded call on a batch whose
// class is not normal, recording it the way the worker does.
type classTarget struct {
	fakeTarget
}

func (f *classTarget) Run(ctx context.Context, blk Block) (BlockResult, error) {
	res, err := f.fakeTarget.Run(ctx, blk)
	if err != nil || !blk.Record {
		return res, err
	}
	var rec errRec
	for i := range blk.Requests {
		b := f.last[(blk.Offset+i)%int64(len(f.last))]
		if b.Class == InputNormal {
			continue
		}
		res.Errors++
		res.Requests--
		res.ErrorsByKind = map[string]int64{errKindRuntime: res.Errors}
		rec.fail(errKindRuntime, b.Class, b.FirstRow)
	}
	res.ErrorsByClass, res.ErrorExamples = rec.byClass, rec.examples
	return res, nil
}

func TestMeasureCountsErrorsByInput(t *testing.T) {
	var log []string
	a := &classTarget{fakeTarget{name: "A", latency: 100 * time.Microsecond, log: &log}}
	b := &classTarget{fakeTarget{name: "B", latency: 100 * time.Microsecond, log: &log}}
	// 200 batches: one long one is above the 0.99 quantile of sizes.
	src := &classSource{fakeSource: fakeSource{n: 200, targets: 2}, nan: 3, empty: 5, long: 7, null: 9}
	plan := Plan{Warmup: Amount{Requests: 10}, Measure: Amount{Requests: 400}, Rounds: 2, Concurrency: 1}
	m, err := Measure(context.Background(), []Target{a, b}, src, plan, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Sizes == nil || m.Sizes.Oversize != 4 {
		t.Fatalf("sizes scan %+v", m.Sizes)
	}
	for _, tm := range m.Targets {
		c := tm.ErrorsByClass
		if c[InputNaN] == 0 || c[InputNaN] != c[InputEmpty] || c[InputNaN] != c[InputOversized] || c[InputNaN] != c[InputNull] || c[InputNormal] != 0 {
			t.Errorf("%s: errors by class %v", tm.Info.Name, c)
		}
		if sum := c[InputNaN] + c[InputEmpty] + c[InputOversized] + c[InputNull]; sum != tm.Errors {
			t.Errorf("%s: %d errors, %d by class", tm.Info.Name, tm.Errors, sum)
		}
		ex := slices.Sorted(slices.Values(tm.ErrorExamples[errKindRuntime]))
		if !slices.Equal(ex, []int64{3, 5, 7, 9}) {
			t.Errorf("%s: example rows %v", tm.Info.Name, ex)
		}
		r, err := tm.ToResult(result.RoleCandidate)
		if err != nil {
			t.Fatal(err)
		}
		if r.Errors.ByClass[InputNaN] != c[InputNaN] || !slices.Equal(slices.Sorted(slices.Values(r.Errors.Examples[errKindRuntime])), []int64{3, 5, 7, 9}) {
			t.Errorf("%s: result errors %+v", tm.Info.Name, r.Errors)
		}
	}
}
