package report

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/infergate/infergate/result"
)

// MarkdownMarker is a hidden line in every Markdown report, right below the
// heading: a step that keeps one sticky pull-request comment finds the
// comment to update by it.
const MarkdownMarker = "<!-- infergate-report -->"

// markdownLimit bounds the Markdown report's size in bytes, with room to
// spare under GitHub's 65,536-character limit on a comment (bytes are never
// fewer than characters) for whatever a workflow adds around it.
const markdownLimit = 60 * 1024

// markdownMaxText bounds any one piece of text from the document (a
// name, an error message, a warning) in the Markdown report, in runes.
const markdownMaxText = 1000

// NewMarkdown returns a reporter that writes a pull-request comment in
// GitHub-flavoured Markdown: the verdict as the first line, the
// MarkdownMarker, the checks, a load sweep's stages (a table and a
// Mermaid chart of p95 per stage), a Mermaid percentile chart, latency,
// throughput, memory, GPU (when one was watched), errors, the noise floor
// and, folded, the run's configuration and machine. It is always under 64 KiB: long sections are
// cut, with a note saying so.
func NewMarkdown(r *result.Result) Reporter { return buffered(r, "markdown", renderMarkdown) }

// mdSection is a part of the comment. Only body lines are ever cut (from
// the end, when the comment would be too long); head and foot stay, so a
// cut table keeps its header and a <details> block is still closed.
type mdSection struct {
	head, body, foot []string
	cut              int // body lines left out
}

func (s *mdSection) lines() []string {
	out := append(append([]string(nil), s.head...), s.body...)
	if s.cut > 0 {
		out = append(out, "", cutNote(s.cut))
	}
	return append(out, s.foot...)
}

// noteSize is the bytes the note on cut lines takes.
func (s *mdSection) noteSize(cut int) int {
	if cut == 0 {
		return 0
	}
	return 1 + len(cutNote(cut)) + 1
}

func cutNote(n int) string {
	return fmt.Sprintf("_… %d more %s left out to keep this comment under GitHub's size limit; the JSON and HTML reports have everything._",
		n, pluralWord(n, "line"))
}

