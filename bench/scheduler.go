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
	// Sizes is what a scan of the test set found of its input sizes, and
	// the buckets the rounds break latency down by; nil when the source
	// reports no sizes.
	Sizes *SizeScan
}

// TargetMeasurement is one target's share of a measurement.
type TargetMeasurement struct {
	Info         TargetInfo
	Rounds       []result.Round
	Requests     int64
	Rows         int64
	Errors       int64
	ErrorsByKind map[string]int64
	// ErrorsByClass and ErrorExamples: see BlockResult.
	ErrorsByClass map[string]int64
	ErrorExamples map[string][]int64
	FirstError    string
	// Late counts open-loop calls that started late (BlockResult.Late).
	Late         int64
	Busy         time.Duration
	PeakRSSBytes int64
	// Failed is why the target stopped early, if it did.
	Failed error
}

// LookFunc judges the measurement so far, at planned look number look of
// looks (1-based); returning stop ends the measured pass.
type LookFunc func(m *Measurement, look, looks int) (stop bool, err error)

// Hooks let the caller follow a measurement: progress lines and looks.
type Hooks struct {
	Logf Logf
	Look LookFunc
	// Progress, when set, is told where the measurement stands: as each
	// target's warmup starts, as the measured pass starts, after each
	// round that is no look, and at every look. With it set, the rounds' progress goes to
	// it only, not to Logf as "round N/M done" lines.
	Progress func(Progress)
}

// Phases of a measurement, for Progress.
const (
	PhaseWarmup = "warmup"
	PhaseRounds = "rounds"
)

// Progress is where a measurement stands: numbers only, for a display to
// show (it names no target, so it carries nothing secret).
type Progress struct {
	Phase string // PhaseWarmup or PhaseRounds
	// Target is the index of the target warming up (-1: all of them, in
	// turn, for an automatic warmup); Targets their number.
	Target, Targets int
	// Round is the rounds done; Rounds the rounds planned (the last
	// look's: a sequential plan may stop sooner, or at its budget).
	Round, Rounds int
	// Look is the looks taken; Looks those planned.
	Look, Looks int
	// Measured is the measured time so far, all targets together;
	// RoundTime the last round's; Budget the plan's MaxDuration for a
	// sequential plan, else 0.
	Measured, RoundTime, Budget time.Duration
}

// Measure runs the plan: warmup on every target, then rounds in which each
// target runs the same block of batches, the order alternating between
// rounds (A B, B A, …) so that drift of the machine lands on both. The
// targets never run at the same time.
//
// A fixed plan runs all its rounds and looks once at the end. A sequential
// plan looks after MinRounds rounds and at each doubling, within
// MaxDuration, and stops as soon as a look says so.
//
// On cancellation it returns what was measured so far with Interrupted set
// and no error. When a target fails, the measurement so far is returned
// together with the error.
func Measure(ctx context.Context, targets []Target, src BatchSource, plan Plan, hooks Hooks, opts ...MeasureOption) (*Measurement, error) {
	if err := plan.Validate(); err != nil {
		return nil, err
	}
	o, err := newMeasureOptions(opts)
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, errors.New("bench: no targets")
	}
	if hooks.Logf == nil {
		hooks.Logf = func(string, ...any) {}
	}
	// A Progress hook shows the rounds: no "round N/M done" lines then.
	roundLines := hooks.Progress == nil
	if hooks.Progress == nil {
		hooks.Progress = func(Progress) {}
	}
	if plan.BlockBytes <= 0 {
		plan.BlockBytes = DefaultBlockBytes
	}
	s := &scheduler{
		ctx:        ctx,
		targets:    targets,
		plan:       plan,
		hooks:      hooks,
		roundLines: roundLines,
		blocks:     &blockReader{src: src, budget: plan.BlockBytes},
		m:          &Measurement{Targets: make([]TargetMeasurement, len(targets))},
		told:       make([]bool, len(targets)),
	}
	for i, t := range targets {
		s.m.Targets[i].Info = t.Info()
	}
	// The size buckets are fixed before anything runs, from the test set
	// itself, so every target and every round uses the same edges.
	scan, err := scanSizes(ctx, src, o.sizeBuckets)
	if err != nil {
		return s.result(err)
	}
	s.m.Sizes = scan
	perCall, err := s.warmup()
	if err != nil || s.m.Interrupted {
		return s.result(err)
	}
	return s.result(s.measure(perCall))
}

type scheduler struct {
	ctx     context.Context
	targets []Target
	plan    Plan
	hooks   Hooks
	blocks  *blockReader
	m       *Measurement
	// told marks the targets whose first failed call went to the log.
	told []bool
	// roundLines: log "round N/M done" lines (no Progress hook).
	roundLines bool
}

