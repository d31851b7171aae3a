package compare

import (
	"math"
	"slices"
)

// holm runs Holm's step-down procedure on one-sided p-values at
// family-wise level alpha. For each hypothesis it returns the level it was
// rejected at, alpha/(m-j) for the j-th smallest p-value (0-based), or 0
// when it was not rejected. Ties keep input order, so the result is
// deterministic.
//
// Holm rejects everything Bonferroni (alpha/m for all) rejects and more:
// after the smallest p-value is rejected at alpha/m, the next is tested at
// alpha/(m-1), and so on until the first that is not small enough.
func holm(p []float64, alpha float64) []float64 {
	m := len(p)
	order := make([]int, m)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		// NaN last: it is never rejected, and must not stop the step-down
		// before the hypotheses that can be.
		switch na, nb := math.IsNaN(p[a]), math.IsNaN(p[b]); {
		case na || nb:
			if na && !nb {
				return 1
			}
			if nb && !na {
				return -1
			}
			return 0
		case p[a] < p[b]:
			return -1
		case p[a] > p[b]:
			return 1
		}
		return 0
	})
	levels := make([]float64, m)
	for j, i := range order {
		level := alpha / float64(m-j)
		if !(p[i] <= level) { // NaN never rejects
			break
		}
		levels[i] = level
	}
	return levels
}

// normalQuantile is the standard normal quantile function Φ⁻¹(p).
func normalQuantile(p float64) float64 { return -math.Sqrt2 * math.Erfcinv(2*p) }

// normalCDF is Φ(x).
func normalCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

// wilson is the Wilson score interval on a binomial proportion: x failures
// of n trials, one-sided bounds at level a each. It is the inversion of the
// score test wilsonP uses, so "upper <= t" and "pPass <= a" agree. Unlike the
// Wald interval it stays inside [0, 1] and is not degenerate at x = 0: no
// errors in 100 requests still leaves an upper bound of 2.6% at 95%.
func wilson(x, n int64, a float64) (lower, upper float64) {
	z := normalQuantile(1 - a)
	nf := float64(n)
	p := float64(x) / nf
	z2 := z * z
	den := 1 + z2/nf
	centre := (p + z2/(2*nf)) / den
	half := z / den * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf))
	lower, upper = math.Max(0, centre-half), math.Min(1, centre+half)
	// Exact at the edges, where the formula's rounding could leave 1e-18.
	if x == 0 {
		lower = 0
	}
	if x == n {
		upper = 1
	}
	return lower, upper
}

// wilsonP are the one-sided score-test p-values of "the failure rate is
// above t" (pFail: small when x/n is clearly above t) and "at or below t"
// (pPass), for t in (0, 1).
func wilsonP(x, n int64, t float64) (pFail, pPass float64) {
	nf := float64(n)
	z := (float64(x)/nf - t) / math.Sqrt(t*(1-t)/nf)
	return normalCDF(-z), normalCDF(z)
}
