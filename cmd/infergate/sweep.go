package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/infergate/infergate/bench"
	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/result"
)

// maxStages bounds a load sweep: each stage is a whole measurement.
const maxStages = 16

// stage is one named variation of a measurement: a load sweep measures
// once per stage, on the same loaded models, and judges each stage with
// the run's checks. --concurrency-sweep, --rate-sweep and --batch-sizes
// make stages; a new kind of sweep is a new vary (and record).
type stage struct {
	name string
	// vary changes a copy of the measurement into this stage's.
	vary func(*measurement)
	// record adds the stage's value to the run's configuration.
	record func(c *result.Config, ms *measurement)
}

// countStages is a sweep over positive whole numbers (concurrency, batch
// size): one stage per value, named prefix+value.
func countStages(flag, list, prefix string, vary func(*measurement, int), record func(*result.Config, int)) ([]stage, error) {
	values, err := sweepValues(flag, list, "a positive whole number", func(s string) (float64, bool) {
		n, err := strconv.Atoi(s)
		return float64(n), err == nil && n > 0
	})
	if err != nil {
		return nil, err
	}
	out := make([]stage, len(values))
	for i, v := range values {
		n := int(v)
		out[i] = stage{
			name:   prefix + strconv.Itoa(n),
			vary:   func(ms *measurement) { vary(ms, n) },
			record: func(c *result.Config, _ *measurement) { record(c, n) },
		}
	}
	return out, nil
}

// stages parses --concurrency-sweep, --rate-sweep and --batch-sizes,
// before anything runs; nil without a sweep.
func (f *measureFlags) stages() ([]stage, error) {
	switch {
	case f.ConcurrencySweep != "" && f.RateSweep != "":
		return nil, errkind.Input(errors.New("give --concurrency-sweep or --rate-sweep, not both"))
	case f.BatchSizes != "" && (f.ConcurrencySweep != "" || f.RateSweep != ""):
		return nil, errkind.Input(errors.New("give one sweep: --batch-sizes, --concurrency-sweep or --rate-sweep"))
	case f.BatchSizes != "":
		if f.batchSizeSet && f.BatchSize != 1 {
			return nil, errkind.Input(errors.New("--batch-sizes sets the batch size of each stage: leave out --batch-size"))
		}
		// The session rebuilds its batch source when the source's options
		// change (session.source), so each stage batches the rows anew.
		return countStages("batch-sizes", f.BatchSizes, "batch=",
			func(ms *measurement, n int) { ms.flags.BatchSize = n },
			func(c *result.Config, n int) { c.BatchSizeSweep = append(c.BatchSizeSweep, n) })
	case f.ConcurrencySweep != "":
		if f.concurrencySet {
			return nil, errkind.Input(errors.New("--concurrency-sweep sets the concurrency of each stage: leave out --concurrency"))
		}
		return countStages("concurrency-sweep", f.ConcurrencySweep, "concurrency=",
			func(ms *measurement, n int) { ms.plan.Concurrency = n },
			func(c *result.Config, n int) { c.ConcurrencySweep = append(c.ConcurrencySweep, n) })
	case f.RateSweep != "":
		if f.rateSet {
			return nil, errkind.Input(errors.New("--rate-sweep sets the rate of each stage: leave out --rate"))
		}
		values, err := sweepValues("rate-sweep", f.RateSweep, "a positive rate in requests/s", func(s string) (float64, bool) {
			v, err := strconv.ParseFloat(s, 64)
			return v, err == nil && v > 0 && !math.IsInf(v, 0)
		})
		if err != nil {
			return nil, err
		}
		out := make([]stage, len(values))
		for i, r := range values {
			out[i] = stage{
				name: "rate=" + strconv.FormatFloat(r, 'f', -1, 64) + "/s",
				vary: func(ms *measurement) { ms.plan.Rate = r },
				record: func(c *result.Config, ms *measurement) {
					c.RateSweep = append(c.RateSweep, r)
					if ms.remote != nil {
						c.Arrival = ms.remote.flags.Arrival
					}
				},
			}
		}
		return out, nil
	}
	return nil, nil
}

