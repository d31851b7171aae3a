package compare

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/report/human"
	"github.com/infergate/infergate/result"
)

// MethodPoint marks a check judged on point estimates: Lower and Upper equal
// the measured quantity. A confidence-interval method (a paired block
// bootstrap over rounds) is planned; it will fill Lower and Upper from the
// same per-metric functions below and leave decide unchanged.
const MethodPoint = "point estimate"

// Judge computes every spec from r's targets and returns the checks, in
// spec order, and the overall verdict:
//
//   - "error" when the run failed (r.Error) or any target failed; no check
//     is judged, because half-measured numbers must not pass a gate;
//   - "none" when there are no specs;
//   - otherwise "fail" if any check failed, else "inconclusive" if any was,
//     else "pass".
//
// Ratio checks divide the candidate by production; absolute checks judge
// the candidate, or the single "model" target of a bench result. Judge
// reads only the document, so it works on a result loaded from disk. It
// returns an error only when the document cannot answer the specs at all: a
// target the specs need is missing (an errkind.Input error, since the user
// chose the document and the flags), a histogram does not decode, or a spec
// is malformed.
func Judge(r *result.Result, specs []Spec) ([]result.Check, result.Verdict, error) {
	if r == nil {
		return nil, "", errors.New("compare: no result to judge")
	}
	// Non-nil so the document says "checks": [] rather than null.
	checks := []result.Check{}
	if r.Error != "" {
		return checks, result.VerdictError, nil
	}
	for _, t := range r.Targets {
		if t.Failed != "" {
			return checks, result.VerdictError, nil
		}
	}
	if len(specs) == 0 {
		return checks, result.VerdictNone, nil
	}

	sides, err := newSides(r, specs)
	if err != nil {
		return nil, "", err
	}
	for _, s := range specs {
		c, err := judgeOne(sides, s)
		if err != nil {
			return nil, "", err
		}
		checks = append(checks, c)
	}
	return checks, Overall(checks), nil
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

// sides are the targets a judgement reads. base is nil for single runs.
type sides struct {
	base, subj         *result.Target
	baseHist, subjHist *result.Histogram // merged rounds; nil if no latency spec
}

func newSides(r *result.Result, specs []Spec) (*sides, error) {
	s := &sides{base: r.Target(result.RoleProduction), subj: r.Target(result.RoleCandidate)}
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
		needHist = needHist || strings.HasPrefix(sp.Metric, metricLatencyPrefix)
	}
	if !needHist {
		return s, nil
	}
	var err error
	if s.subjHist, err = s.subj.Histogram(); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	if s.base != nil {
		if s.baseHist, err = s.base.Histogram(); err != nil {
			return nil, fmt.Errorf("compare: %w", err)
		}
	}
	return s, nil
}

// estimate is what one metric function measured: both sides, the judged
// quantity (a ratio, or the candidate's value) and an interval around it.
type estimate struct {
	production, candidate float64
	ratio                 float64 // candidate/production; 0 for absolute checks
	value                 float64 // the judged quantity: ratio or candidate value
	lower, upper          float64
	method                string
	// unavailable, when set, says why the quantity cannot be judged; the
	// check is then inconclusive with this as its message.
	unavailable string
}

func judgeOne(s *sides, sp Spec) (result.Check, error) {
	if !isFinite(sp.Threshold) || sp.Threshold < 0 {
		// NewSpecs never makes one; a hand-built Spec must not put NaN into
		// the document, which JSON cannot encode.
		return result.Check{}, fmt.Errorf("compare: spec %s: threshold %v is not a finite, non-negative number", sp.Name, sp.Threshold)
	}
	var est estimate
	switch {
	case strings.HasPrefix(sp.Metric, metricLatencyPrefix):
		if !(sp.Quantile > 0 && sp.Quantile < 1) {
			return result.Check{}, fmt.Errorf("compare: spec %s: latency quantile %v out of (0, 1)", sp.Name, sp.Quantile)
		}
		if sp.Kind.IsRatio() {
			est = latencyRatio(s.baseHist, s.subjHist, sp.Quantile)
		} else {
			est = latencyValue(s.baseHist, s.subjHist, sp.Quantile)
		}
	case sp.Metric == MetricThroughput && sp.Kind.IsRatio():
		est = throughputRatio(s.base, s.subj)
	case sp.Metric == MetricPeakRSS && sp.Kind.IsRatio():
		est = memoryRatio(s.base, s.subj)
	case sp.Metric == MetricErrorRate && sp.Kind == RateAtMost:
		est = errorRate(s.base, s.subj)
	default:
		return result.Check{}, fmt.Errorf("compare: spec %s: cannot judge metric %q as %v", sp.Name, sp.Metric, sp.Kind)
	}

	c := result.Check{
		Name:       sp.Name,
		Metric:     sp.Metric,
		Unit:       sp.Unit,
		Threshold:  sp.Threshold,
		Production: finite(est.production),
		Candidate:  finite(est.candidate),
		Ratio:      finite(est.ratio),
		Lower:      finite(est.lower),
		Upper:      finite(est.upper),
		Method:     est.method,
	}
	c.Outcome = decide(sp.Kind, est, sp.Threshold)
	c.Message = message(sp, est, s.base != nil)
	return c, nil
}

