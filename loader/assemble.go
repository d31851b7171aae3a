package loader

import (
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/infergate/infergate/internal/errkind"
)

// seqInfo describes the sequence dimension of a list-valued input in one
// batch, for deriving its attention mask.
type seqInfo struct {
	length int64   // padded length
	lens   []int64 // real length of each row
}

// build makes binding b's tensors for the rows in segs.
func (s *Source) build(b *Binding, segs []segment, rows int) ([]Tensor, SizeMeasure, error) {
	tensors := make([]Tensor, len(b.plans))
	seqs := make([]*seqInfo, len(b.plans))
	var size SizeMeasure
	for i := range b.plans {
		p := &b.plans[i]
		if p.kind != planColumns {
			continue
		}
		var (
			t        Tensor
			elements int64
			err      error
		)
		if p.src == srcScalar {
			t, elements, err = s.buildScalar(p, segs, rows)
		} else {
			t, elements, seqs[i], err = s.buildList(p, segs, rows)
		}
		if err != nil {
			return nil, SizeMeasure{}, err
		}
		tensors[i] = t
		size.Elements += elements
		if seqs[i] != nil && countFree(p.rowDims) > 0 {
			size.SeqLen = max(size.SeqLen, seqs[i].length)
			var empty int64
			for _, n := range seqs[i].lens {
				if n == 0 {
					empty++
				}
			}
			size.EmptyRows = max(size.EmptyRows, empty)
		}
	}
	for i := range b.plans {
		p := &b.plans[i]
		switch p.kind {
		case planFill:
			shape := slices.Clone(p.fillShape)
			for j, d := range shape {
				if d < 0 {
					shape[j] = int64(rows)
				}
			}
			n := int(product(shape))
			tensors[i] = Tensor{Name: p.spec.Name, DType: p.spec.DType, Shape: shape, Data: filled(p.spec.DType, n, p.fillValue)}
		case planMask:
			t, err := buildMask(p, seqs[p.maskOf], rows, b.plans[p.maskOf].spec.Name)
			if err != nil {
				return nil, SizeMeasure{}, err
			}
			tensors[i] = t
		}
	}
	return tensors, size, nil
}

// buildScalar builds [rows, k...] from k scalar columns.
func (s *Source) buildScalar(p *plan, segs []segment, rows int) (Tensor, int64, error) {
	k := len(p.cols)
	data := newData(p.spec.DType, rows*k)
	for j, c := range p.cols {
		r := 0
		for _, seg := range segs {
			arr := seg.cols[s.pos[c.field]]
			if err := checkNulls(arr, seg, c.name, "is null"); err != nil {
				return Tensor{}, 0, err
			}
			copyValues(data, r*k+j, k, arr, seg.off, seg.n)
			r += seg.n
		}
	}
	shape := append([]int64{int64(rows)}, p.rowDims...)
	return Tensor{Name: p.spec.Name, DType: p.spec.DType, Shape: shape, Data: data}, int64(rows * k), nil
}

// checkNulls reports the first null of arr in seg's rows.
func checkNulls(arr arrow.Array, seg segment, column, what string) error {
	if arr.NullN() == 0 {
		return nil
	}
	for i := 0; i < seg.n; i++ {
		if arr.IsNull(seg.off + i) {
			return errkind.Input(fmt.Errorf("column %s row %d %s", column, seg.row0+int64(i), what))
		}
	}
	return nil
}

func hasNull(arr arrow.Array, off, n int) bool {
	if arr.NullN() == 0 {
		return false
	}
	for i := off; i < off+n; i++ {
		if arr.IsNull(i) {
			return true
		}
	}
	return false
}

// span is a contiguous run of leaf values belonging to one row.
type span struct {
	leaf       arrow.Array
	start, len int
}

