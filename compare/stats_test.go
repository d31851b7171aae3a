package compare

import (
	"math"
	"slices"
	"testing"
)

func TestHolm(t *testing.T) {
	const alpha = 0.05
	for _, tc := range []struct {
		name string
		p    []float64
		want []float64 // level each was rejected at, 0 if not
	}{
		{
			// Bonferroni (0.05/3 = 0.0167 for all) rejects only 0.01; Holm
			// tests 0.02 at 0.05/2 and 0.04 at 0.05/1 and rejects all three.
			name: "holm rejects what bonferroni does not",
			p:    []float64{0.04, 0.01, 0.02},
			want: []float64{0.05, 0.05 / 3, 0.025},
		},
		{
			// Step-down stops at the first miss: 0.03 > 0.025, so 0.04 is
			// not tested, although 0.04 <= 0.05.
			name: "stops at the first miss",
			p:    []float64{0.01, 0.03, 0.04},
			want: []float64{0.05 / 3, 0, 0},
		},
		{name: "none", p: []float64{0.5, 0.02, 0.9}, want: []float64{0, 0, 0}},
		{name: "single", p: []float64{0.05}, want: []float64{0.05}},
		{name: "ties keep order", p: []float64{0.02, 0.02}, want: []float64{0.025, 0.05}},
		{name: "NaN never rejects", p: []float64{math.NaN(), 0.001}, want: []float64{0, 0.025}},
		{name: "empty", p: nil, want: []float64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := holm(tc.p, alpha)
			if !slices.Equal(got, tc.want) {
				t.Errorf("holm(%v) = %v, want %v", tc.p, got, tc.want)
			}
			// Bonferroni for comparison: Holm rejects a superset.
			for i, p := range tc.p {
				if p <= alpha/float64(len(tc.p)) && got[i] == 0 {
					t.Errorf("Bonferroni rejects p=%v, Holm does not", p)
				}
			}
		})
	}
}

func TestWilson(t *testing.T) {
	if z := normalQuantile(0.95); math.Abs(z-1.6448536269514715) > 1e-12 {
		t.Errorf("z(0.95) = %v", z)
	}
	for _, tc := range []struct {
		x, n         int64
		lower, upper float64
	}{
		// 0 of 100: upper z²/(n+z²) = 2.634%; the exact (Clopper–Pearson)
		// bound 1-0.05^(1/100) is 2.95%, Wilson is a little tighter.
		{0, 100, 0, 0.026342720783174303},
		{10, 100, 0.060718667015447245, 0.16035550961109218},
		{3, 603, 0.0019899993936793436, 0.012382567521345395},
		{100, 100, 0.973657279216825697, 1},
	} {
		lo, up := wilson(tc.x, tc.n, 0.05)
		if math.Abs(lo-tc.lower) > 1e-12 || math.Abs(up-tc.upper) > 1e-12 {
			t.Errorf("wilson(%d, %d) = [%v, %v], want [%v, %v]", tc.x, tc.n, lo, up, tc.lower, tc.upper)
		}
	}
	// The interval inverts the score test: "upper <= t" iff pPass <= a,
	// "lower > t" iff pFail <= a (away from exact ties).
	for _, x := range []int64{0, 1, 3, 10, 50} {
		for _, thr := range []float64{0.001, 0.01, 0.02, 0.05, 0.1, 0.3} {
			for _, a := range []float64{0.05, 0.0125} {
				lo, up := wilson(x, 200, a)
				pFail, pPass := wilsonP(x, 200, thr)
				if (up <= thr) != (pPass <= a) || (lo > thr) != (pFail <= a) {
					t.Errorf("x=%d t=%v a=%v: [%v, %v] vs p-values fail %v pass %v", x, thr, a, lo, up, pFail, pPass)
				}
			}
		}
	}
}
