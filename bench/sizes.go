package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"

	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/loader"
	"github.com/infergate/infergate/result"
)

// sizeRec records one caller's successful calls and errors per input-size
// bucket. It is a few counters and one HDR histogram per bucket, so even a
// long round stays small.
type sizeRec struct {
	hists []*result.Histogram
	errs  []int64
	sums  []float64
}

func newSizeRec(n int) *sizeRec {
	return &sizeRec{hists: make([]*result.Histogram, n), errs: make([]int64, n), sums: make([]float64, n)}
}

func (s *sizeRec) ok(bucket int, size float64, ns int64) {
	if s == nil || bucket < 0 || bucket >= len(s.hists) {
		return
	}
	if s.hists[bucket] == nil {
		s.hists[bucket] = result.NewHistogram()
	}
	s.hists[bucket].RecordNS(ns)
	s.sums[bucket] += size
}

func (s *sizeRec) fail(bucket int) {
	if s == nil || bucket < 0 || bucket >= len(s.errs) {
		return
	}
	s.errs[bucket]++
}

func (s *sizeRec) merge(o *sizeRec) {
	if s == nil || o == nil {
		return
	}
	for i := range min(len(s.hists), len(o.hists)) {
		if o.hists[i] != nil {
			if s.hists[i] == nil {
				s.hists[i] = result.NewHistogram()
			}
			s.hists[i].Merge(o.hists[i])
		}
		s.errs[i] += o.errs[i]
		s.sums[i] += o.sums[i]
	}
}

func (s *sizeRec) results() []SizeResult {
	if s == nil {
		return nil
	}
	out := make([]SizeResult, len(s.hists))
	for i := range out {
		out[i] = SizeResult{Histogram: s.hists[i], Errors: s.errs[i], SizeSum: s.sums[i]}
	}
	return out
}

func encodeSizeBuckets(rs []SizeResult) ([]wireSizeBucket, error) {
	if rs == nil {
		return nil, nil
	}
	out := make([]wireSizeBucket, len(rs))
	for i, r := range rs {
		out[i] = wireSizeBucket{Errors: r.Errors, SizeSum: r.SizeSum}
		if r.Histogram != nil {
			enc, err := r.Histogram.Encode()
			if err != nil {
				return nil, err
			}
			out[i].Histogram = enc
		}
	}
	return out, nil
}

func decodeSizeBuckets(ws []wireSizeBucket) ([]SizeResult, error) {
	if ws == nil {
		return nil, nil
	}
	out := make([]SizeResult, len(ws))
	for i, w := range ws {
		out[i] = SizeResult{Errors: w.Errors, SizeSum: w.SizeSum}
		if w.Histogram != "" {
			h, err := result.DecodeHistogram(w.Histogram)
			if err != nil {
				return nil, fmt.Errorf("size bucket %d: %w", i, err)
			}
			out[i].Histogram = h
		}
	}
	return out, nil
}

// sizeRounds turns a round's per-bucket results into the document's form,
// leaving out buckets that saw no call.
func sizeRounds(rs []SizeResult) ([]result.SizeBucket, error) {
	var out []result.SizeBucket
	for i, r := range rs {
		var n int64
		if r.Histogram != nil {
			n = r.Histogram.Count()
		}
		if n == 0 && r.Errors == 0 {
			continue
		}
		b := result.SizeBucket{Index: i, Count: n, Errors: r.Errors, SizeSum: r.SizeSum}
		h := r.Histogram
		if h == nil {
			h = result.NewHistogram()
		}
		enc, err := h.Encode()
		if err != nil {
			return nil, err
		}
		b.Histogram = enc
		out = append(out, b)
	}
	return out, nil
}

// Size buckets: one per distinct size when there are at most
// max(maxExactBuckets, n) of them (sequence lengths of a small test set),
// else n buckets cut at quantiles of the sizes (DefaultSizeBuckets unless
// WithSizeBuckets says), so that each holds about as many batches and
// none is too thin to have a p95.
const (
	maxExactBuckets = 8
	// DefaultSizeBuckets, MinSizeBuckets and MaxSizeBuckets bound the
	// quantile buckets: two draw a line, and past twenty a bucket of a
	// short run holds too few calls for its p95.
	DefaultSizeBuckets = 5
	MinSizeBuckets     = 2
	MaxSizeBuckets     = 20
	// sizeScanBatches caps the batches read to learn the sizes: the scan
	// costs one more pass over (the start of) the test set.
	sizeScanBatches = 10000
)

// MeasureOption adjusts how Measure breaks a measurement down.
type MeasureOption func(*measureOptions)

type measureOptions struct {
	sizeBuckets int
}

// WithSizeBuckets cuts input sizes into n quantile buckets
// (MinSizeBuckets to MaxSizeBuckets) instead of DefaultSizeBuckets.
func WithSizeBuckets(n int) MeasureOption {
	return func(o *measureOptions) { o.sizeBuckets = n }
}

// CheckSizeBuckets refuses a bucket count outside MinSizeBuckets to
// MaxSizeBuckets as bad input.
func CheckSizeBuckets(n int) error {
	if n < MinSizeBuckets || n > MaxSizeBuckets {
		return errkind.Input(fmt.Errorf("--size-buckets %d: want %d to %d buckets", n, MinSizeBuckets, MaxSizeBuckets))
	}
	return nil
}

