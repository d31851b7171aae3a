package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/infergate/infergate/result"
)

// NewJUnit returns a reporter that writes JUnit XML, for CI systems that
// show test results: one <testsuite> for the run inside a <testsuites>
// root, and one <testcase> per check, so a failed check reads as a failed
// test.
//
//   - A failed check has <failure type="regression">, its numbers (ratio,
//     interval, threshold) in the message and the body.
//   - An inconclusive check is <skipped> under --on-inconclusive warn or
//     pass (the default is warn), and a <failure type="inconclusive"> under
//     fail, as the exit code treats it.
//   - A run that failed (verdict "error", or a target that failed) adds a
//     testcase "run" with <error type="run-failed">; an interrupted run adds
//     a testcase "interrupted" with <error type="interrupted">.
//   - A run without checks (bench) has one passing testcase, "measured".
//   - A load sweep has a testcase per stage and check instead, named
//     "<stage>: <check>" (e.g. "concurrency=4: max-latency-increase").
//
// The suite's <system-out> carries the terminal report (NewTable).
//
// The shape is what dorny/test-reporter (java-junit),
// mikepenz/action-junit-report and EnricoMi/publish-unit-test-result-action
// read: the suite and every testcase are named, every testcase has a
// classname ("infergate.<candidate>-vs-<production>", dots and spaces made
// "_", since some readers take the part after the last dot for a file
// name), time attributes are numbers of seconds, counts are integers equal
// to the elements, and <system-out> is never empty. TestJUnitStructure
// holds it to that.
func NewJUnit(r *result.Result) Reporter { return buffered(r, "junit", renderJUnit) }

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Hostname   string          `xml:"hostname,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  junitText       `xml:"system-out"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitOutcome `xml:"failure,omitempty"`
	Error     *junitOutcome `xml:"error,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
}

type junitOutcome struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",cdata"`
}

