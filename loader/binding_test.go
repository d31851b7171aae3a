package loader

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// mixedFile writes a dataset with scalar, list and string columns. Row i:
//
//	x = i; f0,f1,f2 = 10i, 10i+1, 10i+2; lab = i (int64); name = "r<i>"
//	vec  = 12 values 100i+j (fixed_size_list)
//	seq  = i%4+1 values 100i+j (list)
//	grid = i%3+1 inner lists of 2 values 100i+j (list<list>)
func mixedFile(t testing.TB, rows int) string {
	fields := []arrow.Field{
		{Name: "x", Type: arrow.PrimitiveTypes.Float32},
		{Name: "f0", Type: arrow.PrimitiveTypes.Float32},
		{Name: "name", Type: arrow.BinaryTypes.String},
		{Name: "f1", Type: arrow.PrimitiveTypes.Float32},
		{Name: "f2", Type: arrow.PrimitiveTypes.Float32},
		{Name: "lab", Type: arrow.PrimitiveTypes.Int64},
		{Name: "vec", Type: arrow.FixedSizeListOf(12, arrow.PrimitiveTypes.Float32)},
		{Name: "seq", Type: arrow.ListOf(arrow.PrimitiveTypes.Float32)},
		{Name: "grid", Type: arrow.ListOf(arrow.ListOf(arrow.PrimitiveTypes.Float32))},
	}
	return writeParquet(t, t.TempDir(), "mixed.parquet", fields, 5, func(b *array.RecordBuilder) {
		for i := 0; i < rows; i++ {
			b.Field(0).(*array.Float32Builder).Append(float32(i))
			b.Field(1).(*array.Float32Builder).Append(float32(10 * i))
			b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("r%d", i))
			b.Field(3).(*array.Float32Builder).Append(float32(10*i + 1))
			b.Field(4).(*array.Float32Builder).Append(float32(10*i + 2))
			b.Field(5).(*array.Int64Builder).Append(int64(i))
			vb := b.Field(6).(*array.FixedSizeListBuilder)
			vb.Append(true)
			for j := 0; j < 12; j++ {
				vb.ValueBuilder().(*array.Float32Builder).Append(float32(100*i + j))
			}
			sb := b.Field(7).(*array.ListBuilder)
			sb.Append(true)
			for j := 0; j < i%4+1; j++ {
				sb.ValueBuilder().(*array.Float32Builder).Append(float32(100*i + j))
			}
			gb := b.Field(8).(*array.ListBuilder)
			gb.Append(true)
			inner := gb.ValueBuilder().(*array.ListBuilder)
			for k := 0; k < i%3+1; k++ {
				inner.Append(true)
				for m := 0; m < 2; m++ {
					inner.ValueBuilder().(*array.Float32Builder).Append(float32(100*i + 2*k + m))
				}
			}
		}
	})
}

func TestDatasetInfo(t *testing.T) {
	ds := openChecked(t, mixedFile(t, 3))
	if ds.NumRows() != 3 {
		t.Errorf("NumRows = %d", ds.NumRows())
	}
	cols := ds.Columns()
	if len(cols) != 9 || cols[0] != (Column{"x", "float32"}) || cols[2].Name != "name" {
		t.Errorf("Columns = %v", cols)
	}
	if cols[7].Type != "list<element: float32, nullable>" || cols[6].Type != "fixed_size_list<element: float32, nullable>[12]" {
		t.Errorf("list types %q, %q", cols[6].Type, cols[7].Type)
	}
}

