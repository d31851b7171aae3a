// Package ortrun runs a model once in the real ONNX Runtime with inputs
// given as float64 values of any supported element type. It exists for
// tests that check generated models numerically.
package ortrun

import (
	"encoding/binary"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/float16"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/infergate/infergate/internal/onnxgen"
)

// Input is one model input: Values (row-major, len = product of Shape, 1
// for a 0-d scalar) are converted to DType.
type Input struct {
	Name   string
	DType  onnxgen.DType
	Shape  []int64
	Values []float64
}

// Run loads the model (from bytes) with one intra-op thread, feeds inputs,
// and returns every float32 output named in outputs, flattened, with its
// shape.
func Run(model []byte, inputs []Input, outputs []string) ([][]float32, [][]int64, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, nil, err
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(1); err != nil {
		return nil, nil, err
	}
	names := make([]string, len(inputs))
	for i, in := range inputs {
		names[i] = in.Name
	}
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(model, names, outputs, opts)
	if err != nil {
		return nil, nil, err
	}
	defer sess.Destroy()
	vals := make([]ort.Value, len(inputs))
	defer func() {
		for _, v := range vals {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	for i, in := range inputs {
		if vals[i], err = NewValue(in); err != nil {
			return nil, nil, fmt.Errorf("input %s: %w", in.Name, err)
		}
	}
	outs := make([]ort.Value, len(outputs))
	if err := sess.Run(vals, outs); err != nil {
		return nil, nil, err
	}
	data := make([][]float32, len(outs))
	shapes := make([][]int64, len(outs))
	for i, o := range outs {
		defer o.Destroy()
		t, ok := o.(*ort.Tensor[float32])
		if !ok {
			return nil, nil, fmt.Errorf("output %s is %T, want float32 tensor", outputs[i], o)
		}
		data[i] = append([]float32(nil), t.GetData()...)
		shapes[i] = append([]int64{}, t.GetShape()...)
	}
	return data, shapes, nil
}

// NewValue converts an Input to an onnxruntime_go value. The caller
// destroys it.
func NewValue(in Input) (ort.Value, error) {
	if len(in.Shape) == 0 {
		if len(in.Values) != 1 {
			return nil, fmt.Errorf("%d values for a 0-d scalar", len(in.Values))
		}
		return newScalar(in)
	}
	shape := ort.NewShape(in.Shape...)
	if int64(len(in.Values)) != shape.FlattenedSize() {
		return nil, fmt.Errorf("%d values for shape %v", len(in.Values), in.Shape)
	}
	switch in.DType {
	case onnxgen.Float:
		return ort.NewTensor(shape, conv[float32](in.Values))
	case onnxgen.Double:
		return ort.NewTensor(shape, in.Values)
	case onnxgen.Int64:
		return ort.NewTensor(shape, conv[int64](in.Values))
	case onnxgen.Int32:
		return ort.NewTensor(shape, conv[int32](in.Values))
	case onnxgen.Int8:
		return ort.NewTensor(shape, conv[int8](in.Values))
	case onnxgen.Uint8:
		return ort.NewTensor(shape, conv[uint8](in.Values))
	case onnxgen.Bool:
		b := make([]bool, len(in.Values))
		for i, v := range in.Values {
			b[i] = v != 0
		}
		return ort.NewTensor(shape, b)
	case onnxgen.Float16:
		raw := make([]byte, 2*len(in.Values))
		for i, v := range in.Values {
			binary.LittleEndian.PutUint16(raw[2*i:], float16.New(float32(v)).Uint16())
		}
		return ort.NewCustomDataTensor(shape, raw, ort.TensorElementDataTypeFloat16)
	}
	return nil, fmt.Errorf("unsupported dtype %v", in.DType)
}

func newScalar(in Input) (ort.Value, error) {
	v := in.Values[0]
	switch in.DType {
	case onnxgen.Float:
		return ort.NewScalar(float32(v))
	case onnxgen.Double:
		return ort.NewScalar(v)
	case onnxgen.Int64:
		return ort.NewScalar(int64(v))
	case onnxgen.Int32:
		return ort.NewScalar(int32(v))
	}
	return nil, fmt.Errorf("unsupported scalar dtype %v", in.DType)
}

func conv[T int8 | uint8 | int32 | int64 | float32](v []float64) []T {
	out := make([]T, len(v))
	for i, x := range v {
		out[i] = T(x)
	}
	return out
}
