package report

import (
	"bytes"
	_ "embed"
	"html/template"
	"strings"
	"unicode/utf8"

	"github.com/infergate/infergate/result"
)

// NewHTML returns a reporter that writes one self-contained HTML page: the
// verdict, the checks, a load sweep's stages and latency/throughput curve,
// the latency distribution on HdrHistogram's
// percentile axis, latency per round for both targets, the metrics, and
// the configuration and machine. It loads nothing: styles are inline, the
// plots are inline SVG drawn here (no script), and every text from the
// document is escaped by html/template. It opens from a CI artifact, an
// e-mail or a disk with no network.
func NewHTML(r *result.Result) Reporter { return buffered(r, "html", renderHTML) }

//go:embed html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"markColor": func(m mark, color string) coloredMark {
		return coloredMark{Shape: m.Shape, X: m.X, Y: m.Y, RX: m.RX, RY: m.RY, Filled: m.Filled, Tip: m.Tip, Color: color}
	},
}).Parse(htmlSource))

// coloredMark is a marker with its series' colour, for the template.
type coloredMark struct {
	Shape, X, Y, RX, RY string
	Filled              bool
	Tip, Color          string
}

// htmlPage is what the template shows, all of it already formatted.
type htmlPage struct {
	Title          string
	Verdict        string // "FAIL"
	VerdictClass   string // pass, fail, inconclusive, error, none
	VerdictDetails string
	Subtitle       string
	Notices        []string
	Targets        []string
	Checks         htmlTable
	Messages       []string   // why checks did not pass
	Sweep          *htmlSweep // a load sweep's stages; nil without one
	Plots          []plot
	// Sizes is "latency by input size"; nil when the result has none.
	Sizes   *htmlSizes
	Profile *htmlProfile // "where the time went"; nil when not profiled
	Parity  *htmlParity  // "output parity"; nil without --check-outputs
	Metrics htmlTable
	// MetricsTitle heads the metrics table, naming its groups.
	MetricsTitle string
	Methods      []string
	Floor        []string
	Warnings     []string
	Meta         []string
	Config       []htmlSetting
	Machine      []htmlSetting
	Tool         string
}

// htmlSweep is a load sweep's section: the stages table and the curve.
type htmlSizes struct {
	Table htmlTable
	Notes []string
	Plot  plot
}

type htmlSweep struct {
	Note  string
	Table htmlTable
	Plot  plot
}

type htmlTable struct {
	Header []htmlCell
	Groups []htmlGroup
}

type htmlGroup struct {
	Name string // "" for none
	Rows []htmlRow
}

type htmlRow struct {
	Class string
	Cells []htmlCell
}

type htmlCell struct {
	Text    string
	Numeric bool
	Class   string
}

type htmlSetting struct{ Key, Value string }

