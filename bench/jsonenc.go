package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow/float16"

	"github.com/infergate/infergate/loader"
)

// The JSON protocols get tensors as numbers written here, once per batch
// before timing: strconv's shortest round-trip forms, which encoding/json
// would also write, without going through interfaces element by element.

// elemWriter appends element i of a tensor as a JSON value.
type elemWriter func(buf []byte, i int) ([]byte, error)

func jsonElems(t loader.Tensor) (elemWriter, int, error) {
	switch d := t.Data.(type) {
	case []float32:
		return func(b []byte, i int) ([]byte, error) { return appendFloat(b, float64(d[i]), 32, t.Name) }, len(d), nil
	case []float64:
		return func(b []byte, i int) ([]byte, error) { return appendFloat(b, d[i], 64, t.Name) }, len(d), nil
	case []uint16: // float16 bits: JSON has no half type, so send the value
		return func(b []byte, i int) ([]byte, error) {
			return appendFloat(b, float64(float16.FromBits(d[i]).Float32()), 32, t.Name)
		}, len(d), nil
	case []int64:
		return func(b []byte, i int) ([]byte, error) { return strconv.AppendInt(b, d[i], 10), nil }, len(d), nil
	case []int32:
		return func(b []byte, i int) ([]byte, error) { return strconv.AppendInt(b, int64(d[i]), 10), nil }, len(d), nil
	case []int8:
		return func(b []byte, i int) ([]byte, error) { return strconv.AppendInt(b, int64(d[i]), 10), nil }, len(d), nil
	case []uint8:
		return func(b []byte, i int) ([]byte, error) { return strconv.AppendUint(b, uint64(d[i]), 10), nil }, len(d), nil
	case []bool:
		return func(b []byte, i int) ([]byte, error) { return strconv.AppendBool(b, d[i]), nil }, len(d), nil
	}
	return nil, 0, fmt.Errorf("input %s: unsupported tensor data %T", t.Name, t.Data)
}

func appendFloat(b []byte, f float64, bits int, name string) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, fmt.Errorf("input %s holds %v, which JSON cannot carry", name, f)
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits), nil
}

// appendFlatJSON appends the tensor's elements as one flat array.
func appendFlatJSON(b []byte, t loader.Tensor) ([]byte, error) {
	w, n, err := jsonElems(t)
	if err != nil {
		return b, err
	}
	return appendRange(b, w, 0, n)
}

func appendRange(b []byte, w elemWriter, from, to int) ([]byte, error) {
	b = append(b, '[')
	var err error
	for i := from; i < to; i++ {
		if i > from {
			b = append(b, ',')
		}
		if b, err = w(b, i); err != nil {
			return b, err
		}
	}
	return append(b, ']'), nil
}

// appendNestedJSON appends elements [off, off+prod(shape)) as arrays nested
// by shape; an empty shape is a scalar.
func appendNestedJSON(b []byte, w elemWriter, shape []int64, off int) ([]byte, error) {
	if len(shape) == 0 {
		return w(b, off)
	}
	if len(shape) == 1 {
		return appendRange(b, w, off, off+int(shape[0]))
	}
	inner := 1
	for _, d := range shape[1:] {
		inner *= int(d)
	}
	b = append(b, '[')
	var err error
	for i := range int(shape[0]) {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = appendNestedJSON(b, w, shape[1:], off+i*inner); err != nil {
			return b, err
		}
	}
	return append(b, ']'), nil
}

func checkTensor(t loader.Tensor) error {
	_, n, err := jsonElems(t)
	if err != nil {
		return err
	}
	if int64(n) != t.Elements() {
		return fmt.Errorf("input %s: shape %v holds %d elements, data has %d", t.Name, t.Shape, t.Elements(), n)
	}
	return nil
}

// v2Datatypes are the Open Inference Protocol's names of the element types
// infergate feeds.
var v2Datatypes = map[loader.DType]string{
	loader.Float32: "FP32",
	loader.Float64: "FP64",
	loader.Float16: "FP16",
	loader.Int64:   "INT64",
	loader.Int32:   "INT32",
	loader.Int8:    "INT8",
	loader.Uint8:   "UINT8",
	loader.Bool:    "BOOL",
}

func fromV2Datatype(s string) (loader.DType, bool) {
	for d, n := range v2Datatypes {
		if n == s {
			return d, true
		}
	}
	return loader.DTypeUnknown, false
}

// v2InputSpec turns a tensor's metadata into the spec the loader binds to.
func v2InputSpec(name, datatype string, shape []int64) (loader.InputSpec, error) {
	dt, ok := fromV2Datatype(datatype)
	if !ok {
		return loader.InputSpec{}, fmt.Errorf("input %s has datatype %s, which infergate cannot feed (want one of FP32, FP64, FP16, INT64, INT32, INT8, UINT8, BOOL)", name, datatype)
	}
	s := make([]int64, len(shape))
	for i, d := range shape {
		s[i] = max(d, -1)
	}
	return loader.InputSpec{Name: name, DType: dt, Shape: s}, nil
}