// sweepValues splits a sweep's comma-separated list and parses each value.
// Values must be distinct (a stage's name is its value) and at most
// maxStages; their order is the order the stages run in.
func sweepValues(flag, list, want string, parse func(string) (float64, bool)) ([]float64, error) {
	parts := strings.Split(list, ",")
	if len(parts) > maxStages {
		return nil, errkind.Input(fmt.Errorf("--%s %q: %d stages, at most %d", flag, list, len(parts), maxStages))
	}
	var out []float64
	for _, p := range parts {
		p = strings.TrimSpace(p)
		v, ok := parse(p)
		if !ok {
			return nil, errkind.Input(fmt.Errorf("--%s %q: %q is not %s", flag, list, p, want))
		}
		for _, seen := range out {
			if seen == v {
				return nil, errkind.Input(fmt.Errorf("--%s %q: %s is given twice", flag, list, p))
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// checkStages validates every stage's plan, before anything runs.
func (ms *measurement) checkStages() error {
	for _, st := range ms.stages {
		sm := ms.at(st)
		if err := sm.plan.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// at is the measurement of one stage.
func (ms *measurement) at(st stage) *measurement {
	sm := *ms
	sm.stages = nil
	st.vary(&sm)
	return &sm
}

// maxConcurrency is the most calls in flight any stage asks for; it sizes
// an endpoint's pool of connections.
func (ms *measurement) maxConcurrency() int {
	n := ms.plan.Concurrency
	for _, st := range ms.stages {
		n = max(n, ms.at(st).plan.Concurrency)
	}
	return n
}

// sweep measures every stage in turn on the open session: each a whole
// measurement (warmup, rounds, looks) judged with the run's checks. An
// interrupt or a failed run stops the sweep; what was measured is kept,
// the stage cut short marked so. The top level of res mirrors the last
// completed stage and its verdict is the worst of the stages'.
func (ms *measurement) sweep(ctx context.Context, s *session, logf bench.Logf, judge judgeFunc, res *result.Result) (*result.Result, error) {
	var err error
	// testSets are the stages' fingerprints: a stage's size quantiles are
	// of its own batches.
	var testSets []*result.TestSet
	for i, st := range ms.stages {
		if ctx.Err() != nil {
			// The signal came between stages: the stages so far are whole.
			res.Interrupted = true
			break
		}
		logf("stage %d of %d: %s", i+1, len(ms.stages), st.name)
		ms.show.setStage(st.name)
		sm := ms.at(st)
		sr := stageDoc(res, sm)
		name := st.name
		slogf := func(format string, args ...any) { logf("%s: %s", name, fmt.Sprintf(format, args...)) }
		got, serr := sm.runStage(ctx, s, slogf, judge, sr)
		err = serr
		if got == nil && len(res.Stages) == 0 {
			// Nothing measured at all: as a run without a sweep.
			return nil, err
		}
		stg := result.Stage{
			Name: st.name, Concurrency: sm.plan.Concurrency, Rate: sm.plan.Rate, BatchSize: sm.flags.BatchSize,
			Targets: sr.Targets, Checks: sr.Checks, InputSizes: sr.InputSizes, Verdict: sr.Verdict,
			DetectableChange: sr.DetectableChange, Interrupted: sr.Interrupted, Error: sr.Error,
		}
		switch {
		case err != nil:
			stg.Verdict, stg.Error = result.VerdictError, err.Error()
		case stg.Interrupted:
			stg.Verdict = result.VerdictInconclusive
		}
		for _, w := range sr.Warnings {
			res.Warnings = append(res.Warnings, st.name+": "+w)
		}
		res.Stages = append(res.Stages, stg)
		testSets = append(testSets, sr.TestSet)
		res.FinishedAt, res.ToolPeakRSSBytes = sr.FinishedAt, sr.ToolPeakRSSBytes
		if err != nil || stg.Interrupted {
			res.Interrupted = stg.Interrupted
			break
		}
	}
	mirrorStages(res, testSets)
	if err != nil {
		res.Verdict, res.Error = result.VerdictError, err.Error()
	}
	return res, err
}

// stageDoc is a fresh document for one stage's measurement: the run's
// head with the stage's load, no targets, checks or sizes yet, and a
// fingerprint of its own for the stage's size quantiles.
func stageDoc(res *result.Result, sm *measurement) *result.Result {
	sr := *res
	sr.Targets, sr.Checks, sr.Warnings, sr.Stages = []result.Target{}, []result.Check{}, nil, nil
	sr.Verdict, sr.Error, sr.Interrupted, sr.DetectableChange = "", "", false, 0
	sr.Config.Concurrency, sr.Config.Rate, sr.Config.BatchSize = sm.plan.Concurrency, sm.plan.Rate, sm.flags.BatchSize
	sr.InputSizes = nil
	if res.TestSet != nil {
		ts := *res.TestSet
		sr.TestSet = &ts
	}
	return &sr
}

// mirrorStages sets a sweep's top level from its stages: targets, checks,
// input sizes and load of the last completed stage (and its fingerprint,
// testSets[i], whose size quantiles are of that stage's batches), the
// worst verdict of all.
func mirrorStages(res *result.Result, testSets []*result.TestSet) {
	i := result.MirroredStage(res.Stages)
	if i < 0 {
		return
	}
	st := res.Stages[i]
	res.Targets, res.Checks, res.DetectableChange = st.Targets, st.Checks, st.DetectableChange
	res.InputSizes = st.InputSizes
	if i < len(testSets) && testSets[i] != nil {
		res.TestSet = testSets[i]
	}
	res.Config.Concurrency, res.Config.Rate = st.Concurrency, st.Rate
	if st.BatchSize > 0 {
		res.Config.BatchSize = st.BatchSize
	}
	verdicts := make([]result.Verdict, len(res.Stages))
	for j, s := range res.Stages {
		verdicts[j] = s.Verdict
	}
	res.Verdict = result.WorstVerdict(verdicts...)
}
