package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"golang.org/x/net/html"

	"github.com/infergate/infergate/internal/reportcheck"
	"github.com/infergate/infergate/result"
)

// newFormats are the reporters added beside the table, by golden suffix.
var newFormats = map[string]func(*result.Result) Reporter{
	"junit":       NewJUnit,
	"md":          NewMarkdown,
	"html":        NewHTML,
	"openmetrics": NewOpenMetrics,
}

func render(t *testing.T, newReporter func(*result.Result) Reporter, r *result.Result) string {
	t.Helper()
	var b bytes.Buffer
	if err := newReporter(r).Report(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestFormatsGolden(t *testing.T) {
	for name, r := range fixtures(t) {
		for suffix, newReporter := range newFormats {
			t.Run(name+"."+suffix, func(t *testing.T) {
				golden(t, name+"."+suffix, []byte(render(t, newReporter, r)))
			})
		}
	}
}

func TestFormatsWriteErrors(t *testing.T) {
	r := fixtures(t)["pair_fail"]
	for name, newReporter := range newFormats {
		for _, after := range []int{0, 100} {
			err := newReporter(r).Report(&failingWriter{after: after})
			if err == nil || !strings.Contains(err.Error(), "broken pipe") {
				t.Errorf("%s reporter, writer failing after %d bytes: err = %v", name, after, err)
			}
		}
		if err := newReporter(nil).Report(&bytes.Buffer{}); err == nil {
			t.Errorf("%s: nil result accepted", name)
		}
		// Rendered fully before writing: one Write call.
		w := &countingWriter{}
		if err := newReporter(r).Report(w); err != nil || w.writes != 1 {
			t.Errorf("%s: %d writes (err %v), want 1", name, w.writes, err)
		}
	}
}

type countingWriter struct{ writes int }

func (w *countingWriter) Write(p []byte) (int, error) { w.writes++; return len(p), nil }

func TestFormatsMinimal(t *testing.T) {
	// A document with almost nothing in it (an early failure) renders in
	// every format.
	r := &result.Result{SchemaVersion: 1, Verdict: result.VerdictError, Error: "dataset: no such file"}
	for name, newReporter := range newFormats {
		out := render(t, newReporter, r)
		if !strings.Contains(out, "no such file") && name != "openmetrics" {
			t.Errorf("%s: the error is not reported:\n%s", name, out)
		}
	}
	checkJUnit(t, "minimal", render(t, NewJUnit, r))
}

// --- JUnit ---

// The parsed form of what NewJUnit writes, with every attribute as text so
// that the test checks what a reader would see.
type xSuites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Name     string   `xml:"name,attr"`
	Tests    string   `xml:"tests,attr"`
	Failures string   `xml:"failures,attr"`
	Errors   string   `xml:"errors,attr"`
	Skipped  string   `xml:"skipped,attr"`
	Time     string   `xml:"time,attr"`
	Suites   []xSuite `xml:"testsuite"`
}

type xSuite struct {
	Name      string   `xml:"name,attr"`
	Tests     string   `xml:"tests,attr"`
	Failures  string   `xml:"failures,attr"`
	Errors    string   `xml:"errors,attr"`
	Skipped   string   `xml:"skipped,attr"`
	Time      string   `xml:"time,attr"`
	Timestamp string   `xml:"timestamp,attr"`
	Cases     []xCase  `xml:"testcase"`
	SystemOut []string `xml:"system-out"`
}

type xCase struct {
	Name      string     `xml:"name,attr"`
	Classname string     `xml:"classname,attr"`
	Time      string     `xml:"time,attr"`
	Failure   []xOutcome `xml:"failure"`
	Error     []xOutcome `xml:"error"`
	Skipped   []xOutcome `xml:"skipped"`
}

type xOutcome struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

// checkJUnit parses out as the JUnit readers of GitHub Actions do and
// asserts what they need:
//
//   - dorny/test-reporter (java-junit, xml2js): every <testsuite> has a
//     name (it calls name.trim()), every <testcase> a name; time attributes
//     parse as numbers (parseFloat).
//   - mikepenz/action-junit-report (xml-js): every testcase has a name and
//     a classname, whose part after the last dot it takes for a file name;
//     at most one <failure> and one <error> per testcase, with a message.
//   - EnricoMi/publish-unit-test-result-action (junitparser on lxml):
//     tests/failures/errors/skipped are integers (int()), time is a float
//     (float()), and a suite's <system-out>, when present, has text (it
//     calls .text.strip()).
//
// And for every reader: well-formed XML, counts equal to the elements, no
// NaN or infinity.
func checkJUnit(t *testing.T, name, out string) xSuites {
	t.Helper()
	// Well-formed, strictly.
	dec := xml.NewDecoder(strings.NewReader(out))
	dec.Strict = true
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: not well-formed XML: %v\n%s", name, err, out)
		}
	}
	if !strings.HasPrefix(out, `<?xml version="1.0" encoding="UTF-8"?>`) {
		t.Errorf("%s: no XML declaration", name)
	}
	if strings.Contains(out, "NaN") || regexp.MustCompile(`"[+-]?Inf`).MatchString(out) {
		t.Errorf("%s: NaN or Inf in the XML", name)
	}
	var doc xSuites
	if err := xml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	count := func(what, s string) int {
		t.Helper()
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			t.Errorf("%s: %s = %q, want a non-negative integer", name, what, s)
		}
		return n
	}
	number := func(what, s string) {
		t.Helper()
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || strings.ContainsAny(s, "eE") {
			t.Errorf("%s: %s = %q, want a plain non-negative number of seconds", name, what, s)
		}
	}
	if len(doc.Suites) == 0 {
		t.Fatalf("%s: no <testsuite>", name)
	}
	var tests, failures, errs, skipped int
	for _, s := range doc.Suites {
		if strings.TrimSpace(s.Name) == "" {
			t.Errorf("%s: a testsuite without a name", name)
		}
		number("testsuite time", s.Time)
		if s.Timestamp != "" {
			if _, err := time.Parse(time.RFC3339, s.Timestamp); err != nil {
				t.Errorf("%s: timestamp %q is not ISO 8601: %v", name, s.Timestamp, err)
			}
		}
		if len(s.SystemOut) != 1 || strings.TrimSpace(s.SystemOut[0]) == "" {
			t.Errorf("%s: want one non-empty <system-out>, got %q", name, s.SystemOut)
		}
		if len(s.Cases) == 0 {
			t.Errorf("%s: a testsuite without testcases", name)
		}
		var f, e, sk int
		seen := map[string]bool{}
		for _, c := range s.Cases {
			if strings.TrimSpace(c.Name) == "" || strings.TrimSpace(c.Classname) == "" {
				t.Errorf("%s: testcase name %q classname %q: both must be set", name, c.Name, c.Classname)
			}
			if !strings.HasPrefix(c.Classname, "infergate.") || strings.Count(c.Classname, ".") != 1 || strings.ContainsAny(c.Classname, " \t\n") {
				t.Errorf("%s: classname %q: want infergate.<pair> with no other dot or space", name, c.Classname)
			}
			if seen[c.Classname+"/"+c.Name] {
				t.Errorf("%s: testcase %q twice", name, c.Name)
			}
			seen[c.Classname+"/"+c.Name] = true
			number("testcase time", c.Time)
			if len(c.Failure)+len(c.Error)+len(c.Skipped) > 1 {
				t.Errorf("%s: testcase %q has more than one result", name, c.Name)
			}
			for _, o := range append(append([]xOutcome(nil), c.Failure...), c.Error...) {
				if strings.TrimSpace(o.Message) == "" || o.Type == "" || strings.TrimSpace(o.Body) == "" {
					t.Errorf("%s: testcase %q: failure/error needs a message, a type and a body: %+v", name, c.Name, o)
				}
			}
			f += len(c.Failure)
			e += len(c.Error)
			sk += len(c.Skipped)
		}
		if count("tests", s.Tests) != len(s.Cases) || count("failures", s.Failures) != f ||
			count("errors", s.Errors) != e || count("skipped", s.Skipped) != sk {
			t.Errorf("%s: suite counts tests=%s failures=%s errors=%s skipped=%s, elements %d/%d/%d/%d",
				name, s.Tests, s.Failures, s.Errors, s.Skipped, len(s.Cases), f, e, sk)
		}
		tests, failures, errs, skipped = tests+len(s.Cases), failures+f, errs+e, skipped+sk
	}
	if count("tests", doc.Tests) != tests || count("failures", doc.Failures) != failures ||
		count("errors", doc.Errors) != errs || count("skipped", doc.Skipped) != skipped {
		t.Errorf("%s: root counts do not add up", name)
	}
	number("testsuites time", doc.Time)
	return doc
}

