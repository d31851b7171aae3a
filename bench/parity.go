package bench

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/float16"
	ort "github.com/yalue/onnxruntime_go"
)

// OutputTarget is a target that can return its model's outputs, for output
// parity (--check-outputs). The ONNX target implements it, and so do remote
// targets (see remote_outputs.go), though only KServe v2 (REST, gRPC) and TF
// Serving clients can decode their outputs: check with SupportsOutputs.
type OutputTarget interface {
	// Outputs runs each batch once, untimed, and returns its outputs.
	Outputs(ctx context.Context, batches []BlockBatch) ([]BatchOutputs, error)
}

// BatchOutputs are one batch's outputs, in the model's output order.
type BatchOutputs struct {
	Rows    int
	Outputs []Output
}

// Output is one output tensor with its elements converted to float64, in
// row-major order.
type Output struct {
	Name  string
	Shape []int64
	Data  []float64
}

// outputsRequest asks the worker to run NumBatches batches, which follow as
// batch messages as after a block request, once each and to return their
// outputs; 0 reuses the last block's batches.
type outputsRequest struct {
	NumBatches int
}

type outputsReply struct {
	Batches []BatchOutputs
	Err     *wireError
}

// Outputs runs the batches once each in the worker, outside any timed
// block, and returns their outputs as float64.
func (t *onnxTarget) Outputs(ctx context.Context, batches []BlockBatch) ([]BatchOutputs, error) {
	var reply outputsReply
	err := t.callWithBatches(ctx, wireRequest{Outputs: &outputsRequest{NumBatches: len(batches)}}, batches, &reply)
	if err != nil {
		return nil, err
	}
	if reply.Err != nil {
		return nil, classify(reply.Err)
	}
	// The worker returns the outputs in the session's order, which is the
	// order of the names it reported at load.
	for i := range reply.Batches {
		for j := range reply.Batches[i].Outputs {
			if j < len(t.info.Outputs) {
				reply.Batches[i].Outputs[j].Name = t.info.Outputs[j]
			}
		}
	}
	return reply.Batches, nil
}

// outputs is the worker's side of an outputs request. New batches replace
// the kept ones, as a block's do.
func (w *worker) outputs(req *outputsRequest, wbs []wireBatch) (reply outputsReply) {
	if w.session == nil {
		reply.Err = &wireError{Message: "worker: no model loaded"}
		return reply
	}
	if reply.Err = w.keepBatches(wbs); reply.Err != nil {
		return reply
	}
	for i := range w.batches {
		b := &w.batches[i]
		outs := make([]ort.Value, w.nOut)
		err := w.session.Run(b.values, outs)
		bo := BatchOutputs{Rows: int(b.rows)}
		for _, o := range outs {
			if err == nil && o != nil {
				var out Output
				out, err = toOutput(o)
				bo.Outputs = append(bo.Outputs, out)
			}
			if o != nil {
				_ = o.Destroy()
			}
		}
		if err != nil {
			reply.Err = &wireError{Message: fmt.Sprintf("outputs of batch %d: %s", i, oneLine(err))}
			return reply
		}
		reply.Batches = append(reply.Batches, bo)
	}
	return reply
}

// toOutput converts an output the runtime allocated to float64.
func toOutput(v ort.Value) (Output, error) {
	var out Output
	switch t := v.(type) {
	case *ort.Tensor[float32]:
		out.Shape, out.Data = t.GetShape(), widen(t.GetData())
	case *ort.Tensor[float64]:
		out.Shape, out.Data = t.GetShape(), widen(t.GetData())
	case *ort.Tensor[int64]:
		out.Shape, out.Data = t.GetShape(), widen(t.GetData())
	case *ort.Tensor[int32]:
		out.Shape, out.Data = t.GetShape(), widen(t.GetData())
	case *ort.Tensor[int16]:
		out.Shape, out.Data = t.GetShape(), widen(t.GetData())
	case *ort.Tensor[int8]:
		out.Shape, out.Data = t.GetShape(), widen(t.GetData())
	case *ort.Tensor[uint8]:
		out.Shape, out.Data = t.GetShape(), widen(t.GetData())
	case *ort.Tensor[uint16]:
		out.Shape, out.Data = t.GetShape(), widen(t.GetData())
	case *ort.Tensor[uint32]:
		out.Shape, out.Data = t.GetShape(), widen(t.GetData())
	case *ort.Tensor[uint64]:
		out.Shape, out.Data = t.GetShape(), widen(t.GetData())
	case *ort.Tensor[bool]:
		d := t.GetData()
		out.Shape, out.Data = t.GetShape(), make([]float64, len(d))
		for i, x := range d {
			if x {
				out.Data[i] = 1
			}
		}
	case *ort.CustomDataTensor:
		shape := t.GetShape()
		n := shape.FlattenedSize()
		raw := t.GetData()
		if ort.TensorElementDataType(t.DataType()) != ort.TensorElementDataTypeFloat16 || int64(len(raw)) != 2*n {
			return out, fmt.Errorf("output of element type %d cannot be compared", t.DataType())
		}
		out.Shape, out.Data = shape, make([]float64, n)
		for i := range out.Data {
			out.Data[i] = float64(float16.FromBits(uint16(raw[2*i]) | uint16(raw[2*i+1])<<8).Float32())
		}
	default:
		return out, fmt.Errorf("output of type %T cannot be compared (only tensors)", v)
	}
	out.Shape = append([]int64(nil), out.Shape...)
	return out, nil
}

func widen[T int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64 | float32 | float64](d []T) []float64 {
	out := make([]float64, len(d))
	for i, x := range d {
		out[i] = float64(x)
	}
	return out
}
