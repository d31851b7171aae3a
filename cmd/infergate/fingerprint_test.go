package main

import (
	"strings"
	"testing"

	"github.com/infergate/infergate/result"
)

// compare's test-set warning: one Parquet file measured at two batch sizes
// is one test set (its batches' sizes differ, its rows do not); other rows
// of it (--rows), or other sizes at the same batch size, are not.
func TestDifferencesTestSet(t *testing.T) {
	hash := strings.Repeat("a", 64)
	doc := func(batch int, ts result.TestSet) *result.Result {
		return &result.Result{Config: result.Config{Dataset: "seq.parquet", DatasetRows: 64, BatchSize: batch}, TestSet: &ts}
	}
	at1 := result.TestSet{Rows: 64, FileRows: 64, SHA256: hash, BatchSize: 1, SizeP10: 5, SizeP50: 20, SizeP90: 36}
	at4 := result.TestSet{Rows: 64, FileRows: 64, SHA256: hash, BatchSize: 4, SizeP10: 14, SizeP50: 32, SizeP90: 40}
	old1, old4 := at1, at4 // documents from before TestSet.BatchSize
	old1.BatchSize, old4.BatchSize = 0, 0
	fewer := at1
	fewer.Rows = 32
	otherSizes := at1
	otherSizes.SizeP90 = 30
	for _, c := range []struct {
		name          string
		a, b          *result.Result
		differentSets string // "" when the test sets must agree
	}{
		{"batch sizes 1 and 4", doc(1, at1), doc(4, at4), ""},
		{"older documents at batch sizes 1 and 4", doc(1, old1), doc(4, old4), ""},
		{"the same run twice", doc(1, at1), doc(1, at1), ""},
		{"--rows 32 of the file", doc(1, at1), doc(1, fewer), "64 and 32 rows"},
		{"other sizes at one batch size", doc(1, at1), doc(1, otherSizes), "input sizes differ"},
	} {
		w := strings.Join(differences("a.json", c.a, "b.json", c.b), "\n")
		got := strings.Contains(w, "different test sets")
		switch {
		case c.differentSets == "" && got:
			t.Errorf("%s: warned of different test sets:\n%s", c.name, w)
		case c.differentSets != "" && (!got || !strings.Contains(w, c.differentSets)):
			t.Errorf("%s: want a different-test-set warning with %q, got:\n%s", c.name, c.differentSets, w)
		}
		if c.a.Config.BatchSize != c.b.Config.BatchSize && !strings.Contains(w, "batch size 1 vs 4") {
			t.Errorf("%s: the batch sizes' difference is not reported:\n%s", c.name, w)
		}
	}
}
