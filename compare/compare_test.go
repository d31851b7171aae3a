package compare

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/result"
)

func TestParseRatio(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"1.15", 1.15, true},
		{"115%", 1.15, true},
		{" 1.2x ", 1.2, true},
		{"1.2×", 1.2, true},
		{"0.95", 0.95, true},
		{"0", 0, false},
		{"-1.1", 0, false},
		{"inf", 0, false},
		{"NaN", 0, false},
		{"", 0, false},
		{"fast", 0, false},
		{"1.15%%", 0, false},
	} {
		got, err := ParseRatio("max-latency-increase", tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("ParseRatio(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil {
			checkInputErr(t, err, "--max-latency-increase", tc.in)
		}
	}
}

func TestParseQuantile(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"p95", 0.95, true},
		{"P99", 0.99, true},
		{"95", 0.95, true},
		{"95%", 0.95, true},
		{"p99.9", 0.999, true},
		{"99.9%", 0.999, true},
		{"99.99", 0.9999, true},
		{"0.95", 0.95, true},
		{"0.5", 0.5, true},
		{"p1", 0.01, true},
		{"p0.5", 0.005, true},
		{"1", 0, false}, // q=1 is the maximum, not a percentile
		{"0", 0, false},
		{"p100", 0, false},
		{"100", 0, false},
		{"101", 0, false},
		{"-5", 0, false},
		{"p", 0, false},
		{"median", 0, false},
		{"NaN", 0, false},
	} {
		got, err := ParseQuantile(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("ParseQuantile(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil {
			checkInputErr(t, err, "percentile", tc.in)
		}
	}
	if q, _ := ParseQuantile("p99.9"); LatencyMetric(q) != "latency_p99.9" {
		t.Errorf("LatencyMetric(p99.9) = %q", LatencyMetric(q))
	}
}

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"0.01", 0.01, true},
		{"1%", 0.01, true},
		{"0", 0, true},
		{"0%", 0, true},
		{"1", 1, true},
		{"100%", 1, true},
		{"5", 0, false}, // 5 is not a fraction; 5% must say so
		{"-0.1", 0, false},
		{"101%", 0, false},
		{"few", 0, false},
	} {
		got, err := ParseRate("max-error-rate", tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil {
			checkInputErr(t, err, "--max-error-rate", tc.in)
		}
	}
}

func TestParseBudget(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"50ms", 50 * time.Millisecond, true},
		{"250us", 250 * time.Microsecond, true},
		{"250µs", 250 * time.Microsecond, true},
		{"1.5s", 1500 * time.Millisecond, true},
		{"50", 0, false}, // no unit
		{"0s", 0, false},
		{"-5ms", 0, false},
		{"soon", 0, false},
	} {
		got, err := ParseBudget("max-p95", tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("ParseBudget(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil {
			checkInputErr(t, err, "--max-p95", tc.in)
		}
	}
}

// checkInputErr asserts the CLI contract for bad flag values: exit code 2
// (errkind.Input) and one line naming the flag and the value.
func checkInputErr(t *testing.T, err error, flag, value string) {
	t.Helper()
	if errkind.Of(err) != errkind.KindInput {
		t.Errorf("error %q is %v, want input", err, errkind.Of(err))
	}
	msg := err.Error()
	if !strings.Contains(msg, flag) || !strings.Contains(msg, value) || strings.Contains(msg, "\n") {
		t.Errorf("error %q should be one line naming %s and %q", msg, flag, value)
	}
}

