package compare

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/infergate/infergate/internal/errkind"
)

// DefaultLatencyQuantile is the quantile --max-latency-increase judges when
// Thresholds.LatencyQuantile is zero: p95, tail enough to catch a
// regression users feel, stable enough not to flap on a few outliers.
const DefaultLatencyQuantile = 0.95

// Thresholds are the checks as given on the command line. The zero value of
// each field means the check was not requested.
type Thresholds struct {
	// MaxLatencyIncrease bounds candidate/production latency at
	// LatencyQuantile, e.g. 1.15.
	MaxLatencyIncrease float64
	// LatencyQuantile is the quantile (0–1) MaxLatencyIncrease judges;
	// 0 means DefaultLatencyQuantile.
	LatencyQuantile float64
	// MaxP99Increase bounds candidate/production p99 latency.
	MaxP99Increase float64
	// MinThroughputRatio is the least candidate/production inferences per
	// second allowed, e.g. 0.95.
	MinThroughputRatio float64
	// MaxMemoryIncrease bounds candidate/production peak resident memory.
	MaxMemoryIncrease float64
	// MaxGPUMemoryIncrease bounds candidate/production peak GPU memory.
	MaxGPUMemoryIncrease float64
	// MaxErrorRate bounds the fraction (0–1) of the candidate's requests
	// that failed. It is a pointer because 0 is a meaningful threshold
	// ("no errors at all"): nil means not requested.
	MaxErrorRate *float64
	// MaxSizeSlopeIncrease bounds candidate/production slope of latency
	// against input size (see NameMaxSizeSlopeIncrease).
	MaxSizeSlopeIncrease float64
	// MaxP50, MaxP95 and MaxP99 are absolute latency budgets on the
	// candidate, or on the single model of `infergate bench`.
	MaxP50, MaxP95, MaxP99 time.Duration
}

// Mode says what kind of run the checks will judge.
type Mode int

const (
	// ModePair is `infergate run`: a candidate against production.
	ModePair Mode = iota + 1
	// ModeSingle is `infergate bench`: one model, absolute checks only.
	ModeSingle
)

// SpecKind is how a Spec compares its measured quantity with its threshold.
type SpecKind int

const (
	// RatioAtMost passes when candidate/production <= Threshold.
	RatioAtMost SpecKind = iota + 1
	// RatioAtLeast passes when candidate/production >= Threshold.
	RatioAtLeast
	// ValueAtMost passes when the candidate's value <= Threshold (in Unit).
	ValueAtMost
	// RateAtMost passes when the candidate's failure fraction <= Threshold.
	RateAtMost
)

func (k SpecKind) String() string {
	switch k {
	case RatioAtMost:
		return "ratio at most"
	case RatioAtLeast:
		return "ratio at least"
	case ValueAtMost:
		return "value at most"
	case RateAtMost:
		return "rate at most"
	default:
		return "SpecKind(" + strconv.Itoa(int(k)) + ")"
	}
}

// IsRatio reports whether the kind compares candidate with production.
func (k SpecKind) IsRatio() bool { return k == RatioAtMost || k == RatioAtLeast }

// The flag names double as check names in the result document.
const (
	NameMaxLatencyIncrease = "max-latency-increase"
	NameMaxP99Increase     = "max-p99-increase"
	NameMinThroughputRatio = "min-throughput-ratio"
	NameMaxMemoryIncrease  = "max-memory-increase"
	// NameMaxGPUMemoryIncrease bounds candidate/production peak device
	// memory, from NVML or the server's metrics.
	NameMaxGPUMemoryIncrease = "max-gpu-memory-increase"
	NameMaxErrorRate         = "max-error-rate"
	NameMaxP50               = "max-p50"
	NameMaxP95               = "max-p95"
	NameMaxP99               = "max-p99"
)

// Metric names and units as they appear in result.Check.
const (
	MetricThroughput = "throughput"
	MetricPeakRSS    = "peak_rss"
	MetricGPUMemory  = "gpu_memory"
	MetricErrorRate  = "error_rate"
	// Latency metrics are "latency_p" followed by the percentile:
	// latency_p95, latency_p99.9 (see LatencyMetric).
	metricLatencyPrefix = "latency_p"

	UnitNS          = "ns"
	UnitInferencesS = "inferences/s"
	UnitBytes       = "bytes"
	// UnitRatio is the unit of a fraction such as the error rate.
	UnitRatio = "ratio"
)

