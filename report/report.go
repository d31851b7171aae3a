// Package report renders a result document for people and programs.
//
// As in vegeta, collection is separate from rendering: each format is a
// Reporter with its own constructor, built from the same *result.Result, and
// every reporter works from the document alone, so `infergate report` can
// re-render a saved run. Reporters never print anywhere but the io.Writer
// they are given, and return every write error: a report cut short by a
// full disk or a closed pipe must fail the command, not pass silently.
//
// The formats: NewTable (the terminal), NewJSON (the result document),
// NewMarkdown (a pull-request comment, under 64 KiB, found again by
// MarkdownMarker), NewHTML (one self-contained page with inline SVG plots),
// NewJUnit (one test case per check, for CI test reporters) and
// NewOpenMetrics (OpenMetrics text for a Pushgateway or textfile collector).
package report

import (
	"bytes"
	"fmt"
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

// buffered returns a reporter that renders r completely into memory with
// render and then writes it in one Write, so that a report is never left
// half written by a rendering error, and a failing writer fails it.
func buffered(r *result.Result, format string, render func(b *bytes.Buffer, r *result.Result) error) Reporter {
	return ReporterFunc(func(w io.Writer) error {
		if r == nil {
			return fmt.Errorf("report: no result")
		}
		var b bytes.Buffer
		if err := render(&b, r); err != nil {
			return fmt.Errorf("report: %s: %w", format, err)
		}
		if _, err := w.Write(b.Bytes()); err != nil {
			return fmt.Errorf("report: write %s: %w", format, err)
		}
		return nil
	})
}
