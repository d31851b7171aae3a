package loader

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// rowIDs returns the x values (= dataset row indices) of a stream bound to
// x, checking that FirstRow agrees.
func rowIDs(t *testing.T, batches []*Batch) []int64 {
	t.Helper()
	var ids []int64
	for i, b := range batches {
		if b.Index != i {
			t.Errorf("batch %d has Index %d", i, b.Index)
		}
		xs := floats(t, b.Tensors[0][0].Data)
		if len(xs) != b.Rows {
			t.Fatalf("batch %d: %d values for %d rows", i, len(xs), b.Rows)
		}
		if int64(xs[0]) != b.FirstRow {
			t.Errorf("batch %d: FirstRow %d but first x %v", i, b.FirstRow, xs[0])
		}
		for _, x := range xs {
			ids = append(ids, int64(x))
		}
	}
	return ids
}

func xBinding(t *testing.T, ds *Dataset) *Binding {
	return mustBind(t, ds, []InputSpec{{Name: "x", DType: Float32, Shape: []int64{-1}}}, BindOptions{})
}

func TestStreamAcrossRecords(t *testing.T) {
	ds := openChecked(t, mixedFile(t, 23))
	b := xBinding(t, ds)
	src, err := NewSource(ds, []*Binding{b}, SourceOptions{BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	// Tiny arrow records make batches straddle records and row groups.
	src.readRows = 3
	if err := src.Rewind(); err != nil {
		t.Fatal(err)
	}
	var batches []*Batch
	for {
		batch, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, batch)
	}
	ids := rowIDs(t, batches)
	if len(batches) != 6 || batches[5].Rows != 3 || len(ids) != 23 {
		t.Fatalf("got %d batches, %d rows", len(batches), len(ids))
	}
	for i, id := range ids {
		if id != int64(i) {
			t.Fatalf("row %d has x %d", i, id)
		}
	}
	// Next after EOF stays at EOF.
	if _, err := src.Next(context.Background()); !errors.Is(err, io.EOF) {
		t.Errorf("after EOF: %v", err)
	}
}

func TestRowsLimitAndRewind(t *testing.T) {
	ds := openChecked(t, mixedFile(t, 20))
	b := xBinding(t, ds)
	src, err := NewSource(ds, []*Binding{b}, SourceOptions{BatchSize: 3, Rows: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	drain := func() []int64 {
		var bs []*Batch
		for {
			batch, err := src.Next(context.Background())
			if errors.Is(err, io.EOF) {
				return rowIDs(t, bs)
			}
			if err != nil {
				t.Fatal(err)
			}
			bs = append(bs, batch)
		}
	}
	first := drain()
	if !reflect.DeepEqual(first, []int64{0, 1, 2, 3, 4, 5, 6}) {
		t.Errorf("rows = %v", first)
	}
	if err := src.Rewind(); err != nil {
		t.Fatal(err)
	}
	if again := drain(); !reflect.DeepEqual(again, first) {
		t.Errorf("after Rewind: %v", again)
	}
	// Rows beyond the dataset means all rows.
	if got := rowIDs(t, readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 8, Rows: 100})); len(got) != 20 {
		t.Errorf("Rows 100: %d rows", len(got))
	}
}

func TestShuffle(t *testing.T) {
	ds := openChecked(t, mixedFile(t, 50))
	b := xBinding(t, ds)
	read := func(seed, rows int64) []int64 {
		return rowIDs(t, readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 7, Shuffle: true, Seed: seed, Rows: rows}))
	}
	a, a2, c := read(1, 0), read(1, 0), read(2, 0)
	if !reflect.DeepEqual(a, a2) {
		t.Errorf("same seed, different order:\n%v\n%v", a, a2)
	}
	if reflect.DeepEqual(a, c) {
		t.Errorf("different seeds, same order: %v", a)
	}
	sorted := slices.Sorted(slices.Values(a))
	for i, v := range sorted {
		if v != int64(i) {
			t.Fatalf("shuffled rows are not a permutation: %v", a)
		}
	}
	if slices.IsSorted(a) {
		t.Errorf("not shuffled: %v", a)
	}
	// A sample is the prefix of the same permutation, whether the sampler
	// takes its dense or its sparse path.
	if s := read(1, 10); !reflect.DeepEqual(s, a[:10]) {
		t.Errorf("Rows 10 = %v, want %v", s, a[:10])
	}
	if s := read(1, 3); !reflect.DeepEqual(s, a[:3]) {
		t.Errorf("Rows 3 = %v, want %v", s, a[:3])
	}

	// Rewind replays the same order; other inputs follow the same rows.
	lb := mustBind(t, ds, []InputSpec{{Name: "lab", DType: Int64, Shape: []int64{-1}},
		{Name: "seq", DType: Float32, Shape: []int64{-1, -1}}}, BindOptions{})
	src, err := NewSource(ds, []*Binding{b, lb}, SourceOptions{BatchSize: 50, Shuffle: true, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for range 2 {
		batch, err := src.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		x := floats(t, batch.Tensors[0][0].Data)
		lab := batch.Tensors[1][0].Data.([]int64)
		seq := floats(t, batch.Tensors[1][1].Data)
		if int64(x[0]) != a[0] || batch.FirstRow != a[0] {
			t.Errorf("first row %v, want %d", x[0], a[0])
		}
		L := int(batch.Tensors[1][1].Shape[1])
		for i := range x {
			if float64(lab[i]) != x[i] || seq[i*L] != 100*x[i] {
				t.Fatalf("row %d: x %v lab %d seq %v", i, x[i], lab[i], seq[i*L])
			}
		}
		if _, err := src.Next(context.Background()); !errors.Is(err, io.EOF) {
			t.Fatalf("want EOF, got %v", err)
		}
		if err := src.Rewind(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSamplePermutationPaths(t *testing.T) {
	// The dense path is taken for n <= 4k; forcing both on the same draw
	// sequence must agree.
	dense := samplePermutation(40, 10, 9)
	full := samplePermutation(40, 40, 9)
	if !reflect.DeepEqual(dense, full[:10]) {
		t.Errorf("dense %v vs %v", dense, full[:10])
	}
	sparse := samplePermutation(1000, 5, 9)
	fullBig := samplePermutation(1000, 1000, 9)
	if !reflect.DeepEqual(sparse, fullBig[:5]) {
		t.Errorf("sparse %v vs %v", sparse, fullBig[:5])
	}
}

func TestTwoBindingsSameRows(t *testing.T) {
	ds := openChecked(t, mixedFile(t, 10))
	cand := mustBind(t, ds, []InputSpec{{Name: "x", DType: Float32, Shape: []int64{-1}}}, BindOptions{})
	prod := mustBind(t, ds, []InputSpec{{Name: "in", DType: Float64, Shape: []int64{-1, 3}},
		{Name: "x", DType: Float16, Shape: []int64{-1, 1}}},
		BindOptions{InputMap: map[string]string{"in": "f*"}})
	batches := readAll(t, ds, []*Binding{cand, prod}, SourceOptions{BatchSize: 4})
	for _, batch := range batches {
		if len(batch.Tensors) != 2 || len(batch.Tensors[1]) != 2 || len(batch.Sizes) != 2 {
			t.Fatalf("batch layout %+v", batch)
		}
		x := floats(t, batch.Tensors[0][0].Data)
		in := floats(t, batch.Tensors[1][0].Data)
		xh := floats(t, batch.Tensors[1][1].Data)
		for i := range x {
			if in[3*i] != 10*x[i] || xh[i] != x[i] {
				t.Errorf("row %v: in %v x16 %v", x[i], in[3*i], xh[i])
			}
		}
		if batch.Sizes[1].Elements != int64(4*batch.Rows) {
			t.Errorf("Sizes[1] = %+v", batch.Sizes[1])
		}
	}
}

func TestFixedBatchDim(t *testing.T) {
	ds := openChecked(t, mixedFile(t, 10))
	b := mustBind(t, ds, []InputSpec{{Name: "x", DType: Float32, Shape: []int64{1}}}, BindOptions{})
	_, err := NewSource(ds, []*Binding{b}, SourceOptions{BatchSize: 4})
	wantInputErr(t, err, "model input x has a fixed batch size of 1; use --batch-size 1")
	if got := readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 1}); len(got) != 10 {
		t.Errorf("%d batches", len(got))
	}
	b = mustBind(t, ds, []InputSpec{{Name: "x", DType: Float32, Shape: []int64{4}}}, BindOptions{})
	_, err = NewSource(ds, []*Binding{b}, SourceOptions{BatchSize: 4})
	wantInputErr(t, err, "fixed batch size of 4 but the last batch would have 2 rows")
	if _, err := tryReadAll(ds, []*Binding{b}, SourceOptions{BatchSize: 4, Rows: 8}); err != nil {
		t.Error(err)
	}
	_, err = NewSource(ds, []*Binding{b}, SourceOptions{BatchSize: 0})
	wantInputErr(t, err, "batch size must be at least 1")
}

func TestFillsOnly(t *testing.T) {
	ds := openChecked(t, mixedFile(t, 5))
	b := mustBind(t, ds, []InputSpec{{Name: "z", DType: Float32, Shape: []int64{-1, 2}}}, BindOptions{Fills: []Fill{{Input: "z", Value: 1}}})
	for _, shuffle := range []bool{false, true} {
		batches := readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 2, Shuffle: shuffle})
		if len(batches) != 3 || batches[2].Rows != 1 || !reflect.DeepEqual(batches[2].Tensors[0][0].Shape, []int64{1, 2}) {
			t.Errorf("shuffle=%v: %+v", shuffle, batches)
		}
	}
}

