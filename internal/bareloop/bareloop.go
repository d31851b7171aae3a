// Package bareloop times a model with the thinnest possible in-process loop:
// one onnxruntime_go DynamicAdvancedSession, one pre-built float32 input and
// a reused output (or, with TimeFreshOutput, one the runtime allocates per
// call), Run called back to back. It is the reference against
// which infergate's own measurement overhead is judged, and the tool used to
// calibrate the example and test models' costs.
package bareloop

import (
	"errors"
	"fmt"
	"slices"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/infergate/infergate/internal/ortlib"
)

// Names of the single input and output a bare-loop model must have.
const (
	InputName  = "features"
	OutputName = "scores"
)

// Warmup is the number of untimed runs before timing starts.
const Warmup = 200

// Seed fixes the random input data.
const Seed = 0x1f2e3d4c

// Runner owns a session and its input/output values.
type Runner struct {
	sess    *ort.DynamicAdvancedSession
	input   *ort.Tensor[float32]
	outputs []ort.Value
	fresh   []ort.Value // TimeFreshOutput's, empty between calls
}

// Open initializes ONNX Runtime from libPath (once per process), loads
// modelPath with intraOpThreads intra-op threads (and 1 inter-op thread,
// sequential execution), and prepares a float32 "features" input of
// inputShape filled with deterministic random data in [-1, 1).
func Open(libPath, modelPath string, inputShape []int64, intraOpThreads int) (*Runner, error) {
	if err := ortlib.Init(libPath); err != nil {
		return nil, err
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	if intraOpThreads > 0 {
		if err := opts.SetIntraOpNumThreads(intraOpThreads); err != nil {
			return nil, err
		}
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, err
	}
	sess, err := ort.NewDynamicAdvancedSession(modelPath, []string{InputName}, []string{OutputName}, opts)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", modelPath, err)
	}
	shape := ort.NewShape(inputShape...)
	data := make([]float32, shape.FlattenedSize())
	s := uint64(Seed)
	for i := range data {
		s = s*6364136223846793005 + 1442695040888963407
		data[i] = float32(s>>40)/(1<<23) - 1
	}
	in, err := ort.NewTensor(shape, data)
	if err != nil {
		sess.Destroy()
		return nil, err
	}
	r := &Runner{sess: sess, input: in, outputs: []ort.Value{nil}, fresh: []ort.Value{nil}}
	// The first Run lets ORT allocate the output; later runs reuse it.
	if err := r.sess.Run([]ort.Value{r.input}, r.outputs); err != nil {
		r.Close()
		return nil, fmt.Errorf("run %s: %w", modelPath, err)
	}
	return r, nil
}

// Run executes the model once.
func (r *Runner) Run() error {
	return r.sess.Run([]ort.Value{r.input}, r.outputs)
}

// Time executes the model once and returns its wall time.
func (r *Runner) Time() (time.Duration, error) {
	start := time.Now()
	err := r.sess.Run([]ort.Value{r.input}, r.outputs)
	return time.Since(start), err
}

// TimeFreshOutput executes the model once with an output that ONNX Runtime
// allocates during the call, and frees it after the timing. That is how
// infergate's worker calls a model (its batches may differ in shape, so it
// keeps no output between calls): the allocation is part of the timed
// call, about 1.3 µs for a small output on the 2-core VM.
func (r *Runner) TimeFreshOutput() (time.Duration, error) {
	r.fresh[0] = nil
	start := time.Now()
	err := r.sess.Run([]ort.Value{r.input}, r.fresh)
	d := time.Since(start)
	if r.fresh[0] != nil {
		r.fresh[0].Destroy()
		r.fresh[0] = nil
	}
	return d, err
}

// Close releases the session and tensors.
func (r *Runner) Close() error {
	var errs []error
	for _, v := range r.outputs {
		if v != nil {
			errs = append(errs, v.Destroy())
		}
	}
	if r.input != nil {
		errs = append(errs, r.input.Destroy())
	}
	if r.sess != nil {
		errs = append(errs, r.sess.Destroy())
	}
	return errors.Join(errs...)
}

// Median opens modelPath (see Open), warms up with Warmup runs, then times
// iters Run calls individually with time.Now/time.Since and returns the
// median.
func Median(libPath, modelPath string, inputShape []int64, iters int, intraOpThreads int) (time.Duration, error) {
	m, err := MedianInterleaved(libPath, []string{modelPath}, inputShape, iters, intraOpThreads)
	if err != nil {
		return 0, err
	}
	return m[0], nil
}

// MedianInterleaved is Median for several models at once: each iteration
// runs every model once, in order, so slow drifts of the machine hit all of
// them alike. It returns one median per model. Use it to compare costs.
func MedianInterleaved(libPath string, modelPaths []string, inputShape []int64, iters int, intraOpThreads int) ([]time.Duration, error) {
	if iters <= 0 {
		return nil, fmt.Errorf("iters must be positive, got %d", iters)
	}
	runners := make([]*Runner, 0, len(modelPaths))
	defer func() {
		for _, r := range runners {
			r.Close()
		}
	}()
	for _, p := range modelPaths {
		r, err := Open(libPath, p, inputShape, intraOpThreads)
		if err != nil {
			return nil, err
		}
		runners = append(runners, r)
	}
	for i := 0; i < Warmup; i++ {
		for _, r := range runners {
			if err := r.Run(); err != nil {
				return nil, err
			}
		}
	}
	samples := make([][]time.Duration, len(runners))
	for j := range samples {
		samples[j] = make([]time.Duration, iters)
	}
	for i := 0; i < iters; i++ {
		// Alternate the order so no model always runs right after another.
		for k := range runners {
			j := k
			if i%2 == 1 {
				j = len(runners) - 1 - k
			}
			d, err := runners[j].Time()
			if err != nil {
				return nil, err
			}
			samples[j][i] = d
		}
	}
	out := make([]time.Duration, len(runners))
	for j, s := range samples {
		out[j] = median(s)
	}
	return out, nil
}

func median(s []time.Duration) time.Duration {
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