type junitText struct {
	Text string `xml:",cdata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// JUnit failure and error types.
const (
	junitRegression   = "regression"
	junitInconclusive = "inconclusive"
	junitRunFailed    = "run-failed"
	junitInterrupted  = "interrupted"
)

func renderJUnit(b *bytes.Buffer, r *result.Result) error {
	v := collect(r)
	var text bytes.Buffer
	if err := renderText(&text, v); err != nil {
		return err
	}

	suite := junitSuite{
		Name:     junitSuiteName(r, v),
		Time:     seconds(runDuration(r)),
		Hostname: r.Machine.Hostname,
		// Never empty: EnricoMi's reader strips the element's text and
		// fails on an element without any.
		SystemOut: junitText{xmlSafe(text.String())},
	}
	if !r.StartedAt.IsZero() {
		suite.Timestamp = r.StartedAt.UTC().Format(time.RFC3339)
	}
	prop := func(name, value string) {
		if value != "" {
			suite.Properties = append(suite.Properties, junitProperty{name, value})
		}
	}
	prop("tool", strings.TrimSpace(r.Tool.Name+" "+r.Tool.Version))
	prop("verdict", string(r.Verdict))
	for _, t := range v.cols {
		prop(string(t.Role), nameOf(t))
	}
	prop("dataset", r.Config.Dataset)
	if sweeping(r) {
		names := make([]string, len(r.Stages))
		for i, st := range r.Stages {
			names[i] = st.Name
		}
		prop("stages", strings.Join(names, ", "))
	}
	if d := r.DetectableChange; d > 0 {
		prop("detectable_change", strconv.FormatFloat(d, 'f', 4, 64))
	}

	class := "infergate." + junitPair(v)
	failOnInconclusive := r.Config.OnInconclusive == "fail"
	// A sweep has a testcase per stage and check, "<stage>: <check>".
	type judged struct {
		prefix string
		rows   []checkRow
	}
	groups := []judged{{"", v.rows}}
	if sweeping(r) {
		groups = groups[:0]
		for _, st := range r.Stages {
			groups = append(groups, judged{st.Name + ": ", checkRows(st.Checks)})
		}
	}
	for _, g := range groups {
		for _, row := range g.rows {
			suite.Cases = append(suite.Cases, checkCase(g.prefix, row, class, failOnInconclusive))
		}
	}

	var failed []string
	for _, t := range v.cols {
		if t.Failed != "" {
			failed = append(failed, fmt.Sprintf("%s %s: %s", t.Role, nameOf(t), t.Failed))
		}
	}
	if r.Verdict == result.VerdictError || len(failed) > 0 {
		msg := r.Error
		if msg == "" {
			msg = strings.Join(failed, "; ")
		}
		if msg == "" {
			msg = "the run failed"
		}
		body := []string{"error: " + msg}
		for _, f := range failed {
			if !strings.Contains(msg, f) {
				body = append(body, f)
			}
		}
		suite.Cases = append(suite.Cases, junitCase{Name: "run", Classname: class, Time: seconds(0),
			Error: &junitOutcome{Message: msg, Type: junitRunFailed, Body: xmlSafe(strings.Join(body, "\n"))}})
	}
	if r.Interrupted {
		msg := "a signal cut the run short; the numbers cover only what was measured until then"
		suite.Cases = append(suite.Cases, junitCase{Name: "interrupted", Classname: class, Time: seconds(0),
			Error: &junitOutcome{Message: msg, Type: junitInterrupted, Body: msg}})
	}
	if len(suite.Cases) == 0 {
		// Nothing judged and nothing failed: the measurement itself is
		// the test, and it passed.
		suite.Cases = append(suite.Cases, junitCase{Name: "measured", Classname: class, Time: suite.Time})
	}

	for _, tc := range suite.Cases {
		suite.Tests++
		switch {
		case tc.Error != nil:
			suite.Errors++
		case tc.Failure != nil:
			suite.Failures++
		case tc.Skipped != nil:
			suite.Skipped++
		}
	}
	doc := junitSuites{
		Name: "infergate", Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors,
		Skipped: suite.Skipped, Time: suite.Time, Suites: []junitSuite{suite},
	}

	b.WriteString(xml.Header)
	enc := xml.NewEncoder(b)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	b.WriteByte('\n')
	return nil
}

// checkCase is one check's testcase, named prefix + the check (with its
// metric where the check is judged on several: "output-parity (output
// logits)"), so that no two testcases of the suite share a name.
func checkCase(prefix string, row checkRow, class string, failOnInconclusive bool) junitCase {
	c := row.check
	tc := junitCase{Name: prefix + row.name, Classname: class, Time: seconds(0)}
	switch c.Outcome {
	case result.OutcomeFail:
		tc.Failure = &junitOutcome{Message: prefix + checkMessage(row), Type: junitRegression, Body: xmlSafe(checkBody(row))}
	case result.OutcomeInconclusive:
		if failOnInconclusive {
			tc.Failure = &junitOutcome{Message: prefix + checkMessage(row), Type: junitInconclusive, Body: xmlSafe(checkBody(row))}
		} else {
			tc.Skipped = &junitSkipped{Message: prefix + checkMessage(row)}
		}
	}
	return tc
}

// junitSuiteName is "infergate fraud-v2 vs fraud-v1", or "infergate
// fraud-v2" for bench; never empty.
func junitSuiteName(r *result.Result, v view) string {
	switch {
	case v.pair && r.Config.AA:
		return fmt.Sprintf("infergate %s vs %s (A/A)", nameOf(v.cols[1]), nameOf(v.cols[0]))
	case v.pair:
		return fmt.Sprintf("infergate %s vs %s", nameOf(v.cols[1]), nameOf(v.cols[0]))
	case len(v.cols) > 0:
		names := make([]string, len(v.cols))
		for i, t := range v.cols {
			names[i] = nameOf(t)
		}
		return "infergate " + strings.Join(names, ", ")
	default:
		return "infergate"
	}
}

// junitPair is "candidate-vs-production" (the model's name for bench),
// with every character other than a letter, digit, "-" or "_" made "_":
// readers split classnames at dots and some treat the last part as a file.
func junitPair(v view) string {
	var s string
	switch {
	case v.pair:
		s = nameOf(v.cols[1]) + "-vs-" + nameOf(v.cols[0])
	case len(v.cols) > 0:
		names := make([]string, len(v.cols))
		for i, t := range v.cols {
			names[i] = nameOf(t)
		}
		s = strings.Join(names, "-")
	default:
		s = "run"
	}
	return strings.Map(func(c rune) rune {
		if unicode.IsLetter(c) || unicode.IsDigit(c) || c == '-' || c == '_' {
			return c
		}
		return '_'
	}, s)
}

// checkMessage is one line with the numbers: "p95 1.24× production (…);
// ratio 1.24× [1.24, 1.28], threshold ≤ 1.15×".
func checkMessage(row checkRow) string {
	what := "ratio"
	if row.ratio == "" {
		what = "value"
	}
	nums := fmt.Sprintf("%s %s, threshold %s", what, row.judged(), row.threshold)
	if m := strings.TrimSpace(row.check.Message); m != "" {
		return m + "; " + nums
	}
	return fmt.Sprintf("%s %s: %s", row.name, strings.ToLower(row.outcome), nums)
}

// checkBody lists a check's numbers one per line.
func checkBody(row checkRow) string {
	c := row.check
	lines := []string{
		"check: " + row.name,
		"metric: " + row.metric,
		"outcome: " + row.outcome,
		"threshold: " + row.threshold,
	}
	if row.ratio != "" {
		lines = append(lines, "production: "+row.production, "candidate: "+row.value, "ratio [interval]: "+row.ratio)
	} else {
		lines = append(lines, "value [interval]: "+row.value)
	}
	lines = append(lines, "rounds: "+row.rounds, "samples: "+row.samples)
	if c.Confidence > 0 {
		lines = append(lines, fmt.Sprintf("confidence: %.4g%% one-sided per bound", 100*c.Confidence))
	}
	if c.Method != "" {
		lines = append(lines, "method: "+c.Method)
	}
	if c.Message != "" {
		lines = append(lines, "message: "+c.Message)
	}
	return strings.Join(lines, "\n")
}

// runDuration is the run's wall time; 0 when unknown.
func runDuration(r *result.Result) time.Duration {
	if r.StartedAt.IsZero() || !r.FinishedAt.After(r.StartedAt) {
		return 0
	}
	return r.FinishedAt.Sub(r.StartedAt)
}

// seconds formats a duration as JUnit's time: seconds, a plain number.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}

// xmlSafe replaces what XML 1.0 cannot carry (control characters, broken
// UTF-8) with U+FFFD. encoding/xml does so for attributes and escaped text
// but writes CDATA sections as given.
func xmlSafe(s string) string {
	return strings.Map(func(c rune) rune {
		switch {
		case c == '\t' || c == '\n' || c == '\r':
			return c
		case c < 0x20, c == utf8.RuneError, c >= 0xD800 && c <= 0xDFFF, c == 0xFFFE, c == 0xFFFF:
			return unicode.ReplacementChar
		}
		return c
	}, strings.ToValidUTF8(s, "\uFFFD"))
}