// buildList builds a tensor from a list-valued column, checking each row's
// length against the declared shape and padding variable-length rows to
// the longest in the batch along the first non-batch dimension.
func (s *Source) buildList(p *plan, segs []segment, rows int) (Tensor, int64, *seqInfo, error) {
	in := p.spec
	c := p.cols[0]
	bad := func(format string, a ...any) (Tensor, int64, *seqInfo, error) {
		return Tensor{}, 0, nil, errkind.Input(fmt.Errorf(format, a...))
	}

	var (
		spans    []span
		rowSpan  = make([]int, rows+1) // spans of row r: rowSpan[r]:rowSpan[r+1]
		rowLen   = make([]int64, rows) // values per row
		outer    = make([]int64, rows) // nested only: inner lists per row
		innerLen = int64(-1)           // nested only: common inner length
		innerRow int64
		r        int
		total    int64
	)
	for _, seg := range segs {
		list, ok := seg.cols[s.pos[c.field]].(array.ListLike)
		if !ok {
			return bad("column %s: expected a list array, got %T", c.name, seg.cols[s.pos[c.field]])
		}
		values := list.ListValues()
		for i := 0; i < seg.n; i++ {
			row := seg.row0 + int64(i)
			idx := seg.off + i
			rowSpan[r] = len(spans)
			if list.IsNull(idx) {
				return bad("column %s row %d is null", c.name, row)
			}
			start, end := list.ValueOffsets(idx)
			if start < 0 || end < start || end > int64(values.Len()) {
				return Tensor{}, 0, nil, s.ds.corrupt(fmt.Sprintf("column %s row %d has list offsets %d..%d outside %d values", c.name, row, start, end, values.Len()))
			}
			if p.src != srcNested {
				spans = append(spans, span{values, int(start), int(end - start)})
				rowLen[r] = end - start
			} else {
				inner, ok := values.(array.ListLike)
				if !ok {
					return bad("column %s: expected a list of lists, got %T", c.name, values)
				}
				leaf := inner.ListValues()
				outer[r] = end - start
				for j := start; j < end; j++ {
					if inner.IsNull(int(j)) {
						return bad("column %s row %d has a null value", c.name, row)
					}
					s2, e2 := inner.ValueOffsets(int(j))
					if s2 < 0 || e2 < s2 || e2 > int64(leaf.Len()) {
						return Tensor{}, 0, nil, s.ds.corrupt(fmt.Sprintf("column %s row %d has list offsets %d..%d outside %d values", c.name, row, s2, e2, leaf.Len()))
					}
					switch {
					case innerLen < 0:
						innerLen, innerRow = e2-s2, row
					case e2-s2 != innerLen && innerRow == row:
						return bad("column %s row %d has inner lists of %d and %d values; 2-D rows must be rectangular",
							c.name, row, innerLen, e2-s2)
					case e2-s2 != innerLen:
						return bad("column %s row %d has inner lists of %d values but row %d has %d; inner lists must have one length within a batch",
							c.name, row, e2-s2, innerRow, innerLen)
					}
					spans = append(spans, span{leaf, int(s2), int(e2 - s2)})
					rowLen[r] += e2 - s2
				}
			}
			for _, sp := range spans[rowSpan[r]:] {
				if hasNull(sp.leaf, sp.start, sp.len) {
					return bad("column %s row %d has a null value", c.name, row)
				}
			}
			total += rowLen[r]
			r++
		}
	}
	rowSpan[rows] = len(spans)

	// Resolve this batch's row shape.
	dims := slices.Clone(p.rowDims)
	free := make([]int64, rows) // each row's size along the free dim
	freeIdx := slices.IndexFunc(dims, func(d int64) bool { return d < 0 })
	if p.src == srcNested {
		if dims[1] < 0 {
			dims[1] = max(innerLen, 0)
		} else if innerLen >= 0 && innerLen != dims[1] {
			return bad("column %s row %d has inner lists of %d values; model input %s declares shape %s",
				c.name, innerRow, innerLen, in.Name, formatDims(in.Shape))
		}
		freeIdx = slices.IndexFunc(dims, func(d int64) bool { return d < 0 })
		for i := range outer {
			if freeIdx < 0 && outer[i] != dims[0] {
				return bad("column %s row %d has %d inner lists; model input %s declares shape %s",
					c.name, rowOf(segs, i), outer[i], in.Name, formatDims(in.Shape))
			}
			free[i] = outer[i]
		}
	} else {
		prod, _ := fixedProduct(dims)
		for i, n := range rowLen {
			switch {
			case freeIdx < 0 && n != prod:
				return bad("column %s row %d has %d values; model input %s declares shape %s (%d values per row)",
					c.name, rowOf(segs, i), n, in.Name, formatDims(in.Shape), prod)
			case freeIdx >= 0 && (prod == 0 || n%prod != 0):
				return bad("column %s row %d has %d values, which model input %s shape %s cannot hold",
					c.name, rowOf(segs, i), n, in.Name, formatDims(in.Shape))
			case freeIdx >= 0:
				free[i] = n / prod
			}
		}
	}
	seq := &seqInfo{lens: free}
	if freeIdx >= 0 {
		for i, f := range free {
			if f != free[0] && freeIdx != 0 {
				return bad("column %s rows %d and %d differ in length, but model input %s shape %s has its free dim after a fixed one, so rows cannot be padded",
					c.name, rowOf(segs, 0), rowOf(segs, i), in.Name, formatDims(in.Shape))
			}
			seq.length = max(seq.length, f)
		}
		dims[freeIdx] = seq.length
	} else {
		// Fixed rows: the mask, if any, covers the whole first dim.
		seq.length = dims[0]
		for i := range seq.lens {
			seq.lens[i] = dims[0]
		}
	}

	rowSize := int(product(dims))
	data := newData(in.DType, rows*rowSize)
	for i := 0; i < rows; i++ {
		at := i * rowSize
		for _, sp := range spans[rowSpan[i]:rowSpan[i+1]] {
			copyValues(data, at, 1, sp.leaf, sp.start, sp.len)
			at += sp.len
		}
		if end := (i + 1) * rowSize; at < end {
			fillRange(data, at, end, p.pad)
		}
	}
	shape := append([]int64{int64(rows)}, dims...)
	return Tensor{Name: in.Name, DType: in.DType, Shape: shape, Data: data}, total, seq, nil
}

// buildMask marks the real (1) and padded (0) positions of the sequence
// input seqName.
func buildMask(p *plan, seq *seqInfo, rows int, seqName string) (Tensor, error) {
	in := p.spec
	shape := slices.Clone(in.Shape)
	shape[0] = int64(rows)
	for i := 1; i < len(shape); i++ {
		if shape[i] < 0 {
			shape[i] = seq.length
		}
	}
	if got := product(shape[1:]); got != seq.length {
		return Tensor{}, errkind.Input(fmt.Errorf("model input %s declares shape %s but input %s has sequence length %d in this batch",
			in.Name, formatDims(in.Shape), seqName, seq.length))
	}
	data := newData(in.DType, rows*int(seq.length))
	for i, n := range seq.lens {
		at := i * int(seq.length)
		fillRange(data, at, at+int(n), 1)
	}
	return Tensor{Name: in.Name, DType: in.DType, Shape: shape, Data: data}, nil
}

// rowOf returns the dataset row index of the i-th row of a batch.
func rowOf(segs []segment, i int) int64 {
	for _, seg := range segs {
		if i < seg.n {
			return seg.row0 + int64(i)
		}
		i -= seg.n
	}
	return -1
}

func product(dims []int64) int64 {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	return n
}
