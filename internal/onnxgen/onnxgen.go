// Package onnxgen writes small ONNX models (ModelProto protobufs) from Go.
//
// There is no generated protobuf code: messages are hand-encoded with
// google.golang.org/protobuf/encoding/protowire using the field numbers of
// onnx/onnx.proto. Only what infergate's test and example models need is
// supported: tensor-typed graph inputs and outputs, initializers, and nodes
// with int, float, string, ints, floats and tensor attributes.
//
//	g := onnxgen.NewGraph("mlp")
//	g.Input("features", onnxgen.Float, "batch", 64) // string = free dim, int = fixed
//	g.Initializer("w0", []int64{64, 64}, w0)
//	g.Node("MatMul", []string{"features", "w0"}, []string{"h0"})
//	g.Output("scores", onnxgen.Float, "batch", 10)
//	data, err := g.Model().Marshal()
package onnxgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Defaults written by Graph.Model.
const (
	IRVersion    = 8
	Opset        = 17
	ProducerName = "infergate-onnxgen"
)

// DType is an ONNX TensorProto.DataType.
type DType int32

// ONNX element types (TensorProto.DataType).
const (
	Float   DType = 1
	Uint8   DType = 2
	Int8    DType = 3
	Uint16  DType = 4
	Int16   DType = 5
	Int32   DType = 6
	Int64   DType = 7
	String  DType = 8
	Bool    DType = 9
	Float16 DType = 10
	Double  DType = 11
	Uint32  DType = 12
	Uint64  DType = 13
)

var dtypeNames = map[DType]string{
	Float: "float32", Uint8: "uint8", Int8: "int8", Uint16: "uint16", Int16: "int16",
	Int32: "int32", Int64: "int64", String: "string", Bool: "bool", Float16: "float16",
	Double: "float64", Uint32: "uint32", Uint64: "uint64",
}

func (d DType) String() string {
	if s, ok := dtypeNames[d]; ok {
		return s
	}
	return fmt.Sprintf("dtype(%d)", int32(d))
}

// Size is the element size in bytes (0 for String and unknown types).
func (d DType) Size() int {
	switch d {
	case Uint8, Int8, Bool:
		return 1
	case Uint16, Int16, Float16:
		return 2
	case Float, Int32, Uint32:
		return 4
	case Int64, Double, Uint64:
		return 8
	}
	return 0
}

// AttrType is an ONNX AttributeProto.AttributeType.
type AttrType int32

// Attribute types used here.
const (
	AttrFloat   AttrType = 1
	AttrInt     AttrType = 2
	AttrString  AttrType = 3
	AttrTensor  AttrType = 4
	AttrFloats  AttrType = 6
	AttrInts    AttrType = 7
	AttrStrings AttrType = 8
)

// Attr is a node attribute. Build it with Int, Float, Str, Ints, Floats or
// TensorAttr.
type Attr struct {
	Name   string
	Type   AttrType
	I      int64
	F      float32
	S      string
	Ints   []int64
	Floats []float32
	T      *Tensor
}

// Int is an INT attribute.
func Int(name string, v int64) Attr { return Attr{Name: name, Type: AttrInt, I: v} }

// Float32Attr is a FLOAT attribute.
func Float32Attr(name string, v float32) Attr { return Attr{Name: name, Type: AttrFloat, F: v} }

// Str is a STRING attribute.
func Str(name, v string) Attr { return Attr{Name: name, Type: AttrString, S: v} }

// Ints is an INTS attribute.
func Ints(name string, v ...int64) Attr { return Attr{Name: name, Type: AttrInts, Ints: v} }

// Floats is a FLOATS attribute.
func Floats(name string, v ...float32) Attr { return Attr{Name: name, Type: AttrFloats, Floats: v} }

// TensorAttr is a TENSOR attribute (e.g. Constant's "value").
func TensorAttr(name string, t *Tensor) Attr { return Attr{Name: name, Type: AttrTensor, T: t} }

// Tensor is a TensorProto whose contents are stored as raw little-endian
// bytes (raw_data).
type Tensor struct {
	Name  string
	DType DType
	Dims  []int64
	Raw   []byte
}

// FloatTensor makes a float32 tensor. len(data) must equal the product of
// dims (1 for a 0-d scalar).
func FloatTensor(name string, dims []int64, data []float32) *Tensor {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &Tensor{Name: name, DType: Float, Dims: dims, Raw: raw}
}

// Int64Tensor makes an int64 tensor.
func Int64Tensor(name string, dims []int64, data []int64) *Tensor {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return &Tensor{Name: name, DType: Int64, Dims: dims, Raw: raw}
}

func (t *Tensor) check() error {
	n := int64(1)
	for _, d := range t.Dims {
		if d < 0 {
			return fmt.Errorf("tensor %q: negative dim %d", t.Name, d)
		}
		n *= d
	}
	if sz := t.DType.Size(); sz == 0 {
		return fmt.Errorf("tensor %q: unsupported dtype %v", t.Name, t.DType)
	} else if int64(len(t.Raw)) != n*int64(sz) {
		return fmt.Errorf("tensor %q: %d bytes of data for dims %v of %v (want %d)", t.Name, len(t.Raw), t.Dims, t.DType, n*int64(sz))
	}
	return nil
}