// KindOf returns the kind of the check with the given name, and false for a
// name this version does not know (a document from a newer infergate).
// Reporters use it to print a threshold as "≤ 1.15×" or "≤ 50ms".
func KindOf(name string) (SpecKind, bool) {
	switch name {
	case NameMaxLatencyIncrease, NameMaxP99Increase, NameMaxMemoryIncrease, NameMaxGPUMemoryIncrease, NameMaxSizeSlopeIncrease:
		return RatioAtMost, true
	case NameMinThroughputRatio:
		return RatioAtLeast, true
	case NameMaxErrorRate:
		return RateAtMost, true
	case NameMaxP50, NameMaxP95, NameMaxP99:
		return ValueAtMost, true
	}
	return 0, false
}

// Spec is a validated, ready-to-judge check.
type Spec struct {
	Name   string // the flag, e.g. "max-latency-increase"
	Metric string // e.g. "latency_p95"
	// Unit is the unit of the measured values (not of a ratio threshold).
	Unit string
	// Threshold is a ratio for ratio kinds, a value in Unit for ValueAtMost
	// (nanoseconds for latency budgets), a fraction for RateAtMost.
	Threshold float64
	// Quantile (0–1) is set for latency metrics only.
	Quantile float64
	Kind     SpecKind
}

// LatencyMetric names the latency metric at quantile q: 0.95 →
// "latency_p95", 0.999 → "latency_p99.9".
func LatencyMetric(q float64) string { return metricLatencyPrefix + percentileLabel(q) }

// percentileLabel prints q as a percentile without float noise:
// 0.999 → "99.9", not "99.90000000000001".
func percentileLabel(q float64) string {
	return strconv.FormatFloat(math.Round(q*100*1e6)/1e6, 'f', -1, 64)
}

// NewSpecs validates t for a run of the given mode and returns the checks to
// judge, in a fixed order (the order of the flags in --help). It returns an
// errkind.Input error naming the offending flag when a value is out of range
// (for a Thresholds built without the Parse helpers) or when a ratio check
// is asked of a single-model run, which has nothing to divide by. No check
// is required: an empty slice is a valid answer (verdict "none").
func NewSpecs(t Thresholds, mode Mode) ([]Spec, error) {
	if mode != ModePair && mode != ModeSingle {
		// A programming error in the caller, not the user's.
		return nil, fmt.Errorf("compare: unknown mode %d", mode)
	}
	q := t.LatencyQuantile
	if q == 0 {
		q = DefaultLatencyQuantile
	}
	if !(q > 0 && q < 1) { // also rejects NaN
		return nil, inputf("latency percentile %v: must be between 0 and 1 (exclusive), e.g. 0.95 for p95", t.LatencyQuantile)
	}

	specs := []Spec{}
	ratio := func(name string, v float64, metric, unit string, quantile float64, kind SpecKind) error {
		if v == 0 {
			return nil
		}
		if !(v > 0) || math.IsInf(v, 0) {
			return inputf("%s %v: must be a ratio greater than 0, e.g. 1.15", flagName(name), v)
		}
		if mode == ModeSingle {
			return inputf("%s compares a candidate with production, but bench measures one model; use an absolute budget such as --max-p95 instead", flagName(name))
		}
		specs = append(specs, Spec{Name: name, Metric: metric, Unit: unit, Threshold: v, Quantile: quantile, Kind: kind})
		return nil
	}
	budget := func(name string, d time.Duration, quantile float64) error {
		if d == 0 {
			return nil
		}
		if d < 0 {
			return inputf("%s %v: must be a positive duration, e.g. 50ms", flagName(name), d)
		}
		specs = append(specs, Spec{Name: name, Metric: LatencyMetric(quantile), Unit: UnitNS, Threshold: float64(d), Quantile: quantile, Kind: ValueAtMost})
		return nil
	}

	if err := ratio(NameMaxLatencyIncrease, t.MaxLatencyIncrease, LatencyMetric(q), UnitNS, q, RatioAtMost); err != nil {
		return nil, err
	}
	if err := ratio(NameMaxP99Increase, t.MaxP99Increase, LatencyMetric(0.99), UnitNS, 0.99, RatioAtMost); err != nil {
		return nil, err
	}
	if err := ratio(NameMinThroughputRatio, t.MinThroughputRatio, MetricThroughput, UnitInferencesS, 0, RatioAtLeast); err != nil {
		return nil, err
	}
	if err := ratio(NameMaxMemoryIncrease, t.MaxMemoryIncrease, MetricPeakRSS, UnitBytes, 0, RatioAtMost); err != nil {
		return nil, err
	}
	if err := ratio(NameMaxGPUMemoryIncrease, t.MaxGPUMemoryIncrease, MetricGPUMemory, UnitBytes, 0, RatioAtMost); err != nil {
		return nil, err
	}
	if err := ratio(NameMaxSizeSlopeIncrease, t.MaxSizeSlopeIncrease, MetricSizeSlope, UnitNSPerSize, 0, RatioAtMost); err != nil {
		return nil, err
	}
	if t.MaxErrorRate != nil {
		v := *t.MaxErrorRate
		if !(v >= 0 && v <= 1) {
			return nil, inputf("%s %v: must be a fraction between 0 and 1, e.g. 0.01 or 1%%", flagName(NameMaxErrorRate), v)
		}
		specs = append(specs, Spec{Name: NameMaxErrorRate, Metric: MetricErrorRate, Unit: UnitRatio, Threshold: v, Kind: RateAtMost})
	}
	for _, b := range []struct {
		name string
		d    time.Duration
		q    float64
	}{{NameMaxP50, t.MaxP50, 0.50}, {NameMaxP95, t.MaxP95, 0.95}, {NameMaxP99, t.MaxP99, 0.99}} {
		if err := budget(b.name, b.d, b.q); err != nil {
			return nil, err
		}
	}
	return specs, nil
}

