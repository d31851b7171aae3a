package compare

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/infergate/infergate/result"
)

// checkConsistent asserts what every judged check must satisfy: finite
// numbers, ordered bounds, and an outcome that the printed bounds show.
func checkConsistent(t *testing.T, c result.Check) {
	t.Helper()
	for _, v := range []float64{c.Production, c.Candidate, c.Ratio, c.Lower, c.Upper, c.Confidence} {
		if !isFinite(v) {
			t.Errorf("%s: non-finite number in %+v", c.Name, c)
		}
	}
	if c.Lower > c.Upper {
		t.Errorf("%s: lower %v above upper %v", c.Name, c.Lower, c.Upper)
	}
	kind, _ := KindOf(c.Name)
	var passes, fails bool
	if kind == RatioAtLeast {
		passes, fails = c.Lower >= c.Threshold, c.Upper < c.Threshold
	} else {
		passes, fails = c.Upper <= c.Threshold, c.Lower > c.Threshold
	}
	switch c.Outcome {
	case result.OutcomePass:
		if !passes {
			t.Errorf("%s: pass with bounds [%v, %v] vs threshold %v", c.Name, c.Lower, c.Upper, c.Threshold)
		}
	case result.OutcomeFail:
		if !fails {
			t.Errorf("%s: fail with bounds [%v, %v] vs threshold %v", c.Name, c.Lower, c.Upper, c.Threshold)
		}
	case result.OutcomeInconclusive:
		// Unavailable and point-only checks are inconclusive whatever their
		// point; an interval must straddle.
		if c.Method != "" && c.Method != MethodPoint && (passes || fails) {
			t.Errorf("%s: inconclusive with bounds [%v, %v] clear of threshold %v", c.Name, c.Lower, c.Upper, c.Threshold)
		}
	default:
		t.Errorf("%s: outcome %q", c.Name, c.Outcome)
	}
}

// synth describes a synthetic pair run. Production's samples in round r
// are base · drift_r · jitter · exp(noise·N(0,1)); the candidate's are
// drawn the same way with its own jitter and noise, times ratio. drift_r
// is shared by both targets (the machine's state during the round, what
// pairing is for); jitter is each target's own per-round factor. Every
// factor has the same distribution for both targets, so the candidate's
// latency distribution is exactly ratio times production's, and so is
// every quantile: the true ratio is known.
//
// With exact set the candidate's samples are production's times ratio.
type synth struct {
	rounds, samples        int
	ratio                  float64
	drift, jitter, noise   float64 // log-scale σ of each factor
	exact                  bool
	seed                   uint64
	base                   time.Duration // default 1ms
	prodRSS, candRSS       int64
	prodErrors, candErrors int64
}

// samplesNS draws both targets' samples, round by round.
func (sy synth) samplesNS() (prod, cand [][]int64) {
	rng := rand.New(rand.NewPCG(sy.seed, 7))
	base := float64(sy.base)
	if base == 0 {
		base = float64(time.Millisecond)
	}
	for range sy.rounds {
		d := math.Exp(sy.drift * rng.NormFloat64())
		jp := math.Exp(sy.jitter * rng.NormFloat64())
		jc := math.Exp(sy.jitter * rng.NormFloat64())
		p := make([]int64, sy.samples)
		c := make([]int64, sy.samples)
		for i := range sy.samples {
			x := base * d * jp * math.Exp(sy.noise*rng.NormFloat64())
			p[i] = int64(x)
			if sy.exact {
				c[i] = int64(x * sy.ratio)
			} else {
				c[i] = int64(base * d * jc * math.Exp(sy.noise*rng.NormFloat64()) * sy.ratio)
			}
		}
		prod, cand = append(prod, p), append(cand, c)
	}
	return prod, cand
}