// Dim is one dimension of a value's shape: Param != "" is a free (symbolic)
// dimension, otherwise Value is fixed.
type Dim struct {
	Value int64
	Param string
}

// ValueInfo is a typed graph input or output.
type ValueInfo struct {
	Name  string
	DType DType
	Dims  []Dim // nil or empty: a 0-d scalar
}

// Node is one operator application.
type Node struct {
	Name    string
	OpType  string
	Domain  string
	Inputs  []string
	Outputs []string
	Attrs   []Attr
}

// Graph is a GraphProto under construction. Methods record the first error
// they meet; Model().Marshal reports it.
type Graph struct {
	Name         string
	Nodes        []Node
	Initializers []*Tensor
	Inputs       []ValueInfo
	Outputs      []ValueInfo
	err          error
}

// NewGraph starts an empty graph.
func NewGraph(name string) *Graph { return &Graph{Name: name} }

// Err returns the first error recorded while building.
func (g *Graph) Err() error { return g.err }

func (g *Graph) fail(err error) {
	if g.err == nil {
		g.err = err
	}
}

func (g *Graph) value(name string, dt DType, dims []any) ValueInfo {
	vi := ValueInfo{Name: name, DType: dt}
	for _, d := range dims {
		switch v := d.(type) {
		case string:
			if v == "" {
				g.fail(fmt.Errorf("value %q: empty dim_param", name))
			}
			vi.Dims = append(vi.Dims, Dim{Param: v})
		case int:
			vi.Dims = append(vi.Dims, Dim{Value: int64(v)})
		case int64:
			vi.Dims = append(vi.Dims, Dim{Value: v})
		case int32:
			vi.Dims = append(vi.Dims, Dim{Value: int64(v)})
		case Dim:
			vi.Dims = append(vi.Dims, v)
		default:
			g.fail(fmt.Errorf("value %q: dim %v has type %T, want string or int", name, d, d))
		}
	}
	if dt.Size() == 0 {
		g.fail(fmt.Errorf("value %q: unsupported dtype %v", name, dt))
	}
	return vi
}

// Input declares a graph input. Each dim is a string (free dim_param) or an
// integer (fixed size); no dims declares a 0-d scalar.
func (g *Graph) Input(name string, dt DType, dims ...any) *Graph {
	g.Inputs = append(g.Inputs, g.value(name, dt, dims))
	return g
}

// Output declares a graph output, with dims as for Input.
func (g *Graph) Output(name string, dt DType, dims ...any) *Graph {
	g.Outputs = append(g.Outputs, g.value(name, dt, dims))
	return g
}

// Initializer adds a float32 constant tensor.
func (g *Graph) Initializer(name string, dims []int64, data []float32) *Graph {
	return g.AddTensor(FloatTensor(name, dims, data))
}

// InitializerInt64 adds an int64 constant tensor.
func (g *Graph) InitializerInt64(name string, dims []int64, data []int64) *Graph {
	return g.AddTensor(Int64Tensor(name, dims, data))
}

// AddTensor adds an arbitrary initializer.
func (g *Graph) AddTensor(t *Tensor) *Graph {
	if t.Name == "" {
		g.fail(errors.New("initializer without a name"))
	}
	if err := t.check(); err != nil {
		g.fail(err)
	}
	g.Initializers = append(g.Initializers, t)
	return g
}

// Node appends an operator of the default ONNX domain. Nodes must be added
// in topological order.
func (g *Graph) Node(op string, inputs, outputs []string, attrs ...Attr) *Graph {
	if op == "" || len(outputs) == 0 {
		g.fail(fmt.Errorf("node %d: need an op type and at least one output", len(g.Nodes)))
	}
	for _, a := range attrs {
		if a.Type == AttrTensor {
			if a.T == nil {
				g.fail(fmt.Errorf("node %s: tensor attribute %q is nil", op, a.Name))
			} else if err := a.T.check(); err != nil {
				g.fail(err)
			}
		}
	}
	g.Nodes = append(g.Nodes, Node{
		Name:    fmt.Sprintf("%s_%d", op, len(g.Nodes)),
		OpType:  op,
		Inputs:  inputs,
		Outputs: outputs,
		Attrs:   attrs,
	})
	return g
}

// OpsetID is an OperatorSetIdProto.
type OpsetID struct {
	Domain  string
	Version int64
}

// Model is a ModelProto.
type Model struct {
	IRVersion    int64
	Opsets       []OpsetID
	ProducerName string
	Graph        *Graph
}

// Model wraps the graph in a ModelProto with IR version 8 and the default
// domain at opset 17.
func (g *Graph) Model() *Model {
	return &Model{
		IRVersion:    IRVersion,
		Opsets:       []OpsetID{{Domain: "", Version: Opset}},
		ProducerName: ProducerName,
		Graph:        g,
	}
}

