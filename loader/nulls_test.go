package loader

import (
	"reflect"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// nullsFile has 8 rows with nulls at known places:
//
//	f32    float32, null at rows 1 and 4
//	b      bool (row i: true), null at row 2
//	i64    int64 (row i: 10i), null at row 4
//	l      list<float32> (row i: [i, i+0.5]), null list at row 3, [5, null] at row 5
//	fixed  fixed_size_list<float32>[2] (row i: [i, -i]), [1, null] at row 1
//	grid   list<list<float32>> (row i: [[i], [i]]), a null inner list at row 6
//
// so with batches of 4 the rows with a null are 1, 2, 3 and 4, 5, 6.
// One row group: arrow-go v18.8.0's writer repeats the first row group's
// values of a fixed_size_list in the next ones (the slice's offset is
// lost), and pqarrow writes no null fixed-size list at all.
func nullsFile(t *testing.T) string {
	fields := []arrow.Field{
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Float32), Nullable: true},
		{Name: "fixed", Type: arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Float32), Nullable: true},
		{Name: "grid", Type: arrow.ListOf(arrow.ListOf(arrow.PrimitiveTypes.Float32)), Nullable: true},
	}
	return writeParquet(t, t.TempDir(), "nulls.parquet", fields, 0, func(b *array.RecordBuilder) {
		for i := range 8 {
			f := float32(i)
			if i == 1 || i == 4 {
				b.Field(0).AppendNull()
			} else {
				b.Field(0).(*array.Float32Builder).Append(f)
			}
			if i == 2 {
				b.Field(1).AppendNull()
			} else {
				b.Field(1).(*array.BooleanBuilder).Append(true)
			}
			if i == 4 {
				b.Field(2).AppendNull()
			} else {
				b.Field(2).(*array.Int64Builder).Append(int64(10 * i))
			}
			lb := b.Field(3).(*array.ListBuilder)
			lv := lb.ValueBuilder().(*array.Float32Builder)
			switch i {
			case 3:
				lb.AppendNull()
			case 5:
				lb.Append(true)
				lv.Append(f)
				lv.AppendNull()
			default:
				lb.Append(true)
				lv.AppendValues([]float32{f, f + 0.5}, nil)
			}
			fb := b.Field(4).(*array.FixedSizeListBuilder)
			fb.Append(true)
			fb.ValueBuilder().(*array.Float32Builder).AppendValues([]float32{f, -f}, []bool{true, i != 1})
			gb := b.Field(5).(*array.ListBuilder)
			gb.Append(true)
			inner := gb.ValueBuilder().(*array.ListBuilder)
			for j := range 2 {
				if i == 6 && j == 1 {
					inner.AppendNull()
					continue
				}
				inner.Append(true)
				inner.ValueBuilder().(*array.Float32Builder).Append(f)
			}
		}
	})
}

