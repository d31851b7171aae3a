package compare

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"

	"github.com/infergate/infergate/result"
)

// projected is one target's rounds projected onto the union of their
// non-empty HDR buckets. A round's histogram has 27,648 counters but
// typically a few hundred non-empty ones; keeping per-round running counts
// over the union only turns "merge the drawn rounds and take a quantile"
// into a binary search over weighted sums of a few dozen integers.
type projected struct {
	values []float64 // the union of bucket values (ns), increasing; K of them
	// cum[r*K+k] is round r's count in buckets 0..k, so the merged running
	// count of a resample at k is the weighted sum over drawn rounds, and it
	// is monotone in k: the quantile's bucket can be binary-searched.
	cum   []int64
	total []int64 // samples per round
}

// project builds the projection of rounds given as bucket lists.
func project(rounds [][]result.Bucket) *projected {
	var vals []int64
	for _, r := range rounds {
		for _, b := range r {
			vals = append(vals, b.ValueNS)
		}
	}
	slices.Sort(vals)
	vals = slices.Compact(vals)
	k := len(vals)
	p := &projected{
		values: make([]float64, k),
		cum:    make([]int64, len(rounds)*k),
		total:  make([]int64, len(rounds)),
	}
	for i, v := range vals {
		p.values[i] = float64(v)
	}
	for r, bs := range rounds {
		row := p.cum[r*k : (r+1)*k]
		// Both lists are sorted: walk them together.
		j := 0
		for _, b := range bs {
			for vals[j] != b.ValueNS {
				j++
			}
			row[j] += b.Count
		}
		var run int64
		for i := range row {
			run += row[i]
			row[i] = run
		}
		p.total[r] = run
	}
	return p
}

// quantile is q's value in the merge of rounds[i] taken w[i] times each,
// with HDR's rank rule, so that with every round once it equals
// result.Histogram.Quantile of the merged histogram exactly. NaN when the
// drawn rounds hold no samples.
func (p *projected) quantile(q float64, rounds []int, w []int64) float64 {
	var total int64
	for i, r := range rounds {
		total += w[i] * p.total[r]
	}
	if total == 0 || len(p.values) == 0 {
		return math.NaN()
	}
	rank := hdrRank(q, total)
	k := len(p.values)
	lo, hi := 0, k-1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		var c int64
		for i, r := range rounds {
			c += w[i] * p.cum[r*k+mid]
		}
		if c >= rank {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return p.values[lo]
}

// hdrRank is hdrhistogram-go's percentileRank for a 0–1 quantile, with the
// same float expression (Histogram.Quantile passes q*100, which HDR divides
// by 100 again), so ties at rank boundaries resolve identically.
func hdrRank(q float64, total int64) int64 {
	pct := q * 100
	if pct > 100 {
		pct = 100
	}
	rank := (pct/100)*float64(total) + 0.5
	if !(rank >= 1) {
		return 1
	}
	if rank >= float64(total) {
		return total
	}
	return int64(rank)
}

// allOnce is the weighting of the point estimate: every round once.
func allOnce(n int) ([]int, []int64) {
	rounds := make([]int, n)
	w := make([]int64, n)
	for i := range rounds {
		rounds[i], w[i] = i, 1
	}
	return rounds, w
}

// bootstrapStream is the PCG stream of every resampling. Each check uses a
// fresh generator on (seed, bootstrapStream), so a check's interval does
// not depend on which other checks ran or in which order.
const bootstrapStream = 0x696e66657267 // "inferg"

// bootstrap draws b resamples of n rounds with replacement and returns
// stat of each, sorted ascending (NaN, which stat returns for a resample
// it cannot evaluate, sorts first and is counted by callers as such).
// stat sees each resample as the distinct drawn rounds and how many times
// each was drawn: a weighted sum is then the merge of the drawn blocks.
func bootstrap(n, b int, seed uint64, stat func(rounds []int, w []int64) float64) []float64 {
	src := rand.NewPCG(seed, bootstrapStream)
	out := make([]float64, b)
	d := newDrawer(n)
	for i := range out {
		rounds, w := d.draw(src)
		out[i] = stat(rounds, w)
	}
	slices.Sort(out)
	return out
}

// drawer draws one resample of n rounds with replacement, as the distinct
// drawn rounds and how many times each was drawn. Its slices are reused
// by the next draw.
type drawer struct {
	times  []int64 // draws per round in this resample
	rounds []int
	w      []int64
}

func newDrawer(n int) *drawer {
	return &drawer{times: make([]int64, n), rounds: make([]int, 0, n), w: make([]int64, 0, n)}
}

func (d *drawer) draw(src *rand.PCG) ([]int, []int64) {
	n := uint64(len(d.times))
	for range n {
		d.times[uniform(src, n)]++
	}
	d.rounds, d.w = d.rounds[:0], d.w[:0]
	for r, t := range d.times {
		if t > 0 {
			d.rounds = append(d.rounds, r)
			d.w = append(d.w, t)
			d.times[r] = 0
		}
	}
	return d.rounds, d.w
}

// uniform is an unbiased integer in [0, n) by Lemire's multiply-and-reject.
// It is spelled out rather than taken from rand.Rand.IntN so that results
// stay reproducible if the standard library changes its algorithm: only
// PCG's output, which is specified, is relied on.
func uniform(src *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(src.Uint64(), n)
		}
	}
	return hi
}

// replicates is a sorted bootstrap distribution of the judged quantity.
type replicates []float64

// counts returns how many replicates are below, equal to and above t.
// NaN replicates (none in practice) count as neither side's evidence: they
// are placed on the side that makes both decisions harder, by counting
// them in both "below" and "above".
func (s replicates) counts(t float64) (below, equal, above int) {
	nan := 0
	for nan < len(s) && math.IsNaN(s[nan]) {
		nan++
	}
	rest := s[nan:]
	lo, _ := slices.BinarySearch(rest, t) // first >= t
	hi := lo
	for hi < len(rest) && rest[hi] == t {
		hi++
	}
	return lo + nan, hi - lo, len(rest) - hi + nan
}

// pValues are the one-sided bootstrap p-values of the two decisions for a
// check of the given kind: pFail is the fraction of replicates on the pass
// side of t (small when the data say "fail"), pPass the fraction on the
// fail side.
func (s replicates) pValues(kind SpecKind, t float64) (pFail, pPass float64) {
	below, equal, above := s.counts(t)
	n := float64(len(s))
	if kind == RatioAtLeast {
		// fail: true < t; pass: true >= t.
		return float64(equal+above) / n, float64(below) / n
	}
	// fail: true > t; pass: true <= t.
	return float64(below+equal) / n, float64(above) / n
}

// bounds are the one-sided bounds at level a: lower is the replicate with
// floor(a·B) replicates below it, upper the mirror. With this choice
// "lower > t" holds exactly when at most floor(a·B) replicates are <= t,
// i.e. when pFail <= a for an at-most check, so a bound and the p-value
// decide alike (the same for upper and pPass, and for at-least checks).
func (s replicates) bounds(a float64) (lower, upper float64) {
	b := len(s)
	k := min(int(math.Floor(a*float64(b))), b-1)
	lower, upper = s[k], s[b-1-k]
	if math.IsNaN(lower) {
		lower = math.Inf(-1)
	}
	if math.IsNaN(upper) {
		upper = math.Inf(1)
	}
	return lower, upper
}
