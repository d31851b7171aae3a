package main

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/infergate/infergate/compare"
	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/result"
)

// compareOptions are the flags of `infergate compare`: run's checks,
// confidence, inconclusive policy and report files, nothing to measure.
type compareOptions struct {
	runOptions
	Base, New string
}

func newCompareCmd(e *env) *cobra.Command {
	o := &compareOptions{}
	cmd := &cobra.Command{
		Use:   "compare BASE.json NEW.json [checks]",
		Short: "Judge two saved results: BASE's model as production, NEW's as the candidate",
		Long: `compare judges two results saved by different runs (bench, or run): BASE's
target (a bench result's model, or a run's production) plays production,
NEW's (a bench result's model, or a run's candidate) the candidate, and the
checks are those of run.

The two were not measured in interleaved rounds, so their rounds cannot be
paired: each ratio's interval comes from a two-sample block bootstrap that
resamples each side's rounds independently. Drift between the two runs (a
different machine, a different hour) is not cancelled, and the intervals
are wider than run's; prefer run when both models are at hand. compare
warns when the results differ in dataset, batch size, machine or settings.

Exit codes as run: 0 pass, 1 regression, 2 bad input, 4 inconclusive with
--on-inconclusive fail.`,
		Example: `  infergate bench --model ./model.onnx --dataset ./test.parquet --json new.json
  infergate compare production-baseline.json new.json --max-latency-increase 1.15 --markdown report.md
  infergate compare baseline.json new.json --max-p99-increase 1.2 --max-p99 50ms \
      --on-inconclusive fail --junit junit.xml --html report.html`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Base, o.New = args[0], args[1]
			return exitWith(runCompare(e, o))
		},
	}
	fs := cmd.Flags()
	o.registerChecks(fs)
	o.registerBudgets(fs)
	o.registerPolicy(fs)
	o.outputFlags.register(fs)
	return cmd
}

// runCompare is `infergate compare` without cobra.
func runCompare(e *env, o *compareOptions) (ExitCode, error) {
	given := map[string]string{}
	thr, err := o.thresholds(given)
	if err != nil {
		return 0, err
	}
	specs, err := compare.NewSpecs(thr, compare.ModePair)
	if err != nil {
		return 0, err
	}
	if err := validatePolicy(o.Confidence, o.OnInconclusive); err != nil {
		return 0, err
	}
	if err := o.outputFlags.validate(); err != nil {
		return 0, err
	}
	base, err := readResultFile(o.Base)
	if err != nil {
		return 0, err
	}
	cand, err := readResultFile(o.New)
	if err != nil {
		return 0, err
	}
	res, err := combine(o.Base, base, o.New, cand)
	if err != nil {
		return 0, err
	}
	res.Config.LatencyPercentile = thr.LatencyQuantile
	res.Config.Thresholds = given
	res.Config.Confidence = o.Confidence
	res.Config.OnInconclusive = o.OnInconclusive

	opts := compare.DefaultOptions()
	opts.Confidence = o.Confidence
	j, err := compare.JudgeUnpaired(res, specs, opts)
	if err != nil {
		return 0, runFailure(err)
	}
	res.Checks, res.Verdict, res.DetectableChange = j.Checks, j.Verdict, j.DetectableChange
	res.Warnings = append(res.Warnings, j.Warnings...)
	return finishSaved(e, res, o.OnInconclusive, o.outputFlags,
		"inconclusive: these results could not decide every check; measure longer (more rounds on each side), or set --on-inconclusive fail to fail the build on this")
}

// sideOf picks the target a saved result contributes to a comparison: a
// bench result's only model, else the run's target of the given role.
func sideOf(path string, r *result.Result, role result.Role) (result.Target, error) {
	if r.Verdict == result.VerdictError || r.Error != "" {
		return result.Target{}, errkind.Input(fmt.Errorf("%s: that run failed (%s); there is nothing to compare", path, orDash(r.Error)))
	}
	t := r.Target(result.RoleSingle)
	if t == nil {
		t = r.Target(role)
	}
	if t == nil {
		return result.Target{}, errkind.Input(fmt.Errorf("%s: no %s or bench model target to compare", path, role))
	}
	if t.Failed != "" {
		return result.Target{}, errkind.Input(fmt.Errorf("%s: target %s failed (%s); there is nothing to compare", path, t.Name, t.Failed))
	}
	return *t, nil
}

func orDash(s string) string {
	if s == "" {
		return "no reason recorded"
	}
	return oneLine(s)
}

