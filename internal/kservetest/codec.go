package kservetest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow/float16"
)

// flattenJSON reads a JSON value of numbers and booleans, a scalar or
// arrays nested to any depth, into its values and its shape. Ragged
// arrays are an error. It is hand-written because the server decodes every
// request, and encoding/json's any-typed decode would dominate its cost.
func flattenJSON(b []byte) ([]float64, []int64, error) {
	p := &jsonScanner{b: b, leaf: -1}
	var shape []int64
	vals := make([]float64, 0, 64)
	p.skipSpace()
	if err := p.value(0, &shape, &vals); err != nil {
		return nil, nil, err
	}
	p.skipSpace()
	if p.i != len(p.b) {
		return nil, nil, fmt.Errorf("trailing data at offset %d", p.i)
	}
	return vals, shape, nil
}

type jsonScanner struct {
	b []byte
	i int
	// leaf is the depth at which scalars were found, once they were.
	leaf int
}

func (p *jsonScanner) skipSpace() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// value reads one value at the given depth; shape[depth] is fixed by the
// first array seen at that depth.
func (p *jsonScanner) value(depth int, shape *[]int64, vals *[]float64) error {
	if p.i >= len(p.b) {
		return errors.New("unexpected end of JSON")
	}
	if p.b[p.i] != '[' {
		if depth != len(*shape) || (p.leaf >= 0 && p.leaf != depth) {
			return errors.New("ragged array")
		}
		p.leaf = depth
		v, err := p.scalar()
		if err != nil {
			return err
		}
		*vals = append(*vals, v)
		return nil
	}
	if p.leaf >= 0 && depth >= p.leaf {
		return errors.New("ragged array")
	}
	p.i++
	var n int64
	first := depth == len(*shape)
	if first {
		*shape = append(*shape, -1)
	}
	p.skipSpace()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
	} else {
		for {
			p.skipSpace()
			if err := p.value(depth+1, shape, vals); err != nil {
				return err
			}
			n++
			p.skipSpace()
			if p.i >= len(p.b) {
				return errors.New("unexpected end of JSON")
			}
			if p.b[p.i] == ',' {
				p.i++
				continue
			}
			if p.b[p.i] == ']' {
				p.i++
				break
			}
			return fmt.Errorf("unexpected %q at offset %d", p.b[p.i], p.i)
		}
	}
	if (*shape)[depth] == -1 {
		(*shape)[depth] = n
	} else if (*shape)[depth] != n {
		return errors.New("ragged array")
	}
	return nil
}

func (p *jsonScanner) scalar() (float64, error) {
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == ',' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
		p.i++
	}
	tok := string(p.b[start:p.i])
	switch tok {
	case "true":
		return 1, nil
	case "false":
		return 0, nil
	case "":
		return 0, errors.New("missing value")
	}
	v, err := strconv.ParseFloat(tok, 64)
	if err != nil {
		return 0, fmt.Errorf("value %q is not a number", tok)
	}
	return v, nil
}

// appendJSONValues writes values as a flat JSON array, integers without a
// fraction and BOOL as true/false.
func appendJSONValues(b []byte, datatype string, vals []float64) []byte {
	b = append(b, '[')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONValue(b, datatype, v)
	}
	return append(b, ']')
}

func appendJSONValue(b []byte, datatype string, v float64) []byte {
	switch datatype {
	case "BOOL":
		return strconv.AppendBool(b, v != 0)
	case "FP32", "FP16":
		return strconv.AppendFloat(b, v, 'g', -1, 32)
	case "FP64":
		return strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	return strconv.AppendInt(b, int64(v), 10)
}

// v2Size is a datatype's element size in raw contents.
func v2Size(dt string) int {
	switch dt {
	case "BOOL", "INT8", "UINT8":
		return 1
	case "FP16", "INT16", "UINT16":
		return 2
	case "FP32", "INT32", "UINT32":
		return 4
	case "FP64", "INT64", "UINT64":
		return 8
	}
	return 0
}

// decodeRaw reads little-endian raw contents of a datatype.
func decodeRaw(dt string, raw []byte) ([]float64, error) {
	size := v2Size(dt)
	if size == 0 {
		return nil, fmt.Errorf("datatype %s has no raw form here", dt)
	}
	if len(raw)%size != 0 {
		return nil, fmt.Errorf("%d raw bytes are not a whole number of %s values", len(raw), dt)
	}
	out := make([]float64, len(raw)/size)
	for i := range out {
		e := raw[i*size : (i+1)*size]
		switch dt {
		case "BOOL", "UINT8":
			out[i] = float64(e[0])
		case "INT8":
			out[i] = float64(int8(e[0]))
		case "FP16":
			out[i] = float64(float16.FromLEBytes(e).Float32())
		case "INT16":
			out[i] = float64(int16(binary.LittleEndian.Uint16(e)))
		case "UINT16":
			out[i] = float64(binary.LittleEndian.Uint16(e))
		case "FP32":
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(e)))
		case "INT32":
			out[i] = float64(int32(binary.LittleEndian.Uint32(e)))
		case "UINT32":
			out[i] = float64(binary.LittleEndian.Uint32(e))
		case "FP64":
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(e))
		case "INT64":
			out[i] = float64(int64(binary.LittleEndian.Uint64(e)))
		case "UINT64":
			out[i] = float64(binary.LittleEndian.Uint64(e))
		}
	}
	return out, nil
}

// encodeRaw writes values as little-endian raw contents of a datatype.
func encodeRaw(dt string, vals []float64) []byte {
	size := v2Size(dt)
	out := make([]byte, len(vals)*size)
	for i, v := range vals {
		e := out[i*size : (i+1)*size]
		switch dt {
		case "BOOL", "UINT8", "INT8":
			e[0] = byte(int64(v))
			if dt == "BOOL" && v != 0 {
				e[0] = 1
			}
		case "FP16":
			float16.New(float32(v)).PutLEBytes(e)
		case "INT16", "UINT16":
			binary.LittleEndian.PutUint16(e, uint16(int64(v)))
		case "FP32":
			binary.LittleEndian.PutUint32(e, math.Float32bits(float32(v)))
		case "INT32", "UINT32":
			binary.LittleEndian.PutUint32(e, uint32(int64(v)))
		case "FP64":
			binary.LittleEndian.PutUint64(e, math.Float64bits(v))
		case "INT64", "UINT64":
			binary.LittleEndian.PutUint64(e, uint64(int64(v)))
		}
	}
	return out
}
