package report

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"

	"github.com/infergate/infergate/result"
)

// NewOpenMetrics returns a reporter that writes the run in the OpenMetrics
// 1.0 text exposition format, for a Pushgateway, a textfile collector or
// any scraper: per target a latency histogram (infergate_latency_seconds)
// and gauges for its quantiles, throughput, memory, GPU (when watched) and
// errors, labelled role, model (the target's name), version (the model's
// own version, only where it is known: see result.Target.ModelVersion) and
// infergate_version; per machine GPU its total memory; per
// check its outcome (one 0/1 series per outcome, as a stateset would have;
// plain gauges because common parsers do not take the stateset type) and
// ratio; the verdict the same way. It ends with "# EOF". A load sweep's
// per-target and per-check series are per stage, with a "stage" label.
// OpenMetricsFamilies gives the same families as protobuf messages, for a
// Pushgateway.
//
// The histogram's buckets are cumulative counts at fixed bounds, 10 µs to
// 10 s in 1-2.5-5 steps, read from the HDR histogram merged over all rounds
// (at its 0.1% resolution: a sample within 0.1% of a bound may count on
// either side of it).
func NewOpenMetrics(r *result.Result) Reporter {
	return buffered(r, "openmetrics", renderOpenMetrics)
}

// latencyBoundsSeconds are the histogram's "le" bounds.
var latencyBoundsSeconds = []float64{
	1e-5, 2.5e-5, 5e-5,
	1e-4, 2.5e-4, 5e-4,
	1e-3, 2.5e-3, 5e-3,
	1e-2, 2.5e-2, 5e-2,
	1e-1, 2.5e-1, 5e-1,
	1, 2.5, 5, 10,
}

// OpenMetricsFamilies returns the metric families NewOpenMetrics writes,
// as the protobuf messages Prometheus' client libraries gather: the same
// names (a counter's with its "_total"), types, help, labels and values,
// built from the same collection as the text so the two cannot drift. A
// histogram's buckets leave out +Inf, which the format implies from the
// count.
func OpenMetricsFamilies(r *result.Result) ([]*dto.MetricFamily, error) {
	if r == nil {
		return nil, errors.New("openmetrics: no result")
	}
	fams, err := openMetricsFamilies(r)
	if err != nil {
		return nil, err
	}
	var out []*dto.MetricFamily
	for _, f := range fams {
		if len(f.metrics) > 0 {
			out = append(out, f.proto())
		}
	}
	return out, nil
}

// omFamily is one metric family: its metadata and metrics, written
// together (OpenMetrics forbids interleaving families).
type omFamily struct {
	name, typ, unit, help string
	metrics               []omMetric
}

// omMetric is one labelled series of a family: a gauge's or counter's
// value, or a histogram.
type omMetric struct {
	labels []omLabel
	value  float64
	hist   *omHistogram
}

// omHistogram holds cumulative counts at latencyBoundsSeconds.
type omHistogram struct {
	cumulative []uint64
	count      uint64
	sum        float64
}

func (f *omFamily) add(labels []omLabel, v float64) {
	f.metrics = append(f.metrics, omMetric{labels: labels, value: v})
}

// writeText writes the family in OpenMetrics text: a counter's sample
// named with "_total", a histogram as _bucket (le last), _count and _sum.
func (f *omFamily) writeText(b *bytes.Buffer) {
	fmt.Fprintf(b, "# TYPE %s %s\n", f.name, f.typ)
	if f.unit != "" {
		fmt.Fprintf(b, "# UNIT %s %s\n", f.name, f.unit)
	}
	fmt.Fprintf(b, "# HELP %s %s\n", f.name, omEscape(f.help))
	sample := func(name string, ls []omLabel, v float64) {
		b.WriteString(name + formatLabels(ls) + " " + omNumber(v) + "\n")
	}
	for _, m := range f.metrics {
		switch {
		case m.hist != nil:
			for i, le := range latencyBoundsSeconds {
				sample(f.name+"_bucket", withLabels(m.labels, omLabel{"le", strconv.FormatFloat(le, 'g', -1, 64)}), float64(m.hist.cumulative[i]))
			}
			sample(f.name+"_bucket", withLabels(m.labels, omLabel{"le", "+Inf"}), float64(m.hist.count))
			sample(f.name+"_count", m.labels, float64(m.hist.count))
			sample(f.name+"_sum", m.labels, m.hist.sum)
		case f.typ == "counter":
			sample(f.name+"_total", m.labels, m.value)
		default:
			sample(f.name, m.labels, m.value)
		}
	}
}

