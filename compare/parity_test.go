package compare

import (
	"math"
	"strings"
	"testing"

	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/result"
)

func TestWithinAllclose(t *testing.T) {
	for _, tc := range []struct {
		c, p, atol, rtol float64
		want             bool
	}{
		{1.0, 1.0, 0, 0, true},
		{1.00105, 1.0, 1e-4, 1e-3, true}, // 0.00105 <= 0.0001 + 0.001
		{1.0012, 1.0, 1e-4, 1e-3, false}, // 0.0012 > 0.0011
		{0.00005, 0, 1e-4, 1e-3, true},
		{-1000.9, -1000, 0, 1e-3, true}, // rtol scales by |production|
		{-1001.1, -1000, 0, 1e-3, false},
		{0, 1000, 0, 1e-3, false}, // production is the reference, not symmetric
		{math.NaN(), math.NaN(), 0, 0, true},
		{math.NaN(), 1, 1, 1, false},
		{math.Inf(1), math.Inf(1), 0, 0, true},
		{math.Inf(1), math.Inf(-1), 1, 1, false},
	} {
		if got := Within(tc.c, tc.p, tc.atol, tc.rtol); got != tc.want {
			t.Errorf("Within(%v, %v, %v, %v) = %v, want %v", tc.c, tc.p, tc.atol, tc.rtol, got, tc.want)
		}
	}
}

func TestTop1Agreement(t *testing.T) {
	prod := []float64{0.1, 0.9, 0.0 /**/, 0.5, 0.2, 0.3 /**/, 1, 1, 0 /**/, 0, 0, 2}
	cand := []float64{0.2, 0.7, 0.1 /**/, 0.1, 0.8, 0.1 /**/, 1, 1, 0 /**/, 3, 0, 2}
	agree := 0
	if rows := Top1Agreement(prod, cand, 3, &agree); rows != 4 || agree != 2 {
		t.Fatalf("rows %d agree %d, want 4 and 2", rows, agree)
	}
}

func out(name string, shape []int64, data ...float64) OutputValues {
	return OutputValues{Name: name, Shape: shape, Data: data}
}

func TestParityStatistics(t *testing.T) {
	// Two batches of 2 rows × 3 classes, and a per-row scalar output.
	prod := [][]OutputValues{
		{out("scores", []int64{2, 3}, 1, 2, 3, 4, 5, 6), out("y", []int64{2}, 10, 0)},
		{out("scores", []int64{2, 3}, 3, 2, 1, 0, 0, 1), out("y", []int64{2}, 20, 5)},
	}
	cand := [][]OutputValues{
		{out("scores", []int64{2, 3}, 1, 2, 3.5, 4, 5, 6), out("y", []int64{2}, 10.001, 0)},
		{out("scores", []int64{2, 3}, 3, 4, 1, 0, 0, 1), out("y", []int64{2}, 20, 5)},
	}
	top := 0.75
	p, err := Parity(prod, cand, ParityOptions{ATol: 1e-4, RTol: 1e-3, MinTop1Agreement: &top})
	if err != nil {
		t.Fatal(err)
	}
	if p.Rows != 4 || len(p.Outputs) != 2 {
		t.Fatalf("%+v", p)
	}
	s := p.Outputs[0]
	// Differences: 0.5 on prod 3 (rel 1/6), 2 on prod 2 (rel 1); 10 of 12 within.
	if s.MaxAbs != 2 || s.MaxRel != 1 || s.WithinTol != 10.0/12 || !s.Classifier || s.Top1 != 0.75 || s.Elements != 12 {
		t.Errorf("scores %+v", s)
	}
	y := p.Outputs[1]
	// 0.001 on 10: within 1e-4 + 1e-2.
	if math.Abs(y.MaxAbs-0.001) > 1e-12 || math.Abs(y.MaxRel-1e-4) > 1e-12 || y.WithinTol != 1 || y.Classifier {
		t.Errorf("y %+v", y)
	}
	checks := ParityChecks(p)
	want := []struct {
		name string
		out  result.Outcome
	}{{CheckOutputParity, result.OutcomeFail}, {CheckOutputParity, result.OutcomePass}, {CheckTop1, result.OutcomePass}}
	if len(checks) != len(want) {
		t.Fatalf("checks %+v", checks)
	}
	for i, w := range want {
		if checks[i].Name != w.name || checks[i].Outcome != w.out {
			t.Errorf("check %d: %s %s, want %s %s (%s)", i, checks[i].Name, checks[i].Outcome, w.name, w.out, checks[i].Message)
		}
	}

	// Fold into a result: a failed parity check fails a passing run.
	r := &result.Result{Verdict: result.VerdictNone, Parity: p}
	ApplyParity(r)
	if r.Verdict != result.VerdictFail || len(r.Checks) != 3 {
		t.Fatalf("verdict %s, %d checks", r.Verdict, len(r.Checks))
	}
	ApplyParity(r) // idempotent
	if len(r.Checks) != 3 {
		t.Fatalf("%d checks after a second apply", len(r.Checks))
	}
	// And JudgeWith carries them when re-judging a saved document.
	j, err := JudgeWith(&result.Result{Parity: p}, nil, DefaultOptions())
	if err != nil || j.Verdict != result.VerdictFail || len(j.Checks) != 3 {
		t.Fatalf("JudgeWith: %v %s %d", err, j.Verdict, len(j.Checks))
	}
}