// result encodes the samples as a result document, as bench writes it:
// one HDR histogram per round, requests run back to back.
func (sy synth) result(t testing.TB) *result.Result {
	t.Helper()
	prod, cand := sy.samplesNS()
	target := func(role result.Role, rounds [][]int64, rss, errs int64) result.Target {
		tg := result.Target{Role: role, Name: string(role), Kind: "onnx",
			Memory: result.Memory{PeakRSSBytes: rss}, Errors: result.Errors{Total: errs}}
		all := result.NewHistogram()
		var busy, reqs int64
		for i, samples := range rounds {
			h := result.NewHistogram()
			var elapsed int64
			for _, ns := range samples {
				h.RecordNS(ns)
				elapsed += ns
			}
			enc, err := h.Encode()
			if err != nil {
				t.Fatal(err)
			}
			all.Merge(h)
			tg.Rounds = append(tg.Rounds, result.Round{Index: i, Position: i % 2,
				Requests: int64(len(samples)), ElapsedNS: elapsed, Histogram: enc})
			busy += elapsed
			reqs += int64(len(samples))
		}
		tg.Latency = all.Summary()
		if busy > 0 {
			tg.Throughput.InferencesPerS = float64(reqs) / (float64(busy) / 1e9)
		}
		return tg
	}
	return &result.Result{SchemaVersion: result.SchemaVersion, Targets: []result.Target{
		target(result.RoleProduction, prod, sy.prodRSS, sy.prodErrors),
		target(result.RoleCandidate, cand, sy.candRSS, sy.candErrors),
	}}
}

// roundsOf turns raw samples into rounds for the internal bootstrap,
// without HDR's 3-digit rounding: the coverage test measures the method,
// not the histogram's resolution.
func roundsOf(samples [][]int64) []roundData {
	out := make([]roundData, len(samples))
	for i, s := range samples {
		s = slices.Clone(s)
		slices.Sort(s)
		var bs []result.Bucket
		for _, v := range s {
			if n := len(bs); n > 0 && bs[n-1].ValueNS == v {
				bs[n-1].Count++
			} else {
				bs = append(bs, result.Bucket{ValueNS: v, Count: 1})
			}
		}
		out[i] = roundData{index: i, buckets: bs, samples: int64(len(s))}
	}
	return out
}

