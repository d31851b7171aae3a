package compare

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/report/human"
	"github.com/infergate/infergate/result"
)

// MethodPoint marks a check that has a point estimate but no interval
// (fewer than 2 rounds to resample): Lower and Upper equal the measured
// quantity and the outcome is inconclusive.
const MethodPoint = "point estimate"

// Defaults of Options.
const (
	DefaultConfidence = 0.95
	// MinResamples is the fewest bootstrap resamples JudgeWith draws: at
	// 2000 the 5% tail quantile rests on 100 replicates, and after a Holm
	// adjustment over a handful of checks still on a few dozen.
	MinResamples = 2000
	// DefaultSeed makes resampling reproducible: the same document judged
	// twice gives the same intervals.
	DefaultSeed uint64 = 0x1f9e_2a7e
	// DefaultMemoryTolerance is the relative band around the peak-RSS
	// ratio: peak RSS is nearly deterministic, so it is compared directly,
	// but allocator and page-cache jitter of a few percent is not a change.
	DefaultMemoryTolerance = 0.05
)

// Options tune JudgeWith. Start from DefaultOptions: the zero value of
// MemoryTolerance and Seed are used as given.
type Options struct {
	// Confidence is the one-sided family-wise confidence level, in (0.5, 1):
	// at 0.95 a good candidate is failed, and a bad one passed, each with
	// probability at most 5% over all checks and looks. 0 means
	// DefaultConfidence.
	Confidence float64
	// Resamples is the number of bootstrap resamples; values below
	// MinResamples are raised to it.
	Resamples int
	// Seed seeds the resampling.
	Seed uint64
	// MemoryTolerance is the relative band around the peak-RSS ratio,
	// e.g. 0.05: the check fails only when ratio/(1+tol) exceeds the
	// threshold and passes only when ratio·(1+tol) is within it.
	MemoryTolerance float64
	// Look and Looks support sequential testing: a scheduler that judges
	// after 10, 20 and 40 rounds and stops once Decided passes Looks 3 and
	// Look 1, 2, 3. The family alpha (1-Confidence) is split evenly across
	// the planned looks (Bonferroni over looks: alpha/Looks at each), which
	// is valid whatever the schedule and however the looks correlate, at
	// the price of some power against an alpha-spending function. Looks 0
	// (or 1) is a single look; Look must then be 0 or 1. With Looks > 1,
	// Look must be in 1..Looks.
	Look, Looks int
	// Unpaired judges two targets that did not run in interleaved rounds
	// (two saved results, `infergate compare`): ratio checks resample each
	// target's rounds independently (a two-sample block bootstrap) instead
	// of by shared round index. See JudgeUnpaired.
	Unpaired bool
}

// DefaultOptions are the options Judge uses: 95% one-sided, 2000
// resamples, a fixed seed, 5% memory tolerance, a single look.
func DefaultOptions() Options {
	return Options{
		Confidence:      DefaultConfidence,
		Resamples:       MinResamples,
		Seed:            DefaultSeed,
		MemoryTolerance: DefaultMemoryTolerance,
	}
}

func (o Options) normalize() (Options, error) {
	if o.Confidence == 0 {
		o.Confidence = DefaultConfidence
	}
	if !(o.Confidence > 0.5 && o.Confidence < 1) {
		return o, inputf("confidence %v: must be between 0.5 and 1 (exclusive), e.g. 0.95", o.Confidence)
	}
	o.Resamples = max(o.Resamples, MinResamples)
	if !(o.MemoryTolerance >= 0) || math.IsInf(o.MemoryTolerance, 0) {
		return o, inputf("memory tolerance %v: must be a finite fraction of 0 or more, e.g. 0.05", o.MemoryTolerance)
	}
	if o.Looks < 0 || o.Look < 0 || o.Look > max(o.Looks, 1) || (o.Looks > 1 && o.Look < 1) {
		// The scheduler's bug, not the user's.
		return o, fmt.Errorf("compare: look %d of %d: want 1 <= look <= looks", o.Look, o.Looks)
	}
	return o, nil
}

// alphaLook is the one-sided error each look may spend on the family.
func (o Options) alphaLook() float64 { return (1 - o.Confidence) / float64(max(o.Looks, 1)) }

// Judgement is JudgeWith's answer.
type Judgement struct {
	// Checks are the judged checks, in spec order; never nil.
	Checks  []result.Check
	Verdict result.Verdict
	// Decided is true when every check passed or failed, so more rounds
	// cannot change the verdict's direction: a sequential scheduler stops.
	// It is also true for the verdicts "none" and "error", which more
	// rounds cannot change either.
	Decided bool
	// Warnings are for result.Result.Warnings, e.g. a threshold finer than
	// the run can resolve (see ResolutionWarnings).
	Warnings []string
	// DetectableChange is 1 + the relative half-width of the main latency
	// check's interval (see DetectableChange); for a paired run without
	// one, of the latency ratio at the run's percentile, estimated for
	// this alone. 0 for a single model, or too few rounds.
	DetectableChange float64
}

