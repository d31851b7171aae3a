package report

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/infergate/infergate/compare"
	"github.com/infergate/infergate/report/human"
	"github.com/infergate/infergate/result"
)

// view is everything a human-readable report shows, formatted once from the
// document. Collection lives here so that every human format (the terminal
// table, Markdown, HTML, and the JUnit messages) shows the same numbers with
// the same wording, and only layout differs.
type view struct {
	title   string
	meta    []string // run, machine and configuration lines
	targets []string // one line per target: role, name, model
	notices []string // interrupted, run error, failed targets: read before the numbers
	metrics table
	checks  table // empty when the run had no checks
	// stages is a load sweep's table (stage | per target p50, p95, p99,
	// inferences/s | checks); empty unless the run has more than one stage.
	stages table
	// shownStage names the stage the metrics and checks are of, in a sweep.
	shownStage string
	// profile is "where the time went" (run --profile); nil without one.
	profile *profileSection
	// parity is "output parity" (run --check-outputs); nil without one.
	parity *paritySection
	// sizes is "latency by input size"; nil when the result has no sizes.
	sizes    *sizeSection
	notes    []string // checkNotes, then floorNotes
	warnings []string // the document's warnings, and resolution warnings it lacks
	verdict  string   // the final line

	// The pieces the richer formats (Markdown, HTML) lay out separately.
	pair           bool
	cols           []*result.Target // production then candidate for a pair; else every target
	rows           []checkRow       // one per check, in document order
	checkNotes     []string         // per check: message (if it did not pass) and method
	floorNotes     []string         // family-wide: Holm, the run's resolution
	verdictWord    string           // "PASS", "FAIL", …
	verdictDetails []string         // "1 of 2 checks failed: max-latency-increase", …
}

// table is a header and rows of already formatted cells.
type table struct {
	header []string
	rows   [][]string
	// numeric marks columns to right-align so digits line up.
	numeric []bool
	// groups and labels, when set, have one entry per row: the section the
	// row belongs to ("latency", "throughput", "memory", "GPU", "errors")
	// and its name within it ("p95" for "latency p95"), for formats that
	// show the sections apart.
	groups []string
	labels []string
}

const dash = "–" // a value that does not exist or cannot be computed

func collect(r *result.Result) view {
	v := view{}
	prod, cand := r.Target(result.RoleProduction), r.Target(result.RoleCandidate)
	pair := prod != nil && cand != nil

	// The columns: production then candidate for a pair, else every target
	// in document order (one for bench).
	cols := columns(r.Targets, pair)

	v.title = title(r, pair, cols)
	v.meta = metaLines(r, cols)
	for _, t := range cols {
		v.targets = append(v.targets, fmt.Sprintf("%s: %s", t.Role, modelDesc(t)))
	}

	if r.Interrupted {
		v.notices = append(v.notices, "INTERRUPTED: a signal cut the run short; the numbers cover only what was measured until then.")
	}
	if r.Error != "" {
		v.notices = append(v.notices, "ERROR: the run failed: "+r.Error)
	}
	for _, t := range cols {
		// The run error usually quotes the failure; say it once.
		if t.Failed != "" && !strings.Contains(r.Error, t.Failed) {
			v.notices = append(v.notices, fmt.Sprintf("FAILED: %s %s: %s", t.Role, nameOf(t), t.Failed))
		}
	}
	if len(cols) == 0 {
		v.notices = append(v.notices, "No model was measured.")
	}

	if len(cols) > 0 {
		v.metrics = metricsTable(cols, pair, time.Duration(r.Config.LateStartThresholdNS))
	}
	v.pair, v.cols = pair, cols
	if sz, err := collectSizes(r, cols, pair); err != nil {
		v.notices = append(v.notices, "The input-size breakdown cannot be read: "+err.Error())
	} else {
		v.sizes = sz
	}
	v.profile = collectProfile(r)
	v.parity = collectParity(r)
	v.stages = stagesTable(r.Stages, cols, pair)
	if i := result.MirroredStage(r.Stages); i >= 0 && sweeping(r) {
		v.shownStage = r.Stages[i].Name
	}
	v.rows = checkRows(r.Checks)
	v.checks, v.checkNotes, v.floorNotes = checksTable(r.Checks, v.rows, cols, pair)
	v.notes = append(slices.Clone(v.checkNotes), v.floorNotes...)
	v.warnings = warnings(r)
	v.verdictWord, v.verdictDetails = verdictParts(r)
	v.verdict = verdictLine(r)
	return v
}

