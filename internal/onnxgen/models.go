package onnxgen

import (
	"fmt"
	"math"
)

// RNG is a tiny deterministic generator (SplitMix64). Its output is fixed
// forever, unlike math/rand, so generated files stay byte-identical.
type RNG struct{ s uint64 }

// NewRNG seeds a generator.
func NewRNG(seed uint64) *RNG { return &RNG{s: seed} }

// Uint64 returns the next 64 random bits.
func (r *RNG) Uint64() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Float32 returns a value in [0, 1).
func (r *RNG) Float32() float32 { return float32(r.Uint64()>>40) / (1 << 24) }

// Uniform returns a value in [lo, hi).
func (r *RNG) Uniform(lo, hi float32) float32 { return lo + (hi-lo)*r.Float32() }

// Intn returns a value in [0, n).
func (r *RNG) Intn(n int) int { return int(r.Uint64() % uint64(n)) }

// Names of the MLP interface shared by every generated MLP.
const (
	MLPInput  = "features"
	MLPOutput = "scores"
)

// Layer is one dense layer: y = x·W + B, then ReLU unless it is the last
// layer. W is row-major [In][Out].
type Layer struct {
	In, Out int
	W, B    []float32
	Relu    bool
}

// MLP is a multi-layer perceptron features[batch, In] -> scores[batch, Out]
// built from MatMul, Add and Relu. Its cost is set by the hidden widths.
type MLP struct {
	Name   string
	In     int
	Hidden []int
	Out    int
	Seed   uint64
	Layers []Layer
}

// NewMLP builds an MLP with weights drawn deterministically from seed.
func NewMLP(name string, seed uint64, in int, hidden []int, out int) *MLP {
	m := &MLP{Name: name, In: in, Hidden: append([]int(nil), hidden...), Out: out, Seed: seed}
	r := NewRNG(seed)
	widths := append(append([]int{in}, hidden...), out)
	for i := 0; i+1 < len(widths); i++ {
		l := Layer{In: widths[i], Out: widths[i+1], Relu: i+2 < len(widths)}
		fan := 3.0 // keeps activations O(1): He-uniform before a ReLU
		if l.Relu {
			fan = 6.0
		}
		scale := float32(math.Sqrt(fan / float64(l.In)))
		l.W = make([]float32, l.In*l.Out)
		for j := range l.W {
			l.W[j] = r.Uniform(-scale, scale)
		}
		l.B = make([]float32, l.Out)
		for j := range l.B {
			l.B[j] = r.Uniform(-0.1, 0.1)
		}
		m.Layers = append(m.Layers, l)
	}
	return m
}

// Graph returns the ONNX graph of the MLP: input "features" float32
// [batch, In], output "scores" float32 [batch, Out].
func (m *MLP) Graph() *Graph {
	g := NewGraph(m.Name)
	g.Input(MLPInput, Float, "batch", m.In)
	x := MLPInput
	for i, l := range m.Layers {
		w, b := fmt.Sprintf("w%d", i), fmt.Sprintf("b%d", i)
		g.Initializer(w, []int64{int64(l.In), int64(l.Out)}, l.W)
		g.Initializer(b, []int64{int64(l.Out)}, l.B)
		mm, add := fmt.Sprintf("mm%d", i), fmt.Sprintf("add%d", i)
		if !l.Relu {
			add = MLPOutput
		}
		g.Node("MatMul", []string{x, w}, []string{mm})
		g.Node("Add", []string{mm, b}, []string{add})
		x = add
		if l.Relu {
			h := fmt.Sprintf("h%d", i)
			g.Node("Relu", []string{add}, []string{h})
			x = h
		}
	}
	g.Output(MLPOutput, Float, "batch", m.Out)
	return g
}

// MatMulNode is the name Graph gives layer i's MatMul node (the one that
// multiplies by w<i>), so that a test can name the node a change to that
// layer must show on in a profile; "" when there is no layer i.
func (m *MLP) MatMulNode(layer int) string {
	w := fmt.Sprintf("w%d", layer)
	for _, n := range m.Graph().Nodes {
		if n.OpType == "MatMul" && len(n.Inputs) == 2 && n.Inputs[1] == w {
			return n.Name
		}
	}
	return ""
}

