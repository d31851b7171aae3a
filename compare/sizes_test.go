package compare

import (
	"math"
	"testing"

	"github.com/infergate/infergate/result"
)

func TestTheilSenKnownAnswers(t *testing.T) {
	// A line y = 3x + 2 with one wild point: Theil–Sen stays on the line.
	x := []float64{1, 2, 3, 4, 5, 6, 7}
	y := []float64{5, 8, 11, 14, 1000, 20, 23}
	if s, ok := TheilSen(x, y); !ok || s != 3 {
		t.Errorf("slope = %v, %v; want 3", s, ok)
	}
	// The pair with equal x is skipped; the median of {1, -1} is 0.
	if s, ok := TheilSen([]float64{0, 0, 1}, []float64{0, 2, 1}); !ok || s != 0 {
		t.Errorf("slope with ties = %v, %v", s, ok)
	}
	if _, ok := TheilSen([]float64{2, 2}, []float64{1, 5}); ok {
		t.Error("a slope through points of one x")
	}
}

func TestSpearmanKnownAnswers(t *testing.T) {
	for _, c := range []struct {
		x, y []float64
		want float64
	}{
		{[]float64{1, 2, 3, 4}, []float64{1, 4, 9, 100}, 1},       // monotone, not linear
		{[]float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}, -1},        // reversed
		{[]float64{1, 2, 3, 4, 5}, []float64{2, 1, 4, 3, 5}, 0.8}, // 1 - 6·4/(5·24)
		{[]float64{1, 2, 2, 3}, []float64{1, 2, 2, 3}, 1},         // ties, average ranks
	} {
		got, ok := Spearman(c.x, c.y)
		if !ok || math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Spearman(%v, %v) = %v, %v; want %v", c.x, c.y, got, ok, c.want)
		}
	}
	if _, ok := Spearman([]float64{1, 2, 3}, []float64{5, 5, 5}); ok {
		t.Error("a correlation with a constant")
	}
}

// sizedResult is a pair whose rounds cost base + slope·len per call over
// three sequence lengths; the rounds wobble a little so the bootstrap has
// something to resample.
func sizedResult(t *testing.T, prodSlope, candSlope float64) *result.Result {
	t.Helper()
	lens := []float64{8, 16, 32}
	r := &result.Result{SchemaVersion: result.SchemaVersion, InputSizes: &result.InputSizes{Measure: "seq_len"}}
	for _, n := range lens {
		r.InputSizes.Buckets = append(r.InputSizes.Buckets, result.SizeBucketDef{Lo: n, Hi: n})
	}
	for _, side := range []struct {
		role  result.Role
		slope float64
	}{{result.RoleProduction, prodSlope}, {result.RoleCandidate, candSlope}} {
		tg := result.Target{Role: side.role, Name: string(side.role)}
		for i := range 6 {
			wobble := 1 + 0.01*float64(i%3)
			all := result.NewHistogram()
			rd := result.Round{Index: i}
			for k, n := range lens {
				h := result.NewHistogram()
				for j := range 100 {
					h.RecordNS(int64((100_000 + side.slope*n + float64(j)) * wobble))
				}
				all.Merge(h)
				enc, err := h.Encode()
				if err != nil {
					t.Fatal(err)
				}
				rd.SizeBuckets = append(rd.SizeBuckets, result.SizeBucket{Index: k, Histogram: enc, Count: 100, SizeSum: 100 * n})
			}
			enc, _ := all.Encode()
			rd.Histogram, rd.Requests = enc, all.Count()
			tg.Rounds = append(tg.Rounds, rd)
		}
		r.Targets = append(r.Targets, tg)
	}
	return r
}

func TestSizeSlopeCheck(t *testing.T) {
	specs, err := NewSpecs(Thresholds{MaxSizeSlopeIncrease: 1.2}, ModePair)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name       string
		prod, cand float64
		want       result.Outcome
	}{
		{"same slope", 2000, 2000, result.OutcomePass},
		{"steeper candidate", 2000, 4000, result.OutcomeFail},
		{"flat production", 0, 4000, result.OutcomeInconclusive},
	} {
		checks, _, err := Judge(sizedResult(t, c.prod, c.cand), specs)
		if err != nil {
			t.Fatal(err)
		}
		ch := checks[0]
		if ch.Outcome != c.want {
			t.Errorf("%s: %s (%s), want %s", c.name, ch.Outcome, ch.Message, c.want)
		}
		for _, v := range []float64{ch.Ratio, ch.Lower, ch.Upper, ch.Production, ch.Candidate} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("%s: non-finite number in %+v", c.name, ch)
			}
		}
	}
	// Profiles: latency grows across buckets, slope and Spearman positive.
	r := sizedResult(t, 2000, 4000)
	ps, err := SizeProfiles(r, []*result.Target{&r.Targets[0], &r.Targets[1]})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		if !(p.Rows[0].P50 < p.Rows[1].P50 && p.Rows[1].P50 < p.Rows[2].P50) || !p.HasSlope || p.Slope <= 0 || !(p.Spearman > 0.5) {
			t.Errorf("target %d: profile %+v", i, p)
		}
	}
	if math.Abs(ps[1].Slope/ps[0].Slope-2) > 0.05 {
		t.Errorf("slopes %v and %v, want a ratio of 2", ps[0].Slope, ps[1].Slope)
	}
}

// Each bucket also has its latency at the percentile the latency check
// judges: p95 by default, the configured one otherwise.
func TestSizeProfilesGatedPercentile(t *testing.T) {
	r := sizedResult(t, 2000, 4000)
	for _, c := range []struct {
		configured, want float64
		at               func(SizeRow) float64
	}{
		{0, 0.95, func(rw SizeRow) float64 { return rw.P95 }},
		{0.99, 0.99, func(rw SizeRow) float64 { return rw.P99 }},
		{0.5, 0.5, func(rw SizeRow) float64 { return rw.P50 }},
	} {
		r.Config.LatencyPercentile = c.configured
		ps, err := SizeProfiles(r, []*result.Target{&r.Targets[0], &r.Targets[1]})
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range ps {
			if p.Quantile != c.want {
				t.Errorf("configured %v: target %d quantile %v, want %v", c.configured, i, p.Quantile, c.want)
			}
			for k, rw := range p.Rows {
				if !rw.HasLatency || rw.Gated <= 0 || rw.Gated != c.at(rw) {
					t.Errorf("configured %v: target %d bucket %d gated %v, want %v", c.configured, i, k, rw.Gated, c.at(rw))
				}
			}
		}
	}
}