func TestJUnitStructure(t *testing.T) {
	fx := fixtures(t)
	find := func(doc xSuites, name string) *xCase {
		for i := range doc.Suites[0].Cases {
			if doc.Suites[0].Cases[i].Name == name {
				return &doc.Suites[0].Cases[i]
			}
		}
		t.Fatalf("no testcase %q in %+v", name, doc.Suites[0].Cases)
		return nil
	}
	for name, r := range fx {
		doc := checkJUnit(t, name, render(t, NewJUnit, r))
		s := doc.Suites[0]
		if s.Name != "infergate fraud-v2 vs fraud-v1" && s.Name != "infergate fraud-v2" {
			t.Errorf("%s: suite name %q", name, s.Name)
		}
		if s.Time != "83.400" || s.Timestamp != "2025-03-01T12:00:00Z" {
			t.Errorf("%s: time %q timestamp %q", name, s.Time, s.Timestamp)
		}
		if !strings.Contains(s.SystemOut[0], "verdict:") || !strings.Contains(s.SystemOut[0], "┌") {
			t.Errorf("%s: <system-out> is not the terminal table:\n%s", name, s.SystemOut[0])
		}
	}

	// A failed check: the numbers in the message and the body.
	doc := checkJUnit(t, "pair_fail", render(t, NewJUnit, fx["pair_fail"]))
	if got := doc.Suites[0].Cases[0].Classname; got != "infergate.fraud-v2-vs-fraud-v1" {
		t.Errorf("classname %q", got)
	}
	c := find(doc, "max-latency-increase")
	if len(c.Failure) != 1 || c.Failure[0].Type != "regression" {
		t.Fatalf("max-latency-increase: %+v", c)
	}
	for _, w := range []string{"1.24×", "[1.24, 1.28]", "1.15×"} {
		if !strings.Contains(c.Failure[0].Message, w) || !strings.Contains(c.Failure[0].Body, w) {
			t.Errorf("failure lacks %q: %+v", w, c.Failure[0])
		}
	}
	if c := find(doc, "max-memory-increase"); len(c.Failure)+len(c.Error)+len(c.Skipped) != 0 {
		t.Errorf("a passed check is not plain: %+v", c)
	}

	// Inconclusive: skipped under warn (the default) and pass, a failure
	// under fail. Interrupted: an error testcase.
	for policy, want := range map[string]string{"": "skipped", "warn": "skipped", "pass": "skipped", "fail": "inconclusive"} {
		r := *fx["interrupted"]
		r.Config.OnInconclusive = policy
		doc := checkJUnit(t, "interrupted/"+policy, render(t, NewJUnit, &r))
		c := find(doc, "max-memory-increase")
		switch want {
		case "skipped":
			if len(c.Skipped) != 1 || c.Skipped[0].Message == "" || len(c.Failure) != 0 {
				t.Errorf("on_inconclusive %q: %+v", policy, c)
			}
		default:
			if len(c.Failure) != 1 || c.Failure[0].Type != "inconclusive" {
				t.Errorf("on_inconclusive %q: %+v", policy, c)
			}
		}
		if c := find(doc, "interrupted"); len(c.Error) != 1 || c.Error[0].Type != "interrupted" {
			t.Errorf("interrupted: %+v", c)
		}
	}

	// A failed run: an error testcase "run".
	doc = checkJUnit(t, "error", render(t, NewJUnit, fx["error"]))
	if c := find(doc, "run"); len(c.Error) != 1 || c.Error[0].Type != "run-failed" || !strings.Contains(c.Error[0].Message, "worker exited") {
		t.Errorf("run: %+v", c)
	}

	// A run without checks: one passing testcase.
	bench := *fx["bench"]
	bench.Checks, bench.Verdict = nil, result.VerdictNone
	doc = checkJUnit(t, "bench without checks", render(t, NewJUnit, &bench))
	if cs := doc.Suites[0].Cases; len(cs) != 1 || cs[0].Name != "measured" || cs[0].Classname != "infergate.fraud-v2" {
		t.Errorf("bench without checks: %+v", cs)
	}
}

