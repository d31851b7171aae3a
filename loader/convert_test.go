package loader

import (
	"fmt"
	"math"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

func TestFloat64ToHalf(t *testing.T) {
	cases := []struct {
		in   float64
		want uint16
	}{
		{0, 0x0000},
		{math.Copysign(0, -1), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{0.5, 0x3800},
		{65504, 0x7bff},                         // max half
		{65519, 0x7bff},                         // rounds down
		{65520, 0x7c00},                         // tie rounds to even: overflow to Inf
		{1e10, 0x7c00},                          // overflow
		{math.Inf(-1), 0xfc00},                  // -Inf
		{math.Ldexp(1, -24), 0x0001},            // smallest subnormal
		{math.Ldexp(1, -25), 0x0000},            // tie to even: 0
		{math.Ldexp(3, -25), 0x0002},            // tie to even: 2
		{math.Ldexp(1, -14), 0x0400},            // smallest normal
		{math.Ldexp(1023, -24), 0x03ff},         // largest subnormal
		{1 + math.Ldexp(1, -11), 0x3c00},        // tie to even: down
		{1 + math.Ldexp(3, -11), 0x3c02},        // tie to even: up
		{1 + math.Ldexp(1, -11) + 1e-9, 0x3c01}, // above tie: up
		{0.1, 0x2e66},
	}
	for _, c := range cases {
		if got := float64ToHalf(c.in); got != c.want {
			t.Errorf("float64ToHalf(%v) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	if h := float64ToHalf(math.NaN()); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("NaN -> %#04x, not a NaN", h)
	}
	// Every finite half round-trips exactly through the decoder.
	for h := 0; h < 0x10000; h++ {
		if h&0x7c00 == 0x7c00 {
			continue
		}
		f := halfToFloat32(uint16(h))
		if got := float64ToHalf(float64(f)); got != uint16(h) && !(f == 0 && got&0x7fff == 0) {
			t.Fatalf("half %#04x -> %v -> %#04x", h, f, got)
		}
	}
}

// allTypesFile writes one column per supported source type, row i holding
// i (bools: i%2).
func allTypesFile(t *testing.T, rows int) string {
	fields := []arrow.Field{
		{Name: "f16", Type: arrow.FixedWidthTypes.Float16},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32},
		{Name: "f64", Type: arrow.PrimitiveTypes.Float64},
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8},
		{Name: "i16", Type: arrow.PrimitiveTypes.Int16},
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32},
		{Name: "i64", Type: arrow.PrimitiveTypes.Int64},
		{Name: "u8", Type: arrow.PrimitiveTypes.Uint8},
		{Name: "u16", Type: arrow.PrimitiveTypes.Uint16},
		{Name: "u32", Type: arrow.PrimitiveTypes.Uint32},
		{Name: "u64", Type: arrow.PrimitiveTypes.Uint64},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean},
	}
	return writeParquet(t, t.TempDir(), "types.parquet", fields, 3, func(b *array.RecordBuilder) {
		for i := 0; i < rows; i++ {
			appendF16(b.Field(0).(*array.Float16Builder), float32(i))
			b.Field(1).(*array.Float32Builder).Append(float32(i))
			b.Field(2).(*array.Float64Builder).Append(float64(i))
			b.Field(3).(*array.Int8Builder).Append(int8(i))
			b.Field(4).(*array.Int16Builder).Append(int16(i))
			b.Field(5).(*array.Int32Builder).Append(int32(i))
			b.Field(6).(*array.Int64Builder).Append(int64(i))
			b.Field(7).(*array.Uint8Builder).Append(uint8(i))
			b.Field(8).(*array.Uint16Builder).Append(uint16(i))
			b.Field(9).(*array.Uint32Builder).Append(uint32(i))
			b.Field(10).(*array.Uint64Builder).Append(uint64(i))
			b.Field(11).(*array.BooleanBuilder).Append(i%2 == 1)
		}
	})
}

