package loader

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
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
	// allowed[column] lists the target types it may feed. Every value here
	// (0 to 6) fits every type, so integers feed every numeric type: their
	// values, not their types, are checked (TestIntegerValueChecks).
	floatTypes := []DType{Float32, Float64, Float16}
	numeric := []DType{Float32, Float64, Float16, Int64, Int32, Int8, Uint8}
	allowed := map[string][]DType{
		"f16": floatTypes, "f32": floatTypes, "f64": floatTypes,
		"i8": numeric, "i16": numeric, "i32": numeric, "i64": numeric,
		"u8": numeric, "u16": numeric, "u32": numeric, "u64": numeric,
		"b": {Float32, Float64, Float16, Int64, Int32, Int8, Uint8, Bool},
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
		{"f16", Uint8, "column f16: float16 does not fit model input x uint8; values would change"},
		{"f64", Bool, "column f64: float64 does not fit model input x bool"},
		{"i8", Bool, "column i8: int8 does not fit model input x bool"},
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

// TestIntegerValueChecks feeds integer columns to inputs of narrower or
// float types: every value the input holds unchanged passes, and the first
// one it does not stops the read at its batch, naming column, row and
// value. Batches of 2 rows put the offending row in a later batch, so the
// check is shown to run per batch as values are converted.
func TestIntegerValueChecks(t *testing.T) {
	const (
		i32max = "2147483647"
		i32min = "-2147483648"
		f32max = "16777216" // 2^24
		f64max = "9007199254740992"
	)
	cases := []struct {
		typ    arrow.DataType
		dt     DType
		values []string
		bad    int // index of the first value refused; -1: none
	}{
		// int -> float: integers up to 2^11, 2^24, 2^53 in magnitude.
		{arrow.PrimitiveTypes.Int64, Float32, []string{f32max, "-" + f32max, "0", "16777217"}, 3},
		{arrow.PrimitiveTypes.Int64, Float32, []string{"1", "-16777217"}, 1},
		{arrow.PrimitiveTypes.Int32, Float32, []string{f32max, "16777217"}, 1},
		{arrow.PrimitiveTypes.Uint32, Float32, []string{f32max, "16777217"}, 1},
		{arrow.PrimitiveTypes.Int16, Float32, []string{"32767", "-32768"}, -1},
		{arrow.PrimitiveTypes.Int64, Float16, []string{"2048", "-2048", "1", "2049"}, 3},
		{arrow.PrimitiveTypes.Int16, Float16, []string{"-2049"}, 0},
		{arrow.PrimitiveTypes.Uint8, Float16, []string{"255", "0"}, -1},
		{arrow.PrimitiveTypes.Int64, Float64, []string{f64max, "-" + f64max, "9007199254740993"}, 2},
		{arrow.PrimitiveTypes.Uint64, Float64, []string{"18446744073709551615"}, 0},
		{arrow.PrimitiveTypes.Int32, Float64, []string{i32max, i32min}, -1},
		// int -> int: the target type's range.
		{arrow.PrimitiveTypes.Int64, Int32, []string{i32max, i32min, "2147483648"}, 2},
		{arrow.PrimitiveTypes.Int64, Int32, []string{"0", "-2147483649"}, 1},
		{arrow.PrimitiveTypes.Uint32, Int32, []string{i32max, "2147483648"}, 1},
		{arrow.PrimitiveTypes.Int64, Uint8, []string{"255", "0", "256"}, 2},
		{arrow.PrimitiveTypes.Int64, Uint8, []string{"1", "-1"}, 1},
		{arrow.PrimitiveTypes.Int8, Uint8, []string{"127", "0", "-128"}, 2},
		{arrow.PrimitiveTypes.Uint16, Uint8, []string{"255", "256"}, 1},
		{arrow.PrimitiveTypes.Uint8, Int8, []string{"127", "128"}, 1},
		{arrow.PrimitiveTypes.Int32, Int8, []string{"-128", "127", "-129"}, 2},
		{arrow.PrimitiveTypes.Uint64, Int64, []string{"9223372036854775807", "9223372036854775808"}, 1},
		{arrow.PrimitiveTypes.Int64, Int64, []string{"-9223372036854775808", "9223372036854775807"}, -1},
		{arrow.PrimitiveTypes.Uint8, Uint8, []string{"0", "255"}, -1},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%s_to_%s_%s", c.typ, c.dt, c.values[len(c.values)-1])
		t.Run(name, func(t *testing.T) {
			path := writeParquet(t, t.TempDir(), "v.parquet", []arrow.Field{{Name: "v", Type: c.typ}}, 0,
				func(b *array.RecordBuilder) {
					for _, v := range c.values {
						appendInteger(t, b.Field(0), v)
					}
				})
			ds := openChecked(t, path)
			b, err := NewBinding(ds, []InputSpec{{Name: "x", DType: c.dt, Shape: []int64{-1}}}, BindOptions{InputMap: map[string]string{"x": "v"}})
			if err != nil {
				t.Fatalf("NewBinding refused by type, want a check by value: %v", err)
			}
			batches, err := tryReadAll(ds, []*Binding{b}, SourceOptions{BatchSize: 2})
			var got []string
			for _, batch := range batches {
				got = append(got, exactStrings(t, batch.Tensors[0][0].Data)...)
			}
			if c.bad < 0 {
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				if !slices.Equal(got, c.values) {
					t.Errorf("tensor values %v, want %v", got, c.values)
				}
				return
			}
			wantInputErr(t, err, fmt.Sprintf("column v row %d: %s does not fit model input x %s (which holds ", c.bad, c.values[c.bad], c.dt),
				"values would change")
			// The batches before the offending row's arrived whole.
			if want := c.bad / 2 * 2; !slices.Equal(got, c.values[:want]) {
				t.Errorf("batches before the error held %v, want %v", got, c.values[:want])
			}
		})
	}
}

// TestIntegerValueChecksInListsAndAssembly: values inside list rows and in
// inputs assembled from several columns are checked the same way, and
// named by their own column and dataset row.
func TestIntegerValueChecksInListsAndAssembly(t *testing.T) {
	path := writeParquet(t, t.TempDir(), "l.parquet", []arrow.Field{
		{Name: "ids", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64)},
		{Name: "a", Type: arrow.PrimitiveTypes.Int64},
		{Name: "b", Type: arrow.PrimitiveTypes.Int64},
	}, 2, func(b *array.RecordBuilder) {
		lb := b.Field(0).(*array.ListBuilder)
		vb := lb.ValueBuilder().(*array.Int64Builder)
		for r := range 4 {
			lb.Append(true)
			vb.AppendValues([]int64{int64(r), 1}, nil)
			if r == 2 {
				vb.Append(math.MaxInt32 + 1)
			}
			b.Field(1).(*array.Int64Builder).Append(int64(r))
			bv := int64(r)
			if r == 3 {
				bv = 200
			}
			b.Field(2).(*array.Int64Builder).Append(bv)
		}
	})
	ds := openChecked(t, path)

	ids := mustBind(t, ds, []InputSpec{{Name: "ids", DType: Int32, Shape: []int64{-1, -1}}}, BindOptions{})
	_, err := tryReadAll(ds, []*Binding{ids}, SourceOptions{BatchSize: 1})
	wantInputErr(t, err, "column ids row 2: 2147483648 does not fit model input ids int32 (which holds -2147483648 to 2147483647)")

	pair := mustBind(t, ds, []InputSpec{{Name: "x", DType: Int8, Shape: []int64{-1, 2}}}, BindOptions{InputMap: map[string]string{"x": "a,b"}})
	batches, err := tryReadAll(ds, []*Binding{pair}, SourceOptions{BatchSize: 2})
	wantInputErr(t, err, "column b row 3: 200 does not fit model input x int8 (which holds -128 to 127)")
	if len(batches) != 1 || !slices.Equal(batches[0].Tensors[0][0].Data.([]int8), []int8{0, 0, 1, 1}) {
		t.Errorf("first batch before the error: %+v", batches)
	}
	// The same columns fit a wider type.
	wide := mustBind(t, ds, []InputSpec{{Name: "x", DType: Int32, Shape: []int64{-1, 2}}}, BindOptions{InputMap: map[string]string{"x": "a,b"}})
	if got := readAll(t, ds, []*Binding{wide}, SourceOptions{BatchSize: 4})[0].Tensors[0][0].Data.([]int32); !slices.Equal(got, []int32{0, 0, 1, 1, 2, 2, 3, 200}) {
		t.Errorf("int32 assembly = %v", got)
	}
}