func TestBindScalarShapes(t *testing.T) {
	ds := openChecked(t, mixedFile(t, 5))
	for _, shape := range [][]int64{{-1}, {-1, 1}, {-1, -1}} {
		b := mustBind(t, ds, []InputSpec{{Name: "x", DType: Float32, Shape: shape}}, BindOptions{})
		if !reflect.DeepEqual(b.Columns(), []string{"x"}) {
			t.Errorf("Columns = %v", b.Columns())
		}
		batches := readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 3})
		tn := batches[0].Tensors[0][0]
		want := []int64{3}
		if len(shape) == 2 {
			want = []int64{3, 1}
		}
		if !reflect.DeepEqual(tn.Shape, want) || !equalFloats(floats(t, tn.Data), []float64{0, 1, 2}) {
			t.Errorf("shape %v: got %v %v", shape, tn.Shape, tn.Data)
		}
		if batches[1].Rows != 2 || batches[1].FirstRow != 3 || batches[1].Index != 1 {
			t.Errorf("second batch = %+v", batches[1])
		}
	}
	_, err := NewBinding(ds, []InputSpec{{Name: "x", DType: Float32, Shape: []int64{-1, 2}}}, BindOptions{})
	wantInputErr(t, err, "model input x", "[-1,2]", "column x gives 1 value(s) per row")
	_, err = NewBinding(ds, []InputSpec{{Name: "x", DType: Float32}}, BindOptions{})
	wantInputErr(t, err, "model input x is 0-d", "--fill x=VALUE")
	_, err = NewBinding(ds, []InputSpec{{Name: "name", DType: Float32, Shape: []int64{-1}}}, BindOptions{})
	wantInputErr(t, err, "column name has type utf8", "model input name")
}

func TestAssembleColumns(t *testing.T) {
	ds := openChecked(t, mixedFile(t, 4))
	want := []float64{0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32}
	for _, spec := range []string{"f0,f1,f2", "f*", "f?", "f0, f1 ,f2"} {
		b := mustBind(t, ds, []InputSpec{{Name: "feat", DType: Float64, Shape: []int64{-1, 3}}},
			BindOptions{InputMap: map[string]string{"feat": spec}})
		if !reflect.DeepEqual(b.Columns(), []string{"f0", "f1", "f2"}) {
			t.Errorf("%s: Columns = %v", spec, b.Columns())
		}
		batches := readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 4})
		tn := batches[0].Tensors[0][0]
		if !reflect.DeepEqual(tn.Shape, []int64{4, 3}) || !equalFloats(floats(t, tn.Data), want) {
			t.Errorf("%s: got %v %v", spec, tn.Shape, tn.Data)
		}
		if batches[0].Sizes[0].Elements != 12 {
			t.Errorf("Elements = %d", batches[0].Sizes[0].Elements)
		}
	}
	// Order follows the list, so a reversed list gives reversed rows.
	b := mustBind(t, ds, []InputSpec{{Name: "feat", DType: Float32, Shape: []int64{-1, -1}}},
		BindOptions{InputMap: map[string]string{"feat": "f2,x"}})
	got := floats(t, readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 2})[0].Tensors[0][0].Data)
	if !equalFloats(got, []float64{2, 0, 12, 1}) {
		t.Errorf("f2,x: %v", got)
	}

	_, err := NewBinding(ds, []InputSpec{{Name: "feat", DType: Float32, Shape: []int64{-1, 3}}},
		BindOptions{InputMap: map[string]string{"feat": "z*"}})
	wantInputErr(t, err, "glob z* matches no column", "(columns: x, f0, name, f1, f2, lab, vec, seq, grid)")
	_, err = NewBinding(ds, []InputSpec{{Name: "feat", DType: Float32, Shape: []int64{-1, 2}}},
		BindOptions{InputMap: map[string]string{"feat": "f0,vec"}})
	wantInputErr(t, err, "column vec", "only scalar numeric or bool columns can be combined")
	_, err = NewBinding(ds, []InputSpec{{Name: "feat", DType: Float32, Shape: []int64{-1, 4}}},
		BindOptions{InputMap: map[string]string{"feat": "f*"}})
	wantInputErr(t, err, "model input feat declares shape [-1,4]", "columns f0, f1, f2 give 3 values per row")
	_, err = NewBinding(ds, []InputSpec{{Name: "feat", DType: Float32, Shape: []int64{-1, 2}}},
		BindOptions{InputMap: map[string]string{"feat": "f0,nope"}})
	wantInputErr(t, err, "no column named nope")
}