func TestNullsRefused(t *testing.T) {
	fields := []arrow.Field{
		{Name: "f3", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Float32), Nullable: true},
		{Name: "v", Type: arrow.ListOf(arrow.PrimitiveTypes.Float32), Nullable: true},
	}
	path := writeParquet(t, t.TempDir(), "nulls.parquet", fields, 6, func(b *array.RecordBuilder) {
		for i := 0; i < 20; i++ {
			if i == 17 {
				b.Field(0).AppendNull()
			} else {
				b.Field(0).(*array.Float32Builder).Append(float32(i))
			}
			lb := b.Field(1).(*array.ListBuilder)
			if i == 11 {
				lb.AppendNull()
			} else {
				lb.Append(true)
				lb.ValueBuilder().(*array.Float32Builder).Append(1)
			}
			vb := b.Field(2).(*array.ListBuilder)
			vb.Append(true)
			vb.ValueBuilder().(*array.Float32Builder).Append(1)
			if i == 4 {
				vb.ValueBuilder().AppendNull()
			} else {
				vb.ValueBuilder().(*array.Float32Builder).Append(2)
			}
		}
	})
	ds := openChecked(t, path)
	for name, want := range map[string]string{
		"f3": "column f3 row 17 is null",
		"l":  "column l row 11 is null",
		"v":  "column v row 4 has a null value",
	} {
		shape := []int64{-1, -1}
		if name == "f3" {
			shape = []int64{-1}
		}
		b := mustBind(t, ds, []InputSpec{{Name: name, DType: Float32, Shape: shape}}, BindOptions{})
		for _, shuffle := range []bool{false, true} {
			_, err := tryReadAll(ds, []*Binding{b}, SourceOptions{BatchSize: 5, Shuffle: shuffle})
			wantInputErr(t, err, want)
		}
	}
	// Rows before the null are fine.
	b := mustBind(t, ds, []InputSpec{{Name: "f3", DType: Float32, Shape: []int64{-1}}}, BindOptions{})
	if _, err := tryReadAll(ds, []*Binding{b}, SourceOptions{BatchSize: 5, Rows: 17}); err != nil {
		t.Error(err)
	}
}

