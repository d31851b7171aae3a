package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	gmhtml "github.com/yuin/goldmark/renderer/html"
	"golang.org/x/net/html"
)

// TestMarkdownRendersAsGFM renders the pull-request comment of a failing
// run the way GitHub does (CommonMark with the GFM extensions, raw HTML
// allowed) and reads the result: the verdict heading first, the checks as
// a table, the percentile chart as a mermaid code block, the details
// folded. A stray pipe or an unclosed fence shows up here as a table with
// the wrong cells or a chart swallowed into prose.
func TestMarkdownRendersAsGFM(t *testing.T) {
	r := fixtures(t)["pair_fail"]
	md := render(t, NewMarkdown, r)
	if len(md) >= 64<<10 {
		t.Fatalf("comment is %d bytes, over 64 KiB", len(md))
	}
	gfm := goldmark.New(goldmark.WithExtensions(extension.GFM), goldmark.WithRendererOptions(gmhtml.WithUnsafe()))
	var out bytes.Buffer
	if err := gfm.Convert([]byte(md), &out); err != nil {
		t.Fatal(err)
	}
	root, err := html.Parse(&out)
	if err != nil {
		t.Fatal(err)
	}
	d := htmlDoc{root}

	// The verdict is the first thing rendered, a heading.
	body := d.all(element("body"))[0]
	first := body.FirstChild
	for first != nil && first.Type != html.ElementNode {
		first = first.NextSibling
	}
	if first == nil || first.Data != "h2" || !strings.Contains(text(first), "FAIL") {
		t.Fatalf("first element %v, want the verdict as an h2", describe(first))
	}

	// The checks table: header cells as written, one row per check with
	// the same number of cells as the header.
	var checks *html.Node
	for _, table := range d.all(element("table")) {
		if ths := within(table, element("th")); len(ths) > 0 && text(ths[0]) == "check" {
			checks = table
			break
		}
	}
	if checks == nil {
		t.Fatalf("no checks table in the rendered comment:\n%s", out.String())
	}
	header := within(checks, element("th"))
	var names []string
	for _, tr := range within(checks, element("tr"))[1:] {
		tds := within(tr, element("td"))
		if len(tds) != len(header) {
			t.Errorf("row %q has %d cells, header %d", text(tr), len(tds), len(header))
			continue
		}
		names = append(names, text(tds[0]))
	}
	var want []string
	for _, row := range checkRows(r.Checks) {
		want = append(want, row.name)
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("checks table rows %q, want %q", names, want)
	}
	if s := text(checks); !strings.Contains(s, "1.24× [1.24, 1.28]") || !strings.Contains(s, "FAIL") {
		t.Errorf("checks table lacks the ratio with its interval or the outcome:\n%s", s)
	}

	// The charts: mermaid code blocks that start with xychart-beta, each
	// with a sentence naming the series (legends may not render).
	var charts int
	for _, code := range d.all(element("code")) {
		class, _ := attr(code, "class")
		if class != "language-mermaid" {
			continue
		}
		charts++
		if src := text(code); !strings.HasPrefix(src, "xychart-beta\n") || !strings.Contains(src, "line [") {
			t.Errorf("mermaid block is not an xychart with lines:\n%s", src)
		}
	}
	if charts != 2 {
		t.Errorf("%d mermaid charts rendered, want 2 (percentiles, input sizes)", charts)
	}
	if !strings.Contains(text(root), "first line: production (fraud-v1), second line: candidate (fraud-v2)") {
		t.Error("the chart's series are not named in text")
	}

	// The configuration folds away, and the sticky-comment marker survives
	// as a comment, invisible.
	if n := len(d.all(element("details"))); n == 0 {
		t.Error("no <details> block")
	}
	var marker bool
	for _, c := range within(root, func(n *html.Node) bool { return n.Type == html.CommentNode }) {
		marker = marker || strings.Contains("<!--"+c.Data+"-->", MarkdownMarker)
	}
	if !marker || strings.Contains(text(root), "infergate-report") {
		t.Errorf("marker %q not kept as an invisible comment", MarkdownMarker)
	}
}

func describe(n *html.Node) string {
	if n == nil {
		return "none"
	}
	return "<" + n.Data + "> " + text(n)
}