func TestNewSpecs(t *testing.T) {
	all := Thresholds{
		MaxLatencyIncrease: 1.15,
		LatencyQuantile:    0.999,
		MaxP99Increase:     1.2,
		MinThroughputRatio: 0.95,
		MaxMemoryIncrease:  1.1,
		MaxErrorRate:       new(0.0),
		MaxP50:             time.Millisecond,
		MaxP95:             2 * time.Millisecond,
		MaxP99:             5 * time.Millisecond,
	}
	specs, err := NewSpecs(all, ModePair)
	if err != nil {
		t.Fatal(err)
	}
	want := []Spec{
		{Name: "max-latency-increase", Metric: "latency_p99.9", Unit: "ns", Threshold: 1.15, Quantile: 0.999, Kind: RatioAtMost},
		{Name: "max-p99-increase", Metric: "latency_p99", Unit: "ns", Threshold: 1.2, Quantile: 0.99, Kind: RatioAtMost},
		{Name: "min-throughput-ratio", Metric: "throughput", Unit: "inferences/s", Threshold: 0.95, Kind: RatioAtLeast},
		{Name: "max-memory-increase", Metric: "peak_rss", Unit: "bytes", Threshold: 1.1, Kind: RatioAtMost},
		{Name: "max-error-rate", Metric: "error_rate", Unit: "ratio", Threshold: 0, Kind: RateAtMost},
		{Name: "max-p50", Metric: "latency_p50", Unit: "ns", Threshold: 1e6, Quantile: 0.5, Kind: ValueAtMost},
		{Name: "max-p95", Metric: "latency_p95", Unit: "ns", Threshold: 2e6, Quantile: 0.95, Kind: ValueAtMost},
		{Name: "max-p99", Metric: "latency_p99", Unit: "ns", Threshold: 5e6, Quantile: 0.99, Kind: ValueAtMost},
	}
	if len(specs) != len(want) {
		t.Fatalf("got %d specs, want %d: %+v", len(specs), len(want), specs)
	}
	for i := range want {
		if specs[i] != want[i] {
			t.Errorf("spec %d = %+v, want %+v", i, specs[i], want[i])
		}
		if k, ok := KindOf(specs[i].Name); !ok || k != specs[i].Kind {
			t.Errorf("KindOf(%q) = %v, %v; want %v", specs[i].Name, k, ok, specs[i].Kind)
		}
	}

	// The default quantile is p95.
	specs, err = NewSpecs(Thresholds{MaxLatencyIncrease: 1.15}, ModePair)
	if err != nil || len(specs) != 1 || specs[0].Metric != "latency_p95" || specs[0].Quantile != 0.95 {
		t.Errorf("default quantile: %+v, %v", specs, err)
	}
	// Nothing requested is fine: bench without budgets.
	specs, err = NewSpecs(Thresholds{}, ModeSingle)
	if err != nil || specs == nil || len(specs) != 0 {
		t.Errorf("empty thresholds: %+v, %v", specs, err)
	}
	// Budgets and error rates work on a single model.
	specs, err = NewSpecs(Thresholds{MaxP95: time.Millisecond, MaxErrorRate: new(0.01)}, ModeSingle)
	if err != nil || len(specs) != 2 {
		t.Errorf("single budgets: %+v, %v", specs, err)
	}
}

func TestNewSpecsRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    Thresholds
		mode Mode
		want string // in the message
	}{
		{"ratio in bench", Thresholds{MaxLatencyIncrease: 1.15}, ModeSingle, "--max-latency-increase"},
		{"throughput in bench", Thresholds{MinThroughputRatio: 0.9}, ModeSingle, "--min-throughput-ratio"},
		{"memory in bench", Thresholds{MaxMemoryIncrease: 1.1}, ModeSingle, "--max-memory-increase"},
		{"negative ratio", Thresholds{MaxP99Increase: -1}, ModePair, "--max-p99-increase"},
		{"NaN ratio", Thresholds{MaxMemoryIncrease: math.NaN()}, ModePair, "--max-memory-increase"},
		{"Inf ratio", Thresholds{MinThroughputRatio: math.Inf(1)}, ModePair, "--min-throughput-ratio"},
		{"quantile 1", Thresholds{MaxLatencyIncrease: 1.1, LatencyQuantile: 1}, ModePair, "percentile"},
		{"quantile 95", Thresholds{MaxLatencyIncrease: 1.1, LatencyQuantile: 95}, ModePair, "percentile"},
		{"rate above 1", Thresholds{MaxErrorRate: new(1.5)}, ModePair, "--max-error-rate"},
		{"negative rate", Thresholds{MaxErrorRate: new(-0.1)}, ModeSingle, "--max-error-rate"},
		{"negative budget", Thresholds{MaxP50: -time.Millisecond}, ModePair, "--max-p50"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSpecs(tc.t, tc.mode)
			if err == nil {
				t.Fatal("accepted")
			}
			if errkind.Of(err) != errkind.KindInput || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q (%v), want an input error naming %s", err, errkind.Of(err), tc.want)
			}
		})
	}
	if _, err := NewSpecs(Thresholds{}, 0); err == nil || errkind.Of(err) == errkind.KindInput {
		t.Errorf("mode 0: %v; want a non-input error (a caller bug)", err)
	}
}