func TestNullsFill(t *testing.T) {
	ds := openChecked(t, nullsFile(t))
	fill := BindOptions{Nulls: NullsFill, PadValue: -1}
	for _, tc := range []struct {
		in   InputSpec
		want []float64 // all 8 rows, flat
		// nullRows is each batch's (of 4 rows) count of rows with a null.
		nullRows []int64
	}{
		{InputSpec{Name: "f32", DType: Float32, Shape: []int64{-1}}, []float64{0, -1, 2, 3, -1, 5, 6, 7}, []int64{1, 1}},
		{InputSpec{Name: "f32", DType: Float16, Shape: []int64{-1}}, []float64{0, -1, 2, 3, -1, 5, 6, 7}, []int64{1, 1}},
		{InputSpec{Name: "b", DType: Bool, Shape: []int64{-1}}, []float64{1, 1, 0, 1, 1, 1, 1, 1}, []int64{1, 0}},
		{InputSpec{Name: "i64", DType: Int64, Shape: []int64{-1}}, []float64{0, 10, 20, 30, -1, 50, 60, 70}, []int64{0, 1}},
		// A null list is an empty row (padded), a null value is filled in place.
		{InputSpec{Name: "l", DType: Float32, Shape: []int64{-1, -1}},
			[]float64{0, 0.5, 1, 1.5, 2, 2.5, -1, -1, 4, 4.5, 5, -1, 6, 6.5, 7, 7.5}, []int64{1, 1}},
		{InputSpec{Name: "fixed", DType: Float32, Shape: []int64{-1, 2}}, []float64{0, 0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6, 7, -7}, []int64{1, 0}},
		// A null list bound to a fixed shape is a whole row of the fill value.
		{InputSpec{Name: "l", DType: Float32, Shape: []int64{-1, 2}}, []float64{0, 0.5, 1, 1.5, 2, 2.5, -1, -1, 4, 4.5, 5, -1, 6, 6.5, 7, 7.5}, []int64{1, 1}},
		// A null inner list fills its whole 2-D row.
		{InputSpec{Name: "grid", DType: Float32, Shape: []int64{-1, 2, 1}}, []float64{0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, -1, -1, 7, 7}, []int64{0, 1}},
	} {
		b := mustBind(t, ds, []InputSpec{tc.in}, fill)
		for _, shuffle := range []bool{false, true} {
			// Shuffled with all rows: the same rows in another order, cut
			// into segments, so the values compare as a multiset.
			batches := readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 4, Shuffle: shuffle, Seed: 3})
			var got []float64
			var nullRows []int64
			for _, batch := range batches {
				got = append(got, floats(t, batch.Tensors[0][0].Data)...)
				nullRows = append(nullRows, batch.Sizes[0].NullRows)
				if batch.Tensors[0][0].Null != nil {
					t.Errorf("%s: a tensor input got a null mask", tc.in)
				}
			}
			if shuffle {
				if nullRows[0]+nullRows[1] != tc.nullRows[0]+tc.nullRows[1] ||
					!equalFloats(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(tc.want))) {
					t.Errorf("%s shuffled: %v null rows %v, want the values of %v and %d null rows", tc.in, got, nullRows, tc.want, tc.nullRows[0]+tc.nullRows[1])
				}
				continue
			}
			if !equalFloats(got, tc.want) || !reflect.DeepEqual(nullRows, tc.nullRows) {
				t.Errorf("%s: got %v null rows %v, want %v null rows %v", tc.in, got, nullRows, tc.want, tc.nullRows)
			}
		}
	}

	// One binding over every input counts a row once, however many of its
	// inputs are null (row 4: f32 and i64).
	var all []InputSpec
	for _, name := range []string{"f32", "b", "i64", "l", "fixed", "grid"} {
		shape := []int64{-1}
		switch name {
		case "l":
			shape = []int64{-1, -1}
		case "fixed":
			shape = []int64{-1, 2}
		case "grid":
			shape = []int64{-1, 2, 1}
		}
		dt := Float32
		if name == "b" {
			dt = Bool
		}
		all = append(all, InputSpec{Name: name, DType: dt, Shape: shape})
	}
	b := mustBind(t, ds, all, fill)
	batches := readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 4})
	if len(batches) != 2 || batches[0].Sizes[0].NullRows != 3 || batches[1].Sizes[0].NullRows != 3 {
		t.Errorf("null rows per batch: %+v", []SizeMeasure{batches[0].Sizes[0], batches[1].Sizes[0]})
	}
	// The empty row of the null list is a null, not an empty list.
	if batches[0].Sizes[0].EmptyRows != 0 {
		t.Errorf("a null list counted as empty: %+v", batches[0].Sizes[0])
	}
}

func TestNullsRefusedSuggestFill(t *testing.T) {
	ds := openChecked(t, nullsFile(t))
	for _, tc := range []struct {
		in   InputSpec
		want []string
	}{
		{InputSpec{Name: "f32", DType: Float32, Shape: []int64{-1}}, []string{"column f32 row 1 is null", "--nulls fill", "--pad-value (0)"}},
		{InputSpec{Name: "b", DType: Bool, Shape: []int64{-1}}, []string{"column b row 2 is null", "--nulls fill to send false"}},
		{InputSpec{Name: "l", DType: Float32, Shape: []int64{-1, -1}}, []string{"column l row 3 is null", "--nulls fill"}},
		{InputSpec{Name: "grid", DType: Float32, Shape: []int64{-1, 2, 1}}, []string{"column grid row 6 has a null value", "--nulls fill"}},
	} {
		b := mustBind(t, ds, []InputSpec{tc.in}, BindOptions{})
		_, err := tryReadAll(ds, []*Binding{b}, SourceOptions{BatchSize: 4})
		wantInputErr(t, err, tc.want...)
	}
}

