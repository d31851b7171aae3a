package report

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/infergate/infergate/result"
)

// profileTop is how many operators "where the time went" lists.
const profileTop = 10

// profileSection is "where the time went": the operators whose kernel time
// per call changed most between production and the candidate, the same by
// op type, and the nodes one model has and the other lacks.
type profileSection struct {
	nodes  table
	byType table
	notes  []string
}

func (s *profileSection) empty() bool { return s == nil || len(s.nodes.rows) == 0 }

// collectProfile builds the section; nil when the run was not profiled.
func collectProfile(r *result.Result) *profileSection {
	p := r.Profile
	if p == nil || len(p.Nodes) == 0 {
		return nil
	}
	s := &profileSection{
		nodes: table{
			header:  []string{"node", "op type", "production µs/call", "candidate µs/call", "change µs/call", "ratio"},
			numeric: []bool{false, false, true, true, true, true},
		},
		byType: table{
			header:  []string{"op type", "nodes (prod → cand)", "production µs/call", "candidate µs/call", "change µs/call", "ratio"},
			numeric: []bool{false, true, true, true, true, true},
		},
	}
	for _, n := range p.Nodes[:min(profileTop, len(p.Nodes))] {
		s.nodes.rows = append(s.nodes.rows, []string{n.Name, n.OpType, us(n.ProductionUS), us(n.CandidateUS), signedUS(n.Delta), profileRatio(n.Ratio, n.ProductionUS, n.CandidateUS)})
	}
	for _, t := range p.ByOpType[:min(profileTop, len(p.ByOpType))] {
		s.byType.rows = append(s.byType.rows, []string{t.OpType, fmt.Sprintf("%d → %d", t.ProductionNodes, t.CandidateNodes), us(t.ProductionUS), us(t.CandidateUS), signedUS(t.Delta), profileRatio(t.Ratio, t.ProductionUS, t.CandidateUS)})
	}
	calls := fmt.Sprintf("%d profiled calls", p.Requests)
	if p.BatchSize > 0 {
		calls += fmt.Sprintf(" of %d rows", p.BatchSize)
	}
	calls += " per model"
	s.notes = append(s.notes, fmt.Sprintf("ONNX Runtime's kernel time per call over %s, in a separate pass after the measured one: production %s µs, candidate %s µs (%s).",
		calls, us(p.ProductionTotalUS), us(p.CandidateTotalUS), profileRatio(ratioOf(p.CandidateTotalUS, p.ProductionTotalUS), p.ProductionTotalUS, p.CandidateTotalUS)))
	opOf := map[string]string{}
	for _, n := range p.Nodes {
		opOf[n.Name] = n.OpType
	}
	if len(p.Added) > 0 {
		s.notes = append(s.notes, "new in the candidate: "+nodeList(p.Added, opOf))
	}
	if len(p.Removed) > 0 {
		s.notes = append(s.notes, "removed from the candidate: "+nodeList(p.Removed, opOf))
	}
	return s
}

func ratioOf(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

func us(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 1000:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func signedUS(v float64) string {
	if v > 0 {
		return "+" + us(v)
	}
	if v < 0 {
		return "−" + us(-v)
	}
	return "0"
}

func profileRatio(r, prod, cand float64) string {
	switch {
	case r > 0:
		return fmt.Sprintf("%.2f×", r)
	case prod == 0 && cand > 0:
		return "new"
	case cand == 0 && prod > 0:
		return "removed"
	}
	return "–"
}

// nodeList is "3 nodes (2 Gelu, 1 MatMul): a, b, c", the names cut short.
func nodeList(names []string, opOf map[string]string) string {
	count := map[string]int{}
	for _, n := range names {
		count[opOf[n]]++
	}
	types := make([]string, 0, len(count))
	for t := range count {
		types = append(types, t)
	}
	sort.Slice(types, func(i, j int) bool {
		if count[types[i]] != count[types[j]] {
			return count[types[i]] > count[types[j]]
		}
		return types[i] < types[j]
	})
	var parts []string
	for _, t := range types {
		parts = append(parts, fmt.Sprintf("%d %s", count[t], t))
	}
	shown := names
	more := ""
	if len(shown) > profileTop {
		shown = shown[:profileTop]
		more = fmt.Sprintf(", … %d more", len(names)-profileTop)
	}
	return fmt.Sprintf("%d %s (%s): %s%s", len(names), pluralWord(len(names), "node"), strings.Join(parts, ", "), strings.Join(shown, ", "), more)
}

// renderProfileText is the terminal table's section.
func renderProfileText(b *bytes.Buffer, s *profileSection) error {
	if s.empty() {
		return nil
	}
	b.WriteString("\nwhere the time went (top operators by change)\n")
	if err := renderTable(b, s.nodes); err != nil {
		return err
	}
	b.WriteString("\nby op type\n")
	if err := renderTable(b, s.byType); err != nil {
		return err
	}
	for _, n := range s.notes {
		b.WriteString("  " + n + "\n")
	}
	return nil
}

// mdProfile is the Markdown section.
func mdProfile(v view) *mdSection {
	s := v.profile
	if s.empty() {
		return &mdSection{}
	}
	sec := &mdSection{head: []string{"### Where the time went", ""}}
	sec.head = append(sec.head, mdTable(s.nodes)...)
	sec.head = append(sec.head, "", "By op type:", "")
	sec.head = append(sec.head, mdTable(s.byType)...)
	sec.head = append(sec.head, "")
	for _, n := range s.notes {
		sec.head = append(sec.head, "- "+mdText(n))
	}
	return sec
}

// htmlProfile is the HTML section; nil when the run was not profiled.
type htmlProfile struct {
	Nodes  htmlTable
	ByType htmlTable
	Notes  []string
}

func newHTMLProfile(s *profileSection) *htmlProfile {
	if s.empty() {
		return nil
	}
	return &htmlProfile{Nodes: plainHTMLTable(s.nodes), ByType: plainHTMLTable(s.byType), Notes: s.notes}
}

func plainHTMLTable(t table) htmlTable {
	out := htmlTable{Header: headerCells(t)}
	g := htmlGroup{}
	for _, row := range t.rows {
		hr := htmlRow{}
		for j, c := range row {
			hr.Cells = append(hr.Cells, htmlCell{Text: c, Numeric: t.numeric[j]})
		}
		g.Rows = append(g.Rows, hr)
	}
	out.Groups = []htmlGroup{g}
	return out
}
