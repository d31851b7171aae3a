package kservetest

import (
	"fmt"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/infergate/infergate/internal/ortlib"
)

// ONNXModel serves a real ONNX model through ONNX Runtime, in this
// process. Inputs and outputs of FP32, FP64, INT64 and INT32 are
// supported; that covers the repository's test models.
type ONNXModel struct {
	mu      sync.Mutex
	session *ort.DynamicAdvancedSession
	ins     []TensorMeta
	outs    []TensorMeta
}

var ortToV2 = map[ort.TensorElementDataType]string{
	ort.TensorElementDataTypeFloat:  "FP32",
	ort.TensorElementDataTypeDouble: "FP64",
	ort.TensorElementDataTypeInt64:  "INT64",
	ort.TensorElementDataTypeInt32:  "INT32",
}

// NewONNXModel loads modelPath with the ONNX Runtime library at libPath
// (ortlib.Init: once per process).
func NewONNXModel(libPath, modelPath string) (*ONNXModel, error) {
	if err := ortlib.Init(libPath); err != nil {
		return nil, err
	}
	ins, outs, err := ort.GetInputOutputInfo(modelPath)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", modelPath, err)
	}
	m := &ONNXModel{}
	var inNames, outNames []string
	for _, in := range ins {
		dt, ok := ortToV2[in.DataType]
		if !ok {
			return nil, fmt.Errorf("model %s: input %s of type %s is not supported here", modelPath, in.Name, in.DataType)
		}
		m.ins = append(m.ins, TensorMeta{Name: in.Name, Datatype: dt, Shape: dims(in.Dimensions)})
		inNames = append(inNames, in.Name)
	}
	for _, out := range outs {
		dt, ok := ortToV2[out.DataType]
		if !ok {
			return nil, fmt.Errorf("model %s: output %s of type %s is not supported here", modelPath, out.Name, out.DataType)
		}
		m.outs = append(m.outs, TensorMeta{Name: out.Name, Datatype: dt, Shape: dims(out.Dimensions)})
		outNames = append(outNames, out.Name)
	}
	m.session, err = ort.NewDynamicAdvancedSession(modelPath, inNames, outNames, nil)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", modelPath, err)
	}
	return m, nil
}

func dims(s ort.Shape) []int64 {
	out := make([]int64, len(s))
	for i, d := range s {
		out[i] = max(d, -1)
	}
	return out
}

func (m *ONNXModel) Inputs() []TensorMeta  { return m.ins }
func (m *ONNXModel) Outputs() []TensorMeta { return m.outs }

// Close releases the session.
func (m *ONNXModel) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.session == nil {
		return nil
	}
	err := m.session.Destroy()
	m.session = nil
	return err
}

func (m *ONNXModel) Infer(ins []Tensor) ([]Tensor, error) {
	values := make([]ort.Value, len(ins))
	defer func() {
		for _, v := range values {
			if v != nil {
				_ = v.Destroy()
			}
		}
	}()
	for i, t := range ins {
		v, err := toORT(t)
		if err != nil {
			return nil, err
		}
		values[i] = v
	}
	outs := make([]ort.Value, len(m.outs))
	m.mu.Lock()
	var err error
	if m.session == nil {
		err = fmt.Errorf("model closed")
	} else {
		err = m.session.Run(values, outs)
	}
	m.mu.Unlock()
	defer func() {
		for _, v := range outs {
			if v != nil {
				_ = v.Destroy()
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	res := make([]Tensor, len(outs))
	for i, v := range outs {
		t := Tensor{Name: m.outs[i].Name, Datatype: m.outs[i].Datatype, Shape: []int64(v.GetShape())}
		switch tv := v.(type) {
		case *ort.Tensor[float32]:
			t.Data = widen(tv.GetData())
		case *ort.Tensor[float64]:
			t.Data = widen(tv.GetData())
		case *ort.Tensor[int64]:
			t.Data = widen(tv.GetData())
		case *ort.Tensor[int32]:
			t.Data = widen(tv.GetData())
		default:
			return nil, fmt.Errorf("output %s: unsupported value %T", t.Name, v)
		}
		res[i] = t
	}
	return res, nil
}

func toORT(t Tensor) (ort.Value, error) {
	shape := ort.NewShape(t.Shape...)
	switch t.Datatype {
	case "FP32":
		return ort.NewTensor(shape, narrow[float32](t.Data))
	case "FP64":
		return ort.NewTensor(shape, t.Data)
	case "INT64":
		return ort.NewTensor(shape, narrow[int64](t.Data))
	case "INT32":
		return ort.NewTensor(shape, narrow[int32](t.Data))
	}
	return nil, fmt.Errorf("input %s: datatype %s is not supported here", t.Name, t.Datatype)
}

func widen[T float32 | float64 | int64 | int32](s []T) []float64 {
	out := make([]float64, len(s))
	for i, v := range s {
		out[i] = float64(v)
	}
	return out
}

func narrow[T float32 | float64 | int64 | int32](s []float64) []T {
	out := make([]T, len(s))
	for i, v := range s {
		out[i] = T(v)
	}
	return out
}