func TestJUnitHostileText(t *testing.T) {
	// Names and messages with XML's own syntax, a CDATA terminator and
	// control characters still make well-formed XML that says them.
	r := *fixtures(t)["pair_fail"]
	r.Targets = append([]result.Target(nil), r.Targets...)
	r.Targets[1].Name = `cand.v2 <b>&"x"`
	r.Checks = append([]result.Check(nil), r.Checks...)
	r.Checks[0].Message = "slower ]]> by far\x00\x1b[31m \xff"
	r.Warnings = []string{"a ]]> in the table"}
	doc := checkJUnit(t, "hostile", render(t, NewJUnit, &r))
	s := doc.Suites[0]
	if s.Name != `infergate cand.v2 <b>&"x" vs fraud-v1` {
		t.Errorf("suite name %q", s.Name)
	}
	if c := s.Cases[0]; c.Classname != "infergate.cand_v2__b___x_-vs-fraud-v1" || !strings.Contains(c.Failure[0].Body, "slower ]]> by far") {
		t.Errorf("testcase %+v", c)
	}
	if !strings.Contains(s.SystemOut[0], "a ]]> in the table") {
		t.Error("system-out lost the CDATA terminator's text")
	}
}

// --- Markdown ---

func TestMarkdownContent(t *testing.T) {
	fx := fixtures(t)
	for name, want := range map[string]struct {
		heading string
		lines   int // mermaid lines
		has     []string
	}{
		"pair_fail": {"## ❌ infergate: FAIL — 2 of 3 checks failed: max-latency-increase, max-size-slope-increase", 2, []string{
			"| max-latency-increase | latency\\_p95 | 2.32ms | 2.88ms | 1.24× \\[1.24, 1.28\\] | ≤ 1.15× | ❌ FAIL |",
			"first line: production (fraud-v1), second line: candidate (fraud-v2)",
			"| shape mismatch | 0 | 1 |  |", "### Noise floor", "about ±1.6%", "⚠️ the machine has 2 cores"}},
		"pair_pass":   {"## ✅ infergate: PASS — 6 of 6 checks passed", 2, []string{"Holm–Bonferroni over 5 checks"}},
		"bench":       {"## ❌ infergate: FAIL — 1 of 2 checks failed: max-p99", 1, []string{"| check | metric | fraud-v2 [interval] | threshold | outcome |", "in µs, of model (fraud-v2)"}},
		"interrupted": {"## ⚠️ infergate: INCONCLUSIVE — 1 of 2 checks inconclusive: max-memory-increase; run interrupted", 2, []string{"> INTERRUPTED:", "⚠️ INCONCLUSIVE"}},
		"error":       {"## 💥 infergate: ERROR — candidate fraud-v2: worker exited: signal: killed (out of memory?); no checks were judged", 1, []string{"Not drawn, without latency samples: candidate (fraud-v2)"}},
	} {
		out := render(t, NewMarkdown, fx[name])
		lines := strings.Split(out, "\n")
		if lines[0] != want.heading || lines[1] != MarkdownMarker {
			t.Errorf("%s: first lines %q, %q", name, lines[0], lines[1])
		}
		// A result with input sizes has a second chart: p50 per size bucket,
		// a line per target.
		charts, nLines := 1, want.lines
		if fx[name].InputSizes != nil {
			charts, nLines = 2, want.lines+len(fx[name].Targets)
		}
		if strings.Count(out, "```mermaid\nxychart-beta\n") != charts || strings.Count(out, "\n    line [") != nLines {
			t.Errorf("%s: want one xychart with %d lines:\n%s", name, want.lines, out)
		}
		if !strings.Contains(out, `    x-axis ["p50", "p90", "p95", "p99", "p99.9"]`) {
			t.Errorf("%s: x-axis", name)
		}
		for _, w := range append(want.has, "<details><summary>Run configuration</summary>", "</details>") {
			if !strings.Contains(out, w) {
				t.Errorf("%s: lacks %q:\n%s", name, w, out)
			}
		}
		if strings.Count(out, "```")%2 != 0 || strings.Contains(out, "NaN") {
			t.Errorf("%s: unbalanced fences or NaN", name)
		}
	}
}

