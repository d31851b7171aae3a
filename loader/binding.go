package loader

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/infergate/infergate/internal/errkind"
)

// BindOptions says how model inputs map onto dataset columns.
type BindOptions struct {
	// InputMap maps an input name to a column spec: "col", "a,b,c", or a
	// path.Match glob such as "f*". Entries for inputs this model lacks are
	// ignored (they may belong to the other model; see ValidateInputMap).
	InputMap map[string]string
	// Fills are constants for inputs the dataset lacks. A fill applies only
	// if this model has the input, and wins over a column of the same name.
	Fills []Fill
	// PadValue pads variable-length list rows up to the longest row of the
	// batch.
	PadValue float64
	// Nulls says what a null in a column becomes (NullsRefuse by default).
	Nulls NullPolicy
}

type planKind int

const (
	planColumns planKind = iota // built from dataset column(s)
	planFill                    // constant from a Fill
	planMask                    // attention mask derived from a padded input
)

type sourceKind int

const (
	srcScalar    sourceKind = iota // one value per row per column
	srcFixedList                   // fixed_size_list<T>
	srcList                        // list<T> / large_list<T>
	srcNested                      // list of lists: 2-D rows
)

type colRef struct {
	field int    // top-level field index in the dataset
	name  string // column name, for messages
}

// plan is how one model input is built.
type plan struct {
	spec InputSpec
	kind planKind

	// planColumns
	cols    []colRef
	src     sourceKind
	rowDims []int64 // declared non-batch dims; -1 = free (resolved per batch)
	pad     float64 // PadValue, checked against the input's dtype
	text    bool    // a text column (String input): one value per row

	// Nulls: the policy, the value a filled null gets (checked against
	// the dtype when the policy is NullsFill) and the raw --pad-value,
	// for messages.
	nulls    NullPolicy
	nullFill float64
	padValue float64

	// planFill
	fill      Fill
	fillValue float64
	fillShape []int64 // -1 marks the dim that takes the batch's row count

	// planMask
	maskOf int // index of the plan whose padding the mask describes
}

// Binding is a checked plan for building one model's inputs from a dataset.
type Binding struct {
	ds      *Dataset
	inputs  []InputSpec
	plans   []plan
	fields  []int // dataset fields read, ascending
	columns []string
}

// Inputs returns the model inputs in the order Batch tensors follow.
func (b *Binding) Inputs() []InputSpec { return slices.Clone(b.inputs) }

// Columns returns the dataset columns the binding reads, in file order.
func (b *Binding) Columns() []string { return slices.Clone(b.columns) }

// isMaskName reports whether an input looks like an attention mask the
// loader may derive from padding.
func isMaskName(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "attention_mask") || n == "mask" || n == "input_mask"
}

