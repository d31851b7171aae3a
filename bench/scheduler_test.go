package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/loader"
	"github.com/infergate/infergate/result"
)

// fakeSource yields n batches of one row each; batch i's single tensor
// holds the value i for every target.
type fakeSource struct {
	n, pos, targets int
	rewinds         int
}

func (s *fakeSource) Next(context.Context) (*loader.Batch, error) {
	if s.pos >= s.n {
		return nil, io.EOF
	}
	b := &loader.Batch{Index: s.pos, FirstRow: int64(s.pos), Rows: 1}
	for range s.targets {
		b.Tensors = append(b.Tensors, []loader.Tensor{{
			Name: "x", DType: loader.Float32, Shape: []int64{1, 1}, Data: []float32{float32(s.pos)},
		}})
	}
	s.pos++
	return b, nil
}

func (s *fakeSource) Rewind() error { s.pos = 0; s.rewinds++; return nil }

// fakeTarget records what it was asked to run and answers with a fixed
// latency per call.
type fakeTarget struct {
	name    string
	latency time.Duration
	log     *[]string // shared between targets: the order of blocks
	blocks  []Block
	failAt  int // fail the n-th recorded block (1-based); 0 never
	failErr error
	open    *result.Histogram // recording across accumulating blocks
	last    []BlockBatch
	late    int64 // late starts every block reports
}

func (f *fakeTarget) Info() TargetInfo { return TargetInfo{Name: f.name, Kind: "fake"} }
func (f *fakeTarget) Close() error     { return nil }

func (f *fakeTarget) Run(ctx context.Context, blk Block) (BlockResult, error) {
	if blk.Batches == nil {
		if f.last == nil {
			return BlockResult{}, errors.New("fake: reuse without batches")
		}
		blk.Batches = f.last
	}
	f.last = blk.Batches
	f.blocks = append(f.blocks, blk)
	if blk.Record {
		*f.log = append(*f.log, f.name)
		recorded := 0
		for _, b := range f.blocks {
			if b.Record {
				recorded++
			}
		}
		if f.failAt > 0 && recorded == f.failAt {
			return BlockResult{}, f.failErr
		}
	}
	n := blk.Requests
	if n == 0 {
		n = max(1, int64(blk.Duration/f.latency))
	}
	res := BlockResult{Requests: n, Rows: n, Elapsed: time.Duration(n) * f.latency, PeakRSSBytes: 1 << 20, Late: f.late}
	if blk.Record {
		if f.open == nil {
			f.open = result.NewHistogram()
		}
		for range n {
			f.open.Record(f.latency)
		}
		if !blk.Accumulate {
			res.Histogram, f.open = f.open, nil
		}
	}
	return res, nil
}

func batchValues(bs []BlockBatch) []float32 {
	var out []float32
	for _, b := range bs {
		out = append(out, b.Tensors[0].Data.([]float32)[0])
	}
	return out
}