// bigResult is a document with far more than a comment can hold: many
// checks, kinds of error, warnings and thresholds, and huge texts.
func bigResult(t *testing.T) *result.Result {
	r := *fixtures(t)["pair_fail"]
	r.Targets = append([]result.Target(nil), r.Targets...)
	huge := strings.Repeat("x|<y>_", 200_000)
	r.Error = huge
	r.Targets[1].Name = strings.Repeat("candidate-", 500)
	r.Targets[1].Errors.ByKind = map[string]int64{}
	for i := range 3000 {
		r.Targets[1].Errors.ByKind[fmt.Sprintf("kind %04d: %s", i, strings.Repeat("e", 40))] = int64(i)
	}
	for i := range 3000 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("warning %d: %s", i, strings.Repeat("w", 60)))
	}
	r.Config.Thresholds = map[string]string{}
	for i := range 2000 {
		r.Config.Thresholds[fmt.Sprintf("custom-%04d", i)] = "1.1"
	}
	for i := range 500 {
		msg := strings.Repeat("m", 5000)
		if i == 0 {
			msg = huge
		}
		r.Checks = append(r.Checks, result.Check{Name: fmt.Sprintf("custom-%04d", i), Metric: "m", Unit: "ratio",
			Threshold: 1.1, Outcome: result.OutcomeFail, Message: msg})
	}
	return &r
}

func TestMarkdownSizeLimit(t *testing.T) {
	out := render(t, NewMarkdown, bigResult(t))
	if len(out) >= 64*1024 || len(out) > markdownLimit {
		t.Fatalf("Markdown report is %d bytes", len(out))
	}
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "## ❌ infergate: FAIL") || lines[1] != MarkdownMarker {
		t.Errorf("first lines %q", lines[:2])
	}
	if !strings.Contains(out, "left out to keep this comment under GitHub's size limit") {
		t.Error("no note on what was cut")
	}
	if !strings.HasSuffix(out, "</details>\n") || strings.Count(out, "```")%2 != 0 {
		t.Error("a cut section was left open")
	}
	if !utf8.ValidString(out) {
		t.Error("invalid UTF-8")
	}
	// Text from the document is escaped: no table or HTML breaks out.
	if strings.Contains(out, "x|<y>") {
		t.Error("unescaped text")
	}
}

func TestMarkdownEscapes(t *testing.T) {
	r := *fixtures(t)["pair_fail"]
	r.Targets = append([]result.Target(nil), r.Targets...)
	r.Targets[1].Name = "v2 | <!-- x --> *bold* [link](y)\nnext"
	out := render(t, NewMarkdown, &r)
	for _, bad := range []string{"v2 |", "<!-- x", "*bold*", "[link]", "\nnext"} {
		if strings.Contains(out, bad) {
			t.Errorf("unescaped %q in:\n%s", bad, out)
		}
	}
	if strings.Count(out, MarkdownMarker) != 1 {
		t.Error("the marker must appear once")
	}
}

// --- HTML ---

// htmlDoc is the parsed page with helpers to walk it.
type htmlDoc struct{ root *html.Node }

func (d htmlDoc) all(match func(*html.Node) bool) []*html.Node {
	return reportcheck.All(d.root, match)
}

func within(n *html.Node, match func(*html.Node) bool) []*html.Node {
	return reportcheck.All(n, match)
}

func element(tag string) func(*html.Node) bool { return reportcheck.Element(tag) }

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func text(n *html.Node) string { return reportcheck.Text(n) }

// nontrivialLine reports whether a polyline's points or a path's d has at
// least two distinct points.
func nontrivialLine(n *html.Node) bool {
	key := "points"
	if n.Data == "path" {
		key = "d"
	}
	v, _ := attr(n, key)
	pts := map[string]bool{}
	for _, p := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == 'M' || r == 'L' }) {
		xy := strings.Split(p, ",")
		if len(xy) != 2 {
			return false
		}
		for _, c := range xy {
			f, err := strconv.ParseFloat(c, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return false
			}
		}
		pts[p] = true
	}
	return len(pts) >= 2
}

var resourceURL = regexp.MustCompile(`(?i)(https?:)?//[a-z0-9]`)

