package report

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/infergate/infergate/compare"
	"github.com/infergate/infergate/report/human"
	"github.com/infergate/infergate/result"
)

// sizeSection is "latency by input size": a row per size bucket with each
// target's p50/p95/p99 and errors (and, for a pair, the p50 ratio and the
// ratio at the percentile the latency check judges), and a line per
// target with its slope and rank correlation.
type sizeSection struct {
	measure  string // "sequence length" or "elements"
	buckets  []result.SizeBucketDef
	profiles []compare.SizeProfile // one per view column
	table    table
	notes    []string
}

func (s *sizeSection) empty() bool { return s == nil || len(s.table.rows) == 0 }

func sizeUnit(measure string) string {
	if measure == "seq_len" {
		return "sequence length"
	}
	return "elements"
}

func ns(v float64) string { return human.Duration(time.Duration(v)) }

// collectSizes builds the section; nil when the result has no sizes.
func collectSizes(r *result.Result, cols []*result.Target, pair bool) (*sizeSection, error) {
	// One bucket (every batch the same size) has nothing to break down.
	if r.InputSizes == nil || len(r.InputSizes.Buckets) < 2 || len(cols) == 0 {
		return nil, nil
	}
	profiles, err := compare.SizeProfiles(r, cols)
	if err != nil {
		return nil, err
	}
	s := &sizeSection{measure: sizeUnit(r.InputSizes.Measure), buckets: r.InputSizes.Buckets, profiles: profiles}
	header := []string{s.measure}
	numeric := []bool{false}
	for _, t := range cols {
		who := string(t.Role)
		if !pair {
			who = nameOf(t)
		}
		header = append(header, "p50 "+who, "p95 "+who, "p99 "+who, "errors "+who)
		numeric = append(numeric, true, true, true, true)
	}
	// The gated percentile's ratio is the one a latency check would see
	// in the bucket; at p50 it is the first ratio already.
	gated := pair && profiles[0].Quantile != 0.5
	if pair {
		header = append(header, "p50 ratio")
		numeric = append(numeric, true)
	}
	if gated {
		header = append(header, percentileName(profiles[0].Quantile)+" ratio")
		numeric = append(numeric, true)
	}
	s.table = table{header: header, numeric: numeric}
	for k, b := range s.buckets {
		row := []string{b.Label}
		any := false
		for i := range cols {
			rw := profiles[i].Rows[k]
			if rw.Count+rw.Errors > 0 {
				any = true
			}
			if rw.HasLatency {
				row = append(row, ns(rw.P50), ns(rw.P95), ns(rw.P99))
			} else {
				row = append(row, dash, dash, dash)
			}
			e := fmt.Sprint(rw.Errors)
			if rw.Errors > 0 {
				e += " (" + human.Percent(rw.ErrorRate) + ")"
			}
			row = append(row, e)
		}
		if pair {
			p, c := profiles[0].Rows[k], profiles[1].Rows[k]
			row = append(row, ratioCell(p, c, p.P50, c.P50))
			if gated {
				row = append(row, ratioCell(p, c, p.Gated, c.Gated))
			}
		}
		if any {
			s.table.rows = append(s.table.rows, row)
		}
	}
	unit := "token"
	if r.InputSizes.Measure != "seq_len" {
		unit = "element"
	}
	for i, t := range cols {
		p := profiles[i]
		who := string(t.Role) + " (" + nameOf(t) + ")"
		line := who + ": slope "
		if p.HasSlope {
			line += slopeText(p.Slope, unit)
		} else {
			line += dash
		}
		line += ", Spearman "
		if p.HasSpearman {
			line += fmt.Sprintf("%.2f", p.Spearman)
		} else {
			line += dash
		}
		s.notes = append(s.notes, line)
	}
	s.notes = append(s.notes, "Slope: Theil–Sen through the buckets' p50 against their mean "+s.measure+
		"; Spearman: rank correlation of size and p50 over every round's buckets.")
	return s, nil
}

