// Command genbig writes a large Parquet test set for the loader memory
// benchmark (make bench-loader): rows of an int64 id and a 64-float32 list
// column "features", written in record batches so the writer itself stays
// small, with 1M-row row groups (the layout that made pqarrow's default
// reader hold whole column chunks in memory).
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

func main() {
	out := flag.String("out", "", "output file")
	rows := flag.Int64("rows", 4_000_000, "rows to write (4M rows of 64 floats is about 1 GB)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "genbig: -out is required")
		os.Exit(2)
	}
	if err := write(*out, *rows); err != nil {
		fmt.Fprintln(os.Stderr, "genbig:", err)
		os.Exit(1)
	}
}

func write(path string, rows int64) error {
	const width = 64
	const chunk = 65536
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "features", Type: arrow.ListOf(arrow.PrimitiveTypes.Float32)},
	}, nil)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	props := parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(1_000_000), parquet.WithDictionaryDefault(false))
	w, err := pqarrow.NewFileWriter(schema, f, props, pqarrow.DefaultWriterProps())
	if err != nil {
		return err
	}
	mem := memory.NewGoAllocator()
	rng := rand.New(rand.NewPCG(1, 2))
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	ids := b.Field(0).(*array.Int64Builder)
	lists := b.Field(1).(*array.ListBuilder)
	vals := lists.ValueBuilder().(*array.Float32Builder)
	for done := int64(0); done < rows; {
		n := min(chunk, rows-done)
		for i := int64(0); i < n; i++ {
			ids.Append(done + i)
			lists.Append(true)
			for range width {
				vals.Append(rng.Float32())
			}
		}
		rec := b.NewRecordBatch()
		err := w.WriteBuffered(rec)
		rec.Release()
		if err != nil {
			return err
		}
		done += n
	}
	return w.Close()
}
