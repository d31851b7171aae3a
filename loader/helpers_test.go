package loader

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/infergate/infergate/internal/errkind"
)

// writeParquet writes a file of the given schema, letting fill append
// rows through a RecordBuilder. rowGroup > 0 caps rows per row group so
// tests cross row-group and record boundaries.
func writeParquet(t testing.TB, dir, name string, fields []arrow.Field, rowGroup int64, fill func(b *array.RecordBuilder)) string {
	t.Helper()
	sc := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(memory.NewGoAllocator(), sc)
	defer b.Release()
	fill(b)
	rec := b.NewRecordBatch()
	defer rec.Release()

	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	opts := []parquet.WriterProperty{}
	if rowGroup > 0 {
		opts = append(opts, parquet.WithMaxRowGroupLength(rowGroup))
	}
	w, err := pqarrow.NewFileWriter(sc, f, parquet.NewWriterProperties(opts...), pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	// Storing the arrow schema lets fixed_size_list and float16 columns
	// read back as written, as files written by pyarrow do.
	if rec.NumRows() > 0 {
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// openChecked opens path with a checked allocator and makes the test fail
// if any arrow memory is still allocated once the dataset is closed.
func openChecked(t *testing.T, path string) *Dataset {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	ds, err := Open(path, ReadOptions{Allocator: mem})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := ds.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return ds
}

func mustBind(t *testing.T, ds *Dataset, inputs []InputSpec, opts BindOptions) *Binding {
	t.Helper()
	b, err := NewBinding(ds, inputs, opts)
	if err != nil {
		t.Fatalf("NewBinding: %v", err)
	}
	return b
}

// readAll drains a source over bindings and closes it.
func readAll(t *testing.T, ds *Dataset, bindings []*Binding, opts SourceOptions) []*Batch {
	t.Helper()
	batches, err := tryReadAll(ds, bindings, opts)
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	return batches
}

func tryReadAll(ds *Dataset, bindings []*Binding, opts SourceOptions) ([]*Batch, error) {
	src, err := NewSource(ds, bindings, opts)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	var out []*Batch
	for {
		b, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, b)
	}
}

// floats renders tensor data as float64 for comparisons.
func floats(t testing.TB, data any) []float64 {
	t.Helper()
	var out []float64
	switch d := data.(type) {
	case []float32:
		for _, v := range d {
			out = append(out, float64(v))
		}
	case []float64:
		out = append(out, d...)
	case []uint16:
		for _, v := range d {
			out = append(out, float64(halfToFloat32(v)))
		}
	case []int64:
		for _, v := range d {
			out = append(out, float64(v))
		}
	case []int32:
		for _, v := range d {
			out = append(out, float64(v))
		}
	case []int8:
		for _, v := range d {
			out = append(out, float64(v))
		}
	case []uint8:
		for _, v := range d {
			out = append(out, float64(v))
		}
	case []bool:
		for _, v := range d {
			if v {
				out = append(out, 1)
			} else {
				out = append(out, 0)
			}
		}
	default:
		t.Fatalf("unexpected tensor data %T", data)
	}
	return out
}

func wantInputErr(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want error containing %q, got nil", fragments)
	}
	if errkind.Of(err) != errkind.KindInput {
		t.Errorf("error %q is not errkind.Input", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error spans several lines: %q", err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not contain %q", err, f)
		}
	}
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// appendF16 appends v to a float16 builder.
func appendF16(b *array.Float16Builder, v float32) { b.Append(float16.New(v)) }

func float16FromBits(h uint16) float16.Num { return float16.FromBits(h) }