func renderMarkdown(b *bytes.Buffer, r *result.Result) error {
	v := collect(r)
	sections := []*mdSection{
		mdHeading(r, v),
		mdChecks(v),
		mdSweep(r, v),
		mdChart(v),
		mdSizes(v),
		mdProfile(v),
		mdParity(v),
	}
	for _, g := range []string{groupLatency, groupThroughput, groupMemory, groupGPU, groupErrors} {
		sections = append(sections, mdGroup(v, g))
	}
	sections = append(sections, mdNoiseFloor(r, v), mdConfig(r, v))
	fitMarkdown(sections, markdownLimit)

	first := true
	for _, s := range sections {
		ls := s.lines()
		if len(ls) == 0 {
			continue
		}
		if !first {
			b.WriteByte('\n')
		}
		first = false
		for _, l := range ls {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	if b.Len() > markdownLimit {
		// fitMarkdown cuts bodies only; heads are bounded by markdownMaxText.
		return fmt.Errorf("markdown report is %d bytes, over its %d-byte limit", b.Len(), markdownLimit)
	}
	return nil
}

// fitMarkdown cuts body lines until the comment fits in limit bytes (each
// section is followed by a blank line). Every section's body gets an equal
// share of the room left: a short section (latency) stays whole while long
// ones (hundreds of kinds of error, of warnings) are cut to the same size.
func fitMarkdown(sections []*mdSection, limit int) {
	fixed, bodies := 0, 0
	for _, s := range sections {
		for _, l := range s.head {
			fixed += len(l) + 1
		}
		for _, l := range s.foot {
			fixed += len(l) + 1
		}
		fixed++
		for _, l := range s.body {
			bodies += len(l) + 1
		}
	}
	if fixed+bodies <= limit {
		return
	}
	// keep is how many body lines of s fit in share bytes, note included.
	keep := func(s *mdSection, share int) (int, int) {
		size, k := 0, 0
		for k < len(s.body) && size+len(s.body[k])+1 <= share {
			size += len(s.body[k]) + 1
			k++
		}
		for k < len(s.body) && k > 0 && size+s.noteSize(len(s.body)-k) > share {
			k--
			size -= len(s.body[k]) + 1
		}
		return k, size + s.noteSize(len(s.body)-k)
	}
	total := func(share int) int {
		n := fixed
		for _, s := range sections {
			_, size := keep(s, share)
			n += size
		}
		return n
	}
	// The largest share that fits.
	lo, hi := 0, bodies
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if total(mid) <= limit {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	for _, s := range sections {
		k, _ := keep(s, lo)
		s.cut += len(s.body) - k
		s.body = s.body[:k]
	}
}

func mdHeading(r *result.Result, v view) *mdSection {
	emoji, word := "❔", v.verdictWord
	switch r.Verdict {
	case result.VerdictPass:
		emoji = "✅"
	case result.VerdictFail:
		emoji = "❌"
	case result.VerdictInconclusive:
		emoji = "⚠️"
	case result.VerdictError:
		emoji = "💥"
	case result.VerdictNone:
		emoji, word = "📊", "MEASURED"
	}
	line := fmt.Sprintf("## %s infergate: %s", emoji, mdText(word))
	if len(v.verdictDetails) > 0 {
		line += " — " + mdText(strings.Join(v.verdictDetails, "; "))
	}
	s := &mdSection{head: []string{line, MarkdownMarker, "", mdText(v.title)}}
	if len(v.notices) > 0 {
		s.head = append(s.head, "")
		for _, n := range v.notices {
			s.head = append(s.head, "> "+mdText(n))
		}
	}
	return s
}

func outcomeBadge(o string) string {
	switch o {
	case "PASS":
		return "✅ PASS"
	case "FAIL":
		return "❌ FAIL"
	case "INCONCLUSIVE":
		return "⚠️ INCONCLUSIVE"
	}
	return mdText(o)
}

func mdChecks(v view) *mdSection {
	if len(v.rows) == 0 {
		return &mdSection{}
	}
	title := "### Checks"
	if v.shownStage != "" {
		title += " at " + mdText(v.shownStage)
	}
	s := &mdSection{head: []string{title, ""}}
	if v.pair {
		s.head = append(s.head,
			"| check | metric | production | candidate | ratio [interval] | threshold | outcome |",
			"| --- | --- | ---: | ---: | ---: | ---: | --- |")
	} else {
		s.head = append(s.head,
			"| check | metric | "+mdText(valueHeader(v))+" [interval] | threshold | outcome |",
			"| --- | --- | ---: | ---: | --- |")
	}
	var messages []string
	for _, row := range v.rows {
		cells := []string{mdText(row.name), mdText(row.metric)}
		if v.pair {
			cells = append(cells, mdText(row.production), mdText(row.value), mdText(row.ratio))
		} else {
			cells = append(cells, mdText(row.value))
		}
		cells = append(cells, mdText(row.threshold), outcomeBadge(row.outcome))
		s.body = append(s.body, "| "+strings.Join(cells, " | ")+" |")
		if row.check.Outcome != result.OutcomePass && row.check.Message != "" {
			messages = append(messages, fmt.Sprintf("- **%s**: %s", mdText(row.name), mdText(row.check.Message)))
		}
	}
	if len(messages) > 0 {
		s.body = append(s.body, "")
		s.body = append(s.body, messages...)
	}
	return s
}

// mdSweep is a load sweep's stages: the stages table, then p95 latency
// per stage as a Mermaid xychart, one line per target (named in a
// sentence, as legends may not render).
func mdSweep(r *result.Result, v view) *mdSection {
	t := v.stages
	if len(t.header) == 0 {
		return &mdSection{}
	}
	head := make([]string, len(t.header))
	align := make([]string, len(t.header))
	for i, h := range t.header {
		head[i] = mdText(h)
		align[i] = "---"
		if t.numeric[i] {
			align[i] = "---:"
		}
	}
	s := &mdSection{head: []string{"### Load sweep", ""}}
	if v.shownStage != "" {
		s.head = append(s.head, "One whole measurement per stage, each judged with the checks; the other sections show "+mdText(v.shownStage)+".", "")
	}

	// The chart goes in the head: cutting it would break the code block.
	var top int64
	gaps := false
	for _, st := range r.Stages {
		for _, c := range stageColumns(&st, v.cols, v.pair) {
			if c != nil && c.Latency.Count > 0 {
				top = max(top, c.Latency.P95NS)
			} else {
				gaps = true
			}
		}
	}
	if top > 0 {
		unit, scale := "ms", 1e6
		if top < 1e6 {
			unit, scale = "µs", 1e3
		}
		ordinals := []string{"first", "second", "third", "fourth", "fifth"}
		var names, xs []string
		for i, c := range v.cols {
			ord := fmt.Sprintf("line %d", i+1)
			if i < len(ordinals) {
				ord = ordinals[i] + " line"
			}
			names = append(names, fmt.Sprintf("%s: %s (%s)", ord, c.Role, mdText(nameOf(c))))
		}
		for _, st := range r.Stages {
			xs = append(xs, `"`+strings.ReplaceAll(st.Name, `"`, "'")+`"`)
		}
		sentence := "p95 latency per stage, in " + unit + "; " + strings.Join(names, ", ") + "."
		if len(v.cols) == 1 {
			sentence = "p95 latency per stage, in " + unit + ", of " + strings.TrimPrefix(names[0], "first line: ") + "."
		}
		if gaps {
			sentence += " A stage without latency samples is drawn at 0."
		}
		s.head = append(s.head, sentence, "",
			"```mermaid",
			"xychart-beta",
			`    title "p95 latency per stage (`+unit+`)"`,
			"    x-axis ["+strings.Join(xs, ", ")+"]",
			`    y-axis "p95 latency (`+unit+`)" 0 --> `+axisNumber(niceCeil(float64(top)*1.1/scale)),
		)
		for i := range v.cols {
			var nums []string
			for _, st := range r.Stages {
				c := stageColumns(&st, v.cols, v.pair)[i]
				val := 0.0
				if c != nil && c.Latency.Count > 0 {
					val = float64(c.Latency.P95NS) / scale
				}
				nums = append(nums, chartNumber(val))
			}
			s.head = append(s.head, "    line ["+strings.Join(nums, ", ")+"]")
		}
		s.head = append(s.head, "```", "")
	}
	s.head = append(s.head, "| "+strings.Join(head, " | ")+" |", "| "+strings.Join(align, " | ")+" |")
	for _, row := range t.rows {
		cells := make([]string, len(row))
		for i, c := range row {
			cells[i] = mdText(c)
		}
		s.body = append(s.body, "| "+strings.Join(cells, " | ")+" |")
	}
	return s
}

// valueHeader is the column head of a single target's values.
func valueHeader(v view) string {
	if len(v.cols) == 1 {
		return nameOf(v.cols[0])
	}
	return "value"
}

// mdChart is the percentiles of every target with samples as a Mermaid
// xychart, one line per target. Legends may not render, so a sentence
// names the lines.
func mdChart(v view) *mdSection {
	type series struct {
		t      *result.Target
		values []int64
	}
	var drawn []series
	var missing []string
	var top int64
	for _, t := range v.cols {
		if t.Latency.Count == 0 {
			missing = append(missing, string(t.Role)+" ("+mdText(nameOf(t))+")")
			continue
		}
		l := t.Latency
		vals := []int64{l.P50NS, l.P90NS, l.P95NS, l.P99NS, l.P999NS}
		for _, x := range vals {
			top = max(top, x)
		}
		drawn = append(drawn, series{t, vals})
	}
	if len(drawn) == 0 || top <= 0 {
		return &mdSection{}
	}
	unit, scale := "ms", 1e6
	if top < 1e6 {
		unit, scale = "µs", 1e3
	}
	ordinals := []string{"first", "second", "third", "fourth", "fifth"}
	var names []string
	for i, d := range drawn {
		ord := fmt.Sprintf("line %d", i+1)
		if i < len(ordinals) {
			ord = ordinals[i] + " line"
		}
		name := string(d.t.Role)
		if d.t.Role == result.RoleSingle {
			name = "model"
		}
		names = append(names, fmt.Sprintf("%s: %s (%s)", ord, name, mdText(nameOf(d.t))))
	}
	sentence := "Latency by percentile, in " + unit + "; " + strings.Join(names, ", ") + "."
	if len(drawn) == 1 {
		sentence = "Latency by percentile, in " + unit + ", of " + strings.TrimPrefix(names[0], "first line: ") + "."
	}
	if len(missing) > 0 {
		sentence += " Not drawn, without latency samples: " + strings.Join(missing, ", ") + "."
	}
	s := &mdSection{head: []string{
		"### Latency percentiles", "", sentence, "",
		"```mermaid",
		"xychart-beta",
		`    title "Latency by percentile (` + unit + `)"`,
		`    x-axis ["p50", "p90", "p95", "p99", "p99.9"]`,
		`    y-axis "latency (` + unit + `)" 0 --> ` + axisNumber(niceCeil(float64(top)*1.1/scale)),
	}}
	for _, d := range drawn {
		nums := make([]string, len(d.values))
		for i, x := range d.values {
			nums[i] = chartNumber(float64(x) / scale)
		}
		s.head = append(s.head, "    line ["+strings.Join(nums, ", ")+"]")
	}
	s.head = append(s.head, "```")
	return s
}

// chartNumber prints v at three significant figures without an exponent,
// which Mermaid's parser does not take.
func chartNumber(v float64) string {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	decimals := max(0, 2-int(math.Floor(math.Log10(v))))
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v*(1-1e-12) {
			return m * p
		}
	}
	return 10 * p
}

// mdGroup is one group of the metrics table (latency, throughput, …) as
// its own table.
func mdGroup(v view, group string) *mdSection {
	t := v.metrics
	var body []string
	for i, row := range t.rows {
		if t.groups[i] != group {
			continue
		}
		cells := []string{mdText(groupLabel(group, t.labels[i]))}
		for _, c := range row[1:] {
			cells = append(cells, mdText(c))
		}
		body = append(body, "| "+strings.Join(cells, " | ")+" |")
	}
	if len(body) == 0 {
		return &mdSection{}
	}
	head := []string{mdText(group)}
	align := []string{"---"}
	for _, h := range t.header[1:] {
		head = append(head, mdText(h))
		align = append(align, "---:")
	}
	title := strings.ToUpper(group[:1]) + group[1:]
	return &mdSection{
		head: []string{"### " + title, "", "| " + strings.Join(head, " | ") + " |", "| " + strings.Join(align, " | ") + " |"},
		body: body,
	}
}

// groupLabel names a row within its group: the errors group's total row is
// "total", its other rows are kinds of error.
func groupLabel(group, label string) string {
	if group == groupErrors && label == "errors" {
		return "total"
	}
	return label
}

func mdNoiseFloor(r *result.Result, v view) *mdSection {
	var body []string
	if r.Config.AA {
		body = append(body, "- This is an A/A run: production against itself, measuring the noise floor.")
	}
	for _, n := range v.floorNotes {
		body = append(body, "- "+mdText(capitalize(n))+".")
	}
	if d := r.DetectableChange; d > 0 && len(v.floorNotes) == 0 {
		body = append(body, fmt.Sprintf("- Detectable change recorded by the run: %s.", mdText(strconv.FormatFloat(d, 'f', 3, 64)+"×")))
	}
	for _, row := range v.rows {
		if row.check.Method != "" {
			body = append(body, fmt.Sprintf("- %s: %s.", mdText(row.name), mdText(row.check.Method)))
		}
	}
	for _, w := range v.warnings {
		body = append(body, "- ⚠️ "+mdText(strings.TrimSpace(w)))
	}
	if len(body) == 0 {
		return &mdSection{}
	}
	return &mdSection{head: []string{"### Noise floor", ""}, body: body}
}

func mdConfig(r *result.Result, v view) *mdSection {
	s := &mdSection{
		head: []string{"<details><summary>Run configuration</summary>", ""},
		foot: []string{"", "</details>"},
	}
	for _, l := range v.meta {
		s.head = append(s.head, mdText(l)+"  ")
	}
	for _, t := range v.cols {
		line := mdText(targetLabel(t))
		if len(t.Inputs) > 0 {
			line += ": inputs " + mdText(strings.Join(t.Inputs, ", "))
		}
		s.head = append(s.head, line+"  ")
	}
	s.head = append(s.head, "", "| setting | value |", "| --- | --- |")
	for _, st := range configSettings(r) {
		s.body = append(s.body, "| "+mdText(st.key)+" | "+mdText(st.value)+" |")
	}
	for _, st := range machineSettings(r) {
		s.body = append(s.body, "| machine "+mdText(st.key)+" | "+mdText(st.value)+" |")
	}
	return s
}

func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return strings.ToUpper(string(r)) + s[n:]
}

func pluralWord(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// mdEscaper escapes what Markdown or GitHub's HTML would otherwise
// interpret in text from the document: emphasis, code, links, tables,
// HTML and entities.
var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", `*`, `\*`, `_`, `\_`, `[`, `\[`, `]`, `\]`,
	`<`, `&lt;`, `>`, `&gt;`, `&`, `&amp;`, `|`, `\|`, `~`, `\~`, `#`, `\#`,
	"\r\n", " ", "\n", " ", "\r", " ", "\t", " ",
)

// mdText is s shortened to markdownMaxText runes and escaped for a line or
// a table cell.
func mdText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) > markdownMaxText {
		s = string([]rune(s)[:markdownMaxText]) + "…"
	}
	return mdEscaper.Replace(s)
}

