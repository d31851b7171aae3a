package onnxgen_test

import (
	"bytes"
	"math"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/infergate/infergate/internal/onnxgen"
	"github.com/infergate/infergate/internal/onnxgen/ortrun"
	"github.com/infergate/infergate/internal/ortlib"
)

// fields decodes one protobuf message level into field number -> raw values.
func fields(t *testing.T, b []byte) map[protowire.Number][]any {
	t.Helper()
	out := map[protowire.Number][]any{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		var v any
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.Fixed32Type:
			v, n = protowire.ConsumeFixed32(b)
		default:
			t.Fatalf("unexpected wire type %v", typ)
		}
		if n < 0 {
			t.Fatalf("bad field %d: %v", num, protowire.ParseError(n))
		}
		b = b[n:]
		out[num] = append(out[num], v)
	}
	return out
}

func TestModelEncoding(t *testing.T) {
	g := onnxgen.NewGraph("g")
	g.Input("x", onnxgen.Float, "batch", 3)
	g.Input("s", onnxgen.Int64)
	g.Node("Identity", []string{"x"}, []string{"y"})
	g.Output("y", onnxgen.Float, "batch", 3)
	b, err := g.Model().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m := fields(t, b)
	if got := m[1]; len(got) != 1 || got[0].(uint64) != 8 {
		t.Errorf("ir_version = %v, want 8", got)
	}
	if got := string(m[2][0].([]byte)); got != onnxgen.ProducerName {
		t.Errorf("producer_name = %q", got)
	}
	op := fields(t, m[8][0].([]byte))
	if op[2][0].(uint64) != 17 || len(op[1]) != 0 {
		t.Errorf("opset_import = %v, want default domain v17", op)
	}
	graph := fields(t, m[7][0].([]byte))
	if string(graph[2][0].([]byte)) != "g" || len(graph[1]) != 1 || len(graph[11]) != 2 || len(graph[12]) != 1 {
		t.Fatalf("graph fields = %v", graph)
	}
	// Input "x": ValueInfo{name=1, type=2{tensor_type=1{elem_type=1, shape=2{dim=1...}}}}
	vi := fields(t, graph[11][0].([]byte))
	tt := fields(t, fields(t, vi[2][0].([]byte))[1][0].([]byte))
	if tt[1][0].(uint64) != uint64(onnxgen.Float) {
		t.Errorf("elem_type = %v", tt[1])
	}
	dims := fields(t, tt[2][0].([]byte))[1]
	if len(dims) != 2 {
		t.Fatalf("dims = %v", dims)
	}
	if d := fields(t, dims[0].([]byte)); string(d[2][0].([]byte)) != "batch" {
		t.Errorf("dim 0 = %v, want dim_param batch", d)
	}
	if d := fields(t, dims[1].([]byte)); d[1][0].(uint64) != 3 {
		t.Errorf("dim 1 = %v, want dim_value 3", d)
	}
	// 0-d scalar "s": a shape with no dims.
	vi = fields(t, graph[11][1].([]byte))
	tt = fields(t, fields(t, vi[2][0].([]byte))[1][0].([]byte))
	if len(tt[2]) != 1 || len(tt[2][0].([]byte)) != 0 {
		t.Errorf("scalar shape = %v, want present and empty", tt[2])
	}
	// Deterministic.
	b2, _ := g.Model().Marshal()
	if !bytes.Equal(b, b2) {
		t.Error("Marshal is not deterministic")
	}
}

// The MatMul of layer i is the node a profile names when that layer changes.
func TestMLPMatMulNode(t *testing.T) {
	m := onnxgen.NewMLP("m", 1, 64, []int{48, 48}, 10)
	// Nodes in order: MatMul, Add, Relu per hidden layer, then MatMul, Add.
	for layer, want := range []string{"MatMul_0", "MatMul_3", "MatMul_6", ""} {
		if got := m.MatMulNode(layer); got != want {
			t.Errorf("MatMulNode(%d) = %q, want %q", layer, got, want)
		}
	}
	names := map[string]bool{}
	for _, n := range m.Graph().Nodes {
		names[n.Name] = true
	}
	if !names[m.MatMulNode(1)] {
		t.Errorf("%q is not a node of the graph", m.MatMulNode(1))
	}
}