func newMeasureOptions(opts []MeasureOption) (measureOptions, error) {
	o := measureOptions{sizeBuckets: DefaultSizeBuckets}
	for _, opt := range opts {
		opt(&o)
	}
	return o, CheckSizeBuckets(o.sizeBuckets)
}

// SizeScan is what the scheduler learnt of the test set's input sizes
// before measuring.
type SizeScan struct {
	Measure string // "seq_len" or "elements"
	Buckets []result.SizeBucketDef
	// Sizes are the scanned batches' sizes, in stream order.
	Sizes []float64
	// Complete is set when the scan read the whole test set.
	Complete bool
	// Oversize is the largest size within the scan's 0.99 quantile: a
	// batch larger than it is InputOversized. 0 means no limit.
	Oversize float64
}

// Quantile is the q-quantile (nearest rank) of the scanned sizes.
func (s *SizeScan) Quantile(q float64) float64 {
	if s == nil || len(s.Sizes) == 0 {
		return 0
	}
	sorted := slices.Sorted(slices.Values(s.Sizes))
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(len(sorted)-1, i))]
}

// bucketOf is the bucket of size: the last bucket whose Lo is at most
// size (sizes below the first bucket go in it).
func bucketOf(buckets []result.SizeBucketDef, size float64) int {
	i, _ := slices.BinarySearchFunc(buckets, size, func(b result.SizeBucketDef, v float64) int {
		switch {
		case b.Lo < v:
			return -1
		case b.Lo > v:
			return 1
		}
		return 0
	})
	if i < len(buckets) && buckets[i].Lo == size {
		return i
	}
	return max(0, i-1)
}

// scanSizes reads up to sizeScanBatches batches for their sizes (measured
// on the first target's inputs, so that the buckets are one set for all
// targets), cuts them into at most n quantile buckets and rewinds the
// source.
func scanSizes(ctx context.Context, src BatchSource, n int) (*SizeScan, error) {
	scan := &SizeScan{Measure: "elements"}
	var seq, elems []float64
	sized := true
	for len(elems) < sizeScanBatches {
		b, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			scan.Complete = true
			break
		}
		if err != nil {
			return nil, err
		}
		if len(b.Sizes) == 0 {
			sized = false // a source without sizes: no breakdown
			break
		}
		m := b.Sizes[0]
		seq = append(seq, float64(m.SeqLen))
		elems = append(elems, float64(m.Elements))
	}
	if err := src.Rewind(); err != nil {
		return nil, err
	}
	if !sized || len(elems) == 0 {
		return nil, nil
	}
	scan.Sizes = elems
	if slices.Max(seq) > 0 {
		scan.Measure, scan.Sizes = "seq_len", seq
	}
	scan.Buckets = sizeBuckets(scan.Sizes, scan.Measure, n)
	scan.Oversize = scan.Quantile(oversizeQuantile)
	return scan, nil
}

// sizeBuckets cuts sizes into n quantile buckets, or one per distinct
// size when there are few (see maxExactBuckets).
func sizeBuckets(sizes []float64, measure string, n int) []result.SizeBucketDef {
	sorted := slices.Sorted(slices.Values(sizes))
	distinct := slices.Compact(slices.Clone(sorted))
	var out []result.SizeBucketDef
	if len(distinct) <= max(maxExactBuckets, n) {
		for _, v := range distinct {
			out = append(out, result.SizeBucketDef{Lo: v, Hi: v})
		}
	} else {
		// Lower edges at the quantiles k/n, as distinct values, so a
		// heavily repeated size does not make empty buckets.
		var los []float64
		for k := range n {
			lo := sorted[k*len(sorted)/n]
			if len(los) == 0 || lo > los[len(los)-1] {
				los = append(los, lo)
			}
		}
		for k, lo := range los {
			hi := sorted[len(sorted)-1]
			if k+1 < len(los) {
				// The largest size below the next edge.
				j, _ := slices.BinarySearch(sorted, los[k+1])
				hi = sorted[j-1]
			}
			out = append(out, result.SizeBucketDef{Lo: lo, Hi: hi})
		}
	}
	unit := "len "
	if measure != "seq_len" {
		unit = ""
	}
	for i := range out {
		lo, hi := fmtSize(out[i].Lo), fmtSize(out[i].Hi)
		if out[i].Lo == out[i].Hi {
			out[i].Label = unit + lo
		} else {
			out[i].Label = unit + lo + "–" + hi
		}
	}
	return out
}

func fmtSize(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// pickSized is pick with each batch's size, bucket and input class.
func pickSized(batches []*loader.Batch, target int, scan *SizeScan) []BlockBatch {
	out := pick(batches, target)
	for i, b := range batches {
		var own loader.SizeMeasure
		if target < len(b.Sizes) {
			own = b.Sizes[target]
		}
		if scan == nil || len(b.Sizes) == 0 {
			out[i].Class = inputClass(out[i].Tensors, own, 0, 0)
			continue
		}
		out[i].Class = inputClass(out[i].Tensors, own, sizeFor(scan.Measure, b.Sizes[0]), scan.Oversize)
		if target < len(b.Sizes) && len(b.Sizes) > 0 {
			out[i].Size = sizeFor(scan.Measure, b.Sizes[target])
			out[i].Bucket = bucketOf(scan.Buckets, sizeFor(scan.Measure, b.Sizes[0]))
		}
	}
	return out
}

func sizeFor(measure string, m loader.SizeMeasure) float64 {
	if measure == "seq_len" {
		return float64(m.SeqLen)
	}
	return float64(m.Elements)
}
