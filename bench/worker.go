package bench

import (
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/infergate/infergate/loader"
	"github.com/infergate/infergate/result"
)

// ServeWorker runs the worker side of the protocol: it loads one model and
// runs blocks until the parent closes the request stream. The command layer
// calls it from the hidden `worker` subcommand with file descriptors 3 and 4.
//
// Latency is timed here, around the Run call only, so the pipe and the
// coordination are never in the number.
func ServeWorker(requests io.Reader, replies io.Writer) error {
	dec := gob.NewDecoder(requests)
	enc := gob.NewEncoder(replies)
	var w worker
	defer w.close()
	for {
		var req wireRequest
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("worker: read request: %w", err)
		}
		var reply any
		switch {
		case req.Load != nil:
			w.loadReq = req.Load
			reply = w.load(req.Load)
		case req.Profile != nil:
			batches, err := readBatches(dec, req.Profile.NumBatches)
			if err != nil {
				return err
			}
			reply = w.profile(req.Profile, batches)
		case req.Block != nil:
			batches, err := readBatches(dec, req.Block.NumBatches)
			if err != nil {
				return err
			}
			reply = w.runBlock(req.Block, batches)
		case req.Outputs != nil:
			batches, err := readBatches(dec, req.Outputs.NumBatches)
			if err != nil {
				return err
			}
			reply = w.outputs(req.Outputs, batches)
		default:
			return errors.New("worker: empty request")
		}
		if err := enc.Encode(reply); err != nil {
			return fmt.Errorf("worker: write reply: %w", err)
		}
	}
}

type worker struct {
	session *ort.DynamicAdvancedSession
	nOut    int
	device  Device
	// primed holds the input shapes a GPU session has run once (see
	// prime).
	primed map[string]bool
	// batches are the last block's inputs, kept for blocks that reuse them.
	batches []ortBatch
	// open are the histograms of a round being recorded across blocks, one
	// per caller, and openSizes the same broken down by input size.
	open      []*result.Histogram
	openSizes []*sizeRec
	// loadReq is how the model was loaded, for the profiled session.
	loadReq *loadRequest
}

func (w *worker) close() {
	w.destroyBatches()
	if w.session != nil {
		_ = w.session.Destroy()
	}
	if ort.IsInitialized() {
		_ = ort.DestroyEnvironment()
	}
}

func inputErr(format string, args ...any) *wireError {
	return &wireError{Input: true, Message: fmt.Sprintf(format, args...)}
}

func (w *worker) load(req *loadRequest) (reply loadReply) {
	if w.session != nil {
		reply.Err = &wireError{Message: "worker: model already loaded"}
		return reply
	}
	dev, err := ParseDevice(req.Device)
	if err != nil {
		reply.Err = inputErr("%v", err)
		return reply
	}
	w.device = dev
	ort.SetSharedLibraryPath(req.LibPath)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		reply.Err = inputErr("cannot use ONNX Runtime library %s: %v", req.LibPath, oneLine(err))
		return reply
	}
	reply.ORTVersion = ort.GetVersion()

	ins, outs, err := ort.GetInputOutputInfo(req.ModelPath)
	if err != nil {
		reply.Err = inputErr("model %s: cannot load: %v", req.ModelPath, oneLine(err))
		return reply
	}
	var inNames, outNames []string
	for _, in := range ins {
		spec, err := inputSpec(in)
		if err != nil {
			reply.Err = inputErr("model %s: %v", req.ModelPath, err)
			return reply
		}
		reply.Inputs = append(reply.Inputs, spec)
		inNames = append(inNames, in.Name)
	}
	for _, out := range outs {
		outNames = append(outNames, out.Name)
		// Output parity refuses shapes these declarations already tell
		// apart before anything is measured.
		reply.OutputShapes = append(reply.OutputShapes, slices.Clone([]int64(out.Dimensions)))
	}
	reply.Outputs = outNames

	opts, err := sessionOptions(req)
	if err != nil {
		reply.Err = inputErr("%v", err)
		return reply
	}
	defer opts.Destroy()

	// Return the Go heap's free pages first, so the runtime's scavenger
	// cannot shrink RSS between the two readings and hide the model.
	debug.FreeOSMemory()
	before := procStatusBytes("VmRSS")
	s, err := ort.NewDynamicAdvancedSession(req.ModelPath, inNames, outNames, opts)
	if err != nil {
		reply.Err = inputErr("model %s: cannot load: %v", req.ModelPath, oneLine(err))
		return reply
	}
	reply.LoadRSSBytes = max(0, procStatusBytes("VmRSS")-before)
	reply.ModelVersion = modelVersion(s)
	w.session = s
	w.nOut = len(outNames)
	return reply
}

