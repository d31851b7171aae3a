package result

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// within reports whether got is within HDR's 3-significant-figure precision
// (0.1%, doubled for safety) of want.
func within(got, want time.Duration) bool {
	return math.Abs(float64(got-want)) <= 0.002*float64(want)
}

func recordRange(h *Histogram, from, to int) {
	for i := from; i <= to; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
}

func TestHistogramQuantileScale(t *testing.T) {
	h := NewHistogram()
	recordRange(h, 1, 1000)
	if h.Count() != 1000 {
		t.Fatalf("Count = %d", h.Count())
	}
	// Quantiles are on 0–1, not HDR's 0–100: 0.5 is the median.
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 500 * time.Microsecond},
		{0.9, 900 * time.Microsecond},
		{0.99, 990 * time.Microsecond},
		{1, 1000 * time.Microsecond},
	} {
		if got := h.Quantile(tc.q); !within(got, tc.want) {
			t.Errorf("Quantile(%v) = %v, want ≈%v", tc.q, got, tc.want)
		}
	}
	// Out-of-range quantiles clamp instead of panicking or returning junk.
	if got := h.Quantile(-1); !within(got, time.Microsecond) {
		t.Errorf("Quantile(-1) = %v", got)
	}
	if got, top := h.Quantile(50), h.Quantile(1); got != top {
		t.Errorf("Quantile(50) = %v, want the maximum %v (a percentile passed by mistake)", got, top)
	}
	if got := h.Quantile(math.NaN()); !within(got, time.Microsecond) {
		t.Errorf("Quantile(NaN) = %v", got)
	}
	if !within(h.Min(), time.Microsecond) || !within(h.Max(), time.Millisecond) {
		t.Errorf("Min, Max = %v, %v", h.Min(), h.Max())
	}
	if !within(h.Mean(), 500500*time.Nanosecond) {
		t.Errorf("Mean = %v", h.Mean())
	}
}

func TestHistogramEmpty(t *testing.T) {
	h := NewHistogram()
	if h.Count() != 0 || h.Quantile(0.5) != 0 || h.Min() != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Errorf("empty histogram: count %d q50 %v min %v max %v mean %v", h.Count(), h.Quantile(0.5), h.Min(), h.Max(), h.Mean())
	}
	if s := h.Summary(); s != (Latency{}) {
		t.Errorf("empty Summary = %+v", s)
	}
}

func TestHistogramClamp(t *testing.T) {
	h := NewHistogram()
	h.Record(90 * time.Second) // a stall beyond the tracked range
	h.Record(61 * time.Second)
	h.Record(60 * time.Second) // at the top: in range, not clamped
	h.Record(time.Millisecond)
	if h.Count() != 4 {
		t.Errorf("Count = %d; clamped samples must still count", h.Count())
	}
	if h.Clamped() != 2 {
		t.Errorf("Clamped = %d, want 2", h.Clamped())
	}
	if got := h.Max(); !within(got, 60*time.Second) {
		t.Errorf("Max = %v, want ≈60s", got)
	}
}

func TestHistogramSubMicrosecond(t *testing.T) {
	h := NewHistogram()
	h.Record(0)
	h.Record(300 * time.Nanosecond)
	h.RecordNS(-5) // a clock that went backwards must not panic
	if h.Count() != 3 {
		t.Errorf("Count = %d", h.Count())
	}
	if h.Clamped() != 0 {
		t.Errorf("Clamped = %d; sub-µs samples are recorded at the floor, not clamped", h.Clamped())
	}
	if got := h.Quantile(1); !within(got, time.Microsecond) {
		t.Errorf("max = %v, want the 1µs floor", got)
	}
}

func TestHistogramMergeClone(t *testing.T) {
	a, b := NewHistogram(), NewHistogram()
	recordRange(a, 1, 500)
	recordRange(b, 501, 1000)
	b.Record(2 * time.Minute)

	c := a.Clone()
	a.Merge(b)
	if a.Count() != 1001 || a.Clamped() != 1 {
		t.Errorf("merged Count, Clamped = %d, %d; want 1001, 1", a.Count(), a.Clamped())
	}
	if got := a.Quantile(0.5); !within(got, 501*time.Microsecond) {
		t.Errorf("merged median = %v", got)
	}
	// The clone is independent of what happened to a afterwards.
	if c.Count() != 500 || !within(c.Max(), 500*time.Microsecond) {
		t.Errorf("clone changed: count %d max %v", c.Count(), c.Max())
	}
	if b.Count() != 501 {
		t.Errorf("Merge changed its argument: %d", b.Count())
	}
}

