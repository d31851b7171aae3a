package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/infergate/infergate/bench"
	"github.com/infergate/infergate/internal/errkind"
)

// env is the process environment as the command layer sees it; tests
// replace it.
type env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Executable is the path of this binary, for starting workers.
	Executable func() (string, error)
	// WorkerEnv is the environment a worker process starts with (nil:
	// inherit).
	WorkerEnv []string
	// OpenGPU opens NVML (nil: the real one); tests give a fake.
	OpenGPU func() (gpuLibrary, error)
	// TermWidth is w's width in columns when w is a terminal, else 0
	// (nil: never a terminal). It decides the live progress display and
	// colour.
	TermWidth func(w io.Writer) int
}

// workerCommand starts a model's worker: this binary's hidden `worker`
// subcommand.
func (e *env) workerCommand() (bench.WorkerCommand, error) {
	exe, err := e.Executable()
	if err != nil {
		return bench.WorkerCommand{}, errkind.Run(fmt.Errorf("cannot find the infergate binary to start workers: %w", err))
	}
	return bench.WorkerCommand{Path: exe, Args: []string{"worker"}, Env: e.WorkerEnv}, nil
}

func (e *env) openGPU() (gpuLibrary, error) {
	if e.OpenGPU != nil {
		return e.OpenGPU()
	}
	return openNVML()
}

func processEnv() *env {
	return &env{
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		Getenv:     os.Getenv,
		Executable: os.Executable,
		TermWidth:  fileTermWidth,
	}
}

// Main runs infergate with the given arguments and returns its exit code.
//
// The first SIGINT or SIGTERM cancels the run: the workers stop, what was
// measured is judged and written (marked interrupted), and the exit code is
// 128 + the signal's number. A second signal exits at once; the workers,
// which die with their parent, go with it.
func Main(args []string) int {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go watchSignals(sigs, cancel, os.Exit, os.Stderr)
	return int(execute(ctx, processEnv(), args))
}

// watchSignals cancels the run on the first signal and exits on the second.
func watchSignals(sigs <-chan os.Signal, cancel context.CancelCauseFunc, exit func(int), stderr io.Writer) {
	sig := (<-sigs).(syscall.Signal)
	cancel(&interrupted{sig})
	fmt.Fprintf(stderr, "infergate: %s: stopping, writing what was measured (signal again to exit now)\n", signalName(sig))
	sig = (<-sigs).(syscall.Signal)
	exit(128 + int(sig))
}

// interrupted is why a run's context was cancelled: a signal.
type interrupted struct{ sig syscall.Signal }

func (e *interrupted) Error() string { return "interrupted by " + signalName(e.sig) }

func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// interruptCode is the exit code of a run a signal cut short: 128 + its
// number (130 for SIGINT, 143 for SIGTERM), as shells report it.
func interruptCode(ctx context.Context) ExitCode {
	var in *interrupted
	if errors.As(context.Cause(ctx), &in) {
		return ExitCode(128 + int(in.sig))
	}
	return ExitInterrupted
}

// codeError carries an exit code decided by a command (a verdict), as
// opposed to one derived from an error.
type codeError struct{ code ExitCode }

func (e *codeError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// exitWith turns a command's (exit code, error) into what RunE returns.
func exitWith(code ExitCode, err error) error {
	if err != nil {
		return err
	}
	if code != ExitPass {
		return &codeError{code}
	}
	return nil
}

func execute(ctx context.Context, e *env, args []string) ExitCode {
	root := newRootCmd(e)
	root.SetArgs(args)
	root.SetOut(e.Stdout)
	root.SetErr(e.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitPass
	}
	var ce *codeError
	if errors.As(err, &ce) {
		if ce.code == ExitInterrupted {
			return interruptCode(ctx)
		}
		return ce.code
	}
	code := exitCodeFor(err, "", false)
	if code == ExitInterrupted {
		code = interruptCode(ctx)
	}
	if errkind.Of(err) == errkind.KindUnknown && !errors.Is(err, context.Canceled) {
		// Commands classify their own errors, so an unclassified one comes
		// from cobra itself: an unknown command or flag.
		code = ExitBadInput
	}
	fmt.Fprintf(e.Stderr, "infergate: %s\n", firstLine(err.Error()))
	return code
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func newRootCmd(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "infergate",
		Short: "Keep slow, memory-hungry or flaky ML models out of production",
		Long: `infergate runs a candidate and the production model on the same Parquet
test set, through identical warmup and measured passes, and exits non-zero
when the candidate breaks a threshold.

Exit codes: 0 pass, 1 regression, 2 bad usage or input, 3 run failed,
4 inconclusive (when asked to fail on it), 130/143 interrupted by
SIGINT/SIGTERM (the partial result is written).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       currentBuild().String(),
	}
	// --version without cobra's -v shorthand (kept for --verbose); the
	// line is the first of `infergate version`.
	root.Flags().Bool("version", false, "print the version")
	root.SetVersionTemplate("{{.Name}} {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return errkind.Input(err)
	})
	root.AddCommand(newRunCmd(e), newBenchCmd(e), newCalibrateCmd(e), newCompareCmd(e), newMergeCmd(e), newReportCmd(e), newInitCmd(e), newWorkerCmd(), newVersionCmd(e))
	// Stray arguments are usage errors too. (The root keeps cobra's own
	// check, which reports unknown subcommands.)
	for _, c := range root.Commands() {
		wrapArgs(c)
		registerCompletions(c)
	}
	return root
}

// wrapArgs marks cobra's argument-validation errors as bad usage (exit 2).
func wrapArgs(c *cobra.Command) {
	inner := c.Args
	if inner == nil {
		inner = cobra.NoArgs
	}
	c.Args = func(cmd *cobra.Command, args []string) error {
		return errkind.Input(inner(cmd, args))
	}
}