// NewBinding checks, before any row is read, that every model input can be
// built from ds: the columns exist, their element types convert to the
// input's without changing values, and their shapes fit the declared ones.
func NewBinding(ds *Dataset, inputs []InputSpec, opts BindOptions) (b *Binding, err error) {
	if ds == nil || ds.closed {
		return nil, fmt.Errorf("loader: binding on a closed dataset")
	}
	defer ds.recoverCorrupt(&err)

	b = &Binding{ds: ds, inputs: slices.Clone(inputs), plans: make([]plan, len(inputs))}
	fills := map[string]Fill{}
	for _, f := range opts.Fills {
		fills[f.Input] = f
	}
	seen := map[string]bool{}
	var masks []int
	for i, in := range inputs {
		if seen[in.Name] {
			return nil, errkind.Input(fmt.Errorf("model input %s is declared twice", in.Name))
		}
		seen[in.Name] = true
		p := &b.plans[i]
		p.spec = in
		if c, _ := dtypeInfo(in.DType); c == classOther && in.DType != String {
			return nil, errkind.Input(fmt.Errorf("model input %s has unsupported element type %s", in.Name, in.DType))
		}
		if f, ok := fills[in.Name]; ok {
			if err := b.planFill(p, f); err != nil {
				return nil, errkind.Input(err)
			}
			continue
		}
		cols, err := b.resolveColumns(in.Name, opts.InputMap)
		if err != nil {
			return nil, errkind.Input(err)
		}
		if cols == nil {
			if isMaskName(in.Name) {
				p.kind = planMask
				masks = append(masks, i)
				continue
			}
			return nil, errkind.Input(fmt.Errorf(
				"model input %s: no column named %s in %s (columns: %s); bind one with --input-map %s=COLUMN or --fill %s=zeros",
				in.Name, in.Name, ds.path, ds.columnNames(), in.Name, in.Name))
		}
		if err := b.planColumns(p, cols, opts); err != nil {
			return nil, errkind.Input(err)
		}
	}
	for _, i := range masks {
		if err := b.planMask(&b.plans[i]); err != nil {
			return nil, errkind.Input(err)
		}
	}

	used := map[int]bool{}
	for _, p := range b.plans {
		for _, c := range p.cols {
			used[c.field] = true
		}
	}
	for f := range used {
		b.fields = append(b.fields, f)
	}
	slices.Sort(b.fields)
	for _, f := range b.fields {
		b.columns = append(b.columns, ds.fields[f].Name)
	}
	return b, nil
}

// resolveColumns finds the columns feeding input name: the --input-map
// spec if any, else the column of the same name. nil, nil means none.
func (b *Binding) resolveColumns(name string, inputMap map[string]string) ([]colRef, error) {
	ds := b.ds
	spec, mapped := inputMap[name]
	if !mapped {
		if i := ds.fieldIndex(name); i >= 0 {
			return []colRef{{i, name}}, nil
		}
		return nil, nil
	}
	// A column whose name happens to contain a comma or glob characters
	// is still bindable by its exact name.
	if i := ds.fieldIndex(spec); i >= 0 {
		return []colRef{{i, spec}}, nil
	}
	var out []colRef
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("--input-map %s=%s: empty column name in list", name, spec)
		}
		if !strings.ContainsAny(part, "*?[\\") {
			i := ds.fieldIndex(part)
			if i < 0 {
				return nil, fmt.Errorf("--input-map %s=%s: no column named %s in %s (columns: %s)",
					name, spec, part, ds.path, ds.columnNames())
			}
			out = append(out, colRef{i, part})
			continue
		}
		n := 0
		for i, f := range ds.fields { // file order, as documented
			ok, err := path.Match(part, f.Name)
			if err != nil {
				return nil, fmt.Errorf("--input-map %s=%s: bad glob %q", name, spec, part)
			}
			if ok {
				out = append(out, colRef{i, f.Name})
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("--input-map %s=%s: glob %s matches no column in %s (columns: %s)",
				name, spec, part, ds.path, ds.columnNames())
		}
	}
	for i := range out {
		for j := range i {
			if out[i].field == out[j].field {
				return nil, fmt.Errorf("--input-map %s=%s: column %s is listed twice", name, spec, out[i].name)
			}
		}
	}
	return out, nil
}