// combine builds the document `compare` judges and reports: BASE's target
// as production, NEW's as the candidate, each with its own rounds; the
// configuration and machine are NEW's, and every difference between the
// two runs that could explain a change is a warning.
func combine(basePath string, base *result.Result, newPath string, cand *result.Result) (*result.Result, error) {
	bt, err := sideOf(basePath, base, result.RoleProduction)
	if err != nil {
		return nil, err
	}
	ct, err := sideOf(newPath, cand, result.RoleCandidate)
	if err != nil {
		return nil, err
	}
	bt.Role, ct.Role = result.RoleProduction, result.RoleCandidate
	res := &result.Result{
		SchemaVersion: result.SchemaVersion,
		Tool:          result.Tool{Name: "infergate", Version: version},
		StartedAt:     earliest(base.StartedAt, cand.StartedAt),
		FinishedAt:    latest(base.FinishedAt, cand.FinishedAt),
		Config:        cand.Config,
		Machine:       cand.Machine,
		Targets:       []result.Target{bt, ct},
		Checks:        []result.Check{},
	}
	res.Config.Command = "compare"
	res.Config.AA = false
	res.TestSet = cand.TestSet
	// The breakdown by input size compares like with like only when both
	// runs cut the sizes into the same buckets.
	if base.InputSizes != nil && reflect.DeepEqual(base.InputSizes, cand.InputSizes) {
		res.InputSizes = cand.InputSizes
	}
	res.Warnings = append(res.Warnings, fmt.Sprintf("compared saved results: production %s from %s, candidate %s from %s",
		bt.Name, filepath.Base(basePath), ct.Name, filepath.Base(newPath)))
	res.Warnings = append(res.Warnings, differences(filepath.Base(basePath), base, filepath.Base(newPath), cand)...)
	for _, s := range []struct {
		path string
		r    *result.Result
	}{{basePath, base}, {newPath, cand}} {
		if s.r.Interrupted {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s was interrupted: its numbers cover only the rounds measured before the signal", filepath.Base(s.path)))
		}
	}
	return res, nil
}

// differences lists what differs between two results' configuration and
// machine that bears on comparing their numbers.
func differences(aName string, a *result.Result, bName string, b *result.Result) []string {
	type field struct {
		name string
		a, b any
	}
	ca, cb := a.Config, b.Config
	cfg := []field{
		{"dataset", ca.Dataset, cb.Dataset},
		{"dataset rows", ca.DatasetRows, cb.DatasetRows},
		{"rows", ca.Rows, cb.Rows},
		{"batch size", ca.BatchSize, cb.BatchSize},
		{"shuffle seed", shuffleOf(ca), shuffleOf(cb)},
		{"concurrency", ca.Concurrency, cb.Concurrency},
		{"device", ca.Device, cb.Device},
		{"intra-op threads", ca.IntraThreads, cb.IntraThreads},
		{"inter-op threads", ca.InterThreads, cb.InterThreads},
		{"graph optimization", ca.GraphOptimization, cb.GraphOptimization},
	}
	ma, mb := a.Machine, b.Machine
	mach := []field{
		{"CPU", ma.CPUModel, mb.CPUModel},
		{"cores", ma.Cores, mb.Cores},
		{"OS", ma.OS + "/" + ma.Arch, mb.OS + "/" + mb.Arch},
		{"ONNX Runtime", ma.ORTVersion, mb.ORTVersion},
		{"GPU", ma.GPU, mb.GPU},
	}
	diff := func(fs []field) []string {
		var out []string
		for _, f := range fs {
			if fmt.Sprint(f.a) != fmt.Sprint(f.b) {
				out = append(out, fmt.Sprintf("%s %v vs %v", f.name, show(f.a), show(f.b)))
			}
		}
		return out
	}
	var w []string
	if same, why := fingerprint(a).SameAs(fingerprint(b)); !same {
		w = append(w, fmt.Sprintf("%s and %s came from different test sets (%s): the comparison may reflect the data, not the models",
			aName, bName, why))
	}
	if d := diff(cfg); len(d) > 0 {
		w = append(w, fmt.Sprintf("%s and %s were measured differently (%s): the comparison may reflect that, not the models",
			aName, bName, strings.Join(d, "; ")))
	}
	if d := diff(mach); len(d) > 0 {
		w = append(w, fmt.Sprintf("%s and %s ran on different machines (%s): the comparison may reflect that, not the models",
			aName, bName, strings.Join(d, "; ")))
	}
	return w
}

// fingerprint is r's test-set fingerprint, its batch size taken from the
// configuration in documents that predate TestSet.BatchSize (their size
// quantiles are of the top level's batches).
func fingerprint(r *result.Result) *result.TestSet {
	if r.TestSet == nil || r.TestSet.BatchSize > 0 {
		return r.TestSet
	}
	ts := *r.TestSet
	ts.BatchSize = r.Config.BatchSize
	return &ts
}

func shuffleOf(c result.Config) string {
	if !c.Shuffle {
		return "none"
	}
	return fmt.Sprint(c.ShuffleSeed)
}

func show(v any) any {
	if s, ok := v.(string); ok && s == "" {
		return "(none)"
	}
	return v
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// finishSaved applies the inconclusive policy to a judged saved result,
// writes its reports and returns the exit code its verdict calls for.
func finishSaved(e *env, res *result.Result, onInconclusive string, out outputFlags, inconclusiveNote string) (ExitCode, error) {
	if res.Verdict == result.VerdictInconclusive && onInconclusive == inconclusiveWarn {
		res.Warnings = append(res.Warnings, inconclusiveNote)
	}
	res.Warnings = slices.Compact(res.Warnings)
	if err := writeReports(e, res, out); err != nil {
		return 0, err
	}
	return exitCodeFor(nil, res.Verdict, onInconclusive == inconclusiveFail), nil
}