// leBytes is the tensor's elements as little-endian bytes, the layout of
// the v2 protocol's raw contents: a view of the data where the machine is
// little-endian, a copy otherwise.
func leBytes(t loader.Tensor) ([]byte, error) {
	raw, err := tensorBytes(t)
	if err != nil || t.DType.ElemSize() <= 1 || binary.NativeEndian.Uint16([]byte{1, 0}) == 1 {
		return raw, err
	}
	out := make([]byte, len(raw))
	size := t.DType.ElemSize()
	for i := 0; i < len(raw); i += size {
		for j := range size {
			out[i+j] = raw[i+size-1-j]
		}
	}
	return out, nil
}

// countJSONValues counts the scalar values in a JSON array, flat or nested,
// without decoding it: enough to check an output against its shape.
func countJSONValues(b []byte) (int64, error) {
	var n int64
	depth := 0
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case ' ', '\t', '\n', '\r', ',', ':':
		case '[':
			depth++
		case ']':
			depth--
			if depth < 0 {
				return 0, fmt.Errorf("unbalanced ]")
			}
		case '"':
			i++
			for i < len(b) && b[i] != '"' {
				if b[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(b) {
				return 0, fmt.Errorf("unterminated string")
			}
			n++
		case '{':
			return 0, fmt.Errorf("an object where a tensor's values should be")
		default:
			for i+1 < len(b) && !isJSONDelim(b[i+1]) {
				i++
			}
			n++
		}
	}
	if depth != 0 {
		return 0, fmt.Errorf("unbalanced [")
	}
	return n, nil
}

func isJSONDelim(c byte) bool {
	switch c {
	case ',', ']', ' ', '\t', '\n', '\r', '[':
		return true
	}
	return false
}

// jsonReader walks a JSON document without building it: enough to check
// an answer's structure on the hot path, where encoding/json's reflection
// costs as much as the HTTP exchange itself.
type jsonReader struct {
	b []byte
	i int
	// depth is the nesting of the object or array being read; deeper
	// than maxJSONDepth is an error, not a stack overflow.
	depth int
}

// maxJSONDepth is encoding/json's nesting limit too.
const maxJSONDepth = 10000

// enter counts one more level of nesting; the caller undoes it.
func (r *jsonReader) enter() error {
	r.depth++
	if r.depth > maxJSONDepth {
		return fmt.Errorf("%w: nested deeper than %d at offset %d", errJSON, maxJSONDepth, r.i)
	}
	return nil
}

var errJSON = errors.New("malformed JSON")

func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, 0 at the end.
func (r *jsonReader) peek() byte {
	r.ws()
	if r.i >= len(r.b) {
		return 0
	}
	return r.b[r.i]
}

func (r *jsonReader) expect(c byte) error {
	if r.peek() != c {
		return fmt.Errorf("%w: want %q at offset %d", errJSON, c, r.i)
	}
	r.i++
	return nil
}

// str reads a string and returns its raw bytes (escapes left as they are).
func (r *jsonReader) str() ([]byte, error) {
	if err := r.expect('"'); err != nil {
		return nil, err
	}
	start := r.i
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case '\\':
			r.i += 2
			continue
		case '"':
			r.i++
			return r.b[start : r.i-1], nil
		}
		r.i++
	}
	return nil, fmt.Errorf("%w: unterminated string", errJSON)
}

// skip passes over one value of any kind.
func (r *jsonReader) skip() error {
	switch r.peek() {
	case '"':
		_, err := r.str()
		return err
	case '{':
		return r.object(func(string) error { return r.skip() })
	case '[':
		return r.array(func() error { return r.skip() })
	case 0:
		return fmt.Errorf("%w: unexpected end", errJSON)
	}
	start := r.i
	for r.i < len(r.b) && !isJSONDelim(r.b[r.i]) && r.b[r.i] != '}' {
		r.i++
	}
	if r.i == start {
		return fmt.Errorf("%w: unexpected %q at offset %d", errJSON, r.b[r.i], r.i)
	}
	return nil
}

// object calls field for each key, positioned at its value, which field
// must consume.
func (r *jsonReader) object(field func(key string) error) error {
	if err := r.expect('{'); err != nil {
		return err
	}
	defer func() { r.depth-- }()
	if err := r.enter(); err != nil {
		return err
	}
	if r.peek() == '}' {
		r.i++
		return nil
	}
	for {
		key, err := r.str()
		if err != nil {
			return err
		}
		if err := r.expect(':'); err != nil {
			return err
		}
		if err := field(string(key)); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			return nil
		default:
			return fmt.Errorf("%w: want , or } at offset %d", errJSON, r.i)
		}
	}
}

// array calls elem for each element, which it must consume.
func (r *jsonReader) array(elem func() error) error {
	if err := r.expect('['); err != nil {
		return err
	}
	defer func() { r.depth-- }()
	if err := r.enter(); err != nil {
		return err
	}
	if r.peek() == ']' {
		r.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			return nil
		default:
			return fmt.Errorf("%w: want , or ] at offset %d", errJSON, r.i)
		}
	}
}

// raw consumes one value and returns its bytes.
func (r *jsonReader) raw() ([]byte, error) {
	r.ws()
	start := r.i
	if err := r.skip(); err != nil {
		return nil, err
	}
	return r.b[start:r.i], nil
}

// end checks that nothing but space follows.
func (r *jsonReader) end() error {
	if r.peek() != 0 {
		return fmt.Errorf("%w: trailing data at offset %d", errJSON, r.i)
	}
	return nil
}