// result decides what Measure returns for an error met along the way.
func (s *scheduler) result(err error) (*Measurement, error) {
	if err == nil {
		return s.m, nil
	}
	if s.ctx.Err() != nil {
		s.m.Interrupted = true
		return s.m, nil
	}
	var tf *targetFailure
	if errors.As(err, &tf) {
		if errkind.Of(tf.err) == errkind.KindInput {
			return s.m, tf.err
		}
		s.m.Targets[tf.index].Failed = tf.err
		return s.m, errkind.Run(fmt.Errorf("%s: %w", s.m.Targets[tf.index].Info.Name, tf.err))
	}
	return s.m, err
}

// targetFailure says which target an error came from.
type targetFailure struct {
	index int
	err   error
}

func (e *targetFailure) Error() string { return e.err.Error() }
func (e *targetFailure) Unwrap() error { return e.err }

func (s *scheduler) run(i int, blk Block) (BlockResult, error) {
	blk.Concurrency = s.plan.Concurrency
	if blk.Rate > 0 && blk.Concurrency <= 1 {
		// An open loop's callers are not the load: let the target size its
		// pool (the rate is). --concurrency N > 1 caps calls in flight.
		blk.Concurrency = 0
	}
	res, err := s.targets[i].Run(s.ctx, blk)
	if res.FirstErrorDetail != "" && !s.told[i] {
		// The server's words help whoever reads the log, and stay out of
		// the result (they may quote the test set).
		s.told[i] = true
		s.hooks.Logf("%s: first failed call: %s", s.m.Targets[i].Info.Name, res.FirstErrorDetail)
	}
	if err != nil {
		return res, &targetFailure{index: i, err: err}
	}
	return res, nil
}

// Auto warmup: blocks of about autoWarmBlock per target, alternating, until
// the medians of a target's last autoWarmStable blocks lie within
// autoWarmTolerance of each other, or autoWarmMax has gone by per target.
const (
	autoWarmBlock     = 100 * time.Millisecond
	autoWarmStable    = 3
	autoWarmTolerance = 0.05
	autoWarmMax       = 10 * time.Second
	autoWarmFirst     = 20 // requests in the first block, which times a call
)

// warmup runs the unrecorded warmup and returns each target's time per
// call, which sizes the rounds.
func (s *scheduler) warmup() ([]time.Duration, error) {
	perCall := make([]time.Duration, len(s.targets))
	warm := s.plan.Warmup
	if warm.IsZero() {
		if s.plan.Measure.Requests > 0 {
			return perCall, nil
		}
		// Rounds are sized from the time of a call: take a few, unrecorded.
		warm = Amount{Requests: calibrationCalls}
	}
	if warm.Auto {
		s.hooks.Progress(Progress{Phase: PhaseWarmup, Target: -1, Targets: len(s.targets)})
		return s.autoWarmup()
	}
	batches, err := s.blocks.next(s.ctx, blockBatchLimit(warm))
	if err != nil {
		return nil, err
	}
	for i := range s.targets {
		s.hooks.Logf("warmup %s (%s)", s.m.Targets[i].Info.Name, warm)
		s.hooks.Progress(Progress{Phase: PhaseWarmup, Target: i, Targets: len(s.targets)})
		res, err := s.run(i, Block{Batches: pickSized(batches, i, s.m.Sizes), Requests: warm.Requests, Duration: warm.Duration})
		if err != nil {
			return nil, err
		}
		perCall[i] = timePerCall(res, s.plan.Concurrency)
	}
	return perCall, nil
}

func (s *scheduler) autoWarmup() ([]time.Duration, error) {
	n := len(s.targets)
	perCall := make([]time.Duration, n)
	medians := make([][]time.Duration, n)
	spent := make([]time.Duration, n)
	done := make([]bool, n)
	batches, err := s.blocks.next(s.ctx, 1<<30)
	if err != nil {
		return nil, err
	}
	for round := 0; ; round++ {
		all := true
		for _, i := range roundOrder(round, n) {
			if done[i] {
				continue
			}
			reqs := int64(autoWarmFirst)
			if perCall[i] > 0 {
				reqs = max(1, int64(autoWarmBlock/perCall[i]))
			}
			res, err := s.run(i, Block{Batches: pickSized(batches, i, s.m.Sizes), Requests: reqs, Record: true})
			if err != nil {
				return nil, err
			}
			perCall[i] = timePerCall(res, s.plan.Concurrency)
			spent[i] += res.Elapsed
			if res.Histogram != nil && res.Histogram.Count() > 0 {
				medians[i] = append(medians[i], res.Histogram.Quantile(0.5))
			}
			if stable(medians[i]) || spent[i] >= autoWarmMax {
				done[i] = true
				s.hooks.Logf("warmup %s: %s after %v", s.m.Targets[i].Info.Name, warmVerdict(medians[i]), spent[i].Round(time.Millisecond))
			} else {
				all = false
			}
		}
		if all {
			return perCall, nil
		}
	}
}

