package main

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/infergate/infergate/bench"
	"github.com/infergate/infergate/result"
)

// fakeClock is a settable clock for the progress display.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// testProgress is a progress display on a buffer, with a fake clock and a
// fake terminal flag and environment.
func testProgress(t *testing.T, quiet, verbose, terminal bool, vars map[string]string) (*progress, *bytes.Buffer, *fakeClock) {
	t.Helper()
	var buf bytes.Buffer
	e := testEnv(&buf, terminal, vars)
	p := newProgress(e, quiet, verbose)
	if p.stop != nil {
		// The tests drive the clock: no redraws of their own.
		close(p.stop)
		p.stop = nil
	}
	clock := &fakeClock{t: time.Unix(1000, 0)}
	p.now, p.start = clock.now, clock.t
	return p, &buf, clock
}

func testEnv(stderr io.Writer, terminal bool, vars map[string]string) *env {
	return &env{
		Stdout: io.Discard, Stderr: stderr,
		Getenv: func(k string) string { return vars[k] },
		TermWidth: func(io.Writer) int {
			if terminal {
				return 120
			}
			return 0
		},
	}
}

// drive runs a measurement's worth of progress: two models load, warm
// up, then 40 rounds of 1s each with looks after rounds 10, 20 and 40.
func drive(p *progress, clock *fakeClock) {
	for i := range 2 {
		p.logf("loading model %d", i)
		p.loading(i, 2)
		clock.advance(time.Second)
	}
	p.update(bench.Progress{Phase: bench.PhaseWarmup, Target: -1, Targets: 2})
	p.logf("warmup done")
	clock.advance(time.Second)
	at := bench.Progress{Phase: bench.PhaseRounds, Rounds: 40, Looks: 3}
	p.logf("measuring rounds")
	p.update(at)
	looks := map[int]int{10: 1, 20: 2, 40: 3}
	for r := 1; r <= 40; r++ {
		clock.advance(time.Second)
		at.Round, at.Measured, at.RoundTime = r, time.Duration(r)*time.Second, time.Second
		if l, ok := looks[r]; ok {
			p.logf("look %d/3 after %d rounds", l, r)
			at.Look = l
			p.update(at)
			p.judged([]result.Check{{Name: "max-latency-increase", Metric: "latency_p50", Ratio: 1.02, Lower: 0.99, Upper: 1.05, Threshold: 1.15, Outcome: result.OutcomeInconclusive}}, l, 3)
			p.logf("  max-latency-increase: 1.020× [0.990, 1.050] vs 1.15: inconclusive")
			continue
		}
		p.update(at)
	}
	p.finish()
}

