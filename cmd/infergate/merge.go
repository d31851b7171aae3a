package main

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/infergate/infergate/compare"
	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/result"
)

// mergeOptions are the flags of `infergate merge`.
type mergeOptions struct {
	outputFlags
	Inputs []string
}

func newMergeCmd(e *env) *cobra.Command {
	o := &mergeOptions{}
	cmd := &cobra.Command{
		Use:   "merge A.json B.json … -o ALL.json",
		Short: "Merge results of the same models from several runners (matrix shards) into one",
		Long: `merge combines results that measured the same targets (matched by role and
model name), for example the shards of a CI matrix: every round of every
input is kept (re-indexed: A's rounds first, then B's, …), each target's
summary is recomputed from the merged HDR histograms, throughput from the
summed requests and busy time, errors are summed and memory is the largest
peak. The configuration and machine are the first input's; differences are
warnings. Inputs of different targets are refused (exit 2).

When the configuration holds thresholds (results of run, or of bench with
budgets), the checks are judged again on all rounds, at the saved
--confidence, and merge exits as run would (0 pass, 1 regression, 3 a shard
failed, 4 inconclusive under the saved --on-inconclusive fail). Without
thresholds the verdict is "none" and merge exits 0.`,
		Example: `  infergate merge shard-*/result.json -o all.json --markdown all.md
  infergate merge shard-1/result.json shard-2/result.json shard-3/result.json \
      -o all.json --junit junit.xml --html report.html`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Inputs = args
			if cmd.Flags().Changed("output") {
				o.jsonFlag = "output"
			}
			return exitWith(runMerge(e, o))
		},
	}
	o.register(cmd.Flags())
	cmd.Flags().StringVarP(&o.JSONPath, "output", "o", "", "write the merged result JSON to this `file` (same as --json)")
	return cmd
}

// runMerge is `infergate merge` without cobra.
func runMerge(e *env, o *mergeOptions) (ExitCode, error) {
	if err := o.validate(); err != nil {
		return 0, err
	}
	docs := make([]*result.Result, len(o.Inputs))
	for i, p := range o.Inputs {
		var err error
		if docs[i], err = readResultFile(p); err != nil {
			return 0, err
		}
		if n := len(docs[i].Stages); n > 0 {
			return 0, errkind.Input(fmt.Errorf("%s is a load sweep (%d stages): merge combines runs without a sweep", p, n))
		}
	}
	res, err := mergeResults(o.Inputs, docs)
	if err != nil {
		return 0, err
	}
	policy, err := rejudge(res)
	if err != nil {
		return 0, err
	}
	code, err := finishSaved(e, res, policy, o.outputFlags,
		"inconclusive: the merged rounds could not decide every check; add shards or rounds, or set --on-inconclusive fail to fail the build on this")
	if err != nil {
		return 0, err
	}
	if res.Config.AA && code != ExitRunFailed {
		return ExitPass, nil // an A/A run's verdict gates nothing
	}
	return code, nil
}

// targetKey matches targets across results: role and model name.
func targetKey(t result.Target) string { return string(t.Role) + " " + t.Name }

func targetKeys(r *result.Result) []string {
	keys := make([]string, len(r.Targets))
	for i, t := range r.Targets {
		keys[i] = targetKey(t)
	}
	return keys
}

