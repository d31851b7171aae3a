// Package errkind classifies errors by who is at fault, so the command layer
// can map them to exit codes in one place (see cmd/infergate/exitcode.go).
//
// Library packages wrap an error with Input or Run; the message is left
// untouched, so the user sees exactly one clear line.
package errkind

import "errors"

// Kind says whose fault an error is.
type Kind int

const (
	// KindUnknown is an unclassified error; the command layer treats it as
	// a failed run.
	KindUnknown Kind = iota
	// KindInput is bad usage, configuration or input: nothing was measured.
	KindInput
	// KindRun is a run that failed on its own: a model would not load, a
	// worker crashed, an endpoint never answered.
	KindRun
)

func (k Kind) String() string {
	switch k {
	case KindInput:
		return "input"
	case KindRun:
		return "run"
	default:
		return "unknown"
	}
}

// Error carries a Kind alongside the wrapped error.
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Input marks err as bad usage, configuration or input. A nil err stays nil.
func Input(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: KindInput, Err: err}
}

// Run marks err as a failed run. A nil err stays nil.
func Run(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: KindRun, Err: err}
}

// Of returns the kind of the outermost classified error in err's chain.
func Of(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnknown
}
