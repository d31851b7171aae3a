package compare

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/infergate/infergate/report/human"
	"github.com/infergate/infergate/result"
)

// NameMaxSizeSlopeIncrease bounds candidate slope / production slope of
// latency against input size: a candidate whose cost grows faster with the
// input than production's fails even when the test set's mix of sizes
// hides it in the overall percentiles.
const (
	NameMaxSizeSlopeIncrease = "max-size-slope-increase"
	MetricSizeSlope          = "latency_size_slope"
	// UnitNSPerSize is the slope's unit: nanoseconds per unit of input size
	// (a token of sequence length, or an element).
	UnitNSPerSize = "ns/size"
)

// TheilSen is the Theil–Sen slope of y against x: the median of the slopes
// of all pairs of points with different x. It ignores up to about 29% of
// wild points, which a least-squares fit would follow. false when no two
// points have different x.
func TheilSen(x, y []float64) (float64, bool) {
	var slopes []float64
	for i := range x {
		for j := i + 1; j < len(x); j++ {
			if dx := x[j] - x[i]; dx != 0 {
				slopes = append(slopes, (y[j]-y[i])/dx)
			}
		}
	}
	if len(slopes) == 0 {
		return 0, false
	}
	return median(slopes), true
}

func median(v []float64) float64 {
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// Spearman is the rank correlation of x and y (ties get their average
// rank): 1 when y grows with x however unevenly. false for fewer than two
// points or when either side is constant.
func Spearman(x, y []float64) (float64, bool) {
	if len(x) < 2 || len(x) != len(y) {
		return 0, false
	}
	rx, ry := ranks(x), ranks(y)
	var mx, my float64
	for i := range rx {
		mx += rx[i]
		my += ry[i]
	}
	mx /= float64(len(rx))
	my /= float64(len(ry))
	var sxy, sxx, syy float64
	for i := range rx {
		dx, dy := rx[i]-mx, ry[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return 0, false
	}
	return sxy / math.Sqrt(sxx*syy), true
}

func ranks(v []float64) []float64 {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
	out := make([]float64, len(v))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && v[idx[j+1]] == v[idx[i]] {
			j++
		}
		r := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			out[idx[k]] = r
		}
		i = j + 1
	}
	return out
}

// SizeRow is one input-size bucket of one target, merged over rounds.
type SizeRow struct {
	Count, Errors int64
	MeanSize      float64
	P50, P95, P99 float64 // ns; 0 when the bucket has no successful call
	// Gated is the latency (ns) at the percentile the latency check
	// judges (SizeProfile.Quantile).
	Gated      float64
	ErrorRate  float64
	HasLatency bool
}

// SizeProfile is one target's latency by input size.
type SizeProfile struct {
	Rows []SizeRow // one per bucket of result.InputSizes
	// Quantile is the percentile of SizeRow.Gated: the result's latency
	// percentile (GatedQuantile).
	Quantile float64
	// Slope is the Theil–Sen slope (ns per unit of size) of the buckets'
	// p50 against their mean size; HasSlope is false with fewer than two
	// buckets with latency.
	Slope    float64
	HasSlope bool
	// Spearman is the rank correlation of size and latency over the
	// rounds' buckets (each round's bucket: its mean size and its p50), so
	// it shows whether latency rises with size consistently, round after
	// round, not just on average.
	Spearman    float64
	HasSpearman bool
}

// sizeRound is one round's buckets of one target, decoded.
type sizeRound struct {
	index   int
	buckets [][]result.Bucket // per bucket definition; nil when empty
	count   []int64
	sizeSum []float64
	errs    []int64
}

func decodeSizeRounds(t *result.Target, nb int) ([]sizeRound, error) {
	out := make([]sizeRound, 0, len(t.Rounds))
	for _, rd := range t.Rounds {
		sr := sizeRound{index: rd.Index, buckets: make([][]result.Bucket, nb), count: make([]int64, nb), sizeSum: make([]float64, nb), errs: make([]int64, nb)}
		for _, b := range rd.SizeBuckets {
			if b.Index < 0 || b.Index >= nb {
				return nil, fmt.Errorf("compare: target %s round %d: size bucket %d out of range", t.Name, rd.Index, b.Index)
			}
			h, err := result.DecodeHistogram(b.Histogram)
			if err != nil {
				return nil, fmt.Errorf("compare: target %s round %d size bucket %d: %w", t.Name, rd.Index, b.Index, err)
			}
			sr.buckets[b.Index] = h.Buckets()
			sr.count[b.Index] = h.Count()
			sr.sizeSum[b.Index] = b.SizeSum
			sr.errs[b.Index] = b.Errors
		}
		out = append(out, sr)
	}
	return out, nil
}