func TestConversions(t *testing.T) {
	const rows = 7
	path := allTypesFile(t, rows)
	targets := []DType{Float32, Float64, Float16, Int64, Int32, Int8, Uint8, Bool}
	// allowed[column] lists the target types it may feed.
	allowed := map[string][]DType{
		"f16": {Float32, Float64, Float16},
		"f32": {Float32, Float64, Float16},
		"f64": {Float32, Float64, Float16},
		"i8":  {Float32, Float64, Float16, Int64, Int32, Int8},
		"i16": {Float32, Float64, Float16, Int64, Int32},
		"i32": {Float32, Float64, Float16, Int64, Int32},
		"i64": {Float32, Float64, Float16, Int64},
		"u8":  {Float32, Float64, Float16, Int64, Int32, Uint8},
		"u16": {Float32, Float64, Float16, Int64, Int32},
		"u32": {Float32, Float64, Float16, Int64},
		"u64": {Float32, Float64, Float16},
		"b":   {Float32, Float64, Float16, Int64, Int32, Int8, Uint8, Bool},
	}
	ds := openChecked(t, path)
	for col, ok := range allowed {
		for _, dt := range targets {
			t.Run(fmt.Sprintf("%s_to_%s", col, dt), func(t *testing.T) {
				in := []InputSpec{{Name: "x", DType: dt, Shape: []int64{-1}}}
				b, err := NewBinding(ds, in, BindOptions{InputMap: map[string]string{"x": col}})
				if !contains(ok, dt) {
					wantInputErr(t, err, "column "+col, "model input x "+dt.String(), "values would change")
					return
				}
				if err != nil {
					t.Fatalf("NewBinding: %v", err)
				}
				var got []float64
				for _, batch := range readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 4}) {
					tn := batch.Tensors[0][0]
					if tn.DType != dt || len(tn.Shape) != 1 || tn.Shape[0] != int64(batch.Rows) {
						t.Fatalf("tensor %v %v for %d rows", tn.DType, tn.Shape, batch.Rows)
					}
					got = append(got, floats(t, tn.Data)...)
				}
				var want []float64
				for i := 0; i < rows; i++ {
					if col == "b" {
						want = append(want, float64(i%2))
					} else {
						want = append(want, float64(i))
					}
				}
				if !equalFloats(got, want) {
					t.Errorf("got %v, want %v", got, want)
				}
			})
		}
	}
}

func contains(ds []DType, d DType) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}

func TestLossyConversionMessages(t *testing.T) {
	ds := openChecked(t, allTypesFile(t, 2))
	cases := []struct {
		col  string
		dt   DType
		want string
	}{
		{"f32", Int64, "column f32: float32 does not fit model input x int64; values would change"},
		{"i64", Int32, "column i64: int64 does not fit model input x int32; values would change"},
		{"i64", Int8, "column i64: int64 does not fit model input x int8; values would change"},
		{"f64", Bool, "column f64: float64 does not fit model input x bool"},
		{"u8", Int8, "column u8: uint8 does not fit model input x int8"},
	}
	for _, c := range cases {
		_, err := NewBinding(ds, []InputSpec{{Name: "x", DType: c.dt, Shape: []int64{-1}}},
			BindOptions{InputMap: map[string]string{"x": c.col}})
		wantInputErr(t, err, c.want)
	}
}

func TestFloat16Column(t *testing.T) {
	// Subnormal and fractional halves survive float16 -> float16 and
	// float16 -> float32 exactly.
	vals := []float32{halfToFloat32(0x0001), halfToFloat32(0x03ff), 0.333251953125, -2.5}
	path := writeParquet(t, t.TempDir(), "h.parquet", []arrow.Field{{Name: "h", Type: arrow.FixedWidthTypes.Float16}}, 0,
		func(b *array.RecordBuilder) {
			for _, v := range vals {
				b.Field(0).(*array.Float16Builder).Append(float16FromBits(float64ToHalf(float64(v))))
			}
		})
	ds := openChecked(t, path)
	for _, dt := range []DType{Float16, Float32} {
		b := mustBind(t, ds, []InputSpec{{Name: "h", DType: dt, Shape: []int64{-1}}}, BindOptions{})
		batches := readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 10})
		got := floats(t, batches[0].Tensors[0][0].Data)
		for i, v := range vals {
			if got[i] != float64(v) {
				t.Errorf("%s: value %d = %v, want %v", dt, i, got[i], v)
			}
		}
	}
}