// Judge is JudgeWith with DefaultOptions, returning the checks and the
// verdict only. Its warnings are recoverable from the checks with
// ResolutionWarnings.
func Judge(r *result.Result, specs []Spec) ([]result.Check, result.Verdict, error) {
	j, err := JudgeWith(r, specs, DefaultOptions())
	if err != nil {
		return nil, "", err
	}
	return j.Checks, j.Verdict, nil
}

// JudgeWith computes every spec from r's targets and returns the checks,
// in spec order, and the overall verdict:
//
//   - "error" when the run failed (r.Error) or any target failed; no check
//     is judged, because half-measured numbers must not pass a gate;
//   - "none" when there are no specs;
//   - otherwise "fail" if any check failed, else "inconclusive" if any was,
//     else "pass".
//
// Each check gets an interval (see the package documentation for the
// methods) and fails when the interval lies entirely on the wrong side of
// its threshold, passes when entirely on the right side (or on it), and is
// inconclusive otherwise. The outcome is always derived from the Lower and
// Upper written into the check, so the two cannot disagree.
//
// Ratio checks divide the candidate by production; absolute checks judge
// the candidate, or the single "model" target of a bench result. JudgeWith
// reads only the document, so it works on a result loaded from disk. It
// returns an error only when the document cannot answer the specs at all:
// a target the specs need is missing (an errkind.Input error, since the
// user chose the document and the flags), a histogram does not decode, a
// spec is malformed, or opts are out of range.
func JudgeWith(r *result.Result, specs []Spec, opts Options) (Judgement, error) {
	if r == nil {
		return Judgement{}, errors.New("compare: no result to judge")
	}
	opts, err := opts.normalize()
	if err != nil {
		return Judgement{}, err
	}
	// Non-nil so the document says "checks": [] rather than null.
	j := Judgement{Checks: []result.Check{}, Decided: true}
	if r.Error != "" {
		j.Verdict = result.VerdictError
		return j, nil
	}
	for _, t := range r.Targets {
		if t.Failed != "" {
			j.Verdict = result.VerdictError
			return j, nil
		}
	}
	if len(specs) == 0 {
		// Output parity (r.Parity) is judged whatever the specs: its
		// checks are exact pass/fail on the sampled rows.
		j.Checks = append(j.Checks, ParityChecks(r.Parity)...)
		j.Verdict = Overall(j.Checks)
		return j, nil
	}

	s, err := newSides(r, specs)
	if err != nil {
		return Judgement{}, err
	}
	ests := make([]estimate, len(specs))
	for i, sp := range specs {
		if ests[i], err = measure(s, sp, opts); err != nil {
			return Judgement{}, err
		}
	}
	fam := adjust(ests, specs, opts.alphaLook())

	for i, sp := range specs {
		c := ests[i].check(sp, opts, fam)
		if opts.Unpaired && resamplesRounds(sp) && c.Method != "" && c.Method != MethodPoint {
			c.Method += "; " + UnpairedNote
		}
		c.Message = message(sp, ests[i], s.base != nil, c)
		j.Checks = append(j.Checks, c)
		j.Decided = j.Decided && c.Outcome != result.OutcomeInconclusive
	}
	j.Checks = append(j.Checks, ParityChecks(r.Parity)...)
	j.Verdict = Overall(j.Checks)
	j.Warnings = ResolutionWarnings(j.Checks)
	if opts.Unpaired && hasRatio(specs) {
		j.Warnings = append([]string{UnpairedNote}, j.Warnings...)
	}
	j.DetectableChange = DetectableChange(j.Checks)
	if j.DetectableChange == 0 && s.base != nil {
		j.DetectableChange = latencyResolution(r, s, specs, opts)
	}
	return j, nil
}

// latencyResolution is DetectableChange for a paired run without a
// latency ratio check (only throughput, budgets, errors or memory): every
// run states what it could resolve, so the latency ratio at the run's
// percentile is estimated as if it were checked, and only its interval's
// width is kept. 0 when the rounds cannot give one.
// s is the judged specs' sides: their rounds' histograms are decoded
// already when a spec read latency (a budget such as --max-p95).
func latencyResolution(r *result.Result, s *sides, specs []Spec, opts Options) float64 {
	q := GatedQuantile(r)
	sp := Spec{Name: NameMaxLatencyIncrease, Metric: LatencyMetric(q), Unit: UnitNS, Threshold: 1, Quantile: q, Kind: RatioAtMost}
	if !slices.ContainsFunc(specs, readsLatency) {
		var err error
		if s, err = newSides(r, []Spec{sp}); err != nil {
			return 0
		}
	}
	est, err := measure(s, sp, opts)
	if err != nil {
		return 0
	}
	ests := []estimate{est}
	fam := adjust(ests, []Spec{sp}, opts.alphaLook()) // sets the interval's level
	c := ests[0].check(sp, opts, fam)
	if h, ok := Resolution(c); ok {
		return 1 + h
	}
	return 0
}