// side describes one synthetic target.
type side struct {
	role       result.Role
	latency    time.Duration // centre of the samples
	samples    int           // per round; 0 gives empty histograms
	throughput float64
	peakRSS    int64
	errors     int64
	failed     string
}

// build makes a deterministic synthetic target: three identical rounds
// whose samples spread ±10% around the latency, so quantiles differ from
// each other while every bootstrap resample gives the point estimate: the
// outcomes below are those of the point estimates.
func (s side) build(t testing.TB) result.Target {
	t.Helper()
	tg := result.Target{
		Role:       s.role,
		Name:       string(s.role) + "-model",
		Kind:       "onnx",
		Throughput: result.Throughput{InferencesPerS: s.throughput, RowsPerS: 32 * s.throughput},
		Memory:     result.Memory{PeakRSSBytes: s.peakRSS},
		Errors:     result.Errors{Total: s.errors},
		Failed:     s.failed,
	}
	all := result.NewHistogram()
	for i := range 3 {
		h := result.NewHistogram()
		for j := range s.samples {
			// j/(n-1) in [0,1] → latency × [0.9, 1.1]
			f := 0.9 + 0.2*float64(j)/float64(max(s.samples-1, 1))
			h.Record(time.Duration(float64(s.latency) * f))
		}
		enc, err := h.Encode()
		if err != nil {
			t.Fatal(err)
		}
		all.Merge(h)
		rd := result.Round{Index: i, Position: i % 2, Requests: int64(s.samples), Histogram: enc}
		if s.throughput > 0 {
			// Busy time that reproduces the target's throughput, which
			// the throughput check recomputes from the rounds.
			rd.ElapsedNS = int64(float64(s.samples) / s.throughput * 1e9)
		}
		tg.Rounds = append(tg.Rounds, rd)
	}
	tg.Latency = all.Summary()
	return tg
}

func pairResult(t testing.TB, prod, cand side) *result.Result {
	prod.role, cand.role = result.RoleProduction, result.RoleCandidate
	return &result.Result{SchemaVersion: result.SchemaVersion, Targets: []result.Target{prod.build(t), cand.build(t)}}
}