func renderHTML(b *bytes.Buffer, r *result.Result) error {
	v := collect(r)
	page := htmlPage{
		Title:          v.title,
		Verdict:        v.verdictWord,
		VerdictClass:   string(r.Verdict),
		VerdictDetails: strings.Join(v.verdictDetails, "; "),
		Subtitle:       v.title,
		Notices:        v.notices,
		Floor:          v.floorNotes,
		Warnings:       v.warnings,
		Meta:           v.meta,
		Tool:           strings.TrimSpace(r.Tool.Name + " " + r.Tool.Version),
	}
	switch r.Verdict {
	case result.VerdictPass, result.VerdictFail, result.VerdictInconclusive, result.VerdictError:
	case result.VerdictNone:
		page.Verdict = "MEASURED"
	default:
		page.VerdictClass = "none"
	}
	for _, t := range v.cols {
		line := targetLabel(t)
		if len(t.Inputs) > 0 {
			line += " · inputs " + strings.Join(t.Inputs, ", ")
		}
		page.Targets = append(page.Targets, line)
	}

	if len(v.rows) > 0 {
		page.Checks.Header = headerCells(v.checks)
		g := htmlGroup{}
		for i, row := range v.checks.rows {
			cr := v.rows[i]
			hr := htmlRow{Class: "outcome-" + strings.ToLower(cr.outcome)}
			for j, c := range row {
				cell := htmlCell{Text: c, Numeric: v.checks.numeric[j]}
				if j == len(row)-1 {
					cell.Class = "outcome"
				}
				hr.Cells = append(hr.Cells, cell)
			}
			g.Rows = append(g.Rows, hr)
			if cr.check.Outcome != result.OutcomePass && cr.check.Message != "" {
				page.Messages = append(page.Messages, cr.name+": "+cr.check.Message)
			}
			if cr.check.Method != "" {
				page.Methods = append(page.Methods, cr.name+": "+cr.check.Method)
			}
		}
		page.Checks.Groups = []htmlGroup{g}
	}
	if len(v.stages.header) > 0 {
		sw := &htmlSweep{Table: htmlTable{Header: headerCells(v.stages)}}
		if v.shownStage != "" {
			sw.Note = "One whole measurement per stage, each judged with the checks; the other sections show " + v.shownStage + "."
		}
		g := htmlGroup{}
		for i, row := range v.stages.rows {
			hr := htmlRow{Class: "outcome-" + string(r.Stages[i].Verdict)}
			for j, c := range row {
				cell := htmlCell{Text: c, Numeric: v.stages.numeric[j]}
				if j == len(row)-1 {
					cell.Class = "outcome"
				}
				hr.Cells = append(hr.Cells, cell)
			}
			g.Rows = append(g.Rows, hr)
		}
		sw.Table.Groups = []htmlGroup{g}
		sw.Plot = sweepPlot(r.Stages, v.cols, v.pair)
		for i := range sw.Plot.Legend {
			sw.Plot.Legend[i].Label = shorten(sw.Plot.Legend[i].Label, 28)
		}
		page.Sweep = sw
	}
	if r.Config.AA {
		page.Floor = append([]string{"A/A run: production against itself, measuring the noise floor"}, page.Floor...)
	}

	page.MetricsTitle = "Latency, throughput, memory and errors"
	if hasGPU(v.cols) {
		page.MetricsTitle = "Latency, throughput, memory, GPU and errors"
	}
	if len(v.cols) > 0 {
		page.Metrics.Header = headerCells(v.metrics)
		t := v.metrics
		for i, row := range t.rows {
			if len(page.Metrics.Groups) == 0 || page.Metrics.Groups[len(page.Metrics.Groups)-1].Name != t.groups[i] {
				page.Metrics.Groups = append(page.Metrics.Groups, htmlGroup{Name: t.groups[i]})
			}
			g := &page.Metrics.Groups[len(page.Metrics.Groups)-1]
			hr := htmlRow{Cells: []htmlCell{{Text: groupLabel(t.groups[i], t.labels[i])}}}
			for j, c := range row[1:] {
				hr.Cells = append(hr.Cells, htmlCell{Text: c, Numeric: t.numeric[j+1]})
			}
			g.Rows = append(g.Rows, hr)
		}

		pp, err := percentilePlot(v.cols)
		if err != nil {
			return err
		}
		rp, err := roundsPlot(v.cols, v.pair)
		if err != nil {
			return err
		}
		for _, p := range []*plot{&pp, &rp} {
			for i := range p.Legend {
				p.Legend[i].Label = shorten(p.Legend[i].Label, 28)
			}
		}
		page.Plots = []plot{pp, rp}
	}
	if !v.sizes.empty() {
		sz := &htmlSizes{Table: htmlTable{Header: headerCells(v.sizes.table)}, Notes: v.sizes.notes}
		g := htmlGroup{}
		for _, row := range v.sizes.table.rows {
			hr := htmlRow{}
			for j, c := range row {
				hr.Cells = append(hr.Cells, htmlCell{Text: c, Numeric: v.sizes.table.numeric[j]})
			}
			g.Rows = append(g.Rows, hr)
		}
		sz.Table.Groups = []htmlGroup{g}
		sz.Plot = sizePlot(v.sizes, v.cols)
		for i := range sz.Plot.Legend {
			sz.Plot.Legend[i].Label = shorten(sz.Plot.Legend[i].Label, 28)
		}
		page.Sizes = sz
	}
	page.Profile = newHTMLProfile(v.profile)
	page.Parity = newHTMLParity(v.parity)

	for _, s := range configSettings(r) {
		page.Config = append(page.Config, htmlSetting{s.key, s.value})
	}
	for _, s := range machineSettings(r) {
		page.Machine = append(page.Machine, htmlSetting{s.key, s.value})
	}
	if err := htmlTemplate.Execute(b, page); err != nil {
		return err
	}
	b.WriteByte('\n')
	return nil
}

func headerCells(t table) []htmlCell {
	var out []htmlCell
	for i, h := range t.header {
		out = append(out, htmlCell{Text: h, Numeric: t.numeric[i]})
	}
	return out
}

// shorten cuts s to n runes with an ellipsis.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
