package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/loader"
	"github.com/infergate/infergate/result"
)

// BatchSource yields the test set's batches in a fixed order; Batch.Tensors
// holds one input set per target, in the targets' order.
// *loader.Source is one.
type BatchSource interface {
	Next(ctx context.Context) (*loader.Batch, error)
	Rewind() error
}

// Logf receives progress lines; the command layer sends them to stderr.
type Logf func(format string, args ...any)

// Measurement is what the scheduler collected.
type Measurement struct {
	Targets []TargetMeasurement // in the order the targets were given
	// RequestsPerRound is the block size each target ran per round.
	RequestsPerRound int64
	// Interrupted is set when the context was cancelled mid-run.
	Interrupted bool
}

// TargetMeasurement is one target's share of a measurement.
type TargetMeasurement struct {
	Info         TargetInfo
	Rounds       []result.Round
	Requests     int64
	Rows         int64
	Errors       int64
	ErrorsByKind map[string]int64
	FirstError   string
	Busy         time.Duration
	PeakRSSBytes int64
	// Failed is why the target stopped early, if it did.
	Failed error
}

// Measure runs the plan: warmup on every target, then Rounds rounds in
// which each target runs the same block of batches, the order alternating
// between rounds (A B, B A, …) so that drift of the machine lands on both.
// The targets never run at the same time.
//
// On cancellation it returns what was measured so far with Interrupted set
// and no error. When a target fails, the measurement so far is returned
// together with the error.
func Measure(ctx context.Context, targets []Target, src BatchSource, plan Plan, logf Logf) (*Measurement, error) {
	if err := plan.Validate(); err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, errors.New("bench: no targets")
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if plan.BlockBytes <= 0 {
		plan.BlockBytes = DefaultBlockBytes
	}
	m := &Measurement{Targets: make([]TargetMeasurement, len(targets))}
	for i, t := range targets {
		m.Targets[i].Info = t.Info()
	}
	blocks := &blockReader{src: src, budget: plan.BlockBytes}

	// fail records a target's failure and decides what Measure returns.
	fail := func(i int, err error) (*Measurement, error) {
		if ctx.Err() != nil {
			m.Interrupted = true
			return m, nil
		}
		if errkind.Of(err) == errkind.KindInput {
			return m, err
		}
		m.Targets[i].Failed = err
		return m, errkind.Run(fmt.Errorf("%s: %w", m.Targets[i].Info.Name, err))
	}

	// Warmup: never recorded. It also tells how long a call takes, which
	// sizes the rounds of a measured pass given as a duration.
	perCall := make([]time.Duration, len(targets))
	if !plan.Warmup.IsZero() || plan.Measure.Duration > 0 {
		warm := plan.Warmup
		if warm.IsZero() {
			warm = Amount{Requests: calibrationCalls}
		}
		batches, err := blocks.next(ctx, blockBatchLimit(warm))
		if err != nil {
			return nil, err
		}
		for i, t := range targets {
			logf("warmup %s (%s)", m.Targets[i].Info.Name, warm)
			res, err := t.Run(ctx, Block{
				Batches:     pick(batches, i),
				Requests:    warm.Requests,
				Duration:    warm.Duration,
				Concurrency: plan.Concurrency,
			})
			if err != nil {
				return fail(i, err)
			}
			if res.Requests > 0 {
				perCall[i] = res.Elapsed / time.Duration(res.Requests)
			}
		}
	}

	perRound := requestsPerRound(plan, perCall)
	m.RequestsPerRound = perRound
	logf("measuring %d rounds of %d requests per target", plan.Rounds, perRound)

	for round := 0; round < plan.Rounds; round++ {
		if ctx.Err() != nil {
			m.Interrupted = true
			return m, nil
		}
		batches, err := blocks.next(ctx, perRound)
		if err != nil {
			if ctx.Err() != nil {
				m.Interrupted = true
				return m, nil
			}
			return m, err
		}
		for pos, i := range roundOrder(round, len(targets)) {
			res, err := targets[i].Run(ctx, Block{
				Batches:     pick(batches, i),
				Requests:    perRound,
				Concurrency: plan.Concurrency,
				Record:      true,
				ResetPeak:   round == 0,
			})
			if err != nil {
				return fail(i, err)
			}
			if err := m.Targets[i].add(round, pos, res); err != nil {
				return m, err
			}
		}
		if (round+1)%progressEvery(plan.Rounds) == 0 || round+1 == plan.Rounds {
			logf("round %d/%d done", round+1, plan.Rounds)
		}
	}
	return m, nil
}

// calibrationCalls time a model when the user asked for no warmup but gave
// the measured pass as a duration.
const calibrationCalls = 10

func progressEvery(rounds int) int { return max(1, rounds/5) }

// roundOrder alternates which target goes first: 0 1, 1 0, 0 1, …
func roundOrder(round, n int) []int {
	order := make([]int, n)
	for i := range order {
		if round%2 == 0 {
			order[i] = i
		} else {
			order[i] = n - 1 - i
		}
	}
	return order
}