// Forward computes the MLP in Go (float64 accumulation) for x of shape
// [batch, In] and returns [batch, Out].
func (m *MLP) Forward(x []float32, batch int) []float32 {
	cur := x
	for _, l := range m.Layers {
		next := make([]float32, batch*l.Out)
		for r := 0; r < batch; r++ {
			for o := 0; o < l.Out; o++ {
				s := float64(l.B[o])
				for k := 0; k < l.In; k++ {
					s += float64(cur[r*l.In+k]) * float64(l.W[k*l.Out+o])
				}
				if l.Relu && s < 0 {
					s = 0
				}
				next[r*l.Out+o] = float32(s)
			}
		}
		cur = next
	}
	return cur
}

// CastSum returns a model with input "x" of type dt and shape [batch, width]
// computing y[b] = sum_j float(x[b, j]) (Cast to float, ReduceSum over axis
// 1 without keepdims): output "y" float32 [batch].
func CastSum(dt DType, width int) *Graph {
	g := NewGraph("cast_" + dt.String())
	g.Input("x", dt, "batch", width)
	g.InitializerInt64("axes1", []int64{1}, []int64{1})
	g.Node("Cast", []string{"x"}, []string{"xf"}, Int("to", int64(Float)))
	g.Node("ReduceSum", []string{"xf", "axes1"}, []string{"y"}, Int("keepdims", 0))
	g.Output("y", Float, "batch")
	return g
}

// Seq returns a model with inputs "input_ids" and "attention_mask", both
// int64 [batch, seq] (both dims free), computing
// y[b] = sum_s float(input_ids[b,s]) * float(attention_mask[b,s]):
// output "y" float32 [batch].
func Seq() *Graph {
	g := NewGraph("seq")
	g.Input("input_ids", Int64, "batch", "seq")
	g.Input("attention_mask", Int64, "batch", "seq")
	g.InitializerInt64("axes1", []int64{1}, []int64{1})
	g.Node("Cast", []string{"input_ids"}, []string{"ids_f"}, Int("to", int64(Float)))
	g.Node("Cast", []string{"attention_mask"}, []string{"mask_f"}, Int("to", int64(Float)))
	g.Node("Mul", []string{"ids_f", "mask_f"}, []string{"prod"})
	g.Node("ReduceSum", []string{"prod", "axes1"}, []string{"y"}, Int("keepdims", 0))
	g.Output("y", Float, "batch")
	return g
}

// Fill returns a model whose inputs need filling beyond a single data
// column: "features" float32 [batch, 4], "state" float32 [2, b2, 8] (b2 is
// a free dim unrelated to batch) and "sr" int64 0-d scalar. Output "y"
// float32 [batch] = sum_j features[b, j] + sum(state) + float(sr).
func Fill() *Graph {
	g := NewGraph("fill")
	g.Input("features", Float, "batch", 4)
	g.Input("state", Float, 2, "b2", 8)
	g.Input("sr", Int64)
	g.InitializerInt64("axes1", []int64{1}, []int64{1})
	g.Node("ReduceSum", []string{"features", "axes1"}, []string{"fsum"}, Int("keepdims", 0))
	g.Node("ReduceSum", []string{"state"}, []string{"ssum"}, Int("keepdims", 0))
	g.Node("Cast", []string{"sr"}, []string{"srf"}, Int("to", int64(Float)))
	g.Node("Add", []string{"ssum", "srf"}, []string{"extra"})
	g.Node("Add", []string{"fsum", "extra"}, []string{"y"})
	g.Output("y", Float, "batch")
	return g
}

// SeqCost is a sequence model whose cost grows with the sequence length:
// every position is embedded and goes through the same dense layers, then
// the masked positions are summed. Inputs "input_ids" and
// "attention_mask", both int64 [batch, seq] (both dims free); output "y"
// float32 [batch, Width]:
//
//	e[b,s]  = Emb[input_ids[b,s] mod Vocab]
//	h[b,s]  = Layers(e[b,s])           (MatMul + Add + Relu each)
//	y[b]    = Σ_s h[b,s] · attention_mask[b,s]
//
// Ids are taken modulo Vocab (ONNX Mod, integer semantics), so any
// non-negative id is valid.
type SeqCost struct {
	Name   string
	Vocab  int
	Width  int
	Seed   uint64
	Emb    []float32 // [Vocab][Width], row-major
	Layers []Layer   // each Width -> Width, all with Relu
}