func checkHTML(t *testing.T, name, out string, wantChecks []string) htmlDoc {
	t.Helper()
	root, err := html.Parse(strings.NewReader(out))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	d := htmlDoc{root}
	// Self-contained: no external script, stylesheet, font, image or frame.
	if strings.Contains(strings.ToLower(out), "<script src") {
		t.Errorf("%s: <script src", name)
	}
	if n := len(d.all(element("link"))); n > 0 {
		t.Errorf("%s: %d <link> elements", name, n)
	}
	for _, n := range d.all(func(n *html.Node) bool { return n.Type == html.ElementNode }) {
		if n.Data == "script" {
			if _, ok := attr(n, "src"); ok {
				t.Errorf("%s: external script", name)
			}
		}
		for _, a := range n.Attr {
			switch strings.ToLower(a.Key) {
			case "src", "href", "xlink:href", "srcset", "data", "action", "poster":
				if resourceURL.MatchString(a.Val) || strings.Contains(a.Val, ":") {
					t.Errorf("%s: <%s %s=%q> loads a resource", name, n.Data, a.Key, a.Val)
				}
			}
		}
		if n.Data == "iframe" || n.Data == "img" || n.Data == "object" || n.Data == "embed" {
			t.Errorf("%s: <%s>", name, n.Data)
		}
	}
	for _, s := range d.all(element("style")) {
		css := strings.ToLower(text(s))
		if strings.Contains(css, "@import") || strings.Contains(css, "url(") || strings.Contains(css, "@font-face") {
			t.Errorf("%s: the style loads something", name)
		}
	}
	if strings.Contains(out, "http://") || strings.Contains(out, "https://") {
		t.Errorf("%s: a URL in the page", name)
	}
	if strings.Contains(out, "NaN") || strings.Contains(out, "Inf") {
		t.Errorf("%s: NaN or Inf in the page", name)
	}

	// Every plot: an SVG with a non-trivial line, axis labels, a legend
	// and tooltips.
	svgs := d.all(element("svg"))
	for i, svg := range svgs {
		lines := within(svg, func(n *html.Node) bool {
			return n.Type == html.ElementNode && (n.Data == "polyline" || n.Data == "path") && nontrivialLine(n)
		})
		if len(lines) == 0 {
			t.Errorf("%s: svg %d has no line with points", name, i)
		}
		if len(within(svg, element("title"))) < 2 {
			t.Errorf("%s: svg %d has no tooltips", name, i)
		}
		labels := within(svg, func(n *html.Node) bool {
			c, _ := attr(n, "class")
			return n.Type == html.ElementNode && n.Data == "text" && c == "axislabel"
		})
		if len(labels) != 2 {
			t.Errorf("%s: svg %d has %d axis labels", name, i, len(labels))
		}
		if len(within(svg, func(n *html.Node) bool {
			c, _ := attr(n, "class")
			return n.Type == html.ElementNode && n.Data == "g" && c == "legend"
		})) != 1 {
			t.Errorf("%s: svg %d has no legend", name, i)
		}
	}
	if len(d.all(element("figcaption"))) != len(svgs) {
		t.Errorf("%s: every plot needs its legend in a sentence", name)
	}

	// The checks table: one row per check, in order.
	var rows []string
	for _, table := range d.all(element("table")) {
		ths := within(table, element("th"))
		if len(ths) == 0 || text(ths[0]) != "check" {
			continue
		}
		for _, tr := range within(table, element("tr"))[1:] {
			rows = append(rows, text(within(tr, element("td"))[0]))
		}
	}
	if strings.Join(rows, ",") != strings.Join(wantChecks, ",") {
		t.Errorf("%s: checks table rows %q, want %q", name, rows, wantChecks)
	}
	return d
}

func TestHTMLDOM(t *testing.T) {
	fx := fixtures(t)
	for name, r := range fx {
		// A check judged on several metrics is named with its metric.
		var checks []string
		for _, row := range checkRows(r.Checks) {
			checks = append(checks, row.name)
		}
		out := render(t, NewHTML, r)
		d := checkHTML(t, name, out, checks)
		want := 2
		if len(r.Stages) > 1 {
			want = 3 // and the sweep's curve
		}
		if r.InputSizes != nil {
			want++ // and latency by input size
		}
		if n := len(d.all(element("svg"))); n != want {
			t.Errorf("%s: %d plots, want %d (percentiles, rounds, a sweep's curve)", name, n, want)
		}
		body := text(d.root)
		for _, w := range []string{strings.ToUpper(string(r.Verdict)), "Latency by input size", "Latency by percentile",
			"Latency per round", "configuration", "machine", "AMD EPYC 7B13", "99.9%", "99.99%", "latency (", "percentile"} {
			if r.Verdict == result.VerdictNone {
				continue
			}
			if !strings.Contains(body, w) {
				t.Errorf("%s: page lacks %q", name, w)
			}
		}
	}
	// The per-round plot tells the rounds' order apart.
	out := render(t, NewHTML, fx["pair_fail"])
	for _, w := range []string{"ran first in the round (position 0)", "ran second in the round (position 1)", "round 4 (index 3)"} {
		if !strings.Contains(out, w) {
			t.Errorf("per-round tooltips lack %q", w)
		}
	}
}

func TestHTMLEscapes(t *testing.T) {
	r := *fixtures(t)["pair_fail"]
	r.Targets = append([]result.Target(nil), r.Targets...)
	r.Targets[1].Name = `<script>alert(1)</script><img src=x onerror=y>`
	r.Error = `</title></svg><script src="https://evil.example/x.js"></script>`
	out := render(t, NewHTML, &r)
	root, err := html.Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	d := htmlDoc{root}
	if n := len(d.all(element("script"))) + len(d.all(element("img"))); n != 0 {
		t.Errorf("%d injected elements", n)
	}
	if !strings.Contains(text(root), "<script>alert(1)</script>") {
		t.Error("the name is not shown as text")
	}
}

func TestHTMLMinimal(t *testing.T) {
	out := render(t, NewHTML, &result.Result{SchemaVersion: 1, Verdict: result.VerdictError, Error: "dataset: no such file"})
	d := checkHTML(t, "minimal", out, nil)
	if n := len(d.all(element("svg"))); n != 0 {
		t.Errorf("%d plots of nothing", n)
	}
}

// --- OpenMetrics ---