func TestVariableListFixedShape(t *testing.T) {
	// A plain list column whose rows all hold 12 values fits [batch,3,4].
	path := writeParquet(t, t.TempDir(), "l.parquet", []arrow.Field{{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Float64)}}, 0,
		func(b *array.RecordBuilder) {
			lb := b.Field(0).(*array.ListBuilder)
			for i := 0; i < 3; i++ {
				lb.Append(true)
				for j := 0; j < 12; j++ {
					lb.ValueBuilder().(*array.Float64Builder).Append(float64(j))
				}
			}
		})
	ds := openChecked(t, path)
	b := mustBind(t, ds, []InputSpec{{Name: "l", DType: Float32, Shape: []int64{-1, 3, 4}}}, BindOptions{})
	batch := readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 3})[0]
	if !reflect.DeepEqual(batch.Tensors[0][0].Shape, []int64{3, 3, 4}) || batch.Sizes[0] != (SizeMeasure{Elements: 36}) {
		t.Errorf("got %v %+v", batch.Tensors[0][0].Shape, batch.Sizes[0])
	}
	b = mustBind(t, ds, []InputSpec{{Name: "l", DType: Float32, Shape: []int64{-1, 5}}}, BindOptions{})
	_, err := tryReadAll(ds, []*Binding{b}, SourceOptions{BatchSize: 3})
	wantInputErr(t, err, "column l row 0 has 12 values; model input l declares shape [-1,5]")
	b = mustBind(t, ds, []InputSpec{{Name: "l", DType: Float32, Shape: []int64{-1, 5, -1}}}, BindOptions{})
	_, err = tryReadAll(ds, []*Binding{b}, SourceOptions{BatchSize: 3})
	wantInputErr(t, err, "column l row 0 has 12 values, which model input l shape [-1,5,-1] cannot hold")
	_, err = NewBinding(ds, []InputSpec{{Name: "l", DType: Float32, Shape: []int64{-1, -1, -1}}}, BindOptions{})
	wantInputErr(t, err, "2 free dims", "ambiguous")
}

