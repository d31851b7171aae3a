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
	null   []bool  // rows that were null (nil when none): not "empty"
}

// build makes binding b's tensors for the rows in segs.
func (s *Source) build(b *Binding, segs []segment, rows int) ([]Tensor, SizeMeasure, error) {
	tensors := make([]Tensor, len(b.plans))
	seqs := make([]*seqInfo, len(b.plans))
	var (
		size  SizeMeasure
		nulls rowSet // rows with a null in any input, kept or filled
	)
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
		switch {
		case p.text:
			var empty int64
			t, elements, empty, err = s.buildText(p, segs, rows, &nulls)
			size.EmptyRows = max(size.EmptyRows, empty)
		case p.src == srcScalar:
			t, elements, err = s.buildScalar(p, segs, rows, &nulls)
		default:
			t, elements, seqs[i], err = s.buildList(p, segs, rows, &nulls)
		}
		if err != nil {
			return nil, SizeMeasure{}, err
		}
		tensors[i] = t
		size.Elements += elements
		if seqs[i] != nil && countFree(p.rowDims) > 0 {
			size.SeqLen = max(size.SeqLen, seqs[i].length)
			var empty int64
			for r, n := range seqs[i].lens {
				if n == 0 && (seqs[i].null == nil || !seqs[i].null[r]) {
					empty++
				}
			}
			size.EmptyRows = max(size.EmptyRows, empty)
		}
	}
	size.NullRows = nulls.n
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
func (s *Source) buildScalar(p *plan, segs []segment, rows int, nulls *rowSet) (Tensor, int64, error) {
	k := len(p.cols)
	data := newData(p.spec.DType, rows*k)
	var null []bool
	for j, c := range p.cols {
		r := 0
		for _, seg := range segs {
			arr := seg.cols[s.pos[c.field]]
			if bad := copyValues(data, r*k+j, k, arr, seg.off, seg.n); bad >= 0 {
				return Tensor{}, 0, valueError(c.name, seg.row0+int64(bad), arr, seg.off+bad, p.spec)
			}
			if err := scalarNulls(p, c, arr, seg, r, rows, k == 1, &null, nulls, func(i int, v float64) {
				setAt(data, i*k+j, v)
			}); err != nil {
				return Tensor{}, 0, err
			}
			r += seg.n
		}
	}
	shape := append([]int64{int64(rows)}, p.rowDims...)
	return Tensor{Name: p.spec.Name, DType: p.spec.DType, Shape: shape, Data: data, Null: null}, int64(rows * k), nil
}

// buildText builds [rows] of text (rows, 1 for a [batch, 1] input) from
// one column; elements counts the bytes, empty the rows of "".
func (s *Source) buildText(p *plan, segs []segment, rows int, nulls *rowSet) (t Tensor, elements, empty int64, err error) {
	c := p.cols[0]
	data := make([]string, rows)
	var null []bool
	r := 0
	for _, seg := range segs {
		arr := seg.cols[s.pos[c.field]]
		copyText(data, r, 1, arr, seg.off, seg.n)
		if err := scalarNulls(p, c, arr, seg, r, rows, true, &null, nulls, func(i int, _ float64) { data[i] = "" }); err != nil {
			return Tensor{}, 0, 0, err
		}
		r += seg.n
	}
	for i, v := range data {
		elements += int64(len(v))
		if v == "" && (null == nil || !null[i]) {
			empty++
		}
	}
	shape := append([]int64{int64(rows)}, p.rowDims...)
	return Tensor{Name: p.spec.Name, DType: String, Shape: shape, Data: data, Null: null}, elements, empty, nil
}