// stable reports whether the last autoWarmStable block medians agree.
func stable(medians []time.Duration) bool {
	if len(medians) < autoWarmStable {
		return false
	}
	last := medians[len(medians)-autoWarmStable:]
	lo, hi := last[0], last[0]
	for _, d := range last {
		lo, hi = min(lo, d), max(hi, d)
	}
	return lo > 0 && float64(hi-lo)/float64(lo) <= autoWarmTolerance
}

func warmVerdict(medians []time.Duration) string {
	if stable(medians) {
		return fmt.Sprintf("stable at p50 %v", medians[len(medians)-1])
	}
	return "still drifting, stopped at the warmup cap"
}

func timePerCall(res BlockResult, concurrency int) time.Duration {
	n := res.Requests + res.Errors
	if n == 0 {
		return 0
	}
	return res.Elapsed * time.Duration(max(1, concurrency)) / time.Duration(n)
}

// measure runs the measured rounds and the looks.
func (s *scheduler) measure(perCall []time.Duration) error {
	perRound, looks := s.schedule(perCall)
	s.m.RequestsPerRound = perRound
	if s.plan.Sequential() {
		s.hooks.Logf("measuring rounds of %d requests per target, looking after %v rounds (budget %v)", perRound, looks, s.plan.MaxDuration)
	} else {
		s.hooks.Logf("measuring %d rounds of %d requests per target", looks[0], perRound)
	}
	last := looks[len(looks)-1]
	perSub := s.subBlock(perCall, perRound)
	var busy time.Duration
	look := 0
	at := Progress{Phase: PhaseRounds, Rounds: last, Looks: len(looks)}
	if s.plan.Sequential() {
		at.Budget = s.plan.MaxDuration
	}
	s.hooks.Progress(at)
	for round := 0; round < last; round++ {
		if s.ctx.Err() != nil {
			return s.ctx.Err()
		}
		batches, err := s.blocks.next(s.ctx, perRound)
		if err != nil {
			return err
		}
		spent, err := s.round(round, batches, perRound, perSub)
		if err != nil {
			return err
		}
		busy += spent
		done := round + 1
		at.Round, at.Measured, at.RoundTime = done, busy, spent
		overBudget := s.plan.Sequential() && busy >= s.plan.MaxDuration
		if done != looks[look] && !overBudget {
			s.hooks.Progress(at)
			if !s.plan.Sequential() && s.roundLines && (done%progressEvery(last) == 0) {
				s.hooks.Logf("round %d/%d done", done, last)
			}
			continue
		}
		if overBudget {
			look = len(looks) - 1 // the budget is spent: this is the last look
		}
		s.hooks.Logf("look %d/%d after %d rounds (%v measured)", look+1, len(looks), done, busy.Round(100*time.Millisecond))
		at.Look = look + 1
		s.hooks.Progress(at)
		if s.hooks.Look != nil {
			stop, err := s.hooks.Look(s.m, look+1, len(looks))
			if err != nil {
				return err
			}
			if stop {
				return nil
			}
		}
		if look == len(looks)-1 {
			return nil
		}
		look++
	}
	return nil
}

// subBlock is the number of requests in one of a round's short blocks.
// A round's requests are split into blocks of about SubBlockTime that
// alternate between the targets (A B, B A, A B, …), so that noise lasting
// longer than a block, such as a neighbour's burst of a few hundred
// milliseconds, falls on both targets of the round alike.
func (s *scheduler) subBlock(perCall []time.Duration, perRound int64) int64 {
	if s.plan.Rate > 0 {
		// An open loop keeps its schedule within a block only: one block
		// per target and round.
		return perRound
	}
	var sum time.Duration
	for _, d := range perCall {
		if d <= 0 {
			return perRound // not timed: one block per target and round
		}
		sum += d
	}
	mean := sum / time.Duration(len(perCall))
	sub := max(1, int64(s.plan.subBlockTime()*time.Duration(s.plan.Concurrency)/mean))
	return min(sub, perRound)
}