func TestFixedListReshape(t *testing.T) {
	ds := openChecked(t, mixedFile(t, 2))
	for _, shape := range [][]int64{{-1, 12}, {-1, 3, 4}, {-1, -1, 4}, {-1, -1}, {-1, 2, 3, 2}} {
		b := mustBind(t, ds, []InputSpec{{Name: "vec", DType: Float32, Shape: shape}}, BindOptions{})
		batches := readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 2})
		tn := batches[0].Tensors[0][0]
		if tn.Elements() != 24 || tn.Shape[0] != 2 || len(tn.Shape) != len(shape) {
			t.Errorf("shape %v -> %v", shape, tn.Shape)
		}
		got := floats(t, tn.Data)
		if got[0] != 0 || got[11] != 11 || got[12] != 100 || got[23] != 111 {
			t.Errorf("values %v", got)
		}
		if batches[0].Sizes[0] != (SizeMeasure{Elements: 24}) {
			t.Errorf("Sizes = %+v", batches[0].Sizes[0])
		}
	}
	_, err := NewBinding(ds, []InputSpec{{Name: "vec", DType: Float32, Shape: []int64{-1, 5}}}, BindOptions{})
	wantInputErr(t, err, "model input vec declares shape [-1,5]", "column vec gives 12 value(s) per row")
}

func TestVariableLengthPadding(t *testing.T) {
	ds := openChecked(t, mixedFile(t, 6))
	in := []InputSpec{
		{Name: "seq", DType: Float32, Shape: []int64{-1, -1}},
		{Name: "attention_mask", DType: Int64, Shape: []int64{-1, -1}},
	}
	b := mustBind(t, ds, in, BindOptions{PadValue: -1})
	batches := readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 3})
	// Rows 0..2 have 1, 2, 3 values; rows 3..5 have 4, 1, 2.
	seq, mask := batches[0].Tensors[0][0], batches[0].Tensors[0][1]
	if !reflect.DeepEqual(seq.Shape, []int64{3, 3}) || !reflect.DeepEqual(mask.Shape, []int64{3, 3}) {
		t.Fatalf("shapes %v %v", seq.Shape, mask.Shape)
	}
	if got := floats(t, seq.Data); !equalFloats(got, []float64{0, -1, -1, 100, 101, -1, 200, 201, 202}) {
		t.Errorf("seq = %v", got)
	}
	if got := mask.Data.([]int64); !reflect.DeepEqual(got, []int64{1, 0, 0, 1, 1, 0, 1, 1, 1}) {
		t.Errorf("mask = %v", got)
	}
	if batches[0].Sizes[0] != (SizeMeasure{Elements: 6, SeqLen: 3}) {
		t.Errorf("Sizes = %+v", batches[0].Sizes[0])
	}
	if batches[1].Sizes[0] != (SizeMeasure{Elements: 7, SeqLen: 4}) || batches[1].Tensors[0][1].Shape[1] != 4 {
		t.Errorf("second batch Sizes = %+v", batches[1].Sizes[0])
	}

	// A bool mask and a "mask" input are derived the same way.
	b = mustBind(t, ds, []InputSpec{in[0], {Name: "mask", DType: Bool, Shape: []int64{-1, -1}}}, BindOptions{})
	mb := readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 2})[0].Tensors[0][1]
	if !reflect.DeepEqual(mb.Data, []bool{true, false, true, true}) {
		t.Errorf("bool mask = %v", mb.Data)
	}

	// Fixed row length: a row of another length is named.
	b = mustBind(t, ds, []InputSpec{{Name: "seq", DType: Float32, Shape: []int64{-1, 1}}}, BindOptions{})
	_, err := tryReadAll(ds, []*Binding{b}, SourceOptions{BatchSize: 4})
	wantInputErr(t, err, "column seq row 1 has 2 values", "model input seq declares shape [-1,1]")

	// A pad value the input type cannot hold is refused up front.
	_, err = NewBinding(ds, []InputSpec{{Name: "seq", DType: Int32, Shape: []int64{-1, -1}}}, BindOptions{})
	wantInputErr(t, err, "column seq: float32 does not fit model input seq int32")
	_, err = NewBinding(ds, []InputSpec{{Name: "vec", DType: Float32, Shape: []int64{-1, -1}},
		{Name: "attention_mask", DType: Int64, Shape: []int64{-1, 2, -1}}}, BindOptions{})
	if err != nil {
		t.Fatalf("fixed mask dims are checked per batch, got %v", err)
	}
	_, err = NewBinding(ds, []InputSpec{{Name: "x", DType: Float32, Shape: []int64{-1}},
		{Name: "attention_mask", DType: Int64, Shape: []int64{-1, -1}}}, BindOptions{})
	wantInputErr(t, err, "model input attention_mask: no column named attention_mask", "no list input")
}