// columns are the targets a report shows side by side: production then
// candidate for a pair, else every target in document order.
func columns(targets []result.Target, pair bool) []*result.Target {
	find := func(role result.Role) *result.Target {
		for i := range targets {
			if targets[i].Role == role {
				return &targets[i]
			}
		}
		return nil
	}
	if pair {
		return []*result.Target{find(result.RoleProduction), find(result.RoleCandidate)}
	}
	var cols []*result.Target
	for i := range targets {
		cols = append(cols, &targets[i])
	}
	return cols
}

// sweeping reports whether the document is a load sweep worth showing as
// one: more than one stage.
func sweeping(r *result.Result) bool { return len(r.Stages) > 1 }

// stageColumns are a stage's targets in the order of the report's columns
// cols (nil where the stage lacks one).
func stageColumns(st *result.Stage, cols []*result.Target, pair bool) []*result.Target {
	if pair {
		return columns(st.Targets, true)
	}
	out := make([]*result.Target, len(cols))
	for i := range cols {
		if i < len(st.Targets) {
			out[i] = &st.Targets[i]
		}
	}
	return out
}

// stagesTable is stage | per target p50, p95, p99, inferences/s | checks,
// one row per stage of a sweep; empty for one stage or none.
func stagesTable(stages []result.Stage, cols []*result.Target, pair bool) table {
	if len(stages) < 2 || len(cols) == 0 {
		return table{}
	}
	t := table{header: []string{"stage"}, numeric: []bool{false}}
	// Short heads: the table has four columns per target.
	for _, c := range cols {
		prefix, rate := "", "inferences/s"
		if len(cols) > 1 {
			rate = "inf/s"
			prefix = nameOf(c) + " "
			switch {
			case pair && c.Role == result.RoleProduction:
				prefix = "prod "
			case pair:
				prefix = "cand "
			}
		}
		for _, h := range []string{"p50", "p95", "p99", rate} {
			t.header = append(t.header, prefix+h)
			t.numeric = append(t.numeric, true)
		}
	}
	t.header = append(t.header, "checks")
	t.numeric = append(t.numeric, false)
	for i := range stages {
		st := &stages[i]
		row := []string{st.Name}
		for _, c := range stageColumns(st, cols, pair) {
			if c == nil {
				row = append(row, dash, dash, dash, dash)
				continue
			}
			lat := func(ns int64) string {
				if c.Latency.Count == 0 {
					return dash
				}
				return human.Duration(time.Duration(ns))
			}
			rate := dash
			if requests(c) > 0 {
				rate = human.Rate(c.Throughput.InferencesPerS)
			}
			row = append(row, lat(c.Latency.P50NS), lat(c.Latency.P95NS), lat(c.Latency.P99NS), rate)
		}
		t.rows = append(t.rows, append(row, stageOutcome(st)))
	}
	return t
}

// stageOutcome is a stage's checks in one cell: "pass", "FAIL
// max-latency-increase", "INCONCLUSIVE max-p99; interrupted", "ERROR".
func stageOutcome(st *result.Stage) string {
	var parts []string
	if st.Error != "" {
		parts = append(parts, "ERROR")
	}
	var failed, inconclusive []string
	for _, c := range st.Checks {
		switch c.Outcome {
		case result.OutcomeFail:
			failed = append(failed, c.Name)
		case result.OutcomeInconclusive:
			inconclusive = append(inconclusive, c.Name)
		}
	}
	if len(failed) > 0 {
		parts = append(parts, "FAIL "+strings.Join(failed, ", "))
	}
	if len(inconclusive) > 0 {
		parts = append(parts, "INCONCLUSIVE "+strings.Join(inconclusive, ", "))
	}
	if st.Interrupted {
		parts = append(parts, "interrupted")
	}
	if len(parts) > 0 {
		return strings.Join(parts, "; ")
	}
	switch {
	case len(st.Checks) > 0:
		return "pass"
	case st.Verdict == result.VerdictNone:
		return "no checks"
	}
	return dash
}

func nameOf(t *result.Target) string {
	if t.Name != "" {
		return t.Name
	}
	return string(t.Role)
}

