// Package result defines infergate's result document: the one versioned,
// self-contained JSON that a run writes and that compare and report read.
//
// Field names here are a contract with users' scripts: extend freely, but do
// not rename. Durations are integer nanoseconds (suffix _ns), sizes bytes.
package result

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// SchemaVersion is bumped on any incompatible change to the document.
const SchemaVersion = 1

// Role says which side of the comparison a target is on.
type Role string

const (
	RoleProduction Role = "production"
	RoleCandidate  Role = "candidate"
	// RoleSingle is the only target of `infergate bench`.
	RoleSingle Role = "model"
)

// Verdict is the outcome of a whole run.
type Verdict string

const (
	VerdictPass         Verdict = "pass"
	VerdictFail         Verdict = "fail"
	VerdictInconclusive Verdict = "inconclusive"
	// VerdictError means the run itself failed; checks were not judged.
	VerdictError Verdict = "error"
	// VerdictNone is a run without checks (infergate bench).
	VerdictNone Verdict = "none"
)

// Outcome is the outcome of one check.
type Outcome string

const (
	OutcomePass         Outcome = "pass"
	OutcomeFail         Outcome = "fail"
	OutcomeInconclusive Outcome = "inconclusive"
)

// Result is the whole document.
//
// A load sweep (--concurrency-sweep, --rate-sweep, --batch-sizes)
// measures the same pair or model once per stage and records every stage
// in Stages. So that a reader of one-stage results still reads a sweep's
// document right, the top-level Targets, Checks, DetectableChange,
// InputSizes and TestSet's size quantiles (and Config.Concurrency,
// Config.Rate and Config.BatchSize) mirror the last completed stage (the
// last stage when none completed), and Verdict is the worst over the
// stages (fail > error > inconclusive > pass > none; see WorstVerdict). As
// for any run, a run that failed has Verdict "error" and one cut short by
// a signal "inconclusive". A run without a sweep has no Stages.
type Result struct {
	SchemaVersion int       `json:"schema_version"`
	Tool          Tool      `json:"tool"`
	StartedAt     time.Time `json:"started_at"`
	FinishedAt    time.Time `json:"finished_at"`
	Config        Config    `json:"config"`
	Machine       Machine   `json:"machine"`
	Targets       []Target  `json:"targets"`
	Checks        []Check   `json:"checks"`
	Verdict       Verdict   `json:"verdict"`
	// Error says why the run failed when Verdict is "error".
	Error string `json:"error,omitempty"`
	// Interrupted is set when a signal cut the run short; the numbers cover
	// what was measured until then.
	Interrupted bool     `json:"interrupted,omitempty"`
	Warnings    []string `json:"warnings,omitempty"`
	// DetectableChange is the smallest latency ratio change this run could
	// resolve (1 + the relative half-width of the main latency check's
	// interval), e.g. 1.06; 0 when there was no latency check.
	DetectableChange float64 `json:"detectable_change,omitempty"`
	// ToolPeakRSSBytes is the peak resident set of the infergate process
	// that coordinated the run (the models' workers not included).
	ToolPeakRSSBytes int64 `json:"tool_peak_rss_bytes,omitempty"`
	// Stages are a load sweep's stages in the order they ran; empty for a
	// run without a sweep.
	Stages []Stage `json:"stages,omitempty"`
	// InputSizes defines the input-size buckets that rounds break latency
	// down by (Round.SizeBuckets); nil in documents from before sizes were
	// recorded.
	InputSizes *InputSizes `json:"input_sizes,omitempty"`
	// TestSet fingerprints the test set, so that compare can tell when two
	// saved results were measured on different data.
	TestSet *TestSet `json:"test_set,omitempty"`
	// Parity compares the models' outputs (--check-outputs); nil when not
	// asked for.
	Parity *Parity `json:"parity,omitempty"`
	// Profile is the per-operator diff of a profiled pass (run --profile);
	// nil when the run was not profiled.
	Profile *ProfileDiff `json:"profile,omitempty"`
}

