package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/infergate/infergate/internal/onnxgen"
)

// Row counts of the generated data sets.
const (
	exampleRows = 2000
	mlpRows     = 256
	seqRows     = 64
	typesRows   = 32
)

// Deterministic seeds of the data sets.
const (
	seedExampleData = 3001
	seedMLPData     = 3002
	seedSeqData     = 3003
	seedCorrupt     = 3004
)

// createdBy is written instead of the library's version string so that an
// arrow-go upgrade alone does not change the files.
const createdBy = "infergate examples/gen"

// output is one generated file.
type output struct {
	Dir  string // "examples" or "testdata"
	Name string
	Data []byte
}

// generate builds every file in memory, in a fixed order.
func generate() ([]output, error) {
	var outs []output
	add := func(dir, name string, data []byte, err error) error {
		if err != nil {
			return fmt.Errorf("%s/%s: %w", dir, name, err)
		}
		outs = append(outs, output{Dir: dir, Name: name, Data: data})
		return nil
	}
	for _, s := range mlpSpecs {
		b, err := s.MLP().Graph().Model().Marshal()
		if err := add(s.Dir, s.File, b, err); err != nil {
			return nil, err
		}
	}
	for _, dt := range castDTypes {
		b, err := onnxgen.CastSum(dt, castWidth).Model().Marshal()
		if err := add("testdata", "cast_"+dt.String()+".onnx", b, err); err != nil {
			return nil, err
		}
	}
	b, err := onnxgen.Seq().Model().Marshal()
	if err := add("testdata", "seq.onnx", b, err); err != nil {
		return nil, err
	}
	b, err = onnxgen.Fill().Model().Marshal()
	if err := add("testdata", "fill.onnx", b, err); err != nil {
		return nil, err
	}
	for _, s := range seqCostSpecs {
		b, err := s.Model().Graph().Model().Marshal()
		if err := add("testdata", s.File, b, err); err != nil {
			return nil, err
		}
	}

	b, err = exampleParquet()
	if err := add("examples", "test_data.parquet", b, err); err != nil {
		return nil, err
	}
	b, err = mlpParquet()
	if err := add("testdata", "mlp.parquet", b, err); err != nil {
		return nil, err
	}
	b, err = seqParquet()
	if err := add("testdata", "seq.parquet", b, err); err != nil {
		return nil, err
	}
	b, err = typesParquet()
	if err := add("testdata", "types.parquet", b, err); err != nil {
		return nil, err
	}
	b, err = emptyParquet()
	if err := add("testdata", "empty.parquet", b, err); err != nil {
		return nil, err
	}

	r := onnxgen.NewRNG(seedCorrupt)
	garbage := make([]byte, 200)
	for i := range garbage {
		garbage[i] = byte(r.Uint64())
	}
	if err := add("testdata", "corrupt.onnx", garbage, nil); err != nil {
		return nil, err
	}
	notParquet := []byte("This is a plain text file, not a Parquet file.\n" +
		"infergate must reject it with a clear error instead of crashing.\n")
	if err := add("testdata", "not_parquet.parquet", notParquet, nil); err != nil {
		return nil, err
	}
	return outs, nil
}

