package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/infergate/infergate/internal/errkind"
)

// SourceOptions controls which rows a Source yields and in what order.
type SourceOptions struct {
	// BatchSize is the number of rows per batch, >= 1. The last batch may
	// be shorter.
	BatchSize int
	// Rows limits the run to the first Rows rows (with Shuffle: Rows
	// sampled rows); 0 means all rows.
	Rows int64
	// Shuffle visits rows in a random order fixed by Seed.
	//
	// Shuffling materialises the selected rows' needed columns in memory
	// (a streaming reader cannot seek to random rows cheaply), so on a huge
	// dataset combine it with Rows. Without Shuffle the file is streamed
	// and memory use does not grow with its size.
	Shuffle bool
	// Seed picks the permutation when Shuffle is set.
	Seed int64
	// Sample, when positive and fewer than the N rows the options above
	// select, keeps that many of them spread evenly: position ⌊i·N/Sample⌋
	// for i = 0 … Sample−1 of those rows, in their order (the permuted
	// order with Shuffle). The picked rows are read in one pass and held
	// in memory, as a shuffle's are. The rule needs no seed: the same N and
	// Sample always pick the same rows.
	Sample int64
}

// Batch is one batch of model inputs, as Go-owned slices: it holds no arrow
// memory and stays valid after the Source moves on or is closed.
type Batch struct {
	// Index is the 0-based position of the batch in the stream.
	Index int
	// FirstRow is the dataset row index of the batch's first row (with
	// Shuffle or Sample, of its first row in the stream's order).
	FirstRow int64
	// Rows is the number of rows in the batch.
	Rows int
	// Tensors[i] holds the inputs for bindings[i], in Inputs() order.
	Tensors [][]Tensor
	// Sizes[i] measures the inputs of bindings[i].
	Sizes []SizeMeasure
}

// segment is a run of consecutive dataset rows inside one set of arrow
// column arrays (indexed like Source.fields).
type segment struct {
	cols []arrow.Array
	off  int
	n    int
	row0 int64 // dataset row index of row off
}

// chunk holds materialised rows for a shuffled Source; rows[i] is the
// dataset row index of entry i.
type chunk struct {
	cols []arrow.Array
	rows []int64
}

type rowRef struct {
	chunk int32 // -1 when no column is read
	idx   int32
}

// Source streams batches for one or more bindings over the same rows, in
// the same order. It is not safe for concurrent use.
type Source struct {
	ds       *Dataset
	bindings []*Binding
	opts     SourceOptions
	fields   []int       // dataset fields read, ascending
	pos      map[int]int // field -> position in a record
	leafCols []int
	readRows int64 // rows per arrow record
	total    int64 // rows the stream yields

	produced int64
	index    int
	err      error // sticky: a failed read is not retried until Rewind
	closed   bool

	// streaming state
	rr      pqarrow.RecordReader
	cur     arrow.RecordBatch // retained by us
	curOff  int
	curRow0 int64
	nextRow int64

	// picked-rows state (Shuffle or Sample)
	picked       bool
	sel          []int64 // dataset row of each position, in stream order
	materialised bool
	chunks       []chunk
	order        []rowRef
}

// readTargetBytes bounds the size of one arrow record read from the file,
// so memory stays flat however the rows are batched.
const readTargetBytes = 8 << 20