func TestJudge(t *testing.T) {
	const MiB = 1 << 20
	base := side{latency: 2 * time.Millisecond, samples: 200, throughput: 1000, peakRSS: 100 * MiB}
	with := func(f func(*side)) side { s := base; f(&s); return s }

	type want struct {
		outcome result.Outcome
		ratio   float64 // checked within 1% when non-zero
		msg     string  // substring of Message
	}
	for _, tc := range []struct {
		name    string
		prod    side
		cand    side
		th      Thresholds
		want    []want
		verdict result.Verdict
	}{
		{
			name: "latency regression fails",
			prod: base, cand: with(func(s *side) { s.latency = 2540 * time.Microsecond }),
			th:      Thresholds{MaxLatencyIncrease: 1.15},
			want:    []want{{result.OutcomeFail, 1.27, "p95 1.27× production"}},
			verdict: result.VerdictFail,
		},
		{
			name: "latency within threshold passes",
			prod: base, cand: with(func(s *side) { s.latency = 2200 * time.Microsecond }),
			th:      Thresholds{MaxLatencyIncrease: 1.15, MaxP99Increase: 1.15},
			want:    []want{{result.OutcomePass, 1.10, "threshold 1.15×)"}, {result.OutcomePass, 1.10, "p99 1.10×"}},
			verdict: result.VerdictPass,
		},
		{
			name: "same model is ratio 1",
			prod: base, cand: base,
			// Memory keeps its ±5% tolerance band: 1.05 is the tightest
			// threshold an identical model passes.
			th:      Thresholds{MaxLatencyIncrease: 1.0, MaxP99Increase: 1.0, MinThroughputRatio: 1.0, MaxMemoryIncrease: 1.05},
			want:    []want{{result.OutcomePass, 1, ""}, {result.OutcomePass, 1, ""}, {result.OutcomePass, 1, ""}, {result.OutcomePass, 1, ""}},
			verdict: result.VerdictPass,
		},
		{
			name: "custom quantile",
			prod: base, cand: with(func(s *side) { s.latency = 2500 * time.Microsecond }),
			th:      Thresholds{MaxLatencyIncrease: 1.3, LatencyQuantile: 0.999},
			want:    []want{{result.OutcomePass, 1.25, "p99.9 1.25× production"}},
			verdict: result.VerdictPass,
		},
		{
			name: "throughput too low fails",
			prod: base, cand: with(func(s *side) { s.throughput = 900 }),
			th:      Thresholds{MinThroughputRatio: 0.95},
			want:    []want{{result.OutcomeFail, 0.9, "throughput 0.90× production (900 vs 1,000 inferences/s, threshold ≥ 0.95×)"}},
			verdict: result.VerdictFail,
		},
		{
			name: "throughput higher passes",
			prod: base, cand: with(func(s *side) { s.throughput = 1200 }),
			th:      Thresholds{MinThroughputRatio: 0.95},
			want:    []want{{result.OutcomePass, 1.2, ""}},
			verdict: result.VerdictPass,
		},
		{
			name: "production throughput zero is inconclusive",
			prod: with(func(s *side) { s.throughput = 0 }), cand: base,
			th:      Thresholds{MinThroughputRatio: 0.95},
			want:    []want{{result.OutcomeInconclusive, 0, "production throughput is 0"}},
			verdict: result.VerdictInconclusive,
		},
		{
			name: "memory within threshold passes",
			prod: base, cand: with(func(s *side) { s.peakRSS = 110 * MiB }),
			th:      Thresholds{MaxMemoryIncrease: 1.2},
			want:    []want{{result.OutcomePass, 1.1, "peak RSS 1.10× production (110 MiB vs 100 MiB, threshold 1.20×)"}},
			verdict: result.VerdictPass,
		},
		{
			name: "memory unavailable is inconclusive",
			prod: with(func(s *side) { s.peakRSS = 0 }), cand: base,
			th:      Thresholds{MaxMemoryIncrease: 1.2},
			want:    []want{{result.OutcomeInconclusive, 0, "production peak RSS was not measured"}},
			verdict: result.VerdictInconclusive,
		},
		{
			name: "fail outweighs inconclusive",
			prod: with(func(s *side) { s.peakRSS = 0 }), cand: with(func(s *side) { s.latency = 3 * time.Millisecond }),
			th:      Thresholds{MaxLatencyIncrease: 1.15, MaxMemoryIncrease: 1.2},
			want:    []want{{result.OutcomeFail, 1.5, ""}, {result.OutcomeInconclusive, 0, ""}},
			verdict: result.VerdictFail,
		},
		{
			name: "ratio just over threshold shows more decimals",
			prod: with(func(s *side) { s.throughput = 1000 }), cand: with(func(s *side) { s.throughput = 1151.2 }),
			th:      Thresholds{MinThroughputRatio: 1.152},
			want:    []want{{result.OutcomeFail, 1.1512, "1.151× production (1,151 vs 1,000 inferences/s, threshold ≥ 1.152×)"}},
			verdict: result.VerdictFail,
		},
		{
			name: "error rate under threshold passes",
			prod: with(func(s *side) { s.errors = 1 }), cand: with(func(s *side) { s.errors = 3 }),
			th:      Thresholds{MaxErrorRate: new(0.02)},
			want:    []want{{result.OutcomePass, 0, "error rate 0.50% (threshold 2.00%); production 0.17%"}},
			verdict: result.VerdictPass,
		},
		{
			// 3 of 603 is 0.50%, but the Wilson upper bound is 1.24%.
			name: "error rate near threshold is inconclusive",
			prod: base, cand: with(func(s *side) { s.errors = 3 }),
			th:      Thresholds{MaxErrorRate: new(0.01)},
			want:    []want{{result.OutcomeInconclusive, 0, "error rate 0.50% (threshold 1.00%); production 0.00%; the interval [0.20%, 1.24%] straddles the threshold"}},
			verdict: result.VerdictInconclusive,
		},
		{
			name: "any error fails threshold 0",
			prod: base, cand: with(func(s *side) { s.errors = 1 }),
			th:      Thresholds{MaxErrorRate: new(0.0)},
			want:    []want{{result.OutcomeFail, 0, "error rate 0.17% (threshold 0.00%)"}},
			verdict: result.VerdictFail,
		},
		{
			name: "error rate over threshold fails",
			prod: base, cand: with(func(s *side) { s.errors = 60 }),
			th:      Thresholds{MaxErrorRate: new(0.05)},
			want:    []want{{result.OutcomeFail, 0, "error rate 9.09% (threshold 5.00%)"}},
			verdict: result.VerdictFail,
		},
		{
			name: "zero error rate allowed and met",
			prod: base, cand: base,
			th:      Thresholds{MaxErrorRate: new(0.0)},
			want:    []want{{result.OutcomePass, 0, "error rate 0.00%"}},
			verdict: result.VerdictPass,
		},
		{
			name: "no requests is inconclusive",
			prod: base, cand: with(func(s *side) { s.samples = 0 }),
			th:      Thresholds{MaxErrorRate: new(0.01), MaxLatencyIncrease: 1.15, MaxP95: time.Second},
			want:    []want{{result.OutcomeInconclusive, 0, "candidate has no latency samples"}, {result.OutcomeInconclusive, 0, "no requests"}, {result.OutcomeInconclusive, 0, "no latency samples"}},
			verdict: result.VerdictInconclusive,
		},
		{
			name: "budgets judge the candidate",
			prod: with(func(s *side) { s.latency = time.Millisecond }), cand: base,
			th: Thresholds{MaxP50: 2500 * time.Microsecond, MaxP95: 2 * time.Millisecond},
			want: []want{
				{result.OutcomePass, 0, "p50 2.00ms (budget 2.5ms); production 1.00ms"},
				{result.OutcomeFail, 0, "(budget 2ms); production"},
			},
			verdict: result.VerdictFail,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			specs, err := NewSpecs(tc.th, ModePair)
			if err != nil {
				t.Fatal(err)
			}
			r := pairResult(t, tc.prod, tc.cand)
			checks, verdict, err := Judge(r, specs)
			if err != nil {
				t.Fatal(err)
			}
			if verdict != tc.verdict {
				t.Errorf("verdict %q, want %q", verdict, tc.verdict)
			}
			if len(checks) != len(tc.want) {
				t.Fatalf("%d checks, want %d: %+v", len(checks), len(tc.want), checks)
			}
			for i, w := range tc.want {
				c := checks[i]
				if c.Name != specs[i].Name || c.Metric != specs[i].Metric || c.Threshold != specs[i].Threshold {
					t.Errorf("check %d does not match its spec: %+v vs %+v", i, c, specs[i])
				}
				if c.Outcome != w.outcome {
					t.Errorf("%s: outcome %q, want %q (%s)", c.Name, c.Outcome, w.outcome, c.Message)
				}
				if w.ratio != 0 && math.Abs(c.Ratio/w.ratio-1) > 0.01 {
					t.Errorf("%s: ratio %v, want ≈%v", c.Name, c.Ratio, w.ratio)
				}
				if !strings.Contains(c.Message, w.msg) || c.Message == "" || strings.Contains(c.Message, "\n") {
					t.Errorf("%s: message %q, want one line containing %q", c.Name, c.Message, w.msg)
				}
				checkConsistent(t, c)
			}
			// Whatever was judged must encode: JSON has no NaN or Inf.
			r.Checks, r.Verdict = checks, verdict
			var buf bytes.Buffer
			if err := result.Write(&buf, r); err != nil {
				t.Errorf("checks do not encode: %v", err)
			}
		})
	}
}

