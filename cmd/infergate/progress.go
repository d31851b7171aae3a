package main

// Progress on stderr: a live display on a terminal, timestamped lines in
// CI or a pipe, nothing with --quiet, every line with --verbose. Stdout
// carries the report only.
//
// The live display uses github.com/schollz/progressbar/v3 rather than
// github.com/vbauerster/mpb/v8: it is one bar, and progressbar renders a
// determinate bar synchronously on the caller's goroutine, starting none
// of its own, so the one mutex here orders the bar's redraws, the lines
// printed above it and the report that follows. mpb renders from its own
// goroutine, which must be drained (Wait) before anything else writes to
// the terminal, and brings a multi-bar layout engine this does not need.

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/infergate/infergate/bench"
	"github.com/infergate/infergate/result"
)

// progressMode is how progress is shown.
type progressMode int

const (
	progressQuiet   progressMode = iota // --quiet: nothing
	progressPlain                       // CI or piped: lines, rounds throttled
	progressVerbose                     // --verbose: every line and round
	progressLive                        // a terminal: lines above one redrawn bar
)

// plainRoundEvery is how often plain mode prints the rounds' progress at
// most; phase changes and looks always print.
const plainRoundEvery = 5 * time.Second

// liveRedraw is how often the live display redraws for its clock.
const liveRedraw = 500 * time.Millisecond

// progress shows a measurement's progress on stderr. Its methods are safe
// for concurrent use, and do nothing on a nil *progress.
type progress struct {
	mu    sync.Mutex
	mode  progressMode
	w     io.Writer
	now   func() time.Time
	start time.Time
	width int // the terminal's columns (live mode)

	phase    string // "load", bench.PhaseWarmup, bench.PhaseRounds
	stage    string // a sweep's stage, "" otherwise
	loaded   int    // models loading or loaded, of models
	models   int
	at       bench.Progress
	estimate string    // the main check at the last look (live mode)
	shown    time.Time // when plain mode last printed the rounds

	bar  *progressbar.ProgressBar
	stop chan struct{} // ends the live clock
	done bool
}

// newProgress decides how a command shows progress: quiet, verbose, live
// on a terminal (stderr is one, not CI, not TERM=dumb), plain otherwise.
func newProgress(e *env, quiet, verbose bool) *progress {
	p := &progress{w: e.Stderr, now: time.Now}
	width := e.termWidth(e.Stderr)
	switch {
	case quiet:
		p.mode = progressQuiet
	case verbose:
		p.mode = progressVerbose
	case width > 0 && !inCI(e.Getenv) && e.Getenv("TERM") != "dumb":
		p.mode, p.width = progressLive, width
	default:
		p.mode = progressPlain
	}
	p.start = p.now()
	if p.mode == progressLive {
		p.stop = make(chan struct{})
		go p.clock(p.stop)
	}
	return p
}

// inCI reports whether this looks like a CI job, whose log is no terminal
// even when a pseudo-terminal is attached.
func inCI(getenv func(string) string) bool {
	return getenv("CI") == "true" || getenv(envGitHubActions) == "true"
}

// useColour reports whether output to w may be coloured: w is a terminal,
// NO_COLOR (https://no-color.org) is unset or empty, TERM is not dumb.
func useColour(e *env, w io.Writer) bool {
	return e.termWidth(w) > 0 && e.Getenv("NO_COLOR") == "" && e.Getenv("TERM") != "dumb"
}

// termWidth is w's width in columns when w is a terminal, else 0.
func (e *env) termWidth(w io.Writer) int {
	if e.TermWidth != nil {
		return e.TermWidth(w)
	}
	return 0
}

// fileTermWidth is env.TermWidth for the process: the columns of a file
// that is a terminal (80 when it does not say), else 0.
func fileTermWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0
	}
	if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
		return cols
	}
	return 80
}

// logf is the bench.Logf of progress lines: phase changes, looks, checks.
// They always print (but with --quiet); on a terminal, above the bar.
func (p *progress) logf(format string, args ...any) {
	if p == nil || p.mode == progressQuiet {
		return
	}
	line := fmt.Sprintf(format, args...)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.println(line)
}

// println prints a timestamped line, above the bar on a terminal.
func (p *progress) println(line string) {
	if p.done {
		return
	}
	if p.bar != nil {
		p.bar.Clear()
	}
	fmt.Fprintf(p.w, "[%6.1fs] %s\n", p.now().Sub(p.start).Seconds(), line)
	p.redraw()
}

// loading marks model i of n as loading.
func (p *progress) loading(i, n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.models, p.loaded = n, i
	p.setPhase("load", n)
	if p.bar != nil {
		p.bar.Set(i)
	}
	p.redraw()
}

// setStage names the sweep stage the next measurement is of.
func (p *progress) setStage(name string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stage, p.estimate = name, ""
}

