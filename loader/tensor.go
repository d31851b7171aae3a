package loader

import "fmt"

// DType is a tensor element type. The names match ONNX's.
type DType int

const (
	DTypeUnknown DType = iota
	Float32
	Float64
	Float16 // stored as IEEE 754 half-precision bit patterns in []uint16
	Int64
	Int32
	Int8
	Uint8
	Bool
	// String is text (binary columns as base64), for inputs that travel
	// as JSON values (a request template), never for a tensor input.
	String
)

var dtypeNames = map[DType]string{
	DTypeUnknown: "unknown",
	Float32:      "float32",
	Float64:      "float64",
	Float16:      "float16",
	Int64:        "int64",
	Int32:        "int32",
	Int8:         "int8",
	Uint8:        "uint8",
	Bool:         "bool",
	String:       "string",
}

func (d DType) String() string {
	if s, ok := dtypeNames[d]; ok {
		return s
	}
	return fmt.Sprintf("dtype(%d)", int(d))
}

// ParseDType is the inverse of DType.String.
func ParseDType(s string) (DType, error) {
	for d, name := range dtypeNames {
		if name == s && d != DTypeUnknown {
			return d, nil
		}
	}
	return DTypeUnknown, fmt.Errorf("unknown element type %q", s)
}

// ElemSize is the size in bytes of one element.
func (d DType) ElemSize() int {
	switch d {
	case Float64, Int64:
		return 8
	case Float32, Int32:
		return 4
	case Float16:
		return 2
	case Int8, Uint8, Bool:
		return 1
	case String:
		return 16 // a Go string header; the text it points at is extra
	}
	return 0
}

// InputSpec is what a model declares for one input. A negative dimension is
// free (dynamic); an empty Shape is a 0-d scalar.
type InputSpec struct {
	Name  string
	DType DType
	Shape []int64
	// Nullable marks an input whose consumer can carry a null (a JSON
	// value in a request template): a null row of its column is kept as
	// Tensor.Null instead of being refused or filled (see NullPolicy).
	Nullable bool
}

func (s InputSpec) String() string {
	return fmt.Sprintf("%s %s%v", s.Name, s.DType, s.Shape)
}

// Tensor is one model input, ready to hand to a runtime.
//
// Data holds a slice of the Go type for DType: []float32, []float64,
// []uint16 (float16 bits), []int64, []int32, []int8, []uint8, []bool or
// []string. len(Data) is the product of Shape (1 for a 0-d scalar).
type Tensor struct {
	Name  string
	DType DType
	Shape []int64
	Data  any
	// Null, when not nil, has one entry per row (the first dimension):
	// true where the row's value is null in the dataset. Only Nullable
	// inputs get one; their data there is zero ("" for text).
	Null []bool
}

// Elements is the number of elements the shape holds.
func (t Tensor) Elements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// SizeMeasure describes how big a batch's input is, so latency can later be
// broken down by input size.
type SizeMeasure struct {
	// Elements is the total number of elements over all inputs bound from
	// the dataset (fills excluded); a text value counts its bytes, which
	// is what a text model's cost follows.
	Elements int64 `json:"elements"`
	// SeqLen is the padded sequence length of variable-length inputs in the
	// batch, or 0 when the batch has none.
	SeqLen int64 `json:"seq_len,omitempty"`
	// EmptyRows is the most rows of the batch that any one variable-length
	// input has with no real elements (an empty list), or any one text
	// input has as an empty string; 0 when none.
	EmptyRows int64 `json:"-"`
	// NullRows counts the batch's rows with a null in some input: kept as
	// Tensor.Null or written over by NullsFill.
	NullRows int64 `json:"-"`
}