// ratioCell is candidate/production of one bucket's latency, or a dash
// when either side has none.
func ratioCell(p, c compare.SizeRow, pv, cv float64) string {
	if p.HasLatency && c.HasLatency && pv > 0 {
		return fmt.Sprintf("%.2f×", cv/pv)
	}
	return dash
}

// percentileName is "p95" for 0.95, "p99.9" for 0.999.
func percentileName(q float64) string {
	return strings.TrimPrefix(compare.LatencyMetric(q), "latency_")
}

// slopeText prints a slope in ns per unit of size as a duration per unit.
func slopeText(v float64, unit string) string {
	if v < 0 {
		return "-" + slopeText(-v, unit)
	}
	if v < 100 {
		return fmt.Sprintf("%.3gns per %s", v, unit)
	}
	return human.Duration(time.Duration(math.Round(v))) + " per " + unit
}

// sizePlot draws p50 (solid) and p95 (dashed) per bucket per target.
func sizePlot(s *sizeSection, cols []*result.Target) plot {
	p := newPlot("input-size-plot", "Latency by input size", s.measure+" bucket")
	var top float64
	for i := range cols {
		for _, rw := range s.profiles[i].Rows {
			if rw.HasLatency {
				top = math.Max(top, rw.P95)
			}
		}
	}
	if top <= 0 {
		p.Note = "No input-size bucket with latency samples to plot."
		return p
	}
	unit, scale := latencyUnit(top)
	yMax := niceCeil(top * 1.1 / scale)
	p.YLabel = "latency (" + unit + ")"
	nb := len(s.buckets)
	xPos := func(k int) float64 { return p.Left + (p.Right-p.Left)*(float64(k)+0.5)/float64(nb) }
	yPos := func(v float64) float64 { return p.Bottom - (p.Bottom-p.Top)*(v/scale)/yMax }
	for k, b := range s.buckets {
		p.XTicks = append(p.XTicks, tick{Pos: px(xPos(k)), Label: b.Label})
	}
	for _, v := range linearTicks(yMax, 5) {
		p.YTicks = append(p.YTicks, tick{Pos: px(yPos(v * scale)), Label: axisNumber(v)})
	}
	var names []string
	li := 0
	for i, t := range cols {
		color, shape := roleStyle(t.Role)
		who := fmt.Sprintf("%s (%s)", t.Role, nameOf(t))
		for _, q := range []struct {
			name   string
			dash   string
			filled bool
			get    func(compare.SizeRow) float64
		}{
			{"p50", "", true, func(r compare.SizeRow) float64 { return r.P50 }},
			{"p95", "6 4", false, func(r compare.SizeRow) float64 { return r.P95 }},
		} {
			sr := series{Name: who + ": " + q.name + " per input-size bucket", Color: color, Dash: q.dash}
			var pts []string
			for k, rw := range s.profiles[i].Rows {
				if !rw.HasLatency {
					continue
				}
				x, y := xPos(k), yPos(q.get(rw))
				pts = append(pts, px(x)+","+px(y))
				sr.Marks = append(sr.Marks, newMark(shape, x, y, q.filled, fmt.Sprintf("%s · %s %s: %s",
					s.buckets[k].Label, who, q.name, ns(q.get(rw)))))
			}
			if len(pts) == 0 {
				continue
			}
			sr.Points = strings.Join(pts, " ")
			p.Series = append(p.Series, sr)
			p.Legend = append(p.Legend, p.legend(li, color, q.dash, shape, q.filled, q.name+" "+who))
			li++
		}
		names = append(names, fmt.Sprintf("%s %s: %s", colorName(color), shapeName(shape), who))
	}
	p.Caption = "p50 (solid, filled markers) and p95 (dashed, hollow markers) latency per " + s.measure +
		" bucket: " + strings.Join(names, "; ") + ". A line that climbs faster than the other's means cost grows faster with the input. Hover a marker for its numbers."
	return p
}
