package loader

import (
	"encoding/base64"
	"reflect"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// texts are awkward on purpose: empty, non-ASCII, JSON's special characters.
var texts = []string{"I loved it", "", "naïve café ☕", `quote " and \ backslash`, "line\nbreak\ttab", "<b>&amp;</b>", "emoji 🙂", "last"}

// textFile has the texts as utf8 (null at row 6), large_utf8 and binary
// (the texts' bytes), plus columns a template cannot be given.
func textFile(t *testing.T) string {
	fields := []arrow.Field{
		{Name: "text", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "large", Type: arrow.BinaryTypes.LargeString},
		{Name: "bin", Type: arrow.BinaryTypes.Binary},
		{Name: "n", Type: arrow.PrimitiveTypes.Float32},
		{Name: "u", Type: arrow.PrimitiveTypes.Uint64},
		{Name: "ids", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32)},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String)},
		{Name: "meta", Type: arrow.StructOf(arrow.Field{Name: "k", Type: arrow.PrimitiveTypes.Int32})},
	}
	return writeParquet(t, t.TempDir(), "text.parquet", fields, 3, func(b *array.RecordBuilder) {
		for i, s := range texts {
			if i == 6 {
				b.Field(0).AppendNull()
			} else {
				b.Field(0).(*array.StringBuilder).Append(s)
			}
			b.Field(1).(*array.LargeStringBuilder).Append(s)
			b.Field(2).(*array.BinaryBuilder).Append([]byte(s))
			b.Field(3).(*array.Float32Builder).Append(float32(i))
			b.Field(4).(*array.Uint64Builder).Append(uint64(i))
			lb := b.Field(5).(*array.ListBuilder)
			lb.Append(true)
			lb.ValueBuilder().(*array.Int32Builder).Append(int32(i))
			tb := b.Field(6).(*array.ListBuilder)
			tb.Append(true)
			tb.ValueBuilder().(*array.StringBuilder).Append(s)
			sb := b.Field(7).(*array.StructBuilder)
			sb.Append(true)
			sb.FieldBuilder(0).(*array.Int32Builder).Append(int32(i))
		}
	})
}

func TestTextColumns(t *testing.T) {
	var got [][]string
	var nulls [][]bool
	var sizes []SizeMeasure
	ds := openChecked(t, textFile(t))
	inputs, _ := ds.JSONInputs()
	b := mustBind(t, ds, inputs[:3], BindOptions{})
	for _, shuffle := range []bool{false, true} {
		batches := readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 4, Shuffle: shuffle, Seed: 1})
		if shuffle {
			var all []string
			for _, batch := range batches {
				all = append(all, batch.Tensors[0][1].Data.([]string)...)
			}
			if !reflect.DeepEqual(slices.Sorted(slices.Values(all)), slices.Sorted(slices.Values(texts))) {
				t.Errorf("shuffled texts %q", all)
			}
			continue
		}
		for _, batch := range batches {
			for i, tensor := range batch.Tensors[0] {
				if tensor.DType != String || !reflect.DeepEqual(tensor.Shape, []int64{int64(batch.Rows)}) {
					t.Errorf("input %d: %s %v", i, tensor.DType, tensor.Shape)
				}
				got = append(got, tensor.Data.([]string))
				nulls = append(nulls, tensor.Null)
			}
			sizes = append(sizes, batch.Sizes[0])
		}
	}
	// The strings are compared once the dataset has given its buffers
	// back: they must be the batch's own (openChecked checks the
	// allocator at the end of the test).
	if err := ds.Close(); err != nil {
		t.Fatal(err)
	}
	// got: per batch, text, large, bin.
	wantText := slices.Clone(texts)
	wantText[6] = ""
	if all := append(slices.Clone(got[0]), got[3]...); !reflect.DeepEqual(all, wantText) {
		t.Errorf("text %q, want %q", all, wantText)
	}
	if all := append(slices.Clone(got[1]), got[4]...); !reflect.DeepEqual(all, texts) {
		t.Errorf("large %q, want %q", all, texts)
	}
	for i, s := range append(slices.Clone(got[2]), got[5]...) {
		if b, err := base64.StdEncoding.DecodeString(s); err != nil || string(b) != texts[i] {
			t.Errorf("bin row %d: %q is not the base64 of %q", i, s, texts[i])
		}
	}
	if nulls[0] != nil || !reflect.DeepEqual(nulls[3], []bool{false, false, true, false}) || nulls[1] != nil {
		t.Errorf("null marks %v", nulls)
	}
	// Elements are bytes; a batch with "" in row 1 (of text and large and
	// bin alike) has one empty row; the null of row 6 is not "empty".
	var bytes0 int64
	for _, s := range texts[:4] {
		bytes0 += int64(2*len(s) + len(base64.StdEncoding.EncodeToString([]byte(s))))
	}
	if sizes[0].Elements != bytes0 || sizes[0].EmptyRows != 1 || sizes[0].NullRows != 0 {
		t.Errorf("batch 0 size %+v, want %d bytes, 1 empty row", sizes[0], bytes0)
	}
	if sizes[1].EmptyRows != 0 || sizes[1].NullRows != 1 {
		t.Errorf("batch 1 size %+v, want 1 null row and no empty one", sizes[1])
	}
}

