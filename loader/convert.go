package loader

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/infergate/infergate/internal/errkind"
)

// Conversion policy. A value may change type on its way into a tensor only
// when it keeps its value, with one deliberate exception: any float may
// become any other float, rounded to nearest (float64 data fed to float32
// models is what every ML stack does). Float to integer is refused by type,
// when the binding is made. Integer to integer, and integer to float, are
// checked by value as each batch is built: a value the input's type cannot
// hold (300 into uint8, 2^24+1 into float32) stops the run with the
// column, row and value, so an int64 column of small ids can feed an int32
// input while one huge id cannot slip through rounded.

type elemClass int

const (
	classOther elemClass = iota
	classFloat
	classSigned
	classUnsigned
	classBool
)

// elemInfo classifies an arrow element type; bits is the integer width.
func elemInfo(t arrow.DataType) (elemClass, int) {
	switch t.ID() {
	case arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64:
		return classFloat, 0
	case arrow.INT8:
		return classSigned, 8
	case arrow.INT16:
		return classSigned, 16
	case arrow.INT32:
		return classSigned, 32
	case arrow.INT64:
		return classSigned, 64
	case arrow.UINT8:
		return classUnsigned, 8
	case arrow.UINT16:
		return classUnsigned, 16
	case arrow.UINT32:
		return classUnsigned, 32
	case arrow.UINT64:
		return classUnsigned, 64
	case arrow.BOOL:
		return classBool, 0
	}
	return classOther, 0
}

// dtypeInfo classifies a tensor element type the same way.
func dtypeInfo(d DType) (elemClass, int) {
	switch d {
	case Float32, Float64, Float16:
		return classFloat, 0
	case Int64:
		return classSigned, 64
	case Int32:
		return classSigned, 32
	case Int8:
		return classSigned, 8
	case Uint8:
		return classUnsigned, 8
	case Bool:
		return classBool, 0
	}
	return classOther, 0
}

// intRange is the closed range of values an integer type holds.
func intRange(c elemClass, bits int) (lo int64, hi uint64) {
	if c == classUnsigned {
		return 0, math.MaxUint64 >> (64 - bits)
	}
	return math.MinInt64 >> (64 - bits), math.MaxInt64 >> (64 - bits)
}

// Beyond these magnitudes not every integer has a float of its own (the
// significand's bits plus the implicit one): 2^11+1 has no float16.
const (
	exactHalf    = 1 << 11
	exactFloat32 = 1 << 24
	exactFloat64 = 1 << 53
)

// valueLimits is the closed range of integers a tensor of type d holds
// unchanged: an integer type's range, or for a float type the integers up
// to the magnitude where they start to round.
func valueLimits(d DType) (lo int64, hi uint64) {
	switch d {
	case Float16:
		return -exactHalf, exactHalf
	case Float32:
		return -exactFloat32, exactFloat32
	case Float64:
		return -exactFloat64, exactFloat64
	}
	return intRange(dtypeInfo(d))
}

// checkConvert reports whether column values of type src can fill a tensor
// of type dst: the pairs refused whatever the values (float to integer,
// anything but bool to bool). Integer values are checked later, per batch,
// by copyValues. The error names the column and the input.
func checkConvert(column string, src arrow.DataType, input string, dst DType) error {
	sc, _ := elemInfo(src)
	dc, _ := dtypeInfo(dst)
	if sc == classOther {
		return fmt.Errorf("column %s has type %s; model input %s needs numeric or bool values", column, src, input)
	}
	if dc == classOther {
		return fmt.Errorf("model input %s has unsupported element type %s", input, dst)
	}
	ok := false
	switch {
	case dc == classFloat:
		ok = true // float->float rounds; int->float checked by value; bool->0/1
	case sc == classBool:
		ok = true // bool->bool, bool->0/1
	case dc == classBool:
		ok = false // only bool columns may feed bool inputs
	case sc == classFloat:
		ok = false
	default:
		ok = true // integer to integer: checked by value
	}
	if !ok {
		return fmt.Errorf("column %s: %s does not fit model input %s %s; values would change", column, src, input, dst)
	}
	return nil
}

// valueError is the error for element i of arr, in dataset row row of
// column, which input in cannot hold unchanged (copyValues found it).
func valueError(column string, row int64, arr arrow.Array, i int, in InputSpec) error {
	lo, hi := valueLimits(in.DType)
	why := fmt.Sprintf("holds %d to %d", lo, hi)
	if c, _ := dtypeInfo(in.DType); c == classFloat {
		why = fmt.Sprintf("holds integers exactly only up to ±%d", hi)
	}
	return errkind.Input(fmt.Errorf("column %s row %d: %s does not fit model input %s %s (which %s); values would change",
		column, row, arr.ValueStr(i), in.Name, in.DType, why))
}