func TestContextCancel(t *testing.T) {
	ds := openChecked(t, mixedFile(t, 5))
	src, err := NewSource(ds, []*Binding{xBinding(t, ds)}, SourceOptions{BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := src.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	// Cancellation is not sticky.
	if _, err := src.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "data.csv")
	os.WriteFile(text, []byte("a,b,c\n1,2,3\n4,5,6\n7,8,9\n"), 0o644)
	tiny := filepath.Join(dir, "tiny.parquet")
	os.WriteFile(tiny, []byte("PAR1"), 0o644)
	empty := writeParquet(t, dir, "empty.parquet", []arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Float32}}, 0, func(*array.RecordBuilder) {})
	truncated := filepath.Join(dir, "truncated.parquet")
	good, _ := os.ReadFile(mixedFile(t, 10))
	os.WriteFile(truncated, append(good[:len(good)/2:len(good)/2], good[len(good)-8:]...), 0o644)

	cases := []struct{ path, want string }{
		{filepath.Join(dir, "nope.parquet"), "nope.parquet: file not found"},
		{dir, "is a directory, not a parquet file"},
		{text, "data.csv is not a parquet file"},
		{tiny, "tiny.parquet is not a parquet file (only 4 bytes)"},
		{empty, "empty.parquet has no rows"},
		{truncated, "truncated.parquet: corrupt or unsupported parquet"},
	}
	for _, c := range cases {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		ds, err := Open(c.path, ReadOptions{Allocator: mem})
		if ds != nil {
			t.Errorf("%s: got a dataset", c.path)
		}
		wantInputErr(t, err, c.want)
		mem.AssertSize(t, 0)
	}

	if os.Geteuid() != 0 { // root reads anything
		locked := filepath.Join(dir, "locked.parquet")
		os.WriteFile(locked, good, 0o000)
		_, err := Open(locked, ReadOptions{})
		wantInputErr(t, err, "locked.parquet: permission denied")
	}
}