// TestValueCheckSkipsNullSlots: a null's slot holds no data (whatever is in
// the buffer), so an out-of-range number there is not refused: not by
// uint8, nor by float16 (which holds integers up to 2048 exactly).
func TestValueCheckSkipsNullSlots(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	values := memory.NewResizableBuffer(mem)
	values.Resize(3 * 8)
	copy(values.Bytes(), arrow.Int64Traits.CastToBytes([]int64{5000, 1, 2}))
	valid := memory.NewResizableBuffer(mem)
	valid.Resize(1)
	valid.Bytes()[0] = 0b110 // element 0 is null
	data := array.NewData(arrow.PrimitiveTypes.Int64, 3, []*memory.Buffer{valid, values}, nil, 1, 0)
	arr := array.NewInt64Data(data)
	defer arr.Release()
	data.Release()
	values.Release()
	valid.Release()

	dst := make([]uint8, 3)
	if bad := copyValues(dst, 0, 1, arr, 0, 3); bad != -1 || !slices.Equal(dst, []uint8{0, 1, 2}) {
		t.Errorf("copyValues = %d, dst %v; want -1, [0 1 2]", bad, dst)
	}
	// The same values without the bitmap: 5000 is data, and refused.
	plainData := array.NewData(arrow.PrimitiveTypes.Int64, 3, []*memory.Buffer{nil, arr.Data().Buffers()[1]}, nil, 0, 0)
	plain := array.NewInt64Data(plainData)
	plainData.Release()
	defer plain.Release()
	if bad := copyValues(make([]uint8, 3), 0, 1, plain, 0, 3); bad != 0 {
		t.Errorf("copyValues without nulls = %d, want 0", bad)
	}
	half := make([]uint16, 3)
	if bad := copyValues(half, 0, 1, arr, 0, 3); bad != -1 || half[0] != 0 || halfToFloat32(half[2]) != 2 {
		t.Errorf("copyValues to float16 = %d, %v", bad, half)
	}
}