var omTypes = map[string]dto.MetricType{
	"gauge":     dto.MetricType_GAUGE,
	"counter":   dto.MetricType_COUNTER,
	"histogram": dto.MetricType_HISTOGRAM,
}

// proto is the family as a protobuf message, labels sorted by name as
// Prometheus' registries keep them.
func (f *omFamily) proto() *dto.MetricFamily {
	name := f.name
	if f.typ == "counter" {
		name += "_total"
	}
	mf := &dto.MetricFamily{Name: new(name), Help: new(f.help), Type: new(omTypes[f.typ])}
	if f.unit != "" {
		mf.Unit = new(f.unit)
	}
	for _, m := range f.metrics {
		pm := &dto.Metric{}
		for _, l := range slices.SortedFunc(slices.Values(m.labels), func(a, b omLabel) int { return strings.Compare(a.name, b.name) }) {
			pm.Label = append(pm.Label, &dto.LabelPair{Name: new(l.name), Value: new(strings.ToValidUTF8(l.value, "\uFFFD"))})
		}
		switch {
		case m.hist != nil:
			h := &dto.Histogram{SampleCount: new(m.hist.count), SampleSum: new(m.hist.sum)}
			for i, le := range latencyBoundsSeconds {
				h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: new(le), CumulativeCount: new(m.hist.cumulative[i])})
			}
			pm.Histogram = h
		case f.typ == "counter":
			pm.Counter = &dto.Counter{Value: new(m.value)}
		default:
			pm.Gauge = &dto.Gauge{Value: new(m.value)}
		}
		mf.Metric = append(mf.Metric, pm)
	}
	return mf
}

func withLabels(ls []omLabel, extra ...omLabel) []omLabel {
	return append(append([]omLabel(nil), ls...), extra...)
}

type omLabel struct{ name, value string }