func TestMeasureAlternatesOrderAndFeedsSameBatches(t *testing.T) {
	var log []string
	a := &fakeTarget{name: "A", latency: 100 * time.Microsecond, log: &log}
	b := &fakeTarget{name: "B", latency: 200 * time.Microsecond, log: &log}
	src := &fakeSource{n: 7, targets: 2}
	plan := Plan{Warmup: Amount{Requests: 3}, Measure: Amount{Requests: 40}, Rounds: 4, Concurrency: 1}

	m, err := Measure(context.Background(), []Target{a, b}, src, plan, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(log, ""), "ABBAABBA"; got != want {
		t.Errorf("block order = %s, want %s", got, want)
	}
	if m.RequestsPerRound != 10 {
		t.Errorf("requests per round = %d, want 10", m.RequestsPerRound)
	}
	if len(a.blocks) != len(b.blocks) {
		t.Fatalf("A ran %d blocks, B %d", len(a.blocks), len(b.blocks))
	}
	for i := range a.blocks {
		av, bv := batchValues(a.blocks[i].Batches), batchValues(b.blocks[i].Batches)
		if len(av) == 0 || len(av) != len(bv) {
			t.Fatalf("block %d: A got %v, B got %v", i, av, bv)
		}
		for j := range av {
			if av[j] != bv[j] {
				t.Fatalf("block %d: A got %v, B got %v", i, av, bv)
			}
		}
		if a.blocks[i].Record != (i > 0) || b.blocks[i].Record != (i > 0) {
			t.Errorf("block %d: only warmup (block 0) may go unrecorded", i)
		}
		if a.blocks[i].ResetPeak != (i == 1) {
			t.Errorf("block %d: the peak must be reset before the first measured block only", i)
		}
	}
	// A block never holds the same batch twice, and the stream continues
	// across blocks: warmup took 0,1,2; round 0 takes 3..6 then wraps to 0,1,2.
	if got := batchValues(a.blocks[1].Batches); len(got) != 7 || got[0] != 3 || got[4] != 0 {
		t.Errorf("round 0 batches = %v, want 3 4 5 6 0 1 2", got)
	}
	for i, tm := range m.Targets {
		if len(tm.Rounds) != 4 {
			t.Fatalf("target %d: %d rounds, want 4", i, len(tm.Rounds))
		}
		if tm.Requests != 40 {
			t.Errorf("target %d: %d requests, want 40", i, tm.Requests)
		}
	}
	if m.Targets[0].Rounds[1].Position != 1 || m.Targets[1].Rounds[1].Position != 0 {
		t.Errorf("round 1 positions: A %d, B %d; want 1, 0", m.Targets[0].Rounds[1].Position, m.Targets[1].Rounds[1].Position)
	}
	rt, err := m.Targets[1].ToResult(result.RoleCandidate)
	if err != nil {
		t.Fatal(err)
	}
	if rt.Latency.Count != 40 || rt.Latency.P50NS < 199_000 || rt.Latency.P50NS > 201_000 {
		t.Errorf("candidate latency = %+v, want 40 samples at 200µs", rt.Latency)
	}
	if rt.Throughput.InferencesPerS < 4990 || rt.Throughput.InferencesPerS > 5010 {
		t.Errorf("throughput = %v/s, want 5000/s", rt.Throughput.InferencesPerS)
	}
}

func TestMeasureSizesRoundsFromWarmupForDuration(t *testing.T) {
	var log []string
	a := &fakeTarget{name: "A", latency: time.Millisecond, log: &log}
	b := &fakeTarget{name: "B", latency: time.Millisecond, log: &log}
	plan := Plan{Warmup: Amount{Requests: 5}, Measure: Amount{Duration: 2 * time.Second}, Rounds: 10, Concurrency: 1}
	m, err := Measure(context.Background(), []Target{a, b}, &fakeSource{n: 3, targets: 2}, plan, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	// 2 s over 10 rounds of two 1 ms models: 100 requests per block.
	if m.RequestsPerRound != 100 {
		t.Errorf("requests per round = %d, want 100", m.RequestsPerRound)
	}
}

func TestMeasureTargetFailureKeepsRounds(t *testing.T) {
	var log []string
	a := &fakeTarget{name: "A", latency: time.Millisecond, log: &log}
	b := &fakeTarget{name: "B", latency: time.Millisecond, log: &log, failAt: 3, failErr: errors.New("worker died: signal: killed")}
	plan := Plan{Measure: Amount{Requests: 50}, Rounds: 5, Concurrency: 1}
	m, err := Measure(context.Background(), []Target{a, b}, &fakeSource{n: 3, targets: 2}, plan, Hooks{})
	if err == nil || errkind.Of(err) != errkind.KindRun {
		t.Fatalf("err = %v, want a run error", err)
	}
	if m == nil || len(m.Targets[1].Rounds) != 2 || m.Targets[1].Failed == nil {
		t.Fatalf("want B's 2 rounds kept and B marked failed, got %+v", m)
	}
}

func TestMeasureInterruptedReturnsPartial(t *testing.T) {
	var log []string
	ctx, cancel := context.WithCancel(context.Background())
	a := &fakeTarget{name: "A", latency: time.Millisecond, log: &log}
	b := &cancellingTarget{fakeTarget: fakeTarget{name: "B", latency: time.Millisecond, log: &log}, cancelAfter: 2, cancel: cancel}
	plan := Plan{Measure: Amount{Requests: 50}, Rounds: 5, Concurrency: 1}
	m, err := Measure(ctx, []Target{a, b}, &fakeSource{n: 3, targets: 2}, plan, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Interrupted || len(m.Targets[0].Rounds) != 2 {
		t.Fatalf("interrupted = %v, rounds = %d; want true, 2", m.Interrupted, len(m.Targets[0].Rounds))
	}
}

type cancellingTarget struct {
	fakeTarget
	cancelAfter int
	cancel      func()
	n           int
}

func (c *cancellingTarget) Run(ctx context.Context, blk Block) (BlockResult, error) {
	res, err := c.fakeTarget.Run(ctx, blk)
	c.n++
	if c.n == c.cancelAfter {
		c.cancel()
	}
	return res, err
}

func TestPlanValidate(t *testing.T) {
	for _, tc := range []struct {
		plan Plan
		want string
	}{
		{Plan{Concurrency: 1, MinRounds: 1, MaxDuration: time.Second, RoundTime: time.Millisecond}, "--min-rounds"},
		{Plan{Concurrency: 1, MinRounds: 10, RoundTime: time.Millisecond}, "--max-duration"},
		{Plan{Measure: Amount{Requests: 10}, Rounds: 0, Concurrency: 1}, "--rounds"},
		{Plan{Measure: Amount{Requests: 10}, Rounds: 2, Concurrency: 0}, "--concurrency"},
		{Plan{Measure: Amount{Requests: 3}, Rounds: 5, Concurrency: 1}, "fewer than --rounds"},
	} {
		err := tc.plan.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) || errkind.Of(err) != errkind.KindInput {
			t.Errorf("%+v: err = %v, want input error containing %q", tc.plan, err, tc.want)
		}
	}
}

func TestParseAmount(t *testing.T) {
	for in, want := range map[string]Amount{
		"200": {Requests: 200}, "5s": {Duration: 5 * time.Second}, "0": {}, "250ms": {Duration: 250 * time.Millisecond},
	} {
		got, err := ParseAmount("warmup", in)
		if err != nil || got != want {
			t.Errorf("ParseAmount(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "abc", "-5", "-1s", "5 apples"} {
		if _, err := ParseAmount("warmup", bad); err == nil || errkind.Of(err) != errkind.KindInput {
			t.Errorf("ParseAmount(%q): err = %v, want an input error", bad, err)
		}
	}
}

func TestParseStatusField(t *testing.T) {
	status := []byte("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n")
	if got := parseStatusField(status, "VmRSS"); got != 1024*1024 {
		t.Errorf("VmRSS = %d", got)
	}
	if got := parseStatusField(status, "VmHWM"); got != 2048*1024 {
		t.Errorf("VmHWM = %d", got)
	}
	if got := parseStatusField(status, "VmSwap"); got != 0 {
		t.Errorf("missing field = %d, want 0", got)
	}
}

func TestSequentialPlanLooksAtDoublingsAndStops(t *testing.T) {
	var log []string
	a := &fakeTarget{name: "A", latency: time.Millisecond, log: &log}
	b := &fakeTarget{name: "B", latency: time.Millisecond, log: &log}
	// Rounds of 100 ms per target (100 calls of 1 ms), 40 s budget: 200
	// rounds fit, so looks come after 10, 20, 40, 80, 160 and 200 rounds.
	plan := Plan{Warmup: Amount{Requests: 5}, MinRounds: 10, MaxDuration: 40 * time.Second,
		RoundTime: 100 * time.Millisecond, Concurrency: 1}
	var seen []string
	look := func(m *Measurement, look, looks int) (bool, error) {
		seen = append(seen, fmt.Sprintf("%d/%d@%d", look, looks, len(m.Targets[0].Rounds)))
		return look == 3, nil
	}
	m, err := Measure(context.Background(), []Target{a, b}, &fakeSource{n: 3, targets: 2}, plan, Hooks{Look: look})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(seen, " "), "1/6@10 2/6@20 3/6@40"; got != want {
		t.Errorf("looks = %s, want %s", got, want)
	}
	if m.RequestsPerRound != 100 || len(m.Targets[1].Rounds) != 40 {
		t.Errorf("%d requests per round, %d rounds; want 100, 40", m.RequestsPerRound, len(m.Targets[1].Rounds))
	}
}

func TestSequentialPlanStopsAtBudget(t *testing.T) {
	var log []string
	// The warmup says 1 ms per call but the measured calls take 4 ms: the
	// planned rounds overrun, and the budget, measured, ends the run.
	a := &slowAfterWarmup{fakeTarget: fakeTarget{name: "A", latency: time.Millisecond, log: &log}}
	b := &slowAfterWarmup{fakeTarget: fakeTarget{name: "B", latency: time.Millisecond, log: &log}}
	plan := Plan{Warmup: Amount{Requests: 5}, MinRounds: 4, MaxDuration: 4 * time.Second,
		RoundTime: 100 * time.Millisecond, Concurrency: 1}
	var seen []string
	look := func(m *Measurement, look, looks int) (bool, error) {
		seen = append(seen, fmt.Sprintf("%d/%d@%d", look, looks, len(m.Targets[0].Rounds)))
		return false, nil
	}
	if _, err := Measure(context.Background(), []Target{a, b}, &fakeSource{n: 3, targets: 2}, plan, Hooks{Look: look}); err != nil {
		t.Fatal(err)
	}
	// 800 ms per round measured: the 4 s budget is spent after 5 rounds.
	if got, want := strings.Join(seen, " "), "1/4@4 4/4@5"; got != want {
		t.Errorf("looks = %s, want %s", got, want)
	}
}

type slowAfterWarmup struct{ fakeTarget }

func (s *slowAfterWarmup) Run(ctx context.Context, blk Block) (BlockResult, error) {
	if blk.Record {
		s.latency = 4 * time.Millisecond
	}
	return s.fakeTarget.Run(ctx, blk)
}

func TestAutoWarmupStopsWhenStable(t *testing.T) {
	var log []string
	a := &fakeTarget{name: "A", latency: time.Millisecond, log: &log}
	b := &drifting{fakeTarget: fakeTarget{name: "B", latency: 10 * time.Millisecond, log: &log}}
	plan := Plan{Warmup: Amount{Auto: true}, Measure: Amount{Requests: 20}, Rounds: 2, Concurrency: 1}
	if _, err := Measure(context.Background(), []Target{a, b}, &fakeSource{n: 3, targets: 2}, plan, Hooks{}); err != nil {
		t.Fatal(err)
	}
	warmBlocks := func(f *fakeTarget) int { return len(f.blocks) - 2 }
	// A is stable from the start: 3 blocks. B speeds up 20% a block until
	// it settles at 1 ms, then needs 3 stable blocks.
	if warmBlocks(a) != 3 {
		t.Errorf("A warmed %d blocks, want 3", warmBlocks(a))
	}
	if warmBlocks(&b.fakeTarget) <= 10 {
		t.Errorf("B warmed %d blocks, want more than 10 (it drifts)", warmBlocks(&b.fakeTarget))
	}
}

// drifting gets faster each block, like a cache warming, until it settles.
type drifting struct{ fakeTarget }

func (d *drifting) Run(ctx context.Context, blk Block) (BlockResult, error) {
	res, err := d.fakeTarget.Run(ctx, blk)
	d.latency = max(time.Millisecond, d.latency*8/10)
	return res, err
}

func TestRoundSplitsIntoAlternatingSubBlocks(t *testing.T) {
	var log []string
	a := &fakeTarget{name: "A", latency: time.Millisecond, log: &log}
	b := &fakeTarget{name: "B", latency: time.Millisecond, log: &log}
	// 1 ms calls, 4 ms sub-blocks: a round of 10 requests is 3 blocks of
	// 4, 4 and 2 requests per target.
	plan := Plan{Warmup: Amount{Requests: 5}, Measure: Amount{Requests: 20}, Rounds: 2, Concurrency: 1, SubBlockTime: 4 * time.Millisecond}
	m, err := Measure(context.Background(), []Target{a, b}, &fakeSource{n: 3, targets: 2}, plan, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	// Round 0 starts A B, round 1 starts B A; blocks alternate within.
	if got, want := strings.Join(log, ""), "ABBAAB"+"BAABBA"; got != want {
		t.Errorf("block order = %s, want %s", got, want)
	}
	var reqs, offs []string
	for _, blk := range a.blocks[1:] {
		reqs = append(reqs, fmt.Sprint(blk.Requests))
		offs = append(offs, fmt.Sprint(blk.Offset))
	}
	if got := strings.Join(reqs, " "); got != "4 4 2 4 4 2" {
		t.Errorf("sub-block requests = %s", got)
	}
	if got := strings.Join(offs, " "); got != "0 4 8 0 4 8" {
		t.Errorf("sub-block offsets = %s", got)
	}
	for _, r := range m.Targets[0].Rounds {
		h, err := result.DecodeHistogram(r.Histogram)
		if err != nil || h.Count() != 10 || r.Requests != 10 {
			t.Errorf("round %d: %d requests, histogram of %v (%v); want 10 and 10", r.Index, r.Requests, h.Count(), err)
		}
	}
	if m.Targets[0].Rounds[0].Position != 0 || m.Targets[0].Rounds[1].Position != 1 {
		t.Errorf("positions %d %d, want 0 1", m.Targets[0].Rounds[0].Position, m.Targets[0].Rounds[1].Position)
	}
}

// TestLateStartsReachTheResult: every sub-block's late starts add up in
// its round and its target, warmup's stay out.
func TestLateStartsReachTheResult(t *testing.T) {
	var log []string
	a := &fakeTarget{name: "A", latency: time.Millisecond, log: &log, late: 3}
	b := &fakeTarget{name: "B", latency: time.Millisecond, log: &log}
	// As in TestRoundSplitsIntoAlternatingSubBlocks: 3 blocks per round.
	plan := Plan{Warmup: Amount{Requests: 5}, Measure: Amount{Requests: 20}, Rounds: 2, Concurrency: 1, SubBlockTime: 4 * time.Millisecond}
	m, err := Measure(context.Background(), []Target{a, b}, &fakeSource{n: 3, targets: 2}, plan, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.blocks) != 7 {
		t.Fatalf("%d blocks, want 1 warmup + 2 rounds of 3", len(a.blocks))
	}
	for _, r := range m.Targets[0].Rounds {
		if r.LateStarts != 9 {
			t.Errorf("round %d: %d late starts, want 9 (3 blocks of 3)", r.Index, r.LateStarts)
		}
	}
	if got := m.Targets[0].Late; got != 18 {
		t.Errorf("target late starts = %d, want 18 (warmup's 3 left out)", got)
	}
	res, err := m.Targets[0].ToResult(result.RoleCandidate)
	if err != nil {
		t.Fatal(err)
	}
	if res.LateStarts != 18 {
		t.Errorf("result late_starts = %d, want 18", res.LateStarts)
	}
	other, err := m.Targets[1].ToResult(result.RoleProduction)
	if err != nil {
		t.Fatal(err)
	}
	if other.LateStarts != 0 || other.Rounds[0].LateStarts != 0 {
		t.Errorf("the other target got late starts: %d", other.LateStarts)
	}
}

func TestLateStartWarnings(t *testing.T) {
	target := func(role result.Role, ok, errs, late int64) result.Target {
		return result.Target{Role: role, Latency: result.Latency{Count: ok}, Errors: result.Errors{Total: errs}, LateStarts: late}
	}
	got := LateStartWarnings([]result.Target{
		target(result.RoleProduction, 990, 10, 10), // 1.0%: at the line, no warning
		target(result.RoleCandidate, 900, 100, 50), // 5%
	}, 100)
	if len(got) != 1 || !strings.HasPrefix(got[0], "candidate: 5.0% of calls (50 of 1000) started more than 1ms after") ||
		!strings.Contains(got[0], "could not keep the rate of 100/s") {
		t.Errorf("warnings = %q, want one for the candidate's 5%%", got)
	}
	if w := LateStartWarnings([]result.Target{target(result.RoleCandidate, 0, 0, 0)}, 100); len(w) != 0 {
		t.Errorf("warnings for a target without calls: %q", w)
	}
}

func TestOpenLoopDurationSizesRoundsByRate(t *testing.T) {
	var log []string
	a := &fakeTarget{name: "A", latency: time.Millisecond, log: &log}
	b := &fakeTarget{name: "B", latency: time.Millisecond, log: &log}
	// 4 s over 4 rounds of two targets at 100/s: 50 requests a block,
	// whatever a call costs.
	plan := Plan{Warmup: Amount{Requests: 5}, Measure: Amount{Duration: 4 * time.Second}, Rounds: 4, Concurrency: 1, Rate: 100}
	m, err := Measure(context.Background(), []Target{a, b}, &fakeSource{n: 3, targets: 2}, plan, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if m.RequestsPerRound != 50 {
		t.Errorf("requests per round = %d, want 50", m.RequestsPerRound)
	}
	if blk := a.blocks[len(a.blocks)-1]; blk.Rate != 100 {
		t.Errorf("measured block rate = %v, want 100", blk.Rate)
	}
}