// mergeResults merges documents of the same targets into one; see
// newMergeCmd. The checks are left empty for rejudge.
func mergeResults(paths []string, docs []*result.Result) (*result.Result, error) {
	first := docs[0]
	res := &result.Result{
		SchemaVersion: result.SchemaVersion,
		Tool:          result.Tool{Name: "infergate", Version: version},
		StartedAt:     first.StartedAt,
		FinishedAt:    first.FinishedAt,
		Config:        first.Config,
		Machine:       first.Machine,
		Checks:        []result.Check{},
	}
	want := targetKeys(first)
	sorted := slices.Sorted(slices.Values(want))
	if len(slices.Compact(slices.Clone(sorted))) != len(sorted) {
		return nil, errkind.Input(fmt.Errorf("%s: two targets with the same role and model name (%s); cannot tell them apart", paths[0], strings.Join(want, ", ")))
	}
	for i, d := range docs[1:] {
		got := slices.Sorted(slices.Values(targetKeys(d)))
		if !slices.Equal(got, sorted) {
			return nil, errkind.Input(fmt.Errorf("%s has targets [%s], %s has [%s]: merge combines results of the same models only",
				paths[i+1], strings.Join(targetKeys(d), ", "), paths[0], strings.Join(want, ", ")))
		}
	}
	for _, t := range first.Targets {
		res.Targets = append(res.Targets, result.Target{
			Role: t.Role, Name: t.Name, Kind: t.Kind, Model: t.Model, ModelVersion: t.ModelVersion, Inputs: t.Inputs,
			Rounds: []result.Round{}, Errors: result.Errors{ByKind: map[string]int64{}},
		})
	}

	var configDiff, machineDiff []string
	offset := 0
	for i, d := range docs {
		name := filepath.Base(paths[i])
		res.StartedAt = earliest(res.StartedAt, d.StartedAt)
		res.FinishedAt = latest(res.FinishedAt, d.FinishedAt)
		if i > 0 {
			if w := differences(filepath.Base(paths[0]), first, name, d); len(w) > 0 {
				for _, s := range w {
					if strings.Contains(s, "different machines") {
						machineDiff = append(machineDiff, name)
					} else {
						configDiff = append(configDiff, name)
					}
				}
			}
			if !maps.Equal(first.Config.Thresholds, d.Config.Thresholds) || first.Config.LatencyPercentile != d.Config.LatencyPercentile {
				configDiff = append(configDiff, name)
			}
		}
		if d.Interrupted {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s was interrupted: its numbers cover only the rounds measured before the signal", name))
		}
		if d.Error != "" {
			res.Error = joinErr(res.Error, name+": "+oneLine(d.Error))
		}
		// This input's rounds follow the previous inputs': shift every
		// index by the span so far, the same for each target, so rounds
		// that ran back to back stay paired.
		span := 0
		for _, t := range d.Targets {
			for _, r := range t.Rounds {
				span = max(span, r.Index+1)
			}
		}
		for _, t := range d.Targets {
			m := mergedTarget(res, t)
			for _, r := range t.Rounds {
				r.Index += offset
				m.Rounds = append(m.Rounds, r)
			}
			m.Errors.Total += t.Errors.Total
			m.LateStarts += t.LateStarts
			for k, v := range t.Errors.ByKind {
				m.Errors.ByKind[k] += v
			}
			for k, v := range t.Errors.ByClass {
				if m.Errors.ByClass == nil {
					m.Errors.ByClass = map[string]int64{}
				}
				m.Errors.ByClass[k] += v
			}
			for k, rows := range t.Errors.Examples {
				if m.Errors.Examples == nil {
					m.Errors.Examples = map[string][]int64{}
				}
				for _, row := range rows {
					if len(m.Errors.Examples[k]) < 5 && !slices.Contains(m.Errors.Examples[k], row) {
						m.Errors.Examples[k] = append(m.Errors.Examples[k], row)
					}
				}
			}
			m.Memory.LoadRSSBytes = max(m.Memory.LoadRSSBytes, t.Memory.LoadRSSBytes)
			m.Memory.PeakRSSBytes = max(m.Memory.PeakRSSBytes, t.Memory.PeakRSSBytes)
			if t.Failed != "" {
				m.Failed = joinErr(m.Failed, name+": "+oneLine(t.Failed))
			}
		}
		offset += span
	}
	for i := range res.Targets {
		if err := summarize(&res.Targets[i]); err != nil {
			return nil, errkind.Input(err)
		}
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	res.Warnings = append([]string{fmt.Sprintf("merged %d results: %s", len(docs), strings.Join(names, ", "))}, res.Warnings...)
	if len(configDiff) > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the configuration of %s differs from %s's; the merged result keeps %s's",
			strings.Join(slices.Compact(configDiff), ", "), names[0], names[0]))
	}
	if len(machineDiff) > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s ran on other machines than %s; the merged result names %s's, and its rounds mix machines",
			strings.Join(slices.Compact(machineDiff), ", "), names[0], names[0]))
	}
	if res.Error != "" {
		res.Verdict = result.VerdictError
	}
	return res, nil
}