// planColumns checks that cols can feed p.spec and records how.
func (b *Binding) planColumns(p *plan, cols []colRef, opts BindOptions) error {
	in := p.spec
	p.kind = planColumns
	p.cols = cols
	if len(in.Shape) == 0 {
		return fmt.Errorf("model input %s is 0-d (a single value per run), so it cannot take one value per row from column %s; use --fill %s=VALUE",
			in.Name, cols[0].name, in.Name)
	}
	p.rowDims = make([]int64, len(in.Shape)-1)
	for i, d := range in.Shape[1:] {
		p.rowDims[i] = max(d, -1)
	}
	if err := b.planNulls(p, opts); err != nil {
		return err
	}
	if in.DType == String || slices.ContainsFunc(cols, func(c colRef) bool { return isText(b.ds.fields[c.field].Type) }) {
		return b.planText(p)
	}

	if len(cols) > 1 {
		// Several columns: each gives one value of a row of length k.
		for _, c := range cols {
			t := b.ds.fields[c.field].Type
			if !isScalarElem(t) {
				return fmt.Errorf("column %s has type %s; only scalar numeric or bool columns can be combined into model input %s",
					c.name, t, in.Name)
			}
			if err := checkConvert(c.name, t, in.Name, in.DType); err != nil {
				return err
			}
		}
		p.src = srcScalar
		return b.fixRowShape(p, int64(len(cols)))
	}

	c := cols[0]
	t := b.ds.fields[c.field].Type
	elem, src, listLen, err := classifyColumn(t)
	if err != nil {
		return fmt.Errorf("column %s has type %s; model input %s needs numeric or bool values, or lists of them (%v)",
			c.name, t, in.Name, err)
	}
	if err := checkConvert(c.name, elem, in.Name, in.DType); err != nil {
		return err
	}
	p.src = src
	switch src {
	case srcScalar:
		return b.fixRowShape(p, 1)
	case srcFixedList:
		return b.fixRowShape(p, int64(listLen))
	case srcList:
		if free := countFree(p.rowDims); free > 1 {
			return fmt.Errorf("model input %s declares shape %s with %d free dims; list column %s gives rows of one variable length, so the row shape is ambiguous",
				in.Name, formatDims(in.Shape), free, c.name)
		}
		if len(p.rowDims) == 0 {
			return fmt.Errorf("column %s holds a list per row but model input %s declares shape %s (one value per row)",
				c.name, in.Name, formatDims(in.Shape))
		}
	case srcNested:
		if len(p.rowDims) != 2 {
			return fmt.Errorf("column %s holds 2-D rows (lists of lists) but model input %s declares shape %s; expected [batch, rows, cols]",
				c.name, in.Name, formatDims(in.Shape))
		}
		if listLen > 0 && p.rowDims[1] >= 0 && p.rowDims[1] != int64(listLen) {
			return fmt.Errorf("column %s has inner lists of %d values but model input %s declares shape %s",
				c.name, listLen, in.Name, formatDims(in.Shape))
		}
	}
	// Variable-length rows may need padding: check the pad value fits.
	if countFree(p.rowDims) > 0 {
		v, err := scalarFor(opts.PadValue, in.DType)
		if err != nil {
			return fmt.Errorf("pad value for model input %s: %v", in.Name, err)
		}
		p.pad = v
	}
	return nil
}

// planNulls records what a null in cols becomes. Filling checks the pad
// value against the input's type, but only when a column can hold nulls:
// a --pad-value that suits other inputs must not fail one without them.
func (b *Binding) planNulls(p *plan, opts BindOptions) error {
	p.nulls, p.padValue = opts.Nulls, opts.PadValue
	nullable := slices.ContainsFunc(p.cols, func(c colRef) bool { return mayHoldNull(b.ds.fields[c.field]) })
	if opts.Nulls != NullsFill || !nullable || p.spec.DType == Bool || p.spec.DType == String {
		return nil // a filled bool is false, filled text ""
	}
	v, err := scalarFor(opts.PadValue, p.spec.DType)
	if err != nil {
		return fmt.Errorf("--nulls fill writes --pad-value into model input %s: %v", p.spec.Name, err)
	}
	p.nullFill = v
	return nil
}

// mayHoldNull reports whether a column's schema allows a null anywhere:
// the value, or an element of its lists.
func mayHoldNull(f arrow.Field) bool {
	if f.Nullable {
		return true
	}
	if l, ok := f.Type.(arrow.ListLikeType); ok {
		return mayHoldNull(l.ElemField())
	}
	return false
}