// scalarFor converts a fill or pad value to dst, refusing values that would
// change (0.5 into an int input, 300 into uint8, 2 into bool).
func scalarFor(v float64, dst DType) (float64, error) {
	switch dst {
	case Float32, Float64, Float16:
		return v, nil
	case Bool:
		if v != 0 && v != 1 {
			return 0, fmt.Errorf("%v is not 0 or 1", v)
		}
		return v, nil
	}
	c, bits := dtypeInfo(dst)
	if c == classOther {
		return 0, fmt.Errorf("unsupported element type %s", dst)
	}
	lo, hi := intRange(c, bits)
	if v != math.Trunc(v) || v < float64(lo) || v > float64(hi) {
		return 0, fmt.Errorf("%v does not fit %s", v, dst)
	}
	return v, nil
}

// newData allocates a zeroed tensor data slice of n elements.
func newData(dt DType, n int) any {
	switch dt {
	case Float32:
		return make([]float32, n)
	case Float64:
		return make([]float64, n)
	case Float16:
		return make([]uint16, n)
	case Int64:
		return make([]int64, n)
	case Int32:
		return make([]int32, n)
	case Int8:
		return make([]int8, n)
	case Uint8:
		return make([]uint8, n)
	case Bool:
		return make([]bool, n)
	case String:
		return make([]string, n)
	}
	panic(fmt.Sprintf("loader: unsupported dtype %v", dt))
}

// fillRange sets data[from:to] to v, which scalarFor has already checked.
func fillRange(data any, from, to int, v float64) {
	if v == 0 {
		return // newData zeroes
	}
	switch d := data.(type) {
	case []float32:
		setAll(d[from:to], float32(v))
	case []float64:
		setAll(d[from:to], v)
	case []uint16:
		setAll(d[from:to], float64ToHalf(v))
	case []int64:
		setAll(d[from:to], int64(v))
	case []int32:
		setAll(d[from:to], int32(v))
	case []int8:
		setAll(d[from:to], int8(v))
	case []uint8:
		setAll(d[from:to], uint8(v))
	case []bool:
		setAll(d[from:to], v != 0)
	}
}

// setAt sets data[i] to v, which scalarFor has already checked; unlike
// fillRange it writes a zero too, over whatever a null's slot held.
func setAt(data any, i int, v float64) {
	switch d := data.(type) {
	case []float32:
		d[i] = float32(v)
	case []float64:
		d[i] = v
	case []uint16:
		d[i] = float64ToHalf(v)
	case []int64:
		d[i] = int64(v)
	case []int32:
		d[i] = int32(v)
	case []int8:
		d[i] = int8(v)
	case []uint8:
		d[i] = uint8(v)
	case []bool:
		d[i] = v != 0
	case []string:
		d[i] = ""
	}
}

func setAll[T any](s []T, v T) {
	for i := range s {
		s[i] = v
	}
}

// filled returns a new data slice of n elements all equal to v.
func filled(dt DType, n int, v float64) any {
	d := newData(dt, n)
	fillRange(d, 0, n, v)
	return d
}

type dstNumber interface {
	~float32 | ~float64 | ~int64 | ~int32 | ~int8 | ~uint8
}

type srcInteger interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

type srcNumber interface {
	~float32 | ~float64 | srcInteger
}

// copyValues copies n values of src starting at srcOff into dst (a tensor
// data slice) at dstOff, dstOff+stride, ... checkConvert must have accepted
// the pair of types. It returns the index (0 to n-1) of the first integer
// value dst cannot hold unchanged, having copied the values before it, or
// -1. Null slots are not data: they are never refused, and the caller
// overwrites them.
func copyValues(dst any, dstOff, stride int, src arrow.Array, srcOff, n int) int {
	if n == 0 {
		return -1
	}
	switch d := dst.(type) {
	case []float32:
		return copyNum(d, dstOff, stride, src, srcOff, n, Float32)
	case []float64:
		return copyNum(d, dstOff, stride, src, srcOff, n, Float64)
	case []int64:
		return copyNum(d, dstOff, stride, src, srcOff, n, Int64)
	case []int32:
		return copyNum(d, dstOff, stride, src, srcOff, n, Int32)
	case []int8:
		return copyNum(d, dstOff, stride, src, srcOff, n, Int8)
	case []uint8:
		return copyNum(d, dstOff, stride, src, srcOff, n, Uint8)
	case []uint16:
		return copyHalf(d, dstOff, stride, src, srcOff, n)
	case []bool:
		b := src.(*array.Boolean)
		for i := 0; i < n; i++ {
			d[dstOff+i*stride] = b.Value(srcOff + i)
		}
		return -1
	default:
		panic(fmt.Sprintf("loader: unsupported tensor data %T", dst))
	}
}

