package main

import (
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/infergate/infergate/bench"
)

// TestAAMeasuresLikeCalibrate: `run --aa` and `calibrate` are one
// measurement. Both measure for a fixed 30 s unless told otherwise: an A/A
// pair passes a sequential plan at its first look, which would report the
// noise floor of ten rounds, not of the run the user configured.
func TestAAMeasuresLikeCalibrate(t *testing.T) {
	for _, tc := range []struct {
		name          string
		withCandidate bool // run has --candidate; calibrate does not
		args          []string
		want          bench.Amount
	}{
		{"run --aa", true, nil, bench.Amount{Duration: 30 * time.Second}},
		{"calibrate", false, nil, bench.Amount{Duration: 30 * time.Second}},
		{"run --aa --duration 5s", true, []string{"--duration", "5s"}, bench.Amount{Duration: 5 * time.Second}},
		{"calibrate --requests 900", false, []string{"--requests", "900"}, bench.Amount{Requests: 900}},
		{"calibrate --max-duration 45s", false, []string{"--max-duration", "45s"}, bench.Amount{Duration: 45 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &runOptions{calibrate: !tc.withCandidate, AA: true} // as --aa sets it
			fs := pflag.NewFlagSet(tc.name, pflag.ContinueOnError)
			o.registerRun(fs, tc.withCandidate)
			if err := fs.Parse(append([]string{"--production", "p.onnx", "--dataset", "d.parquet"}, tc.args...)); err != nil {
				t.Fatal(err)
			}
			o.afterParse(fs)
			g, err := o.validate(func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			if g.plan.Measure != tc.want || g.plan.MaxDuration != 0 {
				t.Errorf("plan measures %v (sequential budget %v), want a fixed %v", g.plan.Measure, g.plan.MaxDuration, tc.want)
			}
			if o.Candidate != "p.onnx" {
				t.Errorf("candidate %q, want production against itself", o.Candidate)
			}
		})
	}
}