func TestHistogramEncodeRoundTrip(t *testing.T) {
	h := NewHistogram()
	recordRange(h, 1, 1000)
	for range 7 {
		h.Record(42 * time.Second)
	}
	s, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	d, err := DecodeHistogram(s)
	if err != nil {
		t.Fatal(err)
	}
	if d.Count() != h.Count() {
		t.Errorf("decoded Count = %d, want %d", d.Count(), h.Count())
	}
	for _, q := range []float64{0, 0.5, 0.9, 0.95, 0.99, 0.999, 1} {
		if d.Quantile(q) != h.Quantile(q) {
			t.Errorf("Quantile(%v): decoded %v, original %v", q, d.Quantile(q), h.Quantile(q))
		}
	}
	if d.Summary() != h.Summary() {
		t.Errorf("Summary: decoded %+v, original %+v", d.Summary(), h.Summary())
	}
	// Decoded histograms merge with fresh ones (same geometry).
	d.Merge(h)
	if d.Count() != 2*h.Count() {
		t.Errorf("merge after decode: %d", d.Count())
	}

	// An empty histogram round-trips too (a round where every call failed).
	e, err := NewHistogram().Encode()
	if err != nil {
		t.Fatal(err)
	}
	if d, err := DecodeHistogram(e); err != nil || d.Count() != 0 {
		t.Errorf("empty round trip: %v, %v", d, err)
	}
}

func TestDecodeHistogramRejects(t *testing.T) {
	for _, s := range []string{"", "not base64!", "aGVsbG8gd29ybGQ=", "HISTFAAAACh4nJNpmSzMwMDAxMDIwMDAwMDAwMDAwMDAwMDAwMDAwMBgAQ"} {
		if h, err := DecodeHistogram(s); err == nil {
			t.Errorf("DecodeHistogram(%q) = %v, want an error", s, h)
		}
	}
}

func TestSummary(t *testing.T) {
	h := NewHistogram()
	recordRange(h, 1, 1000)
	s := h.Summary()
	if s.Count != 1000 {
		t.Errorf("Count = %d", s.Count)
	}
	for _, f := range []struct {
		name      string
		got, want int64
	}{
		{"min", s.MinNS, 1e3},
		{"mean", s.MeanNS, 500500},
		{"p50", s.P50NS, 500e3},
		{"p90", s.P90NS, 900e3},
		{"p95", s.P95NS, 950e3},
		{"p99", s.P99NS, 990e3},
		{"p99.9", s.P999NS, 999e3},
		{"max", s.MaxNS, 1000e3},
	} {
		if !within(time.Duration(f.got), time.Duration(f.want)) {
			t.Errorf("%s = %d ns, want ≈%d", f.name, f.got, f.want)
		}
	}
	if !(s.MinNS <= s.P50NS && s.P50NS <= s.P90NS && s.P90NS <= s.P95NS && s.P95NS <= s.P99NS && s.P99NS <= s.P999NS && s.P999NS <= s.MaxNS) {
		t.Errorf("Summary is not monotonic: %+v", s)
	}
}

func ExampleHistogram() {
	h := NewHistogram()
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	h.Record(2 * time.Minute) // beyond the 60 s range: kept at 60 s and counted

	// Quantiles are on a 0–1 scale; values are accurate to 3 significant
	// figures, so round for display.
	fmt.Println("count:", h.Count(), "clamped:", h.Clamped())
	fmt.Println("p50:", h.Quantile(0.50).Round(time.Microsecond))
	fmt.Println("p99:", h.Quantile(0.99).Round(time.Microsecond))
	fmt.Println("max:", h.Max().Round(time.Second))

	// Rounds are stored encoded and merged back when judged.
	enc, _ := h.Encode()
	back, _ := DecodeHistogram(enc)
	fmt.Println("decoded count:", back.Count())
	// Output:
	// count: 1001 clamped: 1
	// p50: 501µs
	// p99: 991µs
	// max: 1m0s
	// decoded count: 1001
}