// mdSizes is "latency by input size": the table, the slopes, and a
// Mermaid chart of p50 per bucket per target.
func mdSizes(v view) *mdSection {
	sz := v.sizes
	if sz.empty() {
		return &mdSection{}
	}
	s := &mdSection{head: []string{"### Latency by input size", ""}}
	s.head = append(s.head, mdTable(sz.table)...)
	s.head = append(s.head, "")
	for _, n := range sz.notes {
		s.head = append(s.head, "- "+mdText(n))
	}
	var top float64
	for _, p := range sz.profiles {
		for _, r := range p.Rows {
			top = max(top, r.P50)
		}
	}
	if top <= 0 {
		return s
	}
	unit, scale := "ms", 1e6
	if top < 1e6 {
		unit, scale = "µs", 1e3
	}
	var names, labels []string
	for i, t := range v.cols {
		names = append(names, fmt.Sprintf("line %d: %s (%s)", i+1, t.Role, mdText(nameOf(t))))
	}
	for _, b := range sz.buckets {
		labels = append(labels, strconv.Quote(b.Label))
	}
	s.head = append(s.head, "",
		"p50 latency per "+sz.measure+" bucket, in "+unit+"; "+strings.Join(names, ", ")+". A bucket without samples is drawn at 0.",
		"",
		"```mermaid",
		"xychart-beta",
		`    title "p50 latency by `+sz.measure+` (`+unit+`)"`,
		"    x-axis ["+strings.Join(labels, ", ")+"]",
		`    y-axis "p50 (`+unit+`)" 0 --> `+axisNumber(niceCeil(top*1.1/scale)),
	)
	for _, p := range sz.profiles {
		nums := make([]string, len(p.Rows))
		for k, r := range p.Rows {
			nums[k] = chartNumber(r.P50 / scale)
		}
		s.head = append(s.head, "    line ["+strings.Join(nums, ", ")+"]")
	}
	s.head = append(s.head, "```")
	return s
}

// mdTable renders a table whole, numeric columns right-aligned.
func mdTable(t table) []string {
	head := make([]string, len(t.header))
	align := make([]string, len(t.header))
	for i, h := range t.header {
		head[i] = mdText(h)
		align[i] = "---"
		if t.numeric[i] {
			align[i] = "---:"
		}
	}
	out := []string{"| " + strings.Join(head, " | ") + " |", "| " + strings.Join(align, " | ") + " |"}
	for _, row := range t.rows {
		cells := make([]string, len(row))
		for i, c := range row {
			cells[i] = mdText(c)
		}
		out = append(out, "| "+strings.Join(cells, " | ")+" |")
	}
	return out
}