// InputSizes says how a request's input size was measured and how sizes
// were bucketed. The buckets are the same for every target of the run:
// the scheduler assigns each batch its bucket before any target sees it.
type InputSizes struct {
	// Measure is "seq_len" (the padded length of the variable-length
	// inputs: what attention and per-token work scale with) when the
	// batches have variable-length inputs, else "elements" (all elements
	// bound from the dataset).
	Measure string `json:"measure"`
	// Buckets are in increasing order of size; a round's SizeBucket.Index
	// points into it.
	Buckets []SizeBucketDef `json:"buckets"`
}

// SizeBucketDef is one bucket: the sizes seen in it, Lo to Hi inclusive.
type SizeBucketDef struct {
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
	Label string  `json:"label"`
}

// TestSet identifies the test set a run measured.
type TestSet struct {
	// Rows is the rows the run used: the file's, or the first (or, with
	// --shuffle, sampled) --rows of them.
	Rows int64 `json:"rows"`
	// FileRows is the rows in the file, whatever --rows used; 0 in
	// documents from before it was recorded.
	FileRows int64 `json:"file_rows,omitempty"`
	// SHA256 is the hex SHA-256 of the Parquet file's bytes: cheap (one
	// sequential read) and exact, though a re-encoding of the same rows
	// hashes differently.
	SHA256 string `json:"sha256,omitempty"`
	// BatchSize is the rows per batch the size quantiles were taken over
	// (a batch's size grows with its rows); 0 in documents from before it
	// was recorded.
	BatchSize int `json:"batch_size,omitempty"`
	// SizeP10, SizeP50 and SizeP90 are quantiles of the batches' input
	// sizes (InputSizes.Measure) over the batches the size scan read.
	SizeP10 float64 `json:"size_p10"`
	SizeP50 float64 `json:"size_p50"`
	SizeP90 float64 `json:"size_p90"`
}

// SameAs reports whether two fingerprints name the same test set, and if
// not, why.
func (t *TestSet) SameAs(o *TestSet) (bool, string) {
	switch {
	case t == nil || o == nil:
		return true, "" // an old document: nothing to compare
	case t.SHA256 != "" && o.SHA256 != "" && t.SHA256 != o.SHA256:
		return false, "the test set files differ (SHA-256 " + short(t.SHA256) + " vs " + short(o.SHA256) + ")"
	case t.FileRows != 0 && o.FileRows != 0 && t.Rows != o.Rows:
		return false, fmt.Sprintf("the runs used %d and %d rows of their test sets", t.Rows, o.Rows)
	case t.fileRows() != o.fileRows():
		return false, fmt.Sprintf("the test sets have %d and %d rows", t.fileRows(), o.fileRows())
	case t.sizesComparable(o) && (t.SizeP10 != o.SizeP10 || t.SizeP50 != o.SizeP50 || t.SizeP90 != o.SizeP90):
		return false, fmt.Sprintf("the input sizes differ (p10/p50/p90 %g/%g/%g vs %g/%g/%g)",
			t.SizeP10, t.SizeP50, t.SizeP90, o.SizeP10, o.SizeP50, o.SizeP90)
	}
	return true, ""
}

// fileRows is the test set file's row count. Documents written before
// FileRows existed kept it in Rows (they did not record the rows used).
func (t *TestSet) fileRows() int64 {
	if t.FileRows != 0 {
		return t.FileRows
	}
	return t.Rows
}