// modelVersion is the model's ONNX model_version, "" when the file does
// not set it or the metadata cannot be read: the version only labels
// reports, so not knowing it is no reason to refuse the model. ONNX
// Runtime reports an unset model_version as the largest int64; 0, the
// field's default, is taken as unset too.
func modelVersion(s *ort.DynamicAdvancedSession) string {
	md, err := s.GetModelMetadata()
	if err != nil {
		return ""
	}
	defer md.Destroy()
	v, err := md.GetVersion()
	if err != nil || v == 0 || v == math.MaxInt64 {
		return ""
	}
	return strconv.FormatInt(v, 10)
}

func sessionOptions(req *loadRequest) (*ort.SessionOptions, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*ort.SessionOptions, error) {
		opts.Destroy()
		return nil, err
	}
	if req.IntraOpThreads > 0 {
		if err := opts.SetIntraOpNumThreads(req.IntraOpThreads); err != nil {
			return fail(err)
		}
	}
	if req.InterOpThreads > 0 {
		if err := opts.SetInterOpNumThreads(req.InterOpThreads); err != nil {
			return fail(err)
		}
	}
	level, err := graphOptLevel(req.GraphOptimization)
	if err != nil {
		return fail(fmt.Errorf("model %s: %w", req.ModelPath, err))
	}
	if err := opts.SetGraphOptimizationLevel(level); err != nil {
		return fail(err)
	}
	dev, err := ParseDevice(req.Device)
	if err != nil {
		return fail(err)
	}
	if err := appendProvider(opts, dev, req.ProviderOptions); err != nil {
		return fail(err)
	}
	return opts, nil
}

// GraphOptimizationLevels are the values --graph-optimization accepts.
var GraphOptimizationLevels = []string{"disable", "basic", "extended", "all"}

func graphOptLevel(s string) (ort.GraphOptimizationLevel, error) {
	switch s {
	case "", "all":
		return ort.GraphOptimizationLevelEnableAll, nil
	case "extended":
		return ort.GraphOptimizationLevelEnableExtended, nil
	case "basic":
		return ort.GraphOptimizationLevelEnableBasic, nil
	case "disable", "none":
		return ort.GraphOptimizationLevelDisableAll, nil
	}
	return 0, fmt.Errorf("unknown graph optimisation level %q (want one of %s)", s, strings.Join(GraphOptimizationLevels, ", "))
}

func inputSpec(in ort.InputOutputInfo) (loader.InputSpec, error) {
	if in.OrtValueType != ort.ONNXTypeTensor {
		return loader.InputSpec{}, fmt.Errorf("input %s is a %s; only tensor inputs are supported", in.Name, in.OrtValueType)
	}
	dt, ok := fromORTType[in.DataType]
	if !ok {
		return loader.InputSpec{}, fmt.Errorf("input %s has element type %s, which infergate cannot feed", in.Name, in.DataType)
	}
	shape := make([]int64, len(in.Dimensions))
	for i, d := range in.Dimensions {
		if d < 0 {
			d = -1
		}
		shape[i] = d
	}
	return loader.InputSpec{Name: in.Name, DType: dt, Shape: shape}, nil
}

