package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/infergate/infergate/bench"
	"github.com/infergate/infergate/compare"
	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/loader"
)

// measureFlags are the flags `run` and `bench` share: the dataset, how it
// binds to a model, the plan of the measurement and the runtime's settings.
type measureFlags struct {
	Dataset     string
	InputMaps   []string
	Fills       []string
	PadValue    float64
	Nulls       nullsValue
	Rows        int64
	ShuffleSeed int64
	shuffle     bool // set when --shuffle was given
	BatchSize   int
	// SizeBuckets is the number of quantile buckets latency is broken
	// down by input size into (--size-buckets).
	SizeBuckets int

	Warmup      string
	Requests    int64
	Duration    string
	Rounds      int
	MinRounds   int
	MaxDuration string
	RoundTime   string
	Concurrency int
	// A load sweep: one whole measurement per value (see stage).
	ConcurrencySweep string
	RateSweep        string
	BatchSizes       string
	// Set when --concurrency, --rate or --batch-size was given, which a
	// sweep of the same setting replaces.
	concurrencySet, rateSet, batchSizeSet bool
	// maxDurationSet: --max-duration was given (an A/A run measures for
	// that long instead of its default).
	maxDurationSet bool
	// endpointSet are the endpoint-only flags given, which a run of local
	// models refuses rather than ignores.
	endpointSet []string

	Confidence     float64
	OnInconclusive string

	gpuFlags
	IntraOpThreads    int
	InterOpThreads    int
	GraphOptimization string
	ORTLib            string
	// MaxMemory caps each local model's worker (a size such as 2GiB);
	// WorkerTimeout bounds every request to a worker.
	MaxMemory     string
	WorkerTimeout time.Duration

	endpointFlags
	outputFlags
	Quiet bool
	// Verbose prints every progress line, each round's too (--verbose).
	Verbose bool
	// Config is the config file's path (--config); see config.go.
	Config string

	// Absolute budgets; judged on the candidate (run) or the model (bench).
	MaxP50, MaxP95, MaxP99 string
}

// Inconclusive policies (--on-inconclusive).
const (
	inconclusivePass = "pass"
	inconclusiveWarn = "warn"
	inconclusiveFail = "fail"
)

func (f *measureFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.Dataset, "dataset", "", "Parquet test set (required)")
	fs.StringArrayVar(&f.InputMaps, "input-map", nil, "bind a model input to columns: `input=column`, input=c1,c2,… or input=glob* (repeatable)")
	fs.StringArrayVar(&f.Fills, "fill", nil, "fill an input the dataset lacks: `name=zeros`, name=0.5, name=zeros[2,1,128] (repeatable)")
	fs.Float64Var(&f.PadValue, "pad-value", 0, "value that pads variable-length lists to the longest row of a batch")
	fs.Var(&f.Nulls, "nulls", "what a null bound to a tensor input becomes: `refuse|fill`; refuse stops, naming column and row; fill sends --pad-value (false for bool) and counts the batch's errors under the input class null (request templates always get null)")
	fs.Int64Var(&f.Rows, "rows", 0, "use only the first N rows of the dataset (0: all)")
	fs.Int64Var(&f.ShuffleSeed, "shuffle", 0, "shuffle the rows with this `seed` (reads the selected rows into memory)")
	fs.IntVar(&f.BatchSize, "batch-size", 1, "rows per inference call")
	fs.IntVar(&f.SizeBuckets, "size-buckets", bench.DefaultSizeBuckets, fmt.Sprintf("latency by input size: `N` quantile buckets of the test set's input sizes (%d to %d); one bucket per size when there are at most max(8, N) distinct sizes", bench.MinSizeBuckets, bench.MaxSizeBuckets))

	fs.StringVar(&f.Warmup, "warmup", "auto", "warmup per model, never recorded: auto (until latency stops drifting, at most 10s), requests (200) or a duration (5s)")
	fs.Int64Var(&f.Requests, "requests", 0, "fixed measured pass: requests per model, judged once at the end")
	fs.StringVar(&f.Duration, "duration", "", "fixed measured pass: time of all models together, judged once at the end")
	fs.IntVar(&f.Rounds, "rounds", 20, "rounds a fixed measured pass is split into; models alternate within each")
	fs.StringVar(&f.MaxDuration, "max-duration", "120s", "budget of measured time, all models together; the run stops as soon as every check is decided")
	fs.IntVar(&f.MinRounds, "min-rounds", 10, "rounds before the first look (then at each doubling)")
	fs.StringVar(&f.RoundTime, "round-time", "250ms", "time each model's block of a round aims for")
	f.registerPolicy(fs)
	fs.IntVar(&f.Concurrency, "concurrency", 1, "calls in flight at once per model (closed loop): N goroutines calling Run on one session")
	fs.StringVar(&f.ConcurrencySweep, "concurrency-sweep", "", "load sweep: a whole measurement at each --concurrency of this `list`, e.g. 1,2,4,8,16, each judged with the checks (at most 16 stages)")
	fs.StringVar(&f.RateSweep, "rate-sweep", "", "load sweep of open-loop rates, endpoints only: a whole measurement at each --rate of this `list` (requests/s), e.g. 50,100,200")
	fs.StringVar(&f.BatchSizes, "batch-sizes", "", "batch-size sweep: a whole measurement at each --batch-size of this `list`, e.g. 1,8,32, each judged with the checks (at most 16 stages)")

	f.endpointFlags.register(fs)
	f.gpuFlags.register(fs)
	fs.IntVar(&f.IntraOpThreads, "intra-op-threads", 0, "ONNX Runtime intra-op threads (0: its default)")
	fs.IntVar(&f.InterOpThreads, "inter-op-threads", 0, "ONNX Runtime inter-op threads (0: its default)")
	fs.StringVar(&f.GraphOptimization, "graph-optimization", "all", "ONNX Runtime graph optimisation: "+strings.Join(bench.GraphOptimizationLevels, ", "))
	fs.StringVar(&f.MaxMemory, "max-memory", "", "kill a local model's worker whose resident memory passes this `size` (e.g. 4GiB): the target fails, the run exits 3, the CI machine survives")
	fs.DurationVar(&f.WorkerTimeout, "worker-timeout", bench.DefaultWorkerTimeout, "longest a local model's worker may take to answer one request (loading, a block) before it is killed as hung")
	fs.StringVar(&f.ORTLib, "ort-lib", "", "ONNX Runtime shared library (default: $ONNXRUNTIME_LIB, then the cache that `make ort` fills)")

	f.outputFlags.register(fs)
	fs.BoolVarP(&f.Quiet, "quiet", "q", false, "no progress on stderr")
	fs.BoolVarP(&f.Verbose, "verbose", "v", false, "progress as plain lines on stderr, every round's included, never throttled or redrawn (--quiet wins)")
	fs.StringVar(&f.Config, "config", "", "read settings from this YAML `file` (default: ./infergate.yaml when there is one); flags override it")

	f.registerBudgets(fs)
}