func TestNullsFillPadMustFit(t *testing.T) {
	ds := openChecked(t, nullsFile(t))
	_, err := NewBinding(ds, []InputSpec{{Name: "i64", DType: Int64, Shape: []int64{-1}}}, BindOptions{Nulls: NullsFill, PadValue: 0.5})
	wantInputErr(t, err, "--nulls fill writes --pad-value into model input i64", "0.5")
	// Refusing nulls never writes the pad value, so it need not fit.
	if _, err := NewBinding(ds, []InputSpec{{Name: "i64", DType: Int64, Shape: []int64{-1}}}, BindOptions{PadValue: 0.5}); err != nil {
		t.Error(err)
	}
}

func TestNullableKeepsNullRows(t *testing.T) {
	ds := openChecked(t, nullsFile(t))
	in := []InputSpec{
		{Name: "f32", DType: Float64, Shape: []int64{-1}, Nullable: true},
		{Name: "l", DType: Float64, Shape: []int64{-1, -1}, Nullable: true},
	}
	// Row 5's list holds a null value, which a JSON list could carry but a
	// tensor row cannot: the policy decides it, so read rows 0-4 first.
	b := mustBind(t, ds, in, BindOptions{})
	batches := readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 5, Rows: 5})
	f32, l := batches[0].Tensors[0][0], batches[0].Tensors[0][1]
	if want := []bool{false, true, false, false, true}; !reflect.DeepEqual(f32.Null, want) {
		t.Errorf("f32 null rows %v, want %v", f32.Null, want)
	}
	if got := floats(t, f32.Data); !equalFloats(got, []float64{0, 0, 2, 3, 0}) {
		t.Errorf("f32 data %v: a null row must hold zero", got)
	}
	if want := []bool{false, false, false, true, false}; !reflect.DeepEqual(l.Null, want) {
		t.Errorf("l null rows %v, want %v", l.Null, want)
	}
	if got := floats(t, l.Data)[6:8]; !equalFloats(got, []float64{0, 0}) {
		t.Errorf("l's null row holds %v, want zeros", got)
	}
	if got := batches[0].Sizes[0].NullRows; got != 3 {
		t.Errorf("null rows %d, want 3 (rows 1, 3, 4)", got)
	}
	_, err := tryReadAll(ds, []*Binding{b}, SourceOptions{BatchSize: 8})
	wantInputErr(t, err, "column l row 5 has a null value", "--nulls fill")
	// With fill, the null value is filled and the null list still kept.
	b = mustBind(t, ds, in, BindOptions{Nulls: NullsFill, PadValue: -1})
	batches = readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 8})
	l = batches[0].Tensors[0][1]
	if !l.Null[3] || l.Null[5] || !equalFloats(floats(t, l.Data)[10:12], []float64{5, -1}) {
		t.Errorf("l with fill: null %v data %v", l.Null, floats(t, l.Data))
	}
	if got := batches[0].Sizes[0].NullRows; got != 4 {
		t.Errorf("null rows %d, want 4 (rows 1, 3, 4, 5)", got)
	}
}

func TestParseNullPolicy(t *testing.T) {
	for s, want := range map[string]NullPolicy{"refuse": NullsRefuse, "fill": NullsFill} {
		got, err := ParseNullPolicy(s)
		if err != nil || got != want || got.String() != s {
			t.Errorf("%q: %v %v", s, got, err)
		}
	}
	_, err := ParseNullPolicy("zero")
	wantInputErr(t, err, "want refuse or fill")
}
