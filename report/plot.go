package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/infergate/infergate/report/human"
	"github.com/infergate/infergate/result"
)

// The plots of the HTML report, laid out here in numbers and strings and
// drawn as inline SVG by its template: no script, no external resource.

// plot is one SVG chart. Coordinates are pixels in its viewBox.
type plot struct {
	ID      string
	Title   string // heading and the SVG's <title>
	Caption string // the legend in a sentence, under the plot
	Note    string // shown instead of the plot when there is nothing to draw
	W, H    int
	// The plotting area.
	Left, Top, Right, Bottom float64
	XLabel, YLabel           string
	XTicks, YTicks           []tick
	Series                   []series
	Legend                   []legendItem
	// Labels are texts drawn beside points (a sweep's stage names).
	Labels []plotLabel
}

// plotLabel is a short text next to the point X, Y.
type plotLabel struct {
	X, Y, Text string
}

// Empty reports whether there is nothing to draw.
func (p plot) Empty() bool { return len(p.Series) == 0 }

// XMid and YMid centre the axis labels.
func (p plot) XMid() string { return px((p.Left + p.Right) / 2) }
func (p plot) YMid() string { return px((p.Top + p.Bottom) / 2) }

// Frame is the plotting area's corners as strings for the template.
func (p plot) Frame() map[string]string {
	return map[string]string{
		"x": px(p.Left), "y": px(p.Top), "w": px(p.Right - p.Left), "h": px(p.Bottom - p.Top),
		"right": px(p.Right), "bottom": px(p.Bottom), "xlabel": px(p.Bottom + 40), "ylabel": px(p.Left - 52),
	}
}

type tick struct {
	Pos   string // pixel position along the axis
	Label string
}

type series struct {
	Name   string // the <title> of the line
	Color  string
	Dash   string // stroke-dasharray, "" for solid
	Points string // polyline points
	Marks  []mark
}

type mark struct {
	Shape  string // "circle" or "square"
	X, Y   string // centre
	RX, RY string // a square's top left corner
	Filled bool
	Tip    string // the <title> tooltip
}

func newMark(shape string, x, y float64, filled bool, tip string) mark {
	return mark{Shape: shape, X: px(x), Y: px(y), RX: px(x - markSize), RY: px(y - markSize), Filled: filled, Tip: tip}
}

// legendItem is one line of the legend drawn right of the plotting area: a
// stroke, a marker on it, and the label.
type legendItem struct {
	Y, X1, X2, TX string
	Color         string
	Dash          string
	Mark          mark
	Label         string
}

func (p plot) legend(i int, color, dash, shape string, filled bool, label string) legendItem {
	y := p.Top + 10 + 20*float64(i)
	x := p.Right + 20
	return legendItem{Y: px(y), X1: px(x), X2: px(x + 28), TX: px(x + 36), Color: color, Dash: dash,
		Mark: newMark(shape, x+14, y, filled, label), Label: label}
}

// MarkSize is the half-size of a square marker and the radius of a circle.
const markSize = 4.0

func px(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// Roles' colours and marker shapes: production blue circles, candidate
// orange squares, so the two read apart without colour too.
func roleStyle(role result.Role) (color, shape string) {
	switch role {
	case result.RoleCandidate:
		return "#c2410c", "square"
	default:
		return "#1d4ed8", "circle"
	}
}

// latencyUnit picks the unit latency axes show for values up to top ns.
func latencyUnit(top float64) (string, float64) {
	switch {
	case top >= 10e9:
		return "s", 1e9
	case top >= 1e6:
		return "ms", 1e6
	case top >= 1e3:
		return "µs", 1e3
	default:
		return "ns", 1
	}
}

// linearTicks returns about n nice ticks from 0 to top (top itself nice).
func linearTicks(top float64, n int) []float64 {
	step := niceCeil(top / float64(n))
	var out []float64
	for v := 0.0; v <= top*(1+1e-9); v += step {
		out = append(out, v)
		if len(out) > 2*n+2 {
			break
		}
	}
	return out
}

// axisNumber prints a tick value without float noise and without an
// exponent (Mermaid's parser takes none): 0.25, 5, 100000.
func axisNumber(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 6, 64), 64)
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// percentileLabel is the label of the decade d on HdrHistogram's
// percentile axis: 0%, 90%, 99%, 99.9%, …
func percentileLabel(d int) string {
	switch d {
	case 0:
		return "0%"
	case 1:
		return "90%"
	case 2:
		return "99%"
	}
	return "99." + strings.Repeat("9", d-2) + "%"
}