// NewSeqCost builds a SeqCost with nLayers dense layers of the given width
// and weights drawn deterministically from seed.
func NewSeqCost(name string, seed uint64, vocab, width, nLayers int) *SeqCost {
	m := &SeqCost{Name: name, Vocab: vocab, Width: width, Seed: seed}
	r := NewRNG(seed)
	m.Emb = make([]float32, vocab*width)
	for i := range m.Emb {
		m.Emb[i] = r.Uniform(-1, 1)
	}
	scale := float32(math.Sqrt(6.0 / float64(width)))
	for range nLayers {
		l := Layer{In: width, Out: width, Relu: true}
		l.W = make([]float32, width*width)
		for j := range l.W {
			l.W[j] = r.Uniform(-scale, scale)
		}
		l.B = make([]float32, width)
		for j := range l.B {
			l.B[j] = r.Uniform(-0.1, 0.1)
		}
		m.Layers = append(m.Layers, l)
	}
	return m
}

// Graph returns the ONNX graph of the model.
func (m *SeqCost) Graph() *Graph {
	g := NewGraph(m.Name)
	g.Input("input_ids", Int64, "batch", "seq")
	g.Input("attention_mask", Int64, "batch", "seq")
	g.InitializerInt64("vocab", []int64{}, []int64{int64(m.Vocab)})
	g.InitializerInt64("axes1", []int64{1}, []int64{1})
	g.InitializerInt64("axes2", []int64{1}, []int64{2})
	g.Initializer("emb", []int64{int64(m.Vocab), int64(m.Width)}, m.Emb)
	g.Node("Mod", []string{"input_ids", "vocab"}, []string{"ids_mod"})
	g.Node("Gather", []string{"emb", "ids_mod"}, []string{"e"}, Int("axis", 0))
	x := "e"
	for i, l := range m.Layers {
		w, b := fmt.Sprintf("w%d", i), fmt.Sprintf("b%d", i)
		g.Initializer(w, []int64{int64(l.In), int64(l.Out)}, l.W)
		g.Initializer(b, []int64{int64(l.Out)}, l.B)
		mm, add, h := fmt.Sprintf("mm%d", i), fmt.Sprintf("add%d", i), fmt.Sprintf("h%d", i)
		g.Node("MatMul", []string{x, w}, []string{mm})
		g.Node("Add", []string{mm, b}, []string{add})
		g.Node("Relu", []string{add}, []string{h})
		x = h
	}
	g.Node("Unsqueeze", []string{"attention_mask", "axes2"}, []string{"mask3"})
	g.Node("Cast", []string{"mask3"}, []string{"mask_f"}, Int("to", int64(Float)))
	g.Node("Mul", []string{x, "mask_f"}, []string{"masked"})
	g.Node("ReduceSum", []string{"masked", "axes1"}, []string{"y"}, Int("keepdims", 0))
	g.Output("y", Float, "batch", m.Width)
	return g
}

// Forward computes the model in Go (float64 accumulation) for ids and mask
// of shape [batch, seq] and returns y [batch, Width].
func (m *SeqCost) Forward(ids, mask []int64, batch, seq int) []float32 {
	w := m.Width
	y := make([]float64, batch*w)
	cur := make([]float32, w)
	for b := 0; b < batch; b++ {
		for s := 0; s < seq; s++ {
			id := ids[b*seq+s] % int64(m.Vocab)
			if id < 0 {
				id += int64(m.Vocab)
			}
			copy(cur, m.Emb[int(id)*w:int(id+1)*w])
			for _, l := range m.Layers {
				next := make([]float32, w)
				for o := 0; o < w; o++ {
					v := float64(l.B[o])
					for k := 0; k < w; k++ {
						v += float64(cur[k]) * float64(l.W[k*w+o])
					}
					next[o] = float32(max(v, 0))
				}
				cur = next
			}
			for o := 0; o < w; o++ {
				y[b*w+o] += float64(cur[o]) * float64(mask[b*seq+s])
			}
		}
	}
	out := make([]float32, len(y))
	for i, v := range y {
		out[i] = float32(v)
	}
	return out
}
