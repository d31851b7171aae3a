package bench

import (
	"context"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/loader"
	"github.com/infergate/infergate/result"
)

// sizedSource is fakeSource whose batch i has sequence length lens[i].
type sizedSource struct {
	fakeSource
	lens []int64
}

func (s *sizedSource) Next(ctx context.Context) (*loader.Batch, error) {
	b, err := s.fakeSource.Next(ctx)
	if err != nil {
		return nil, err
	}
	n := s.lens[b.Index]
	for range b.Tensors {
		b.Sizes = append(b.Sizes, loader.SizeMeasure{Elements: 2 * n, SeqLen: n})
	}
	return b, nil
}

// sizedTarget is fakeTarget that records latencies by bucket the way the
// worker does, from the batches' Size and Bucket.
type sizedTarget struct {
	fakeTarget
	sizes *sizeRec
}

func (f *sizedTarget) Run(ctx context.Context, blk Block) (BlockResult, error) {
	res, err := f.fakeTarget.Run(ctx, blk)
	if err != nil || !blk.Record {
		return res, err
	}
	if f.sizes == nil && blk.SizeBuckets > 0 {
		f.sizes = newSizeRec(blk.SizeBuckets)
	}
	for i := range blk.Requests {
		b := f.last[(blk.Offset+i)%int64(len(f.last))]
		f.sizes.ok(b.Bucket, b.Size, int64(b.Size)*int64(time.Microsecond))
	}
	if !blk.Accumulate {
		res.SizeBuckets, f.sizes = f.sizes.results(), nil
	}
	return res, nil
}