func formatLabels(ls []omLabel) string {
	if len(ls) == 0 {
		return ""
	}
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.name + `="` + omEscape(l.value) + `"`
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// omEscaper escapes a label value or HELP text: backslash, double quote
// and line feed are the only escapes OpenMetrics has.
var omEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\n`)

func omEscape(s string) string { return omEscaper.Replace(strings.ToValidUTF8(s, "\uFFFD")) }

// omNumber prints a sample value: integers without an exponent, other
// values in Go's shortest form, which OpenMetrics' number grammar takes.
func omNumber(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatInt(int64(v), 10)
	default:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
}

func renderOpenMetrics(b *bytes.Buffer, r *result.Result) error {
	fams, err := openMetricsFamilies(r)
	if err != nil {
		return err
	}
	for _, f := range fams {
		if len(f.metrics) > 0 {
			f.writeText(b)
		}
	}
	b.WriteString("# EOF\n")
	return nil
}

// openMetricsFamilies collects every family in the order they are
// written; a family may be empty.
func openMetricsFamilies(r *result.Result) ([]*omFamily, error) {
	v := collect(r)
	// The tool's version is a label of its own, so that "version" is the
	// model's, as dashboards of production models use it.
	tool := omLabel{"infergate_version", r.Tool.Version}
	if tool.value == "" {
		tool.value = "unknown"
	}
	targetLabels := func(t *result.Target) []omLabel {
		ls := []omLabel{{"role", string(t.Role)}, {"model", nameOf(t)}}
		if t.ModelVersion != "" {
			ls = append(ls, omLabel{"version", t.ModelVersion})
		}
		return append(ls, tool)
	}

	latency := &omFamily{name: "infergate_latency_seconds", typ: "histogram", unit: "seconds",
		help: "Inference latency over all measured rounds, from the merged HDR histogram."}
	quantiles := &omFamily{name: "infergate_latency_quantile_seconds", typ: "gauge", unit: "seconds",
		help: "Inference latency at a quantile, over all measured rounds."}
	throughput := &omFamily{name: "infergate_throughput_inferences_per_second", typ: "gauge",
		help: "Inferences per second of the rounds' busy time."}
	rows := &omFamily{name: "infergate_throughput_rows_per_second", typ: "gauge",
		help: "Dataset rows per second of the rounds' busy time."}
	requests := &omFamily{name: "infergate_requests", typ: "counter",
		help: "Measured requests, successful and failed."}
	loadRSS := &omFamily{name: "infergate_load_rss_bytes", typ: "gauge", unit: "bytes",
		help: "Resident memory the model took to load (0: not measured)."}
	peakRSS := &omFamily{name: "infergate_peak_rss_bytes", typ: "gauge", unit: "bytes",
		help: "Peak resident memory of the model's worker during the measured pass (0: not measured)."}
	errorsAll := &omFamily{name: "infergate_errors", typ: "counter",
		help: "Failed inferences."}
	errorsKind := &omFamily{name: "infergate_errors_by_kind", typ: "counter",
		help: "Failed inferences by kind of error."}
	failed := &omFamily{name: "infergate_target_failed", typ: "gauge",
		help: "1 when the target could not be measured to the end."}
	gpu := newOMGPU()

	addTarget := func(t *result.Target, extra []omLabel) error {
		ls := withLabels(targetLabels(t), extra...)
		h, err := t.Histogram()
		if err != nil {
			return err
		}
		buckets := h.Buckets()
		n := h.Count()
		// In nanoseconds first: a whole number, so the sum prints without
		// float noise.
		hist := &omHistogram{count: uint64(n), sum: float64(h.Mean()) * float64(n) / 1e9}
		i := 0
		var cum int64
		for _, le := range latencyBoundsSeconds {
			bound := int64(math.Round(le * 1e9))
			for i < len(buckets) && buckets[i].ValueNS <= bound {
				cum += buckets[i].Count
				i++
			}
			hist.cumulative = append(hist.cumulative, uint64(cum))
		}
		latency.metrics = append(latency.metrics, omMetric{labels: ls, hist: hist})

		if n > 0 {
			for _, q := range []float64{0.5, 0.9, 0.95, 0.99, 0.999} {
				quantiles.add(withLabels(ls, omLabel{"quantile", strconv.FormatFloat(q, 'g', -1, 64)}), h.Quantile(q).Seconds())
			}
		}
		if requestsOf := t.Latency.Count + t.Errors.Total; requestsOf > 0 {
			throughput.add(ls, t.Throughput.InferencesPerS)
			rows.add(ls, t.Throughput.RowsPerS)
		}
		requests.add(ls, float64(t.Latency.Count+t.Errors.Total))
		loadRSS.add(ls, float64(t.Memory.LoadRSSBytes))
		peakRSS.add(ls, float64(t.Memory.PeakRSSBytes))
		gpu.addTarget(t.GPU, ls)
		errorsAll.add(ls, float64(t.Errors.Total))
		for _, k := range sortedKeys(t.Errors.ByKind) {
			errorsKind.add(withLabels(ls, omLabel{"kind", k}), float64(t.Errors.ByKind[k]))
		}
		failed.add(ls, boolNumber(t.Failed != ""))
		return nil
	}

	outcome := &omFamily{name: "infergate_check_outcome", typ: "gauge",
		help: "1 for the check's outcome, 0 for the others."}
	ratio := &omFamily{name: "infergate_check_ratio", typ: "gauge",
		help: "Candidate over production for a relative check."}
	lower := &omFamily{name: "infergate_check_ratio_lower", typ: "gauge",
		help: "Lower bound of the ratio's confidence interval."}
	upper := &omFamily{name: "infergate_check_ratio_upper", typ: "gauge",
		help: "Upper bound of the ratio's confidence interval."}
	threshold := &omFamily{name: "infergate_check_threshold_ratio", typ: "gauge",
		help: "The ratio a relative check is judged against."}
	addCheck := func(row checkRow, extra []omLabel) {
		c := row.check
		ls := withLabels([]omLabel{{"check", c.Name}, {"metric", c.Metric}, tool}, extra...)
		for _, o := range []result.Outcome{result.OutcomePass, result.OutcomeFail, result.OutcomeInconclusive} {
			outcome.add(withLabels(ls, omLabel{"outcome", string(o)}), boolNumber(c.Outcome == o))
		}
		if row.ratio != "" && c.Ratio > 0 && !math.IsInf(c.Ratio, 0) {
			ratio.add(ls, c.Ratio)
			if c.Confidence > 0 || c.Lower != c.Upper {
				lower.add(ls, c.Lower)
				upper.add(ls, c.Upper)
			}
		}
		if row.ratio != "" {
			threshold.add(ls, c.Threshold)
		}
	}
	// A sweep's series carry a "stage" label, one set per stage.
	if sweeping(r) {
		for i := range r.Stages {
			st := &r.Stages[i]
			extra := []omLabel{{"stage", st.Name}}
			for _, t := range stageColumns(st, v.cols, v.pair) {
				if t == nil {
					continue
				}
				if err := addTarget(t, extra); err != nil {
					return nil, err
				}
			}
			for _, row := range checkRows(st.Checks) {
				addCheck(row, extra)
			}
		}
	} else {
		for _, t := range v.cols {
			if err := addTarget(t, nil); err != nil {
				return nil, err
			}
		}
		for _, row := range v.rows {
			addCheck(row, nil)
		}
	}

	verdict := &omFamily{name: "infergate_verdict", typ: "gauge",
		help: "1 for the run's verdict, 0 for the others."}
	for _, w := range []result.Verdict{result.VerdictPass, result.VerdictFail, result.VerdictInconclusive, result.VerdictError, result.VerdictNone} {
		verdict.add([]omLabel{{"verdict", string(w)}, tool}, boolNumber(r.Verdict == w))
	}
	run := []omLabel{tool}
	interrupted := &omFamily{name: "infergate_interrupted", typ: "gauge",
		help: "1 when a signal cut the run short."}
	interrupted.add(run, boolNumber(r.Interrupted))
	duration := &omFamily{name: "infergate_run_duration_seconds", typ: "gauge", unit: "seconds",
		help: "Wall time of the whole run."}
	duration.add(run, runDuration(r).Seconds())
	detectable := &omFamily{name: "infergate_detectable_change_ratio", typ: "gauge",
		help: "The smallest latency ratio change the run could resolve."}
	if d := r.DetectableChange; d > 0 && !math.IsInf(d, 0) {
		detectable.add(run, d)
	}
	start := &omFamily{name: "infergate_run_start_timestamp_seconds", typ: "gauge", unit: "seconds",
		help: "When the run started, in seconds since the Unix epoch."}
	if !r.StartedAt.IsZero() {
		start.add(run, float64(r.StartedAt.UnixNano())/1e9)
	}

	gpu.addDevices(r.Machine.GPUs, tool)

	families := []*omFamily{latency, quantiles, throughput, rows, requests, loadRSS, peakRSS}
	families = append(families, gpu.families()...)
	families = append(families, errorsAll, errorsKind, failed, outcome, ratio, lower, upper, threshold,
		verdict, interrupted, duration, detectable, start)
	return families, nil
}

func boolNumber(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func sortedKeys(m map[string]int64) []string { return slices.Sorted(maps.Keys(m)) }

// omGPU is the GPU families: per target whose GPU was watched, its device
// memory after load and at peak, its SM utilisation and its SM clock,
// labelled with the device's index and the figures' source beside the
// target's labels; per GPU of the machine, its total memory.
type omGPU struct{ load, peak, util, clock, total *omFamily }

func newOMGPU() *omGPU {
	return &omGPU{
		load: &omFamily{name: "infergate_gpu_memory_load_bytes", typ: "gauge", unit: "bytes",
			help: "GPU memory held after the model loaded, before warmup (0: not measured); of the whole device when source is server-metrics."},
		peak: &omFamily{name: "infergate_gpu_memory_peak_bytes", typ: "gauge", unit: "bytes",
			help: "Peak GPU memory during the measured pass (0: not measured); of the whole device when source is server-metrics."},
		util: &omFamily{name: "infergate_gpu_utilisation_ratio", typ: "gauge",
			help: "Mean SM utilisation (0-1) over the measured pass; absent when unknown."},
		clock: &omFamily{name: "infergate_gpu_sm_clock_mhz", typ: "gauge",
			help: "The device's SM clock in MHz while the target ran: min, median and max of the samples."},
		total: &omFamily{name: "infergate_gpu_memory_total_bytes", typ: "gauge", unit: "bytes",
			help: "Total memory of a GPU of the machine."},
	}
}

func (g *omGPU) addTarget(u *result.GPUUsage, ls []omLabel) {
	if u == nil {
		return
	}
	ls = append(slices.Clone(ls), omLabel{"device", strconv.Itoa(u.Device)}, omLabel{"source", u.Source})
	g.load.add(ls, float64(u.LoadMemoryBytes))
	g.peak.add(ls, float64(u.PeakMemoryBytes))
	if u.UtilisationPct >= 0 {
		g.util.add(ls, u.UtilisationPct/100)
	}
	if c := u.SMClockMHz; clockKnown(c) {
		for _, st := range []struct {
			name string
			mhz  int
		}{{"min", c.Min}, {"median", c.Median}, {"max", c.Max}} {
			g.clock.add(append(slices.Clone(ls), omLabel{"stat", st.name}), float64(st.mhz))
		}
	}
}

func (g *omGPU) addDevices(gpus []result.GPUDevice, tool omLabel) {
	for _, d := range gpus {
		if d.MemoryTotalBytes > 0 {
			g.total.add([]omLabel{{"device", strconv.Itoa(d.Index)}, {"name", d.Name}, tool}, float64(d.MemoryTotalBytes))
		}
	}
}

func (g *omGPU) families() []*omFamily { return []*omFamily{g.load, g.peak, g.util, g.clock, g.total} }