// percentilePlot is the latency distribution of every target on
// HdrHistogram's percentile axis: x = 1/(1-q) on a log scale, so the tail
// (99%, 99.9%, …) gets as much room as the body; y is latency.
func percentilePlot(cols []*result.Target) (plot, error) {
	p := newPlot("percentiles", "Latency by percentile", "percentile (log scale of 1/(1−q))")
	type line struct {
		t    *result.Target
		h    *result.Histogram
		n    int64
		xs   []float64 // decades: log10(1/(1-q))
		vals []float64 // ns
		last float64   // the decade the line ends at
	}
	var lines []line
	var missing []string
	decades := 4
	top := 0.0
	for _, t := range cols {
		h, err := t.Histogram()
		if err != nil {
			return plot{}, err
		}
		n := h.Count()
		if n == 0 {
			missing = append(missing, fmt.Sprintf("%s (%s)", t.Role, nameOf(t)))
			continue
		}
		decades = max(decades, min(6, int(math.Ceil(math.Log10(float64(n))))))
		lines = append(lines, line{t: t, h: h, n: n})
	}
	if len(lines) == 0 {
		p.Note = "No latency samples to plot."
		return p, nil
	}
	const perDecade = 24
	for i := range lines {
		l := &lines[i]
		// The data resolve quantiles up to about 1 - 1/n; as in
		// HdrHistogram's own plots the line goes on, at the largest
		// values, to the next labelled percentile.
		last := math.Min(math.Ceil(math.Log10(float64(l.n))-1e-9), float64(decades))
		l.last = last
		for k := 0; ; k++ {
			x := float64(k) / perDecade
			if x > last {
				x = last
			}
			q := 1 - math.Pow(10, -x)
			v := float64(l.h.Quantile(q))
			l.xs, l.vals = append(l.xs, x), append(l.vals, v)
			top = math.Max(top, v)
			if x >= last {
				break
			}
		}
	}
	unit, scale := latencyUnit(top)
	yTop := niceCeil(top * 1.05 / scale)
	p.YLabel = "latency (" + unit + ")"
	xPos := func(d float64) float64 { return p.Left + (p.Right-p.Left)*d/float64(decades) }
	yPos := func(ns float64) float64 { return p.Bottom - (p.Bottom-p.Top)*(ns/scale)/yTop }
	for d := 0; d <= decades; d++ {
		p.XTicks = append(p.XTicks, tick{Pos: px(xPos(float64(d))), Label: percentileLabel(d)})
		if d == 0 {
			// The median, between 0% and 90%.
			p.XTicks = append(p.XTicks, tick{Pos: px(xPos(math.Log10(2))), Label: "50%"})
		}
	}
	for _, v := range linearTicks(yTop, 5) {
		p.YTicks = append(p.YTicks, tick{Pos: px(yPos(v * scale)), Label: axisNumber(v)})
	}

	var names []string
	for i, l := range lines {
		color, shape := roleStyle(l.t.Role)
		name := fmt.Sprintf("%s %s", l.t.Role, nameOf(l.t))
		s := series{Name: fmt.Sprintf("%s: latency by percentile, %s samples", name, human.Count(l.n)), Color: color}
		pts := make([]string, len(l.xs))
		for j := range l.xs {
			pts[j] = px(xPos(l.xs[j])) + "," + px(yPos(l.vals[j]))
		}
		s.Points = strings.Join(pts, " ")
		// Markers with the numbers at the labelled percentiles.
		for _, q := range []struct {
			label string
			q     float64
		}{{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p99.9", 0.999}, {"p99.99", 0.9999}, {"p99.999", 0.99999}} {
			d := -math.Log10(1 - q.q)
			if d > l.last+1e-9 {
				continue
			}
			v := float64(l.h.Quantile(q.q))
			s.Marks = append(s.Marks, newMark(shape, xPos(d), yPos(v), true,
				fmt.Sprintf("%s: %s %s (%s samples)", name, q.label, human.Duration(time.Duration(v)), human.Count(l.n))))
		}
		p.Series = append(p.Series, s)
		p.Legend = append(p.Legend, p.legend(i, color, "", shape, true, fmt.Sprintf("%s (%s)", l.t.Role, nameOf(l.t))))
		names = append(names, fmt.Sprintf("%s %s: %s (%s)", colorName(color), shapeName(shape), l.t.Role, nameOf(l.t)))
	}
	p.Caption = "One line per target, from its histogram merged over all rounds: " + strings.Join(names, "; ") +
		". The x-axis is HdrHistogram's percentile scale (each step to the right is ten times further into the tail); hover a marker for its value."
	if len(missing) > 0 {
		p.Caption += " Not drawn, without latency samples: " + strings.Join(missing, ", ") + "."
	}
	return p, nil
}

// roundsPlot is p50 and p95 latency per round for every target, the round
// index on x. In a pair the target that ran first in a round is drawn a
// little left of the one that ran second, so the alternation shows.
func roundsPlot(cols []*result.Target, pair bool) (plot, error) {
	p := newPlot("rounds", "Latency per round", "round")
	type point struct {
		x        float64
		p50, p95 float64
		tip      string
	}
	type track struct {
		t   *result.Target
		pts []point
	}
	var tracks []track
	var missing []string
	rounds := 0
	top := 0.0
	for _, t := range cols {
		tr := track{t: t}
		for _, rd := range t.Rounds {
			rounds = max(rounds, rd.Index+1)
			h, err := result.DecodeHistogram(rd.Histogram)
			if err != nil {
				return plot{}, fmt.Errorf("target %s round %d: %w", nameOf(t), rd.Index, err)
			}
			if h.Count() == 0 {
				continue
			}
			x := float64(rd.Index)
			order := "ran alone"
			if pair {
				if rd.Position == 0 {
					x -= 0.12
					order = "ran first in the round"
				} else {
					x += 0.12
					order = "ran second in the round"
				}
			}
			p50, p95 := float64(h.Quantile(0.5)), float64(h.Quantile(0.95))
			top = math.Max(top, p95)
			tip := fmt.Sprintf("round %d (index %d) · %s %s · %s (position %d) · p50 %s · p95 %s · %s, %s",
				rd.Index+1, rd.Index, t.Role, nameOf(t), order, rd.Position,
				human.Duration(time.Duration(p50)), human.Duration(time.Duration(p95)),
				plural(rd.Requests, "request"), plural(rd.Errors, "error"))
			if rd.ElapsedNS > 0 {
				tip += " · busy " + human.Duration(time.Duration(rd.ElapsedNS))
			}
			tr.pts = append(tr.pts, point{x: x, p50: p50, p95: p95, tip: tip})
		}
		if len(tr.pts) > 0 {
			tracks = append(tracks, tr)
		} else {
			missing = append(missing, fmt.Sprintf("%s (%s)", t.Role, nameOf(t)))
		}
	}
	if len(tracks) == 0 {
		p.Note = "No rounds with latency samples to plot."
		return p, nil
	}
	unit, scale := latencyUnit(top)
	yTop := niceCeil(top * 1.1 / scale)
	p.YLabel = "latency (" + unit + ")"
	// Half a round of margin on each side.
	xPos := func(x float64) float64 { return p.Left + (p.Right-p.Left)*(x+0.5)/float64(rounds) }
	yPos := func(ns float64) float64 { return p.Bottom - (p.Bottom-p.Top)*(ns/scale)/yTop }
	// At most about 16 labelled rounds: every 1, 2, 5, 10, 20, … rounds.
	step := 1
	for i := 0; rounds > 16*step; i++ {
		step = []int{2, 5, 10}[i%3] * int(math.Pow10(i/3))
	}
	for i := 0; i < rounds; i += step {
		p.XTicks = append(p.XTicks, tick{Pos: px(xPos(float64(i))), Label: strconv.Itoa(i + 1)})
	}
	for _, v := range linearTicks(yTop, 5) {
		p.YTicks = append(p.YTicks, tick{Pos: px(yPos(v * scale)), Label: axisNumber(v)})
	}

	var names []string
	li := 0
	for _, tr := range tracks {
		color, shape := roleStyle(tr.t.Role)
		who := fmt.Sprintf("%s (%s)", tr.t.Role, nameOf(tr.t))
		for _, stat := range []struct {
			label  string
			get    func(point) float64
			dash   string
			filled bool
		}{
			{"p95", func(p point) float64 { return p.p95 }, "", true},
			{"p50", func(p point) float64 { return p.p50 }, "6 4", false},
		} {
			s := series{Name: fmt.Sprintf("%s %s: %s per round", tr.t.Role, nameOf(tr.t), stat.label), Color: color, Dash: stat.dash}
			var pts []string
			for _, pt := range tr.pts {
				x, y := xPos(pt.x), yPos(stat.get(pt))
				pts = append(pts, px(x)+","+px(y))
				s.Marks = append(s.Marks, newMark(shape, x, y, stat.filled, stat.label+" of "+pt.tip))
			}
			if len(tr.pts) == 1 {
				// A line needs two points: draw a short level stroke.
				x, y := xPos(tr.pts[0].x), yPos(stat.get(tr.pts[0]))
				pts = []string{px(x-8) + "," + px(y), px(x+8) + "," + px(y)}
			}
			s.Points = strings.Join(pts, " ")
			p.Series = append(p.Series, s)
			p.Legend = append(p.Legend, p.legend(li, color, stat.dash, shape, stat.filled, who+" "+stat.label))
			li++
		}
		names = append(names, fmt.Sprintf("%s %s: %s", colorName(color), shapeName(shape), who))
	}
	p.Caption = "p95 (solid lines, filled markers) and p50 (dashed lines, hollow markers) of each round: " + strings.Join(names, "; ") + "."
	if pair {
		p.Caption += " Within a round, the target that ran first is drawn left of the one that ran second."
	}
	p.Caption += " Hover a marker for the round's numbers."
	if len(missing) > 0 {
		p.Caption += " Not drawn, without latency samples: " + strings.Join(missing, ", ") + "."
	}
	return p, nil
}

// sweepPlot is a load sweep's latency/throughput curve: per target one
// line through its stages, throughput (inferences/s) on x, p95 latency on
// y, each marker labelled with its stage.
func sweepPlot(stages []result.Stage, cols []*result.Target, pair bool) plot {
	p := newPlot("sweep", "Latency against throughput", "throughput (inferences/s)")
	type point struct {
		x, y float64
		name string
	}
	tracks := make([][]point, len(cols))
	var xTop, yTop float64
	for i := range stages {
		st := &stages[i]
		for j, c := range stageColumns(st, cols, pair) {
			if c == nil || c.Latency.Count == 0 || c.Throughput.InferencesPerS <= 0 {
				continue
			}
			pt := point{c.Throughput.InferencesPerS, float64(c.Latency.P95NS), st.Name}
			tracks[j] = append(tracks[j], pt)
			xTop, yTop = math.Max(xTop, pt.x), math.Max(yTop, pt.y)
		}
	}
	if xTop <= 0 || yTop <= 0 {
		p.Note = "No stage with latency samples to plot."
		return p
	}
	unit, scale := latencyUnit(yTop)
	yMax := niceCeil(yTop * 1.1 / scale)
	// Whole nice steps just past the largest throughput.
	xStep := niceCeil(xTop * 1.1 / 5)
	xMax := math.Ceil(xTop*1.1/xStep) * xStep
	p.YLabel = "p95 latency (" + unit + ")"
	xPos := func(x float64) float64 { return p.Left + (p.Right-p.Left)*x/xMax }
	yPos := func(ns float64) float64 { return p.Bottom - (p.Bottom-p.Top)*(ns/scale)/yMax }
	for _, v := range linearTicks(xMax, 5) {
		p.XTicks = append(p.XTicks, tick{Pos: px(xPos(v)), Label: human.Rate(v)})
	}
	for _, v := range linearTicks(yMax, 5) {
		p.YTicks = append(p.YTicks, tick{Pos: px(yPos(v * scale)), Label: axisNumber(v)})
	}
	var names []string
	li := 0
	for j, tr := range tracks {
		if len(tr) == 0 {
			continue
		}
		t := cols[j]
		color, shape := roleStyle(t.Role)
		who := fmt.Sprintf("%s (%s)", t.Role, nameOf(t))
		s := series{Name: who + ": p95 latency against throughput, one point per stage", Color: color}
		var pts []string
		for _, pt := range tr {
			x, y := xPos(pt.x), yPos(pt.y)
			pts = append(pts, px(x)+","+px(y))
			s.Marks = append(s.Marks, newMark(shape, x, y, true, fmt.Sprintf("%s · %s: p95 %s at %s inferences/s",
				pt.name, who, human.Duration(time.Duration(pt.y)), human.Rate(pt.x))))
			// Production's labels above its markers, the candidate's
			// below, so that close points keep readable labels.
			dy := -6.0
			if t.Role == result.RoleCandidate {
				dy = 14
			}
			p.Labels = append(p.Labels, plotLabel{X: px(x + 6), Y: px(y + dy), Text: pt.name})
		}
		if len(pts) == 1 {
			x, y := xPos(tr[0].x), yPos(tr[0].y)
			pts = []string{px(x-8) + "," + px(y), px(x+8) + "," + px(y)}
		}
		s.Points = strings.Join(pts, " ")
		p.Series = append(p.Series, s)
		p.Legend = append(p.Legend, p.legend(li, color, "", shape, true, who))
		li++
		names = append(names, fmt.Sprintf("%s %s: %s", colorName(color), shapeName(shape), who))
	}
	p.Caption = "p95 latency against throughput, one point per stage of the sweep, labelled with the stage, joined in the order the stages ran: " +
		strings.Join(names, "; ") + ". Where throughput stops growing while latency climbs, the model is saturated. Hover a marker for its numbers."
	return p
}

func newPlot(id, title, xLabel string) plot {
	return plot{ID: id, Title: title, XLabel: xLabel, W: 880, H: 360,
		Left: 72, Top: 16, Right: 640, Bottom: 300}
}

func colorName(c string) string {
	if c == "#c2410c" {
		return "orange"
	}
	return "blue"
}

func shapeName(s string) string {
	if s == "square" {
		return "squares"
	}
	return "circles"
}