func TestCheckedAllocatorSeesReads(t *testing.T) {
	// Guards the leak assertions elsewhere: reads really go through the
	// allocator passed in ReadOptions.
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	ds, err := Open(mixedFile(t, 10), ReadOptions{Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	src, err := NewSource(ds, []*Binding{xBinding(t, ds)}, SourceOptions{BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	if mem.CurrentAlloc() == 0 {
		t.Error("an open source holds no arrow memory from the allocator")
	}
	src.Close()
	mem.AssertSize(t, 0)
}

// A sample keeps rows spread evenly over those the other options select,
// in their order, the same every time.
func TestSample(t *testing.T) {
	ds := openChecked(t, mixedFile(t, 50))
	b := xBinding(t, ds)
	read := func(opts SourceOptions) []int64 {
		return rowIDs(t, readAll(t, ds, []*Binding{b}, opts))
	}
	if got, want := read(SourceOptions{BatchSize: 3, Sample: 8}), []int64{0, 6, 12, 18, 25, 31, 37, 43}; !reflect.DeepEqual(got, want) {
		t.Errorf("Sample 8 of 50 = %v, want %v", got, want)
	}
	// Spread over the first Rows rows only.
	if got, want := read(SourceOptions{BatchSize: 2, Rows: 20, Sample: 4}), []int64{0, 5, 10, 15}; !reflect.DeepEqual(got, want) {
		t.Errorf("Sample 4 of Rows 20 = %v, want %v", got, want)
	}
	// A sample as large as the selection is the selection, streamed.
	if got := read(SourceOptions{BatchSize: 7, Sample: 50}); len(got) != 50 || !slices.IsSorted(got) || got[49] != 49 {
		t.Errorf("Sample 50 of 50 = %v", got)
	}
	// With Shuffle: evenly spaced positions of the shuffled order.
	perm := read(SourceOptions{BatchSize: 7, Shuffle: true, Seed: 3})
	got := read(SourceOptions{BatchSize: 2, Shuffle: true, Seed: 3, Sample: 5})
	if want := []int64{perm[0], perm[10], perm[20], perm[30], perm[40]}; !reflect.DeepEqual(got, want) {
		t.Errorf("shuffled sample = %v, want %v", got, want)
	}

	// Rewind replays the same rows, in batches of the asked size.
	src, err := NewSource(ds, []*Binding{b}, SourceOptions{BatchSize: 3, Sample: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for pass := range 2 {
		var batches []*Batch
		for {
			batch, err := src.Next(context.Background())
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			batches = append(batches, batch)
		}
		if len(batches) != 3 || batches[2].Rows != 2 || rowIDs(t, batches)[7] != 43 {
			t.Fatalf("pass %d: %d batches, rows %v", pass, len(batches), rowIDs(t, batches))
		}
		if err := src.Rewind(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSpreadPositions(t *testing.T) {
	if got, want := spreadPositions(10, 4), []int64{0, 2, 5, 7}; !reflect.DeepEqual(got, want) {
		t.Errorf("spreadPositions(10, 4) = %v, want %v", got, want)
	}
	if got := spreadPositions(5, 5); !reflect.DeepEqual(got, []int64{0, 1, 2, 3, 4}) {
		t.Errorf("spreadPositions(5, 5) = %v", got)
	}
	// i·n does not overflow 64 bits for huge n.
	n := int64(1) << 62
	if got := spreadPositions(n, 4); !reflect.DeepEqual(got, []int64{0, n / 4, n / 2, 3 * (n / 4)}) {
		t.Errorf("spreadPositions(2^62, 4) = %v", got)
	}
}