// round runs one round: the same batches on every target, in short
// alternating blocks, one histogram per target. It returns the busy time
// of all targets together.
func (s *scheduler) round(round int, batches []*loader.Batch, perRound, perSub int64) (time.Duration, error) {
	n := len(s.targets)
	sums := make([]BlockResult, n)
	pos := make([]int, n)
	for p, i := range roundOrder(round, n) {
		pos[i] = p
	}
	var busy time.Duration
	for off := int64(0); off < perRound; off += perSub {
		j := off / perSub
		for _, i := range roundOrder(round+int(j), n) {
			blk := Block{
				Offset:     off,
				Requests:   min(perSub, perRound-off),
				Record:     true,
				Accumulate: off+perSub < perRound,
				ResetPeak:  round == 0 && off == 0,
				Rate:       s.plan.Rate,
				Arrival:    s.plan.Arrival,
			}
			if s.m.Sizes != nil {
				blk.SizeBuckets = len(s.m.Sizes.Buckets)
			}
			if off == 0 {
				blk.Batches = pickSized(batches, i, s.m.Sizes)
			}
			res, err := s.run(i, blk)
			if err != nil {
				return busy, err
			}
			sums[i].absorb(res)
			busy += res.Elapsed
		}
	}
	for i := range sums {
		if err := s.m.Targets[i].add(round, pos[i], sums[i]); err != nil {
			return busy, err
		}
	}
	return busy, nil
}

// absorb adds a block's counts to a round's; the histogram comes with the
// round's last block.
func (r *BlockResult) absorb(b BlockResult) {
	r.Requests += b.Requests
	r.Rows += b.Rows
	r.Errors += b.Errors
	r.Late += b.Late
	r.Elapsed += b.Elapsed
	r.PeakRSSBytes = max(r.PeakRSSBytes, b.PeakRSSBytes)
	if r.FirstError == "" {
		r.FirstError = b.FirstError
	}
	for k, v := range b.ErrorsByKind {
		if r.ErrorsByKind == nil {
			r.ErrorsByKind = map[string]int64{}
		}
		r.ErrorsByKind[k] += v
	}
	r.ErrorsByClass, r.ErrorExamples = mergeErrors(r.ErrorsByClass, r.ErrorExamples, b.ErrorsByClass, b.ErrorExamples)
	if b.Histogram != nil {
		r.Histogram = b.Histogram
		r.SizeBuckets = b.SizeBuckets
	}
}

// schedule sizes the rounds and plans the looks (as round counts).
func (s *scheduler) schedule(perCall []time.Duration) (perRound int64, looks []int) {
	p := s.plan
	if !p.Sequential() {
		if p.Rate > 0 && p.Measure.Duration > 0 {
			// An open loop's time is its schedule: each target's share of
			// the duration, at the rate.
			share := p.Measure.Duration / time.Duration(p.Rounds*len(perCall))
			return max(1, int64(share.Seconds()*p.Rate)), []int{p.Rounds}
		}
		return requestsPerRound(p, perCall), []int{p.Rounds}
	}
	var sum time.Duration
	for _, d := range perCall {
		sum += max(d, time.Microsecond)
	}
	conc := time.Duration(p.Concurrency)
	mean := sum / time.Duration(len(perCall))
	perRound = max(1, int64(p.RoundTime*conc/mean))
	roundCost := time.Duration(perRound) * sum / conc
	if p.Rate > 0 {
		// An open loop takes as long as its schedule, whatever a call costs.
		perRound = max(1, int64(p.RoundTime.Seconds()*p.Rate))
		roundCost = p.RoundTime * time.Duration(len(perCall))
	}
	maxRounds := max(2, int(p.MaxDuration/max(roundCost, time.Microsecond)))
	for r := p.MinRounds; r < maxRounds; r *= 2 {
		looks = append(looks, r)
	}
	return perRound, append(looks, maxRounds)
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
		out[i] = BlockBatch{Rows: b.Rows, Tensors: b.Tensors[target], FirstRow: b.FirstRow}
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
		LateStarts:   res.Late,
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
	if r.SizeBuckets, err = sizeRounds(res.SizeBuckets); err != nil {
		return err
	}
	tm.Rounds = append(tm.Rounds, r)
	tm.Requests += res.Requests
	tm.Rows += res.Rows
	tm.Errors += res.Errors
	tm.Late += res.Late
	tm.Busy += res.Elapsed
	tm.PeakRSSBytes = max(tm.PeakRSSBytes, res.PeakRSSBytes)
	for k, v := range res.ErrorsByKind {
		if tm.ErrorsByKind == nil {
			tm.ErrorsByKind = map[string]int64{}
		}
		tm.ErrorsByKind[k] += v
	}
	tm.ErrorsByClass, tm.ErrorExamples = mergeErrors(tm.ErrorsByClass, tm.ErrorExamples, res.ErrorsByClass, res.ErrorExamples)
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
		Role:       role,
		Name:       tm.Info.Name,
		Kind:       tm.Info.Kind,
		Model:      tm.Info.Model,
		Rounds:     tm.Rounds,
		Memory:     result.Memory{LoadRSSBytes: tm.Info.LoadRSSBytes, PeakRSSBytes: tm.PeakRSSBytes},
		Errors:     result.Errors{Total: tm.Errors, ByKind: tm.ErrorsByKind, ByClass: tm.ErrorsByClass, Examples: tm.ErrorExamples},
		LateStarts: tm.Late,
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