// ParseRatio parses a ratio flag value: "1.15", "115%", or "1.15x". It must
// be finite and greater than 0.
func ParseRatio(flag, s string) (float64, error) {
	v, ok := parseNumber(s, true)
	if !ok || !(v > 0) || math.IsInf(v, 0) {
		return 0, inputf("%s %q: want a ratio greater than 0, e.g. 1.15 or 115%%", flagName(flag), s)
	}
	return v, nil
}

// ParseQuantile parses a latency percentile: "p95", "95", "95%", "p99.9",
// "0.95". It returns a quantile in (0, 1): 0.95, 0.999. A bare number above
// 1 is a percentile (95 means p95); at or below 1 it is already a quantile,
// so "1" is q=1 and rejected: write "p1" for the first percentile.
//
// The error does not name a flag, since the caller knows which one it
// parsed; wrap it with the flag name if useful (the errkind survives).
func ParseQuantile(s string) (float64, error) {
	t := strings.TrimSpace(s)
	percent := false
	if rest, ok := strings.CutPrefix(strings.ToLower(t), "p"); ok {
		t, percent = rest, true
	}
	if rest, ok := strings.CutSuffix(t, "%"); ok {
		t, percent = rest, true
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err == nil && !percent && v > 1 {
		percent = true
	}
	if err == nil && percent {
		// Round away float noise: 99.9/100 must be exactly 0.999 so the
		// metric is named latency_p99.9.
		v = math.Round(v/100*1e12) / 1e12
	}
	if err != nil || !(v > 0 && v < 1) {
		return 0, inputf("percentile %q: want a percentile between 0 and 100 exclusive, e.g. p95, p99.9 or 0.95", s)
	}
	return v, nil
}

// ParseRate parses a fraction flag value such as an error rate: "0.01" or
// "1%". It must be in [0, 1].
func ParseRate(flag, s string) (float64, error) {
	v, ok := parseNumber(s, false)
	if !ok || !(v >= 0 && v <= 1) {
		return 0, inputf("%s %q: want a fraction between 0 and 1 or a percentage, e.g. 0.01 or 1%%", flagName(flag), s)
	}
	return v, nil
}

// ParseBudget parses a latency budget: "50ms", "250us", "1.5s". It must be
// greater than 0; a bare number is rejected because its unit is a guess.
func ParseBudget(flag, s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d <= 0 {
		return 0, inputf("%s %q: want a positive duration with a unit, e.g. 50ms, 250us or 1.5s", flagName(flag), s)
	}
	return d, nil
}

// parseNumber parses "1.15", "115%" and, when allowX, "1.15x" / "1.15×".
func parseNumber(s string, allowX bool) (float64, bool) {
	t := strings.TrimSpace(s)
	scale := 1.0
	if rest, ok := strings.CutSuffix(t, "%"); ok {
		t, scale = rest, 100
	} else if allowX {
		for _, x := range []string{"x", "X", "×"} {
			if rest, ok := strings.CutSuffix(t, x); ok {
				t = rest
				break
			}
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || math.IsNaN(v) {
		return 0, false
	}
	return v / scale, true
}

// flagName prints a flag the way the user typed it.
func flagName(flag string) string {
	if strings.HasPrefix(flag, "-") {
		return flag
	}
	return "--" + flag
}

// inputf makes a one-line error the command layer maps to exit code 2.
func inputf(format string, args ...any) error {
	return errkind.Input(fmt.Errorf(format, args...))
}