// nullsValue is --nulls, parsed when set, so that a bad value in the
// config file or on the command line is refused by the same code before
// anything runs.
type nullsValue struct{ policy loader.NullPolicy }

func (v *nullsValue) String() string { return v.policy.String() }
func (v *nullsValue) Type() string   { return "string" }
func (v *nullsValue) Set(s string) error {
	p, err := loader.ParseNullPolicy(s)
	if err != nil {
		return err
	}
	v.policy = p
	return nil
}

// registerBudgets adds the absolute latency budgets (shared with compare).
func (f *measureFlags) registerBudgets(fs *pflag.FlagSet) {
	fs.StringVar(&f.MaxP50, "max-p50", "", "absolute p50 budget, e.g. 10ms")
	fs.StringVar(&f.MaxP95, "max-p95", "", "absolute p95 budget, e.g. 20ms")
	fs.StringVar(&f.MaxP99, "max-p99", "", "absolute p99 budget, e.g. 50ms")
}

// validatePolicy checks --confidence and --on-inconclusive.
func validatePolicy(confidence float64, onInconclusive string) error {
	if !(confidence >= 0.5 && confidence < 1) {
		return errkind.Input(fmt.Errorf("--confidence %v: want a level in [0.5, 1), e.g. 0.95", confidence))
	}
	switch onInconclusive {
	case inconclusivePass, inconclusiveWarn, inconclusiveFail:
		return nil
	}
	return errkind.Input(fmt.Errorf("--on-inconclusive %q: want pass, warn or fail", onInconclusive))
}

// registerPolicy adds --confidence and --on-inconclusive.
func (f *measureFlags) registerPolicy(fs *pflag.FlagSet) {
	fs.Float64Var(&f.Confidence, "confidence", 0.95, "one-sided confidence level of every verdict")
	fs.StringVar(&f.OnInconclusive, "on-inconclusive", inconclusiveWarn, "when a check cannot be decided within the budget: pass, warn (exit 0 with a warning) or fail (exit 4)")
}

// rowsUsed is how many of the dataset's rows the run reads: all of them,
// or the first (with --shuffle, sampled) --rows.
func (f *measureFlags) rowsUsed(ds *loader.Dataset) int64 {
	if f.Rows > 0 {
		return min(ds.NumRows(), f.Rows)
	}
	return ds.NumRows()
}

// afterParse records flags whose presence matters, not just their value.
func (f *measureFlags) afterParse(fs *pflag.FlagSet) {
	f.shuffle = fs.Changed("shuffle")
	f.concurrencySet = fs.Changed("concurrency")
	f.rateSet = fs.Changed("rate")
	f.batchSizeSet = fs.Changed("batch-size")
	f.maxDurationSet = fs.Changed("max-duration")
	for _, name := range endpointOnlyFlags {
		if fs.Changed(name) {
			f.endpointSet = append(f.endpointSet, name)
		}
	}
}