func TestMeasureCarriesSizesAndBuckets(t *testing.T) {
	var log []string
	a := &sizedTarget{fakeTarget: fakeTarget{name: "A", latency: 100 * time.Microsecond, log: &log}}
	b := &sizedTarget{fakeTarget: fakeTarget{name: "B", latency: 200 * time.Microsecond, log: &log}}
	src := &sizedSource{fakeSource: fakeSource{n: 6, targets: 2}, lens: []int64{4, 8, 4, 16, 8, 4}}
	plan := Plan{Warmup: Amount{Requests: 3}, Measure: Amount{Requests: 24}, Rounds: 2, Concurrency: 1}
	m, err := Measure(context.Background(), []Target{a, b}, src, plan, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Sizes == nil || m.Sizes.Measure != "seq_len" || !m.Sizes.Complete {
		t.Fatalf("sizes = %+v", m.Sizes)
	}
	// Three distinct lengths: one bucket each.
	var labels []string
	for _, bk := range m.Sizes.Buckets {
		labels = append(labels, bk.Label)
	}
	if !slices.Equal(labels, []string{"len 4", "len 8", "len 16"}) {
		t.Errorf("buckets %v", labels)
	}
	for _, tg := range []*sizedTarget{a, b} {
		for _, blk := range tg.blocks {
			for _, bb := range blk.Batches {
				n := bb.Tensors[0].Data.([]float32)[0]
				want := float64(src.lens[int(n)])
				if bb.Size != want || m.Sizes.Buckets[bb.Bucket].Lo != want {
					t.Fatalf("%s: batch %v has size %v bucket %d, want size %v", tg.name, n, bb.Size, bb.Bucket, want)
				}
			}
			if blk.Record && blk.SizeBuckets != 3 {
				t.Errorf("%s: a recorded block asks for %d size buckets", tg.name, blk.SizeBuckets)
			}
		}
	}
	// Each round's buckets count every request once: 12 per round.
	for i, tm := range m.Targets {
		for _, rd := range tm.Rounds {
			var n int64
			for _, sb := range rd.SizeBuckets {
				h, err := result.DecodeHistogram(sb.Histogram)
				if err != nil {
					t.Fatal(err)
				}
				if h.Count() != sb.Count || sb.SizeSum != float64(sb.Count)*m.Sizes.Buckets[sb.Index].Lo {
					t.Errorf("target %d round %d bucket %d: count %d, size sum %v", i, rd.Index, sb.Index, sb.Count, sb.SizeSum)
				}
				n += sb.Count
			}
			if n != rd.Requests {
				t.Errorf("target %d round %d: buckets hold %d requests, the round %d", i, rd.Index, n, rd.Requests)
			}
		}
	}
	if src.rewinds < 1 {
		t.Error("the size scan did not rewind the source")
	}
}

func TestSizeBucketsQuantiles(t *testing.T) {
	var sizes []float64
	for v := 1; v <= 100; v++ {
		sizes = append(sizes, float64(v))
	}
	bs := sizeBuckets(sizes, "elements", DefaultSizeBuckets)
	if len(bs) != DefaultSizeBuckets || bs[0].Lo != 1 || bs[0].Hi != 20 || bs[4].Lo != 81 || bs[4].Hi != 100 {
		t.Errorf("buckets %+v", bs)
	}
	for _, c := range []struct {
		v    float64
		want int
	}{{0, 0}, {1, 0}, {20, 0}, {21, 1}, {80.5, 3}, {81, 4}, {1000, 4}} {
		if got := bucketOf(bs, c.v); got != c.want {
			t.Errorf("bucketOf(%v) = %d, want %d", c.v, got, c.want)
		}
	}
	// A heavily repeated size does not make empty buckets.
	skew := append(slices.Repeat([]float64{5}, 90), 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
	for _, b := range sizeBuckets(skew, "elements", DefaultSizeBuckets) {
		if b.Lo > b.Hi {
			t.Errorf("empty bucket %+v", b)
		}
	}
}

// The bucket count is the caller's: n quantile buckets of equal share, and
// one bucket per size when there are no more distinct sizes than n.
func TestSizeBucketsCount(t *testing.T) {
	var sizes []float64
	for v := 1; v <= 100; v++ {
		sizes = append(sizes, float64(v))
	}
	for _, n := range []int{MinSizeBuckets, 3, 10, MaxSizeBuckets} {
		bs := sizeBuckets(sizes, "elements", n)
		if len(bs) != n || bs[0].Lo != 1 || bs[n-1].Hi != 100 {
			t.Fatalf("n=%d: %d buckets %+v", n, len(bs), bs)
		}
		for k, b := range bs {
			if want := float64(100 / n); b.Hi-b.Lo+1 < want {
				t.Errorf("n=%d: bucket %d %v–%v holds fewer than %v sizes", n, k, b.Lo, b.Hi, want)
			}
		}
	}
	// 15 distinct sizes: quantile buckets at 5, one per size at 20.
	few := sizes[:15]
	if bs := sizeBuckets(few, "elements", 5); len(bs) != 5 {
		t.Errorf("15 sizes, n=5: %d buckets", len(bs))
	}
	if bs := sizeBuckets(few, "elements", 20); len(bs) != 15 || bs[14].Label != "15" {
		t.Errorf("15 sizes, n=20: %+v, want one bucket per size", bs)
	}
}

// Measure cuts the buckets WithSizeBuckets asks for, tells the targets
// that many, and refuses a count out of range before running anything.
func TestMeasureWithSizeBuckets(t *testing.T) {
	lens := make([]int64, 40)
	for i := range lens {
		lens[i] = int64(i + 1)
	}
	plan := Plan{Warmup: Amount{Requests: 2}, Measure: Amount{Requests: 40}, Rounds: 2, Concurrency: 1}
	var log []string
	a := &sizedTarget{fakeTarget: fakeTarget{name: "A", latency: 10 * time.Microsecond, log: &log}}
	src := &sizedSource{fakeSource: fakeSource{n: len(lens), targets: 1}, lens: lens}
	m, err := Measure(context.Background(), []Target{a}, src, plan, Hooks{}, WithSizeBuckets(4))
	if err != nil {
		t.Fatal(err)
	}
	if m.Sizes == nil || len(m.Sizes.Buckets) != 4 {
		t.Fatalf("sizes %+v, want 4 buckets", m.Sizes)
	}
	recorded := 0
	for _, blk := range a.blocks {
		if blk.Record {
			recorded++
			if blk.SizeBuckets != 4 {
				t.Errorf("a recorded block asks for %d size buckets, want 4", blk.SizeBuckets)
			}
		}
	}
	if recorded == 0 {
		t.Fatal("no recorded block")
	}
	for _, n := range []int{0, 1, MaxSizeBuckets + 1} {
		b := &sizedTarget{fakeTarget: fakeTarget{name: "B", latency: 10 * time.Microsecond, log: &log}}
		src := &sizedSource{fakeSource: fakeSource{n: len(lens), targets: 1}, lens: lens}
		_, err := Measure(context.Background(), []Target{b}, src, plan, Hooks{}, WithSizeBuckets(n))
		if errkind.Of(err) != errkind.KindInput || !strings.Contains(err.Error(), "--size-buckets") {
			t.Errorf("WithSizeBuckets(%d): err %v, want bad input naming --size-buckets", n, err)
		}
		if len(b.blocks) != 0 {
			t.Errorf("WithSizeBuckets(%d): %d blocks ran before the refusal", n, len(b.blocks))
		}
	}
}

// On the sequence test set (lengths 3..40, one row per batch) the buckets
// are by sequence length, contiguous and covering every length.
func TestScanSizesSeqParquet(t *testing.T) {
	ds, err := loader.Open(filepath.Join("..", "testdata", "seq.parquet"), loader.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	inputs := []loader.InputSpec{
		{Name: "input_ids", DType: loader.Int64, Shape: []int64{-1, -1}},
		{Name: "attention_mask", DType: loader.Int64, Shape: []int64{-1, -1}},
	}
	bind, err := loader.NewBinding(ds, inputs, loader.BindOptions{})
	if err != nil {
		t.Fatal(err)
	}
	src, err := loader.NewSource(ds, []*loader.Binding{bind}, loader.SourceOptions{BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	scan, err := scanSizes(context.Background(), src, DefaultSizeBuckets)
	if err != nil {
		t.Fatal(err)
	}
	if scan == nil || scan.Measure != "seq_len" || !scan.Complete {
		t.Fatalf("scan %+v", scan)
	}
	if lo, hi := slices.Min(scan.Sizes), slices.Max(scan.Sizes); lo != 3 || hi != 40 {
		t.Errorf("lengths %v..%v, want 3..40", lo, hi)
	}
	bs := scan.Buckets
	if len(bs) < 2 || bs[0].Lo != 3 || bs[len(bs)-1].Hi != 40 {
		t.Fatalf("buckets %+v", bs)
	}
	for i := 1; i < len(bs); i++ {
		if bs[i].Lo != bs[i-1].Hi+1 {
			t.Errorf("buckets %d and %d are not contiguous lengths: %+v", i-1, i, bs)
		}
	}
	// The source was rewound: the stream starts over.
	b, err := src.Next(context.Background())
	if err != nil || b.Index != 0 {
		t.Fatalf("after the scan: batch %v, %v", b, err)
	}
	if _, err := src.Next(context.Background()); err == io.EOF {
		t.Fatal("one batch only")
	}
}