func TestProgressPlainThrottlesRounds(t *testing.T) {
	p, buf, clock := testProgress(t, false, false, false, nil)
	drive(p, clock)
	out := buf.String()
	if p.mode != progressPlain {
		t.Fatalf("mode %v, want plain", p.mode)
	}
	var rounds []time.Duration
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, "[") || !strings.Contains(l, "s] ") {
			t.Errorf("line not timestamped: %q", l)
		}
		if strings.Contains(l, "] round ") {
			var secs float64
			if _, err := fmtSscanf(l, &secs); err != nil {
				t.Fatal(err)
			}
			rounds = append(rounds, time.Duration(secs*float64(time.Second)))
		}
	}
	if len(rounds) == 0 {
		t.Fatalf("no round lines:\n%s", out)
	}
	for i := 1; i < len(rounds); i++ {
		if d := rounds[i] - rounds[i-1]; d < plainRoundEvery {
			t.Errorf("round lines %v apart, want ≥ %v:\n%s", d, plainRoundEvery, out)
		}
	}
	// Phase changes and looks always print.
	for _, want := range []string{"loading model 0", "loading model 1", "warmup done", "measuring rounds",
		"look 1/3 after 10 rounds", "look 2/3 after 20 rounds", "look 3/3 after 40 rounds", "max-latency-increase: 1.020×",
		"[   3.0s] measuring rounds", "[   8.0s] round 5/40 done (5.0s measured)"} {
		if !strings.Contains(out, want) {
			t.Errorf("plain output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") || strings.Contains(out, "\r") {
		t.Errorf("plain output redraws or colours:\n%q", out)
	}
}

// fmtSscanf reads a plain line's timestamp.
func fmtSscanf(line string, secs *float64) (int, error) {
	return fmtSscan(strings.TrimSpace(strings.TrimPrefix(line[:strings.Index(line, "s]")], "[")), secs)
}

func TestProgressQuiet(t *testing.T) {
	for _, terminal := range []bool{false, true} {
		p, buf, clock := testProgress(t, true, true, terminal, nil)
		drive(p, clock)
		if buf.Len() != 0 {
			t.Errorf("terminal=%v: quiet printed:\n%s", terminal, buf)
		}
	}
}

func TestProgressVerbose(t *testing.T) {
	// Verbose is plain lines even on a terminal: every round, unthrottled.
	p, buf, clock := testProgress(t, false, true, true, nil)
	drive(p, clock)
	out := buf.String()
	for r := 1; r <= 40; r++ {
		if r == 10 || r == 20 || r == 40 {
			continue // a look's line says it
		}
		want := "round " + itoa(r) + "/40 done (" + itoa(r) + ".0s measured), this round 1s"
		if !strings.Contains(out, want) {
			t.Errorf("verbose output lacks %q", want)
		}
	}
	if strings.Contains(out, "\x1b[") || strings.Contains(out, "\r") {
		t.Errorf("verbose output redraws or colours:\n%q", out)
	}
}

func TestProgressLive(t *testing.T) {
	p, buf, clock := testProgress(t, false, false, true, nil)
	if p.mode != progressLive {
		t.Fatalf("mode %v on a terminal, want live", p.mode)
	}
	drive(p, clock)
	out := buf.String()
	for _, want := range []string{"\x1b[2K\r", "load (model 2 of 2)", "warmup", "(12/40) rounds · 15.0s · measured 12.0s",
		"p50 1.020× [0.990, 1.050] inconclusive at look 2/3", "[   3.0s] measuring rounds\n", "look 3/3 after 40 rounds"} {
		if !strings.Contains(out, want) {
			t.Errorf("live output lacks %q:\n%q", want, out)
		}
	}
	// No plain round lines: the bar shows the rounds.
	if strings.Contains(out, "] round ") {
		t.Errorf("live output has round lines:\n%q", out)
	}
	// Finished, the display is cleared and says nothing more.
	n := buf.Len()
	p.logf("after")
	p.update(bench.Progress{Phase: bench.PhaseRounds, Round: 41, Rounds: 40})
	if buf.Len() != n {
		t.Errorf("progress printed after finish: %q", out[n:])
	}
}

func TestProgressModes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		terminal bool
		vars     map[string]string
		want     progressMode
	}{
		{"terminal", true, nil, progressLive},
		{"piped", false, nil, progressPlain},
		{"CI", true, map[string]string{"CI": "true"}, progressPlain},
		{"GitHub Actions", true, map[string]string{"GITHUB_ACTIONS": "true"}, progressPlain},
		{"dumb terminal", true, map[string]string{"TERM": "dumb"}, progressPlain},
	} {
		p, _, _ := testProgress(t, false, false, tc.terminal, tc.vars)
		if p.mode != tc.want {
			t.Errorf("%s: mode %v, want %v", tc.name, p.mode, tc.want)
		}
	}
}

func TestUseColour(t *testing.T) {
	for _, tc := range []struct {
		name     string
		terminal bool
		vars     map[string]string
		want     bool
	}{
		{"terminal", true, nil, true},
		{"piped", false, nil, false},
		{"NO_COLOR", true, map[string]string{"NO_COLOR": "1"}, false},
		{"empty NO_COLOR", true, map[string]string{"NO_COLOR": ""}, true},
		{"dumb", true, map[string]string{"TERM": "dumb"}, false},
	} {
		e := testEnv(io.Discard, tc.terminal, tc.vars)
		if got := useColour(e, e.Stdout); got != tc.want {
			t.Errorf("%s: colour %v, want %v", tc.name, got, tc.want)
		}
	}
	// The table and warnings: codes on a terminal only, never with NO_COLOR.
	res := &result.Result{SchemaVersion: result.SchemaVersion, Verdict: result.VerdictPass, Warnings: []string{"w"}}
	for _, tc := range []struct {
		terminal bool
		vars     map[string]string
		want     bool
	}{{true, nil, true}, {false, nil, false}, {true, map[string]string{"NO_COLOR": "1"}, false}} {
		var out, errOut bytes.Buffer
		e := testEnv(&errOut, tc.terminal, tc.vars)
		e.Stdout = &out
		if err := writeReports(e, res, outputFlags{}); err != nil {
			t.Fatal(err)
		}
		warnf(e, "careful")
		if got := strings.Contains(out.String(), "\x1b[32mPASS\x1b[0m"); got != tc.want {
			t.Errorf("terminal=%v %v: coloured verdict %v, want %v:\n%q", tc.terminal, tc.vars, got, tc.want, out.String())
		}
		if got := strings.Contains(errOut.String(), "\x1b[33mwarning:"); got != tc.want {
			t.Errorf("terminal=%v %v: coloured warning %v, want %v: %q", tc.terminal, tc.vars, got, tc.want, errOut.String())
		}
		if !tc.want && (strings.Contains(out.String(), "\x1b[") || strings.Contains(errOut.String(), "\x1b[")) {
			t.Errorf("colour codes without colour: %q %q", out.String(), errOut.String())
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func fmtSscan(s string, f *float64) (int, error) { return fmt.Sscan(s, f) }