func judgeSpecs(t *testing.T, r *result.Result, th Thresholds, opts Options) Judgement {
	t.Helper()
	specs, err := NewSpecs(th, ModePair)
	if err != nil {
		t.Fatal(err)
	}
	j, err := JudgeWith(r, specs, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range j.Checks {
		checkConsistent(t, c)
	}
	// Whatever was judged must encode: JSON has no NaN or Inf.
	r.Checks, r.Verdict = j.Checks, j.Verdict
	if err := result.Write(&bytes.Buffer{}, r); err != nil {
		t.Errorf("checks do not encode: %v", err)
	}
	return j
}

func TestKnownAnswers(t *testing.T) {
	t.Run("1.5x fails", func(t *testing.T) {
		r := synth{rounds: 20, samples: 200, ratio: 1.5, drift: 0.2, noise: 0.3, exact: true, seed: 1}.result(t)
		j := judgeSpecs(t, r, Thresholds{MaxLatencyIncrease: 1.15}, DefaultOptions())
		c := j.Checks[0]
		if c.Outcome != result.OutcomeFail || j.Verdict != result.VerdictFail || !j.Decided {
			t.Fatalf("got %s (decided %v): %+v", c.Outcome, j.Decided, c)
		}
		// HDR keeps 3 significant digits: 1.5 within 0.2%.
		if math.Abs(c.Ratio-1.5) > 0.003 || c.Lower < 1.49 || c.Upper > 1.51 {
			t.Errorf("ratio %v [%v, %v], want about 1.5", c.Ratio, c.Lower, c.Upper)
		}
		if c.Rounds != 20 || c.Samples != 8000 || c.Confidence != 0.95 {
			t.Errorf("rounds %d samples %d confidence %v", c.Rounds, c.Samples, c.Confidence)
		}
		if want := "paired block bootstrap over 20 rounds, 2000 resamples, 95% one-sided"; c.Method != want {
			t.Errorf("method %q, want %q", c.Method, want)
		}
	})
	t.Run("same cost passes 1.15", func(t *testing.T) {
		r := synth{rounds: 20, samples: 200, ratio: 1, drift: 0.2, jitter: 0.03, noise: 0.3, seed: 2}.result(t)
		j := judgeSpecs(t, r, Thresholds{MaxLatencyIncrease: 1.15}, DefaultOptions())
		c := j.Checks[0]
		if c.Outcome != result.OutcomePass || !(c.Lower < 1 && c.Upper > 1 && c.Upper < 1.15) {
			t.Errorf("got %s %v [%v, %v]", c.Outcome, c.Ratio, c.Lower, c.Upper)
		}
	})
	t.Run("true ratio on the threshold is inconclusive", func(t *testing.T) {
		r := synth{rounds: 20, samples: 200, ratio: 1.15, drift: 0.2, jitter: 0.03, noise: 0.3, seed: 3}.result(t)
		j := judgeSpecs(t, r, Thresholds{MaxLatencyIncrease: 1.15}, DefaultOptions())
		c := j.Checks[0]
		if c.Outcome != result.OutcomeInconclusive || j.Decided || !strings.Contains(c.Message, "straddles the threshold") {
			t.Errorf("got %s %v [%v, %v] %q", c.Outcome, c.Ratio, c.Lower, c.Upper, c.Message)
		}
	})
}

// TestCoverage: over many runs with a known true p95 ratio, the one-sided
// 95% upper bound is at or above it in about 95% of runs, and the lower
// bound at or below it in about 95%. 500 trials give a binomial standard
// error of 1 point; the tolerance is 2.
func TestCoverage(t *testing.T) {
	const trials, want, tol = 500, 0.95, 0.02
	const truth = 1.2
	opts := DefaultOptions()
	var upperOK, lowerOK int
	for i := range trials {
		sy := synth{rounds: 20, samples: 200, ratio: truth, drift: 0.2, jitter: 0.05, noise: 0.3, seed: uint64(1000 + i)}
		prod, cand := sy.samplesNS()
		s := &sides{baseRounds: roundsOf(prod), subjRounds: roundsOf(cand)}
		opts.Seed = uint64(i)
		est := latencyRatio(s, 0.95, opts)
		est.setBounds(1 - want)
		if est.upper >= truth {
			upperOK++
		}
		if est.lower <= truth {
			lowerOK++
		}
	}
	up, lo := float64(upperOK)/trials, float64(lowerOK)/trials
	t.Logf("coverage over %d trials: upper bound %.1f%%, lower bound %.1f%% (want %.0f%% ± %.0f)", trials, 100*up, 100*lo, 100*want, 100*tol)
	if math.Abs(up-want) > tol || math.Abs(lo-want) > tol {
		t.Errorf("coverage upper %.3f lower %.3f, want %.2f ± %.2f", up, lo, want, tol)
	}
}

func TestReproducible(t *testing.T) {
	r := synth{rounds: 12, samples: 100, ratio: 1.1, drift: 0.2, jitter: 0.05, noise: 0.3, seed: 4}.result(t)
	th := Thresholds{MaxLatencyIncrease: 1.15, MaxP99Increase: 1.3, MinThroughputRatio: 0.8}
	a := judgeSpecs(t, r, th, DefaultOptions())
	b := judgeSpecs(t, r, th, DefaultOptions())
	other := DefaultOptions()
	other.Seed++
	c := judgeSpecs(t, r, th, other)
	differ := false
	for i := range a.Checks {
		if a.Checks[i] != b.Checks[i] {
			t.Errorf("same seed, different checks:\n%+v\n%+v", a.Checks[i], b.Checks[i])
		}
		x, y := a.Checks[i], c.Checks[i]
		if x.Lower != y.Lower || x.Upper != y.Upper {
			differ = true
			if math.Abs(x.Lower/y.Lower-1) > 0.05 || math.Abs(x.Upper/y.Upper-1) > 0.05 {
				t.Errorf("%s: seeds disagree by more than 5%%: [%v, %v] vs [%v, %v]", x.Name, x.Lower, x.Upper, y.Lower, y.Upper)
			}
		}
		if x.Ratio != y.Ratio {
			t.Errorf("%s: the point estimate depends on the seed", x.Name)
		}
	}
	if !differ {
		t.Error("a different seed gave identical intervals")
	}
}

// TestProjectedQuantile: the projection's quantile with every round once is
// exactly the merged histogram's, and a resample equals merging the drawn
// rounds that many times.
func TestProjectedQuantile(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	var hs []*result.Histogram
	var bs [][]result.Bucket
	for r := range 6 {
		h := result.NewHistogram()
		for range 50 + 37*r {
			h.RecordNS(int64(20_000 * math.Exp(0.5*rng.NormFloat64()) * float64(1+r%3)))
		}
		hs, bs = append(hs, h), append(bs, h.Buckets())
	}
	p := project(bs)
	for _, w := range [][]int64{{1, 1, 1, 1, 1, 1}, {2, 0, 1, 0, 3, 0}, {0, 0, 0, 0, 0, 6}} {
		merged := result.NewHistogram()
		var rounds []int
		var weights []int64
		for r, k := range w {
			for range k {
				merged.Merge(hs[r])
			}
			if k > 0 {
				rounds, weights = append(rounds, r), append(weights, k)
			}
		}
		for _, q := range []float64{0.01, 0.5, 0.9, 0.95, 0.99, 0.999} {
			if got, want := p.quantile(q, rounds, weights), float64(merged.Quantile(q)); got != want {
				t.Errorf("weights %v q %v: projected %v, merged histogram %v", w, q, got, want)
			}
		}
	}
	if !math.IsNaN(p.quantile(0.5, nil, nil)) {
		t.Error("empty resample should be NaN")
	}
}

// TestBoundsMatchPValues: the bound index makes "bound beyond t" and
// "p-value <= level" the same decision, which is what lets Holm's levels
// be shown as intervals.
func TestBoundsMatchPValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for range 2000 {
		n := 50 + rng.IntN(200)
		s := make(replicates, n)
		for i := range s {
			s[i] = math.Round(rng.NormFloat64()*20) / 10 // ties on purpose
		}
		slices.Sort(s)
		thr := math.Round(rng.NormFloat64()*20) / 10
		a := (0.5 + float64(rng.IntN(20))) / float64(n) // off the grid of k/n
		lower, upper := s.bounds(a)
		for _, kind := range []SpecKind{RatioAtMost, RatioAtLeast} {
			pFail, pPass := s.pValues(kind, thr)
			fails, passes := lower > thr, upper <= thr
			if kind == RatioAtLeast {
				fails, passes = upper < thr, lower >= thr
			}
			if fails != (pFail <= a) || passes != (pPass <= a) {
				t.Fatalf("%v t=%v a=%v: bounds [%v, %v] say fail %v pass %v; p-values %v %v", kind, thr, a, lower, upper, fails, passes, pFail, pPass)
			}
		}
	}
}