// writeAll writes the generated files under examplesDir and testdataDir.
func writeAll(outs []output, examplesDir, testdataDir string) error {
	for _, o := range outs {
		p := o.path(examplesDir, testdataDir)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, o.Data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (o output) path(examplesDir, testdataDir string) string {
	if o.Dir == "examples" {
		return filepath.Join(examplesDir, o.Name)
	}
	return filepath.Join(testdataDir, o.Name)
}

// ---- Parquet ----

func writeParquet(schema *arrow.Schema, rec arrow.RecordBatch, rowGroup int64) ([]byte, error) {
	var buf bytes.Buffer
	props := parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithMaxRowGroupLength(rowGroup),
		parquet.WithCreatedBy(createdBy),
	)
	w, err := pqarrow.NewFileWriter(schema, &buf, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return nil, err
	}
	if rec != nil {
		if err := w.Write(rec); err != nil {
			w.Close()
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func field(name string, t arrow.DataType) arrow.Field {
	return arrow.Field{Name: name, Type: t, Nullable: true}
}

// features returns rows x 64 values uniform in [-1, 1).
func features(seed uint64, rows int) [][]float32 {
	r := onnxgen.NewRNG(seed)
	out := make([][]float32, rows)
	for i := range out {
		out[i] = make([]float32, mlpIn)
		for j := range out[i] {
			out[i][j] = r.Uniform(-1, 1)
		}
	}
	return out
}

// ExampleFeatures is the content of examples/test_data.parquet's features.
func exampleFeatures() [][]float32 { return features(seedExampleData, exampleRows) }

// MLPFeatures is the content of testdata/mlp.parquet's features.
func mlpFeatures() [][]float32 { return features(seedMLPData, mlpRows) }

// exampleParquet: id int64, features list<float32>[64], f0..f63 float32,
// 2,000 rows in row groups of 500.
func exampleParquet() ([]byte, error) {
	data := exampleFeatures()
	fields := []arrow.Field{field("id", arrow.PrimitiveTypes.Int64), field("features", arrow.ListOf(arrow.PrimitiveTypes.Float32))}
	for j := 0; j < mlpIn; j++ {
		fields = append(fields, field(fmt.Sprintf("f%d", j), arrow.PrimitiveTypes.Float32))
	}
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	ids := b.Field(0).(*array.Int64Builder)
	lb := b.Field(1).(*array.ListBuilder)
	vb := lb.ValueBuilder().(*array.Float32Builder)
	for i, row := range data {
		ids.Append(int64(i))
		lb.Append(true)
		vb.AppendValues(row, nil)
		for j, v := range row {
			b.Field(2 + j).(*array.Float32Builder).Append(v)
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return writeParquet(schema, rec, 500)
}

// mlpParquet: features list<float32>[64], id int64; 256 rows in row groups
// of 100 (so 3 row groups: 100, 100, 56).
func mlpParquet() ([]byte, error) {
	data := mlpFeatures()
	schema := arrow.NewSchema([]arrow.Field{
		field("features", arrow.ListOf(arrow.PrimitiveTypes.Float32)),
		field("id", arrow.PrimitiveTypes.Int64),
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	lb := b.Field(0).(*array.ListBuilder)
	vb := lb.ValueBuilder().(*array.Float32Builder)
	ids := b.Field(1).(*array.Int64Builder)
	for i, row := range data {
		lb.Append(true)
		vb.AppendValues(row, nil)
		ids.Append(int64(i))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return writeParquet(schema, rec, 100)
}

// seqIDs is the content of testdata/seq.parquet: 64 rows of token ids with
// lengths 3..40 (every length in that range occurs), ids in 1..30000.
func seqIDs() [][]int64 {
	r := onnxgen.NewRNG(seedSeqData)
	out := make([][]int64, seqRows)
	for i := range out {
		n := 3 + i%38
		if i >= 38 {
			n = 3 + r.Intn(38)
		}
		out[i] = make([]int64, n)
		for j := range out[i] {
			out[i][j] = 1 + int64(r.Intn(30000))
		}
	}
	return out
}

func seqParquet() ([]byte, error) {
	schema := arrow.NewSchema([]arrow.Field{field("input_ids", arrow.ListOf(arrow.PrimitiveTypes.Int64))}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	lb := b.Field(0).(*array.ListBuilder)
	vb := lb.ValueBuilder().(*array.Int64Builder)
	for _, row := range seqIDs() {
		lb.Append(true)
		vb.AppendValues(row, nil)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return writeParquet(schema, rec, 1<<20)
}

// typesValue is the value of element j of row r in testdata/types.parquet
// (j = 0 for the scalar columns): an integer in [-9, 9]. Signed integer
// columns hold v, unsigned ones v+9, float ones v/4 (exact in float16), and
// bool ones v%2 != 0.
func typesValue(r, j int) int {
	return (r*castWidth+j)*7%19 - 9
}

// typesParquet: 32 rows, one scalar column per arrow type and list columns
// of length 4 for the element types of the cast models.
func typesParquet() ([]byte, error) {
	type col struct {
		name string
		typ  arrow.DataType
	}
	scalars := []col{
		{"f16", arrow.FixedWidthTypes.Float16}, {"f32", arrow.PrimitiveTypes.Float32}, {"f64", arrow.PrimitiveTypes.Float64},
		{"i8", arrow.PrimitiveTypes.Int8}, {"i16", arrow.PrimitiveTypes.Int16}, {"i32", arrow.PrimitiveTypes.Int32}, {"i64", arrow.PrimitiveTypes.Int64},
		{"u8", arrow.PrimitiveTypes.Uint8}, {"u16", arrow.PrimitiveTypes.Uint16}, {"u32", arrow.PrimitiveTypes.Uint32}, {"u64", arrow.PrimitiveTypes.Uint64},
		{"b", arrow.FixedWidthTypes.Boolean},
	}
	lists := []col{
		{"x_f32", arrow.PrimitiveTypes.Float32}, {"x_f64", arrow.PrimitiveTypes.Float64}, {"x_f16", arrow.FixedWidthTypes.Float16},
		{"x_i64", arrow.PrimitiveTypes.Int64}, {"x_i32", arrow.PrimitiveTypes.Int32}, {"x_i8", arrow.PrimitiveTypes.Int8},
		{"x_u8", arrow.PrimitiveTypes.Uint8}, {"x_b", arrow.FixedWidthTypes.Boolean},
	}
	var fields []arrow.Field
	for _, c := range scalars {
		fields = append(fields, field(c.name, c.typ))
	}
	for _, c := range lists {
		fields = append(fields, field(c.name, arrow.ListOf(c.typ)))
	}
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	appendValue := func(bld array.Builder, v int) error {
		switch x := bld.(type) {
		case *array.Float16Builder:
			x.Append(float16.New(float32(v) / 4))
		case *array.Float32Builder:
			x.Append(float32(v) / 4)
		case *array.Float64Builder:
			x.Append(float64(v) / 4)
		case *array.Int8Builder:
			x.Append(int8(v))
		case *array.Int16Builder:
			x.Append(int16(v))
		case *array.Int32Builder:
			x.Append(int32(v))
		case *array.Int64Builder:
			x.Append(int64(v))
		case *array.Uint8Builder:
			x.Append(uint8(v + 9))
		case *array.Uint16Builder:
			x.Append(uint16(v + 9))
		case *array.Uint32Builder:
			x.Append(uint32(v + 9))
		case *array.Uint64Builder:
			x.Append(uint64(v + 9))
		case *array.BooleanBuilder:
			x.Append(v%2 != 0)
		default:
			return fmt.Errorf("unexpected builder %T", bld)
		}
		return nil
	}
	for r := 0; r < typesRows; r++ {
		for i := range scalars {
			if err := appendValue(b.Field(i), typesValue(r, 0)); err != nil {
				return nil, err
			}
		}
		for i := range lists {
			lb := b.Field(len(scalars) + i).(*array.ListBuilder)
			lb.Append(true)
			for j := 0; j < castWidth; j++ {
				if err := appendValue(lb.ValueBuilder(), typesValue(r, j)); err != nil {
					return nil, err
				}
			}
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return writeParquet(schema, rec, 1<<20)
}

// emptyParquet: features list<float32>, id int64, zero rows (and zero row
// groups).
func emptyParquet() ([]byte, error) {
	schema := arrow.NewSchema([]arrow.Field{
		field("features", arrow.ListOf(arrow.PrimitiveTypes.Float32)),
		field("id", arrow.PrimitiveTypes.Int64),
	}, nil)
	return writeParquet(schema, nil, 1<<20)
}