var fromORTType = map[ort.TensorElementDataType]loader.DType{
	ort.TensorElementDataTypeFloat:   loader.Float32,
	ort.TensorElementDataTypeDouble:  loader.Float64,
	ort.TensorElementDataTypeFloat16: loader.Float16,
	ort.TensorElementDataTypeInt64:   loader.Int64,
	ort.TensorElementDataTypeInt32:   loader.Int32,
	ort.TensorElementDataTypeInt8:    loader.Int8,
	ort.TensorElementDataTypeUint8:   loader.Uint8,
	ort.TensorElementDataTypeBool:    loader.Bool,
}

func toORTType(d loader.DType) (ort.TensorElementDataType, bool) {
	for k, v := range fromORTType {
		if v == d {
			return k, true
		}
	}
	return 0, false
}

// ortBatch is a batch turned into runtime values, made before timing.
type ortBatch struct {
	rows   int64
	size   float64
	bucket int
	first  int64 // dataset row of the first row
	class  string
	values []ort.Value
}

func (b *ortBatch) destroy() {
	for _, v := range b.values {
		if v != nil {
			_ = v.Destroy()
		}
	}
}

func newORTBatch(wb wireBatch) (ortBatch, error) {
	b := ortBatch{rows: int64(wb.Rows), size: wb.Size, bucket: wb.Bucket, first: wb.FirstRow, class: wb.Class}
	for _, t := range wb.Tensors {
		v, err := newORTValue(t)
		if err != nil {
			b.destroy()
			return ortBatch{}, fmt.Errorf("input %s: %w", t.Name, err)
		}
		b.values = append(b.values, v)
	}
	return b, nil
}

func newORTValue(t wireTensor) (ort.Value, error) {
	if len(t.Shape) == 0 {
		return newORTScalar(t)
	}
	dt, ok := toORTType(t.DType)
	if !ok {
		return nil, fmt.Errorf("unsupported element type %s", t.DType)
	}
	if len(t.Raw) == 0 {
		return nil, fmt.Errorf("empty tensor of shape %v", t.Shape)
	}
	return ort.NewCustomDataTensor(ort.NewShape(t.Shape...), t.Raw, dt)
}

// newORTScalar makes a 0-d tensor; the runtime's custom-data tensors need at
// least one dimension.
func newORTScalar(t wireTensor) (ort.Value, error) {
	if len(t.Raw) != t.DType.ElemSize() {
		return nil, fmt.Errorf("0-d %s input with %d bytes", t.DType, len(t.Raw))
	}
	p := unsafe.Pointer(&t.Raw[0])
	switch t.DType {
	case loader.Float32:
		return ort.NewScalar(*(*float32)(p))
	case loader.Float64:
		return ort.NewScalar(*(*float64)(p))
	case loader.Int64:
		return ort.NewScalar(*(*int64)(p))
	case loader.Int32:
		return ort.NewScalar(*(*int32)(p))
	case loader.Int8:
		return ort.NewScalar(*(*int8)(p))
	case loader.Uint8:
		return ort.NewScalar(t.Raw[0])
	case loader.Bool:
		return ort.NewScalar(t.Raw[0] != 0)
	}
	return nil, fmt.Errorf("0-d inputs of type %s are not supported", t.DType)
}

// readBatches reads the n batch messages that follow a block request.
func readBatches(dec *gob.Decoder, n int) ([]wireBatch, error) {
	out := make([]wireBatch, 0, n)
	for range n {
		var req wireRequest
		if err := dec.Decode(&req); err != nil {
			return nil, fmt.Errorf("worker: read batch: %w", err)
		}
		if req.Batch == nil {
			return nil, errors.New("worker: expected a batch")
		}
		out = append(out, *req.Batch)
	}
	return out, nil
}

