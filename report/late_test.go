package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/infergate/infergate/compare"
	"github.com/infergate/infergate/result"
)

// openLoopResult is a pair measured in an open loop at 100/s whose
// candidate started 25 of its 1,000 calls late.
func openLoopResult(t *testing.T) *result.Result {
	r := newResult(t, compare.Thresholds{MaxLatencyIncrease: 1.15}, compare.ModePair, prodSide, candSide)
	r.Config.Rate, r.Config.Arrival = 100, "constant"
	r.Config.LateStartThresholdNS = int64(time.Millisecond)
	r.Targets[1].LateStarts = 25
	r.Targets[1].Rounds[2].LateStarts = 25
	return r
}

func TestLateStartsShown(t *testing.T) {
	r := openLoopResult(t)
	for name, want := range map[string]string{
		"table": "late starts (over 1ms)",
		"md":    "| late starts (over 1ms) | 0 (0.00%) | 25 (2.50%) |",
		"html":  "<td>late starts (over 1ms)</td>",
		// JUnit carries the table in system-out.
		"junit": "late starts (over 1ms)",
	} {
		newReporter := newFormats[name]
		if name == "table" {
			newReporter = NewTable
		}
		out := render(t, newReporter, r)
		if !strings.Contains(out, want) {
			t.Errorf("%s lacks %q:\n%s", name, want, out)
		}
		if name == "table" && !strings.Contains(out, "25 (2.50%)") {
			t.Errorf("table lacks the candidate's count and share:\n%s", out)
		}
	}

	// Saved and read back, the count and the threshold survive, so
	// `infergate report` renders the same line.
	var b bytes.Buffer
	if err := NewJSON(r).Report(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"late_starts": 25`) || !strings.Contains(b.String(), `"late_start_threshold_ns": 1000000`) {
		t.Errorf("JSON lacks late_starts or the threshold:\n%s", b.String())
	}
	back, err := result.Read(&b)
	if err != nil {
		t.Fatal(err)
	}
	if got := render(t, NewTable, back); got != render(t, NewTable, r) {
		t.Errorf("table from the saved result differs:\n%s", got)
	}
}

func TestLateStartsHiddenWhenNone(t *testing.T) {
	r := openLoopResult(t)
	r.Targets[1].LateStarts, r.Targets[1].Rounds[2].LateStarts = 0, 0
	for name, newReporter := range map[string]func(*result.Result) Reporter{"table": NewTable, "md": NewMarkdown, "html": NewHTML} {
		if out := render(t, newReporter, r); strings.Contains(out, "late starts") {
			t.Errorf("%s shows late starts though there were none", name)
		}
	}
	var b bytes.Buffer
	if err := NewJSON(r).Report(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), `"late_starts"`) {
		t.Error("JSON has late_starts though there were none (omitempty)")
	}
}
