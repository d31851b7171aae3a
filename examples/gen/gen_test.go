package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/infergate/infergate/internal/bareloop"
	"github.com/infergate/infergate/internal/onnxgen"
	"github.com/infergate/infergate/internal/onnxgen/ortrun"
	"github.com/infergate/infergate/internal/ortlib"
)

// Committed locations, relative to this package.
const (
	examplesDir = ".."
	testdataDir = "../../testdata"
)

func committed(name string) string {
	for _, s := range mlpSpecs {
		if s.File == name && s.Dir == "examples" {
			return filepath.Join(examplesDir, name)
		}
	}
	if name == "test_data.parquet" {
		return filepath.Join(examplesDir, name)
	}
	return filepath.Join(testdataDir, name)
}

func TestGeneratedFilesUpToDate(t *testing.T) {
	outs, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	if err := writeAll(outs, filepath.Join(tmp, "examples"), filepath.Join(tmp, "testdata")); err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		fresh, err := os.ReadFile(o.path(filepath.Join(tmp, "examples"), filepath.Join(tmp, "testdata")))
		if err != nil {
			t.Fatal(err)
		}
		p := o.path(examplesDir, testdataDir)
		old, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s/%s is missing (%v): run go generate ./examples/... / make gen", o.Dir, o.Name, err)
			continue
		}
		if !bytes.Equal(old, fresh) {
			t.Errorf("%s/%s differs from what examples/gen produces: run go generate ./examples/... / make gen", o.Dir, o.Name)
		}
	}
	// Generating twice must give the same bytes.
	again, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	for i := range outs {
		if !bytes.Equal(outs[i].Data, again[i].Data) {
			t.Errorf("%s/%s: generator is not deterministic", outs[i].Dir, outs[i].Name)
		}
	}
}