// sizesComparable reports whether the size quantiles can tell two test
// sets apart. They are quantiles of batch sizes, so the same rows batched
// 1 and 8 at a time give different ones: they are compared only when the
// batches were the same size (or either size is unknown, in an older
// document). Then they still say something when the hashes agree: the
// same file bound to other columns, or another shuffled sample of it, is
// other data.
func (t *TestSet) sizesComparable(o *TestSet) bool {
	return t.BatchSize == 0 || o.BatchSize == 0 || t.BatchSize == o.BatchSize
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// Stage is one stage of a load sweep: a whole measurement (warmup, rounds,
// looks) at one variation of the plan, judged with the run's checks.
type Stage struct {
	// Name says what the stage varied, e.g. "concurrency=4", "rate=100/s".
	Name string `json:"name"`
	// Concurrency is the stage's calls in flight at once (the most in
	// flight in an open loop); Rate its open-loop requests per second (0:
	// a closed loop).
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"rate,omitempty"`
	// BatchSize is the stage's rows per inference call.
	BatchSize int      `json:"batch_size,omitempty"`
	Targets   []Target `json:"targets"`
	Checks    []Check  `json:"checks"`
	// InputSizes are the size buckets of the stage's rounds: a batch-size
	// sweep cuts them per stage, since a batch's size grows with its rows.
	// nil when the stage recorded no sizes (and in documents from before
	// stages kept them).
	InputSizes *InputSizes `json:"input_sizes,omitempty"`
	// Verdict is the stage's own: "error" when the run failed in it,
	// "inconclusive" when a signal cut it short.
	Verdict          Verdict `json:"verdict"`
	DetectableChange float64 `json:"detectable_change,omitempty"`
	// Interrupted is set on the stage a signal cut short; the sweep stopped
	// there.
	Interrupted bool `json:"interrupted,omitempty"`
	// Error says why the run failed in this stage; the sweep stopped there.
	Error string `json:"error,omitempty"`
}

// Completed reports whether the stage ran to its end.
func (s *Stage) Completed() bool { return !s.Interrupted && s.Error == "" }

// MirroredStage is the index of the stage the top level of a sweep's
// document mirrors: the last completed one, else the last; -1 without
// stages.
func MirroredStage(stages []Stage) int {
	for i := len(stages) - 1; i >= 0; i-- {
		if stages[i].Completed() {
			return i
		}
	}
	return len(stages) - 1
}

// verdictRank orders verdicts from the best to the worst.
var verdictRank = map[Verdict]int{
	VerdictNone: 1, VerdictPass: 2, VerdictInconclusive: 3, VerdictError: 4, VerdictFail: 5,
}

// WorstVerdict is the worst of the verdicts: fail > error > inconclusive >
// pass > none (an empty or unknown verdict counts least).
func WorstVerdict(vs ...Verdict) Verdict {
	var worst Verdict
	for _, v := range vs {
		if verdictRank[v] > verdictRank[worst] || worst == "" {
			worst = v
		}
	}
	return worst
}

// Tool names the program that wrote the document.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Config is the run's configuration as it was used, secrets redacted.
type Config struct {
	Command string `json:"command"` // "run" or "bench"
	// AA is set for an A/A run: production against itself, measuring the
	// noise floor (`infergate calibrate`, `run --aa`).
	AA          bool   `json:"aa,omitempty"`
	Dataset     string `json:"dataset"`
	DatasetRows int64  `json:"dataset_rows"` // rows in the file
	Rows        int64  `json:"rows,omitempty"`
	BatchSize   int    `json:"batch_size"`
	Shuffle     bool   `json:"shuffle,omitempty"`
	ShuffleSeed int64  `json:"shuffle_seed,omitempty"`
	Warmup      string `json:"warmup"`
	Requests    int64  `json:"requests,omitempty"`
	Duration    string `json:"duration,omitempty"`
	Rounds      int    `json:"rounds,omitempty"` // a fixed plan's rounds
	// A sequential plan's first look, time per target's block, and budget.
	MinRounds         int     `json:"min_rounds,omitempty"`
	RoundTime         string  `json:"round_time,omitempty"`
	MaxDuration       string  `json:"max_duration,omitempty"`
	Confidence        float64 `json:"confidence,omitempty"`
	OnInconclusive    string  `json:"on_inconclusive,omitempty"`
	Concurrency       int     `json:"concurrency"`
	Device            string  `json:"device"`
	IntraThreads      int     `json:"intra_op_threads"`
	InterThreads      int     `json:"inter_op_threads"`
	GraphOptimization string  `json:"graph_optimization"`
	// LatencyPercentile is the quantile (0–1) that --max-latency-increase
	// judges.
	LatencyPercentile float64 `json:"latency_percentile"`
	// Protocol, Headers (names only: values are secrets), Rate and Arrival
	// describe how endpoints were driven.
	Protocol string   `json:"protocol,omitempty"`
	Headers  []string `json:"headers,omitempty"`
	Rate     float64  `json:"rate,omitempty"`
	Arrival  string   `json:"arrival,omitempty"`
	// LateStartThresholdNS is how far behind its slot an open-loop call
	// had to start to count in Target.LateStarts; set for open loops.
	LateStartThresholdNS int64 `json:"late_start_threshold_ns,omitempty"`
	// ConcurrencySweep, RateSweep and BatchSizeSweep are a sweep's values,
	// in the order its stages ran (see Result.Stages).
	ConcurrencySweep []int     `json:"concurrency_sweep,omitempty"`
	RateSweep        []float64 `json:"rate_sweep,omitempty"`
	BatchSizeSweep   []int     `json:"batch_size_sweep,omitempty"`
	// Thresholds are the checks as the user gave them, e.g.
	// {"max-latency-increase": "1.15"}.
	Thresholds map[string]string `json:"thresholds,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	Hostname   string `json:"hostname,omitempty"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	CPUModel   string `json:"cpu_model,omitempty"`
	Cores      int    `json:"cores"`
	GoVersion  string `json:"go_version"`
	ORTVersion string `json:"onnxruntime_version,omitempty"`
	// GPU names the GPUs the run watched, e.g. "NVIDIA H100 80GB HBM3";
	// GPUs describes them.
	GPU  string      `json:"gpu,omitempty"`
	GPUs []GPUDevice `json:"gpus,omitempty"`
}

// GPUDevice describes a GPU the run used or watched.
type GPUDevice struct {
	// Index is NVML's index of the device; -1 for a GPU known only from a
	// server's metrics.
	Index            int    `json:"index"`
	UUID             string `json:"uuid,omitempty"`
	Name             string `json:"name"`
	MemoryTotalBytes int64  `json:"memory_total_bytes,omitempty"`
	Driver           string `json:"driver,omitempty"`
	// CUDA is the CUDA version the driver supports, e.g. "13.0".
	CUDA          string `json:"cuda,omitempty"`
	SMClockMaxMHz int    `json:"sm_clock_max_mhz,omitempty"`
}

// GPU sources: where a target's GPU figures came from.
const (
	// GPUSourceProcess: NVML's per-process accounting of the target's own
	// process (a local model's worker, or --server-pid).
	GPUSourceProcess = "nvml-process"
	// GPUSourceMetrics: the server's Prometheus metrics (--server-metrics),
	// which cover the whole device, other processes included.
	GPUSourceMetrics = "server-metrics"
)

// GPUUsage is what a target used of a GPU.
type GPUUsage struct {
	// Device is the GPUDevice's Index (Machine.GPUs) the target ran on.
	Device int    `json:"device"`
	Source string `json:"source"`
	// PID is the process whose memory is the target's (GPUSourceProcess).
	PID int `json:"pid,omitempty"`
	// LoadMemoryBytes is device memory held after the model loaded, before
	// warmup; PeakMemoryBytes the most held during the measured pass,
	// sampled every SampleIntervalNS.
	LoadMemoryBytes  int64 `json:"load_memory_bytes"`
	PeakMemoryBytes  int64 `json:"peak_memory_bytes"`
	SampleIntervalNS int64 `json:"sample_interval_ns"`
	Samples          int   `json:"samples"`
	// UtilisationPct is the mean SM utilisation of the target's process
	// (GPUSourceProcess) or of the device (GPUSourceMetrics) over the
	// measured pass; -1 when unknown.
	UtilisationPct float64 `json:"utilisation_pct"`
	// SMClockMHz is the device's SM clock in the samples taken while this
	// target was running; nil when no sample fell in its blocks.
	SMClockMHz *ClockRange `json:"sm_clock_mhz,omitempty"`
}

// ClockRange summarises clock samples, in MHz.
type ClockRange struct {
	Min    int `json:"min"`
	Median int `json:"median"`
	Max    int `json:"max"`
	// Samples is the number of readings behind the range.
	Samples int `json:"samples"`
}

// Target is one measured model.
type Target struct {
	Role  Role   `json:"role"`
	Name  string `json:"name"`
	Kind  string `json:"kind"` // "onnx"
	Model string `json:"model,omitempty"`
	// ModelVersion is the model's own version where the model says it: an
	// ONNX file's model_version (when set), or the version an endpoint's
	// URL or metadata names. Empty when unknown.
	ModelVersion string `json:"model_version,omitempty"`
	// Inputs are the model's declared inputs, e.g. "features float32[-1 64]".
	Inputs     []string   `json:"inputs,omitempty"`
	Latency    Latency    `json:"latency"`
	Throughput Throughput `json:"throughput"`
	Memory     Memory     `json:"memory"`
	// GPU is the target's GPU usage; nil when no GPU was watched for it
	// (a local model on CPU, an endpoint without --server-pid or
	// --server-metrics).
	GPU    *GPUUsage `json:"gpu,omitempty"`
	Errors Errors    `json:"errors"`
	// LateStarts counts open-loop calls that started more than
	// Config.LateStartThresholdNS after their scheduled time because every
	// caller was busy: the client could not keep the rate, and their
	// latency includes the wait. Zero in a closed loop.
	LateStarts int64   `json:"late_starts,omitempty"`
	Rounds     []Round `json:"rounds"`
	// Failed says why the target could not be measured to the end (a model
	// that would not load, a worker that crashed). Rounds measured before
	// then are kept.
	Failed string `json:"failed,omitempty"`
}

// Latency summarises a latency distribution, in nanoseconds.
type Latency struct {
	Count  int64 `json:"count"`
	MinNS  int64 `json:"min_ns"`
	MeanNS int64 `json:"mean_ns"`
	P50NS  int64 `json:"p50_ns"`
	P90NS  int64 `json:"p90_ns"`
	P95NS  int64 `json:"p95_ns"`
	P99NS  int64 `json:"p99_ns"`
	P999NS int64 `json:"p999_ns"`
	MaxNS  int64 `json:"max_ns"`
}

// Throughput is measured over the rounds' busy time, not wall time, so the
// coordination between rounds does not count against a model.
type Throughput struct {
	InferencesPerS float64 `json:"inferences_per_s"`
	RowsPerS       float64 `json:"rows_per_s"`
}

// Memory is the model's own worker process's.
type Memory struct {
	// LoadRSSBytes is resident memory after the model loaded minus before.
	LoadRSSBytes int64 `json:"load_rss_bytes"`
	// PeakRSSBytes is the worker's peak resident set during the measured
	// pass (VmHWM, reset before the pass).
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
}

// Errors counts failed inferences.
type Errors struct {
	Total  int64            `json:"total"`
	ByKind map[string]int64 `json:"by_kind"`
	// ByClass counts failed calls by the input class of their batch, the
	// first that applies: "null" (a null in the dataset, sent as JSON null
	// or filled by --nulls fill), "nan" (a NaN in a float input), "empty"
	// (an empty list in a variable-length input, or an empty string),
	// "oversized" (input size above the size scan's 0.99 quantile),
	// "normal".
	ByClass map[string]int64 `json:"by_class,omitempty"`
	// Examples has, per error kind, up to 5 dataset row indices (the first
	// rows of failed batches); never values.
	Examples map[string][]int64 `json:"example_rows,omitempty"`
}

// Round is one block of requests on one target.
type Round struct {
	Index int `json:"index"`
	// Position is 0 when this target ran first in the round, 1 when second.
	Position  int   `json:"position"`
	Requests  int64 `json:"requests"`
	Rows      int64 `json:"rows"`
	Errors    int64 `json:"errors"`
	ElapsedNS int64 `json:"elapsed_ns"` // busy time of the block
	// LateStarts are the round's open-loop calls that started late (see
	// Target.LateStarts).
	LateStarts int64 `json:"late_starts,omitempty"`
	// Histogram is the round's latencies in HdrHistogram's compressed form.
	Histogram string `json:"histogram"`
	// PeakRSSBytes is the worker's peak resident set up to the round's end.
	PeakRSSBytes int64 `json:"peak_rss_bytes,omitempty"`
	// SizeBuckets break the round down by input size (Result.InputSizes),
	// one entry per bucket that saw a call.
	SizeBuckets []SizeBucket `json:"size_buckets,omitempty"`
}

// SizeBucket is one round's calls in one input-size bucket.
type SizeBucket struct {
	Index int `json:"index"`
	// Histogram holds the latencies of the bucket's successful calls.
	Histogram string `json:"histogram"`
	Count     int64  `json:"count"`
	Errors    int64  `json:"errors,omitempty"`
	// SizeSum is the sum of the successful calls' input sizes, so that
	// SizeSum/Count is the bucket's mean size for this target (the x of
	// the latency-vs-size slope).
	SizeSum float64 `json:"size_sum"`
}

// Check is one judged threshold.
type Check struct {
	Name   string `json:"name"`   // the flag, e.g. "max-latency-increase"
	Metric string `json:"metric"` // e.g. "latency_p95"
	Unit   string `json:"unit"`   // "ns", "inferences/s", "bytes", "ratio"
	// Threshold is a ratio for relative checks, or a value in Unit for
	// absolute budgets and rates.
	Threshold  float64 `json:"threshold"`
	Production float64 `json:"production"`
	Candidate  float64 `json:"candidate"`
	// Ratio is candidate/production (0 for absolute checks).
	Ratio float64 `json:"ratio"`
	// Lower and Upper bound the judged quantity (the ratio, or the value for
	// absolute checks); equal to it when no interval was computed.
	Lower   float64 `json:"lower"`
	Upper   float64 `json:"upper"`
	Outcome Outcome `json:"outcome"`
	Method  string  `json:"method,omitempty"`
	Message string  `json:"message,omitempty"`
	// Rounds is the number of rounds the interval was resampled over (paired
	// rounds for ratios); 0 when the check does not resample rounds.
	Rounds int `json:"rounds,omitempty"`
	// Samples is the number of observations behind the check, both targets
	// together: latency samples for latency checks, requests for throughput
	// and the error rate.
	Samples int64 `json:"samples,omitempty"`
	// Confidence is the one-sided confidence level of each of Lower and
	// Upper after the multiplicity adjustment (e.g. 0.983 for 95% over three
	// checks); 0 when the bounds are not a statistical interval.
	Confidence float64 `json:"confidence,omitempty"`
}

// Target returns the target with the given role, or nil.
func (r *Result) Target(role Role) *Target {
	for i := range r.Targets {
		if r.Targets[i].Role == role {
			return &r.Targets[i]
		}
	}
	return nil
}

// Histogram merges the target's round histograms.
func (t *Target) Histogram() (*Histogram, error) {
	all := NewHistogram()
	for _, r := range t.Rounds {
		h, err := DecodeHistogram(r.Histogram)
		if err != nil {
			return nil, fmt.Errorf("target %s round %d: %w", t.Name, r.Index, err)
		}
		all.Merge(h)
	}
	return all, nil
}

// Write encodes r as indented JSON.
func Write(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// ErrSchema marks a document that is not a result infergate can read.
var ErrSchema = errors.New("not an infergate result")

// Read decodes and validates a result document.
func Read(rd io.Reader) (*Result, error) {
	var r Result
	dec := json.NewDecoder(rd)
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSchema, err)
	}
	if r.SchemaVersion == 0 {
		return nil, fmt.Errorf("%w: no schema_version", ErrSchema)
	}
	if r.SchemaVersion < 0 {
		return nil, fmt.Errorf("%w: invalid schema_version %d", ErrSchema, r.SchemaVersion)
	}
	if r.SchemaVersion > SchemaVersion {
		return nil, fmt.Errorf("%w: schema_version %d is newer than this infergate reads (%d); upgrade infergate",
			ErrSchema, r.SchemaVersion, SchemaVersion)
	}
	if err := checkHistograms(r.Targets, ""); err != nil {
		return nil, err
	}
	for _, st := range r.Stages {
		if err := checkHistograms(st.Targets, fmt.Sprintf("stage %q: ", st.Name)); err != nil {
			return nil, err
		}
	}
	return &r, nil
}

// checkHistograms fails on a round whose histogram does not decode.
func checkHistograms(targets []Target, where string) error {
	for i := range targets {
		for _, rd := range targets[i].Rounds {
			if _, err := DecodeHistogram(rd.Histogram); err != nil {
				return fmt.Errorf("%w: %starget %q round %d: %v", ErrSchema, where, targets[i].Name, rd.Index, err)
			}
		}
	}
	return nil
}