// copyNum copies like copyValues, holding integer sources to the values
// that the tensor type limits (valueLimits) holds unchanged.
func copyNum[D dstNumber](dst []D, off, stride int, src arrow.Array, so, n int, limits DType) int {
	switch s := src.(type) {
	case *array.Float32:
		convert(dst, off, stride, s.Float32Values()[so:so+n])
	case *array.Float64:
		convert(dst, off, stride, s.Float64Values()[so:so+n])
	case *array.Int8:
		return convertChecked(dst, off, stride, s.Int8Values()[so:so+n], s, so, limits)
	case *array.Int16:
		return convertChecked(dst, off, stride, s.Int16Values()[so:so+n], s, so, limits)
	case *array.Int32:
		return convertChecked(dst, off, stride, s.Int32Values()[so:so+n], s, so, limits)
	case *array.Int64:
		return convertChecked(dst, off, stride, s.Int64Values()[so:so+n], s, so, limits)
	case *array.Uint8:
		return convertChecked(dst, off, stride, s.Uint8Values()[so:so+n], s, so, limits)
	case *array.Uint16:
		return convertChecked(dst, off, stride, s.Uint16Values()[so:so+n], s, so, limits)
	case *array.Uint32:
		return convertChecked(dst, off, stride, s.Uint32Values()[so:so+n], s, so, limits)
	case *array.Uint64:
		return convertChecked(dst, off, stride, s.Uint64Values()[so:so+n], s, so, limits)
	case *array.Float16:
		for i, v := range s.Values()[so : so+n] {
			dst[off+i*stride] = D(halfToFloat32(v.Uint16()))
		}
	case *array.Boolean:
		for i := 0; i < n; i++ {
			if s.Value(so + i) {
				dst[off+i*stride] = 1
			} else {
				dst[off+i*stride] = 0
			}
		}
	default:
		panic(fmt.Sprintf("loader: unsupported column array %T", src))
	}
	return -1
}

func convert[D dstNumber, S srcNumber](dst []D, off, stride int, src []S) {
	if stride == 1 {
		d := dst[off : off+len(src)]
		for i, v := range src {
			d[i] = D(v)
		}
		return
	}
	for i, v := range src {
		dst[off+i*stride] = D(v)
	}
}

// convertChecked is convert for integer values (src, starting at element
// so of arr), stopping at the first that limits cannot hold unchanged and
// is not a null slot; it returns that value's index, or -1. A source type
// whose whole range fits takes convert's unchecked loop.
func convertChecked[D dstNumber, S srcInteger](dst []D, off, stride int, src []S, arr arrow.Array, so int, limits DType) int {
	lo, hi := valueLimits(limits)
	slo, shi := intRange(elemInfo(arr.DataType()))
	if slo >= lo && shi <= hi {
		convert(dst, off, stride, src)
		return -1
	}
	for i, v := range src {
		// v < 0 is never true of an unsigned S, and uint64(v) is exact
		// for every v >= 0.
		if (v < 0 && int64(v) < lo) || (v >= 0 && uint64(v) > hi) {
			if !arr.IsNull(so + i) {
				return i
			}
			continue // a null's slot: the caller fills it
		}
		dst[off+i*stride] = D(v)
	}
	return -1
}

func copyHalf(dst []uint16, off, stride int, src arrow.Array, so, n int) int {
	put := func(i int, h uint16) { dst[off+i*stride] = h }
	switch s := src.(type) {
	case *array.Float16:
		for i, v := range s.Values()[so : so+n] {
			put(i, v.Uint16())
		}
	case *array.Boolean:
		for i := 0; i < n; i++ {
			if s.Value(so + i) {
				put(i, 0x3c00)
			} else {
				put(i, 0)
			}
		}
	default:
		// Through float64, which holds every float source exactly and
		// every integer that half's limits let through: one rounding.
		tmp := make([]float64, n)
		bad := copyNum(tmp, 0, 1, src, so, n, Float16)
		if bad >= 0 {
			n = bad
		}
		for i, v := range tmp[:n] {
			put(i, float64ToHalf(v))
		}
		return bad
	}
	return -1
}

// float64ToHalf converts to IEEE 754 binary16 bits with round-to-nearest-
// even, producing subnormals, ±Inf on overflow and a quiet NaN for NaN.
// arrow's float16.New truncates and flushes subnormals to zero, which
// would change values a half-precision model could represent exactly.
func float64ToHalf(f float64) uint16 {
	b := math.Float64bits(f)
	sign := uint16(b>>48) & 0x8000
	exp := int(b>>52) & 0x7ff
	mant := b & (1<<52 - 1)
	if exp == 0x7ff {
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 1023 + 15 // half's biased exponent
	if e >= 31 {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Subnormal half: value = m * 2^-24.
		if exp == 0 {
			return sign // float64 subnormals are far below half's range
		}
		m := mant | 1<<52
		shift := uint(1051 - exp)
		if shift > 53 {
			return sign
		}
		return sign | uint16(roundShift(m, shift))
	}
	// The carry of a round-up may ripple into the exponent, which is
	// exactly right, up to and including overflow to Inf (0x7c00).
	return sign + uint16(e)<<10 + uint16(roundShift(mant, 42))
}

// roundShift returns m >> shift rounded to nearest, ties to even.
func roundShift(m uint64, shift uint) uint64 {
	q := m >> shift
	rem := m & (1<<shift - 1)
	half := uint64(1) << (shift - 1)
	if rem > half || (rem == half && q&1 == 1) {
		q++
	}
	return q
}

// halfToFloat32 decodes binary16 bits exactly, subnormals included (arrow's
// float16.Num.Float32 mis-decodes subnormals).
func halfToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		v := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}
