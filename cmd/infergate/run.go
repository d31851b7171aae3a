package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/infergate/infergate/bench"
	"github.com/infergate/infergate/compare"
	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/result"
)

// runOptions are the flags of `infergate run`.
type runOptions struct {
	measureFlags

	Candidate          string
	Production         string
	CandidateURL       string
	ProductionURL      string
	CandidateInputMap  []string
	ProductionInputMap []string

	MaxLatencyIncrease string
	LatencyPercentile  string
	MaxP99Increase     string
	MinThroughputRatio string
	MaxMemoryIncrease  string
	// MaxGPUMemoryIncrease bounds candidate/production peak GPU memory.
	MaxGPUMemoryIncrease string
	MaxErrorRate         string
	// MaxSizeSlopeIncrease bounds candidate/production latency-vs-size slope.
	MaxSizeSlopeIncrease string

	// Output parity (--check-outputs), run only.
	parityFlags
	// Operator profile (--profile), run only.
	profileFlags

	// AA runs production against itself (--aa, and `calibrate`).
	AA        bool
	calibrate bool

	bothCandidate, bothProduction bool // an alias and its new name were both given
}

func newRunCmd(e *env) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run --candidate NEW.onnx --production PROD.onnx --dataset TEST.parquet [checks]",
		Short: "Judge a candidate model against production on a test set",
		Example: `  infergate run --candidate ./candidate.onnx --production ./production.onnx \
      --dataset ./test_data.parquet --max-latency-increase 1.15
  # the names existing CI scripts use work too:
  infergate run --model-path ./new-model.onnx --reference-path ./production.onnx \
      --dataset ./test_data.parquet --max-latency-increase 1.15 --json result.json
  # on a GPU (the CUDA build of ONNX Runtime), with a GPU memory check:
  infergate run --candidate ./candidate.onnx --production ./production.onnx \
      --dataset ./test_data.parquet --device cuda --ort-lib /opt/onnxruntime-gpu/lib/libonnxruntime.so \
      --max-latency-increase 1.10 --max-gpu-memory-increase 1.2
  # a local candidate against the production endpoint (KServe v2 REST):
  infergate run --candidate ./candidate.onnx \
      --production-url http://models.internal:8080/v2/models/ranker \
      --dataset ./test_data.parquet --max-p99-increase 1.2 --max-error-rate 0.1%
  # settings from a config file, every report for CI:
  infergate run --config infergate.yaml --on-inconclusive fail \
      --json result.json --markdown report.md --junit junit.xml --html report.html`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(e, cmd.Flags())
			if err != nil {
				return err
			}
			if cfg != nil && len(cfg.pairs) > 0 && !namesModels(cmd.Flags()) {
				return exitWith(runPairs(cmd.Context(), e, cmd.Flags(), cfg))
			}
			if err := cfg.apply(cmd.Flags(), cfg.topSettings()); err != nil {
				return err
			}
			return exitWith(o.runParsed(cmd.Context(), e, cmd.Flags()))
		},
	}
	o.registerRunCmd(cmd.Flags())
	return cmd
}

// registerRunCmd adds every flag of `run`.
func (o *runOptions) registerRunCmd(fs *pflag.FlagSet) {
	o.registerRun(fs, true)
	fs.BoolVar(&o.AA, "aa", false, "A/A run: production against itself for a fixed --duration (default: --max-duration if given, else 30s), to measure the noise floor (as `infergate calibrate`)")
}

// runParsed runs the gate once fs holds the command line and the config.
func (o *runOptions) runParsed(ctx context.Context, e *env, fs *pflag.FlagSet) (ExitCode, error) {
	o.afterParse(fs)
	o.parityFlags.afterParseParity(fs)
	o.bothCandidate = fs.Changed("candidate") && fs.Changed("model-path")
	o.bothProduction = fs.Changed("production") && fs.Changed("reference-path")
	return runGate(ctx, e, o)
}