// parseOpenMetrics parses out with prometheus/common's OpenMetrics 1.0
// parser, which checks the grammar, the metadata, the families' suffixes
// and "# EOF".
func parseOpenMetrics(t *testing.T, name, out string) map[string]*dto.MetricFamily {
	t.Helper()
	dec := expfmt.NewDecoder(strings.NewReader(out), expfmt.NewFormat(expfmt.TypeOpenMetrics))
	fams := map[string]*dto.MetricFamily{}
	for {
		var mf dto.MetricFamily
		err := dec.Decode(&mf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		if fams[mf.GetName()] != nil {
			t.Fatalf("%s: family %s twice", name, mf.GetName())
		}
		fams[mf.GetName()] = &mf
	}
	if !strings.HasSuffix(out, "\n# EOF\n") {
		t.Errorf("%s: does not end with # EOF", name)
	}
	return fams
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// omTarget is the target a series with these labels is of: a stage's when
// it has a "stage" label.
func omTarget(r *result.Result, ls map[string]string) *result.Target {
	targets := r.Targets
	if name, ok := ls["stage"]; ok {
		targets = nil
		for _, st := range r.Stages {
			if st.Name == name {
				targets = st.Targets
			}
		}
	}
	for i := range targets {
		if string(targets[i].Role) == ls["role"] {
			return &targets[i]
		}
	}
	return nil
}

func TestOpenMetricsParse(t *testing.T) {
	// The ABNF parser is slow (a few tenths of a second a document): the
	// documents are parsed in parallel, each once.
	fx := fixtures(t)
	parsed := map[string]map[string]*dto.MetricFamily{}
	var mu sync.Mutex
	t.Run("parse", func(t *testing.T) {
		for name, r := range fx {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				fams := parseOpenMetrics(t, name, render(t, NewOpenMetrics, r))
				mu.Lock()
				parsed[name] = fams
				mu.Unlock()
			})
		}
	})
	if t.Failed() {
		return
	}
	for name, r := range fx {
		fams := parsed[name]
		lat := fams["infergate_latency_seconds"]
		// A sweep has its series per stage, labelled "stage".
		wantSeries := len(r.Targets)
		if len(r.Stages) > 1 {
			wantSeries = 0
			for _, st := range r.Stages {
				wantSeries += len(st.Targets)
			}
		}
		if lat.GetType() != dto.MetricType_HISTOGRAM || lat.GetUnit() != "seconds" || len(lat.GetMetric()) != wantSeries {
			t.Fatalf("%s: latency family %v", name, lat)
		}
		for _, m := range lat.GetMetric() {
			ls := labels(m)
			tg := omTarget(r, ls)
			// version is the model's, only where known; the tool's has its
			// own label.
			if _, has := ls["version"]; tg == nil || ls["model"] != tg.Name || ls["version"] != tg.ModelVersion ||
				has != (tg.ModelVersion != "") || ls["infergate_version"] != "0.1.0" {
				t.Errorf("%s: labels %v", name, ls)
				continue
			}
			h := m.GetHistogram()
			if h.GetSampleCount() != uint64(tg.Latency.Count) {
				t.Errorf("%s %s: count %d, want %d", name, tg.Name, h.GetSampleCount(), tg.Latency.Count)
			}
			if want := float64(tg.Latency.MeanNS) * float64(tg.Latency.Count) / 1e9; math.Abs(h.GetSampleSum()-want) > 1e-6*want+1e-9 {
				t.Errorf("%s %s: sum %g, want about %g", name, tg.Name, h.GetSampleSum(), want)
			}
			prev, prevLE := uint64(0), 0.0
			bs := h.GetBucket()
			if len(bs) != len(latencyBoundsSeconds)+1 {
				t.Errorf("%s: %d buckets", name, len(bs))
			}
			for _, b := range bs {
				if b.GetCumulativeCount() < prev || b.GetUpperBound() <= prevLE {
					t.Errorf("%s: buckets not cumulative and increasing: %v", name, bs)
				}
				prev, prevLE = b.GetCumulativeCount(), b.GetUpperBound()
			}
			if last := bs[len(bs)-1]; !math.IsInf(last.GetUpperBound(), 1) || last.GetCumulativeCount() != h.GetSampleCount() {
				t.Errorf("%s: +Inf bucket %v", name, last)
			}
			// The bucket at the p50 bound holds about half the samples.
			if tg.Latency.Count > 0 {
				var atP99 uint64
				for _, b := range bs {
					if b.GetUpperBound()*1e9 >= float64(tg.Latency.P99NS)*1.001 {
						atP99 = b.GetCumulativeCount()
						break
					}
				}
				if float64(atP99) < 0.99*float64(tg.Latency.Count) {
					t.Errorf("%s %s: %d samples at or below a bound above p99", name, tg.Name, atP99)
				}
			}
		}
		for _, fam := range []string{"infergate_latency_quantile_seconds", "infergate_throughput_inferences_per_second",
			"infergate_peak_rss_bytes", "infergate_errors_total", "infergate_verdict"} {
			if fams[fam] == nil {
				t.Errorf("%s: no %s", name, fam)
			}
		}
		var verdicts []string
		for _, m := range fams["infergate_verdict"].GetMetric() {
			if m.GetGauge().GetValue() == 1 {
				verdicts = append(verdicts, labels(m)["verdict"])
			}
		}
		if len(verdicts) != 1 || verdicts[0] != string(r.Verdict) {
			t.Errorf("%s: verdict series %v, want %s", name, verdicts, r.Verdict)
		}
		if len(r.Checks) > 0 {
			ones := map[string]string{}
			for _, m := range fams["infergate_check_outcome"].GetMetric() {
				if m.GetGauge().GetValue() == 1 {
					ls := labels(m)
					// A check may be judged on several metrics
					// (output-parity, one per output).
					key := ls["stage"] + "/" + ls["check"] + "/" + ls["metric"]
					if ones[key] != "" {
						t.Errorf("%s: two outcomes for %s", name, key)
					}
					ones[key] = ls["outcome"]
				}
			}
			want := map[string]result.Outcome{}
			if len(r.Stages) > 1 {
				for _, st := range r.Stages {
					for _, c := range st.Checks {
						want[st.Name+"/"+c.Name+"/"+c.Metric] = c.Outcome
					}
				}
			} else {
				for _, c := range r.Checks {
					want["/"+c.Name+"/"+c.Metric] = c.Outcome
				}
			}
			for key, o := range want {
				if ones[key] != string(o) {
					t.Errorf("%s: %s outcome %q, want %q", name, key, ones[key], o)
				}
			}
		}
	}

	// Quantile gauges and the check ratio of pair_fail.
	fams := parsed["pair_fail"]
	for _, m := range fams["infergate_latency_quantile_seconds"].GetMetric() {
		ls := labels(m)
		if ls["role"] == "candidate" && ls["quantile"] == "0.95" && math.Abs(m.GetGauge().GetValue()-0.002883583) > 1e-9 {
			t.Errorf("candidate p95 %v", m.GetGauge().GetValue())
		}
	}
	if m := fams["infergate_check_ratio"].GetMetric()[0]; labels(m)["check"] != "max-latency-increase" || math.Abs(m.GetGauge().GetValue()-fx["pair_fail"].Checks[0].Ratio) > 1e-12 {
		t.Errorf("check ratio %v", m)
	}
	if fams["infergate_errors_total"].GetType() != dto.MetricType_COUNTER {
		t.Error("infergate_errors is not a counter")
	}
	// pair_fail knows the production model's version, not the candidate's.
	for _, m := range fams["infergate_latency_seconds"].GetMetric() {
		ls := labels(m)
		if want := map[string]string{"production": "12", "candidate": ""}[ls["role"]]; ls["version"] != want {
			t.Errorf("pair_fail %s: version %q, want %q", ls["role"], ls["version"], want)
		}
	}

	// OpenMetricsFamilies, what --pushgateway sends, says what the text
	// says: the same families with the same type, help, unit and series.
	for name, r := range fx {
		fams, err := OpenMetricsFamilies(r)
		if err != nil {
			t.Fatal(err)
		}
		text := parsed[name]
		if len(fams) != len(text) {
			t.Errorf("%s: %d families, the text has %d", name, len(fams), len(text))
		}
		for _, f := range fams {
			tf := text[f.GetName()]
			if tf == nil || tf.GetType() != f.GetType() || tf.GetHelp() != f.GetHelp() || tf.GetUnit() != f.GetUnit() {
				t.Errorf("%s: family %s %s %q %q; the text's: %v", name, f.GetName(), f.GetType(), f.GetHelp(), f.GetUnit(), tf)
				continue
			}
			if got, want := omSeries(f), omSeries(tf); !maps.Equal(got, want) {
				t.Errorf("%s: %s series\n%v\nthe text's:\n%v", name, f.GetName(), got, want)
			}
		}
	}
	if _, err := OpenMetricsFamilies(nil); err == nil {
		t.Error("OpenMetricsFamilies(nil) gave no error")
	}
}