func TestPadValueChecked(t *testing.T) {
	path := writeParquet(t, t.TempDir(), "ids.parquet", []arrow.Field{{Name: "ids", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32)}}, 0,
		func(b *array.RecordBuilder) {
			lb := b.Field(0).(*array.ListBuilder)
			for i := 0; i < 3; i++ {
				lb.Append(true)
				for j := 0; j <= i; j++ {
					lb.ValueBuilder().(*array.Int32Builder).Append(int32(j + 1))
				}
			}
		})
	ds := openChecked(t, path)
	in := []InputSpec{{Name: "ids", DType: Int64, Shape: []int64{-1, -1}}, {Name: "input_mask", DType: Float32, Shape: []int64{-1, -1}}}
	_, err := NewBinding(ds, in, BindOptions{PadValue: 0.5})
	wantInputErr(t, err, "pad value for model input ids", "0.5 does not fit int64")
	b := mustBind(t, ds, in, BindOptions{})
	batch := readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 3})[0]
	if got := batch.Tensors[0][0].Data.([]int64); !reflect.DeepEqual(got, []int64{1, 0, 0, 1, 2, 0, 1, 2, 3}) {
		t.Errorf("ids = %v", got)
	}
	if got := batch.Tensors[0][1].Data.([]float32); !reflect.DeepEqual(got, []float32{1, 0, 0, 1, 1, 0, 1, 1, 1}) {
		t.Errorf("input_mask = %v", got)
	}
}

func TestNestedLists(t *testing.T) {
	ds := openChecked(t, mixedFile(t, 3))
	b := mustBind(t, ds, []InputSpec{{Name: "grid", DType: Float32, Shape: []int64{-1, -1, 2}},
		{Name: "attention_mask", DType: Int64, Shape: []int64{-1, -1}}}, BindOptions{PadValue: 9})
	batch := readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 3})[0]
	g := batch.Tensors[0][0]
	if !reflect.DeepEqual(g.Shape, []int64{3, 3, 2}) {
		t.Fatalf("grid shape %v", g.Shape)
	}
	want := []float64{0, 1, 9, 9, 9, 9, 100, 101, 102, 103, 9, 9, 200, 201, 202, 203, 204, 205}
	if got := floats(t, g.Data); !equalFloats(got, want) {
		t.Errorf("grid = %v", got)
	}
	if m := batch.Tensors[0][1].Data.([]int64); !reflect.DeepEqual(m, []int64{1, 0, 0, 1, 1, 0, 1, 1, 1}) {
		t.Errorf("mask = %v", m)
	}
	if batch.Sizes[0] != (SizeMeasure{Elements: 12, SeqLen: 3}) {
		t.Errorf("Sizes = %+v", batch.Sizes[0])
	}
	_, err := NewBinding(ds, []InputSpec{{Name: "grid", DType: Float32, Shape: []int64{-1, 4}}}, BindOptions{})
	wantInputErr(t, err, "column grid holds 2-D rows", "model input grid declares shape [-1,4]")
	b = mustBind(t, ds, []InputSpec{{Name: "grid", DType: Float32, Shape: []int64{-1, -1, 3}}}, BindOptions{})
	_, err = tryReadAll(ds, []*Binding{b}, SourceOptions{BatchSize: 3})
	wantInputErr(t, err, "column grid row 0 has inner lists of 2 values", "[-1,-1,3]")
}

