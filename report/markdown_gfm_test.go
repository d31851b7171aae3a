package report

import (
	"strings"
	"testing"

	"github.com/infergate/infergate/internal/reportcheck"
)

// TestMarkdownRendersAsGFM renders the pull-request comment of a failing
// run the way GitHub does and reads the result (see
// reportcheck.CheckMarkdown), then the fixture's own rows: a stray pipe or
// an unclosed fence shows up as a table with the wrong cells or a chart
// swallowed into prose.
func TestMarkdownRendersAsGFM(t *testing.T) {
	r := fixtures(t)["pair_fail"]
	g := reportcheck.CheckMarkdown(t, render(t, NewMarkdown, r), "FAIL", MarkdownMarker)

	var names, want []string
	for _, row := range g.Checks {
		names = append(names, row[0])
	}
	for _, row := range checkRows(r.Checks) {
		want = append(want, row.name)
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("checks table rows %q, want %q", names, want)
	}
	var cells string
	for _, row := range g.Checks {
		cells += strings.Join(row, " | ") + "\n"
	}
	if !strings.Contains(cells, "1.24× [1.24, 1.28]") || !strings.Contains(cells, "FAIL") {
		t.Errorf("checks table lacks the ratio with its interval or the outcome:\n%s", cells)
	}
	if len(g.Charts) != 2 {
		t.Errorf("%d mermaid charts rendered, want 2 (percentiles, input sizes)", len(g.Charts))
	}
	if !strings.Contains(reportcheck.Text(g.Root), "first line: production (fraud-v1), second line: candidate (fraud-v2)") {
		t.Error("the chart's series are not named in text")
	}
}