// scalarNulls applies p's null handling to the nulls of arr in seg's rows,
// which start at batch row r: a Nullable input that takes the whole row
// from this column (alone) keeps them in *null, NullsFill calls fill with
// the batch row and the fill value, else the first null is an error.
// Every null row is marked in nulls.
func scalarNulls(p *plan, c colRef, arr arrow.Array, seg segment, r, rows int, alone bool, null *[]bool, nulls *rowSet, fill func(row int, v float64)) error {
	if arr.NullN() == 0 {
		return nil
	}
	for i := range seg.n {
		if !arr.IsNull(seg.off + i) {
			continue
		}
		switch {
		case p.spec.Nullable && alone:
			if *null == nil {
				*null = make([]bool, rows)
			}
			(*null)[r+i] = true
			fill(r+i, 0) // zero under the mask, not whatever the slot held
		case p.nulls == NullsFill:
			fill(r+i, p.nullFill)
		default:
			return errkind.Input(fmt.Errorf("column %s row %d is null; %s", c.name, seg.row0+int64(i), nullHint(p)))
		}
		nulls.mark(r+i, rows)
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
//
// Nulls: a null list is kept as null by a Nullable input; otherwise it,
// and a null inner list, make the row wholly filled under NullsFill (no
// values of its own: an empty row where the length is free); a null
// value inside a list is filled in place. Filled rows are exempt from the
// length checks, since they have no length of their own.
func (s *Source) buildList(p *plan, segs []segment, rows int, nulls *rowSet) (Tensor, int64, *seqInfo, error) {
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
		null     []bool // Tensor.Null: null lists a Nullable input keeps
		whole    []bool // rows with no values of their own: kept or filled nulls
		leafNull bool   // some kept value is null: filled after copying
	)
	// nullAt handles a null in batch row r (dataset row row): the list
	// itself (list), a whole inner list (!list, !leaf) or one value (leaf).
	nullAt := func(r int, row int64, list, leaf bool) error {
		switch {
		case list && in.Nullable:
			if null == nil {
				null = make([]bool, rows)
			}
			null[r] = true
		case p.nulls != NullsFill:
			what := "has a null value"
			if list {
				what = "is null"
			}
			return errkind.Input(fmt.Errorf("column %s row %d %s; %s", c.name, row, what, nullHint(p)))
		case leaf:
			leafNull = true
		}
		if !leaf {
			if whole == nil {
				whole = make([]bool, rows)
			}
			whole[r] = true
		}
		nulls.mark(r, rows)
		return nil
	}
	isWhole := func(i int) bool { return whole != nil && whole[i] }
	for _, seg := range segs {
		list, ok := seg.cols[s.pos[c.field]].(array.ListLike)
		if !ok {
			return bad("column %s: expected a list array, got %T", c.name, seg.cols[s.pos[c.field]])
		}
		values := list.ListValues()
	rowLoop:
		for i := 0; i < seg.n; i++ {
			row := seg.row0 + int64(i)
			idx := seg.off + i
			rowSpan[r] = len(spans)
			if list.IsNull(idx) {
				if err := nullAt(r, row, true, false); err != nil {
					return Tensor{}, 0, nil, err
				}
				r++
				continue
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
						if err := nullAt(r, row, false, false); err != nil {
							return Tensor{}, 0, nil, err
						}
						spans, rowLen[r], outer[r] = spans[:rowSpan[r]], 0, 0
						r++
						continue rowLoop
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
					if err := nullAt(r, row, false, true); err != nil {
						return Tensor{}, 0, nil, err
					}
					break
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
			if freeIdx < 0 && outer[i] != dims[0] && !isWhole(i) {
				return bad("column %s row %d has %d inner lists; model input %s declares shape %s",
					c.name, rowOf(segs, i), outer[i], in.Name, formatDims(in.Shape))
			}
			free[i] = outer[i]
		}
	} else {
		prod, _ := fixedProduct(dims)
		for i, n := range rowLen {
			switch {
			case isWhole(i):
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
	seq := &seqInfo{lens: free, null: whole}
	if freeIdx >= 0 {
		first := -1 // the first row with a length of its own
		for i := range free {
			if !isWhole(i) {
				first = i
				break
			}
		}
		for i, f := range free {
			if first >= 0 && !isWhole(i) && f != free[first] && freeIdx != 0 {
				return bad("column %s rows %d and %d differ in length, but model input %s shape %s has its free dim after a fixed one, so rows cannot be padded",
					c.name, rowOf(segs, first), rowOf(segs, i), in.Name, formatDims(in.Shape))
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
		if isWhole(i) {
			if null == nil || !null[i] {
				fillRange(data, at, at+rowSize, p.nullFill)
			}
			continue
		}
		for _, sp := range spans[rowSpan[i]:rowSpan[i+1]] {
			if bad := copyValues(data, at, 1, sp.leaf, sp.start, sp.len); bad >= 0 {
				return Tensor{}, 0, nil, valueError(c.name, rowOf(segs, i), sp.leaf, sp.start+bad, in)
			}
			if leafNull && hasNull(sp.leaf, sp.start, sp.len) {
				for q := range sp.len {
					if sp.leaf.IsNull(sp.start + q) {
						setAt(data, at+q, p.nullFill)
					}
				}
			}
			at += sp.len
		}
		if end := (i + 1) * rowSize; at < end {
			fillRange(data, at, end, p.pad)
		}
	}
	shape := append([]int64{int64(rows)}, dims...)
	return Tensor{Name: in.Name, DType: in.DType, Shape: shape, Data: data, Null: null}, total, seq, nil
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