func TestFills(t *testing.T) {
	ds := openChecked(t, mixedFile(t, 5))
	in := []InputSpec{
		{Name: "x", DType: Float32, Shape: []int64{-1}},
		{Name: "state", DType: Float32, Shape: []int64{2, -1, 4}},
		{Name: "sr", DType: Int64},
		{Name: "flag", DType: Bool, Shape: []int64{-1, 1}},
		{Name: "half", DType: Float16, Shape: []int64{3}},
		{Name: "h", DType: Int8, Shape: []int64{2, -1, -1}},
	}
	fills := []Fill{
		{Input: "state", Zeros: true},
		{Input: "sr", Value: 16000},
		{Input: "flag", Value: 1},
		{Input: "half", Value: 0.5},
		{Input: "h", Value: -3, Shape: []int64{2, 1, 7}},
		{Input: "other_model_only", Zeros: true},
	}
	b := mustBind(t, ds, in, BindOptions{Fills: fills})
	if !reflect.DeepEqual(b.Columns(), []string{"x"}) {
		t.Errorf("Columns = %v", b.Columns())
	}
	batch := readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 3})[0]
	ts := batch.Tensors[0]
	check := func(i int, shape []int64, data any) {
		t.Helper()
		if ts[i].Name != in[i].Name || ts[i].DType != in[i].DType || !reflect.DeepEqual(ts[i].Shape, shape) || !reflect.DeepEqual(ts[i].Data, data) {
			t.Errorf("%s: got %v %v %v", in[i].Name, ts[i].DType, ts[i].Shape, ts[i].Data)
		}
	}
	check(1, []int64{2, 3, 4}, make([]float32, 24))
	check(2, []int64{}, []int64{16000})
	check(3, []int64{3, 1}, []bool{true, true, true})
	check(4, []int64{3}, []uint16{0x3800, 0x3800, 0x3800})
	check(5, []int64{2, 1, 7}, func() []int8 {
		s := make([]int8, 14)
		for i := range s {
			s[i] = -3
		}
		return s
	}())
	if batch.Sizes[0] != (SizeMeasure{Elements: 3}) {
		t.Errorf("fills must not count in Sizes: %+v", batch.Sizes[0])
	}

	// A fill wins over a column of the same name.
	b = mustBind(t, ds, []InputSpec{{Name: "x", DType: Float32, Shape: []int64{-1}}}, BindOptions{Fills: []Fill{{Input: "x", Value: 7}}})
	if got := readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 2})[0].Tensors[0][0].Data; !reflect.DeepEqual(got, []float32{7, 7}) {
		t.Errorf("fill over column: %v", got)
	}

	// A 0-d fill written with [] on a 0-d input; refused on a shaped one.
	b = mustBind(t, ds, []InputSpec{{Name: "sr", DType: Int32}}, BindOptions{Fills: []Fill{{Input: "sr", Value: 8000, Scalar: true, Shape: []int64{}}}})
	if got := readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 5})[0].Tensors[0][0]; len(got.Shape) != 0 || got.Data.([]int32)[0] != 8000 {
		t.Errorf("0-d fill: %+v", got)
	}

	for _, c := range []struct {
		in   InputSpec
		fill Fill
		want string
	}{
		{InputSpec{Name: "h", DType: Float32, Shape: []int64{2, -1, -1}}, Fill{Input: "h", Zeros: true},
			"model input h has shape [2,-1,-1] with more than one free dim; give the fill an explicit shape, e.g. --fill h=zeros[2,1,1]"},
		{InputSpec{Name: "h", DType: Float32, Shape: []int64{2, -1}}, Fill{Input: "h", Zeros: true, Shape: []int64{3, 1}},
			"--fill h=zeros[3,1]: shape [3,1] does not match model input h shape [2,-1]"},
		{InputSpec{Name: "sr", DType: Int64, Shape: []int64{1}}, Fill{Input: "sr", Value: 1, Scalar: true, Shape: []int64{}},
			"--fill sr=1[] is 0-d but model input sr declares shape [1]"},
		{InputSpec{Name: "sr", DType: Int64}, Fill{Input: "sr", Value: 0.5}, "0.5 does not fit int64"},
		{InputSpec{Name: "u", DType: Uint8}, Fill{Input: "u", Value: 300}, "300 does not fit uint8"},
		{InputSpec{Name: "b", DType: Bool}, Fill{Input: "b", Value: 2}, "2 is not 0 or 1"},
	} {
		_, err := NewBinding(ds, []InputSpec{c.in}, BindOptions{Fills: []Fill{c.fill}})
		wantInputErr(t, err, c.want)
	}
}

