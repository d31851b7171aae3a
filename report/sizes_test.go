package report

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/infergate/infergate/compare"
	"github.com/infergate/infergate/result"
)

// The size table of a pair gives each bucket's ratio at p50 and at the
// percentile the latency check judges (one column when that is p50); a
// single model has no ratio.
func TestSizeTableGatedRatio(t *testing.T) {
	prod, cand := prodSide, candSide
	prod.perToken, cand.perToken = 40*time.Microsecond, 60*time.Microsecond
	pair := newResult(t, compare.Thresholds{MaxLatencyIncrease: 1.15}, compare.ModePair, prod, cand)
	for _, c := range []struct {
		configured float64
		ratios     []string
	}{
		{0.95, []string{"p50 ratio", "p95 ratio"}},
		{0, []string{"p50 ratio", "p95 ratio"}}, // a document without the percentile: p95
		{0.999, []string{"p50 ratio", "p99.9 ratio"}},
		{0.5, []string{"p50 ratio"}},
	} {
		pair.Config.LatencyPercentile = c.configured
		cols := columns(pair.Targets, true)
		s, err := collectSizes(pair, cols, true)
		if err != nil || s.empty() {
			t.Fatalf("p%v: section %+v, %v", c.configured, s, err)
		}
		var got []string
		for _, h := range s.table.header {
			if strings.HasSuffix(h, " ratio") {
				got = append(got, h)
			}
		}
		if !slices.Equal(got, c.ratios) || !slices.Equal(s.table.header[len(s.table.header)-len(got):], got) {
			t.Errorf("p%v: header %q, want the ratios %q last", c.configured, s.table.header, c.ratios)
			continue
		}
		q := compare.GatedQuantile(pair)
		for k, row := range s.table.rows {
			p, cd := s.profiles[0].Rows[k], s.profiles[1].Rows[k]
			if want := fmt.Sprintf("%.2f×", cd.P50/p.P50); row[len(row)-len(got)] != want {
				t.Errorf("p%v bucket %d: p50 ratio %q, want %q", c.configured, k, row[len(row)-len(got)], want)
			}
			if len(got) == 2 {
				gp, gc := s.profiles[0].Rows[k].Gated, s.profiles[1].Rows[k].Gated
				if want := fmt.Sprintf("%.2f×", gc/gp); row[len(row)-1] != want || gp <= 0 {
					t.Errorf("p%v bucket %d: gated (q=%v) ratio %q, want %q", c.configured, k, q, row[len(row)-1], want)
				}
			}
		}
	}

	single := prod
	single.role = result.RoleSingle
	bench := newResult(t, compare.Thresholds{MaxP95: 25 * time.Millisecond}, compare.ModeSingle, single)
	s, err := collectSizes(bench, columns(bench.Targets, false), false)
	if err != nil || s.empty() {
		t.Fatalf("bench: section %+v, %v", s, err)
	}
	for _, h := range s.table.header {
		if h == "p50 ratio" || h == "p95 ratio" {
			t.Errorf("bench's size table has %q", h)
		}
	}
}
