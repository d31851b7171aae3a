package main

import (
	"context"
	"errors"

	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/result"
)

// ExitCode is infergate's contract with CI scripts; see the README.
type ExitCode int

const (
	// ExitPass: every check passed (or there were none).
	ExitPass ExitCode = 0
	// ExitRegression: a check failed.
	ExitRegression ExitCode = 1
	// ExitBadInput: bad usage, configuration or input; nothing was measured.
	ExitBadInput ExitCode = 2
	// ExitRunFailed: the run itself failed (a worker crashed, a model failed
	// mid-run).
	ExitRunFailed ExitCode = 3
	// ExitInconclusive: a check could not be decided and the user asked
	// for that to fail the build.
	ExitInconclusive ExitCode = 4
	// ExitInterrupted: SIGINT stopped the run (128 + SIGINT); see
	// ExitTerminated.
	ExitInterrupted ExitCode = 130
	// ExitTerminated: SIGTERM stopped the run (128 + SIGTERM). Commands
	// report ExitInterrupted for any cancellation; Main turns it into the
	// signal's own code.
	ExitTerminated ExitCode = 143
)

// exitCodeFor is the one place where errors and verdicts become exit codes.
func exitCodeFor(err error, verdict result.Verdict, failOnInconclusive bool) ExitCode {
	if err != nil {
		switch {
		case errors.Is(err, context.Canceled):
			return ExitInterrupted
		case errkind.Of(err) == errkind.KindInput:
			return ExitBadInput
		default:
			return ExitRunFailed
		}
	}
	switch verdict {
	case result.VerdictFail:
		return ExitRegression
	case result.VerdictInconclusive:
		if failOnInconclusive {
			return ExitInconclusive
		}
		return ExitPass
	case result.VerdictError:
		return ExitRunFailed
	}
	return ExitPass
}