func mergedTarget(res *result.Result, t result.Target) *result.Target {
	for i := range res.Targets {
		if targetKey(res.Targets[i]) == targetKey(t) {
			return &res.Targets[i]
		}
	}
	panic("merge: target " + targetKey(t) + " not found") // keys were checked
}

func joinErr(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// summarize recomputes a target's latency summary from its rounds' merged
// histograms and its throughput from their requests, rows and busy time.
func summarize(t *result.Target) error {
	h, err := t.Histogram()
	if err != nil {
		return err
	}
	t.Latency = h.Summary()
	var req, rows, busy int64
	for _, r := range t.Rounds {
		req += r.Requests
		rows += r.Rows
		busy += r.ElapsedNS
	}
	t.Throughput = result.Throughput{}
	if busy > 0 {
		secs := float64(busy) / 1e9
		t.Throughput = result.Throughput{InferencesPerS: float64(req) / secs, RowsPerS: float64(rows) / secs}
	}
	return nil
}

// rejudge judges a merged result again from the thresholds its
// configuration recorded, at its confidence, and returns the inconclusive
// policy to apply. Without thresholds the verdict is "none".
func rejudge(res *result.Result) (string, error) {
	policy := res.Config.OnInconclusive
	if policy == "" {
		policy = inconclusiveWarn
	}
	conf := res.Config.Confidence
	if conf == 0 {
		conf = compare.DefaultConfidence
	}
	if res.Verdict == result.VerdictError {
		return policy, nil
	}
	specs, err := specsFromConfig(res)
	if err != nil {
		return "", err
	}
	opts := compare.DefaultOptions()
	opts.Confidence = conf
	j, err := compare.JudgeWith(res, specs, opts)
	if err != nil {
		return "", runFailure(err)
	}
	res.Checks, res.Verdict, res.DetectableChange = j.Checks, j.Verdict, j.DetectableChange
	res.Warnings = append(res.Warnings, j.Warnings...)
	if res.Config.AA {
		res.Warnings = append(res.Warnings, compare.AAResolutionWarnings(res.Checks)...)
	}
	return policy, nil
}

// specsFromConfig rebuilds the checks a result was judged with from its
// config.thresholds, through the same parsers as the flags.
func specsFromConfig(res *result.Result) ([]compare.Spec, error) {
	th := res.Config.Thresholds
	if len(th) == 0 {
		return nil, nil
	}
	o := &runOptions{}
	fields := map[string]*string{
		"max-latency-increase":    &o.MaxLatencyIncrease,
		"max-p99-increase":        &o.MaxP99Increase,
		"min-throughput-ratio":    &o.MinThroughputRatio,
		"max-memory-increase":     &o.MaxMemoryIncrease,
		"max-gpu-memory-increase": &o.MaxGPUMemoryIncrease,
		"max-size-slope-increase": &o.MaxSizeSlopeIncrease,
		"max-error-rate":          &o.MaxErrorRate,
		"max-p50":                 &o.MaxP50,
		"max-p95":                 &o.MaxP95,
		"max-p99":                 &o.MaxP99,
	}
	for k, v := range th {
		dst, ok := fields[k]
		if !ok {
			return nil, errkind.Input(fmt.Errorf("config.thresholds has %q, a check this infergate does not know; upgrade infergate", k))
		}
		*dst = v
	}
	o.LatencyPercentile = "p95"
	if q := res.Config.LatencyPercentile; q > 0 {
		o.LatencyPercentile = strconv.FormatFloat(q, 'f', -1, 64)
	}
	thr, err := o.thresholds(map[string]string{})
	if err != nil {
		return nil, fmt.Errorf("config.thresholds: %w", err)
	}
	mode := compare.ModeSingle
	if res.Target(result.RoleProduction) != nil {
		mode = compare.ModePair
	}
	return compare.NewSpecs(thr, mode)
}