// sizeModel holds one target's rounds projected per bucket, for fast
// merged quantiles of any resample of rounds.
type sizeModel struct {
	nb     int
	proj   []*projected // per bucket, rows are rounds
	rounds []sizeRound
}

func newSizeModel(rs []sizeRound, nb int) *sizeModel {
	m := &sizeModel{nb: nb, rounds: rs, proj: make([]*projected, nb)}
	for k := range nb {
		bs := make([][]result.Bucket, len(rs))
		for i, r := range rs {
			bs[i] = r.buckets[k]
		}
		m.proj[k] = project(bs)
	}
	return m
}

// points are the buckets' (mean size, quantile q) over the drawn rounds.
func (m *sizeModel) points(q float64, rounds []int, w []int64) (x, y []float64) {
	for k := range m.nb {
		var n int64
		var sum float64
		for i, r := range rounds {
			n += w[i] * m.rounds[r].count[k]
			sum += float64(w[i]) * m.rounds[r].sizeSum[k]
		}
		if n == 0 {
			continue
		}
		x = append(x, sum/float64(n))
		y = append(y, m.proj[k].quantile(q, rounds, w))
	}
	return x, y
}

// slope is the Theil–Sen slope of the drawn rounds' bucket medians; NaN
// when there are not two buckets to draw a line through.
func (m *sizeModel) slope(rounds []int, w []int64) float64 {
	x, y := m.points(0.5, rounds, w)
	s, ok := TheilSen(x, y)
	if !ok {
		return math.NaN()
	}
	return s
}

// GatedQuantile is the latency percentile r's latency check judges:
// Config.LatencyPercentile, or DefaultLatencyQuantile in a document
// without one (bench, older results).
func GatedQuantile(r *result.Result) float64 {
	if q := r.Config.LatencyPercentile; q > 0 && q < 1 {
		return q
	}
	return DefaultLatencyQuantile
}

// SizeProfiles breaks each target's latency down by input size; nil when
// the result recorded no sizes.
func SizeProfiles(r *result.Result, targets []*result.Target) ([]SizeProfile, error) {
	if r.InputSizes == nil || len(r.InputSizes.Buckets) == 0 {
		return nil, nil
	}
	nb := len(r.InputSizes.Buckets)
	gated := GatedQuantile(r)
	out := make([]SizeProfile, len(targets))
	for ti, t := range targets {
		rs, err := decodeSizeRounds(t, nb)
		if err != nil {
			return nil, err
		}
		m := newSizeModel(rs, nb)
		all, once := allOnce(len(rs))
		p := SizeProfile{Rows: make([]SizeRow, nb), Quantile: gated}
		for k := range nb {
			row := &p.Rows[k]
			var sum float64
			for _, rd := range rs {
				row.Count += rd.count[k]
				row.Errors += rd.errs[k]
				sum += rd.sizeSum[k]
			}
			if row.Count > 0 {
				row.HasLatency = true
				row.MeanSize = sum / float64(row.Count)
				row.P50 = m.proj[k].quantile(0.5, all, once)
				row.P95 = m.proj[k].quantile(0.95, all, once)
				row.P99 = m.proj[k].quantile(0.99, all, once)
				row.Gated = m.proj[k].quantile(gated, all, once)
			}
			if n := row.Count + row.Errors; n > 0 {
				row.ErrorRate = float64(row.Errors) / float64(n)
			}
		}
		if len(rs) > 0 {
			if s := m.slope(all, once); isFinite(s) {
				p.Slope, p.HasSlope = s, true
			}
		}
		var xs, ys []float64
		for i := range rs {
			x, y := m.points(0.5, []int{i}, []int64{1})
			xs, ys = append(xs, x...), append(ys, y...)
		}
		p.Spearman, p.HasSpearman = Spearman(xs, ys)
		out[ti] = p
	}
	return out, nil
}