func TestTextRefusedForTensors(t *testing.T) {
	ds := openChecked(t, textFile(t))
	_, err := NewBinding(ds, []InputSpec{{Name: "text", DType: Int64, Shape: []int64{-1}}}, BindOptions{})
	wantInputErr(t, err, "column text has type utf8 (text)", "model input text takes int64 tensors", "--request-template")
	_, err = NewBinding(ds, []InputSpec{{Name: "x", DType: Float32, Shape: []int64{-1, 2}}}, BindOptions{InputMap: map[string]string{"x": "n,bin"}})
	wantInputErr(t, err, "column bin has type binary (text)", "model input x")
	_, err = NewBinding(ds, []InputSpec{{Name: "n", DType: String, Shape: []int64{-1}, Nullable: true}}, BindOptions{})
	wantInputErr(t, err, "column n has type float32; input n takes text")
	_, err = NewBinding(ds, []InputSpec{{Name: "t", DType: String, Shape: []int64{-1}}}, BindOptions{InputMap: map[string]string{"t": "text,large"}})
	wantInputErr(t, err, "input t takes text from one column, not 2")
	_, err = NewBinding(ds, []InputSpec{{Name: "text", DType: String, Shape: []int64{-1}}}, BindOptions{Fills: []Fill{{Input: "text", Zeros: true}}})
	wantInputErr(t, err, "--fill text=zeros", "string")
}

func TestJSONInputs(t *testing.T) {
	ds := openChecked(t, textFile(t))
	inputs, unsent := ds.JSONInputs()
	want := []InputSpec{
		{Name: "text", DType: String, Shape: []int64{-1}, Nullable: true},
		{Name: "large", DType: String, Shape: []int64{-1}, Nullable: true},
		{Name: "bin", DType: String, Shape: []int64{-1}, Nullable: true},
		{Name: "n", DType: Float64, Shape: []int64{-1}, Nullable: true},
		{Name: "u", DType: Float64, Shape: []int64{-1}, Nullable: true},
		{Name: "ids", DType: Int64, Shape: []int64{-1, -1}, Nullable: true},
	}
	if !reflect.DeepEqual(inputs, want) {
		t.Errorf("inputs\n%v, want\n%v", inputs, want)
	}
	if len(unsent) != 2 || unsent[0].Name != "tags" || unsent[1].Name != "meta" {
		t.Errorf("unsent %v, want tags and meta", unsent)
	}
	// Every input it declares binds and reads.
	b := mustBind(t, ds, inputs, BindOptions{})
	if batches := readAll(t, ds, []*Binding{b}, SourceOptions{BatchSize: 8}); len(batches) != 1 || len(batches[0].Tensors[0]) != len(want) {
		t.Errorf("read %d batches", len(batches))
	}
}