// update is the bench.Hooks Progress hook.
func (p *progress) update(at bench.Progress) {
	if p == nil || p.mode == progressQuiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	prev := p.at
	p.at = at
	switch at.Phase {
	case bench.PhaseWarmup:
		p.setPhase(bench.PhaseWarmup, at.Targets)
		if p.bar != nil && at.Target > 0 {
			p.bar.Set(at.Target)
		}
	case bench.PhaseRounds:
		if p.phase != bench.PhaseRounds || at.Round == 0 {
			p.setPhase(bench.PhaseRounds, at.Rounds)
			p.shown = p.now()
		}
		if p.bar != nil {
			p.bar.Set(min(at.Round, at.Rounds))
		}
		if at.Round == 0 || at.Look != prev.Look {
			break // the start and the looks have their own lines
		}
		switch p.mode {
		case progressVerbose:
			p.println(p.prefix() + roundLine(at, true))
		case progressPlain:
			if now := p.now(); now.Sub(p.shown) >= plainRoundEvery {
				p.shown = now
				p.println(p.prefix() + roundLine(at, false))
			}
		}
	}
	p.redraw()
}

// judged notes the checks as judged at a look: the live display shows the
// main one (plain lines have them all, from the judge's own lines).
func (p *progress) judged(checks []result.Check, look, looks int) {
	if p == nil || p.mode != progressLive {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := mainCheck(checks); ok {
		p.estimate = fmt.Sprintf("%s at look %d/%d", estimateOf(c), look, looks)
	}
	p.redraw()
}

// finish stops the display and clears the bar, before the report.
func (p *progress) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	p.done = true
	if p.stop != nil {
		close(p.stop)
	}
	if p.bar != nil {
		p.bar.Clear()
		p.bar = nil
	}
}

// clock redraws the live display, for its elapsed time, until stop.
func (p *progress) clock(stop <-chan struct{}) {
	t := time.NewTicker(liveRedraw)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.redraw()
			p.mu.Unlock()
		}
	}
}

// setPhase starts a phase; live mode gets a fresh bar of max steps.
func (p *progress) setPhase(phase string, steps int) {
	if p.phase == phase && p.bar != nil {
		return
	}
	p.phase = phase
	if p.mode != progressLive || p.done {
		return
	}
	if p.bar != nil {
		p.bar.Clear()
	}
	p.bar = progressbar.NewOptions(max(1, steps),
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetWidth(16),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetElapsedTime(false),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionUseANSICodes(true),
		progressbar.OptionSetDescription(p.describe()),
	)
}

// redraw redraws the bar with the current description.
func (p *progress) redraw() {
	if p.bar == nil || p.done {
		return
	}
	p.bar.Describe(p.describe())
}

// describe is the text after the live bar: phase, clock, progress and the
// estimate, cut to the terminal's width so that the line never wraps.
func (p *progress) describe() string {
	elapsed := p.now().Sub(p.start).Round(100 * time.Millisecond)
	parts := []string{p.prefix() + p.phase, fmt.Sprintf("%.1fs", elapsed.Seconds())}
	switch p.phase {
	case "load":
		parts[0] += fmt.Sprintf(" (model %d of %d)", p.loaded+1, p.models)
	case bench.PhaseWarmup:
		if p.at.Target >= 0 {
			parts[0] += fmt.Sprintf(" (model %d of %d)", p.at.Target+1, p.at.Targets)
		}
	case bench.PhaseRounds:
		m := fmt.Sprintf("measured %.1fs", p.at.Measured.Seconds())
		if p.at.Budget > 0 {
			m += fmt.Sprintf("/%v", p.at.Budget)
		}
		parts = append(parts, m)
		if p.estimate != "" {
			parts = append(parts, p.estimate)
		}
	}
	s := strings.Join(parts, " · ")
	// The bar, its percentage and count take about 34 columns.
	if room := p.width - 36; room > 10 && len([]rune(s)) > room {
		s = string([]rune(s)[:room-1]) + "…"
	}
	return s
}

// prefix names the sweep stage, if any.
func (p *progress) prefix() string {
	if p.stage == "" {
		return ""
	}
	return p.stage + ": "
}

// roundLine is a plain line for rounds done.
func roundLine(at bench.Progress, verbose bool) string {
	var s string
	if at.Budget > 0 {
		s = fmt.Sprintf("round %d done (%.1fs of the %v budget measured, at most %d rounds)", at.Round, at.Measured.Seconds(), at.Budget, at.Rounds)
	} else {
		s = fmt.Sprintf("round %d/%d done (%.1fs measured)", at.Round, at.Rounds, at.Measured.Seconds())
	}
	if verbose {
		s += fmt.Sprintf(", this round %v", at.RoundTime.Round(time.Millisecond))
	}
	return s
}

// mainCheck is the check the live display follows: the latency ratio,
// else the first ratio, else the first check.
func mainCheck(checks []result.Check) (result.Check, bool) {
	for _, c := range checks {
		if c.Name == "max-latency-increase" {
			return c, true
		}
	}
	for _, c := range checks {
		if c.Ratio != 0 {
			return c, true
		}
	}
	if len(checks) > 0 {
		return checks[0], true
	}
	return result.Check{}, false
}

// estimateOf is a check's estimate for the live display.
func estimateOf(c result.Check) string {
	if c.Ratio != 0 {
		return fmt.Sprintf("%s %.3f× [%.3f, %.3f] %s", strings.TrimPrefix(c.Metric, "latency_"), c.Ratio, c.Lower, c.Upper, c.Outcome)
	}
	return c.Name + " " + string(c.Outcome)
}