// sizeSlopeRatio is the paired block bootstrap of candidate slope /
// production slope: each resample draws round indices with replacement,
// merges each bucket's drawn rounds per target and fits Theil–Sen through
// the bucket medians. The ratio means something only when production's
// latency does grow with size: the check is inconclusive when
// production's slope is not positive in at least 95% of the resamples.
func sizeSlopeRatio(r *result.Result, s *sides, opts Options) estimate {
	if r.InputSizes == nil || len(r.InputSizes.Buckets) < 2 {
		return estimate{unavailable: "the result has fewer than two input-size buckets; cannot fit a latency-vs-size slope"}
	}
	nb := len(r.InputSizes.Buckets)
	rb, err := decodeSizeRounds(s.base, nb)
	if err != nil {
		return estimate{unavailable: err.Error()}
	}
	rc, err := decodeSizeRounds(s.subj, nb)
	if err != nil {
		return estimate{unavailable: err.Error()}
	}
	// Pair by round index, as the other ratio checks do.
	at := map[int]int{}
	for i := len(rb) - 1; i >= 0; i-- {
		at[rb[i].index] = i
	}
	var pb, pc []sizeRound
	seen := map[int]bool{}
	for _, c := range rc {
		if i, ok := at[c.index]; ok && !seen[c.index] {
			seen[c.index] = true
			pb, pc = append(pb, rb[i]), append(pc, c)
		}
	}
	n := len(pb)
	if n == 0 {
		return estimate{unavailable: "no paired rounds with input sizes; cannot compare slopes"}
	}
	mb, mc := newSizeModel(pb, nb), newSizeModel(pc, nb)
	all, once := allOnce(n)
	ps, cs := mb.slope(all, once), mc.slope(all, once)
	switch {
	case !isFinite(ps) || !isFinite(cs):
		return estimate{production: finite(ps), candidate: finite(cs), unavailable: "fewer than two input-size buckets with latency; cannot fit a slope"}
	case ps <= 0:
		return estimate{production: ps, candidate: cs, unavailable: fmt.Sprintf("production's latency does not grow with input size (slope %s); a slope ratio would mean nothing", fmtSlope(ps))}
	}
	est := pointRatio(ps, cs)
	est.rounds = n
	for i := range pb {
		for k := range nb {
			est.samples += pb[i].count[k] + pc[i].count[k]
		}
	}
	if n < 2 {
		est.tooFew = tooFew("rounds", n)
		return est
	}
	var flat int
	est.reps = bootstrap(n, opts.Resamples, opts.Seed, func(r []int, w []int64) float64 {
		p, c := mb.slope(r, w), mc.slope(r, w)
		if !(p > 0) {
			// A resample in which production is flat: the ratio is
			// unbounded, which counts against a pass.
			flat++
			return math.Inf(1)
		}
		if !isFinite(c) {
			return math.NaN()
		}
		return c / p
	})
	if float64(flat) > 0.05*float64(opts.Resamples) {
		est.unavailable = fmt.Sprintf("production's latency-vs-size slope is not significantly positive (flat or falling in %.0f%% of resamples); a slope ratio would mean nothing", 100*float64(flat)/float64(opts.Resamples))
		est.reps = nil
		return est
	}
	est.method = fmt.Sprintf("paired block bootstrap over %d rounds, %d resamples, of Theil–Sen slopes through the %d size buckets' medians", n, opts.Resamples, nb)
	return est
}

func fmtSlope(v float64) string { return FormatSlope(v) }

// FormatSlope prints a slope in ns per unit of input size, e.g. "40.8µs
// per unit of size".
func FormatSlope(v float64) string {
	if v < 0 {
		return "-" + FormatSlope(-v)
	}
	if v < 100 {
		return strconvG(v) + "ns per unit of size"
	}
	return human.Duration(time.Duration(math.Round(v))) + " per unit of size"
}

// strconvG prints a small slope at three significant figures, so slopes of
// a few nanoseconds do not all read "2ns".
func strconvG(v float64) string { return fmt.Sprintf("%.3g", v) }
