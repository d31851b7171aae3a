package loader

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// writeWideFile writes rows of 64 float32 values as a fixed_size_list
// column, in slices so the writer never holds the whole file in memory.
func writeWideFile(b *testing.B, path string, rows int) {
	const width, chunk = 64, 16384
	sc := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.FixedSizeListOf(width, arrow.PrimitiveTypes.Float32)}}, nil)
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(sc, f,
		parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(64<<10), parquet.WithDictionaryDefault(false)),
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rb := array.NewRecordBuilder(memory.NewGoAllocator(), sc)
	defer rb.Release()
	lb := rb.Field(0).(*array.FixedSizeListBuilder)
	vb := lb.ValueBuilder().(*array.Float32Builder)
	for done := 0; done < rows; done += chunk {
		for i := 0; i < min(chunk, rows-done); i++ {
			lb.Append(true)
			for j := 0; j < width; j++ {
				vb.Append(rng.Float32())
			}
		}
		rec := rb.NewRecordBatch()
		if err := w.Write(rec); err != nil {
			b.Fatal(err)
		}
		rec.Release()
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkStream measures streaming throughput over a ~50 MB file of
// 64-float32 rows, batched 256 rows at a time into [256, 64] tensors.
func BenchmarkStream(b *testing.B) {
	const rows = 200_000 // 200k rows * 256 B = ~51 MB of float data
	path := filepath.Join(b.TempDir(), "wide.parquet")
	writeWideFile(b, path, rows)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("batch256", func(b *testing.B) {
		ds, err := Open(path, ReadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer ds.Close()
		bind, err := NewBinding(ds, []InputSpec{{Name: "x", DType: Float32, Shape: []int64{-1, 64}}}, BindOptions{})
		if err != nil {
			b.Fatal(err)
		}
		src, err := NewSource(ds, []*Binding{bind}, SourceOptions{BatchSize: 256})
		if err != nil {
			b.Fatal(err)
		}
		defer src.Close()
		b.SetBytes(st.Size())
		b.ResetTimer()
		start := time.Now()
		var total int64
		for i := 0; i < b.N; i++ {
			if err := src.Rewind(); err != nil {
				b.Fatal(err)
			}
			for {
				batch, err := src.Next(context.Background())
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				total += int64(batch.Rows)
			}
		}
		b.ReportMetric(float64(total)/time.Since(start).Seconds(), "rows/s")
	})
}