func TestTooFewRounds(t *testing.T) {
	r := synth{rounds: 1, samples: 100, ratio: 2, noise: 0.3, seed: 7, prodRSS: 100 << 20, candRSS: 300 << 20, candErrors: 5}.result(t)
	j := judgeSpecs(t, r, Thresholds{MaxLatencyIncrease: 1.15, MinThroughputRatio: 0.9, MaxMemoryIncrease: 1.2, MaxErrorRate: new(0.0), MaxP95: time.Second}, DefaultOptions())
	want := map[string]result.Outcome{
		NameMaxLatencyIncrease: result.OutcomeInconclusive,
		NameMinThroughputRatio: result.OutcomeInconclusive,
		NameMaxP95:             result.OutcomeInconclusive,
		// These do not resample rounds.
		NameMaxMemoryIncrease: result.OutcomeFail,
		NameMaxErrorRate:      result.OutcomeFail,
	}
	for _, c := range j.Checks {
		if c.Outcome != want[c.Name] {
			t.Errorf("%s: %s, want %s (%s)", c.Name, c.Outcome, want[c.Name], c.Message)
		}
		if want[c.Name] == result.OutcomeInconclusive {
			if !strings.Contains(c.Message, "needs at least 2 rounds") || c.Method != MethodPoint || c.Lower != c.Upper || c.Confidence != 0 {
				t.Errorf("%s: %+v", c.Name, c)
			}
		}
	}
	if j.Decided || j.Verdict != result.VerdictFail || j.DetectableChange != 0 {
		t.Errorf("decided %v verdict %s detectable %v", j.Decided, j.Verdict, j.DetectableChange)
	}
}

