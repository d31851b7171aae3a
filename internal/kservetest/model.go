// Package kservetest is an in-process inference server for tests and
// benchmarks of infergate's endpoint targets: the KServe Open Inference
// Protocol v2 over REST and gRPC, or TensorFlow Serving's REST API, on
// loopback ports, serving a trivial model or a real ONNX model, with faults
// to inject (errors, latency, a slow tail, dropped connections, stalls).
package kservetest

import (
	"errors"
	"fmt"
)

// TensorMeta is a tensor as a model declares it; -1 dimensions are free.
type TensorMeta struct {
	Name     string
	Datatype string // a v2 datatype: FP32, FP64, FP16, INT64, INT32, INT8, UINT8, BOOL
	Shape    []int64
}

// Tensor is a tensor's value. Every datatype travels as float64 here: the
// test models only add and copy, and float64 holds all the values that
// tests send exactly.
type Tensor struct {
	Name     string
	Datatype string
	Shape    []int64
	Data     []float64
}

// Model is what the server serves.
type Model interface {
	Inputs() []TensorMeta
	Outputs() []TensorMeta
	// Infer runs one request; inputs come in the order of Inputs, checked
	// against their declared datatypes and shapes.
	Infer(inputs []Tensor) ([]Tensor, error)
}

// SumModel adds up each row of all its inputs into one FP32 output "sum"
// of shape [rows]. Every input's first dimension is the batch.
type SumModel struct {
	In []TensorMeta
}

// DefaultInputs is the sum model's input when none are given: x, FP32
// [-1, 4].
var DefaultInputs = []TensorMeta{{Name: "x", Datatype: "FP32", Shape: []int64{-1, 4}}}

func (m *SumModel) Inputs() []TensorMeta {
	if len(m.In) == 0 {
		return DefaultInputs
	}
	return m.In
}

func (m *SumModel) Outputs() []TensorMeta {
	return []TensorMeta{{Name: "sum", Datatype: "FP32", Shape: []int64{-1}}}
}

func (m *SumModel) Infer(ins []Tensor) ([]Tensor, error) {
	if len(ins) == 0 || len(ins[0].Shape) == 0 {
		return nil, errors.New("sum model: inputs need a batch dimension")
	}
	rows := ins[0].Shape[0]
	sum := make([]float64, rows)
	for _, t := range ins {
		if len(t.Shape) == 0 || t.Shape[0] != rows {
			return nil, fmt.Errorf("sum model: input %s has shape %v, want %d rows first", t.Name, t.Shape, rows)
		}
		per := len(t.Data) / int(max(rows, 1))
		for r := range int(rows) {
			for _, v := range t.Data[r*per : (r+1)*per] {
				sum[r] += v
			}
		}
	}
	return []Tensor{{Name: "sum", Datatype: "FP32", Shape: []int64{rows}, Data: sum}}, nil
}

// EchoModel returns its inputs as outputs of the same names.
type EchoModel struct {
	In []TensorMeta
}

func (m *EchoModel) Inputs() []TensorMeta {
	if len(m.In) == 0 {
		return DefaultInputs
	}
	return m.In
}

func (m *EchoModel) Outputs() []TensorMeta { return m.Inputs() }

func (m *EchoModel) Infer(ins []Tensor) ([]Tensor, error) { return ins, nil }

// checkInputs matches the request's tensors to the model's declared
// inputs, by name, and returns them in the model's order.
func checkInputs(m Model, got []Tensor) ([]Tensor, error) {
	metas := m.Inputs()
	out := make([]Tensor, len(metas))
	seen := map[string]bool{}
	for _, t := range got {
		idx := -1
		for i, meta := range metas {
			if meta.Name == t.Name {
				idx = i
			}
		}
		if idx < 0 {
			return nil, fmt.Errorf("unexpected input %q", t.Name)
		}
		meta := metas[idx]
		if t.Datatype != "" && t.Datatype != meta.Datatype {
			return nil, fmt.Errorf("input %s: datatype %s, want %s", t.Name, t.Datatype, meta.Datatype)
		}
		if len(t.Shape) != len(meta.Shape) {
			return nil, fmt.Errorf("input %s: shape %v, want %v", t.Name, t.Shape, meta.Shape)
		}
		n := int64(1)
		for i, d := range t.Shape {
			if meta.Shape[i] >= 0 && d != meta.Shape[i] {
				return nil, fmt.Errorf("input %s: shape %v, want %v", t.Name, t.Shape, meta.Shape)
			}
			n *= d
		}
		if int64(len(t.Data)) != n {
			return nil, fmt.Errorf("input %s: shape %v holds %d values, got %d", t.Name, t.Shape, n, len(t.Data))
		}
		t.Datatype = meta.Datatype
		out[idx] = t
		seen[t.Name] = true
	}
	for _, meta := range metas {
		if !seen[meta.Name] {
			return nil, fmt.Errorf("missing input %q", meta.Name)
		}
	}
	return out, nil
}
