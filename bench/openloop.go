package bench

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/infergate/infergate/result"
)

// schedule is an open loop's arrival times, as offsets from the block's
// start. They are fixed in advance, independent of how the endpoint
// answers, which is what keeps a stall from hiding itself by slowing the
// load (coordinated omission).
type schedule struct {
	gap     float64 // mean seconds between calls
	poisson bool
	rng     *rand.Rand
	// sum is the offset of call next-1, in seconds; offsets are summed in
	// float64 and converted once, so rounding never accumulates.
	sum  float64
	next int64
}

func newSchedule(rate float64, arrival Arrival, rng *rand.Rand) *schedule {
	return &schedule{gap: 1 / rate, poisson: arrival == ArrivalPoisson, rng: rng}
}

// offset returns when call i starts; calls are asked for in order. The
// first call starts at once.
func (s *schedule) offset(i int64) time.Duration {
	if !s.poisson {
		return time.Duration(float64(i) * s.gap * float64(time.Second))
	}
	for s.next <= i {
		if s.next > 0 {
			s.sum += s.rng.ExpFloat64() * s.gap
		}
		s.next++
	}
	return time.Duration(s.sum * float64(time.Second))
}

// LateStartWarnFraction is the share of an open loop's calls that may
// start late before the result warns. A few late starts are a stall the
// tail should show; more mean the load was not the rate asked for.
const LateStartWarnFraction = 0.01

// LateStartWarnings warns about each target whose open-loop calls started
// late (Target.LateStarts) more often than LateStartWarnFraction: every
// caller was busy, so the client could not keep the rate, and latency
// includes time the calls waited in the client.
func LateStartWarnings(targets []result.Target, rate float64) []string {
	var out []string
	for _, t := range targets {
		calls := t.Latency.Count + t.Errors.Total
		if t.LateStarts == 0 || calls == 0 {
			continue
		}
		frac := float64(t.LateStarts) / float64(calls)
		if frac <= LateStartWarnFraction {
			continue
		}
		out = append(out, fmt.Sprintf("%s: %.1f%% of calls (%d of %d) started more than %v after their scheduled time because every caller was busy: the client could not keep the rate of %g/s, so latency includes time queued in the client (raise --concurrency, or lower --rate)",
			t.Role, 100*frac, t.LateStarts, calls, LateThreshold, rate))
	}
	return out
}