func TestJudgeSingle(t *testing.T) {
	tg := side{role: result.RoleSingle, latency: 2 * time.Millisecond, samples: 100, throughput: 500, errors: 1}.build(t)
	r := &result.Result{SchemaVersion: 1, Targets: []result.Target{tg}}
	specs, err := NewSpecs(Thresholds{MaxP99: 3 * time.Millisecond, MaxP50: time.Millisecond, MaxErrorRate: new(0.05)}, ModeSingle)
	if err != nil {
		t.Fatal(err)
	}
	checks, verdict, err := Judge(r, specs)
	if err != nil {
		t.Fatal(err)
	}
	if verdict != result.VerdictFail {
		t.Errorf("verdict %q, want fail", verdict)
	}
	wantOutcome := map[string]result.Outcome{"max-error-rate": result.OutcomePass, "max-p50": result.OutcomeFail, "max-p99": result.OutcomePass}
	for _, c := range checks {
		if c.Outcome != wantOutcome[c.Name] {
			t.Errorf("%s: %q, want %q (%s)", c.Name, c.Outcome, wantOutcome[c.Name], c.Message)
		}
		if c.Production != 0 || c.Ratio != 0 || strings.Contains(c.Message, "production") {
			t.Errorf("%s: a single run has no production side: %+v", c.Name, c)
		}
	}

	// A ratio spec built by hand against a bench result: an input error.
	_, _, err = Judge(r, []Spec{{Name: NameMaxLatencyIncrease, Metric: "latency_p95", Unit: UnitNS, Threshold: 1.1, Quantile: 0.95, Kind: RatioAtMost}})
	if errkind.Of(err) != errkind.KindInput || !strings.Contains(err.Error(), "production") {
		t.Errorf("ratio spec on a bench result: %v", err)
	}
}

