package compare

import (
	"math"
	"testing"
)

// FuzzParse: flag values are outside input. Every parser either returns an
// input error or a value within its documented range; none panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"1.15", "115%", "1.2x", "p99.9", "95", "0.95", "1%", "50ms", "250us", "-1", "NaN", "1e309", "", "%", "p", "×"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, err := ParseRatio("r", s); err == nil && !(v > 0 && !math.IsInf(v, 0)) {
			t.Errorf("ParseRatio(%q) = %v", s, v)
		}
		if q, err := ParseQuantile(s); err == nil {
			if !(q > 0 && q < 1) {
				t.Errorf("ParseQuantile(%q) = %v", s, q)
			}
			if _, err := NewSpecs(Thresholds{MaxLatencyIncrease: 1.1, LatencyQuantile: q}, ModePair); err != nil {
				t.Errorf("quantile %v from %q rejected by NewSpecs: %v", q, s, err)
			}
		}
		if v, err := ParseRate("e", s); err == nil && !(v >= 0 && v <= 1) {
			t.Errorf("ParseRate(%q) = %v", s, v)
		}
		if d, err := ParseBudget("b", s); err == nil && d <= 0 {
			t.Errorf("ParseBudget(%q) = %v", s, d)
		}
	})
}