func TestMultiplicityAndLooks(t *testing.T) {
	r := synth{rounds: 20, samples: 200, ratio: 1.0, drift: 0.2, jitter: 0.03, noise: 0.3, seed: 8,
		prodRSS: 100 << 20, candRSS: 101 << 20}.result(t)
	th := Thresholds{MaxLatencyIncrease: 1.15, MaxP99Increase: 1.3, MinThroughputRatio: 0.8, MaxMemoryIncrease: 1.2}
	one := judgeSpecs(t, r, Thresholds{MaxLatencyIncrease: 1.15}, DefaultOptions())
	all := judgeSpecs(t, r, th, DefaultOptions())
	// Memory is not statistical: the family is the other three.
	if c := all.Checks[3]; c.Confidence != 0 || strings.Contains(c.Method, "Holm") {
		t.Errorf("memory: %+v", c)
	}
	for _, c := range all.Checks[:3] {
		if c.Outcome != result.OutcomePass || !strings.Contains(c.Method, "Holm over 3 checks") {
			t.Errorf("%s: %s, method %q", c.Name, c.Outcome, c.Method)
		}
	}
	// All three pass, so Holm's levels are 0.05/3, 0.05/2 and 0.05: the
	// smallest p-value is tested at the strictest level.
	var levels []float64
	for _, c := range all.Checks[:3] {
		levels = append(levels, math.Round((1-c.Confidence)*1e6)/1e6)
	}
	slices.Sort(levels)
	if !slices.Equal(levels, []float64{0.016667, 0.025, 0.05}) {
		t.Errorf("levels %v", levels)
	}
	// Wider family, wider or equal interval on the same check.
	a, b := one.Checks[0], all.Checks[0]
	if b.Lower > a.Lower || b.Upper < a.Upper {
		t.Errorf("in a family of 3: [%v, %v], alone: [%v, %v]", b.Lower, b.Upper, a.Lower, a.Upper)
	}

	opts := DefaultOptions()
	opts.Look, opts.Looks = 1, 4
	seq := judgeSpecs(t, r, Thresholds{MaxLatencyIncrease: 1.15}, opts)
	c := seq.Checks[0]
	if c.Confidence != 1-0.05/4 || !strings.Contains(c.Method, "look 1 of 4") || c.Upper < a.Upper {
		t.Errorf("look 1 of 4: %+v", c)
	}
}

func TestResolutionWarning(t *testing.T) {
	r := synth{rounds: 10, samples: 100, ratio: 1.0, drift: 0.2, jitter: 0.1, noise: 0.4, seed: 9}.result(t)
	j := judgeSpecs(t, r, Thresholds{MaxLatencyIncrease: 1.01}, DefaultOptions())
	c := j.Checks[0]
	h, ok := Resolution(c)
	if !ok || math.Abs(j.DetectableChange-(1+h)) > 1e-12 || !(h > 0.01) {
		t.Fatalf("resolution %v %v, detectable %v: %+v", h, ok, j.DetectableChange, c)
	}
	want := fmt.Sprintf("max-latency-increase: threshold 1.01× is below what this run can resolve (±%.1f%%); run longer or raise it", 100*h)
	if len(j.Warnings) != 1 || j.Warnings[0] != want {
		t.Errorf("warnings %q, want %q", j.Warnings, want)
	}
	j = judgeSpecs(t, r, Thresholds{MaxLatencyIncrease: 1.5}, DefaultOptions())
	if len(j.Warnings) != 0 || j.DetectableChange <= 1 {
		t.Errorf("threshold 1.5: warnings %q, detectable %v", j.Warnings, j.DetectableChange)
	}
}