func TestMarshalErrors(t *testing.T) {
	cases := map[string]func(g *onnxgen.Graph){
		"bad dim type":     func(g *onnxgen.Graph) { g.Input("x", onnxgen.Float, 1.5) },
		"initializer size": func(g *onnxgen.Graph) { g.Initializer("w", []int64{2, 2}, []float32{1, 2, 3}) },
		"bad dtype":        func(g *onnxgen.Graph) { g.Input("x", onnxgen.DType(99), 1) },
		"node no outputs":  func(g *onnxgen.Graph) { g.Node("Relu", []string{"x"}, nil) },
	}
	for name, f := range cases {
		g := onnxgen.NewGraph("g")
		f(g)
		g.Output("y", onnxgen.Float, 1)
		if _, err := g.Model().Marshal(); err == nil {
			t.Errorf("%s: Marshal succeeded, want error", name)
		}
	}
	if _, err := onnxgen.NewGraph("g").Model().Marshal(); err == nil {
		t.Error("graph without outputs: want error")
	}
}

func TestRNGDeterministic(t *testing.T) {
	r := onnxgen.NewRNG(42)
	got := []uint64{r.Uint64(), r.Uint64()}
	// SplitMix64 reference values for seed 42.
	want := []uint64{0xbdd732262feb6e95, 0x28efe333b266f103}
	if got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("RNG changed: got %#x, want %#x; generated files would change", got, want)
	}
}

// closeTo reports whether got matches want within tol relative to the
// largest magnitude in want.
func closeTo(got, want []float32, tol float64) (int, bool) {
	scale := 1.0
	for _, w := range want {
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > tol*scale {
			return i, false
		}
	}
	return 0, true
}

func TestMLPInORT(t *testing.T) {
	ortlib.RequireInit(t)
	m := onnxgen.NewMLP("mlp", 7, 64, []int{48, 48, 32}, 10)
	b, err := m.Graph().Model().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 1 || ins[0].Name != "features" || ins[0].DataType != ort.TensorElementDataTypeFloat ||
		!ins[0].Dimensions.Equals(ort.NewShape(-1, 64)) {
		t.Errorf("inputs = %v", ins)
	}
	if len(outs) != 1 || outs[0].Name != "scores" || !outs[0].Dimensions.Equals(ort.NewShape(-1, 10)) {
		t.Errorf("outputs = %v", outs)
	}
	for _, batch := range []int{1, 5} {
		r := onnxgen.NewRNG(uint64(batch))
		x := make([]float32, batch*64)
		xf := make([]float64, len(x))
		for i := range x {
			x[i] = r.Uniform(-1, 1)
			xf[i] = float64(x[i])
		}
		got, shapes, err := ortrun.Run(b, []ortrun.Input{{Name: "features", DType: onnxgen.Float, Shape: []int64{int64(batch), 64}, Values: xf}}, []string{"scores"})
		if err != nil {
			t.Fatal(err)
		}
		if !ort.Shape(shapes[0]).Equals(ort.NewShape(int64(batch), 10)) {
			t.Errorf("batch %d: output shape %v", batch, shapes[0])
		}
		want := m.Forward(x, batch)
		if i, ok := closeTo(got[0], want, 1e-4); !ok {
			t.Errorf("batch %d: scores[%d] = %v, Go says %v", batch, i, got[0][i], want[i])
		}
	}
}

// castInput returns width*batch values representable in every dtype.
func castInput(dt onnxgen.DType, batch, width int) []float64 {
	v := make([]float64, batch*width)
	for i := range v {
		k := float64(i*7%19 - 9)
		switch dt {
		case onnxgen.Uint8:
			k += 9
		case onnxgen.Bool:
			k = float64(i % 2)
		case onnxgen.Float, onnxgen.Double, onnxgen.Float16:
			k /= 4
		}
		v[i] = k
	}
	return v
}

func TestCastSumInORT(t *testing.T) {
	ortlib.RequireInit(t)
	for _, dt := range []onnxgen.DType{onnxgen.Float, onnxgen.Double, onnxgen.Float16, onnxgen.Int64,
		onnxgen.Int32, onnxgen.Int8, onnxgen.Uint8, onnxgen.Bool} {
		t.Run(dt.String(), func(t *testing.T) {
			b, err := onnxgen.CastSum(dt, 4).Model().Marshal()
			if err != nil {
				t.Fatal(err)
			}
			const batch = 3
			x := castInput(dt, batch, 4)
			got, shapes, err := ortrun.Run(b, []ortrun.Input{{Name: "x", DType: dt, Shape: []int64{batch, 4}, Values: x}}, []string{"y"})
			if err != nil {
				t.Fatal(err)
			}
			if !ort.Shape(shapes[0]).Equals(ort.NewShape(batch)) {
				t.Fatalf("shape %v", shapes[0])
			}
			for r := 0; r < batch; r++ {
				want := 0.0
				for j := 0; j < 4; j++ {
					want += x[r*4+j]
				}
				if float64(got[0][r]) != want {
					t.Errorf("y[%d] = %v, want %v", r, got[0][r], want)
				}
			}
		})
	}
}