// Marshal encodes the model as ONNX protobuf bytes. The encoding is
// deterministic: the same model always gives the same bytes.
func (m *Model) Marshal() ([]byte, error) {
	if m.Graph == nil {
		return nil, errors.New("onnxgen: model has no graph")
	}
	if err := m.Graph.err; err != nil {
		return nil, fmt.Errorf("onnxgen: graph %q: %w", m.Graph.Name, err)
	}
	if len(m.Graph.Outputs) == 0 {
		return nil, fmt.Errorf("onnxgen: graph %q has no outputs", m.Graph.Name)
	}
	var b []byte
	// ModelProto
	b = appendVarintField(b, 1, uint64(m.IRVersion)) // ir_version
	b = appendStringField(b, 2, m.ProducerName)      // producer_name
	b = appendMessage(b, 7, m.Graph.encode())        // graph
	for _, o := range m.Opsets {                     // opset_import
		var ob []byte
		if o.Domain != "" {
			ob = appendStringField(ob, 1, o.Domain)
		}
		ob = appendVarintField(ob, 2, uint64(o.Version))
		b = appendMessage(b, 8, ob)
	}
	return b, nil
}

func (g *Graph) encode() []byte {
	var b []byte
	for _, n := range g.Nodes { // node = 1
		b = appendMessage(b, 1, n.encode())
	}
	b = appendStringField(b, 2, g.Name) // name = 2
	for _, t := range g.Initializers {  // initializer = 5
		b = appendMessage(b, 5, t.encode())
	}
	for _, v := range g.Inputs { // input = 11
		b = appendMessage(b, 11, v.encode())
	}
	for _, v := range g.Outputs { // output = 12
		b = appendMessage(b, 12, v.encode())
	}
	return b
}

func (n Node) encode() []byte {
	var b []byte
	for _, in := range n.Inputs { // input = 1
		b = appendStringField(b, 1, in)
	}
	for _, out := range n.Outputs { // output = 2
		b = appendStringField(b, 2, out)
	}
	if n.Name != "" {
		b = appendStringField(b, 3, n.Name) // name = 3
	}
	b = appendStringField(b, 4, n.OpType) // op_type = 4
	for _, a := range n.Attrs {           // attribute = 5
		b = appendMessage(b, 5, a.encode())
	}
	if n.Domain != "" {
		b = appendStringField(b, 7, n.Domain) // domain = 7
	}
	return b
}

func (a Attr) encode() []byte {
	var b []byte
	b = appendStringField(b, 1, a.Name) // name = 1
	switch a.Type {
	case AttrFloat: // f = 2 (fixed32)
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.F))
	case AttrInt: // i = 3
		b = appendVarintField(b, 3, uint64(a.I))
	case AttrString: // s = 4
		b = appendStringField(b, 4, a.S)
	case AttrTensor: // t = 5
		b = appendMessage(b, 5, a.T.encode())
	case AttrFloats: // floats = 7, packed
		var p []byte
		for _, f := range a.Floats {
			p = protowire.AppendFixed32(p, math.Float32bits(f))
		}
		b = appendMessage(b, 7, p)
	case AttrInts: // ints = 8, packed
		var p []byte
		for _, v := range a.Ints {
			p = protowire.AppendVarint(p, uint64(v))
		}
		b = appendMessage(b, 8, p)
	}
	b = appendVarintField(b, 20, uint64(a.Type)) // type = 20
	return b
}

func (t *Tensor) encode() []byte {
	var b []byte
	if len(t.Dims) > 0 { // dims = 1, packed int64
		var p []byte
		for _, d := range t.Dims {
			p = protowire.AppendVarint(p, uint64(d))
		}
		b = appendMessage(b, 1, p)
	}
	b = appendVarintField(b, 2, uint64(t.DType)) // data_type = 2
	if t.Name != "" {
		b = appendStringField(b, 8, t.Name) // name = 8
	}
	b = protowire.AppendTag(b, 9, protowire.BytesType) // raw_data = 9
	b = protowire.AppendBytes(b, t.Raw)
	return b
}

func (v ValueInfo) encode() []byte {
	// TensorShapeProto: dim = 1 (Dimension: dim_value = 1, dim_param = 2)
	var shape []byte
	for _, d := range v.Dims {
		var db []byte
		if d.Param != "" {
			db = appendStringField(db, 2, d.Param)
		} else {
			db = appendVarintField(db, 1, uint64(d.Value))
		}
		shape = appendMessage(shape, 1, db)
	}
	// TypeProto.Tensor: elem_type = 1, shape = 2 (always present, so a
	// 0-d scalar is distinguishable from an unknown shape).
	var tt []byte
	tt = appendVarintField(tt, 1, uint64(v.DType))
	tt = appendMessage(tt, 2, shape)
	// TypeProto: tensor_type = 1
	typ := appendMessage(nil, 1, tt)
	// ValueInfoProto: name = 1, type = 2
	b := appendStringField(nil, 1, v.Name)
	return appendMessage(b, 2, typ)
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendStringField(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendMessage(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}