// omSeries maps each series of a family, by its labels, to its value: a
// histogram's count, sum and buckets below +Inf (a text histogram has the
// +Inf bucket, a protobuf one need not).
func omSeries(f *dto.MetricFamily) map[string]string {
	out := map[string]string{}
	for _, m := range f.GetMetric() {
		ls := labels(m)
		key := fmt.Sprint(ls)
		switch {
		case m.GetHistogram() != nil:
			h := m.GetHistogram()
			v := fmt.Sprintf("count %d sum %v", h.GetSampleCount(), h.GetSampleSum())
			for _, b := range h.GetBucket() {
				if !math.IsInf(b.GetUpperBound(), 1) {
					v += fmt.Sprintf(" %v:%d", b.GetUpperBound(), b.GetCumulativeCount())
				}
			}
			out[key] = v
		case m.GetCounter() != nil:
			out[key] = fmt.Sprint("counter ", m.GetCounter().GetValue())
		default:
			out[key] = fmt.Sprint("gauge ", m.GetGauge().GetValue())
		}
	}
	return out
}

func TestOpenMetricsEscapes(t *testing.T) {
	r := *fixtures(t)["pair_fail"]
	r.Targets = append([]result.Target(nil), r.Targets...)
	weird := "v2 \"quoted\" \\ back\nslash"
	r.Targets[1].Name = weird
	r.Targets[1].Errors.ByKind = map[string]int64{"a,b=\"c\"}": 1}
	fams := parseOpenMetrics(t, "escapes", render(t, NewOpenMetrics, &r))
	found := false
	for _, m := range fams["infergate_latency_seconds"].GetMetric() {
		found = found || labels(m)["model"] == weird
	}
	if !found {
		t.Error("the escaped model name does not read back")
	}
	if got := labels(fams["infergate_errors_by_kind_total"].GetMetric()[0])["kind"]; got != "a,b=\"c\"}" {
		t.Errorf("kind %q", got)
	}
}

