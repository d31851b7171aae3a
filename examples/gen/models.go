package main

import (
	"github.com/infergate/infergate/internal/onnxgen"
)

// MLP widths shared by every generated MLP: features[batch, 64] -> scores[batch, 10].
const (
	mlpIn  = 64
	mlpOut = 10
)

// The cost knob of the MLPs is the number of hidden layers (all of width
// hiddenWidth). At batch 1 with one intra-op thread the per-Run cost is
// dominated by per-node overhead, so it grows linearly with depth: about
// 0.4 µs per layer on the calibration machine (see examples/README.md).
const (
	hiddenWidth = 48

	// productionLayers gives about 20 µs per Run at batch 1, 1 thread.
	productionLayers = 48
	// candidateLayers gives a measured median ratio of about 1.26 over
	// production (target 1.20-1.30).
	candidateLayers = 62
	// plus25Layers gives a measured median ratio of about 1.32 over
	// mlp_base (target 1.25-1.40).
	plus25Layers = 66
)

func hidden(n int) []int {
	h := make([]int, n)
	for i := range h {
		h[i] = hiddenWidth
	}
	return h
}

// mlpSpec names an MLP file and how it is built.
type mlpSpec struct {
	Dir    string // "examples" or "testdata"
	File   string
	Seed   uint64
	Layers int
}

// mlpSpecs lists every MLP the generator writes. Seeds are fixed so the
// files are reproducible byte for byte.
var mlpSpecs = []mlpSpec{
	{Dir: "examples", File: "production.onnx", Seed: 1001, Layers: productionLayers},
	{Dir: "examples", File: "candidate.onnx", Seed: 1002, Layers: candidateLayers},
	{Dir: "testdata", File: "mlp_base.onnx", Seed: 2001, Layers: productionLayers},
	{Dir: "testdata", File: "mlp_same.onnx", Seed: 2002, Layers: productionLayers},
	{Dir: "testdata", File: "mlp_plus25.onnx", Seed: 2003, Layers: plus25Layers},
}

func (s mlpSpec) MLP() *onnxgen.MLP {
	name := s.File[:len(s.File)-len(".onnx")]
	return onnxgen.NewMLP(name, s.Seed, mlpIn, hidden(s.Layers), mlpOut)
}

// castDTypes are the element types with a testdata/cast_<dtype>.onnx model.
var castDTypes = []onnxgen.DType{
	onnxgen.Float, onnxgen.Double, onnxgen.Float16, onnxgen.Int64,
	onnxgen.Int32, onnxgen.Int8, onnxgen.Uint8, onnxgen.Bool,
}

// castWidth is the fixed second dimension of the cast models' input.
const castWidth = 4

// Sequence models whose cost grows with the sequence length (see
// onnxgen.SeqCost): every position goes through seqCostLayers (or
// seqCostWideLayers) dense layers of width seqCostWidth. The per-position
// cost of the wide model is about twice the base one's, for tests of the
// latency-vs-size slope.
const (
	seqCostVocab      = 1000
	seqCostWidth      = 128
	seqCostLayers     = 6
	seqCostWideLayers = 12
)

// seqCostSpec names a SeqCost file and how it is built.
type seqCostSpec struct {
	File   string
	Seed   uint64
	Layers int
}

var seqCostSpecs = []seqCostSpec{
	{File: "seq_cost.onnx", Seed: 2101, Layers: seqCostLayers},
	{File: "seq_cost_wide.onnx", Seed: 2102, Layers: seqCostWideLayers},
}

func (s seqCostSpec) Model() *onnxgen.SeqCost {
	name := s.File[:len(s.File)-len(".onnx")]
	return onnxgen.NewSeqCost(name, s.Seed, seqCostVocab, seqCostWidth, s.Layers)
}