// planText checks a text column against a String input: one column, one
// value per row. A tensor input cannot take text, whatever its type.
func (b *Binding) planText(p *plan) error {
	in := p.spec
	c := p.cols[0]
	if i := slices.IndexFunc(p.cols, func(c colRef) bool { return isText(b.ds.fields[c.field].Type) }); i >= 0 {
		c = p.cols[i] // the text column, for a tensor input's message
	}
	t := b.ds.fields[c.field].Type
	switch {
	case in.DType != String:
		return fmt.Errorf("column %s has type %s (text); model input %s takes %s tensors, and only an HTTP JSON endpoint (--protocol http with --request-template) can send text",
			c.name, t, in.Name, in.DType)
	case len(p.cols) > 1:
		return fmt.Errorf("input %s takes text from one column, not %d (%s)", in.Name, len(p.cols), colNames(p.cols))
	case !isText(t):
		return fmt.Errorf("column %s has type %s; input %s takes text (a string or binary column)", c.name, t, in.Name)
	}
	p.src, p.text = srcScalar, true
	return b.fixRowShape(p, 1)
}

// fixRowShape resolves the declared row dims against rows of exactly n
// values, as given by scalar columns and fixed-size lists.
func (b *Binding) fixRowShape(p *plan, n int64) error {
	in := p.spec
	what := fmt.Sprintf("column %s gives %d value(s) per row", p.cols[0].name, n)
	if len(p.cols) > 1 {
		what = fmt.Sprintf("columns %s give %d values per row", colNames(p.cols), n)
	}
	if len(p.rowDims) == 0 {
		if n != 1 {
			return fmt.Errorf("model input %s declares shape %s (one value per row) but %s", in.Name, formatDims(in.Shape), what)
		}
		return nil
	}
	prod, free := fixedProduct(p.rowDims)
	switch {
	case free == 0 && prod == n:
	case free == 1 && prod > 0 && n%prod == 0:
		for i, d := range p.rowDims {
			if d < 0 {
				p.rowDims[i] = n / prod
			}
		}
	case free > 1 && n == 1:
		for i, d := range p.rowDims {
			if d < 0 {
				p.rowDims[i] = 1
			}
		}
	default:
		return fmt.Errorf("model input %s declares shape %s but %s, which does not fit", in.Name, formatDims(in.Shape), what)
	}
	return nil
}

// planFill checks a fill against the declared shape and dtype.
func (b *Binding) planFill(p *plan, f Fill) error {
	in := p.spec
	p.kind = planFill
	p.fill = f
	v := 0.0
	if !f.Zeros {
		v = f.Value
	}
	cv, err := scalarFor(v, in.DType)
	if err != nil {
		return fmt.Errorf("--fill %s: value for model input %s %s: %v", f, in.Name, in.DType, err)
	}
	p.fillValue = cv
	switch {
	case f.Scalar || (f.Shape == nil && len(in.Shape) == 0):
		if len(in.Shape) != 0 {
			return fmt.Errorf("--fill %s is 0-d but model input %s declares shape %s", f, in.Name, formatDims(in.Shape))
		}
		p.fillShape = []int64{}
	case f.Shape != nil:
		ok := len(f.Shape) == len(in.Shape)
		for i := 0; ok && i < len(f.Shape); i++ {
			ok = in.Shape[i] < 0 || in.Shape[i] == f.Shape[i]
		}
		if !ok {
			return fmt.Errorf("--fill %s: shape %s does not match model input %s shape %s",
				f, formatDims(f.Shape), in.Name, formatDims(in.Shape))
		}
		p.fillShape = slices.Clone(f.Shape)
	default:
		p.fillShape = slices.Clone(in.Shape)
		batch := false
		for i, d := range p.fillShape {
			if d >= 0 {
				continue
			}
			if batch {
				ex := slices.Clone(in.Shape)
				for j := range ex {
					if ex[j] < 0 {
						ex[j] = 1
					}
				}
				return fmt.Errorf("model input %s has shape %s with more than one free dim; give the fill an explicit shape, e.g. --fill %s=zeros%s",
					in.Name, formatDims(in.Shape), in.Name, formatDims(ex))
			}
			batch = true
			p.fillShape[i] = -1
		}
	}
	// A fill is made whole for every batch: a declared shape of a trillion
	// elements (a typo, or metadata that means something else) would take
	// the machine's memory before any model ran.
	n := int64(1)
	for _, d := range p.fillShape {
		if d > 0 {
			if d > maxFillElements/n {
				return fmt.Errorf("--fill %s: model input %s would hold more than %d elements per row (shape %s); give the fill an explicit, smaller shape",
					f, in.Name, int64(maxFillElements), formatDims(p.fillShape))
			}
			n *= d
		}
	}
	return nil
}

