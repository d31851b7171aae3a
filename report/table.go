package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/infergate/infergate/result"
)

// NewTable returns a reporter for the terminal: a summary of the run, a
// metrics table (metric | production | candidate | ratio, or metric |
// <model> for bench), a load sweep's stages table, a checks table,
// warnings and a one-line verdict.
// The table is plain text; see NewTableWith for colour.
func NewTable(r *result.Result) Reporter { return &tableReporter{r: r} }

// TableOptions configure NewTableWith.
type TableOptions struct {
	// Colour colours the verdict word (PASS green, FAIL and ERROR red,
	// INCONCLUSIVE yellow) and the "warning:" prefixes with ANSI codes.
	// This package never looks at the terminal or the environment: the
	// caller turns it on for a terminal that wants colour.
	Colour bool
}

// NewTableWith is NewTable with options; the zero TableOptions render the
// same bytes as NewTable.
func NewTableWith(r *result.Result, o TableOptions) Reporter {
	return &tableReporter{r: r, colour: o.Colour}
}

type tableReporter struct {
	r      *result.Result
	colour bool
}

// ANSI colours for WithColour.
const (
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiReset  = "\x1b[0m"
)

// colourVerdict colours the verdict word at the head of the verdict line.
func colourVerdict(line, word string) string {
	var c string
	switch word {
	case "PASS":
		c = ansiGreen
	case "FAIL", "ERROR":
		c = ansiRed
	case "INCONCLUSIVE":
		c = ansiYellow
	}
	head := "verdict: " + word
	if c == "" || !strings.HasPrefix(line, head) {
		return line
	}
	return "verdict: " + c + word + ansiReset + line[len(head):]
}

func (t *tableReporter) Report(w io.Writer) error {
	if t.r == nil {
		return fmt.Errorf("report: no result")
	}
	v := collect(t.r)
	// Render into memory and write once: tablewriter drops its writer's
	// errors, and one Write makes a failing writer fail the report.
	var b bytes.Buffer
	warning := "warning: "
	if t.colour {
		v.verdict = colourVerdict(v.verdict, v.verdictWord)
		warning = ansiYellow + "warning:" + ansiReset + " "
	}
	if err := renderTextWith(&b, v, warning); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("report: write: %w", err)
	}
	return nil
}

func renderText(b *bytes.Buffer, v view) error { return renderTextWith(b, v, "warning: ") }

// renderTextWith renders the text report, each warning after the given
// prefix.
func renderTextWith(b *bytes.Buffer, v view, warning string) error {
	lines := func(ls []string) {
		for _, l := range ls {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	lines([]string{v.title})
	lines(v.meta)
	lines(v.targets)
	lines(v.notices)

	if len(v.metrics.header) > 0 {
		b.WriteByte('\n')
		if err := renderTable(b, v.metrics); err != nil {
			return err
		}
	}
	if !v.sizes.empty() {
		b.WriteString("\nlatency by input size (" + v.sizes.measure + ")\n")
		if err := renderTable(b, v.sizes.table); err != nil {
			return err
		}
		for _, n := range v.sizes.notes {
			b.WriteString("  " + n + "\n")
		}
	}
	if err := renderProfileText(b, v.profile); err != nil {
		return err
	}
	if err := renderParityText(b, v.parity); err != nil {
		return err
	}
	if len(v.stages.header) > 0 {
		b.WriteString("\nstages\n")
		if err := renderTable(b, v.stages); err != nil {
			return err
		}
	}
	if len(v.checks.header) > 0 {
		if v.shownStage != "" {
			b.WriteString("\nchecks at " + v.shownStage + "\n")
		} else {
			b.WriteString("\nchecks\n")
		}
		if err := renderTable(b, v.checks); err != nil {
			return err
		}
		for _, n := range v.notes {
			b.WriteString("  " + n + "\n")
		}
	}
	b.WriteByte('\n')
	for _, w := range v.warnings {
		b.WriteString(warning + strings.TrimSpace(w) + "\n")
	}
	lines([]string{v.verdict})
	return nil
}

func renderTable(b *bytes.Buffer, t table) error {
	align := make(tw.Alignment, len(t.numeric))
	for i, num := range t.numeric {
		align[i] = tw.AlignLeft
		if num {
			align[i] = tw.AlignRight
		}
	}
	tbl := tablewriter.NewTable(b,
		// Headers as written ("p99.9", model names), not upper-cased with
		// dots turned into spaces.
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{Global: tw.AlignLeft, PerColumn: align}),
	)
	tbl.Header(t.header)
	for _, row := range t.rows {
		if err := tbl.Append(row); err != nil {
			return err
		}
	}
	return tbl.Render()
}
