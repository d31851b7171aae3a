package report

import (
	"bytes"
	"fmt"

	"github.com/infergate/infergate/compare"
	"github.com/infergate/infergate/result"
)

// paritySection is "output parity" (run --check-outputs): per output, the
// largest absolute and relative differences, the fraction of elements
// within tolerance and, for classifiers, top-1 agreement.
type paritySection struct {
	table table
	notes []string
}

func collectParity(r *result.Result) *paritySection {
	p := r.Parity
	if p == nil || len(p.Outputs) == 0 {
		return nil
	}
	s := &paritySection{table: table{
		header:  []string{"output", "max abs diff", "max rel diff", "within tolerance", "top-1 agreement", "rows"},
		numeric: []bool{false, true, true, true, true, true},
	}}
	for _, o := range p.Outputs {
		name := o.Name
		if o.Candidate != "" {
			name = o.Candidate + " → " + o.Name
		}
		top1 := dash
		if o.Classifier {
			top1 = fmt.Sprintf("%.2f%%", 100*o.Top1)
		}
		s.table.rows = append(s.table.rows, []string{
			name, fmt.Sprintf("%.4g", o.MaxAbs), fmt.Sprintf("%.4g", o.MaxRel),
			fmt.Sprintf("%.2f%%", 100*o.WithinTol), top1, fmt.Sprint(o.Rows),
		})
	}
	note := fmt.Sprintf("exact on %s (every element compared, not a statistical estimate); within tolerance: |candidate − production| ≤ %g + %g·|production|", compare.SampledRows(p), p.ATol, p.RTol)
	if p.MinTop1Agreement != nil {
		note += fmt.Sprintf("; top-1 agreement must be at least %.2f%%", 100**p.MinTop1Agreement)
	}
	s.notes = []string{note}
	return s
}

func renderParityText(b *bytes.Buffer, s *paritySection) error {
	if s == nil {
		return nil
	}
	b.WriteString("\noutput parity\n")
	if err := renderTable(b, s.table); err != nil {
		return err
	}
	for _, n := range s.notes {
		b.WriteString("  " + n + "\n")
	}
	return nil
}

func mdParity(v view) *mdSection {
	s := v.parity
	if s == nil {
		return &mdSection{}
	}
	sec := &mdSection{head: []string{"### Output parity", ""}}
	sec.head = append(sec.head, mdTable(s.table)...)
	sec.head = append(sec.head, "")
	for _, n := range s.notes {
		sec.head = append(sec.head, "- "+mdText(n))
	}
	return sec
}

// htmlParity is the HTML page's "Output parity" section.
type htmlParity struct {
	Table htmlTable
	Notes []string
}

func newHTMLParity(s *paritySection) *htmlParity {
	if s == nil {
		return nil
	}
	hp := &htmlParity{Table: htmlTable{Header: headerCells(s.table)}, Notes: s.notes}
	g := htmlGroup{}
	for _, row := range s.table.rows {
		hr := htmlRow{}
		for j, c := range row {
			hr.Cells = append(hr.Cells, htmlCell{Text: c, Numeric: s.table.numeric[j]})
		}
		g.Rows = append(g.Rows, hr)
	}
	hp.Table.Groups = []htmlGroup{g}
	return hp
}