func title(r *result.Result, pair bool, cols []*result.Target) string {
	cmd := r.Config.Command
	if cmd == "" {
		cmd = "bench"
		if pair {
			cmd = "run"
		}
	}
	switch {
	case pair && r.Config.AA:
		return fmt.Sprintf("infergate %s: A/A calibration, %s against itself (noise floor)", cmd, nameOf(cols[0]))
	case pair:
		return fmt.Sprintf("infergate %s: %s (candidate) vs %s (production)", cmd, nameOf(cols[1]), nameOf(cols[0]))
	case len(cols) == 1:
		return fmt.Sprintf("infergate %s: %s", cmd, nameOf(cols[0]))
	default:
		return "infergate " + cmd
	}
}

// metaLines summarise the run, the machine and the configuration, each as
// one line of "·"-separated parts, leaving out what the document lacks.
func metaLines(r *result.Result, cols []*result.Target) []string {
	var lines []string
	join := func(label string, parts ...string) {
		parts = slices.DeleteFunc(parts, func(s string) bool { return s == "" })
		if len(parts) > 0 {
			lines = append(lines, label+strings.Join(parts, " · "))
		}
	}

	var run []string
	if r.Tool.Name != "" {
		run = append(run, strings.TrimSpace(r.Tool.Name+" "+r.Tool.Version))
	}
	if !r.StartedAt.IsZero() {
		run = append(run, "started "+r.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
		if r.FinishedAt.After(r.StartedAt) {
			run = append(run, "took "+r.FinishedAt.Sub(r.StartedAt).Round(time.Second).String())
		}
	}
	join("run: ", run...)

	m := r.Machine
	var osArch string
	if m.OS != "" || m.Arch != "" {
		osArch = strings.Trim(m.OS+"/"+m.Arch, "/")
	}
	cores := ""
	if m.Cores > 0 {
		cores = fmt.Sprintf("%d cores", m.Cores)
	}
	ort := ""
	if m.ORTVersion != "" {
		ort = "onnxruntime " + m.ORTVersion
	}
	gpu := ""
	if m.GPU != "" && len(m.GPUs) == 0 {
		gpu = "GPU " + m.GPU // a document without GPUs' details
	}
	join("machine: ", osArch, m.CPUModel, cores, ort, gpu)
	lines = append(lines, gpuMetaLines(m)...)

	c := r.Config
	dataset := c.Dataset
	if dataset != "" {
		switch {
		case c.Rows > 0 && c.DatasetRows > 0 && c.Rows != c.DatasetRows:
			dataset += fmt.Sprintf(" (%s of %s rows)", human.Count(c.Rows), human.Count(c.DatasetRows))
		case c.DatasetRows > 0:
			dataset += fmt.Sprintf(" (%s rows)", human.Count(c.DatasetRows))
		}
	}
	join("dataset: ", dataset)
	var cfg []string
	if c.BatchSize > 0 {
		cfg = append(cfg, fmt.Sprintf("batch %d", c.BatchSize))
	}
	if c.Rounds > 0 {
		cfg = append(cfg, plural(int64(c.Rounds), "round"))
	}
	cfg = append(cfg, requestsPerTarget(cols))
	if c.Duration != "" {
		cfg = append(cfg, "duration "+c.Duration)
	}
	if c.Concurrency > 0 {
		cfg = append(cfg, fmt.Sprintf("concurrency %d", c.Concurrency))
	}
	if c.Warmup != "" {
		cfg = append(cfg, "warmup "+c.Warmup)
	}
	if c.Shuffle {
		cfg = append(cfg, fmt.Sprintf("shuffled (seed %d)", c.ShuffleSeed))
	}
	if c.Device != "" {
		cfg = append(cfg, "device "+c.Device)
	}
	join("plan: ", cfg...)
	if sweeping(r) {
		names := make([]string, len(r.Stages))
		for i, st := range r.Stages {
			names[i] = st.Name
		}
		line := fmt.Sprintf("load sweep: %d stages (%s)", len(r.Stages), strings.Join(names, ", "))
		if i := result.MirroredStage(r.Stages); i >= 0 {
			line += "; the metrics and checks shown are those of " + r.Stages[i].Name
		}
		lines = append(lines, line)
	}
	return lines
}

// requestsPerTarget is the measured number of requests (successful and
// failed), which is what the numbers rest on, whatever was configured.
func requestsPerTarget(cols []*result.Target) string {
	if len(cols) == 0 {
		return ""
	}
	n := requests(cols[0])
	for _, t := range cols[1:] {
		if requests(t) != n {
			var parts []string
			for _, t := range cols {
				parts = append(parts, fmt.Sprintf("%s %s", t.Role, human.Count(requests(t))))
			}
			return "requests: " + strings.Join(parts, ", ")
		}
	}
	if len(cols) == 1 {
		return plural(n, "request")
	}
	return plural(n, "request") + " per target"
}

func requests(t *result.Target) int64 { return t.Latency.Count + t.Errors.Total }

func plural(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return human.Count(n) + " " + word + "s"
}

// metricsTable is metric | production | candidate | ratio for a pair, or
// metric | <name>... otherwise. lateThreshold is the open loop's late-start
// threshold (0: not recorded).
func metricsTable(cols []*result.Target, pair bool, lateThreshold time.Duration) table {
	t := table{header: []string{"metric"}, numeric: []bool{false}}
	for _, c := range cols {
		h := string(c.Role)
		if !pair {
			h = nameOf(c)
		}
		t.header = append(t.header, h)
		t.numeric = append(t.numeric, true)
	}
	if pair {
		t.header = append(t.header, "ratio")
		t.numeric = append(t.numeric, true)
	}

	// row adds a metric to a group. value formats one target's number;
	// ratioOf gives the number ratios are taken of (nil: no ratio for this
	// metric). The row is named "<prefix><label>".
	row := func(group, prefix, label string, value func(*result.Target) string, ratioOf func(*result.Target) float64) {
		cells := []string{prefix + label}
		for _, c := range cols {
			cells = append(cells, value(c))
		}
		if pair {
			cell := ""
			if ratioOf != nil {
				cell = dash
				if p, c := ratioOf(cols[0]), ratioOf(cols[1]); p > 0 && c > 0 {
					cell = human.Ratio(c / p)
				}
			}
			cells = append(cells, cell)
		}
		t.rows = append(t.rows, cells)
		t.groups = append(t.groups, group)
		t.labels = append(t.labels, label)
	}

	latency := func(name string, get func(result.Latency) int64) {
		row(groupLatency, "latency ", name, func(t *result.Target) string {
			if t.Latency.Count == 0 {
				return dash
			}
			return human.Duration(time.Duration(get(t.Latency)))
		}, func(t *result.Target) float64 {
			if t.Latency.Count == 0 {
				return 0
			}
			return float64(get(t.Latency))
		})
	}
	latency("p50", func(l result.Latency) int64 { return l.P50NS })
	latency("p90", func(l result.Latency) int64 { return l.P90NS })
	latency("p95", func(l result.Latency) int64 { return l.P95NS })
	latency("p99", func(l result.Latency) int64 { return l.P99NS })
	latency("p99.9", func(l result.Latency) int64 { return l.P999NS })
	latency("max", func(l result.Latency) int64 { return l.MaxNS })
	latency("mean", func(l result.Latency) int64 { return l.MeanNS })

	row(groupThroughput, "", "requests", func(t *result.Target) string { return human.Count(requests(t)) }, nil)
	rate := func(get func(*result.Target) float64) func(*result.Target) string {
		return func(t *result.Target) string {
			if requests(t) == 0 {
				return dash
			}
			return human.Rate(get(t))
		}
	}
	// A target without requests shows "–", so it gets no ratio either.
	inf := func(t *result.Target) float64 { return float64(min(requests(t), 1)) * t.Throughput.InferencesPerS }
	rows := func(t *result.Target) float64 { return float64(min(requests(t), 1)) * t.Throughput.RowsPerS }
	row(groupThroughput, "", "inferences/s", rate(inf), inf)
	row(groupThroughput, "", "rows/s", rate(rows), rows)
	// Open-loop calls that waited for a free caller: the rate was not kept.
	// Only when some did, so other reports are unchanged.
	if slices.ContainsFunc(cols, func(c *result.Target) bool { return c.LateStarts > 0 }) {
		label := "late starts"
		if lateThreshold > 0 {
			label += " (over " + lateThreshold.String() + ")"
		}
		row(groupThroughput, "", label, func(t *result.Target) string {
			n := requests(t)
			if n == 0 {
				return human.Count(t.LateStarts)
			}
			return fmt.Sprintf("%s (%s)", human.Count(t.LateStarts), human.Percent(float64(t.LateStarts)/float64(n)))
		}, nil)
	}

	// Both zero means memory was not measured (no VmHWM on this OS, or a
	// remote endpoint); a zero peak alone means the same for the peak.
	unmeasured := func(t *result.Target) bool { return t.Memory.LoadRSSBytes == 0 && t.Memory.PeakRSSBytes == 0 }
	row(groupMemory, "", "load RSS", func(t *result.Target) string {
		if unmeasured(t) {
			return "n/a"
		}
		return human.Bytes(t.Memory.LoadRSSBytes)
	}, func(t *result.Target) float64 { return float64(t.Memory.LoadRSSBytes) })
	row(groupMemory, "", "peak RSS", func(t *result.Target) string {
		if t.Memory.PeakRSSBytes == 0 {
			return "n/a"
		}
		return human.Bytes(t.Memory.PeakRSSBytes)
	}, func(t *result.Target) float64 { return float64(t.Memory.PeakRSSBytes) })
	if hasGPU(cols) {
		gpuRows(row)
	}

	row(groupErrors, "", "errors", func(t *result.Target) string {
		n := requests(t)
		if n == 0 {
			return human.Count(t.Errors.Total)
		}
		return fmt.Sprintf("%s (%s)", human.Count(t.Errors.Total), human.Percent(float64(t.Errors.Total)/float64(n)))
	}, nil)
	var kinds []string
	for _, c := range cols {
		for k := range c.Errors.ByKind {
			if !slices.Contains(kinds, k) {
				kinds = append(kinds, k)
			}
		}
	}
	slices.Sort(kinds) // map order is random; reports must be reproducible
	for _, k := range kinds {
		row(groupErrors, "errors: ", k, func(t *result.Target) string { return human.Count(t.Errors.ByKind[k]) }, nil)
	}
	// Failed calls by the input class of their batch, in a fixed order;
	// only when some target had errors, so error-free reports are unchanged.
	for _, k := range []string{"null", "nan", "empty", "oversized", "normal"} {
		if !slices.ContainsFunc(cols, func(c *result.Target) bool { return c.Errors.ByClass[k] > 0 }) {
			continue
		}
		row(groupErrors, "errors by input: ", k, func(t *result.Target) string { return human.Count(t.Errors.ByClass[k]) }, nil)
	}
	return t
}

// The groups of the metrics table's rows.
const (
	groupLatency    = "latency"
	groupThroughput = "throughput"
	groupMemory     = "memory"
	groupErrors     = "errors"
)

// checkRow is one check's cells, formatted once for every format. The
// judged quantity (the ratio, or the candidate's value for budgets and the
// error rate) carries its interval: "1.21× [1.17, 1.26]".
type checkRow struct {
	check      result.Check
	name       string
	metric     string
	threshold  string // "≤ 1.15×", "≤ 50ms", "≤ 1.00%"
	production string // production's value ("" for a single target)
	value      string // the candidate's (or the model's) value, with the interval for absolute checks
	ratio      string // ratio with interval for ratio checks, else ""
	rounds     string
	samples    string
	outcome    string // "PASS", "FAIL", "INCONCLUSIVE"
}

// judged is the cell that carries the judged quantity and its interval.
func (c checkRow) judged() string {
	if c.ratio != "" {
		return c.ratio
	}
	return c.value
}

func checkRows(checks []result.Check) []checkRow {
	// A check judged on several metrics (output-parity, one per output)
	// is named with its metric, "output-parity (output logits)", so that
	// its rows, notes and testcases tell the outputs apart.
	times := map[string]int{}
	for _, c := range checks {
		times[c.Name]++
	}
	var out []checkRow
	for _, c := range checks {
		name := c.Name
		if times[c.Name] > 1 && c.Metric != "" {
			name += " (" + c.Metric + ")"
		}
		kind, known := compare.KindOf(c.Name)
		ratio, thrRatio := "", human.Ratio(c.Threshold)
		value := checkValue(c.Unit, c.Candidate)
		if kind.IsRatio() {
			ratio = dash
			if c.Ratio != 0 {
				// Extra decimals where 2 would print a failing 1.1512
				// as the threshold 1.15 itself.
				ratio, thrRatio = human.RatioVs(c.Ratio, c.Threshold)
				ratio += bounds(c, func(v float64) string {
					s, _ := human.RatioVs(v, c.Threshold)
					return strings.TrimSuffix(s, "×")
				})
			}
		} else if known {
			value += bounds(c, func(v float64) string { return checkValue(c.Unit, v) })
		}
		row := checkRow{
			check: c, name: name, metric: c.Metric,
			threshold:  formatThreshold(c, kind, known, thrRatio),
			production: checkValue(c.Unit, c.Production),
			value:      value, ratio: ratio,
			rounds: dash, samples: dash,
			outcome: strings.ToUpper(string(c.Outcome)),
		}
		if c.Rounds > 0 {
			row.rounds = human.Count(int64(c.Rounds))
		}
		if c.Samples > 0 {
			row.samples = human.Count(c.Samples)
		}
		out = append(out, row)
	}
	return out
}

// checksTable is check | threshold | production | candidate | ratio |
// rounds | samples | outcome for a pair, or check | threshold | <name> |
// rounds | samples | outcome otherwise. It also returns the notes per
// check (message and method) and those on the whole family of checks.
func checksTable(checks []result.Check, rows []checkRow, cols []*result.Target, pair bool) (table, []string, []string) {
	if len(checks) == 0 {
		return table{}, nil, nil
	}
	t := table{header: []string{"check", "threshold"}, numeric: []bool{false, true}}
	if pair {
		t.header = append(t.header, "production", "candidate", "ratio")
		t.numeric = append(t.numeric, true, true, true)
	} else {
		h := "value"
		if len(cols) == 1 {
			h = nameOf(cols[0])
		}
		t.header = append(t.header, h)
		t.numeric = append(t.numeric, true)
	}
	t.header = append(t.header, "rounds", "samples", "outcome")
	t.numeric = append(t.numeric, true, true, false)

	var notes, family []string
	held := 0
	for _, row := range rows {
		c := row.check
		cells := []string{row.name, row.threshold}
		if pair {
			cells = append(cells, row.production, row.value, row.ratio)
		} else {
			cells = append(cells, row.value)
		}
		cells = append(cells, row.rounds, row.samples, row.outcome)
		t.rows = append(t.rows, cells)

		head := row.name + ":"
		if c.Outcome != result.OutcomePass && c.Message != "" {
			head += " " + c.Message
		}
		if c.Outcome != result.OutcomePass || c.Method != "" {
			notes = append(notes, head)
		}
		if c.Method != "" {
			notes = append(notes, "  method: "+c.Method)
		}
		if c.Confidence > 0 {
			held++
		}
	}
	if held > 1 {
		family = append(family, fmt.Sprintf("family-wise error controlled with Holm–Bonferroni over %d checks", held))
	}
	if d := compare.DetectableChange(checks); d > 0 {
		family = append(family, fmt.Sprintf("this run resolves latency changes of about ±%.1f%%", 100*(d-1)))
	}
	return t, notes, family
}

// bounds is " [lower, upper]" for a check with an interval, formatted by
// f; empty for a check judged on a point (Lower = Upper, no confidence),
// such as an old document's or one with too few rounds.
func bounds(c result.Check, f func(float64) string) string {
	if c.Confidence <= 0 && c.Lower == c.Upper {
		return ""
	}
	return " [" + f(c.Lower) + ", " + f(c.Upper) + "]"
}

// warnings are the document's, plus a warning for each ratio threshold
// finer than the run could resolve, unless the document already has it:
// a document judged by compare.Judge, which does not return warnings,
// still gets them, and one whose writer copied them is not repeated.
func warnings(r *result.Result) []string {
	out := slices.Clone(r.Warnings)
	for _, w := range compare.ResolutionWarnings(r.Checks) {
		// A sweep's warnings carry their stage's name in front.
		if !slices.ContainsFunc(out, func(x string) bool { return strings.HasSuffix(x, w) }) {
			out = append(out, w)
		}
	}
	return out
}

// formatThreshold prints "≤ 1.15×", "≥ 0.95×", "≤ 1.00%" or "≤ 50ms";
// ratio is the threshold already formatted as a ratio.
//
// The parity checks, which compare.KindOf does not know, read as what they
// ask: "all within tol" (every element within tolerance; the threshold is
// the fraction 1) and "≥ 99.00%" (top-1 agreement).
func formatThreshold(c result.Check, kind compare.SpecKind, known bool, ratio string) string {
	switch c.Name {
	case compare.CheckOutputParity:
		if c.Threshold == 1 {
			return "all within tol"
		}
		return "≥ " + human.Percent(c.Threshold) + " within tol"
	case compare.CheckTop1:
		return "≥ " + human.Percent(c.Threshold)
	}
	if !known {
		return fmt.Sprintf("%g %s", c.Threshold, c.Unit)
	}
	switch kind {
	case compare.RatioAtMost:
		return "≤ " + ratio
	case compare.RatioAtLeast:
		return "≥ " + ratio
	case compare.RateAtMost:
		return "≤ " + human.Percent(c.Threshold)
	default:
		if c.Unit == compare.UnitNS {
			// As the user typed it: "50ms", not "50.0ms".
			return "≤ " + time.Duration(c.Threshold).String()
		}
		return "≤ " + checkValue(c.Unit, c.Threshold)
	}
}

// checkValue prints a check's measured value in its unit; zero latency,
// memory or throughput means not measured.
func checkValue(unit string, v float64) string {
	switch unit {
	case compare.UnitRatio, compare.UnitFraction:
		return human.Percent(v)
	}
	if v == 0 {
		return dash
	}
	switch unit {
	case compare.UnitNS:
		return human.Duration(time.Duration(v))
	case compare.UnitNSPerSize:
		return strings.TrimSuffix(compare.FormatSlope(v), " per unit of size") + "/size"
	case compare.UnitBytes:
		return human.Bytes(int64(v))
	case compare.UnitInferencesS:
		return human.Rate(v) + "/s"
	default:
		return fmt.Sprintf("%g", v)
	}
}

// verdictLine is the last line, the one a CI log is read for, e.g.
// "verdict: FAIL (1 of 2 checks failed: max-latency-increase)".
func verdictLine(r *result.Result) string {
	word, details := verdictParts(r)
	line := "verdict: " + word
	if len(details) > 0 {
		line += " (" + strings.Join(details, "; ") + ")"
	}
	return line
}

// verdictParts is the verdict in words ("FAIL") and what backs it ("1 of 2
// checks failed: max-latency-increase").
func verdictParts(r *result.Result) (string, []string) {
	var failed, inconclusive []string
	for _, c := range r.Checks {
		switch c.Outcome {
		case result.OutcomeFail:
			failed = append(failed, c.Name)
		case result.OutcomeInconclusive:
			inconclusive = append(inconclusive, c.Name)
		}
	}
	n := len(r.Checks)
	checks := "checks"
	if n == 1 {
		checks = "check"
	}
	var word string
	var details []string
	switch r.Verdict {
	// The counts only where the checks back the verdict: an interrupted run
	// is "inconclusive" without having judged any check.
	case result.VerdictPass:
		word = "PASS"
		if n > 0 {
			details = append(details, fmt.Sprintf("%d of %d %s passed", n, n, checks))
		}
	case result.VerdictFail:
		word = "FAIL"
		if len(failed) > 0 {
			details = append(details, fmt.Sprintf("%d of %d %s failed: %s", len(failed), n, checks, strings.Join(failed, ", ")))
		}
		if len(inconclusive) > 0 {
			details = append(details, fmt.Sprintf("%d inconclusive: %s", len(inconclusive), strings.Join(inconclusive, ", ")))
		}
	case result.VerdictInconclusive:
		word = "INCONCLUSIVE"
		if len(inconclusive) > 0 {
			details = append(details, fmt.Sprintf("%d of %d %s inconclusive: %s", len(inconclusive), n, checks, strings.Join(inconclusive, ", ")))
		}
	case result.VerdictError:
		word = "ERROR"
		why := r.Error
		if why == "" {
			why = "a target failed"
		}
		details = append(details, why, "no checks were judged")
	case result.VerdictNone:
		word = "none"
		details = append(details, "no checks requested")
	case "":
		word = "not judged"
	default:
		word = strings.ToUpper(string(r.Verdict))
	}
	if sweeping(r) && r.Verdict != result.VerdictNone && r.Verdict != "" {
		// The verdict is the worst of the stages': say which stages.
		details = sweepDetails(r)
	}
	if r.Interrupted {
		details = append(details, "run interrupted")
	}
	return word, details
}

// sweepDetails backs a sweep's verdict with the stages that did not pass,
// e.g. "concurrency=8: FAIL max-latency-increase".
func sweepDetails(r *result.Result) []string {
	var out []string
	if r.Verdict == result.VerdictError && r.Error != "" {
		out = append(out, r.Error)
	}
	for i := range r.Stages {
		st := &r.Stages[i]
		o := stageOutcome(st)
		switch {
		case o == "pass" || o == "no checks" || o == dash || o == "interrupted":
			continue
		case st.Error != "" && r.Error != "" && !strings.Contains(o, ";"):
			continue // the run's error says it
		}
		out = append(out, st.Name+": "+o)
	}
	if len(out) == 0 && r.Verdict == result.VerdictPass {
		out = append(out, fmt.Sprintf("every check passed in all %d stages", len(r.Stages)))
	}
	return out
}

// setting is one line of the run's configuration or machine, keyed by the
// document's own field name so that it can be found in the JSON.
type setting struct{ key, value string }

// configSettings lists every configuration field the document has set,
// thresholds as "threshold <flag>", in the document's order.
func configSettings(r *result.Result) []setting {
	var out []setting
	add := func(key, value string) {
		if value != "" {
			out = append(out, setting{key, value})
		}
	}
	num := func(n int64) string {
		if n == 0 {
			return ""
		}
		return strconv.FormatInt(n, 10)
	}
	flt := func(f float64) string {
		if f == 0 {
			return ""
		}
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	yes := func(b bool) string {
		if b {
			return "true"
		}
		return ""
	}
	c := r.Config
	if r.Tool.Name != "" || r.Tool.Version != "" {
		add("tool", strings.TrimSpace(r.Tool.Name+" "+r.Tool.Version))
	}
	if !r.StartedAt.IsZero() {
		add("started_at", r.StartedAt.UTC().Format(time.RFC3339))
	}
	if !r.FinishedAt.IsZero() {
		add("finished_at", r.FinishedAt.UTC().Format(time.RFC3339))
	}
	add("command", c.Command)
	add("aa", yes(c.AA))
	add("dataset", c.Dataset)
	add("dataset_rows", num(c.DatasetRows))
	add("rows", num(c.Rows))
	add("batch_size", num(int64(c.BatchSize)))
	add("shuffle", yes(c.Shuffle))
	if c.Shuffle {
		add("shuffle_seed", strconv.FormatInt(c.ShuffleSeed, 10))
	}
	add("warmup", c.Warmup)
	add("requests", num(c.Requests))
	add("duration", c.Duration)
	add("rounds", num(int64(c.Rounds)))
	add("min_rounds", num(int64(c.MinRounds)))
	add("round_time", c.RoundTime)
	add("max_duration", c.MaxDuration)
	add("confidence", flt(c.Confidence))
	add("on_inconclusive", c.OnInconclusive)
	add("concurrency", num(int64(c.Concurrency)))
	if len(c.ConcurrencySweep) > 0 {
		vals := make([]string, len(c.ConcurrencySweep))
		for i, n := range c.ConcurrencySweep {
			vals[i] = strconv.Itoa(n)
		}
		add("concurrency_sweep", strings.Join(vals, ","))
	}
	if len(c.RateSweep) > 0 {
		vals := make([]string, len(c.RateSweep))
		for i, v := range c.RateSweep {
			vals[i] = strconv.FormatFloat(v, 'f', -1, 64)
		}
		add("rate_sweep", strings.Join(vals, ","))
	}
	add("device", c.Device)
	add("intra_op_threads", num(int64(c.IntraThreads)))
	add("inter_op_threads", num(int64(c.InterThreads)))
	add("graph_optimization", c.GraphOptimization)
	add("latency_percentile", flt(c.LatencyPercentile))
	names := slices.Sorted(maps.Keys(c.Thresholds))
	for _, k := range names {
		add("threshold "+k, c.Thresholds[k])
	}
	return out
}

// machineSettings lists the machine's fields the document has set.
func machineSettings(r *result.Result) []setting {
	var out []setting
	add := func(key, value string) {
		if value != "" {
			out = append(out, setting{key, value})
		}
	}
	m := r.Machine
	add("hostname", m.Hostname)
	add("os", m.OS)
	add("arch", m.Arch)
	add("cpu_model", m.CPUModel)
	if m.Cores > 0 {
		add("cores", strconv.Itoa(m.Cores))
	}
	add("go_version", m.GoVersion)
	add("onnxruntime_version", m.ORTVersion)
	add("gpu", m.GPU)
	out = append(out, gpuSettings(m)...)
	if r.ToolPeakRSSBytes > 0 {
		add("tool_peak_rss", human.Bytes(r.ToolPeakRSSBytes))
	}
	return out
}

// targetLabel is "candidate fraud-v2, version 7 (models/fraud-v2.onnx)".
func targetLabel(t *result.Target) string {
	return string(t.Role) + " " + modelDesc(t)
}

// modelDesc is the model's name, its version where the model or endpoint
// declares one, and its path or URL where that says more than the name.
func modelDesc(t *result.Target) string {
	s := nameOf(t)
	if t.ModelVersion != "" {
		s += ", version " + t.ModelVersion
	}
	if t.Model != "" && t.Model != t.Name {
		s += " (" + t.Model + ")"
	}
	return s
}