func TestParityShapesAndNames(t *testing.T) {
	prod := [][]OutputValues{{out("scores", []int64{1, 3}, 1, 2, 3)}}
	cand := [][]OutputValues{{out("scores", []int64{1, 2}, 1, 2)}}
	if _, err := Parity(prod, cand, ParityOptions{}); errkind.Of(err) != errkind.KindInput {
		t.Fatalf("shapes: %v", err)
	}
	if _, err := PairOutputs([]string{"scores"}, []string{"logits"}, nil); errkind.Of(err) != errkind.KindInput {
		t.Fatalf("names: %v", err)
	}
	got, err := PairOutputs([]string{"scores", "aux"}, []string{"aux", "logits"}, map[string]string{"logits": "scores"})
	if err != nil || got[0] != "logits" || got[1] != "aux" {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := PairOutputs([]string{"scores"}, []string{"logits"}, map[string]string{"nope": "scores"}); err == nil {
		t.Fatal("a map naming no candidate output passed")
	}
}

// Declared shapes refuse a pair only when they cannot match at run time.
func TestCheckDeclaredShapes(t *testing.T) {
	free := int64(-1)
	for _, tc := range []struct {
		name       string
		prod, cand []int64
		apart      bool
	}{
		{"same", []int64{free, 10}, []int64{free, 10}, false},
		{"fixed width differs", []int64{free, 10}, []int64{free, 5}, true},
		{"rank differs", []int64{free, 10}, []int64{free}, true},
		{"free against fixed", []int64{free, 10}, []int64{8, free}, false},
		{"unknown (rank 0)", []int64{free, 10}, nil, false},
	} {
		err := CheckDeclaredShapes([]string{"scores"}, []string{"scores"}, [][]int64{tc.prod}, [][]int64{tc.cand}, nil)
		if tc.apart != (err != nil) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if err != nil && (errkind.Of(err) != errkind.KindInput || !strings.Contains(err.Error(), "output shapes differ: candidate scores has")) {
			t.Errorf("%s: want the run-time explanation as bad input, got %v", tc.name, err)
		}
	}
	// Outputs pair through the map; shapes follow their own output.
	err := CheckDeclaredShapes([]string{"scores", "aux"}, []string{"aux", "logits"},
		[][]int64{{free, 10}, {free}}, [][]int64{{free}, {free, 3}}, map[string]string{"logits": "scores"})
	if err == nil || !strings.Contains(err.Error(), "candidate logits has [-1 3], production scores has [-1 10]") {
		t.Errorf("mapped: %v", err)
	}
	// Endpoints may declare no shapes at all; names still must pair.
	if err := CheckDeclaredShapes([]string{"scores"}, []string{"scores"}, nil, nil, nil); err != nil {
		t.Errorf("no shapes: %v", err)
	}
	if err := CheckDeclaredShapes([]string{"scores"}, []string{"logits"}, nil, nil, nil); errkind.Of(err) != errkind.KindInput || !strings.Contains(err.Error(), "output names differ") {
		t.Errorf("names: %v", err)
	}
}

func TestSampledRows(t *testing.T) {
	seed := int64(7)
	for _, tc := range []struct {
		p    result.Parity
		want string
	}{
		{result.Parity{Rows: 64}, "the first 64 rows"},
		{result.Parity{Rows: 64, Sample: &result.ParitySample{Rule: result.SampleSpread, Of: 1000}}, "64 rows spread evenly over the 1000 the run read"},
		{result.Parity{Rows: 64, Sample: &result.ParitySample{Rule: result.SampleSpread, Of: 64}}, "all 64 rows"},
		{result.Parity{Rows: 8, Sample: &result.ParitySample{Rule: result.SampleSpread, Of: 50, ShuffleSeed: &seed}}, "8 rows spread evenly over the 50 the run read (in --shuffle 7 order)"},
	} {
		if got := SampledRows(&tc.p); got != tc.want {
			t.Errorf("SampledRows = %q, want %q", got, tc.want)
		}
	}
}