// requestsPerRound sizes a round's block. For a duration, the block is
// sized so that all rounds of all targets together take about that long,
// from the per-call times seen in warmup.
func requestsPerRound(plan Plan, perCall []time.Duration) int64 {
	if plan.Measure.Requests > 0 {
		return (plan.Measure.Requests + int64(plan.Rounds) - 1) / int64(plan.Rounds)
	}
	var sum time.Duration
	for _, d := range perCall {
		sum += max(d, time.Microsecond)
	}
	sum /= time.Duration(plan.Concurrency)
	perRoundTime := plan.Measure.Duration / time.Duration(plan.Rounds)
	return max(1, int64(perRoundTime/sum))
}

func blockBatchLimit(a Amount) int64 {
	if a.Requests > 0 {
		return a.Requests
	}
	return 1 << 30 // a duration: as many distinct batches as the budget allows
}

func pick(batches []*loader.Batch, target int) []BlockBatch {
	out := make([]BlockBatch, len(batches))
	for i, b := range batches {
		out[i] = BlockBatch{Rows: b.Rows, Tensors: b.Tensors[target]}
	}
	return out
}

func (tm *TargetMeasurement) add(round, pos int, res BlockResult) error {
	r := result.Round{
		Index:        round,
		Position:     pos,
		Requests:     res.Requests,
		Rows:         res.Rows,
		Errors:       res.Errors,
		ElapsedNS:    int64(res.Elapsed),
		PeakRSSBytes: res.PeakRSSBytes,
	}
	h := res.Histogram
	if h == nil {
		h = result.NewHistogram()
	}
	enc, err := h.Encode()
	if err != nil {
		return err
	}
	r.Histogram = enc
	tm.Rounds = append(tm.Rounds, r)
	tm.Requests += res.Requests
	tm.Rows += res.Rows
	tm.Errors += res.Errors
	tm.Busy += res.Elapsed
	tm.PeakRSSBytes = max(tm.PeakRSSBytes, res.PeakRSSBytes)
	for k, v := range res.ErrorsByKind {
		if tm.ErrorsByKind == nil {
			tm.ErrorsByKind = map[string]int64{}
		}
		tm.ErrorsByKind[k] += v
	}
	if tm.FirstError == "" {
		tm.FirstError = res.FirstError
	}
	return nil
}

// blockReader cuts the stream of batches into blocks. A block holds at most
// n distinct batches, at most budget bytes of input, and never the same
// batch twice (a block shorter than its requests is cycled by the worker).
type blockReader struct {
	src    BatchSource
	budget int64
	// cycle is the number of batches in the whole test set, once known.
	cycle int
	// sinceRewind counts batches read since the stream last started over.
	sinceRewind int
}

func (br *blockReader) next(ctx context.Context, n int64) ([]*loader.Batch, error) {
	var out []*loader.Batch
	var bytes int64
	for int64(len(out)) < n && (len(out) == 0 || bytes < br.budget) {
		if br.cycle > 0 && len(out) >= br.cycle {
			break
		}
		b, err := br.src.Next(ctx)
		if errors.Is(err, io.EOF) {
			if br.sinceRewind == 0 {
				return nil, errkind.Input(errors.New("the dataset yielded no batches"))
			}
			br.cycle = br.sinceRewind
			br.sinceRewind = 0
			if err := br.src.Rewind(); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		br.sinceRewind++
		out = append(out, b)
		bytes += batchBytes(b)
	}
	return out, nil
}

func batchBytes(b *loader.Batch) int64 {
	var n int64
	for _, ts := range b.Tensors {
		for _, t := range ts {
			n += t.Elements() * int64(t.DType.ElemSize())
		}
	}
	return n
}

// ToResult turns a target's measurement into its part of the result
// document.
func (tm *TargetMeasurement) ToResult(role result.Role) (result.Target, error) {
	t := result.Target{
		Role:   role,
		Name:   tm.Info.Name,
		Kind:   tm.Info.Kind,
		Model:  tm.Info.Model,
		Rounds: tm.Rounds,
		Memory: result.Memory{LoadRSSBytes: tm.Info.LoadRSSBytes, PeakRSSBytes: tm.PeakRSSBytes},
		Errors: result.Errors{Total: tm.Errors, ByKind: tm.ErrorsByKind},
	}
	if t.Rounds == nil {
		t.Rounds = []result.Round{}
	}
	if t.Errors.ByKind == nil {
		t.Errors.ByKind = map[string]int64{}
	}
	for _, in := range tm.Info.Inputs {
		t.Inputs = append(t.Inputs, in.String())
	}
	if tm.Failed != nil {
		t.Failed = tm.Failed.Error()
	}
	h, err := t.Histogram()
	if err != nil {
		return t, err
	}
	t.Latency = h.Summary()
	if tm.Busy > 0 {
		secs := tm.Busy.Seconds()
		t.Throughput = result.Throughput{
			InferencesPerS: float64(tm.Requests) / secs,
			RowsPerS:       float64(tm.Rows) / secs,
		}
	}
	return t, nil
}