func (w *worker) runBlock(req *blockRequest, wbs []wireBatch) (reply blockReply) {
	if w.session == nil {
		reply.Err = &wireError{Message: "worker: no model loaded"}
		return reply
	}
	if reply.Err = w.keepBatches(wbs); reply.Err != nil {
		return reply
	}
	if len(w.batches) == 0 {
		reply.Err = &wireError{Message: "worker: block without batches"}
		return reply
	}
	reply.Primed = w.prime()
	if req.ResetPeak {
		resetPeakRSS()
	}

	conc := max(1, req.Concurrency)
	if req.Record {
		for len(w.open) < conc {
			w.open = append(w.open, result.NewHistogram())
		}
		if req.SizeBuckets > 0 {
			for len(w.openSizes) < conc {
				w.openSizes = append(w.openSizes, newSizeRec(req.SizeBuckets))
			}
		}
	}
	loops := make([]*callLoop, conc)
	var next atomic.Int64
	var deadline time.Time
	start := time.Now()
	if req.Requests <= 0 {
		deadline = start.Add(req.Duration)
	}
	var wg sync.WaitGroup
	for i := range loops {
		l := &callLoop{w: w, batches: w.batches, offset: req.Offset}
		if req.Record {
			l.hist = w.open[i]
			if i < len(w.openSizes) {
				l.sizes = w.openSizes[i]
			}
		}
		loops[i] = l
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run(&next, req.Requests, deadline)
		}()
	}
	wg.Wait()

	// Busy time spans the earliest start to the latest end of any call.
	first, last := loops[0].first, loops[0].last
	for _, l := range loops[1:] {
		if !l.first.IsZero() && (first.IsZero() || l.first.Before(first)) {
			first = l.first
		}
		if l.last.After(last) {
			last = l.last
		}
	}
	if !first.IsZero() {
		reply.ElapsedNS = int64(last.Sub(first))
	}
	for _, l := range loops {
		reply.Requests += l.ok
		reply.Rows += l.rows
		reply.Errors += l.errs
		if l.errs > 0 {
			if reply.ErrorsByKind == nil {
				reply.ErrorsByKind = map[string]int64{}
			}
			reply.ErrorsByKind[errKindRuntime] += l.errs
			if reply.FirstError == "" {
				reply.FirstError = l.firstErr
			}
			reply.ErrorsByClass, reply.ErrorExamples = mergeErrors(reply.ErrorsByClass, reply.ErrorExamples, l.errIn.byClass, l.errIn.examples)
		}
	}
	if req.Record && !req.Accumulate {
		// Close the histogram that this and any accumulating blocks before
		// it recorded into.
		hist := w.open[0]
		for _, h := range w.open[1:] {
			hist.Merge(h)
		}
		w.open = nil
		enc, err := hist.Encode()
		if err != nil {
			reply.Err = &wireError{Message: err.Error()}
			return reply
		}
		reply.Histogram = enc
		if len(w.openSizes) > 0 {
			sizes := w.openSizes[0]
			for _, o := range w.openSizes[1:] {
				sizes.merge(o)
			}
			w.openSizes = nil
			if reply.SizeBuckets, err = encodeSizeBuckets(sizes.results()); err != nil {
				reply.Err = &wireError{Message: err.Error()}
				return reply
			}
		}
	}
	reply.PeakRSSBytes = procStatusBytes("VmHWM")
	return reply
}

// primeOnCPU makes CPU sessions prime new shapes too, so that tests on
// machines without a GPU can watch prime work.
var primeOnCPU = false

// prime runs, untimed, each input shape a GPU session has not run yet.
// The first call of a shape initialises CUDA lazily, lets cuDNN search
// its convolution algorithms and grows the memory arena: costs of the
// first call, which belong to warmup wherever the shape first shows up,
// even in a measured round. A failing call is left to the timed loop to
// count.
//
// It returns the number of calls it made.
func (w *worker) prime() (calls int64) {
	if !w.device.GPU() && !primeOnCPU {
		return 0
	}
	if w.primed == nil {
		w.primed = map[string]bool{}
	}
	outputs := make([]ort.Value, w.nOut)
	for i := range w.batches {
		key := shapeKey(&w.batches[i])
		if w.primed[key] {
			continue
		}
		w.primed[key] = true
		calls++
		clear(outputs)
		_ = w.session.Run(w.batches[i].values, outputs)
		for _, o := range outputs {
			if o != nil {
				_ = o.Destroy()
			}
		}
	}
	return calls
}