func TestJudgeVerdicts(t *testing.T) {
	specs, err := NewSpecs(Thresholds{MaxLatencyIncrease: 1.15}, ModePair)
	if err != nil {
		t.Fatal(err)
	}
	ok := side{latency: time.Millisecond, samples: 10, throughput: 100}

	r := pairResult(t, ok, ok)
	if checks, v, err := Judge(r, nil); err != nil || v != result.VerdictNone || checks == nil || len(checks) != 0 {
		t.Errorf("no specs: %v %q %v; want empty checks, verdict none", checks, v, err)
	}

	failed := ok
	failed.failed = "worker crashed"
	r = pairResult(t, ok, failed)
	if checks, v, err := Judge(r, specs); err != nil || v != result.VerdictError || len(checks) != 0 {
		t.Errorf("failed target: %v %q %v; want verdict error", checks, v, err)
	}
	// Even with nothing to judge, a failed run is an error, not "none".
	if _, v, _ := Judge(r, nil); v != result.VerdictError {
		t.Errorf("failed target without specs: verdict %q", v)
	}

	r = pairResult(t, ok, ok)
	r.Error = "model would not load"
	if _, v, err := Judge(r, specs); err != nil || v != result.VerdictError {
		t.Errorf("run error: %q %v", v, err)
	}

	if _, _, err := Judge(nil, specs); err == nil {
		t.Error("nil result accepted")
	}

	r = pairResult(t, ok, ok)
	r.Targets[1].Rounds[0].Histogram = "not a histogram"
	if _, _, err := Judge(r, specs); err == nil {
		t.Error("bad histogram accepted")
	}

	r = &result.Result{SchemaVersion: 1}
	if _, _, err := Judge(r, specs); errkind.Of(err) != errkind.KindInput {
		t.Errorf("no targets: %v", err)
	}

	r = pairResult(t, ok, ok)
	if _, _, err := Judge(r, []Spec{{Name: "x", Metric: "gpu_watts", Kind: RatioAtMost, Threshold: 1}}); err == nil {
		t.Error("unknown metric accepted")
	}
	if _, _, err := Judge(r, []Spec{{Name: "x", Metric: MetricThroughput, Kind: RatioAtLeast, Threshold: math.NaN()}}); err == nil {
		t.Error("NaN threshold accepted")
	}
}