// decide compares the interval with the threshold: clear of it on the good
// side passes, clear of it on the bad side fails, straddling it is
// inconclusive. With point estimates the interval is a point, so only
// unavailable data gives inconclusive.
func decide(kind SpecKind, est estimate, threshold float64) result.Outcome {
	if est.unavailable != "" || !isFinite(est.lower) || !isFinite(est.upper) {
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

// The per-metric functions. Each returns the point estimate today; the
// bootstrap will resample rounds inside them.

func latencyRatio(base, subj *result.Histogram, q float64) estimate {
	p := float64(base.Quantile(q))
	c := float64(subj.Quantile(q))
	label := "p" + percentileLabel(q)
	switch {
	case base.Count() == 0:
		return estimate{candidate: c, unavailable: "production has no latency samples; cannot compare " + label}
	case subj.Count() == 0:
		return estimate{production: p, unavailable: "candidate has no latency samples; cannot compare " + label}
	}
	return pointRatio(p, c)
}

func latencyValue(base, subj *result.Histogram, q float64) estimate {
	var p float64
	if base != nil {
		p = float64(base.Quantile(q))
	}
	if subj.Count() == 0 {
		return estimate{production: p, unavailable: "no latency samples; cannot judge p" + percentileLabel(q)}
	}
	return pointValue(p, float64(subj.Quantile(q)))
}

func throughputRatio(base, subj *result.Target) estimate {
	p, c := base.Throughput.InferencesPerS, subj.Throughput.InferencesPerS
	if !(p > 0) || !isFinite(p) {
		return estimate{production: p, candidate: c, unavailable: "production throughput is 0; cannot compare throughput"}
	}
	return pointRatio(p, c)
}

func memoryRatio(base, subj *result.Target) estimate {
	p, c := float64(base.Memory.PeakRSSBytes), float64(subj.Memory.PeakRSSBytes)
	// Peak RSS of 0 means "not measured" (no VmHWM on this OS), never a
	// real process; a ratio against it would be a division by zero or a
	// bogus pass.
	switch {
	case p <= 0 && c <= 0:
		return estimate{unavailable: "peak RSS was not measured; cannot compare memory"}
	case p <= 0:
		return estimate{candidate: c, unavailable: "production peak RSS was not measured; cannot compare memory"}
	case c <= 0:
		return estimate{production: p, unavailable: "candidate peak RSS was not measured; cannot compare memory"}
	}
	return pointRatio(p, c)
}

func errorRate(base, subj *result.Target) estimate {
	var p float64
	if base != nil {
		p, _ = rateOf(base)
	}
	c, ok := rateOf(subj)
	if !ok {
		return estimate{production: p, unavailable: "no requests were measured; cannot judge the error rate"}
	}
	return pointValue(p, c)
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
	return estimate{production: production, candidate: candidate, ratio: r, value: r, lower: r, upper: r, method: MethodPoint}
}

func pointValue(production, candidate float64) estimate {
	return estimate{production: production, candidate: candidate, value: candidate, lower: candidate, upper: candidate, method: MethodPoint}
}

// message is the check's one line for people, e.g.
// "p95 1.27× production (2.54ms vs 2.00ms, threshold 1.15×)".
func message(sp Spec, est estimate, pair bool) string {
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
	case sp.Metric == MetricErrorRate:
		return "error rate"
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
