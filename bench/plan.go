package bench

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/infergate/infergate/internal/errkind"
)

// Plan is the shape of a measurement, identical for every target.
//
// A fixed plan (Measure set) runs Rounds rounds and looks once, at the end.
// A sequential plan (Measure zero) runs rounds of about RoundTime per target
// within MaxDuration, and looks after MinRounds rounds and at each doubling
// after that, so a clear case stops early and a close one gets more data.
type Plan struct {
	Warmup Amount
	// Measure is the measured pass per target: a number of requests, or a
	// duration that both targets share (each gets about half). Zero means
	// a sequential plan.
	Measure Amount
	// Rounds splits a fixed measured pass; each round runs one block on
	// each target, alternating which goes first.
	Rounds int
	// MinRounds is the first look of a sequential plan.
	MinRounds int
	// MaxDuration caps the measured time of all targets together in a
	// sequential plan.
	MaxDuration time.Duration
	// RoundTime is the time one target's block of a sequential round aims
	// for.
	RoundTime time.Duration
	// Concurrency is the number of calls in flight at once (closed loop),
	// or the most in flight in an open loop.
	Concurrency int
	// Rate, when positive, drives the measured blocks as an open loop at
	// that many requests per second (see Block.Rate).
	Rate    float64
	Arrival Arrival
	// SubBlockTime is the length of the short blocks a round is split into,
	// alternating between targets; 0 means DefaultSubBlockTime.
	SubBlockTime time.Duration
	// BlockBytes caps the input data sent for one block; when a round needs
	// more requests than that many batches, it cycles over them.
	BlockBytes int64
}

// DefaultSubBlockTime is short against a noisy neighbour's bursts (a few
// hundred milliseconds) and long against what a switch of targets costs:
// ~0.1 ms over the pipes, and slow calls as the other worker's threads
// wake and settle. On the 2-core VM, 10 ms blocks left 2.4-4% of a 20 µs
// model's calls 30 µs slow, and its p95 ratios up to 0.15 off the p50
// ratio of a pair of fixed cost; 25 ms blocks left about 2% and put them
// within 0.03.
const DefaultSubBlockTime = 25 * time.Millisecond

func (p Plan) subBlockTime() time.Duration {
	if p.SubBlockTime > 0 {
		return p.SubBlockTime
	}
	return DefaultSubBlockTime
}

// DefaultBlockBytes bounds what one block carries to a worker.
const DefaultBlockBytes = 32 << 20

// Amount is a count of requests or a duration; at most one is set. For a
// warmup, Auto asks to warm until latency stops drifting.
type Amount struct {
	Requests int64
	Duration time.Duration
	Auto     bool
}

func (a Amount) String() string {
	switch {
	case a.Auto:
		return "auto"
	case a.Duration > 0:
		return a.Duration.String()
	}
	return strconv.FormatInt(a.Requests, 10)
}

// IsZero reports whether nothing is asked for.
func (a Amount) IsZero() bool { return a.Requests == 0 && a.Duration == 0 && !a.Auto }

// Sequential reports whether the plan looks repeatedly within a budget.
func (p Plan) Sequential() bool { return p.Measure.IsZero() }

// ParseAmount reads "200" (requests) or "5s" (a duration); for the warmup
// also "auto".
func ParseAmount(flag, s string) (Amount, error) {
	s = strings.TrimSpace(s)
	if s == "auto" && flag == "warmup" {
		return Amount{Auto: true}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return Amount{}, errkind.Input(fmt.Errorf("--%s %s: must not be negative", flag, s))
		}
		return Amount{Requests: n}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return Amount{}, errkind.Input(fmt.Errorf("--%s %q: want a number of requests (200) or a duration (5s)", flag, s))
	}
	if d < 0 {
		return Amount{}, errkind.Input(fmt.Errorf("--%s %s: must not be negative", flag, s))
	}
	return Amount{Duration: d}, nil
}

// Validate checks the plan before anything runs.
func (p Plan) Validate() error {
	var errs []error
	if p.Measure.Requests > 0 && p.Measure.Duration > 0 {
		errs = append(errs, errors.New("give --requests or --duration, not both"))
	}
	if p.Sequential() {
		if p.MinRounds < 2 {
			errs = append(errs, fmt.Errorf("--min-rounds %d: need at least 2", p.MinRounds))
		}
		if p.MaxDuration <= 0 {
			errs = append(errs, fmt.Errorf("--max-duration %v: must be positive", p.MaxDuration))
		}
		if p.RoundTime <= 0 {
			errs = append(errs, fmt.Errorf("round time %v: must be positive", p.RoundTime))
		}
	} else if p.Rounds < 1 {
		errs = append(errs, fmt.Errorf("--rounds %d: need at least 1", p.Rounds))
	}
	if p.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("--concurrency %d: need at least 1", p.Concurrency))
	}
	if p.Measure.Requests > 0 && p.Measure.Requests < int64(p.Rounds) {
		errs = append(errs, fmt.Errorf("--requests %d is fewer than --rounds %d", p.Measure.Requests, p.Rounds))
	}
	if len(errs) > 0 {
		// One clear line: the first problem is the one to fix first.
		return errkind.Input(errs[0])
	}
	return nil
}
