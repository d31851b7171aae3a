package bench

import (
	"context"
	"encoding/binary"
	"math"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/float16"

	"github.com/infergate/infergate/internal/kservetest"
)

func TestRemoteOutputsDecodeLE(t *testing.T) {
	le := binary.LittleEndian
	var fp32, fp64, i64, fp16 []byte
	for _, v := range []float64{1.5, -2.25, 0} {
		fp32 = le.AppendUint32(fp32, math.Float32bits(float32(v)))
		fp64 = le.AppendUint64(fp64, math.Float64bits(v))
		fp16 = le.AppendUint16(fp16, float16.New(float32(v)).Uint16())
	}
	for _, v := range []int64{-3, 1 << 40, 7} {
		i64 = le.AppendUint64(i64, uint64(v))
	}
	for _, tc := range []struct {
		dt   string
		raw  []byte
		want []float64
	}{
		{"FP32", fp32, []float64{1.5, -2.25, 0}},
		{"FP64", fp64, []float64{1.5, -2.25, 0}},
		{"FP16", fp16, []float64{1.5, -2.25, 0}},
		{"INT64", i64, []float64{-3, 1 << 40, 7}},
	} {
		got, err := decodeLE(tc.dt, tc.raw)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, %v; want %v", tc.dt, got, err, tc.want)
		}
	}
	if _, err := decodeLE("FP32", fp32[:5]); err == nil {
		t.Error("FP32 of 5 bytes: want an error")
	}
	if _, err := decodeLE("BYTES", fp32); err == nil {
		t.Error("BYTES: want an error")
	}
}

// TestRemoteOutputs reads the sum model's outputs over every protocol that
// can return them; the plain http one cannot.
func TestRemoteOutputs(t *testing.T) {
	ctx := context.Background()
	for _, k := range remoteKinds {
		t.Run(k.name, func(t *testing.T) {
			s := startServer(t, k.opts)
			tgt, err := k.start(ctx, s, RemoteConfig{Name: "m"})
			if err != nil {
				t.Fatal(err)
			}
			defer tgt.Close()
			if k.name == "http-json" {
				if SupportsOutputs(tgt) {
					t.Fatal("plain http: SupportsOutputs is true")
				}
				return
			}
			if !SupportsOutputs(tgt) {
				t.Fatal("SupportsOutputs is false")
			}
			bos, err := tgt.(OutputTarget).Outputs(ctx, []BlockBatch{sumBatch(3), sumBatch(5)})
			if err != nil {
				t.Fatal(err)
			}
			if len(bos) != 2 {
				t.Fatalf("%d batches, want 2", len(bos))
			}
			for i, rows := range []int{3, 5} {
				bo := bos[i]
				if bo.Rows != rows || len(bo.Outputs) != 1 {
					t.Fatalf("batch %d: %+v", i, bo)
				}
				o := bo.Outputs[0]
				if o.Name != "sum" || !slices.Equal(o.Shape, []int64{int64(rows)}) || !slices.Equal(o.Data, wantSums(rows)) {
					t.Fatalf("batch %d: output %+v, want sum %v", i, o, wantSums(rows))
				}
			}
		})
	}
}

func TestRemoteOutputsEcho(t *testing.T) {
	ctx := context.Background()
	s := startServer(t, kservetest.Options{Model: &kservetest.EchoModel{In: kservetest.DefaultInputs}})
	for _, k := range remoteKinds[:2] {
		tgt, err := k.start(ctx, s, RemoteConfig{Name: "m"})
		if err != nil {
			t.Fatal(err)
		}
		bos, err := tgt.(OutputTarget).Outputs(ctx, []BlockBatch{sumBatch(2)})
		tgt.Close()
		if err != nil {
			t.Fatal(err)
		}
		o := bos[0].Outputs[0]
		if o.Name != "x" || !slices.Equal(o.Shape, []int64{2, 4}) || !slices.Equal(o.Data, []float64{1, 2, 3, 4, 5, 6, 7, 8}) {
			t.Fatalf("%s: echo output %+v", k.name, o)
		}
	}
}
