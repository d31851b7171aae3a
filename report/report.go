// Package report renders a result document for people and programs.
//
// As in vegeta, collection is separate from rendering: each format is a
// Reporter with its own constructor, built from the same *result.Result, and
// every reporter works from the document alone, so `infergate report` can
// re-render a saved run. Reporters never print anywhere but the io.Writer
// they are given, and return every write error: a report cut short by a
// full disk or a closed pipe must fail the command, not pass silently.
package report

import (
	"io"

	"github.com/infergate/infergate/result"
)

// Reporter writes one rendering of a result.
type Reporter interface {
	Report(w io.Writer) error
}

// ReporterFunc adapts a function to Reporter.
type ReporterFunc func(w io.Writer) error

// Report calls f(w).
func (f ReporterFunc) Report(w io.Writer) error { return f(w) }

// NewJSON returns a reporter that writes the result document itself, the
// stable machine-readable form (see package result).
func NewJSON(r *result.Result) Reporter {
	return ReporterFunc(func(w io.Writer) error { return result.Write(w, r) })
}
