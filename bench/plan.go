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
type Plan struct {
	Warmup Amount
	// Measure is the measured pass per target: a number of requests, or a
	// duration that both targets share (each gets about half).
	Measure Amount
	// Rounds splits the measured pass; each round runs one block on each
	// target, alternating which goes first.
	Rounds int
	// Concurrency is the number of calls in flight at once (closed loop).
	Concurrency int
	// BlockBytes caps the input data sent for one block; when a round needs
	// more requests than that many batches, it cycles over them.
	BlockBytes int64
}

// DefaultBlockBytes bounds what one block carries to a worker.
const DefaultBlockBytes = 32 << 20

// Amount is a count of requests or a duration; exactly one is set.
type Amount struct {
	Requests int64
	Duration time.Duration
}

func (a Amount) String() string {
	if a.Duration > 0 {
		return a.Duration.String()
	}
	return strconv.FormatInt(a.Requests, 10)
}

// IsZero reports whether nothing is asked for.
func (a Amount) IsZero() bool { return a.Requests == 0 && a.Duration == 0 }

// ParseAmount reads "200" (requests) or "5s" (a duration).
func ParseAmount(flag, s string) (Amount, error) {
	s = strings.TrimSpace(s)
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
	if p.Measure.IsZero() {
		errs = append(errs, errors.New("the measured pass is empty: give --requests N or --duration D"))
	}
	if p.Measure.Requests > 0 && p.Measure.Duration > 0 {
		errs = append(errs, errors.New("give --requests or --duration, not both"))
	}
	if p.Rounds < 1 {
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