// endpointOnlyFlags mean something for endpoints only (--rate,
// --server-pid and --server-metrics say so themselves).
var endpointOnlyFlags = []string{"protocol", "header", "secret-header", "ca-cert", "insecure", "timeout",
	"ready-timeout", "arrival", "request-template", "response-path", "method", "tf-format"}

// plan validates the measurement flags into a bench.Plan.
func (f *measureFlags) plan() (bench.Plan, error) {
	p := bench.Plan{Rounds: f.Rounds, Concurrency: f.Concurrency}
	var err error
	if p.Warmup, err = bench.ParseAmount("warmup", f.Warmup); err != nil {
		return p, err
	}
	if f.Requests < 0 {
		return p, errkind.Input(fmt.Errorf("--requests %d: must not be negative", f.Requests))
	}
	if f.Requests > 0 && f.Duration != "" {
		return p, errkind.Input(errors.New("give --requests or --duration, not both"))
	}
	switch {
	case f.Requests > 0:
		p.Measure = bench.Amount{Requests: f.Requests}
	case f.Duration != "":
		a, err := bench.ParseAmount("duration", f.Duration)
		if err != nil {
			return p, err
		}
		if a.Duration == 0 {
			return p, errkind.Input(fmt.Errorf("--duration %q: want a duration such as 30s", f.Duration))
		}
		p.Measure = a
	default:
		// Sequential: look at planned points within the budget.
		p.MinRounds = f.MinRounds
		var err error
		if p.MaxDuration, err = positiveDuration("max-duration", f.MaxDuration); err != nil {
			return p, err
		}
		if p.RoundTime, err = positiveDuration("round-time", f.RoundTime); err != nil {
			return p, err
		}
	}
	if err := validatePolicy(f.Confidence, f.OnInconclusive); err != nil {
		return p, err
	}
	if f.BatchSize < 1 {
		return p, errkind.Input(fmt.Errorf("--batch-size %d: need at least 1", f.BatchSize))
	}
	if f.Rows < 0 {
		return p, errkind.Input(fmt.Errorf("--rows %d: must not be negative", f.Rows))
	}
	if err := bench.CheckSizeBuckets(f.SizeBuckets); err != nil {
		return p, err
	}
	if f.IntraOpThreads < 0 || f.InterOpThreads < 0 {
		return p, errkind.Input(errors.New("--intra-op-threads and --inter-op-threads must not be negative"))
	}
	if f.WorkerTimeout <= 0 {
		return p, errkind.Input(fmt.Errorf("--worker-timeout %v: must be positive", f.WorkerTimeout))
	}
	if f.MaxMemory != "" {
		if _, err := bench.ParseSize("max-memory", f.MaxMemory); err != nil {
			return p, err
		}
	}
	if !validGraphOpt(f.GraphOptimization) {
		return p, errkind.Input(fmt.Errorf("--graph-optimization %q: want one of %s", f.GraphOptimization, strings.Join(bench.GraphOptimizationLevels, ", ")))
	}
	if err := f.outputFlags.validate(); err != nil {
		return p, err
	}
	return p, p.Validate()
}

func positiveDuration(flag, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, errkind.Input(fmt.Errorf("--%s %q: want a positive duration such as 30s", flag, s))
	}
	return d, nil
}

func validGraphOpt(s string) bool {
	for _, l := range bench.GraphOptimizationLevels {
		if s == l {
			return true
		}
	}
	return false
}

// budgets parses the absolute budgets into t.
func (f *measureFlags) budgets(t *compare.Thresholds) error {
	for _, b := range []struct {
		flag, value string
		dst         *time.Duration
	}{
		{"max-p50", f.MaxP50, &t.MaxP50},
		{"max-p95", f.MaxP95, &t.MaxP95},
		{"max-p99", f.MaxP99, &t.MaxP99},
	} {
		if b.value == "" {
			continue
		}
		d, err := compare.ParseBudget(b.flag, b.value)
		if err != nil {
			return err
		}
		*b.dst = d
	}
	return nil
}

// parseInputMaps reads repeated --input-map values into a map.
func parseInputMaps(flag string, values []string) (map[string]string, error) {
	m := map[string]string{}
	for _, v := range values {
		in, cols, err := loader.ParseInputMap(v)
		if err != nil {
			return nil, err
		}
		if _, dup := m[in]; dup {
			return nil, errkind.Input(fmt.Errorf("--%s: input %s is mapped twice", flag, in))
		}
		m[in] = cols
	}
	return m, nil
}

// mergeMaps returns base overridden by specific.
func mergeMaps(base, specific map[string]string) map[string]string {
	out := make(map[string]string, len(base)+len(specific))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range specific {
		out[k] = v
	}
	return out
}

func parseFills(values []string) ([]loader.Fill, error) {
	var fills []loader.Fill
	for _, v := range values {
		f, err := loader.ParseFill(v)
		if err != nil {
			return nil, err
		}
		fills = append(fills, f)
	}
	return fills, nil
}
