package bench

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow/float16"

	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/internal/kservepb"
)

// outputClient is a remoteClient that can decode its answers into output
// tensors, for output parity (--check-outputs).
type outputClient interface {
	// outputs reads the answer left in buf by call for req.
	outputs(req any, buf *callBuf) ([]Output, error)
}

// SupportsOutputs reports whether t can return its model's outputs: local
// ONNX models and the KServe v2 and TF Serving endpoints can; a plain HTTP
// endpoint cannot.
func SupportsOutputs(t Target) bool {
	if rt, ok := t.(*remoteTarget); ok {
		_, ok := rt.client.(outputClient)
		return ok
	}
	_, ok := t.(OutputTarget)
	return ok
}

// Outputs sends each batch once, untimed, and decodes its outputs.
func (t *remoteTarget) Outputs(ctx context.Context, batches []BlockBatch) ([]BatchOutputs, error) {
	oc, ok := t.client.(outputClient)
	if !ok {
		return nil, errkind.Input(fmt.Errorf("%s: a %s endpoint cannot return its outputs", t.info.Name, t.info.Kind))
	}
	out := make([]BatchOutputs, 0, len(batches))
	var buf callBuf
	for i, b := range batches {
		req, err := t.client.prepare(b)
		if err != nil {
			return nil, errkind.Input(err)
		}
		cctx, cancel := context.WithTimeout(ctx, t.timeout)
		err = t.client.call(cctx, req, &buf)
		cancel()
		if err == nil {
			kept := buf.resp // check may drop a decoded answer
			err = t.client.check(req, &buf)
			buf.resp = kept
		}
		var outs []Output
		if err == nil {
			outs, err = oc.outputs(req, &buf)
		}
		if err != nil {
			return nil, errkind.Run(fmt.Errorf("batch %d: %s", i, redactWith(t.secrets, err.Error())))
		}
		out = append(out, BatchOutputs{Rows: b.Rows, Outputs: outs})
	}
	return out, nil
}

// shapeElements is the number of elements a shape holds; a negative
// dimension or a product beyond int64 is an error.
func shapeElements(shape []int64) (int64, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has a negative dimension", shape)
		}
		if d != 0 && n > math.MaxInt64/d {
			return 0, fmt.Errorf("shape %v holds more elements than int64 counts", shape)
		}
		n *= d
	}
	return n, nil
}

// checkOutput checks that a decoded output holds as many elements as its
// shape says.
func checkOutput(o Output) error {
	n, err := shapeElements(o.Shape)
	if err != nil {
		return err
	}
	if n != int64(len(o.Data)) {
		return fmt.Errorf("shape %v holds %d elements, data has %d", o.Shape, n, len(o.Data))
	}
	return nil
}

// flattenJSONNumbers reads a JSON value (a number, a bool or nested arrays
// of them) into its elements, in row-major order, and the shape of its
// nesting. The nesting must be rectangular: every array at a depth as long
// as the first, every element at the same depth.
func flattenJSONNumbers(raw []byte) ([]float64, []int64, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, nil, err
	}
	var data []float64
	var shape []int64
	leaf := -1 // depth of the elements, once one is seen
	elem := func(f float64, depth int) error {
		if depth != len(shape) || (leaf >= 0 && depth != leaf) {
			return fmt.Errorf("ragged nesting: an element at depth %d", depth)
		}
		leaf = depth
		data = append(data, f)
		return nil
	}
	var walk func(v any, depth int) error
	walk = func(v any, depth int) error {
		switch x := v.(type) {
		case float64:
			return elem(x, depth)
		case bool:
			if x {
				return elem(1, depth)
			}
			return elem(0, depth)
		case []any:
			switch {
			case depth < len(shape):
				if int64(len(x)) != shape[depth] {
					return fmt.Errorf("ragged nesting: arrays of %d and %d at depth %d", shape[depth], len(x), depth)
				}
			case leaf >= 0:
				return fmt.Errorf("ragged nesting: an array at depth %d", depth)
			default:
				shape = append(shape, int64(len(x)))
			}
			for _, e := range x {
				if err := walk(e, depth+1); err != nil {
					return err
				}
			}
		case nil:
			return fmt.Errorf("null element")
		default:
			return fmt.Errorf("non-numeric element %T", v)
		}
		return nil
	}
	if err := walk(v, 0); err != nil {
		return nil, nil, err
	}
	if shape == nil {
		shape = []int64{}
	}
	return data, shape, nil
}