// appendInteger appends the decimal v to an integer builder.
func appendInteger(t *testing.T, b array.Builder, v string) {
	t.Helper()
	s, serr := strconv.ParseInt(v, 10, 64)
	u, uerr := strconv.ParseUint(v, 10, 64)
	var err error
	switch x := b.(type) {
	case *array.Int8Builder:
		x.Append(int8(s))
		err = serr
	case *array.Int16Builder:
		x.Append(int16(s))
		err = serr
	case *array.Int32Builder:
		x.Append(int32(s))
		err = serr
	case *array.Int64Builder:
		x.Append(s)
		err = serr
	case *array.Uint8Builder:
		x.Append(uint8(u))
		err = uerr
	case *array.Uint16Builder:
		x.Append(uint16(u))
		err = uerr
	case *array.Uint32Builder:
		x.Append(uint32(u))
		err = uerr
	case *array.Uint64Builder:
		x.Append(u)
		err = uerr
	default:
		t.Fatalf("not an integer builder: %T", b)
	}
	if err != nil {
		t.Fatalf("value %s: %v", v, err)
	}
}

// exactStrings renders tensor data as exact decimals, so that a value that
// was rounded on its way in cannot compare equal.
func exactStrings(t *testing.T, data any) []string {
	t.Helper()
	var out []string
	switch d := data.(type) {
	case []int64:
		for _, v := range d {
			out = append(out, strconv.FormatInt(v, 10))
		}
	case []int32:
		for _, v := range d {
			out = append(out, strconv.FormatInt(int64(v), 10))
		}
	case []int8:
		for _, v := range d {
			out = append(out, strconv.FormatInt(int64(v), 10))
		}
	case []uint8:
		for _, v := range d {
			out = append(out, strconv.FormatUint(uint64(v), 10))
		}
	default:
		for _, v := range floats(t, data) {
			out = append(out, strconv.FormatFloat(v, 'f', -1, 64))
		}
	}
	return out
}