func TestOverall(t *testing.T) {
	c := func(o ...result.Outcome) []result.Check {
		var cs []result.Check
		for _, x := range o {
			cs = append(cs, result.Check{Outcome: x})
		}
		return cs
	}
	p, f, i := result.OutcomePass, result.OutcomeFail, result.OutcomeInconclusive
	for _, tc := range []struct {
		checks []result.Check
		want   result.Verdict
	}{
		{nil, result.VerdictNone},
		{c(p), result.VerdictPass},
		{c(p, p), result.VerdictPass},
		{c(p, i), result.VerdictInconclusive},
		{c(i, f, p), result.VerdictFail},
		{c(f), result.VerdictFail},
	} {
		if got := Overall(tc.checks); got != tc.want {
			t.Errorf("Overall(%v) = %q, want %q", tc.checks, got, tc.want)
		}
	}
}

func TestDecideInterval(t *testing.T) {
	for _, tc := range []struct {
		kind         SpecKind
		lower, upper float64
		want         result.Outcome
	}{
		{RatioAtMost, 1.0, 1.1, result.OutcomePass},
		{RatioAtMost, 1.0, 1.15, result.OutcomePass},
		{RatioAtMost, 1.1, 1.2, result.OutcomeInconclusive},
		{RatioAtMost, 1.16, 1.3, result.OutcomeFail},
		{RatioAtLeast, 1.15, 1.3, result.OutcomePass},
		{RatioAtLeast, 1.1, 1.2, result.OutcomeInconclusive},
		{RatioAtLeast, 1.0, 1.1, result.OutcomeFail},
		{RatioAtMost, math.NaN(), 1, result.OutcomeInconclusive},
	} {
		got := decide(tc.kind, estimate{lower: tc.lower, upper: tc.upper}, 1.15)
		if got != tc.want {
			t.Errorf("decide(%v, [%v, %v] vs 1.15) = %q, want %q", tc.kind, tc.lower, tc.upper, got, tc.want)
		}
	}
}

func TestJudgeErrorIsPlain(t *testing.T) {
	// Decode failures are about the document, not a flag: not KindInput.
	ok := side{latency: time.Millisecond, samples: 10}
	r := pairResult(t, ok, ok)
	r.Targets[0].Rounds[1].Histogram = "%%%"
	specs, _ := NewSpecs(Thresholds{MaxP95: time.Second}, ModePair)
	_, _, err := Judge(r, specs)
	var ek *errkind.Error
	if err == nil || errors.As(err, &ek) {
		t.Errorf("got %v; want an unclassified decode error", err)
	}
}
