package compare

import (
	"strings"
	"testing"

	"github.com/infergate/infergate/result"
)

// TestUnpairedWider: with drift shared within rounds, pairing cancels it
// and the unpaired interval of the same data is wider; the point estimate
// is the same, and the method and warnings say the runs were unpaired.
func TestUnpairedWider(t *testing.T) {
	sy := synth{rounds: 20, samples: 200, ratio: 1.1, drift: 0.2, jitter: 0.01, noise: 0.1, seed: 3}
	th := Thresholds{MaxLatencyIncrease: 1.5, LatencyQuantile: 0.95, MinThroughputRatio: 0.5}
	paired := judgeSpecs(t, sy.result(t), th, DefaultOptions())
	opts := DefaultOptions()
	opts.Unpaired = true
	unpaired := judgeSpecs(t, sy.result(t), th, opts)
	for i := range paired.Checks {
		p, u := paired.Checks[i], unpaired.Checks[i]
		if p.Ratio != u.Ratio {
			t.Errorf("%s: point ratio %v paired, %v unpaired", p.Name, p.Ratio, u.Ratio)
		}
		if !(u.Upper-u.Lower > 2*(p.Upper-p.Lower)) {
			t.Errorf("%s: unpaired interval [%v, %v] not clearly wider than paired [%v, %v]", p.Name, u.Lower, u.Upper, p.Lower, p.Upper)
		}
		if !strings.Contains(u.Method, "two-sample block bootstrap over 20 production and 20 candidate rounds") ||
			!strings.HasSuffix(u.Method, UnpairedNote) {
			t.Errorf("%s: method %q", u.Name, u.Method)
		}
		if strings.Contains(p.Method, "unpaired") {
			t.Errorf("%s: paired method says unpaired: %q", p.Name, p.Method)
		}
	}
	if len(unpaired.Warnings) == 0 || unpaired.Warnings[0] != UnpairedNote {
		t.Errorf("warnings = %q, want %q first", unpaired.Warnings, UnpairedNote)
	}
	for _, w := range paired.Warnings {
		if w == UnpairedNote {
			t.Errorf("paired judgement warns %q", w)
		}
	}
}

// TestUnpairedDifferentRoundCounts: the two results need not have the same
// rounds or indices; an unpaired judgement resamples each side on its own.
func TestUnpairedDifferentRoundCounts(t *testing.T) {
	sy := synth{rounds: 16, samples: 100, ratio: 1.0, jitter: 0.02, noise: 0.05, seed: 9}
	r := sy.result(t)
	cand := r.Target(result.RoleCandidate)
	cand.Rounds = cand.Rounds[:9]
	for i := range cand.Rounds {
		cand.Rounds[i].Index += 100 // no index in common with production
	}
	j, err := JudgeUnpaired(r, mustSpecs(t, Thresholds{MaxLatencyIncrease: 1.3, LatencyQuantile: 0.5, MinThroughputRatio: 0.7}), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range j.Checks {
		checkConsistent(t, c)
		if c.Outcome != result.OutcomePass || c.Rounds != 9 {
			t.Errorf("%s: %s over %d rounds (%s), want pass over 9", c.Name, c.Outcome, c.Rounds, c.Message)
		}
		if !strings.Contains(c.Method, "16 production and 9 candidate rounds") {
			t.Errorf("%s: method %q", c.Name, c.Method)
		}
	}
	// Paired, the same document has nothing to pair: inconclusive.
	j, err = JudgeWith(r, mustSpecs(t, Thresholds{MaxLatencyIncrease: 1.3, LatencyQuantile: 0.5}), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if j.Checks[0].Outcome != result.OutcomeInconclusive {
		t.Errorf("paired judgement of unpaired rounds: %s", j.Checks[0].Outcome)
	}
}

func TestUnpairedTooFewRounds(t *testing.T) {
	sy := synth{rounds: 4, samples: 50, ratio: 1.0, noise: 0.05, seed: 1}
	r := sy.result(t)
	cand := r.Target(result.RoleCandidate)
	cand.Rounds = cand.Rounds[:1]
	j, err := JudgeUnpaired(r, mustSpecs(t, Thresholds{MaxLatencyIncrease: 1.3, LatencyQuantile: 0.5}), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	c := j.Checks[0]
	if c.Outcome != result.OutcomeInconclusive || c.Method != MethodPoint || !strings.Contains(c.Message, "rounds on each side") {
		t.Errorf("check = %+v", c)
	}
}

func mustSpecs(t *testing.T, th Thresholds) []Spec {
	t.Helper()
	specs, err := NewSpecs(th, ModePair)
	if err != nil {
		t.Fatal(err)
	}
	return specs
}