// registerRun adds the flags of `run`; calibrate has no candidate.
func (o *runOptions) registerRun(fs *pflag.FlagSet, withCandidate bool) {
	o.register(fs)
	if withCandidate {
		fs.StringVar(&o.Candidate, "candidate", "", "candidate ONNX model (the new one)")
		fs.StringVar(&o.Candidate, "model-path", "", "same as --candidate")
		fs.StringArrayVar(&o.CandidateInputMap, "candidate-input-map", nil, "like --input-map, for the candidate only")
		fs.StringArrayVar(&o.ProductionInputMap, "production-input-map", nil, "like --input-map, for production only")
		o.parityFlags.registerParity(fs)
		o.profileFlags.registerProfile(fs)
	}
	fs.StringVar(&o.Production, "production", "", "production ONNX model (the reference)")
	fs.StringVar(&o.Production, "reference-path", "", "same as --production")
	fs.StringVar(&o.ProductionURL, "production-url", "", "production model's endpoint, e.g. http://host:8080/v2/models/NAME or grpc://host:8081/NAME")
	if withCandidate {
		fs.StringVar(&o.CandidateURL, "candidate-url", "", "candidate model's endpoint (see --production-url)")
	}
	o.registerChecks(fs)
}

// registerChecks adds the ratio checks (run and compare).
func (o *runOptions) registerChecks(fs *pflag.FlagSet) {
	fs.StringVar(&o.MaxLatencyIncrease, "max-latency-increase", "", "fail when candidate/production latency at --latency-percentile exceeds this `ratio`, e.g. 1.15")
	fs.StringVar(&o.LatencyPercentile, "latency-percentile", "p95", "percentile --max-latency-increase judges: p50, p90, p95, p99, p99.9")
	fs.StringVar(&o.MaxP99Increase, "max-p99-increase", "", "fail when candidate/production p99 exceeds this `ratio`")
	fs.StringVar(&o.MinThroughputRatio, "min-throughput-ratio", "", "fail when candidate/production inferences per second fall below this `ratio`, e.g. 0.9")
	fs.StringVar(&o.MaxMemoryIncrease, "max-memory-increase", "", "fail when candidate/production peak resident memory exceeds this `ratio`")
	fs.StringVar(&o.MaxGPUMemoryIncrease, "max-gpu-memory-increase", "", "fail when candidate/production peak GPU memory exceeds this `ratio` (needs --device cuda, or --server-pid / --server-metrics for endpoints)")
	fs.StringVar(&o.MaxSizeSlopeIncrease, "max-size-slope-increase", "", "fail when candidate/production slope of latency against input size (sequence length, else elements) exceeds this `ratio`")
	fs.StringVar(&o.MaxErrorRate, "max-error-rate", "", "fail when the candidate's failed requests exceed this `fraction` (0.01 or 1%)")
}

// gate is a validated `run`: everything is parsed before anything runs.
type gate struct {
	measurement
	specs []compare.Spec
	thr   compare.Thresholds
	given map[string]string
}