func TestMissingColumn(t *testing.T) {
	ds := openChecked(t, mixedFile(t, 2))
	_, err := NewBinding(ds, []InputSpec{{Name: "pixels", DType: Float32, Shape: []int64{-1, 3}}}, BindOptions{})
	wantInputErr(t, err, fmt.Sprintf("model input pixels: no column named pixels in %s (columns: x, f0, name, f1, f2, lab, vec, seq, grid); bind one with --input-map pixels=COLUMN or --fill pixels=zeros", ds.Path()))
	_, err = NewBinding(ds, []InputSpec{{Name: "pixels", DType: Float32, Shape: []int64{-1, 3}}},
		BindOptions{InputMap: map[string]string{"pixels": "img"}})
	wantInputErr(t, err, "--input-map pixels=img: no column named img", "(columns: x,")
	_, err = NewBinding(ds, []InputSpec{{Name: "x", DType: DTypeUnknown, Shape: []int64{-1}}}, BindOptions{})
	wantInputErr(t, err, "model input x has unsupported element type unknown")
}

func TestEmptyRowsCounted(t *testing.T) {
	// Rows have 0, 1, 0, 2 values: a batch of all four has two empty rows.
	path := writeParquet(t, t.TempDir(), "ids.parquet", []arrow.Field{{Name: "ids", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32)}}, 0,
		func(b *array.RecordBuilder) {
			lb := b.Field(0).(*array.ListBuilder)
			for _, n := range []int{0, 1, 0, 2} {
				lb.Append(true)
				for j := range n {
					lb.ValueBuilder().(*array.Int32Builder).Append(int32(j + 1))
				}
			}
		})
	ds := openChecked(t, path)
	b := mustBind(t, ds, []InputSpec{{Name: "ids", DType: Int64, Shape: []int64{-1, -1}}}, BindOptions{})
	batches := readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 4})
	if got := batches[0].Sizes[0]; got != (SizeMeasure{Elements: 3, SeqLen: 2, EmptyRows: 2}) {
		t.Errorf("Sizes = %+v", got)
	}
}

func TestFillRefusesHugeShapes(t *testing.T) {
	for _, tc := range []struct {
		spec InputSpec
		fill string
	}{
		{InputSpec{Name: "x", DType: Float32, Shape: []int64{-1, 1000000000000}}, "x=zeros"},
		{InputSpec{Name: "x", DType: Float32, Shape: []int64{-1, -1, -1}}, "x=zeros[1,1000000,1000000]"},
	} {
		f, err := ParseFill(tc.fill)
		if err != nil {
			t.Fatal(err)
		}
		p := &plan{spec: tc.spec}
		var b Binding
		if err := b.planFill(p, f); err == nil || !strings.Contains(err.Error(), "more than") {
			t.Errorf("%s on %v: err %v, want a refusal", tc.fill, tc.spec.Shape, err)
		}
	}
}
