package loader

import (
	"errors"
	"strconv"

	"github.com/infergate/infergate/internal/errkind"
)

// NullPolicy says what a null in the dataset becomes in a tensor input.
// Nullable inputs (request templates) keep a null row as Tensor.Null
// whatever the policy; the policy still decides for a null inside a list.
type NullPolicy int

const (
	// NullsRefuse stops the stream at the first null, naming its column
	// and row: a tensor has no null, and any stand-in changes the input.
	NullsRefuse NullPolicy = iota
	// NullsFill writes the pad value where a value is null (false for a
	// bool input; a null list becomes a row of it, or an empty row when
	// the input's length is free) and counts the row in
	// SizeMeasure.NullRows, so errors on it count under the input class
	// "null".
	NullsFill
)

func (p NullPolicy) String() string {
	if p == NullsFill {
		return "fill"
	}
	return "refuse"
}

// ParseNullPolicy parses a --nulls value: refuse or fill.
func ParseNullPolicy(s string) (NullPolicy, error) {
	switch s {
	case "refuse":
		return NullsRefuse, nil
	case "fill":
		return NullsFill, nil
	}
	// Said without the value: the flag parser quotes it.
	return NullsRefuse, errkind.Input(errors.New("want refuse or fill"))
}

// nullHint is what a refused null's message suggests.
func nullHint(p *plan) string {
	if p.spec.DType == Bool {
		return "add --nulls fill to send false in its place"
	}
	return "add --nulls fill to send the --pad-value (" + strconv.FormatFloat(p.padValue, 'g', -1, 64) + ") in its place"
}

// rowSet marks rows of one batch, counting each once.
type rowSet struct {
	marked []bool
	n      int64
}

func (s *rowSet) mark(row, rows int) {
	if s.marked == nil {
		s.marked = make([]bool, rows)
	}
	if !s.marked[row] {
		s.marked[row] = true
		s.n++
	}
}
