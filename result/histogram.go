package result

import (
	"fmt"
	"math"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// The one place where HDR's units and range are fixed: values are
// nanoseconds, tracked from 1 µs to 60 s at 3 significant figures.
//
// HDR's lowest discernible value is 1 ns, not the 1 µs floor: HDR rounds it
// down to a power of two and uses it as the resolution of its whole first
// bucket, so a lowest value of 1 µs meant 512 ns steps up to about 1 ms
// (20.0 µs and 20.3 µs both read 20.48 µs, a 2.4% error on exactly the
// fast models a gate compares). At 1 ns the geometry holds 27,648 counters.
const (
	histFloorNS   = int64(time.Microsecond)
	histLowestNS  = int64(1)
	histHighestNS = int64(60 * time.Second)
	histSigFigs   = 3
)

// Histogram is a latency histogram in nanoseconds. Quantiles are taken on
// a 0–1 scale (HDR's own API takes 0–100; that conversion lives here only).
//
// Values outside the tracked range are clamped to it and counted, so a
// 90-second stall still shows up as a 60 s sample instead of vanishing.
type Histogram struct {
	h       *hdr.Histogram
	clamped int64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{h: hdr.New(histLowestNS, histHighestNS, histSigFigs)}
}

// Record adds one latency sample.
func (h *Histogram) Record(d time.Duration) { h.RecordNS(int64(d)) }

// RecordNS adds one latency sample given in nanoseconds.
func (h *Histogram) RecordNS(ns int64) {
	if ns < histFloorNS {
		// Sub-microsecond samples are real (a cached no-op model) but below
		// what timing a call can resolve; record them at the 1 µs floor,
		// not as clamped.
		ns = histFloorNS
	} else if ns > histHighestNS {
		ns = histHighestNS
		h.clamped++
	}
	// Cannot fail: ns is within the tracked range.
	_ = h.h.RecordValue(ns)
}

// Merge adds every sample of o to h.
func (h *Histogram) Merge(o *Histogram) {
	h.h.Merge(o.h)
	h.clamped += o.clamped
}

// Clone returns an independent copy.
func (h *Histogram) Clone() *Histogram {
	return &Histogram{h: h.h.Clone(), clamped: h.clamped}
}

// Count is the number of samples.
func (h *Histogram) Count() int64 { return h.h.TotalCount() }

// Clamped is the number of samples above the tracked range (60 s).
func (h *Histogram) Clamped() int64 { return h.clamped }

// Quantile returns the latency at quantile q in [0, 1]; 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if math.IsNaN(q) {
		q = 0
	}
	q = math.Max(0, math.Min(1, q))
	return time.Duration(h.h.ValueAtPercentile(q * 100))
}

// Min is the smallest sample; 0 when empty.
func (h *Histogram) Min() time.Duration {
	if h.Count() == 0 {
		return 0
	}
	return time.Duration(h.h.Min())
}

// Max is the largest sample (at HDR's resolution); 0 when empty.
func (h *Histogram) Max() time.Duration {
	if h.Count() == 0 {
		return 0
	}
	return time.Duration(h.h.Max())
}

// Mean is the mean sample; 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.Count() == 0 {
		return 0
	}
	return time.Duration(h.h.Mean())
}

// Bucket is one non-empty HDR bucket: Count samples whose value is
// equivalent, at the histogram's resolution, to ValueNS.
type Bucket struct {
	// ValueNS is the bucket's highest equivalent value, the value Quantile
	// reports for a quantile that falls in the bucket.
	ValueNS int64
	Count   int64
}

// Buckets returns the non-empty buckets in increasing order of value.
// Quantile(q) for q in (0, 1] equals the ValueNS of the first bucket at
// which the running count reaches HDR's rank for q, so a caller can
// project many histograms onto the union of their buckets (a few hundred
// values, against 27,648 counters) and take quantiles of weighted sums
// of them without building histograms.
func (h *Histogram) Buckets() []Bucket {
	// hdr's Distribution walks every counter up to the largest value and
	// appends a bar for each, empty or not: most of the time it takes to
	// judge a run went there. The counters are read directly instead, with
	// the index-to-value mapping of infergate's fixed geometry (lowest
	// value 1, so unit magnitude 0; 3 digits, so 1024 sub-buckets per half
	// bucket). TestHistogramBuckets pins it to Quantile.
	snap := h.h.Export()
	if snap.LowestTrackableValue != histLowestNS || snap.SignificantFigures != histSigFigs {
		return h.distributionBuckets() // not ours: DecodeHistogram re-records those, but be safe
	}
	const halfMag = 10 // log2 of the sub-bucket half count at 3 digits
	const half = 1 << halfMag
	var out []Bucket
	for i, n := range snap.Counts {
		if n == 0 {
			continue
		}
		bucket, sub := 0, i
		if i >= half {
			bucket, sub = i>>halfMag-1, i&(half-1)+half
		}
		// The highest value equivalent to the counter's lowest: what
		// Quantile reports.
		v := int64(sub)<<bucket + int64(1)<<bucket - 1
		out = append(out, Bucket{ValueNS: v, Count: n})
	}
	return out
}

func (h *Histogram) distributionBuckets() []Bucket {
	var out []Bucket
	for _, bar := range h.h.Distribution() {
		if bar.Count > 0 {
			out = append(out, Bucket{ValueNS: bar.To, Count: bar.Count})
		}
	}
	return out
}

// Summary computes the standard percentiles.
func (h *Histogram) Summary() Latency {
	return Latency{
		Count:  h.Count(),
		MinNS:  int64(h.Min()),
		MeanNS: int64(h.Mean()),
		P50NS:  int64(h.Quantile(0.50)),
		P90NS:  int64(h.Quantile(0.90)),
		P95NS:  int64(h.Quantile(0.95)),
		P99NS:  int64(h.Quantile(0.99)),
		P999NS: int64(h.Quantile(0.999)),
		MaxNS:  int64(h.Max()),
	}
}

// Encode returns the histogram in HdrHistogram's V2 compressed,
// base64-encoded form, which HdrHistogram's own tools read.
func (h *Histogram) Encode() (string, error) {
	b, err := h.h.Encode(hdr.V2CompressedEncodingCookieBase)
	if err != nil {
		return "", fmt.Errorf("encode histogram: %w", err)
	}
	return string(b), nil
}

// DecodeHistogram parses the output of Encode. A histogram written by
// another tool with another range is accepted, so long as it decodes.
func DecodeHistogram(s string) (h *Histogram, err error) {
	defer func() {
		// hdrhistogram-go hardens Decode, but a result file is outside
		// input: never let a malformed one crash the process.
		if r := recover(); r != nil {
			h, err = nil, fmt.Errorf("decode histogram: malformed data (%v)", r)
		}
	}()
	d, err := hdr.Decode([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("decode histogram: %w", err)
	}
	if d.LowestTrackableValue() == histLowestNS && d.HighestTrackableValue() == histHighestNS &&
		d.SignificantFigures() == histSigFigs {
		return &Histogram{h: d}, nil
	}
	out := NewHistogram()
	// Another geometry: re-record into our own geometry so merges across sources are exact
	// at our resolution.
	for _, bar := range d.Distribution() {
		if bar.Count > 0 {
			v := bar.To
			if v < histFloorNS {
				v = histFloorNS
			}
			if v > histHighestNS {
				v = histHighestNS
				out.clamped += bar.Count
			}
			if err := out.h.RecordValues(v, bar.Count); err != nil {
				return nil, fmt.Errorf("decode histogram: %w", err)
			}
		}
	}
	return out, nil
}
