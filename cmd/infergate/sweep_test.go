package main

import (
	"testing"

	"github.com/infergate/infergate/result"
)

// The top level of a sweep mirrors the last completed stage's input sizes
// and size quantiles, as it does its targets: the targets' rounds index
// that stage's buckets.
func TestMirrorStagesInputSizes(t *testing.T) {
	sizes := func(lo float64) *result.InputSizes {
		return &result.InputSizes{Measure: "seq_len", Buckets: []result.SizeBucketDef{{Lo: lo, Hi: lo}, {Lo: lo + 1, Hi: lo + 1}}}
	}
	res := &result.Result{Stages: []result.Stage{
		{Name: "batch=1", BatchSize: 1, InputSizes: sizes(3), Verdict: result.VerdictPass},
		{Name: "batch=4", BatchSize: 4, InputSizes: sizes(6), Verdict: result.VerdictPass},
		{Name: "batch=8", BatchSize: 8, InputSizes: sizes(9), Verdict: result.VerdictInconclusive, Interrupted: true},
	}}
	testSets := []*result.TestSet{{BatchSize: 1, SizeP50: 20}, {BatchSize: 4, SizeP50: 30}, {BatchSize: 8, SizeP50: 35}}
	mirrorStages(res, testSets)
	if res.InputSizes != res.Stages[1].InputSizes || res.InputSizes.Buckets[0].Lo != 6 {
		t.Errorf("top-level input sizes %+v, want batch=4's (the last completed stage)", res.InputSizes)
	}
	if res.TestSet != testSets[1] || res.Config.BatchSize != 4 {
		t.Errorf("test set %+v at batch size %d, want batch=4's", res.TestSet, res.Config.BatchSize)
	}
	if res.Verdict != result.VerdictInconclusive {
		t.Errorf("verdict %s, want the worst of the stages'", res.Verdict)
	}
}

// Each stage measures into a document of its own: sizes from the run's
// head never leak into a stage, and its fingerprint is a copy, so one
// stage's size quantiles cannot overwrite another's.
func TestStageDocOwnsItsSizes(t *testing.T) {
	res := &result.Result{
		InputSizes: &result.InputSizes{Measure: "elements"},
		TestSet:    &result.TestSet{Rows: 64, SHA256: "ab", BatchSize: 1, SizeP50: 20},
	}
	ms := &measurement{}
	ms.flags.BatchSize = 4
	sr := stageDoc(res, ms)
	if sr.InputSizes != nil {
		t.Errorf("stage document starts with sizes %+v", sr.InputSizes)
	}
	if sr.TestSet == res.TestSet || *sr.TestSet != *res.TestSet {
		t.Fatalf("stage test set %p %+v, want a copy of %p %+v", sr.TestSet, sr.TestSet, res.TestSet, res.TestSet)
	}
	sr.TestSet.BatchSize, sr.TestSet.SizeP50 = 4, 30
	if res.TestSet.BatchSize != 1 || res.TestSet.SizeP50 != 20 {
		t.Errorf("a stage's fingerprint changed the run's: %+v", res.TestSet)
	}
	if sr.Config.BatchSize != 4 {
		t.Errorf("stage batch size %d, want 4", sr.Config.BatchSize)
	}
}