// outputs decodes a v2 REST answer: every output's data as float64.
func (c *kserveREST) outputs(_ any, buf *callBuf) ([]Output, error) {
	var resp struct {
		Outputs []v2Tensor `json:"outputs"`
	}
	if err := json.Unmarshal(buf.body, &resp); err != nil {
		return nil, protocolError("infer response is not v2 JSON: %v", err)
	}
	var outs []Output
	for _, o := range resp.Outputs {
		data, _, err := flattenJSONNumbers(o.Data)
		if err != nil {
			return nil, protocolError("output %s: %v", o.Name, err)
		}
		out := Output{Name: o.Name, Shape: append([]int64{}, o.Shape...), Data: data}
		if err := checkOutput(out); err != nil {
			return nil, protocolError("output %s: %v", o.Name, err)
		}
		outs = append(outs, out)
	}
	return outs, nil
}

// outputs decodes a v2 gRPC answer, from raw_output_contents when given,
// else from each output's typed contents.
func (c *kserveGRPC) outputs(_ any, buf *callBuf) ([]Output, error) {
	resp, ok := buf.resp.(*kservepb.ModelInferResponse)
	if !ok {
		return nil, protocolError("ModelInfer: no response kept")
	}
	buf.resp = nil
	raw := resp.GetRawOutputContents()
	var outs []Output
	for i, o := range resp.GetOutputs() {
		out := Output{Name: o.GetName(), Shape: append([]int64{}, o.GetShape()...)}
		var err error
		switch {
		case len(raw) == 0:
			out.Data, err = typedContents(o.GetDatatype(), o.GetContents())
		case i < len(raw):
			out.Data, err = decodeLE(o.GetDatatype(), raw[i])
		default:
			err = fmt.Errorf("no raw contents (%d for %d outputs)", len(raw), len(resp.GetOutputs()))
		}
		if err == nil {
			err = checkOutput(out)
		}
		if err != nil {
			return nil, protocolError("output %s: %v", o.GetName(), err)
		}
		outs = append(outs, out)
	}
	return outs, nil
}

// typedContents reads a gRPC output from its typed contents field.
func typedContents(dt string, c *kservepb.InferTensorContents) ([]float64, error) {
	if c == nil {
		return nil, fmt.Errorf("no contents")
	}
	var out []float64
	switch dt {
	case "BOOL":
		for _, v := range c.GetBoolContents() {
			if v {
				out = append(out, 1)
			} else {
				out = append(out, 0)
			}
		}
	case "INT8", "INT16", "INT32":
		for _, v := range c.GetIntContents() {
			out = append(out, float64(v))
		}
	case "INT64":
		for _, v := range c.GetInt64Contents() {
			out = append(out, float64(v))
		}
	case "UINT8", "UINT16", "UINT32":
		for _, v := range c.GetUintContents() {
			out = append(out, float64(v))
		}
	case "UINT64":
		for _, v := range c.GetUint64Contents() {
			out = append(out, float64(v))
		}
	case "FP16", "FP32":
		for _, v := range c.GetFp32Contents() {
			out = append(out, float64(v))
		}
	case "FP64":
		out = append(out, c.GetFp64Contents()...)
	default:
		return nil, fmt.Errorf("datatype %s cannot be compared", dt)
	}
	return out, nil
}