// NewSource prepares a stream of batches for bindings, which must all be
// bound to ds. Without Shuffle the file is streamed record batch by record
// batch. With Shuffle the selected rows' needed columns are materialised in
// memory on the first Next (use Rows to bound that on a huge dataset).
func NewSource(ds *Dataset, bindings []*Binding, opts SourceOptions) (s *Source, err error) {
	switch {
	case ds == nil || ds.closed:
		return nil, errors.New("loader: source on a closed dataset")
	case len(bindings) == 0:
		return nil, errors.New("loader: source needs at least one binding")
	case opts.BatchSize < 1:
		return nil, errkind.Input(fmt.Errorf("batch size must be at least 1, got %d", opts.BatchSize))
	case opts.Rows < 0:
		return nil, errkind.Input(fmt.Errorf("--rows must not be negative, got %d", opts.Rows))
	case opts.Sample < 0:
		return nil, fmt.Errorf("loader: sample of %d rows", opts.Sample)
	}
	defer ds.recoverCorrupt(&err)

	s = &Source{ds: ds, bindings: slices.Clone(bindings), opts: opts, pos: map[int]int{}}
	s.total = ds.numRows
	if opts.Rows > 0 && opts.Rows < s.total {
		s.total = opts.Rows
	}
	sample := opts.Sample > 0 && opts.Sample < s.total
	if opts.Shuffle {
		s.sel = samplePermutation(ds.numRows, s.total, opts.Seed)
	}
	if sample {
		pos := spreadPositions(s.total, opts.Sample)
		if s.sel != nil {
			for i, p := range pos {
				pos[i] = s.sel[p]
			}
		}
		s.sel, s.total = pos, opts.Sample
	}
	s.picked = s.sel != nil
	for _, b := range bindings {
		if b == nil || b.ds != ds {
			return nil, errors.New("loader: binding belongs to another dataset")
		}
		if err := s.checkBatchDims(b); err != nil {
			return nil, errkind.Input(err)
		}
		for _, f := range b.fields {
			if _, ok := s.pos[f]; !ok {
				s.pos[f] = -1
				s.fields = append(s.fields, f)
			}
		}
	}
	slices.Sort(s.fields)
	for i, f := range s.fields {
		s.pos[f] = i
		s.leafCols = append(s.leafCols, ds.leaves[f]...)
	}
	slices.Sort(s.leafCols)
	s.readRows = s.estimateReadRows()

	if s.picked {
		return s, nil // read on the first Next
	}
	if err := s.openReader(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// checkBatchDims refuses a batch size a model with a fixed batch dimension
// cannot take, before any row is read.
func (s *Source) checkBatchDims(b *Binding) error {
	for _, p := range b.plans {
		if p.kind == planFill || len(p.spec.Shape) == 0 || p.spec.Shape[0] < 0 {
			continue
		}
		fixed := p.spec.Shape[0]
		if int64(s.opts.BatchSize) != fixed {
			return fmt.Errorf("model input %s has a fixed batch size of %d; use --batch-size %d", p.spec.Name, fixed, fixed)
		}
		if last := s.total % fixed; last != 0 {
			return fmt.Errorf("model input %s has a fixed batch size of %d but the last batch would have %d rows; use --rows with a multiple of %d",
				p.spec.Name, fixed, last, fixed)
		}
	}
	return nil
}

// estimateReadRows sizes arrow records from the footer's uncompressed
// column sizes, so wide rows (images, long sequences) are read a few at a
// time and narrow rows many at a time.
func (s *Source) estimateReadRows() int64 {
	if len(s.leafCols) == 0 || s.ds.numRows == 0 {
		return 1
	}
	md := s.ds.pf.MetaData()
	var bytes int64
	for rg := 0; rg < md.NumRowGroups(); rg++ {
		rgm := md.RowGroup(rg)
		for _, c := range s.leafCols {
			if cc, err := rgm.ColumnChunk(c); err == nil {
				bytes += max(cc.TotalUncompressedSize(), 0)
			}
		}
	}
	perRow := max(bytes/s.ds.numRows, 1)
	return min(max(readTargetBytes/perRow, 1), 64<<10)
}

// openReader starts (or restarts) streaming record batches of the needed
// columns from the top of the file.
func (s *Source) openReader() error {
	s.releaseStream()
	s.nextRow = 0
	if len(s.leafCols) == 0 {
		return nil
	}
	s.ds.fr.Props.BatchSize = s.readRows
	// Read buffers are sized when each column chunk is opened, which
	// happens lazily as the reader reaches each row group.
	s.ds.props.BufferSize = min(max(readBufferBudget/int64(len(s.leafCols)), minReadBuffer), defaultReadBuffer)
	rr, err := s.ds.fr.GetRecordReader(context.Background(), s.leafCols, nil)
	if err != nil {
		return s.ds.corrupt(err)
	}
	s.rr = rr
	if n := rr.Schema().NumFields(); n != len(s.fields) {
		return s.ds.corrupt(fmt.Sprintf("reader returned %d columns, expected %d", n, len(s.fields)))
	}
	return nil
}

func (s *Source) releaseStream() {
	if s.cur != nil {
		s.cur.Release()
		s.cur = nil
	}
	s.curOff = 0
	if s.rr != nil {
		s.rr.Release()
		s.rr = nil
	}
}

// nextRecord advances the stream to the next non-empty record, retained
// for the caller.
func (s *Source) nextRecord() (arrow.RecordBatch, int64, error) {
	for {
		if !s.rr.Next() {
			if err := s.rr.Err(); err != nil {
				return nil, 0, s.ds.corrupt(err)
			}
			return nil, 0, s.ds.corrupt(fmt.Sprintf("file ended after %d rows but its footer says %d", s.nextRow, s.ds.numRows))
		}
		rec := s.rr.RecordBatch()
		n := rec.NumRows()
		for i, c := range rec.Columns() {
			if int64(c.Len()) != n {
				return nil, 0, s.ds.corrupt(fmt.Sprintf("column %s has %d values in a batch of %d rows", rec.ColumnName(i), c.Len(), n))
			}
		}
		row0 := s.nextRow
		s.nextRow += n
		if n > 0 {
			rec.Retain()
			return rec, row0, nil
		}
	}
}

// Next returns the next batch, or io.EOF after the last one.
func (s *Source) Next(ctx context.Context) (batch *Batch, err error) {
	switch {
	case s.closed:
		return nil, errors.New("loader: next on a closed source")
	case s.err != nil:
		return nil, s.err
	case s.produced >= s.total:
		return nil, io.EOF
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var held []arrow.RecordBatch
	defer func() {
		if r := recover(); r != nil {
			err = s.ds.corrupt(r)
		}
		for _, r := range held {
			r.Release()
		}
		if err != nil {
			batch = nil
			if ctx.Err() == nil || !errors.Is(err, ctx.Err()) {
				s.err = err
			}
		}
	}()

	want := int(min(int64(s.opts.BatchSize), s.total-s.produced))
	var segs []segment
	if s.picked {
		if !s.materialised {
			if err := s.materialise(ctx); err != nil {
				return nil, err
			}
		}
		segs = s.shuffledSegments(want)
	} else if s.rr == nil {
		// Every input is a fill: rows carry no data but still count.
		segs = []segment{{n: want, row0: s.produced}}
	} else {
		for got := 0; got < want; {
			if s.cur == nil || s.curOff >= int(s.cur.NumRows()) {
				if s.cur != nil {
					held = append(held, s.cur) // segments may still point into it
					s.cur = nil
				}
				// No cancellation check here: rows already taken into
				// segs would be lost and the stream would skip them.
				rec, row0, err := s.nextRecord()
				if err != nil {
					return nil, err
				}
				s.cur, s.curOff, s.curRow0 = rec, 0, row0
			}
			take := min(want-got, int(s.cur.NumRows())-s.curOff)
			segs = append(segs, segment{cols: s.cur.Columns(), off: s.curOff, n: take, row0: s.curRow0 + int64(s.curOff)})
			s.curOff += take
			got += take
		}
	}

	batch = &Batch{
		Index:    s.index,
		FirstRow: segs[0].row0,
		Rows:     want,
		Tensors:  make([][]Tensor, len(s.bindings)),
		Sizes:    make([]SizeMeasure, len(s.bindings)),
	}
	for i, b := range s.bindings {
		ts, size, err := s.build(b, segs, want)
		if err != nil {
			return nil, err
		}
		batch.Tensors[i], batch.Sizes[i] = ts, size
	}
	s.index++
	s.produced += int64(want)
	return batch, nil
}

// Rewind starts the stream over from the first batch, in the same order.
func (s *Source) Rewind() (err error) {
	if s.closed {
		return errors.New("loader: rewind on a closed source")
	}
	defer s.ds.recoverCorrupt(&err)
	s.produced, s.index, s.err = 0, 0, nil
	if s.picked {
		return nil // the materialised rows and their order are kept
	}
	return s.openReader()
}

// Close releases the arrow memory the source holds. It does not close the
// dataset.
func (s *Source) Close() (err error) {
	if s == nil || s.closed {
		return nil
	}
	s.closed = true
	defer s.ds.recoverCorrupt(&err)
	s.releaseStream()
	s.releaseChunks()
	return nil
}

func (s *Source) releaseChunks() {
	for _, c := range s.chunks {
		for _, a := range c.cols {
			a.Release()
		}
	}
	s.chunks, s.order, s.materialised = nil, nil, false
}

// spreadPositions returns k positions spread evenly over n (0 < k ≤ n):
// ⌊i·n/k⌋ for i = 0 … k−1, ascending, the first always 0.
func spreadPositions(n, k int64) []int64 {
	out := make([]int64, k)
	for i := range out {
		hi, lo := bits.Mul64(uint64(i), uint64(n))
		q, _ := bits.Div64(hi, lo, uint64(k)) // i < k, so no overflow
		out[i] = int64(q)
	}
	return out
}

// samplePermutation returns the first k entries of a Fisher-Yates
// permutation of 0..n-1 driven by seed. When k is small next to n, the
// swapped entries live in a map so a sample of a billion-row file costs
// memory for k rows only; both paths make the same random draws and so
// give the same rows.
func samplePermutation(n, k, seed int64) []int64 {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	out := make([]int64, k)
	if n <= 4*k {
		a := make([]int64, n)
		for i := range a {
			a[i] = int64(i)
		}
		for i := int64(0); i < k; i++ {
			j := i + rng.Int64N(n-i)
			a[i], a[j] = a[j], a[i]
		}
		copy(out, a[:k])
		return out
	}
	swapped := map[int64]int64{}
	get := func(x int64) int64 {
		if v, ok := swapped[x]; ok {
			return v
		}
		return x
	}
	for i := int64(0); i < k; i++ {
		j := i + rng.Int64N(n-i)
		vi, vj := get(i), get(j)
		swapped[j] = vi
		out[i] = vj
	}
	return out
}

// materialise reads the sampled rows' needed columns into memory, one
// compact chunk per record read, in a single pass over the file.
func (s *Source) materialise(ctx context.Context) (err error) {
	defer func() {
		if err != nil { // drop a partial result; Rewind may try again
			s.releaseChunks()
		}
	}()
	s.releaseChunks() // a read that panicked part-way may have left some
	k := len(s.sel)
	s.order = make([]rowRef, k)
	if len(s.leafCols) == 0 {
		for i := range s.order {
			s.order[i] = rowRef{chunk: -1}
		}
		s.materialised = true
		return nil
	}
	byRow := make([]int, k) // permuted positions sorted by dataset row
	for i := range byRow {
		byRow[i] = i
	}
	slices.SortFunc(byRow, func(a, b int) int { return compareInt64(s.sel[a], s.sel[b]) })

	if err := s.openReader(); err != nil {
		return err
	}
	defer s.releaseStream()
	for next := 0; next < k; {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, row0, err := s.nextRecord()
		if err != nil {
			return err
		}
		end := row0 + rec.NumRows()
		var picked []int // positions in byRow order that fall in this record
		for next < k && s.sel[byRow[next]] < end {
			picked = append(picked, byRow[next])
			next++
		}
		if len(picked) > 0 {
			if err := s.addChunk(rec, row0, picked); err != nil {
				rec.Release()
				return err
			}
		}
		rec.Release()
	}
	s.materialised = true
	return nil
}

// addChunk copies the picked rows of rec into a compact chunk, keeping runs
// of consecutive rows as single slices so a dense sample costs no copying.
func (s *Source) addChunk(rec arrow.RecordBatch, row0 int64, picked []int) error {
	c := chunk{rows: make([]int64, len(picked))}
	type run struct{ from, to int64 }
	var runs []run
	for i, p := range picked {
		r := s.sel[p] - row0
		c.rows[i] = s.sel[p]
		if n := len(runs); n > 0 && runs[n-1].to == r {
			runs[n-1].to++
		} else {
			runs = append(runs, run{r, r + 1})
		}
		s.order[p] = rowRef{chunk: int32(len(s.chunks)), idx: int32(i)}
	}
	for _, col := range rec.Columns() {
		if len(runs) == 1 {
			c.cols = append(c.cols, array.NewSlice(col, runs[0].from, runs[0].to))
			continue
		}
		parts := make([]arrow.Array, len(runs))
		for i, r := range runs {
			parts[i] = array.NewSlice(col, r.from, r.to)
		}
		merged, err := array.Concatenate(parts, s.ds.mem)
		for _, p := range parts {
			p.Release()
		}
		if err != nil {
			for _, a := range c.cols {
				a.Release()
			}
			return s.ds.corrupt(err)
		}
		c.cols = append(c.cols, merged)
	}
	s.chunks = append(s.chunks, c)
	return nil
}

// shuffledSegments returns the next want rows in permuted order, merging
// neighbours that are adjacent in the same chunk.
func (s *Source) shuffledSegments(want int) []segment {
	var segs []segment
	for p := s.produced; p < s.produced+int64(want); p++ {
		ref := s.order[p]
		if ref.chunk < 0 {
			segs = append(segs, segment{n: 1, row0: s.sel[p]})
			continue
		}
		c := &s.chunks[ref.chunk]
		if n := len(segs); n > 0 {
			last := &segs[n-1]
			if last.cols != nil && &last.cols[0] == &c.cols[0] && last.off+last.n == int(ref.idx) &&
				last.row0+int64(last.n) == c.rows[ref.idx] {
				last.n++
				continue
			}
		}
		segs = append(segs, segment{cols: c.cols, off: int(ref.idx), n: 1, row0: c.rows[ref.idx]})
	}
	return segs
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
