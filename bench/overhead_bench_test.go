package bench

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/infergate/infergate/internal/ortlib"
	"github.com/infergate/infergate/result"
)

// BenchmarkHarnessOverhead compares infergate's measured p50 for a small
// model (about 15–20 µs per call) with a bare in-process loop that calls Run
// on the same model with the same input, timing each call the same way.
// The two alternate, several times, so drift of the machine hits both; the
// reported metric is the median of the per-pair p50 ratios
// (infergate / bare). `make bench-overhead` runs it and checks the ratio.
func BenchmarkHarnessOverhead(b *testing.B) {
	const iters = 20000
	const pairs = 7
	lib := ortlib.RequireInit(b)
	model := testdata("mlp_base.onnx")

	cfg := testConfig(b, model, "serve")
	cfg.LibPath = lib
	tgt, err := StartONNX(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer tgt.Close()
	batch := mlpBatch(1)

	bare, err := newBareLoop(model, batch.Tensors[0].Data.([]float32))
	if err != nil {
		b.Fatal(err)
	}
	defer bare.close()

	// Warm both.
	if _, err := tgt.Run(context.Background(), Block{Batches: []BlockBatch{batch}, Requests: 2000, Concurrency: 1}); err != nil {
		b.Fatal(err)
	}
	if _, err := bare.p50(2000); err != nil {
		b.Fatal(err)
	}

	var ratios []float64
	var lastBare, lastHarness time.Duration
	for b.Loop() {
		ratios = ratios[:0]
		for range pairs {
			bp50, err := bare.p50(iters)
			if err != nil {
				b.Fatal(err)
			}
			res, err := tgt.Run(context.Background(), Block{Batches: []BlockBatch{batch}, Requests: iters, Concurrency: 1, Record: true})
			if err != nil {
				b.Fatal(err)
			}
			hp50 := res.Histogram.Quantile(0.5)
			ratios = append(ratios, float64(hp50)/float64(bp50))
			lastBare, lastHarness = bp50, hp50
		}
	}
	slices.Sort(ratios)
	ratio := ratios[len(ratios)/2]
	b.ReportMetric(ratio, "p50-ratio")
	b.ReportMetric(float64(lastBare.Nanoseconds()), "bare-p50-ns")
	b.ReportMetric(float64(lastHarness.Nanoseconds()), "infergate-p50-ns")
	b.Logf("harness overhead: p50 infergate/bare = %.3f (median of %d alternating pairs; last pair %v vs %v)",
		ratio, pairs, lastHarness, lastBare)
}

// bareLoop is the reference: one session in this process, Run called back
// to back with outputs allocated by the runtime, as infergate's worker does.
type bareLoop struct {
	sess  *ort.DynamicAdvancedSession
	input *ort.Tensor[float32]
}

func newBareLoop(model string, data []float32) (*bareLoop, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(1); err != nil {
		return nil, err
	}
	sess, err := ort.NewDynamicAdvancedSession(model, []string{"features"}, []string{"scores"}, opts)
	if err != nil {
		return nil, err
	}
	in, err := ort.NewTensor(ort.NewShape(1, int64(len(data))), slices.Clone(data))
	if err != nil {
		sess.Destroy()
		return nil, err
	}
	return &bareLoop{sess: sess, input: in}, nil
}

func (l *bareLoop) p50(n int) (time.Duration, error) {
	h := result.NewHistogram()
	inputs := []ort.Value{l.input}
	outputs := make([]ort.Value, 1)
	for range n {
		outputs[0] = nil
		t0 := time.Now()
		err := l.sess.Run(inputs, outputs)
		d := time.Since(t0)
		if err != nil {
			return 0, fmt.Errorf("bare loop: %w", err)
		}
		outputs[0].Destroy()
		h.Record(d)
	}
	return h.Quantile(0.5), nil
}

func (l *bareLoop) close() {
	l.input.Destroy()
	l.sess.Destroy()
}