func TestChartNumbers(t *testing.T) {
	for _, tc := range []struct {
		v          float64
		axis, data string
	}{
		{0, "0", "0"}, {0.025, "0.025", "0.0250"}, {2.5 * 0.01, "0.025", "0.0250"}, {5, "5", "5.00"},
		{100000, "100000", "100000"}, {1e7, "10000000", "10000000"}, {3.4349, "3.4349", "3.43"}, {math.NaN(), "0", "0"},
	} {
		if got := axisNumber(tc.v); got != tc.axis {
			t.Errorf("axisNumber(%v) = %q, want %q", tc.v, got, tc.axis)
		}
		if got := chartNumber(tc.v); got != tc.data {
			t.Errorf("chartNumber(%v) = %q, want %q", tc.v, got, tc.data)
		}
	}
	for _, tc := range []struct{ v, want float64 }{{4.1, 5}, {0.9, 1}, {1.2, 2}, {2.2, 2.5}, {46, 50}, {5, 5}} {
		if got := niceCeil(tc.v); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("niceCeil(%v) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestHTMLManyRounds(t *testing.T) {
	// A long sequential run: hundreds of rounds still plot, with a
	// readable number of labelled rounds.
	r := *fixtures(t)["pair_fail"]
	r.Targets = append([]result.Target(nil), r.Targets...)
	for i := range r.Targets {
		tg := &r.Targets[i]
		var rounds []result.Round
		for k := range 250 {
			rd := tg.Rounds[k%len(tg.Rounds)]
			rd.Index, rd.Position = k, (k+i)%2
			rounds = append(rounds, rd)
		}
		tg.Rounds = rounds
	}
	p, err := roundsPlot([]*result.Target{&r.Targets[0], &r.Targets[1]}, true)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(p.XTicks); n < 5 || n > 17 {
		t.Errorf("%d round labels", n)
	}
	if len(p.Series) != 4 || len(p.Series[0].Marks) != 250 {
		t.Errorf("series %d, marks %d", len(p.Series), len(p.Series[0].Marks))
	}
	checkHTML(t, "many rounds", render(t, NewHTML, &r), []string{"max-latency-increase", "max-memory-increase", "max-size-slope-increase"})
}

func TestSweepFormats(t *testing.T) {
	r := fixtures(t)["sweep"]
	for name, want := range map[string][]string{
		"md": {"### Load sweep", `    x-axis ["concurrency=1", "concurrency=2", "concurrency=4"]`, "| concurrency=4 |", "FAIL max-latency-increase |", "### Checks at concurrency=4"},
		"html": {`<h2 id="load-sweep">Load sweep</h2>`, "Latency against throughput", `class="pointlabel"`, ">concurrency=2</text>",
			"concurrency=4 · candidate (fraud-v2): p95"},
		"junit":       {`<testcase name="concurrency=4: max-latency-increase"`, `<testcase name="concurrency=1: max-error-rate"`, `type="regression"`},
		"openmetrics": {`infergate_check_outcome{check="max-latency-increase",metric="latency_p95",infergate_version="0.1.0",stage="concurrency=4",outcome="fail"} 1`},
	} {
		out := render(t, newFormats[name], r)
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s lacks %q", name, w)
			}
		}
	}
	doc := checkJUnit(t, "sweep", render(t, NewJUnit, r))
	if doc.Tests != "6" || doc.Failures != "1" {
		t.Errorf("junit: %s tests, %s failures; want 6 (3 stages × 2 checks), 1", doc.Tests, doc.Failures)
	}
	// The JSON keeps every stage, and reads back whole.
	var b bytes.Buffer
	if err := NewJSON(r).Report(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "sweep.json", b.Bytes())
	back, err := result.Read(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Stages) != 3 || back.Stages[2].Name != "concurrency=4" || back.Stages[2].Verdict != result.VerdictFail ||
		len(back.Stages[0].Targets[0].Rounds) != 4 || back.Verdict != result.VerdictFail {
		t.Errorf("stages read back: %+v", back.Stages)
	}
}

// TestDiagnosticsFormats spot-checks the output parity and profile
// sections (the goldens pin the rest) and keeps the document's JSON.
func TestDiagnosticsFormats(t *testing.T) {
	r := fixtures(t)["pair_diagnostics"]
	var tb bytes.Buffer
	if err := NewTable(r).Report(&tb); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]string{
		"table": {"\noutput parity\n", "label_out → label", "98.44%", "99.61%", "all within tol", "≥ 99.00%",
			"output-parity (output probabilities)", "output-parity (output label_out→label)",
			"where the time went (top operators by change)", "new in the candidate: 1 node (1 Gelu): /encoder/Gelu_fused",
			"removed from the candidate: 1 node (1 Erf): /encoder/Erf", "verdict: FAIL (1 of 5 checks failed: output-parity)"},
		"md": {"### Output parity", "### Where the time went", "| /encoder/Gelu\\_fused | Gelu | 0 | 61.5 | +61.5 | new |",
			"| ≥ 99.00% |", "all within tol"},
		"html":        {"Output parity", "Where the time went", "all within tol", "/encoder/Erf"},
		"junit":       {`<testcase name="output-parity (output probabilities)"`, `<testcase name="min-top1-agreement"`},
		"openmetrics": {`infergate_check_outcome{check="output-parity",metric="output probabilities",infergate_version="0.1.0",outcome="fail"} 1`},
	} {
		out := tb.String()
		if name != "table" {
			out = render(t, newFormats[name], r)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s lacks %q", name, w)
			}
		}
		for _, bad := range []string{"1 fraction", "0.99 fraction", "NaN"} {
			if strings.Contains(out, bad) {
				t.Errorf("%s has %q", name, bad)
			}
		}
	}
	var b bytes.Buffer
	if err := NewJSON(r).Report(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "pair_diagnostics.json", b.Bytes())
	back, err := result.Read(&b)
	if err != nil {
		t.Fatal(err)
	}
	var saved bytes.Buffer
	if err := NewTable(back).Report(&saved); err != nil {
		t.Fatal(err)
	}
	if saved.String() != tb.String() {
		t.Errorf("table from saved JSON differs:\n%s\n---\n%s", tb.String(), saved.String())
	}
}