func TestSeqInORT(t *testing.T) {
	ortlib.RequireInit(t)
	b, err := onnxgen.Seq().Model().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ids := []float64{5, 6, 7, 0, 1, 2, 3, 4}
	mask := []float64{1, 1, 1, 0, 1, 1, 0, 0}
	got, _, err := ortrun.Run(b, []ortrun.Input{
		{Name: "input_ids", DType: onnxgen.Int64, Shape: []int64{2, 4}, Values: ids},
		{Name: "attention_mask", DType: onnxgen.Int64, Shape: []int64{2, 4}, Values: mask},
	}, []string{"y"})
	if err != nil {
		t.Fatal(err)
	}
	if got[0][0] != 18 || got[0][1] != 3 {
		t.Errorf("y = %v, want [18 3]", got[0])
	}
}

func TestFillInORT(t *testing.T) {
	ortlib.RequireInit(t)
	b, err := onnxgen.Fill().Model().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ins, _, err := ort.GetInputOutputInfoWithONNXData(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 3 || !ins[1].Dimensions.Equals(ort.NewShape(2, -1, 8)) || len(ins[2].Dimensions) != 0 {
		t.Errorf("inputs = %v", ins)
	}
	feats := []float64{1, 2, 3, 4, 10, 20, 30, 40}
	state := make([]float64, 2*3*8)
	for i := range state {
		state[i] = 0.5
	}
	got, _, err := ortrun.Run(b, []ortrun.Input{
		{Name: "features", DType: onnxgen.Float, Shape: []int64{2, 4}, Values: feats},
		{Name: "state", DType: onnxgen.Float, Shape: []int64{2, 3, 8}, Values: state},
		{Name: "sr", DType: onnxgen.Int64, Values: []float64{16000}},
	}, []string{"y"})
	if err != nil {
		t.Fatal(err)
	}
	if got[0][0] != 10+24+16000 || got[0][1] != 100+24+16000 {
		t.Errorf("y = %v, want [16034 16124]", got[0])
	}
}

func TestSeqCostInORT(t *testing.T) {
	ortlib.RequireInit(t)
	m := onnxgen.NewSeqCost("seq_cost", 11, 50, 8, 3)
	b, err := m.Graph().Model().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 2 || !ins[0].Dimensions.Equals(ort.NewShape(-1, -1)) || !ins[1].Dimensions.Equals(ort.NewShape(-1, -1)) ||
		len(outs) != 1 || outs[0].Name != "y" || !outs[0].Dimensions.Equals(ort.NewShape(-1, 8)) {
		t.Errorf("inputs %v outputs %v", ins, outs)
	}
	// Two rows of 3 positions; ids beyond the vocabulary wrap around, and
	// the padded positions (mask 0) do not count.
	ids := []int64{7, 57, 120, 3, 0, 0}
	mask := []int64{1, 1, 1, 1, 0, 0}
	idsF, maskF := make([]float64, len(ids)), make([]float64, len(mask))
	for i := range ids {
		idsF[i], maskF[i] = float64(ids[i]), float64(mask[i])
	}
	got, shapes, err := ortrun.Run(b, []ortrun.Input{
		{Name: "input_ids", DType: onnxgen.Int64, Shape: []int64{2, 3}, Values: idsF},
		{Name: "attention_mask", DType: onnxgen.Int64, Shape: []int64{2, 3}, Values: maskF},
	}, []string{"y"})
	if err != nil {
		t.Fatal(err)
	}
	if !ort.Shape(shapes[0]).Equals(ort.NewShape(2, 8)) {
		t.Fatalf("shape %v", shapes[0])
	}
	want := m.Forward(ids, mask, 2, 3)
	if i, ok := closeTo(got[0], want, 1e-4); !ok {
		t.Errorf("y[%d] = %v, Go says %v", i, got[0][i], want[i])
	}
	// Ids 7 and 57 are the same row of the table (vocab 50).
	same := m.Forward([]int64{7, 7, 120}, []int64{1, 1, 1}, 1, 3)
	if i, ok := closeTo(same, want[:8], 1e-6); !ok {
		t.Errorf("ids do not wrap at the vocabulary: y[%d] = %v vs %v", i, same[i], want[i])
	}
	var any bool
	for _, v := range want {
		any = any || v != 0
	}
	if !any {
		t.Error("all outputs are zero")
	}
}