// maxFillElements bounds one row's share of a fill: 256 Mi elements, 1 GiB
// of float32, more than any real input takes.
const maxFillElements = 1 << 28

// planMask picks the padded input whose real positions the mask marks: the
// first list-valued input with a free dim, else the first list-valued one.
func (b *Binding) planMask(p *plan) error {
	in := p.spec
	best := -1
	for i, q := range b.plans {
		if q.kind != planColumns || q.src == srcScalar {
			continue
		}
		if best < 0 {
			best = i
		}
		if countFree(q.rowDims) > 0 {
			best = i
			break
		}
	}
	if best < 0 {
		return fmt.Errorf("model input %s: no column named %s in %s (columns: %s), and no list input to derive a mask from; bind one with --input-map %s=COLUMN or --fill %s=zeros",
			in.Name, in.Name, b.ds.path, b.ds.columnNames(), in.Name, in.Name)
	}
	if len(in.Shape) < 2 || countFree(in.Shape[1:]) > 1 {
		return fmt.Errorf("model input %s declares shape %s; a derived attention mask needs [batch, seq]",
			in.Name, formatDims(in.Shape))
	}
	if _, err := scalarFor(1, in.DType); err != nil {
		return fmt.Errorf("model input %s: %v", in.Name, err)
	}
	p.maskOf = best
	return nil
}

// classifyColumn finds a column's element type and row layout. listLen is
// the fixed list size (srcFixedList) or fixed inner size (srcNested), or 0.
func classifyColumn(t arrow.DataType) (elem arrow.DataType, src sourceKind, listLen int, err error) {
	if isScalarElem(t) {
		return t, srcScalar, 0, nil
	}
	outer, ok := t.(arrow.ListLikeType)
	if !ok || t.ID() == arrow.MAP {
		return nil, 0, 0, fmt.Errorf("unsupported column type")
	}
	src = srcList
	if fs, ok := t.(*arrow.FixedSizeListType); ok {
		src, listLen = srcFixedList, int(fs.Len())
	}
	e := outer.Elem()
	if isScalarElem(e) {
		return e, src, listLen, nil
	}
	inner, ok := e.(arrow.ListLikeType)
	if !ok || e.ID() == arrow.MAP || !isScalarElem(inner.Elem()) {
		return nil, 0, 0, fmt.Errorf("lists nested more than two deep or of non-numeric values are not supported")
	}
	listLen = 0
	if fs, ok := e.(*arrow.FixedSizeListType); ok {
		listLen = int(fs.Len())
	}
	return inner.Elem(), srcNested, listLen, nil
}

func isScalarElem(t arrow.DataType) bool {
	c, _ := elemInfo(t)
	return c != classOther
}

func countFree(dims []int64) int {
	_, free := fixedProduct(dims)
	return free
}

// fixedProduct multiplies the fixed dims and counts the free ones.
func fixedProduct(dims []int64) (prod int64, free int) {
	prod = 1
	for _, d := range dims {
		if d < 0 {
			free++
		} else {
			prod *= d
		}
	}
	return prod, free
}

func colNames(cols []colRef) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}