// decodeLE reads little-endian raw tensor contents of a v2 datatype.
func decodeLE(dt string, raw []byte) ([]float64, error) {
	size := v2Size(dt)
	if size == 0 {
		return nil, fmt.Errorf("datatype %s cannot be compared", dt)
	}
	if len(raw)%size != 0 {
		return nil, fmt.Errorf("%d bytes is not a whole number of %s elements", len(raw), dt)
	}
	n := len(raw) / size
	out := make([]float64, n)
	le := binary.LittleEndian
	for i := range n {
		b := raw[i*size:]
		var v float64
		switch dt {
		case "BOOL":
			if b[0] != 0 {
				v = 1
			}
		case "INT8":
			v = float64(int8(b[0]))
		case "UINT8":
			v = float64(b[0])
		case "INT16":
			v = float64(int16(le.Uint16(b)))
		case "UINT16":
			v = float64(le.Uint16(b))
		case "FP16":
			v = float64(float16.FromBits(le.Uint16(b)).Float32())
		case "BF16":
			v = float64(math.Float32frombits(uint32(le.Uint16(b)) << 16))
		case "INT32":
			v = float64(int32(le.Uint32(b)))
		case "UINT32":
			v = float64(le.Uint32(b))
		case "FP32":
			v = float64(math.Float32frombits(le.Uint32(b)))
		case "INT64":
			v = float64(int64(le.Uint64(b)))
		case "UINT64":
			v = float64(le.Uint64(b))
		case "FP64":
			v = math.Float64frombits(le.Uint64(b))
		}
		out[i] = v
	}
	return out, nil
}

// outputs decodes a TF Serving answer: "predictions" (a row per instance:
// an object of named outputs, or the one unnamed output's row) or
// "outputs" (an object of named outputs, or the one unnamed output).
func (c *tfServing) outputs(req any, buf *callBuf) ([]Output, error) {
	var resp struct {
		Predictions []json.RawMessage `json:"predictions"`
		Outputs     json.RawMessage   `json:"outputs"`
	}
	if err := json.Unmarshal(buf.body, &resp); err != nil {
		return nil, protocolError("predict response is not TF Serving JSON: %v", err)
	}
	if c.format == TFColumnar {
		var named map[string]json.RawMessage
		if err := json.Unmarshal(resp.Outputs, &named); err != nil {
			named = map[string]json.RawMessage{c.unnamedOutput(): resp.Outputs}
		}
		return tfNamedOutputs(named, c.outputNames)
	}
	rows := req.(*tfRequest).rows
	// Named rows: one object per instance.
	perName := map[string][][]byte{}
	named := len(resp.Predictions) > 0
	for _, p := range resp.Predictions {
		var m map[string]json.RawMessage
		if json.Unmarshal(p, &m) != nil {
			named = false
			break
		}
		for k, v := range m {
			perName[k] = append(perName[k], v)
		}
	}
	if !named {
		name := c.unnamedOutput()
		perName = map[string][][]byte{name: nil}
		for _, p := range resp.Predictions {
			perName[name] = append(perName[name], p)
		}
	}
	joined := map[string]json.RawMessage{}
	for k, vs := range perName {
		if len(vs) != rows {
			return nil, protocolError("output %s: %d of %d rows", k, len(vs), rows)
		}
		b := []byte{'['}
		for i, v := range vs {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, v...)
		}
		joined[k] = append(b, ']')
	}
	return tfNamedOutputs(joined, c.outputNames)
}

// tfNamedOutputs decodes named outputs in the signature's order (sorted
// names), then any the signature does not list, sorted.
func tfNamedOutputs(named map[string]json.RawMessage, order []string) ([]Output, error) {
	var names []string
	seen := map[string]bool{}
	for _, n := range order {
		if _, ok := named[n]; ok {
			names = append(names, n)
			seen[n] = true
		}
	}
	var rest []string
	for n := range named {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	slices.Sort(rest)
	names = append(names, rest...)
	var outs []Output
	for _, n := range names {
		data, shape, err := flattenJSONNumbers(named[n])
		if err != nil {
			return nil, protocolError("output %s: %v", n, err)
		}
		out := Output{Name: n, Shape: shape, Data: data}
		if err := checkOutput(out); err != nil {
			return nil, protocolError("output %s: %v", n, err)
		}
		outs = append(outs, out)
	}
	if len(outs) == 0 {
		return nil, protocolError("predict response has no outputs")
	}
	return outs, nil
}

// unnamedOutput names an answer that does not name its outputs: the
// signature's only output, or "output".
func (c *tfServing) unnamedOutput() string {
	if len(c.outputNames) == 1 {
		return c.outputNames[0]
	}
	return "output"
}