func (o *runOptions) validate(getenv func(string) string) (*gate, error) {
	if o.bothCandidate {
		return nil, errkind.Input(errors.New("give --candidate or --model-path, not both"))
	}
	if o.bothProduction {
		return nil, errkind.Input(errors.New("give --production or --reference-path, not both"))
	}
	if o.AA {
		if (o.Candidate != "" || o.CandidateURL != "") && !o.calibrate {
			return nil, errkind.Input(errors.New("--aa runs production against itself: leave out --candidate"))
		}
		if o.Production == "" && o.ProductionURL == "" {
			return nil, errkind.Input(errors.New("no production model: give --production (or --reference-path) or --production-url; an A/A run measures it against itself"))
		}
		o.Candidate, o.CandidateURL = o.Production, o.ProductionURL
		if o.Duration == "" && o.Requests == 0 {
			// The whole budget, not a sequential plan that stops as soon
			// as A/A passes: the point is the interval's width. `run --aa`
			// and `calibrate` measure alike; a --max-duration given is
			// the budget to spend.
			o.Duration = calibrateDuration
			if o.maxDurationSet {
				o.Duration = o.MaxDuration
			}
		}
	}
	switch {
	case o.Candidate != "" && o.CandidateURL != "":
		return nil, errkind.Input(errors.New("give --candidate or --candidate-url, not both"))
	case o.Production != "" && o.ProductionURL != "":
		return nil, errkind.Input(errors.New("give --production or --production-url, not both"))
	case o.Candidate == "" && o.CandidateURL == "":
		return nil, errkind.Input(errors.New("no candidate model: give --candidate (or --model-path) or --candidate-url"))
	case o.Production == "" && o.ProductionURL == "":
		return nil, errkind.Input(errors.New("no production model: give --production (or --reference-path) or --production-url"))
	case o.Dataset == "":
		return nil, errkind.Input(errors.New("no test set: give --dataset FILE.parquet"))
	}
	g := &gate{given: map[string]string{}}
	var err error
	if g.thr, err = o.thresholds(g.given); err != nil {
		return nil, err
	}
	if o.AA && len(g.given) == 0 {
		// An A/A run needs a latency check to have an interval to report.
		g.thr.MaxLatencyIncrease = defaultAAThreshold
		g.given["max-latency-increase"] = strconv.FormatFloat(defaultAAThreshold, 'f', -1, 64)
	}
	if g.specs, err = compare.NewSpecs(g.thr, compare.ModePair); err != nil {
		return nil, err
	}
	if g.plan, err = o.plan(); err != nil {
		return nil, err
	}
	if g.stages, err = o.stages(); err != nil {
		return nil, err
	}
	if g.fills, err = parseFills(o.Fills); err != nil {
		return nil, err
	}
	shared, err := parseInputMaps("input-map", o.InputMaps)
	if err != nil {
		return nil, err
	}
	candMap, err := parseInputMaps("candidate-input-map", o.CandidateInputMap)
	if err != nil {
		return nil, err
	}
	prodMap, err := parseInputMaps("production-input-map", o.ProductionInputMap)
	if err != nil {
		return nil, err
	}
	// Production first: it is the reference every ratio divides by.
	g.models = []model{
		{Role: result.RoleProduction, Path: o.Production, URL: o.ProductionURL, InputMap: mergeMaps(shared, prodMap)},
		{Role: result.RoleCandidate, Path: o.Candidate, URL: o.CandidateURL, InputMap: mergeMaps(shared, candMap)},
	}
	g.flags = o.measureFlags
	if g.parity, err = o.parityFlags.validateParity(plainHTTP(o.Protocol, o.ProductionURL, o.CandidateURL)); err != nil {
		return nil, err
	}
	if g.profile, err = o.profileFlags.validateProfile(o.CandidateURL != "" || o.ProductionURL != ""); err != nil {
		return nil, err
	}
	if err := g.setup(getenv); err != nil {
		return nil, err
	}
	if err := g.gpu.checkGPUChecks(g.given, g.models); err != nil {
		return nil, err
	}
	if err := checkMemoryCheck(g.given, g.models); err != nil {
		return nil, err
	}
	return g, nil
}

// thresholds parses the check flags, recording those given.
func (o *runOptions) thresholds(given map[string]string) (compare.Thresholds, error) {
	var t compare.Thresholds
	ratios := []struct {
		flag, value string
		dst         *float64
	}{
		{"max-latency-increase", o.MaxLatencyIncrease, &t.MaxLatencyIncrease},
		{"max-p99-increase", o.MaxP99Increase, &t.MaxP99Increase},
		{"min-throughput-ratio", o.MinThroughputRatio, &t.MinThroughputRatio},
		{"max-memory-increase", o.MaxMemoryIncrease, &t.MaxMemoryIncrease},
		{"max-gpu-memory-increase", o.MaxGPUMemoryIncrease, &t.MaxGPUMemoryIncrease},
		{"max-size-slope-increase", o.MaxSizeSlopeIncrease, &t.MaxSizeSlopeIncrease},
	}
	for _, r := range ratios {
		if r.value == "" {
			continue
		}
		v, err := compare.ParseRatio(r.flag, r.value)
		if err != nil {
			return t, err
		}
		*r.dst = v
		given[r.flag] = r.value
	}
	q, err := compare.ParseQuantile(o.LatencyPercentile)
	if err != nil {
		return t, err
	}
	t.LatencyQuantile = q
	if o.MaxErrorRate != "" {
		v, err := compare.ParseRate("max-error-rate", o.MaxErrorRate)
		if err != nil {
			return t, err
		}
		t.MaxErrorRate = &v
		given["max-error-rate"] = o.MaxErrorRate
	}
	if err := o.budgets(&t); err != nil {
		return t, err
	}
	for flag, v := range map[string]string{"max-p50": o.MaxP50, "max-p95": o.MaxP95, "max-p99": o.MaxP99} {
		if v != "" {
			given[flag] = v
		}
	}
	return t, nil
}

