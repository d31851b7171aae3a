package bench

import (
	"math/rand/v2"
	"time"
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