// adjust runs Holm's procedure over the checks that have a statistical
// interval, once for the fail decisions and once for the pass decisions,
// each at alpha, and sets every such check's bound level:
//
//   - a check Holm rejects (in either direction) gets the level it was
//     rejected at, alpha/(m-j) for the j-th smallest p-value, so its
//     interval shows the decision;
//   - any other check gets the Bonferroni level alpha/m, the widest, so its
//     interval cannot show a decision Holm did not make.
//
// The outcome is then read off those intervals. It returns m, the size of
// the family.
func adjust(ests []estimate, specs []Spec, alpha float64) int {
	var fam []int
	for i := range ests {
		if ests[i].statistical() {
			fam = append(fam, i)
		}
	}
	m := len(fam)
	pFail, pPass := make([]float64, m), make([]float64, m)
	for k, i := range fam {
		pFail[k], pPass[k] = ests[i].pValues(specs[i].Kind, specs[i].Threshold)
	}
	levFail, levPass := holm(pFail, alpha), holm(pPass, alpha)
	for k, i := range fam {
		level := alpha / float64(m)
		switch {
		case levFail[k] > 0:
			level = levFail[k]
		case levPass[k] > 0:
			level = levPass[k]
		}
		ests[i].setBounds(level)
	}
	return m
}

// Overall folds checks into a verdict: any fail fails, else any
// inconclusive is inconclusive, else pass; no checks is "none".
func Overall(checks []result.Check) result.Verdict {
	if len(checks) == 0 {
		return result.VerdictNone
	}
	v := result.VerdictPass
	for _, c := range checks {
		switch c.Outcome {
		case result.OutcomeFail:
			return result.VerdictFail
		case result.OutcomeInconclusive:
			v = result.VerdictInconclusive
		}
	}
	return v
}

// roundData is one decoded round of one target.
type roundData struct {
	index    int
	buckets  []result.Bucket
	samples  int64
	requests int64 // successful requests, as result.Round counts them
	elapsed  int64
}

// sides are the targets a judgement reads. base is nil for single runs.
type sides struct {
	res                    *result.Result
	base, subj             *result.Target
	baseRounds, subjRounds []roundData // buckets decoded only if a latency spec needs them
}

