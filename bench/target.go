// Package bench measures models: the Target interface and its kinds, the
// scheduler that runs warmup and interleaved measured rounds, and the worker
// process that hosts a local ONNX model.
package bench

import (
	"context"
	"time"

	"github.com/infergate/infergate/loader"
	"github.com/infergate/infergate/result"
)

// Target is one model under test. Implementations are not safe for
// concurrent use: the scheduler drives one block at a time.
type Target interface {
	// Info describes the loaded model.
	Info() TargetInfo
	// Run executes one block of requests and reports what it measured.
	Run(ctx context.Context, blk Block) (BlockResult, error)
	// Close releases the model (and stops its worker).
	Close() error
}

// TargetInfo describes a loaded target.
type TargetInfo struct {
	Name       string
	Kind       string // "onnx"
	Model      string
	Inputs     []loader.InputSpec
	Outputs    []string
	ORTVersion string
	// ModelVersion is the model's own version where it is known (see
	// result.Target.ModelVersion).
	ModelVersion string
	// LoadRSSBytes is resident memory taken by loading the model.
	LoadRSSBytes int64
	// PID is the process that runs the model: a local model's worker; 0
	// for an endpoint.
	PID int
	// OutputShapes are the outputs' shapes as the model declares them,
	// parallel to Outputs: -1 for a free dimension, empty when the model
	// declares none (or a scalar: ONNX Runtime does not tell them apart).
	// Nil when the target does not know them (endpoints).
	OutputShapes [][]int64
}

// Block is one unit of work for a target: Requests calls (or as many as fit
// in Duration), cycling over Batches in order.
type Block struct {
	// Batches are the distinct inputs of the block; request i uses
	// Batches[(Offset+i) % len(Batches)]. Nil reuses the batches of the
	// target's previous block, which saves sending them again when a
	// round is split into many short blocks.
	Batches []BlockBatch
	Offset  int64
	// Requests is the number of calls; when 0, calls continue until
	// Duration has passed (at least one call is made).
	Requests int64
	Duration time.Duration
	// Concurrency is the number of calls in flight at once (closed loop),
	// or, with Rate, the most in flight at once.
	Concurrency int
	// Rate, when positive, makes the block an open loop: calls start at
	// this many per second on a schedule fixed in advance (Arrival), and
	// each call's latency is measured from its intended start, so a stalled
	// server shows in the tail instead of slowing the schedule
	// (coordinated omission).
	Rate    float64
	Arrival Arrival
	// Record asks for a latency histogram; warmup blocks are not recorded.
	Record bool
	// Accumulate keeps recording into the same histogram and returns none;
	// the next recorded block without Accumulate returns the histogram of
	// them all.
	Accumulate bool
	// ResetPeak resets the peak-memory mark before the block, so the peak
	// covers the measured pass only.
	ResetPeak bool
	// SizeBuckets, when positive and Record is set, asks for the latencies
	// broken down by BlockBatch.Bucket as well, into that many buckets.
	SizeBuckets int
}

// BlockBatch is one batch's inputs for one target.
type BlockBatch struct {
	Rows    int
	Tensors []loader.Tensor
	// Size is the batch's input size for this target, in the unit of the
	// run's SizeScan.Measure (from loader.Batch.Sizes[target]).
	Size float64
	// Bucket is the input-size bucket of the batch. The scheduler assigns
	// it, from edges shared by all targets, so that the same batch lands in
	// the same bucket on every target.
	Bucket int
	// FirstRow is the dataset row index of the batch's first row.
	FirstRow int64
	// Class is the batch's input class (InputNaN, InputEmpty,
	// InputOversized, InputNormal) for the errors-by-input breakdown;
	// empty counts as InputNormal.
	Class string
}

// SizeResult is one block's calls in one input-size bucket.
type SizeResult struct {
	// Histogram holds the latencies of successful calls; nil when none.
	Histogram *result.Histogram
	Errors    int64
	// SizeSum is the sum of the sizes of successful calls.
	SizeSum float64
}

// BlockResult is what a target measured in one block.
type BlockResult struct {
	// Histogram holds the latencies of successful calls (nil unless Record).
	Histogram    *result.Histogram
	Requests     int64 // successful calls
	Rows         int64 // rows in successful calls
	Errors       int64
	ErrorsByKind map[string]int64
	// ErrorsByClass counts failed calls by the input class of their batch.
	ErrorsByClass map[string]int64
	// ErrorExamples has, per error kind, up to maxErrorExamples dataset
	// row indices (first rows of failed batches).
	ErrorExamples map[string][]int64
	// FirstError is the message of the first failed call, for the report.
	FirstError string
	// FirstErrorDetail is FirstError with what the server said, which may
	// quote the test set: for the log only, never a result.
	FirstErrorDetail string
	// Elapsed is the block's busy time: from the first call's start to the
	// last call's end, timed where the calls happen.
	Elapsed time.Duration
	// PeakRSSBytes is the target's peak resident set so far (since the last
	// ResetPeak); 0 when unknown.
	PeakRSSBytes int64
	// Primed counts untimed calls that ran new input shapes once on a GPU
	// before the block, so that their first-call costs stay out of it.
	Primed int64
	// Late counts open-loop calls that started later than scheduled (all
	// callers were busy).
	Late int64
	// SizeBuckets has Block.SizeBuckets entries when the block returned a
	// histogram and size buckets were asked for; like Histogram it covers
	// the accumulating blocks before it.
	SizeBuckets []SizeResult
}

// Arrival is the schedule of an open loop.
type Arrival int

const (
	// ArrivalConstant spaces calls evenly, 1/Rate apart.
	ArrivalConstant Arrival = iota
	// ArrivalPoisson draws exponential gaps with mean 1/Rate.
	ArrivalPoisson
)
