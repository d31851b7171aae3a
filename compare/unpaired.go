package compare

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/infergate/infergate/result"
)

// UnpairedNote is what every unpaired judgement says, in the Method of each
// resampled ratio check and as a warning.
const UnpairedNote = "unpaired runs: machine drift between the two runs is not cancelled; intervals are wider"

// JudgeUnpaired is JudgeWith with opts.Unpaired set: production and the
// candidate come from different runs (two saved results), so round i of
// one has nothing to do with round i of the other.
//
// Ratio checks then use a two-sample block bootstrap: each resample draws
// production's rounds with replacement and, independently, the
// candidate's, merges each side's drawn rounds and divides the statistics.
// Drift between the two runs (another machine, another hour) lands in the
// ratio instead of cancelling, and the interval is wider than a paired
// run's of the same size, as it should be. Absolute budgets, memory and
// the error rate are judged as in JudgeWith. Each resampled check's Method
// ends with UnpairedNote, and the judgement's Warnings start with it.
func JudgeUnpaired(r *result.Result, specs []Spec, opts Options) (Judgement, error) {
	opts.Unpaired = true
	return JudgeWith(r, specs, opts)
}

// resamplesRounds reports whether a spec's interval resamples both
// targets' rounds: the ratio checks other than memory.
func resamplesRounds(sp Spec) bool {
	return sp.Kind.IsRatio() && (strings.HasPrefix(sp.Metric, metricLatencyPrefix) || sp.Metric == MetricThroughput)
}

func hasRatio(specs []Spec) bool {
	for _, sp := range specs {
		if resamplesRounds(sp) {
			return true
		}
	}
	return false
}

// bootstrap2 is bootstrap for two independent samples of n1 and n2 rounds:
// each resample draws n1 of the first with replacement and then n2 of the
// second, from one seeded stream. Sorted, as bootstrap's.
func bootstrap2(n1, n2, b int, seed uint64, stat func(r1 []int, w1 []int64, r2 []int, w2 []int64) float64) []float64 {
	src := rand.NewPCG(seed, bootstrapStream)
	out := make([]float64, b)
	d1, d2 := newDrawer(n1), newDrawer(n2)
	for i := range out {
		r1, w1 := d1.draw(src)
		r2, w2 := d2.draw(src)
		out[i] = stat(r1, w1, r2, w2)
	}
	slices.Sort(out)
	return out
}

// latencyRatioUnpaired is the two-sample block bootstrap of
// candidate/production at quantile q.
func latencyRatioUnpaired(s *sides, q float64, opts Options) estimate {
	label := "p" + percentileLabel(q)
	pb, pc := nonEmpty(s.baseRounds), nonEmpty(s.subjRounds)
	switch {
	case len(pb) == 0:
		return estimate{unavailable: "production has no latency samples; cannot compare " + label}
	case len(pc) == 0:
		return estimate{unavailable: "candidate has no latency samples; cannot compare " + label}
	}
	base, cand := project(buckets(pb)), project(buckets(pc))
	rb, wb := allOnce(len(pb))
	rc, wc := allOnce(len(pc))
	est := pointRatio(base.quantile(q, rb, wb), cand.quantile(q, rc, wc))
	n := min(len(pb), len(pc))
	est.rounds, est.samples = n, sampleCount(pb)+sampleCount(pc)
	if n < 2 || est.unavailable != "" {
		if est.unavailable == "" {
			est.tooFew = tooFew("rounds on each side", n)
		}
		return est
	}
	est.reps = bootstrap2(len(pb), len(pc), opts.Resamples, opts.Seed, func(r1 []int, w1 []int64, r2 []int, w2 []int64) float64 {
		return cand.quantile(q, r2, w2) / base.quantile(q, r1, w1)
	})
	est.method = fmt.Sprintf("two-sample block bootstrap over %d production and %d candidate rounds, %d resamples",
		len(pb), len(pc), opts.Resamples)
	return est
}

// throughputRatioUnpaired is the two-sample block bootstrap of the ratio
// of throughputs.
func throughputRatioUnpaired(s *sides, opts Options) estimate {
	busy := func(rs []roundData) []roundData {
		var out []roundData
		for _, r := range rs {
			if r.elapsed > 0 {
				out = append(out, r)
			}
		}
		return out
	}
	pb, pc := busy(s.baseRounds), busy(s.subjRounds)
	if len(pb) == 0 || len(pc) == 0 {
		return wholeRunThroughput(s)
	}
	ab, wb := allOnce(len(pb))
	ac, wc := allOnce(len(pc))
	p, c := weightedRate(pb, ab, wb), weightedRate(pc, ac, wc)
	if !(p > 0) {
		return estimate{production: p, candidate: c, unavailable: "production throughput is 0; cannot compare throughput"}
	}
	est := pointRatio(p, c)
	n := min(len(pb), len(pc))
	est.rounds = n
	for _, r := range pb {
		est.samples += r.requests
	}
	for _, r := range pc {
		est.samples += r.requests
	}
	if n < 2 || est.unavailable != "" {
		if est.unavailable == "" {
			est.tooFew = tooFew("rounds on each side", n)
		}
		return est
	}
	est.reps = bootstrap2(len(pb), len(pc), opts.Resamples, opts.Seed, func(r1 []int, w1 []int64, r2 []int, w2 []int64) float64 {
		return weightedRate(pc, r2, w2) / weightedRate(pb, r1, w1)
	})
	est.method = fmt.Sprintf("two-sample block bootstrap over %d production and %d candidate rounds, %d resamples",
		len(pb), len(pc), opts.Resamples)
	return est
}