func newSides(r *result.Result, specs []Spec) (*sides, error) {
	s := &sides{res: r, base: r.Target(result.RoleProduction), subj: r.Target(result.RoleCandidate)}
	if s.subj == nil {
		s.subj = r.Target(result.RoleSingle)
	}
	if s.subj == nil {
		return nil, errkind.Input(errors.New("compare: the result has neither a candidate nor a model target to judge"))
	}
	needHist := false
	for _, sp := range specs {
		if sp.Kind.IsRatio() && s.base == nil {
			return nil, errkind.Input(fmt.Errorf("compare: %s needs a production target, and the result has none (was it written by bench?)", flagName(sp.Name)))
		}
		needHist = needHist || readsLatency(sp)
	}
	var err error
	if s.subjRounds, err = rounds(s.subj, needHist); err != nil {
		return nil, err
	}
	if s.base != nil {
		if s.baseRounds, err = rounds(s.base, needHist); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// readsLatency reports whether sp judges a latency percentile, so that
// its rounds' histograms must be decoded.
func readsLatency(sp Spec) bool { return strings.HasPrefix(sp.Metric, metricLatencyPrefix) }

// rounds decodes each round's histogram once (when decode is set): every
// resample then works on the bucket lists.
func rounds(t *result.Target, decode bool) ([]roundData, error) {
	out := make([]roundData, len(t.Rounds))
	for i, rd := range t.Rounds {
		out[i] = roundData{index: rd.Index, requests: rd.Requests, elapsed: rd.ElapsedNS}
		if !decode {
			continue
		}
		h, err := result.DecodeHistogram(rd.Histogram)
		if err != nil {
			return nil, fmt.Errorf("compare: target %s round %d: %w", t.Name, rd.Index, err)
		}
		out[i].buckets = h.Buckets()
		out[i].samples = h.Count()
	}
	return out, nil
}

// pairs returns, in order of round index, the rounds of a and b with the
// same index that both satisfy ok. Pairing by index is what makes the
// bootstrap paired: round i of both models ran back to back under the
// same machine conditions, so resampling them together keeps the drift
// they share out of the ratio.
func pairs(a, b []roundData, ok func(roundData) bool) (pa, pb []roundData) {
	at := map[int]int{}
	for i := len(a) - 1; i >= 0; i-- { // the first of a duplicated index wins
		at[a[i].index] = i
	}
	seen := map[int]bool{}
	for _, rb := range b {
		i, found := at[rb.index]
		if !found || seen[rb.index] || !ok(a[i]) || !ok(rb) {
			continue
		}
		seen[rb.index] = true
		pa, pb = append(pa, a[i]), append(pb, rb)
	}
	return pa, pb
}

func hasSamples(r roundData) bool { return r.samples > 0 }

func buckets(rs []roundData) [][]result.Bucket {
	out := make([][]result.Bucket, len(rs))
	for i, r := range rs {
		out[i] = r.buckets
	}
	return out
}

func sampleCount(rs []roundData) int64 {
	var n int64
	for _, r := range rs {
		n += r.samples
	}
	return n
}

// estimate is what one metric function measured: both sides, the judged
// quantity (a ratio, or the candidate's value) and how to bound it.
type estimate struct {
	production, candidate float64
	ratio                 float64 // candidate/production; 0 for absolute checks
	value                 float64 // the judged quantity: ratio or candidate value
	lower, upper          float64
	// method says how the interval was made, without its level.
	method string
	// unavailable, when set, says why the quantity cannot be judged; the
	// check is then inconclusive with this as its message.
	unavailable string
	// tooFew, when set, says why the quantity is known but has no
	// interval (too few rounds): the check is inconclusive, with lower and
	// upper equal to the value.
	tooFew  string
	rounds  int
	samples int64
	// The statistical interval, when there is one: a bootstrap
	// distribution, or a binomial count for a Wilson interval.
	reps  replicates
	binom *binomial
	// Memory's tolerance band and the error-rate thresholds 0 and 1 set
	// lower and upper directly and have neither.
	confidence float64 // one-sided level of each bound, once set
}

type binomial struct{ x, n int64 }

func (e *estimate) statistical() bool {
	return e.unavailable == "" && e.tooFew == "" && (e.reps != nil || e.binom != nil)
}

func (e *estimate) pValues(kind SpecKind, t float64) (pFail, pPass float64) {
	if e.binom != nil {
		return wilsonP(e.binom.x, e.binom.n, t)
	}
	return e.reps.pValues(kind, t)
}

func (e *estimate) setBounds(level float64) {
	if e.binom != nil {
		e.lower, e.upper = wilson(e.binom.x, e.binom.n, level)
	} else {
		e.lower, e.upper = e.reps.bounds(level)
	}
	e.confidence = 1 - level
}

// check turns the estimate into the document's check; fam is the size of
// the Holm family.
func (e *estimate) check(sp Spec, opts Options, fam int) result.Check {
	c := result.Check{
		Name:       sp.Name,
		Metric:     sp.Metric,
		Unit:       sp.Unit,
		Threshold:  sp.Threshold,
		Production: finite(e.production),
		Candidate:  finite(e.candidate),
		Ratio:      finite(e.ratio),
		Rounds:     e.rounds,
		Samples:    e.samples,
		Method:     e.method,
	}
	switch {
	case e.unavailable != "":
		c.Outcome = result.OutcomeInconclusive
		c.Lower, c.Upper = finite(e.lower), finite(e.upper)
	case e.tooFew != "":
		c.Outcome = result.OutcomeInconclusive
		c.Lower, c.Upper = finite(e.value), finite(e.value)
		c.Method = MethodPoint
	default:
		if e.statistical() {
			c.Confidence = e.confidence
			c.Method += levelNote(e.confidence, opts, fam)
		}
		// Decided on the very numbers written down, before finite() could
		// turn an infinite bound into a 0 that reads as a decision.
		c.Outcome = decide(sp.Kind, *e, sp.Threshold)
		c.Lower, c.Upper = finite(e.lower), finite(e.upper)
	}
	return c
}

// levelNote is the level part of a Method string, e.g. ", 98.33%
// one-sided (95% family-wise: Holm over 3 checks)".
func levelNote(confidence float64, opts Options, fam int) string {
	s := ", " + percent(confidence) + " one-sided"
	var adj []string
	if fam > 1 {
		adj = append(adj, fmt.Sprintf("Holm over %d checks", fam))
	}
	if opts.Looks > 1 {
		adj = append(adj, fmt.Sprintf("look %d of %d, Bonferroni over looks", max(opts.Look, 1), opts.Looks))
	}
	if len(adj) > 0 {
		s += " (" + percent(opts.Confidence) + " family-wise: " + strings.Join(adj, "; ") + ")"
	}
	return s
}

// percent prints a level with at most two decimals: 95%, 97.5%, 98.33%.
func percent(v float64) string {
	return strconv.FormatFloat(math.Round(v*1e4)/100, 'f', -1, 64) + "%"
}

func measure(s *sides, sp Spec, opts Options) (estimate, error) {
	if !isFinite(sp.Threshold) || sp.Threshold < 0 {
		// NewSpecs never makes one; a hand-built Spec must not put NaN into
		// the document, which JSON cannot encode.
		return estimate{}, fmt.Errorf("compare: spec %s: threshold %v is not a finite, non-negative number", sp.Name, sp.Threshold)
	}
	switch {
	case strings.HasPrefix(sp.Metric, metricLatencyPrefix):
		if !(sp.Quantile > 0 && sp.Quantile < 1) {
			return estimate{}, fmt.Errorf("compare: spec %s: latency quantile %v out of (0, 1)", sp.Name, sp.Quantile)
		}
		if sp.Kind.IsRatio() {
			return latencyRatio(s, sp.Quantile, opts), nil
		}
		return latencyValue(s, sp.Quantile, opts), nil
	case sp.Metric == MetricThroughput && sp.Kind.IsRatio():
		return throughputRatio(s, opts), nil
	case sp.Metric == MetricPeakRSS && sp.Kind.IsRatio():
		return memoryRatio(s.base, s.subj, opts.MemoryTolerance), nil
	case sp.Metric == MetricGPUMemory && sp.Kind.IsRatio():
		return gpuMemoryRatio(s.base, s.subj, opts.MemoryTolerance), nil
	case sp.Metric == MetricSizeSlope && sp.Kind.IsRatio():
		// Paired by round index even with opts.Unpaired: the slope is fitted
		// within each target, so pairing only decides which rounds are drawn
		// together.
		return sizeSlopeRatio(s.res, s, opts), nil
	case sp.Metric == MetricErrorRate && sp.Kind == RateAtMost:
		return errorRate(s.base, s.subj, sp.Threshold), nil
	}
	return estimate{}, fmt.Errorf("compare: spec %s: cannot judge metric %q as %v", sp.Name, sp.Metric, sp.Kind)
}

// decide compares the interval with the threshold: clear of it on the good
// side passes, clear of it on the bad side fails, straddling it is
// inconclusive.
func decide(kind SpecKind, est estimate, threshold float64) result.Outcome {
	if est.unavailable != "" || est.tooFew != "" || !isFinite(est.lower) || !isFinite(est.upper) {
		return result.OutcomeInconclusive
	}
	switch kind {
	case RatioAtLeast:
		if est.lower >= threshold {
			return result.OutcomePass
		}
		if est.upper < threshold {
			return result.OutcomeFail
		}
	default: // the "at most" kinds
		if est.upper <= threshold {
			return result.OutcomePass
		}
		if est.lower > threshold {
			return result.OutcomeFail
		}
	}
	return result.OutcomeInconclusive
}

// The per-metric functions.

// latencyRatio is the paired block bootstrap of candidate/production at
// quantile q: each resample draws round indices with replacement, merges
// each target's drawn rounds and divides the quantiles.
func latencyRatio(s *sides, q float64, opts Options) estimate {
	if opts.Unpaired {
		return latencyRatioUnpaired(s, q, opts)
	}
	label := "p" + percentileLabel(q)
	switch {
	case sampleCount(s.baseRounds) == 0:
		return estimate{unavailable: "production has no latency samples; cannot compare " + label}
	case sampleCount(s.subjRounds) == 0:
		return estimate{unavailable: "candidate has no latency samples; cannot compare " + label}
	}
	pb, pc := pairs(s.baseRounds, s.subjRounds, hasSamples)
	n := len(pb)
	if n == 0 {
		// Nothing paired (rounds with disjoint indices): show the whole-run
		// values, but judge nothing.
		pb, pc = s.baseRounds, s.subjRounds
	}
	base, cand := project(buckets(pb)), project(buckets(pc))
	rb, wb := allOnce(len(pb))
	rc, wc := allOnce(len(pc))
	est := pointRatio(base.quantile(q, rb, wb), cand.quantile(q, rc, wc))
	est.rounds, est.samples = n, sampleCount(pb)+sampleCount(pc)
	if n < 2 || est.unavailable != "" {
		if est.unavailable == "" {
			est.tooFew = tooFew("rounds", n)
		}
		return est
	}
	est.reps = bootstrap(n, opts.Resamples, opts.Seed, func(r []int, w []int64) float64 {
		return cand.quantile(q, r, w) / base.quantile(q, r, w)
	})
	est.method = fmt.Sprintf("paired block bootstrap over %d rounds, %d resamples", n, opts.Resamples)
	return est
}

// latencyValue is the block bootstrap of the candidate's quantile q.
func latencyValue(s *sides, q float64, opts Options) estimate {
	var p float64
	if s.base != nil {
		if b := nonEmpty(s.baseRounds); len(b) > 0 {
			all, once := allOnce(len(b))
			p = project(buckets(b)).quantile(q, all, once)
		}
	}
	rs := nonEmpty(s.subjRounds)
	if len(rs) == 0 {
		return estimate{production: p, unavailable: "no latency samples; cannot judge p" + percentileLabel(q)}
	}
	cand := project(buckets(rs))
	all, once := allOnce(len(rs))
	est := pointValue(p, cand.quantile(q, all, once))
	est.rounds, est.samples = len(rs), sampleCount(rs)
	if len(rs) < 2 {
		est.tooFew = tooFew("rounds", len(rs))
		return est
	}
	est.reps = bootstrap(len(rs), opts.Resamples, opts.Seed, func(r []int, w []int64) float64 {
		return cand.quantile(q, r, w)
	})
	est.method = fmt.Sprintf("block bootstrap over %d rounds, %d resamples", len(rs), opts.Resamples)
	return est
}

// tooFew says why a check has no interval, e.g. "needs at least 2 rounds
// for an interval, has 1".
func tooFew(what string, n int) string {
	return fmt.Sprintf("needs at least 2 %s for an interval, has %d", what, n)
}

func nonEmpty(rs []roundData) []roundData {
	var out []roundData
	for _, r := range rs {
		if r.samples > 0 {
			out = append(out, r)
		}
	}
	return out
}

// throughputRatio is the paired block bootstrap of the ratio of
// throughputs, each the drawn rounds' requests over their busy time.
func throughputRatio(s *sides, opts Options) estimate {
	if opts.Unpaired {
		return throughputRatioUnpaired(s, opts)
	}
	pb, pc := pairs(s.baseRounds, s.subjRounds, func(r roundData) bool { return r.elapsed > 0 })
	if len(pb) == 0 {
		// Rounds without busy time (a document from before rounds recorded
		// it): the whole-run figures, and no interval.
		return wholeRunThroughput(s)
	}
	all, once := allOnce(len(pb))
	p, c := weightedRate(pb, all, once), weightedRate(pc, all, once)
	if !(p > 0) {
		return estimate{production: p, candidate: c, unavailable: "production throughput is 0; cannot compare throughput"}
	}
	est := pointRatio(p, c)
	est.rounds = len(pb)
	for i := range pb {
		est.samples += pb[i].requests + pc[i].requests
	}
	if len(pb) < 2 || est.unavailable != "" {
		if est.unavailable == "" {
			est.tooFew = tooFew("rounds", len(pb))
		}
		return est
	}
	est.reps = bootstrap(len(pb), opts.Resamples, opts.Seed, func(r []int, w []int64) float64 {
		return weightedRate(pc, r, w) / weightedRate(pb, r, w)
	})
	est.method = fmt.Sprintf("paired block bootstrap over %d rounds, %d resamples", len(pb), opts.Resamples)
	return est
}

// memoryRatio compares peak RSS directly: it is nearly deterministic, so
// there is nothing to resample, but a band of ±tol keeps allocator noise
// from deciding a check on its own.
func memoryRatio(base, subj *result.Target, tol float64) estimate {
	return peakRatio("peak RSS", float64(base.Memory.PeakRSSBytes), float64(subj.Memory.PeakRSSBytes), tol)
}

// gpuMemoryRatio compares peak device memory the same way: an arena grows
// in chunks, so the band matters as much as for RSS.
func gpuMemoryRatio(base, subj *result.Target, tol float64) estimate {
	peak := func(t *result.Target) float64 {
		if t.GPU == nil {
			return 0
		}
		return float64(t.GPU.PeakMemoryBytes)
	}
	return peakRatio("peak GPU memory", peak(base), peak(subj), tol)
}

// peakRatio compares two peaks of memory, p (production) and c
// (candidate). A peak of 0 means "not measured", never a real process: a
// ratio against it would be a division by zero or a bogus pass.
func peakRatio(what string, p, c, tol float64) estimate {
	switch {
	case p <= 0 && c <= 0:
		return estimate{unavailable: what + " was not measured; cannot compare memory"}
	case p <= 0:
		return estimate{candidate: c, unavailable: "production " + what + " was not measured; cannot compare memory"}
	case c <= 0:
		return estimate{production: p, unavailable: "candidate " + what + " was not measured; cannot compare memory"}
	}
	est := pointRatio(p, c)
	if est.unavailable != "" {
		return est
	}
	est.lower, est.upper = est.ratio/(1+tol), est.ratio*(1+tol)
	est.method = what + " compared directly, ±" + percent(tol) + " tolerance"
	return est
}

// errorRate bounds the candidate's failed fraction with a Wilson score
// interval. Thresholds 0 and 1 are decided without one: at 0 any error
// fails and none passes, at 1 everything passes.
func errorRate(base, subj *result.Target, t float64) estimate {
	var p float64
	if base != nil {
		p, _ = rateOf(base)
	}
	c, ok := rateOf(subj)
	if !ok {
		return estimate{production: p, unavailable: "no requests were measured; cannot judge the error rate"}
	}
	est := pointValue(p, c)
	n := subj.Latency.Count + subj.Errors.Total
	est.samples = n
	switch {
	case t <= 0:
		est.method = "any error fails (threshold 0)"
	case t >= 1:
		est.method = "every error rate is within 100%"
	default:
		est.binom = &binomial{x: subj.Errors.Total, n: n}
		est.method = fmt.Sprintf("Wilson score interval on %s errors in %s requests", human.Count(subj.Errors.Total), human.Count(n))
	}
	return est
}

// rateOf is failed / all requests; false when there were none.
func rateOf(t *result.Target) (float64, bool) {
	n := t.Latency.Count + t.Errors.Total
	if n <= 0 {
		return 0, false
	}
	return float64(t.Errors.Total) / float64(n), true
}

func pointRatio(production, candidate float64) estimate {
	r := candidate / production
	if !isFinite(r) {
		return estimate{production: production, candidate: candidate, unavailable: "the ratio is not a finite number"}
	}
	return estimate{production: production, candidate: candidate, ratio: r, value: r, lower: r, upper: r}
}

func pointValue(production, candidate float64) estimate {
	return estimate{production: production, candidate: candidate, value: candidate, lower: candidate, upper: candidate}
}

// Resolution is the relative half-width of a ratio check's interval,
// (Upper-Lower)/2/Ratio: how far apart two results must be for this run to
// tell them apart, at the level the interval was drawn. It is read from
// the check alone, so a report of a saved document computes the same
// number. false for checks without a bootstrap interval on a ratio.
func Resolution(c result.Check) (float64, bool) {
	kind, known := KindOf(c.Name)
	if !known || !kind.IsRatio() || c.Confidence <= 0 || c.Rounds < 2 || !(c.Ratio > 0) {
		return 0, false
	}
	h := (c.Upper - c.Lower) / 2 / c.Ratio
	if !isFinite(h) || h < 0 {
		return 0, false
	}
	return h, true
}

// DetectableChange is 1 + the Resolution of the main latency check
// (--max-latency-increase, else --max-p99-increase): the smallest latency
// ratio this run could tell from 1, e.g. 1.06 for ±6%. 0 when there is no
// such check with an interval.
func DetectableChange(checks []result.Check) float64 {
	for _, name := range []string{NameMaxLatencyIncrease, NameMaxP99Increase} {
		for _, c := range checks {
			if c.Name != name {
				continue
			}
			if h, ok := Resolution(c); ok {
				return 1 + h
			}
			return 0
		}
	}
	return 0
}

// ResolutionWarnings warns, for each undecided ratio check with an
// interval, when its threshold is closer to 1 than the run's resolution:
// such a gate cannot pass even an identical model, and will sit at
// inconclusive. A decided check needs no such warning: its interval
// already cleared the threshold.
func ResolutionWarnings(checks []result.Check) []string {
	return resolutionWarnings(checks, false)
}

// AAResolutionWarnings is ResolutionWarnings for an A/A run (production
// against itself), where every check is about resolution, decided or not.
func AAResolutionWarnings(checks []result.Check) []string {
	return resolutionWarnings(checks, true)
}

func resolutionWarnings(checks []result.Check, all bool) []string {
	var out []string
	for _, c := range checks {
		if !all && c.Outcome != result.OutcomeInconclusive {
			continue
		}
		h, ok := Resolution(c)
		if !ok || !(math.Abs(c.Threshold-1) < h) {
			continue
		}
		_, thr := human.RatioVs(c.Ratio, c.Threshold)
		out = append(out, fmt.Sprintf("%s: threshold %s is below what this run can resolve (±%.1f%%); run longer or raise it",
			c.Name, thr, h*100))
	}
	return out
}

// message is the check's one line for people, e.g.
// "p95 1.27× production (2.54ms vs 2.00ms, threshold 1.15×)".
//
// An inconclusive check says why: too few rounds, or the interval that
// straddles the threshold.
func message(sp Spec, est estimate, pair bool, c result.Check) string {
	m := describe(sp, est, pair)
	switch {
	case est.unavailable != "" || c.Outcome != result.OutcomeInconclusive:
	case est.tooFew != "":
		m += "; " + est.tooFew
	default:
		m += fmt.Sprintf("; the interval %s straddles the threshold", interval(sp, c.Lower, c.Upper))
	}
	return m
}

// interval prints bounds in the unit of the judged quantity: "[1.12,
// 1.19]" for a ratio, "[2.01ms, 2.20ms]", "[0.21%, 1.30%]".
func interval(sp Spec, lower, upper float64) string {
	f := func(v float64) string { return formatValue(sp.Unit, v) }
	switch {
	case sp.Kind.IsRatio():
		f = func(v float64) string { r, _ := human.RatioVs(v, sp.Threshold); return strings.TrimSuffix(r, "×") }
	case sp.Kind == RateAtMost:
		f = human.Percent
	}
	return "[" + f(lower) + ", " + f(upper) + "]"
}

func describe(sp Spec, est estimate, pair bool) string {
	if est.unavailable != "" {
		return est.unavailable
	}
	what := metricLabel(sp)
	switch sp.Kind {
	case RatioAtMost, RatioAtLeast:
		r, thr := human.RatioVs(est.ratio, sp.Threshold)
		if sp.Kind == RatioAtLeast {
			thr = "≥ " + thr
		}
		vs := formatValue(sp.Unit, est.candidate) + " vs " + formatValue(sp.Unit, est.production)
		if sp.Unit == UnitInferencesS {
			// The unit once, not after both numbers.
			vs = human.Rate(est.candidate) + " vs " + human.Rate(est.production) + " inferences/s"
		}
		return fmt.Sprintf("%s %s production (%s, threshold %s)", what, r, vs, thr)
	case RateAtMost:
		m := fmt.Sprintf("%s %s (threshold %s)", what, human.Percent(est.candidate), human.Percent(sp.Threshold))
		if pair {
			m += "; production " + human.Percent(est.production)
		}
		return m
	default:
		budget := formatValue(sp.Unit, sp.Threshold)
		if sp.Unit == UnitNS {
			// As the user wrote it ("50ms"), not re-rounded ("50.0ms").
			budget = time.Duration(sp.Threshold).String()
		}
		m := fmt.Sprintf("%s %s (budget %s)", what, formatValue(sp.Unit, est.candidate), budget)
		if pair && est.production > 0 {
			m += "; production " + formatValue(sp.Unit, est.production)
		}
		return m
	}
}

func metricLabel(sp Spec) string {
	switch {
	case strings.HasPrefix(sp.Metric, metricLatencyPrefix):
		return "p" + strings.TrimPrefix(sp.Metric, metricLatencyPrefix)
	case sp.Metric == MetricPeakRSS:
		return "peak RSS"
	case sp.Metric == MetricGPUMemory:
		return "peak GPU memory"
	case sp.Metric == MetricErrorRate:
		return "error rate"
	case sp.Metric == MetricSizeSlope:
		return "latency-vs-size slope"
	default:
		return sp.Metric
	}
}

// formatValue prints a measured value in its unit for a message.
func formatValue(unit string, v float64) string {
	switch unit {
	case UnitNS:
		return human.Duration(time.Duration(v))
	case UnitBytes:
		return human.Bytes(int64(v))
	case UnitInferencesS:
		return human.Rate(v) + " inferences/s"
	case UnitRatio:
		return human.Percent(v)
	case UnitNSPerSize:
		return fmtSlope(v)
	default:
		return fmt.Sprintf("%g %s", v, unit)
	}
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// finite keeps NaN and Inf out of the JSON document, which cannot encode
// them (encoding/json fails the whole write).
func finite(v float64) float64 {
	if isFinite(v) {
		return v
	}
	return 0
}

// weightedRate is the throughput (per second) of the rounds r of rs, each
// counted w times.
func weightedRate(rs []roundData, r []int, w []int64) float64 {
	var req, ns int64
	for i, k := range r {
		req += w[i] * rs[k].requests
		ns += w[i] * rs[k].elapsed
	}
	return float64(req) / float64(ns) * 1e9
}

// wholeRunThroughput compares the whole-run throughputs, without an
// interval, for rounds that do not record their busy time.
func wholeRunThroughput(s *sides) estimate {
	p, c := s.base.Throughput.InferencesPerS, s.subj.Throughput.InferencesPerS
	if !(p > 0) || !isFinite(p) {
		return estimate{production: p, candidate: c, unavailable: "production throughput is 0; cannot compare throughput"}
	}
	est := pointRatio(p, c)
	if est.unavailable == "" {
		est.tooFew = tooFew("rounds that record their busy time", 0)
	}
	return est
}