func TestJudgeWithOptions(t *testing.T) {
	r := synth{rounds: 3, samples: 10, ratio: 1, seed: 10}.result(t)
	specs, _ := NewSpecs(Thresholds{MaxLatencyIncrease: 1.15}, ModePair)
	for _, bad := range []Options{
		{Confidence: 1}, {Confidence: 0.4}, {Confidence: math.NaN()},
		{MemoryTolerance: -0.1}, {MemoryTolerance: math.Inf(1)},
		{Look: 3, Looks: 2}, {Look: 2}, {Looks: -1}, {Looks: 3},
	} {
		if _, err := JudgeWith(r, specs, bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	// The zero value is usable: default confidence, resamples raised.
	j, err := JudgeWith(r, specs, Options{Resamples: 10})
	if err != nil || j.Checks[0].Confidence != DefaultConfidence || !strings.Contains(j.Checks[0].Method, "2000 resamples") {
		t.Errorf("zero options: %+v %v", j, err)
	}
	if j, _ := JudgeWith(r, nil, DefaultOptions()); !j.Decided || j.Verdict != result.VerdictNone {
		t.Errorf("no specs: %+v", j)
	}
}

// TestNeverContradicts judges many noisy runs with every kind of check and
// asserts each outcome agrees with its printed bounds (checkConsistent).
func TestNeverContradicts(t *testing.T) {
	th := Thresholds{MaxLatencyIncrease: 1.1, MaxP99Increase: 1.1, MinThroughputRatio: 0.95, MaxMemoryIncrease: 1.1,
		MaxErrorRate: new(0.01), MaxP50: 1100 * time.Microsecond}
	outcomes := map[result.Outcome]int{}
	for i := range 30 {
		ratio := 0.9 + 0.01*float64(i)
		r := synth{rounds: 8, samples: 50, ratio: ratio, drift: 0.2, jitter: 0.05, noise: 0.3, seed: uint64(100 + i),
			prodRSS: 100 << 20, candRSS: int64(float64(100<<20) * ratio), candErrors: int64(i % 4)}.result(t)
		j := judgeSpecs(t, r, th, DefaultOptions())
		for _, c := range j.Checks {
			outcomes[c.Outcome]++
		}
	}
	if len(outcomes) != 3 {
		t.Errorf("outcomes %v: want all three to occur", outcomes)
	}
}

func BenchmarkBootstrap(b *testing.B) {
	// 40 rounds of 500 samples per target, as bench writes them: the
	// histograms are decoded once, outside the loop, as JudgeWith does.
	r := synth{rounds: 40, samples: 500, ratio: 1.1, drift: 0.2, jitter: 0.05, noise: 0.3, seed: 11}.result(b)
	s, err := newSides(r, []Spec{{Metric: "latency_p95"}})
	if err != nil {
		b.Fatal(err)
	}
	opts := DefaultOptions()
	b.ReportAllocs()
	for b.Loop() {
		est := latencyRatio(s, 0.95, opts)
		if len(est.reps) != MinResamples {
			b.Fatal(len(est.reps))
		}
	}
}

func BenchmarkJudgeWith(b *testing.B) {
	// The whole judgement, histogram decoding included, of a 40-round run
	// with three bootstrapped checks.
	r := synth{rounds: 40, samples: 500, ratio: 1.1, drift: 0.2, jitter: 0.05, noise: 0.3, seed: 11}.result(b)
	specs, err := NewSpecs(Thresholds{MaxLatencyIncrease: 1.15, MaxP99Increase: 1.2, MinThroughputRatio: 0.9}, ModePair)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := JudgeWith(r, specs, DefaultOptions()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDetectableChangeWithoutLatencyCheck: a paired run gated only on
// throughput and errors still states the latency change it could resolve:
// the same number a latency check on those rounds would have given.
func TestDetectableChangeWithoutLatencyCheck(t *testing.T) {
	r := synth{rounds: 10, samples: 100, ratio: 1.0, drift: 0.2, jitter: 0.1, noise: 0.4, seed: 9}.result(t)
	withCheck := judgeSpecs(t, r, Thresholds{MaxLatencyIncrease: 1.15}, DefaultOptions())
	without := judgeSpecs(t, r, Thresholds{MinThroughputRatio: 0.9, MaxErrorRate: new(0.01)}, DefaultOptions())
	if !(without.DetectableChange > 1) || math.Abs(without.DetectableChange-withCheck.DetectableChange) > 1e-9 {
		t.Errorf("detectable change without a latency check %v, with one %v", without.DetectableChange, withCheck.DetectableChange)
	}
	// It is the latency ratio's: no check appears for it.
	for _, c := range without.Checks {
		if c.Name == NameMaxLatencyIncrease {
			t.Errorf("a latency check appeared: %+v", c)
		}
	}
}