func TestHistogramPrecisionAtMicroseconds(t *testing.T) {
	// Fast models live at tens of µs; 3 significant figures must hold there
	// too, or a 1.5% regression disappears into one bucket.
	a, b := NewHistogram(), NewHistogram()
	a.Record(20 * time.Microsecond)
	b.Record(20300 * time.Nanosecond)
	if a.Quantile(0.5) == b.Quantile(0.5) {
		t.Errorf("20µs and 20.3µs are indistinguishable: %v", a.Quantile(0.5))
	}
	for _, d := range []time.Duration{time.Microsecond, 20 * time.Microsecond, 345 * time.Microsecond, 7 * time.Millisecond, 2 * time.Second} {
		h := NewHistogram()
		h.Record(d)
		if got := h.Quantile(0.5); !within(got, d) {
			t.Errorf("Record(%v) reads back as %v", d, got)
		}
	}
}

func TestDecodeHistogramOtherGeometry(t *testing.T) {
	// HdrHistogram's own tools may write another range; such a histogram is
	// re-recorded into ours, clamping (and counting) what lies beyond 60 s.
	o := hdr.New(1, int64(time.Hour), 2)
	for range 10 {
		_ = o.RecordValue(int64(5 * time.Millisecond))
	}
	_ = o.RecordValue(int64(2 * time.Minute))
	_ = o.RecordValue(10) // 10 ns: below our floor
	b, err := o.Encode(hdr.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	h, err := DecodeHistogram(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if h.Count() != 12 || h.Clamped() != 1 {
		t.Errorf("Count, Clamped = %d, %d; want 12, 1", h.Count(), h.Clamped())
	}
	if got := h.Quantile(0.5); math.Abs(float64(got)/float64(5*time.Millisecond)-1) > 0.01 {
		t.Errorf("median = %v, want ≈5ms at the source's 2 significant figures", got)
	}
	if got := h.Min(); !within(got, time.Microsecond) {
		t.Errorf("min = %v, want the 1µs floor", got)
	}
	if got := h.Max(); !within(got, 60*time.Second) {
		t.Errorf("max = %v, want 60s", got)
	}
	// It now merges exactly with a native histogram.
	n := NewHistogram()
	n.Record(time.Millisecond)
	n.Merge(h)
	if n.Count() != 13 {
		t.Errorf("merged count %d", n.Count())
	}
}

func TestHistogramBuckets(t *testing.T) {
	h := NewHistogram()
	if b := h.Buckets(); len(b) != 0 {
		t.Errorf("empty histogram has buckets %v", b)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		h.RecordNS(int64(20_000 * math.Exp(0.4*rng.NormFloat64())))
	}
	h.RecordNS(int64(90 * time.Second)) // clamped to the top bucket
	b := h.Buckets()
	var n int64
	for i, x := range b {
		if x.Count <= 0 || (i > 0 && x.ValueNS <= b[i-1].ValueNS) {
			t.Fatalf("bucket %d = %+v after %+v: want positive counts in increasing order", i, x, b[max(i-1, 0)])
		}
		n += x.Count
	}
	if n != h.Count() {
		t.Errorf("buckets hold %d samples, histogram %d", n, h.Count())
	}
	// The contract compare relies on: Quantile(q) is the value of the first
	// bucket whose running count reaches HDR's rank for q.
	for _, q := range []float64{0.001, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 1} {
		rank := int64(q*100/100*float64(n) + 0.5)
		rank = max(1, min(rank, n))
		var cum int64
		var got int64
		for _, x := range b {
			if cum += x.Count; cum >= rank {
				got = x.ValueNS
				break
			}
		}
		if want := int64(h.Quantile(q)); got != want {
			t.Errorf("q=%v: bucket value %d, Quantile %d", q, got, want)
		}
	}
}

func TestHistogramBucketsMatchDistribution(t *testing.T) {
	// The direct read of the counters agrees with hdr's own walk, across
	// the whole range: sub-microsecond floor, every power of two, 60 s.
	h := NewHistogram()
	for v := int64(1); v < histHighestNS; v = v*5/4 + 1 {
		h.RecordNS(v)
		h.RecordNS(v + v/3)
	}
	h.RecordNS(histHighestNS)
	got, want := h.Buckets(), h.distributionBuckets()
	if len(got) != len(want) {
		t.Fatalf("%d buckets, hdr's distribution has %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("bucket %d = %+v, hdr says %+v", i, got[i], want[i])
		}
	}
}
