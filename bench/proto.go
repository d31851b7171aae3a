package bench

import (
	"fmt"
	"time"
	"unsafe"

	"github.com/infergate/infergate/loader"
)

// The parent and a worker talk gob over a pair of pipes handed to the worker
// as file descriptors 3 (requests) and 4 (replies), so that anything a native
// library prints on stdout or stderr cannot corrupt the stream.

// A block travels as a blockRequest followed by its batches, one message
// each, so neither side ever holds a whole block's encoding in memory.
type wireRequest struct {
	Load  *loadRequest
	Block *blockRequest
	Batch *wireBatch
	// Profile is followed by its batches, like Block (see profile.go).
	Profile *profileRequest
	// Outputs is followed by its batches, like Block (see parity.go).
	Outputs *outputsRequest
}

type loadRequest struct {
	LibPath           string
	ModelPath         string
	Device            string
	ProviderOptions   map[string]string
	IntraOpThreads    int
	InterOpThreads    int
	GraphOptimization string
}

type loadReply struct {
	Inputs       []loader.InputSpec
	Outputs      []string
	OutputShapes [][]int64 // declared, parallel to Outputs (see TargetInfo)
	ORTVersion   string
	LoadRSSBytes int64
	ModelVersion string // ONNX model_version; "" when the file leaves it 0
	Err          *wireError
}

type blockRequest struct {
	// NumBatches batch messages follow; 0 reuses the last block's batches.
	NumBatches  int
	Offset      int64
	Accumulate  bool
	Requests    int64
	Duration    time.Duration
	Concurrency int
	Record      bool
	ResetPeak   bool
	SizeBuckets int
}

type wireBatch struct {
	Rows     int
	Tensors  []wireTensor
	Size     float64
	Bucket   int
	FirstRow int64
	Class    string
}

// wireTensor carries a tensor's elements as raw bytes: gob copies a []byte
// in one go, where a []float32 would be encoded element by element.
type wireTensor struct {
	Name  string
	DType loader.DType
	Shape []int64
	Raw   []byte
}

type blockReply struct {
	Histogram     string // encoded; empty unless recorded
	Requests      int64
	Rows          int64
	Errors        int64
	ErrorsByKind  map[string]int64
	ErrorsByClass map[string]int64
	ErrorExamples map[string][]int64
	FirstError    string
	ElapsedNS     int64
	PeakRSSBytes  int64
	// Primed counts the untimed calls that primed new input shapes on a
	// GPU before the block (see worker.prime).
	Primed      int64
	SizeBuckets []wireSizeBucket
	Err         *wireError
}

type wireSizeBucket struct {
	Histogram string // encoded; empty when the bucket saw no success
	Errors    int64
	SizeSum   float64
}

// wireError is an error that crossed the pipe, with whose fault it was.
type wireError struct {
	Input   bool // bad input (a corrupt model, a wrong library) rather than a failed run
	Message string
}

func (e *wireError) Error() string { return e.Message }

func toWireTensor(t loader.Tensor) (wireTensor, error) {
	raw, err := tensorBytes(t)
	if err != nil {
		return wireTensor{}, err
	}
	return wireTensor{Name: t.Name, DType: t.DType, Shape: t.Shape, Raw: raw}, nil
}

// tensorBytes views a tensor's elements as bytes without copying.
func tensorBytes(t loader.Tensor) ([]byte, error) {
	switch d := t.Data.(type) {
	case []float32:
		return sliceBytes(d), nil
	case []float64:
		return sliceBytes(d), nil
	case []uint16:
		return sliceBytes(d), nil
	case []int64:
		return sliceBytes(d), nil
	case []int32:
		return sliceBytes(d), nil
	case []int8:
		return sliceBytes(d), nil
	case []uint8:
		return d, nil
	case []bool:
		return sliceBytes(d), nil
	}
	return nil, fmt.Errorf("input %s: unsupported tensor data %T", t.Name, t.Data)
}

func sliceBytes[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	var zero T
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(zero)))
}

func toWireBatch(b BlockBatch) (wireBatch, error) {
	out := wireBatch{Rows: b.Rows, Tensors: make([]wireTensor, len(b.Tensors)), Size: b.Size, Bucket: b.Bucket, FirstRow: b.FirstRow, Class: b.Class}
	for j, t := range b.Tensors {
		wt, err := toWireTensor(t)
		if err != nil {
			return wireBatch{}, err
		}
		out.Tensors[j] = wt
	}
	return out, nil
}
