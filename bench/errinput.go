package bench

import (
	"maps"
	"math"
	"slices"

	"github.com/infergate/infergate/loader"
)

// Input classes of a batch, the keys of BlockResult.ErrorsByClass: what
// about its inputs might explain a failed call. A batch has one class, the
// first that applies in this order.
const (
	// InputNull: some row has a null in the dataset, sent as JSON null
	// (a request template) or filled (--nulls fill). First, because a
	// filled value could otherwise pass for one of the classes below.
	InputNull = "null"
	// InputNaN: a NaN in some float input of the batch.
	InputNaN = "nan"
	// InputEmpty: some row has an empty list in a variable-length input,
	// or an empty string in a text input.
	InputEmpty = "empty"
	// InputOversized: the batch's size (in the size scan's measure, on the
	// first target's inputs) is above the scan's 0.99 quantile.
	InputOversized = "oversized"
	// InputNormal: none of the above.
	InputNormal = "normal"
)

// maxErrorExamples is how many example rows are kept per error kind.
const maxErrorExamples = 5

// oversizeQuantile is the quantile of the scanned sizes above which a
// batch counts as oversized.
const oversizeQuantile = 0.99

// inputClass classifies one batch for the errors-by-input breakdown.
// tensors are the batch's inputs for one target and own their measure
// (its null and empty rows); size is the batch's size in the scan's
// measure on the first target's inputs (what the scan measured), and limit
// the size above which the batch is oversized, 0 for no limit.
func inputClass(tensors []loader.Tensor, own loader.SizeMeasure, size, limit float64) string {
	if own.NullRows > 0 {
		return InputNull
	}
	emptyRows := own.EmptyRows
	for _, t := range tensors {
		if hasNaN(t) {
			return InputNaN
		}
	}
	if emptyRows > 0 {
		return InputEmpty
	}
	if limit > 0 && size > limit {
		return InputOversized
	}
	return InputNormal
}

// hasNaN reports whether a float tensor holds a NaN. Float16 (and
// carried as []uint16) is read from its bits: all exponent bits set with a
// non-zero mantissa.
func hasNaN(t loader.Tensor) bool {
	switch d := t.Data.(type) {
	case []float32:
		for _, v := range d {
			if v != v {
				return true
			}
		}
	case []float64:
		return slices.ContainsFunc(d, math.IsNaN)
	case []uint16:
		if t.DType == loader.Float16 {
			for _, v := range d {
				if v&0x7c00 == 0x7c00 && v&0x03ff != 0 {
					return true
				}
			}
		}
	}
	return false
}

// errRec counts failed calls by input class and keeps a few example rows
// (the dataset index of the failed batch's first row) per error kind.
type errRec struct {
	byClass  map[string]int64
	examples map[string][]int64
}

func (e *errRec) fail(kind, class string, row int64) {
	if class == "" {
		class = InputNormal
	}
	if e.byClass == nil {
		e.byClass = map[string]int64{}
	}
	e.byClass[class]++
	e.examples = addExamples(e.examples, kind, row)
}

// mergeErrors adds o's counts and examples to byClass and examples, keeping
// at most maxErrorExamples distinct rows per kind.
func mergeErrors(byClass map[string]int64, examples map[string][]int64, oByClass map[string]int64, oExamples map[string][]int64) (map[string]int64, map[string][]int64) {
	for k, v := range oByClass {
		if byClass == nil {
			byClass = map[string]int64{}
		}
		byClass[k] += v
	}
	for _, k := range slices.Sorted(maps.Keys(oExamples)) {
		for _, row := range oExamples[k] {
			examples = addExamples(examples, k, row)
		}
	}
	return byClass, examples
}

func addExamples(examples map[string][]int64, kind string, row int64) map[string][]int64 {
	if examples == nil {
		examples = map[string][]int64{}
	}
	if rows := examples[kind]; len(rows) < maxErrorExamples && !slices.Contains(rows, row) {
		examples[kind] = append(rows, row)
	}
	return examples
}