// keepBatches makes new batches replace the ones kept from the last
// request; with none, the kept ones stay.
func (w *worker) keepBatches(wbs []wireBatch) *wireError {
	if len(wbs) == 0 {
		return nil
	}
	w.destroyBatches()
	for _, wb := range wbs {
		b, err := newORTBatch(wb)
		if err != nil {
			w.destroyBatches()
			return inputErr("%v", err)
		}
		w.batches = append(w.batches, b)
	}
	return nil
}

func (w *worker) destroyBatches() {
	for i := range w.batches {
		w.batches[i].destroy()
	}
	w.batches = nil
}

// errKindRuntime counts calls that the runtime rejected or failed.
const errKindRuntime = "runtime_error"

// callLoop is one closed-loop caller: it issues calls back to back.
type callLoop struct {
	w       *worker
	batches []ortBatch
	offset  int64 // request i uses batches[(offset+i) % len]
	hist    *result.Histogram
	sizes   *sizeRec // nil unless recording by input size

	ok, rows, errs int64
	firstErr       string
	errIn          errRec // failed calls by input class, example rows
	first, last    time.Time
}

func (l *callLoop) run(next *atomic.Int64, requests int64, deadline time.Time) {
	// The loop keeps one OS thread, and steps out to the scheduler between
	// calls every yieldInterval. Both keep the Go runtime out of the timed
	// calls. A goroutine that runs cgo calls back to back for 10 ms is
	// force-preempted by sysmon, which takes its P in the middle of a call
	// and then polls every 20 µs for milliseconds; on a 2-core VM those
	// wakeups stalled 4-6% of a 20 µs model's calls by about 30 µs, a
	// second mode right at p95, and p95 ratios of a 1.3x pair came out
	// anywhere from 1.3 to 2.3 (docs/design.md, "How a measurement is
	// taken").
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	lastYield := time.Now()
	outputs := make([]ort.Value, l.w.nOut)
	for {
		i := next.Add(1) - 1
		if requests > 0 && i >= requests {
			return
		}
		if requests <= 0 && i > 0 && !time.Now().Before(deadline) {
			return
		}
		// The last call's end stands for now: no extra clock read per call.
		if l.last.Sub(lastYield) >= yieldInterval {
			runtime.UnlockOSThread()
			runtime.Gosched()
			runtime.LockOSThread()
			lastYield = time.Now()
		}
		b := &l.batches[(l.offset+i)%int64(len(l.batches))]
		clear(outputs)
		t0 := time.Now()
		err := l.w.session.Run(b.values, outputs)
		t1 := time.Now()
		if l.first.IsZero() {
			l.first = t0
		}
		l.last = t1
		for _, o := range outputs {
			if o != nil {
				_ = o.Destroy()
			}
		}
		if err != nil {
			l.errs++
			l.sizes.fail(b.bucket)
			l.errIn.fail(errKindRuntime, b.class, b.first)
			if l.firstErr == "" {
				l.firstErr = oneLine(err)
			}
			continue
		}
		l.ok++
		l.rows += b.rows
		if l.hist != nil {
			l.hist.RecordNS(int64(t1.Sub(t0)))
			l.sizes.ok(b.bucket, b.size, int64(t1.Sub(t0)))
		}
	}
}

// yieldInterval is how long a call loop runs before it yields: well under
// the 10 ms after which the runtime force-preempts a goroutine. Unlocked
// for the yield, the goroutine is cheap to reschedule (a locked one is
// handed between threads).
const yieldInterval = 2 * time.Millisecond

// oneLine keeps the first line of a runtime message; ONNX Runtime's can
// carry a stack of context after it.
func oneLine(err error) string {
	s := strings.TrimSpace(err.Error())
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