func readModel(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(committed(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkIO(t *testing.T, name string, wantIn, wantOut []string) {
	t.Helper()
	ins, outs, err := ort.GetInputOutputInfo(committed(name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var gotIn, gotOut []string
	for _, i := range ins {
		gotIn = append(gotIn, i.String())
	}
	for _, o := range outs {
		gotOut = append(gotOut, o.String())
	}
	if fmt.Sprint(gotIn) != fmt.Sprint(wantIn) || fmt.Sprint(gotOut) != fmt.Sprint(wantOut) {
		t.Errorf("%s: inputs %q outputs %q, want %q %q", name, gotIn, gotOut, wantIn, wantOut)
	}
}

func TestCommittedMLPs(t *testing.T) {
	ortlib.RequireInit(t)
	feats := mlpFeatures()
	const batch = 4
	x := make([]float32, 0, batch*mlpIn)
	xf := make([]float64, 0, batch*mlpIn)
	for _, row := range feats[:batch] {
		x = append(x, row...)
		for _, v := range row {
			xf = append(xf, float64(v))
		}
	}
	outputs := map[string][]float32{}
	for _, s := range mlpSpecs {
		t.Run(s.File, func(t *testing.T) {
			checkIO(t, s.File,
				[]string{`Tensor "features": [-1 64], ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT`},
				[]string{`Tensor "scores": [-1 10], ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT`})
			got, _, err := ortrun.Run(readModel(t, s.File), []ortrun.Input{{Name: "features", DType: onnxgen.Float, Shape: []int64{batch, mlpIn}, Values: xf}}, []string{"scores"})
			if err != nil {
				t.Fatal(err)
			}
			want := s.MLP().Forward(x, batch)
			scale := 1.0
			for _, w := range want {
				scale = max(scale, abs(float64(w)))
			}
			for i := range want {
				if abs(float64(got[0][i]-want[i])) > 1e-4*scale {
					t.Fatalf("scores[%d] = %v, Go matmul says %v", i, got[0][i], want[i])
				}
			}
			outputs[s.File] = got[0]
		})
	}
	if fmt.Sprint(outputs["mlp_base.onnx"]) == fmt.Sprint(outputs["mlp_same.onnx"]) {
		t.Error("mlp_base and mlp_same must have different weights")
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestCommittedCastModels(t *testing.T) {
	ortlib.RequireInit(t)
	for _, dt := range castDTypes {
		name := "cast_" + dt.String() + ".onnx"
		t.Run(name, func(t *testing.T) {
			checkIO(t, name,
				[]string{fmt.Sprintf(`Tensor "x": [-1 4], ONNX_TENSOR_ELEMENT_DATA_TYPE_%s`, ortType(dt))},
				[]string{`Tensor "y": [-1], ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT`})
			const batch = 5
			var x []float64
			want := make([]float32, batch)
			for r := 0; r < batch; r++ {
				for j := 0; j < castWidth; j++ {
					v := float64(typesValue(r, j))
					switch dt {
					case onnxgen.Uint8:
						v += 9
					case onnxgen.Bool:
						v = float64(typesValue(r, j) & 1)
					case onnxgen.Float, onnxgen.Double, onnxgen.Float16:
						v /= 4
					}
					x = append(x, v)
					want[r] += float32(v)
				}
			}
			got, _, err := ortrun.Run(readModel(t, name), []ortrun.Input{{Name: "x", DType: dt, Shape: []int64{batch, castWidth}, Values: x}}, []string{"y"})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got[0]) != fmt.Sprint(want) {
				t.Errorf("y = %v, want %v", got[0], want)
			}
		})
	}
}

func ortType(dt onnxgen.DType) string {
	return map[onnxgen.DType]string{
		onnxgen.Float: "FLOAT", onnxgen.Double: "DOUBLE", onnxgen.Float16: "FLOAT16",
		onnxgen.Int64: "INT64", onnxgen.Int32: "INT32", onnxgen.Int8: "INT8",
		onnxgen.Uint8: "UINT8", onnxgen.Bool: "BOOL",
	}[dt]
}

func TestCommittedSeqAndFill(t *testing.T) {
	ortlib.RequireInit(t)
	checkIO(t, "seq.onnx",
		[]string{`Tensor "input_ids": [-1 -1], ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64`, `Tensor "attention_mask": [-1 -1], ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64`},
		[]string{`Tensor "y": [-1], ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT`})
	// Two rows of seq.parquet, right-padded with zeros and masked.
	rows := seqIDs()[:2]
	seqLen := max(len(rows[0]), len(rows[1]))
	var ids, mask []float64
	var want []float32
	for _, row := range rows {
		var s float64
		for j := 0; j < seqLen; j++ {
			if j < len(row) {
				ids = append(ids, float64(row[j]))
				mask = append(mask, 1)
				s += float64(row[j])
			} else {
				ids = append(ids, 999)
				mask = append(mask, 0)
			}
		}
		want = append(want, float32(s))
	}
	got, _, err := ortrun.Run(readModel(t, "seq.onnx"), []ortrun.Input{
		{Name: "input_ids", DType: onnxgen.Int64, Shape: []int64{2, int64(seqLen)}, Values: ids},
		{Name: "attention_mask", DType: onnxgen.Int64, Shape: []int64{2, int64(seqLen)}, Values: mask},
	}, []string{"y"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got[0]) != fmt.Sprint(want) {
		t.Errorf("seq: y = %v, want %v", got[0], want)
	}

	checkIO(t, "fill.onnx",
		[]string{`Tensor "features": [-1 4], ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT`, `Tensor "state": [2 -1 8], ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT`, `Tensor "sr": [], ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64`},
		[]string{`Tensor "y": [-1], ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT`})
	got, _, err = ortrun.Run(readModel(t, "fill.onnx"), []ortrun.Input{
		{Name: "features", DType: onnxgen.Float, Shape: []int64{1, 4}, Values: []float64{1, 2, 3, 4}},
		{Name: "state", DType: onnxgen.Float, Shape: []int64{2, 1, 8}, Values: make([]float64, 16)},
		{Name: "sr", DType: onnxgen.Int64, Values: []float64{8000}},
	}, []string{"y"})
	if err != nil {
		t.Fatal(err)
	}
	if got[0][0] != 8010 {
		t.Errorf("fill: y = %v, want [8010]", got[0])
	}
}

func TestCorruptModelRejected(t *testing.T) {
	ortlib.RequireInit(t)
	if _, _, err := ort.GetInputOutputInfo(committed("corrupt.onnx")); err == nil {
		t.Error("ONNX Runtime accepted testdata/corrupt.onnx")
	}
}

func readParquet(t *testing.T, name string) arrow.Table {
	t.Helper()
	f, err := file.OpenParquetFile(committed(name), false)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer f.Close()
	r, err := pqarrow.NewFileReader(f, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := r.ReadTable(context.Background())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(tbl.Release)
	return tbl
}

func TestParquetFiles(t *testing.T) {
	cases := []struct {
		name   string
		rows   int64
		schema string // field names and types, in order
	}{
		{"mlp.parquet", mlpRows, "features:list<element: float32, nullable> id:int64"},
		{"seq.parquet", seqRows, "input_ids:list<element: int64, nullable>"},
		{"empty.parquet", 0, "features:list<element: float32, nullable> id:int64"},
		{"types.parquet", typesRows, "f16:float16 f32:float32 f64:float64 i8:int8 i16:int16 i32:int32 i64:int64 " +
			"u8:uint8 u16:uint16 u32:uint32 u64:uint64 b:bool x_f32:list<element: float32, nullable> " +
			"x_f64:list<element: float64, nullable> x_f16:list<element: float16, nullable> x_i64:list<element: int64, nullable> " +
			"x_i32:list<element: int32, nullable> x_i8:list<element: int8, nullable> x_u8:list<element: uint8, nullable> " +
			"x_b:list<element: bool, nullable>"},
	}
	for _, c := range cases {
		tbl := readParquet(t, c.name)
		if tbl.NumRows() != c.rows {
			t.Errorf("%s: %d rows, want %d", c.name, tbl.NumRows(), c.rows)
		}
		var got string
		for i, f := range tbl.Schema().Fields() {
			if i > 0 {
				got += " "
			}
			got += f.Name + ":" + f.Type.String()
		}
		if got != c.schema {
			t.Errorf("%s: schema\n got %s\nwant %s", c.name, got, c.schema)
		}
	}
	// types.parquet holds typesValue, shifted/scaled per type.
	types := readParquet(t, "types.parquet")
	xi8 := types.Column(types.Schema().FieldIndices("x_i8")[0]).Data().Chunk(0).(*array.List)
	vals := xi8.ListValues().(*array.Int8)
	xb := types.Column(types.Schema().FieldIndices("x_b")[0]).Data().Chunk(0).(*array.List).ListValues().(*array.Boolean)
	xf16 := types.Column(types.Schema().FieldIndices("x_f16")[0]).Data().Chunk(0).(*array.List).ListValues().(*array.Float16)
	for r := 0; r < typesRows; r++ {
		for j := 0; j < castWidth; j++ {
			k := r*castWidth + j
			v := typesValue(r, j)
			if int(vals.Value(k)) != v || xb.Value(k) != (v%2 != 0) || xf16.Value(k).Float32() != float32(v)/4 {
				t.Fatalf("types.parquet row %d elem %d: i8 %d bool %v f16 %v, want %d", r, j, vals.Value(k), xb.Value(k), xf16.Value(k), v)
			}
		}
	}

	tbl := readParquet(t, "test_data.parquet")
	if tbl.NumRows() != exampleRows || tbl.NumCols() != 2+mlpIn {
		t.Errorf("test_data.parquet: %d rows x %d cols", tbl.NumRows(), tbl.NumCols())
	}
	if _, err := file.OpenParquetFile(committed("not_parquet.parquet"), false); err == nil {
		t.Error("not_parquet.parquet opened as Parquet")
	}
}

// BenchmarkModelCost reports the bare onnxruntime_go cost (ns/op = one Run
// at batch 1, one intra-op thread) of every generated MLP.
func BenchmarkModelCost(b *testing.B) {
	lib := ortlib.Require(b)
	for _, s := range mlpSpecs {
		b.Run(s.File, func(b *testing.B) {
			r, err := bareloop.Open(lib, committed(s.File), []int64{1, mlpIn}, 1)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			for i := 0; i < bareloop.Warmup; i++ {
				if err := r.Run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				if err := r.Run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestCalibration measures the cost ratios documented in examples/README.md
// and testdata/README.md. It is slow-ish and timing-dependent, so it only
// runs when INFERGATE_CALIBRATE is set:
//
//	INFERGATE_CALIBRATE=1 go test ./examples/gen -run TestCalibration -v
//
// INFERGATE_CALIBRATE_ITERS overrides the iterations per model (20000).
func TestCalibration(t *testing.T) {
	if os.Getenv("INFERGATE_CALIBRATE") == "" {
		t.Skip("set INFERGATE_CALIBRATE=1 to measure model costs")
	}
	lib := ortlib.Require(t)
	iters := 20000
	if s := os.Getenv("INFERGATE_CALIBRATE_ITERS"); s != "" {
		var err error
		if iters, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	shape := []int64{1, mlpIn}
	for _, name := range []string{"production.onnx", "mlp_base.onnx"} {
		m, err := bareloop.Median(lib, committed(name), shape, iters, 1)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-16s alone: median %v per Run", name, m)
	}
	pairs := []struct {
		base, other string
		lo, hi      float64
	}{
		{"production.onnx", "candidate.onnx", 1.20, 1.30},
		{"mlp_base.onnx", "mlp_plus25.onnx", 1.25, 1.40},
		{"mlp_base.onnx", "mlp_same.onnx", 0.95, 1.05},
	}
	for _, p := range pairs {
		m, err := bareloop.MedianInterleaved(lib, []string{committed(p.base), committed(p.other)}, shape, iters, 1)
		if err != nil {
			t.Fatal(err)
		}
		ratio := float64(m[1]) / float64(m[0])
		t.Logf("%-16s %-16s interleaved medians %v / %v  ratio %.3f (target %.2f-%.2f)",
			p.base, p.other, m[0].Round(10*time.Nanosecond), m[1].Round(10*time.Nanosecond), ratio, p.lo, p.hi)
		if ratio < p.lo || ratio > p.hi {
			t.Errorf("%s/%s: ratio %.3f outside %.2f-%.2f", p.other, p.base, ratio, p.lo, p.hi)
		}
	}
}

// TestCommittedSeqCost checks the sequence-cost models' interface, their
// outputs on two padded rows of seq.parquet, and that their work per
// position is in the designed 1:2 proportion.
func TestCommittedSeqCost(t *testing.T) {
	ortlib.RequireInit(t)
	for _, s := range seqCostSpecs {
		checkIO(t, s.File,
			[]string{`Tensor "input_ids": [-1 -1], ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64`, `Tensor "attention_mask": [-1 -1], ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64`},
			[]string{`Tensor "y": [-1 128], ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT`})
		rows := seqIDs()[:2]
		seqLen := max(len(rows[0]), len(rows[1]))
		var ids, mask []int64
		var idsF, maskF []float64
		for _, row := range rows {
			for j := 0; j < seqLen; j++ {
				id, m := int64(0), int64(0)
				if j < len(row) {
					id, m = row[j], 1
				}
				ids, mask = append(ids, id), append(mask, m)
				idsF, maskF = append(idsF, float64(id)), append(maskF, float64(m))
			}
		}
		got, _, err := ortrun.Run(readModel(t, s.File), []ortrun.Input{
			{Name: "input_ids", DType: onnxgen.Int64, Shape: []int64{2, int64(seqLen)}, Values: idsF},
			{Name: "attention_mask", DType: onnxgen.Int64, Shape: []int64{2, int64(seqLen)}, Values: maskF},
		}, []string{"y"})
		if err != nil {
			t.Fatal(err)
		}
		want := s.Model().Forward(ids, mask, 2, seqLen)
		scale := 1.0
		for _, w := range want {
			scale = max(scale, float64(w))
		}
		for i := range want {
			if d := float64(got[0][i] - want[i]); d > 1e-4*scale || d < -1e-4*scale {
				t.Fatalf("%s: y[%d] = %v, Go says %v", s.File, i, got[0][i], want[i])
			}
		}
	}

	// The point of the models is that their cost grows with the sequence
	// length, and the wide one's per position twice as fast. Asserting
	// wall-clock times here would flap on a shared runner, so the test
	// counts the per-position work in the graphs; TestCalibration
	// measures the latencies on demand.
	perPosition := func(s seqCostSpec) int {
		n := 0
		for _, node := range s.Model().Graph().Nodes {
			if node.OpType == "MatMul" {
				n++
			}
		}
		return n * seqCostWidth * seqCostWidth
	}
	base, wide := perPosition(seqCostSpecs[0]), perPosition(seqCostSpecs[1])
	if base == 0 || wide != 2*base {
		t.Errorf("multiply-adds per position: %s %d, %s %d; want the wide model at twice the base", seqCostSpecs[0].File, base, seqCostSpecs[1].File, wide)
	}

}

// TestCalibrationSeqCost measures how the sequence-cost models' latency
// grows with length (documented in testdata/README.md). Timing-dependent, so
// it only runs with INFERGATE_CALIBRATE set.
func TestCalibrationSeqCost(t *testing.T) {
	if os.Getenv("INFERGATE_CALIBRATE") == "" {
		t.Skip("set INFERGATE_CALIBRATE=1 to measure model costs")
	}
	ortlib.RequireInit(t)
	// Latency by length: median of interleaved batch-1 runs, one thread.
	lat := func(file string, n int) time.Duration {
		opts, err := ort.NewSessionOptions()
		if err != nil {
			t.Fatal(err)
		}
		defer opts.Destroy()
		if err := opts.SetIntraOpNumThreads(1); err != nil {
			t.Fatal(err)
		}
		sess, err := ort.NewDynamicAdvancedSessionWithONNXData(readModel(t, file), []string{"input_ids", "attention_mask"}, []string{"y"}, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Destroy()
		vals := make([]float64, n)
		for i := range vals {
			vals[i] = float64(1 + 37*i)
		}
		ones := make([]float64, n)
		for i := range ones {
			ones[i] = 1
		}
		in := []ort.Value{}
		for _, x := range []ortrun.Input{
			{Name: "input_ids", DType: onnxgen.Int64, Shape: []int64{1, int64(n)}, Values: vals},
			{Name: "attention_mask", DType: onnxgen.Int64, Shape: []int64{1, int64(n)}, Values: ones},
		} {
			v, err := ortrun.NewValue(x)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Destroy()
			in = append(in, v)
		}
		var ds []time.Duration
		for i := 0; i < 300; i++ {
			out := []ort.Value{nil}
			start := time.Now()
			if err := sess.Run(in, out); err != nil {
				t.Fatal(err)
			}
			if i >= 50 {
				ds = append(ds, time.Since(start))
			}
			out[0].Destroy()
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	base3, base40 := lat("seq_cost.onnx", 3), lat("seq_cost.onnx", 40)
	wide3, wide40 := lat("seq_cost_wide.onnx", 3), lat("seq_cost_wide.onnx", 40)
	t.Logf("seq_cost: len 3 %v, len 40 %v; seq_cost_wide: len 3 %v, len 40 %v; per-position ratio wide/base %.2f",
		base3, base40, wide3, wide40, float64(wide40-wide3)/float64(base40-base3))
	if base40 < 3*base3 || wide40 < 3*wide3 {
		t.Errorf("latency does not grow with length: seq_cost %v → %v, seq_cost_wide %v → %v (want len 40 ≥ 3× len 3)", base3, base40, wide3, wide40)
	}
	if r := float64(wide40-wide3) / float64(base40-base3); r < 1.3 {
		t.Errorf("seq_cost_wide's per-position cost is %.2f× seq_cost's, want ≥ 1.3", r)
	}
}