// runGate is `infergate run` without cobra: validate, measure, judge,
// report. It returns the exit code the verdict calls for, or an error.
func runGate(ctx context.Context, e *env, o *runOptions) (ExitCode, error) {
	g, err := o.validate(e.Getenv)
	if err != nil {
		return 0, err
	}
	g.show = newProgress(e, o.Quiet, o.Verbose)
	logf := g.show.logf
	res, err := g.measure(ctx, e, logf, judgeWith(g.specs, g.flags.Confidence, logf))
	if res == nil {
		return 0, runFailure(err)
	}
	res.Config.Command = "run"
	res.Config.LatencyPercentile = g.thr.LatencyQuantile
	res.Config.Thresholds = g.given
	if !o.AA {
		return finish(e, res, err, o.measureFlags)
	}
	// An A/A run reports the noise floor; its verdict gates nothing.
	res.Config.AA = true
	res.Warnings = append(res.Warnings, compare.AAResolutionWarnings(res.Checks)...)
	if res.Verdict == result.VerdictFail {
		res.Warnings = append(res.Warnings, "the A/A run failed a check: production differs from itself beyond the interval, so this machine or plan is too unsteady for that threshold")
	}
	code, err := finish(e, res, err, o.measureFlags)
	if err != nil || code == ExitInterrupted {
		return code, err
	}
	return ExitPass, nil
}

// defaultAAThreshold is the latency check an A/A run judges when given none.
const defaultAAThreshold = 1.15

// judgeWith returns the judge of a measurement's looks for these checks:
// bootstrap intervals, Holm over the checks, alpha split over the looks.
func judgeWith(specs []compare.Spec, confidence float64, logf bench.Logf) judgeFunc {
	return func(res *result.Result, look, looks int) (bool, error) {
		opts := compare.DefaultOptions()
		opts.Confidence = confidence
		opts.Look, opts.Looks = look, looks
		j, err := compare.JudgeWith(res, specs, opts)
		if err != nil {
			return false, err
		}
		res.Checks, res.Verdict = j.Checks, j.Verdict
		res.DetectableChange = j.DetectableChange
		for _, c := range j.Checks {
			logf("  %s: %s", c.Name, checkSummary(c))
		}
		// A failed check decides the verdict whatever the others become:
		// measuring on would only spend the CI's time.
		stop := j.Decided || j.Verdict == result.VerdictFail
		if stop || look == looks {
			res.Warnings = append(res.Warnings, j.Warnings...)
		}
		return stop, nil
	}
}

// checkSummary is a progress line's view of a check: ratio, interval, outcome.
func checkSummary(c result.Check) string {
	if c.Ratio != 0 {
		return fmt.Sprintf("%.3f× [%.3f, %.3f] vs %.3g: %s", c.Ratio, c.Lower, c.Upper, c.Threshold, c.Outcome)
	}
	return fmt.Sprintf("%s: %s", c.Message, c.Outcome)
}

// finish applies the inconclusive policy, writes the reports and decides
// the exit code of a measured run.
func finish(e *env, res *result.Result, measureErr error, f measureFlags) (ExitCode, error) {
	res.Config.Confidence = f.Confidence
	res.Config.OnInconclusive = f.OnInconclusive
	if errkind.Of(measureErr) == errkind.KindInput && !measuredAny(res) {
		// Bad input found at the first batch: nothing was measured, so
		// there is nothing to report but the one line.
		return 0, measureErr
	}
	switch {
	case measureErr != nil:
		res.Verdict = result.VerdictError
		res.Error = measureErr.Error()
	case res.Interrupted:
		res.Verdict = result.VerdictInconclusive
		res.Warnings = append(res.Warnings, "interrupted: the numbers cover only the rounds measured before the signal")
	case res.Verdict == result.VerdictInconclusive && f.OnInconclusive == inconclusiveWarn:
		res.Warnings = append(res.Warnings, "inconclusive: the run could not decide every check within its budget; raise --max-duration, or set --on-inconclusive fail to fail the build on this")
	}
	if werr := writeReports(e, res, f.outputFlags); werr != nil {
		return 0, werr
	}
	if measureErr != nil {
		// The result (verdict "error") is written; now say why in one line.
		return 0, runFailure(measureErr)
	}
	if res.Interrupted {
		return ExitInterrupted, nil
	}
	return exitCodeFor(nil, res.Verdict, f.OnInconclusive == inconclusiveFail), nil
}

func measuredAny(res *result.Result) bool {
	for _, t := range res.Targets {
		if len(t.Rounds) > 0 {
			return true
		}
	}
	return false
}
